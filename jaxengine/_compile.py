r"""Compile once per program and bucket, never once per batch shape; keep the executables across processes.

XLA compiles one executable per combination of input shapes, so a library that hands every new batch shape to
`jax.jit` makes its users wait for the compiler at every first call. jaxengine's eager entry points instead:

1. flatten the batch to one axis (`_models.params.flat`), pad it to one of a few **bucket** sizes (`BUCKETS`); a batch
   larger than the largest bucket runs in chunks of that size (the last one padded), so a given program exists in at
   most `len(BUCKETS)` compiled variants, whatever shapes the user asks for;
2. compile each (program, bucket, static options, dtypes) once per process, ahead of time (`jax.jit(...).lower(...)
   .compile()`), and keep the executable in memory;
3. keep it on disk too (`cache_dir`): serialised executables (`jax.experimental.serialize_executable`), so that a
   later process loads them in milliseconds, without tracing, lowering or compiling anything.

Padding copies the first point of the batch (a valid input, so the padded points cost no special work and produce
no nan), and results are sliced back; every point is computed independently of the others, so padding changes no
result.

Calls with traced inputs (inside the user's `jit`, `grad` or `vmap`) skip all this: the program is then part of the
user's program and is compiled with it, for the shapes the user traced.

**The disk cache.** One file per executable, in `$JAXENGINE_CACHE_DIR` if set, else `$XDG_CACHE_HOME/jaxengine`
(`~/.cache/jaxengine`); `JAXENGINE_CACHE_DIR=off` turns it off. The file name is a SHA-256 of everything that
determines the executable: the program's name and static options, the shapes and dtypes of its inputs, the versions
of jax, jaxlib and jaxengine, a hash of jaxengine's own source files, the backend and device kind, the compiler
options and the JAX flags that change lowering. So an entry is never used by a program it was not compiled for
(stale entries are simply never looked up again; `jaxengine warmup --clear` removes them). Each file carries a
SHA-256 of its payload, checked before anything is deserialised: a corrupt or truncated entry is recompiled and
replaced, never trusted. An entry is written only after a round trip (serialise, deserialise, run) gave bit for bit
the results of the executable just compiled, and an entry that loads but fails to run is recompiled too. Entries are
written atomically (a temporary file, then a rename), so concurrent processes never read a partial file. A directory
that cannot be created or written gives one warning, and the library runs on without a disk cache. This cache is
jaxengine's own: it does not touch JAX's persistent compilation cache or any other `jax.config` setting, so the
user's own programs are unaffected (and JAX's cache, if the user enables it, still works for them; jaxengine's own
programs are then compiled without it).
"""

import collections
import concurrent.futures
import functools
import hashlib
import itertools
import os
import pathlib
import pickle
import tempfile
import threading
import warnings

import jax
import numpy as np
from jax._src import config as jax_config

# Padded batch sizes of eager calls. Small calls (one point, a few hundred) pay for a few padded points; larger ones
# run as chunks of the largest bucket.
BUCKETS = (8, 256, 4096)

COMPILES = collections.Counter()  # program name -> compilations in this process (tests pin "no new compilation")
LOADS = collections.Counter()  # program name -> executables loaded from the disk cache
_MAGIC = b"jaxengine-executable-1\n"
_LOCK = threading.Lock()
_MEMORY: dict = {}
_DISK_STATE = {"warned": False, "dir": None, "checked": False}


def bucket(n: int, buckets=BUCKETS) -> int:
    """The padded size of a batch of n points (the largest bucket for n beyond it: such batches run in chunks)."""
    for b in buckets:
        if n <= b:
            return b
    return buckets[-1]


def pad_batch(tree, size: int):
    """Every leaf (n, ...) padded to (size, ...) with copies of its first point (size >= n)."""

    def pad(v):
        n = v.shape[0]
        if n == size:
            return v
        v = np.asarray(v)
        return np.concatenate([v, np.broadcast_to(v[:1], (size - n,) + v.shape[1:])])

    return jax.tree.map(pad, tree)


# ------------------------------------------------------------------------------------------------- the disk cache


def cache_dir() -> pathlib.Path | None:
    """The directory of the executable cache, or None when it is off (`JAXENGINE_CACHE_DIR=off`) or unusable."""
    env = os.environ.get("JAXENGINE_CACHE_DIR")
    if env is not None and env.strip().lower() in ("off", "0", "false", "none", ""):
        return None
    if env:
        path = pathlib.Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = pathlib.Path(base) / "jaxengine"
    if _DISK_STATE["checked"] and _DISK_STATE["dir"] == path:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-", delete=True)
        probe.close()
    except OSError as e:
        if not _DISK_STATE["warned"]:
            warnings.warn(
                f"jaxengine: the executable cache directory {str(path)!r} cannot be written ({e}); running without a "
                "disk cache (every new process compiles again). Set JAXENGINE_CACHE_DIR to a writable directory, or "
                "to 'off' to silence this warning.",
                RuntimeWarning,
                stacklevel=4,
            )
            _DISK_STATE["warned"] = True
        return None
    _DISK_STATE.update(checked=True, dir=path)
    return path


@functools.cache
def _source_hash() -> str:
    """SHA-256 of jaxengine's Python sources: any change of the code gives new cache keys."""
    h = hashlib.sha256()
    root = pathlib.Path(__file__).parent
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _environment() -> tuple:
    import jaxlib

    from . import __version__

    backend = jax.default_backend()
    devices = jax.local_devices()
    return (
        jax.__version__,
        jaxlib.__version__,
        __version__,
        _source_hash(),
        backend,
        tuple(sorted({d.device_kind for d in devices})),
        getattr(devices[0].client, "platform_version", ""),
        bool(jax.config.jax_enable_x64),
        str(jax.config.jax_default_matmul_precision),
    )


def _key(name: str, static: dict, args, compiler_options) -> str:
    leaves, treedef = jax.tree.flatten(args)
    spec = (
        name,
        tuple(sorted((k, repr(v)) for k, v in static.items())),
        str(treedef),
        tuple((np.shape(v), str(np.result_type(v))) for v in leaves),
        tuple(sorted((compiler_options or {}).items())),
        _environment(),
    )
    return hashlib.sha256(repr(spec).encode()).hexdigest()


def _path(directory: pathlib.Path, name: str, key: str) -> pathlib.Path:
    return directory / f"{name}-{key[:40]}.jxc"


def _load(path: pathlib.Path):
    """The executable stored at `path`, or None if absent, corrupt, or not loadable here."""
    from jax.experimental import serialize_executable

    try:
        blob = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC)
    if blob[:head] != _MAGIC or len(blob) < head + 32:
        return None
    digest, payload = blob[head : head + 32], blob[head + 32 :]
    if hashlib.sha256(payload).digest() != digest:
        return None  # corrupt or truncated: never deserialised
    try:
        serialized, in_tree, out_tree = pickle.loads(payload)
        return serialize_executable.deserialize_and_load(serialized, in_tree, out_tree)
    except Exception:  # written by an incompatible runtime: recompile
        return None


def _runs(compiled, args) -> bool:
    """Whether the executable runs on `args` (checked once when it comes from disk)."""
    try:
        jax.block_until_ready(compiled(*args))
        return True
    except Exception:
        return False


def _same(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=np.asarray(x).dtype.kind in "fc")
        for x, y in zip(la, lb, strict=True)
    )


def _store(path: pathlib.Path, compiled, args) -> None:
    """Serialise `compiled` to `path`, after checking that the round trip gives an executable that runs on `args`
    and returns bit for bit what `compiled` returns (otherwise nothing is written: the memory cache still works)."""
    from jax.experimental import serialize_executable

    try:
        serialized, in_tree, out_tree = serialize_executable.serialize(compiled)
        payload = pickle.dumps((serialized, in_tree, out_tree), protocol=pickle.HIGHEST_PROTOCOL)
        copy = serialize_executable.deserialize_and_load(serialized, in_tree, out_tree)
        if not _same(compiled(*args), copy(*args)):
            return
    except Exception:  # a backend that cannot serialise, or a copy that does not run: memory cache only
        return
    blob = _MAGIC + hashlib.sha256(payload).digest() + payload
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass


def executable(name: str, jitted, args: tuple, static: dict | None = None, compiler_options=None):
    """The compiled executable of `jitted(*args, **static)` for the shapes and dtypes of `args`: from memory, else
    from the disk cache, else compiled (and stored in both). Call it with `args` only (static options are baked in).
    """
    static = static or {}
    key = _key(name, static, args, compiler_options)
    with _LOCK:
        hit = _MEMORY.get(key)
    if hit is not None:
        return hit
    with _LOCK:  # one compilation per key even when several threads ask at once
        hit = _MEMORY.get(key)
        if hit is not None:
            return hit
        directory = cache_dir()
        path = _path(directory, name, key) if directory is not None else None
        compiled = _load(path) if path is not None and path.exists() else None
        if compiled is not None and not _runs(compiled, args):
            compiled = None  # loads but does not run here (e.g. a missing function): recompile and replace
        if compiled is not None:
            LOADS[name] += 1
        else:
            lowered = jitted.lower(*args, **static)
            # compiled afresh, never taken from JAX's own persistent cache if the user enabled it: re-serialising
            # an executable that JAX itself deserialised gave entries that failed to run ("Function ... not found")
            with jax_config.enable_compilation_cache(False):
                compiled = lowered.compile(compiler_options) if compiler_options else lowered.compile()
            COMPILES[name] += 1
            # programs with custom calls (LAPACK, host callbacks) stay in memory: a deserialised executable with
            # LAPACK calls crashed the process in our tests (jax 0.10.2, CPU)
            if path is not None and "custom_call" not in lowered.as_text():
                _store(path, compiled, args)
        _MEMORY[key] = compiled
        return compiled


def clear_memory() -> None:
    """Forget the executables held in memory (tests use it to exercise the disk cache)."""
    with _LOCK:
        _MEMORY.clear()


def is_traced(tree) -> bool:
    """Whether any leaf is a tracer, or we are inside a trace (a fresh array is then a tracer too)."""
    import jax.numpy as jnp

    return any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves(tree)) or isinstance(
        jnp.zeros(()), jax.core.Tracer
    )


def cpu_workers() -> int:
    """CPU cores this process may run on: the threads that run chunks at once (`_solve.chunks.split_over_threads`,
    `bucketed`)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_POOL_PREFIX = "jaxengine-pool"


@functools.cache
def _pool(workers: int):
    """The threads that run chunks (one pool per size, created on first use, shared by every call)."""
    return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=_POOL_PREFIX)


def in_order(fn, items, workers: int):
    """fn(item) for each item, `workers` at a time in the shared pool; yields the results in the order of `items`.

    The next item is submitted before a result is yielded, so the pool keeps computing while the caller consumes it
    (writes it to disk, copies it into place). Closing the generator (e.g. `contextlib.closing` on an interrupt)
    cancels the calls that have not started; running ones finish and are dropped.
    """
    pool, items = _pool(workers), iter(items)
    window = collections.deque(pool.submit(fn, x) for x in itertools.islice(items, workers))
    try:
        while window:
            result = window.popleft().result()
            for x in itertools.islice(items, 1):
                window.append(pool.submit(fn, x))
            yield result
    finally:
        for future in window:
            future.cancel()


def aligned_empty(shape, dtype):
    """An uninitialised NumPy array whose data start on a 64-byte boundary: `jax.dlpack.from_dlpack` then takes it
    over without a copy on CPU (at other alignments it copies)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def _chunked(run, host, n: int, size: int, threads: bool = True, device: bool = True):
    """run() on each chunk of `size` points (the last one padded), several at once on CPU (one XLA execution keeps
    one core busy; `threads=False`: one after another), each result copied into place in NumPy outputs allocated
    once (`device=False`: returned as those NumPy arrays, 64-byte aligned, instead of copies on the device)."""
    starts = list(range(0, n, size))
    outs = {}
    lock = threading.Lock()

    def one(start):
        part = jax.tree.map(lambda v: v[start : start + size], host)
        m = jax.tree.leaves(part)[0].shape[0]
        res = run(pad_batch(part, size))
        leaves, treedef = jax.tree.flatten(res)
        with lock:
            if "leaves" not in outs:
                outs["treedef"] = treedef
                empty = np.empty if device else aligned_empty
                outs["leaves"] = [empty((n,) + v.shape[1:], v.dtype) for v in leaves]
        for o, v in zip(outs["leaves"], leaves, strict=True):
            o[start : start + m] = np.asarray(v)[:m]

    first, rest = starts[0], starts[1:]
    one(first)  # allocates the outputs (and compiles, once)
    workers = cpu_workers() if jax.default_backend() == "cpu" and threads else 1
    if workers > 1 and rest and not threading.current_thread().name.startswith(_POOL_PREFIX):
        list(_pool(workers).map(one, rest))  # (in a pool thread already: waiting on the pool could deadlock)
    else:
        for start in rest:
            one(start)
    leaves = [jax.device_put(o) for o in outs["leaves"]] if device else outs["leaves"]
    return jax.tree.unflatten(outs["treedef"], leaves)


def bucketed(
    fun=None, *, name: str | None = None, static_argnames=(), buckets=BUCKETS, compiler_options=None, threads=True
):
    """Decorator: run `fun(batch, *args, **static)` on buckets of a flat batch, with cached executables.

    `batch` is a pytree whose leaves all have one leading axis of the same length n (a flat 1-D batch); `args` are
    other arrays (their shapes are part of the cache key, so keep them fixed or pad them yourself); `static` are
    hashable options. `fun` must compute each point of the batch independently and return a pytree whose leaves have
    the leading axis n.

    Eager calls pad the batch to `bucket(n)` (chunks of the largest bucket beyond it) and run executables from
    `executable`; traced calls run `jax.jit(fun)` inside the caller's trace. The chunks of a batch beyond the largest
    bucket run on all cores in threads, unless `threads=False` (programs with batched LAPACK calls, which have hung
    in concurrent executions on small machines: see `_linalg.dense`).
    """
    if fun is None:
        return functools.partial(
            bucketed,
            name=name,
            static_argnames=static_argnames,
            buckets=buckets,
            compiler_options=compiler_options,
            threads=threads,
        )
    label = name or f"{fun.__module__}.{fun.__qualname__}"
    jitted = jax.jit(fun, static_argnames=static_argnames)

    def run_eager(batch, args, static, device):
        leaves = jax.tree.leaves(batch)
        n = leaves[0].shape[0]
        size = bucket(n, buckets)
        host = jax.tree.map(np.asarray, batch)
        args = jax.tree.map(np.asarray, args)

        def run(part):
            exe = executable(label, jitted, (part, *args), static, compiler_options)
            return exe(part, *args)

        if n <= size:
            out = run(pad_batch(host, size))
            if not device:
                return jax.tree.map(lambda y: np.asarray(y)[:n], out)
            return jax.tree.map(lambda y: jax.device_put(np.asarray(y)[:n]), out) if n < size else out
        return _chunked(run, host, n, size, threads, device)

    def host_call(batch, *args, **static):
        """Like an eager call, but the results are NumPy arrays on the host (no copy to the device): for callers that
        reshape or combine them before handing them to JAX (`jax.dlpack.from_dlpack` of the aligned chunked outputs
        takes them over without a copy)."""
        return run_eager(batch, args, static, device=False)

    @functools.wraps(fun)
    def call(batch, *args, **static):
        if is_traced((batch, args)):
            return jitted(batch, *args, **static)
        return run_eager(batch, args, static, device=True)

    call.jitted = jitted
    call.host = host_call
    return call

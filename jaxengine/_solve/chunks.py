r"""How the throughput programs run: blocks of points, chunks on every core, and their compiler options.

The batch is processed in blocks of `block_size()` points with `lax.map` (`blocked`): 2048 on CPU, where the fused
loops stream their (B,) operands through the cache (~0.25 ns per point per loop plus ~0.08 ns per operand it reads,
which is what bounds the kernel: it runs ~650 fused loops per point), and 2^18 on accelerators, which need large
launches (not measured: no GPU was available to us). XLA:CPU executes those loops one after another, so one
execution keeps ONE core busy (measured: the same time on one core as on two): `split_over_threads` runs a large
concrete batch in chunks of whole blocks, one execution per core at a time, in threads (bit for bit the result of one
execution); each thread copies its chunk's results into an output allocated once in NumPy and handed to JAX without
a copy, which is faster than assembling the results with XLA (see its docstring). `observables` and `steady_state`
use it, and `scan` runs one of its chunks per core the same way.
The programs that run the kernel are compiled with 512-bit vectors (`COMPILER_OPTIONS`, through `jit`): XLA:CPU
emits 256-bit code by default, and on AVX-512 CPUs the wider loops are ~10 % faster.
"""

import functools
import threading

import jax
import jax.dlpack
import jax.numpy as jnp
import numpy as np

from .. import _compile
from .._checks import is_concrete, unflat

# XLA:CPU emits 256-bit vector code unless told otherwise. On CPUs with AVX-512 the kernel's loops run ~9 % faster
# with 512-bit vectors (bench/RESULTS.md, "fourth pass"); elsewhere LLVM uses the widest vectors the CPU has. This
# is a per-compilation option of the programs that run the kernel: nothing global changes for the user's own code.
COMPILER_OPTIONS = {"xla_cpu_prefer_vector_width": 512}


def jit(f=None, **kwargs):
    """`jax.jit` with `COMPILER_OPTIONS` where the call is a top-level compilation (usable as a decorator).

    JAX accepts compiler options on top-level compilations only, so a call with traced arguments (inside the
    user's `jit`, `grad` or `vmap`, or inside another of our programs) goes to the same function jitted without
    them: it is then compiled as part of the enclosing program, with that program's options.
    """
    if f is None:
        return functools.partial(jit, **kwargs)
    plain, tuned = jax.jit(f, **kwargs), jax.jit(f, compiler_options=COMPILER_OPTIONS, **kwargs)

    @functools.wraps(f)
    def call(*args, **kw):
        # traced arguments, or concrete ones inside a trace (constants closed over by the user's jit)
        return (plain if _compile.is_traced((args, kw)) else tuned)(*args, **kw)

    call.lower = tuned.lower  # ahead-of-time compilation (bench/scan.py) gets the options too
    return call


BLOCK = 2048  # points per block on CPU: measured fastest with one execution per core (1024-2048; 4096 -12 %)


GPU_BLOCK = 1 << 18  # on accelerators a block must fill the device; 2^18 points keep ~0.6 GB of temporaries


def block_size() -> int:
    """Points per block of `blocked` for the default backend."""
    return BLOCK if jax.default_backend() == "cpu" else GPU_BLOCK


def pad_points(v, pad: int):
    """v (..., n) with `pad` copies of its first point appended along the last (batch) axis: padding that is a valid
    engine state, so padded points cost no refinement and produce no nan."""
    return jnp.concatenate([v, jnp.broadcast_to(v[..., :1], v.shape[:-1] + (pad,))], axis=-1) if pad else v


def blocked(f, p, block=None):
    """Apply f (flat params -> pytree of (B, ...) arrays) in blocks of `block` points with `lax.map`.

    The unrolled kernel is hundreds of elementwise ops that XLA cannot fuse into one loop, so intermediates go through
    memory; blocks of a few thousand points keep them in cache (the batch-LAST layout vectorises each op across the
    block). The tail is padded with copies of the first point and dropped.
    """
    n = jax.tree.leaves(p)[0].shape[0]
    block = block_size() if block is None else block

    if n <= block:
        return f(p)
    nb = -(-n // block)
    pad = nb * block - n

    def split(v):
        return pad_points(v, pad).reshape(nb, block)

    out = jax.lax.map(f, jax.tree.map(split, p))
    return jax.tree.map(lambda y: y.reshape((nb * block,) + y.shape[2:])[:n], out)


CHUNK_BLOCKS = 16  # blocks per chunk of `split_over_threads` (2^15 points, ~13 MB of results: malloc reuses them)


# Batches of at least this many points run this kernel (the throughput path: ~10 s to compile once, then ~1.5e6
# points/s on 2 cores); smaller ones run the compact program of `_solve.compact` (compiles in about a second, ~5e4
# points/s). The choice depends on the batch size only, so a given call always takes the same path (eager or traced).
THROUGHPUT_MIN = 1 << 16


def path_for(n: int) -> str:
    """ "compact" or "throughput": the program that computes a flat batch of n points."""
    return "throughput" if n >= THROUGHPUT_MIN else "compact"


def run_throughput(name: str, jitted, batch, shape, **static):
    """`jitted(batch, **static)` (a throughput program of a flat batch) in fixed-size chunks of whole blocks on every
    core (`split_over_threads`), each chunk by ONE executable from the cache of `_compile` (compiled with
    `COMPILER_OPTIONS` on CPU), whatever the batch size; results get the batch shape `shape`."""
    options = COMPILER_OPTIONS if jax.default_backend() == "cpu" else None

    def chunk(part):
        if _compile.is_traced(part):  # jax.eval_shape of the output structure
            return jitted(part, **static)
        return _compile.executable(name, jitted, (part,), static, options)(part)

    return split_over_threads(chunk, batch, shape, chunk=CHUNK_BLOCKS * block_size())


def _aligned_empty(shape, dtype):
    """An uninitialised NumPy array whose data start on a 64-byte boundary: XLA:CPU then takes it over without a copy
    (`jax.dlpack.from_dlpack`; at other alignments it copies)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def split_over_threads(f, p, shape=None, workers=None, chunk=None):
    """f(p) for a jitted f of flat parameters with a 1-D batch, computed by `workers` threads at once on CPU; each
    result leaf gets the batch shape `shape` (default: the flat batch), as `unflat` would give it.

    XLA:CPU executes the kernel's ~700 small fused loops one after another: one execution keeps ONE core busy
    (measured: the same time with one core as with two). So for concrete inputs on a CPU backend, the batch is cut
    into chunks of `CHUNK_BLOCKS` whole blocks (`block_size`), each chunk runs as its own XLA execution in a pool of
    `workers` threads (all share one compiled program), and the thread that computed a chunk copies its results into
    place in the output, which is allocated once, in NumPy, and handed to JAX without a copy (`_aligned_empty`). So
    the copies run in parallel, and the small chunks' buffers are reused from one chunk to the next instead of being
    fresh memory each time. The blocks are the same as in one execution (the tail is padded with copies of the first
    point, as `blocked` does), so the results are bit for bit the same. Traced inputs, other backends, batches under
    two blocks per worker and calls from a pool thread take the plain call `f(p)`.

    With `chunk` (a multiple of the block size) every chunk has exactly that size, the last one padded, on any
    backend and with any number of workers: f then sees one input shape whatever n is (one compiled program).
    """
    on_cpu = jax.default_backend() == "cpu"
    workers = (_compile.cpu_workers() if on_cpu else 1) if workers is None else workers
    n = jax.tree.leaves(p)[0].shape[0]
    shape = (n,) if shape is None else tuple(shape)
    block = block_size()
    leaves = jax.tree.leaves(p)
    if not all(is_concrete(v) for v in leaves) or threading.current_thread().name.startswith(_compile._POOL_PREFIX):
        return unflat(f(p), shape)  # traced, or already in a pool thread (waiting there on the pool could deadlock)
    if chunk is None:
        if n < 2 * workers * block or workers < 2 or not on_cpu:
            return unflat(f(p), shape)  # under two blocks per worker the overheads win
        chunk = min(CHUNK_BLOCKS, -(-n // (workers * block))) * block  # whole blocks per chunk
    m = chunk
    host = jax.tree.map(np.asarray, p)  # zero-copy views on CPU

    def piece(i):
        start = i * m
        part = jax.tree.map(lambda v: v[start : start + m], host)
        if n - start < m:  # the tail, padded as `blocked` pads
            part = jax.tree.map(lambda v, w: np.concatenate([v, np.broadcast_to(w[:1], (m - len(v),))]), part, host)
        return part

    results = jax.eval_shape(f, piece(0))
    out = jax.tree.map(lambda s: _aligned_empty((n,) + s.shape[1:], s.dtype), results)

    def run(i):
        start = i * m
        size = min(m, n - start)
        for o, v in zip(jax.tree.leaves(out), jax.tree.leaves(f(piece(i))), strict=True):
            np.copyto(o[start : start + size], np.asarray(v)[:size])  # waits for the chunk; releases the GIL

    for _ in _compile.in_order(run, range(-(-n // m)), workers):
        pass
    return jax.tree.map(lambda o: jax.dlpack.from_dlpack(o.reshape(shape + o.shape[1:])), out)

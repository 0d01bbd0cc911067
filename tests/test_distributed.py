"""`jaxengine.scan` on several processes: `jax.distributed` on 127.0.0.1, CPU, one device per process.

Each test starts its processes as subprocesses (`_distributed_worker.py`), each calling
`jax.distributed.initialize(coordinator_address="127.0.0.1:<free port>", num_processes=n, process_id=i)` (with
`jax_enable_recoverability`, as the README recipe says) and then `je.scan` with `out=` a store they share. The
reference is an independent run of the same scan in THIS process (one process, one device, the same chunk shape
and so the same compiled chunk program): the stores must equal it bit for bit. A process of a multi-process scan
imports JAX and traces the kernel (~10-20 s of CPU each here, with the shared compilation cache), so the fast
suite runs one launch of two processes; the lost-process, rerun and three-process launches are `slow`.
"""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxengine as je
from jaxengine import _scan

WORKER = Path(__file__).with_name("_distributed_worker.py")
BASE = dict(g=2e-3, kappa_h=0.03, kappa_c=0.01)  # kappa != 0: the numerical steady state
AXES = {"T_h": np.linspace(0.3, 1.0, 24), "delta": np.linspace(-0.05, 0.05, 8)}  # 6 chunks of (4, 8) = 32 points
CHUNK = 32
POINTS = 192
LOST_AFTER = 5.0  # JAXENGINE_SCAN_LOST_AFTER of the launched processes: a lost process is reported after 5 s
VARS = ("J", "Q_h", "Q_c", "negativity", "concurrence", "J_c", "witness", "residual", "ok")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base=None, axes=None, **kw):
    """One `je.scan` call of a worker (JSON: floats round-trip exactly)."""
    axes = AXES if axes is None else axes
    return dict(
        base=BASE if base is None else base,
        axes={k: np.asarray(v).tolist() for k, v in axes.items()},
        kw=dict(chunk_size=CHUNK, **kw),
    )


@dataclasses.dataclass
class Finished:
    returncode: int
    stderr: str
    result: dict | None  # what the worker saved (chunks written, errors), None if it saved nothing
    exit_time: float  # time.time() when the test saw it exit


def launch(n: int, out, workdir: Path, calls, extra=None, timeout=600.0) -> list[Finished]:
    """Run n workers on one coordinator and wait for all of them (killing all after `timeout` s: a hang fails)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cache = jax.config.jax_compilation_cache_dir or str(workdir / "cache")
    env = {**os.environ, "JAXENGINE_ENABLE_X64": "1", "JAXENGINE_SCAN_LOST_AFTER": str(LOST_AFTER)}
    procs, logs = [], []
    for i in range(n):
        cfg = dict(
            port=port,
            n=n,
            i=i,
            out=str(out),
            result=str(workdir / f"result{i}.json"),
            cache=cache,
            calls=calls(i) if callable(calls) else calls,
            **(extra(i) if extra else {}),
        )
        logs.append(open(workdir / f"stderr{i}.txt", "w+"))
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), json.dumps(cfg)], env=env, stdout=subprocess.DEVNULL, stderr=logs[-1]
            )
        )
    exit_time = [None] * n
    deadline = time.monotonic() + timeout
    while None in exit_time:
        for i, p in enumerate(procs):
            if exit_time[i] is None and p.poll() is not None:
                exit_time[i] = time.time()
        if time.monotonic() > deadline:
            for p in procs:
                p.kill()
            pytest.fail(f"the {n} processes did not finish within {timeout} s (a hang)")
        time.sleep(0.05)
    finished = []
    for i, p in enumerate(procs):
        logs[i].seek(0)
        path = workdir / f"result{i}.json"
        result = json.loads(path.read_text()) if path.exists() else None
        finished.append(Finished(p.returncode, logs[i].read(), result, exit_time[i]))
        logs[i].close()
    return finished


@pytest.fixture(scope="module")
def reference():
    """The same scan by this one process (the same chunk program on one device)."""
    return je.scan(je.EngineParams(**BASE), axes=AXES, chunk_size=CHUNK, progress=False)


def assert_store_equals(out, ref):
    import xarray as xr

    ds = xr.open_zarr(out, consolidated=True)
    assert _scan.done_chunks(out).all()
    assert dict(ds.sizes) == dict(ref.sizes) and ds.attrs == ref.attrs
    for name in [*VARS, *AXES]:
        x, y = ds[name].values, ref[name].values
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)  # bit for bit (NaN == NaN)


def test_agreement_spec_covers_every_plan_field():
    # the agreement check is generic over the plan: a field added to `_Plan` (e.g. `fields`) is compared too
    plan = _scan._Plan(("T_h",), (np.linspace(0.3, 1, 5),), je.EngineParams(), np.dtype(np.float64), (5,), False)
    spec = _scan.agreement_spec(plan, chunk_size=None, kernel="xla")
    compared = {key.split(".")[0].split("[")[0].split(" ")[0] for key in spec}
    assert compared == {f.name for f in dataclasses.fields(_scan._Plan)} - {"chunk"} | {"chunk_size", "kernel"}
    other = dataclasses.replace(plan, values=(np.linspace(0.3, 1, 5) + 1e-12,))
    assert _scan.agreement_spec(other, chunk_size=None, kernel="xla")["values[0]"] != spec["values[0]"]


def test_two_processes(tmp_path, reference):
    """Disagreeing processes refuse before anything is written; then two processes scan one grid into one store,
    which equals the one-process scan bit for bit; only process 0 shows a progress bar, with every process's points."""
    shifted = {"T_h": AXES["T_h"], "delta": AXES["delta"] + 1e-3}
    bad = {"T_h": np.r_[AXES["T_h"][:-1], np.nan], "delta": AXES["delta"]}
    # (process 0's call, process 1's call, what both errors must say)
    cases = [
        (call(), call(axes=shifted), ["disagree", "process 1 has values[1] = float64[8] from -0.049"]),
        (call(), call(base={**BASE, "kappa_h": 0.05}), ["base.kappa_h = 0.05 where process 0 has base.kappa_h = 0.03"]),
        (call(), call(store_rho=True), ["store_rho = True where process 0 has store_rho = False"]),
        (call(), {**call(), "kw": {"chunk_size": 64}}, ["chunk_size = 64 where process 0 has chunk_size = 32"]),
    ]
    if "fields" in je.scan.__code__.co_varnames:  # `fields=` (issue 16), once it exists
        cases.append((call(fields=["J"]), call(fields=["J", "negativity"]), ["fields"]))
    never = [tmp_path / f"never{c}.zarr" for c in range(len(cases) + 1)]
    refused = {0: "process 1 of 2 refused the scan (ValueError: Axis `T_h` must be finite", 1: "Axis `T_h` must be"}

    def calls(i):
        mine = [dict(case[i], out=str(never[c])) for c, case in enumerate(cases)]
        mine.append(dict(call(axes=bad if i == 1 else AXES), out=str(never[-1])))  # process 1 refuses on its own
        return [*mine, call()]

    out = tmp_path / "two.zarr"
    p0, p1 = launch(2, out, tmp_path / "run", calls, extra=lambda i: dict(tty=True))
    for i, p in enumerate((p0, p1)):
        assert p.returncode == 0, p.stderr
        errors = p.result["errors"]
        for c, (*_, says) in enumerate(cases):
            assert errors[c]["type"] == "ValueError", errors[c]
            for text in says:
                assert text in errors[c]["message"], (i, c, errors[c]["message"])
        assert errors[len(cases)]["type"] == "ValueError" and refused[i] in errors[len(cases)]["message"]
        assert errors[-1] is None
    assert not any(path.exists() for path in never)  # refused before the store was created
    # the chunks were dealt round robin, each written once, none during the refused calls
    assert p0.result["written"] == [0, 2, 4] and p1.result["written"] == [1, 3, 5]
    assert_store_equals(out, reference)
    # process 0 wrote 96 points, its bar counts all 192; process 1 shows no bar
    assert f"{POINTS}/{POINTS}" in p0.stderr and "pt/s" in p0.stderr
    assert "pt/s" not in p1.stderr and "%|" not in p1.stderr


def check_lost(finished, victim: int, n: int):
    """The victim died by SIGKILL; every other process ended with a Python error naming it, within the timeout."""
    dead = finished[victim]
    assert dead.returncode == -9, dead.stderr
    killed_at = dead.result["killed_at"]
    for i, p in enumerate(finished):
        if i == victim:
            continue
        assert p.returncode == 1, p.stderr  # a Python exception: not SIGABRT (-6), not a hang
        error = p.result["errors"][-1]
        assert error["type"] == "ScanProcessLost"
        assert f"process {victim} of {n} was lost" in error["message"] and "run the same scan again" in error["message"]
        assert f"ScanProcessLost: jaxengine.scan: process {victim} of {n} was lost" in p.stderr
        assert "Check failure" not in p.stderr and "Terminating process" not in p.stderr
        # the survivors had finished their own chunks: the error comes LOST_AFTER s after the last heartbeat, and the
        # process exits right after it (slack: beats are 0.5 s apart, polling, a loaded 2-core machine)
        assert LOST_AFTER - 1 < error["time"] - killed_at < LOST_AFTER + 20
        assert p.exit_time - error["time"] < 20


@pytest.mark.slow
def test_lost_process_then_rerun_with_fewer(tmp_path, reference):
    """Three processes, one SIGKILLed mid-scan: the two others stop with an error naming it; two processes then
    complete the store, computing only the chunks not flagged done."""
    out = tmp_path / "lost.zarr"
    first = launch(
        3, out, tmp_path / "first", [call()], extra=lambda i: dict(reraise=True, kill_at=1 if i == 2 else None)
    )
    check_lost(first, victim=2, n=3)
    # process i of 3 owns chunks i and i + 3; process 2 died while writing its second one (chunk 5: part of it on disk)
    assert [sorted(p.result["written"]) for p in first] == [[0, 3], [1, 4], [2]]
    done = _scan.done_chunks(out)
    assert done.tolist() == [1, 1, 1, 1, 1, 0]
    second = launch(2, out, tmp_path / "second", [call()])
    assert all(p.returncode == 0 for p in second), [p.stderr for p in second]
    assert sorted(k for p in second for k in p.result["written"]) == [5]  # nothing flagged done was recomputed
    assert_store_equals(out, reference)


@pytest.mark.slow
def test_lost_process_then_rerun_with_as_many(tmp_path, reference):
    out = tmp_path / "lost.zarr"
    first = launch(
        2, out, tmp_path / "first", [call()], extra=lambda i: dict(reraise=True, kill_at=1 if i == 1 else None)
    )
    check_lost(first, victim=1, n=2)
    assert [sorted(p.result["written"]) for p in first] == [[0, 2, 4], [1]]
    left = [k for k, d in enumerate(_scan.done_chunks(out)) if not d]
    assert left == [3, 5]
    second = launch(2, out, tmp_path / "second", [call()])
    assert all(p.returncode == 0 for p in second), [p.stderr for p in second]
    assert [p.result["written"] for p in second] == [[3], [5]]  # the unfinished chunks, dealt round robin
    assert_store_equals(out, reference)


@pytest.mark.slow
def test_three_processes(tmp_path, reference):
    out = tmp_path / "three.zarr"
    finished = launch(3, out, tmp_path / "run", [call()])
    assert all(p.returncode == 0 for p in finished), [p.stderr for p in finished]
    assert [p.result["written"] for p in finished] == [[0, 3], [1, 4], [2, 5]]
    assert_store_equals(out, reference)


# ------------------------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--processes", "0"], "--processes must be a positive integer"),
        (["--processes", "2", "--distributed"], "do not combine it with --distributed"),
        (["--coordinator", "127.0.0.1:1"], "give all three or none"),
    ],
)
def test_cli_processes_bad_arguments(tmp_path, capsys, argv, match):
    from jaxengine.cli import main

    assert main(["scan", "--axis", "T_h=0.5", "--out", str(tmp_path / "x.zarr"), *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.zarr").exists()


@pytest.mark.slow
def test_cli_processes(tmp_path, reference):
    """`jaxengine scan --processes 2`: two local processes, one summary line, the one-process store."""
    out = tmp_path / "cli.zarr"
    argv = ["scan", "--axis", "T_h=0.3:1.0:24", "--axis", "delta=-0.05:0.05:8", "--chunk-size", str(CHUNK)]
    argv += [f"--set={k}={v}" for k, v in BASE.items()] + ["--out", str(out), "--processes", "2"]
    env = {**os.environ, "JAXENGINE_ENABLE_X64": "1"}
    if jax.config.jax_compilation_cache_dir:
        env["JAX_COMPILATION_CACHE_DIR"] = jax.config.jax_compilation_cache_dir
    proc = subprocess.run(
        [sys.executable, "-m", "jaxengine.cli", *argv], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("192 points (24 T_h x 8 delta)") == 1, proc.stdout  # process 0 reports for both
    assert_store_equals(out, reference)


def _children(pid: int) -> dict:
    """{process id: pid} of the scan processes a `--processes` launcher started (from /proc)."""
    found = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            for child in f.read().split():
                with open(f"/proc/{child}/cmdline", "rb") as g:
                    argv = g.read().split(b"\0")
                if b"scan" in argv:
                    found[int(argv[argv.index(b"scan") - 1])] = int(child)
    return found


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="finds the launcher's children in /proc")
def test_cli_processes_lost_process_0(tmp_path):
    """Process 0 (the coordinator) SIGKILLed mid-scan: JAX stops the other at once; the launcher says so in a few
    lines and how to resume; one process then finishes the store, which equals the one-process scan."""
    out = tmp_path / "cli.zarr"
    axes = {"T_h": np.linspace(0.3, 1.0, 400), "delta": AXES["delta"]}  # 100 chunks: long enough to be hit
    argv = ["scan", "--axis", "T_h=0.3:1.0:400", "--axis", "delta=-0.05:0.05:8", "--chunk-size", str(CHUNK)]
    argv += [f"--set={k}={v}" for k, v in BASE.items()] + ["--out", str(out), "--quiet"]
    env = {**os.environ, "JAXENGINE_ENABLE_X64": "1"}
    if jax.config.jax_compilation_cache_dir:
        env["JAX_COMPILATION_CACHE_DIR"] = jax.config.jax_compilation_cache_dir
    cmd = [sys.executable, "-m", "jaxengine.cli", *argv]
    launcher = subprocess.Popen(
        [*cmd, "--processes", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 600
    while True:  # kill process 0 once a few chunks are done
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()
        try:
            if _scan.done_chunks(out).sum() >= 4:
                break
        except Exception:  # not created yet
            pass
        time.sleep(0.01)
    os.kill(_children(launcher.pid)[0], 9)
    stdout, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 1, stderr
    lines = [t for t in stderr.splitlines() if t.startswith("jaxengine scan:")]
    assert lines[0] == "jaxengine scan: process 0 of 2 was ended by SIGKILL"
    assert "hosts JAX's coordination service" in stderr and "run the same command again" in lines[-1]
    done = _scan.done_chunks(out)
    assert f"{int(done.sum())} of 100 chunks are saved" in lines[-1] and 4 <= done.sum() < 100
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)  # one process finishes it
    assert again.returncode == 0, again.stderr
    ref = je.scan(je.EngineParams(**BASE), axes=axes, chunk_size=CHUNK, progress=False)
    assert_store_equals(out, ref)


@pytest.mark.slow
def test_cli_explicit_coordinator(tmp_path, reference):
    """The README's recipe for hosts without Slurm: `jaxengine scan ... --coordinator HOST:PORT --num-processes 2
    --process-id I` in two shells; process 0 alone prints the summary."""
    out = tmp_path / "explicit.zarr"
    argv = ["scan", "--axis", "T_h=0.3:1.0:24", "--axis", "delta=-0.05:0.05:8", "--chunk-size", str(CHUNK)]
    argv += [f"--set={k}={v}" for k, v in BASE.items()] + ["--out", str(out), "--quiet"]
    argv += ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2", "--process-id"]
    env = {**os.environ, "JAXENGINE_ENABLE_X64": "1"}
    if jax.config.jax_compilation_cache_dir:
        env["JAX_COMPILATION_CACHE_DIR"] = jax.config.jax_compilation_cache_dir
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jaxengine.cli", *argv, str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    (out0, err0), (out1, err1) = procs[0].communicate(timeout=600), procs[1].communicate(timeout=600)
    assert procs[0].returncode == 0 and procs[1].returncode == 0, err0 + err1
    assert "192 points (24 T_h x 8 delta)" in out0 and out1 == ""
    assert_store_equals(out, reference)

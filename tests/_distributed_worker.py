"""One process of a multi-process scan, started by `test_distributed.py` (not a test module itself).

    python tests/_distributed_worker.py '<json config>'

The config: `port`, `n`, `i` (for `jax.distributed.initialize` on 127.0.0.1), `out` (the store), `result` (a JSON file
this process writes: the chunks it wrote and the error of each scan call), `calls` (scans to run in turn, each
`{"base": {...}, "axes": {...}, "kw": {...}}`), and optionally `kill_at` (this process SIGKILLs itself in the middle
of writing its chunk number `kill_at`: some variables on disk, not its flag), `tty` (pretend stderr is a terminal, so
that the progress bar shows), `cache` (a persistent compilation cache shared by the processes) and `reraise` (let
the error of a scan end the process, as in a user's script).
"""

import json
import os
import sys
import time

cfg = json.loads(sys.argv[1])

import jax  # noqa: E402

jax.config.update("jax_enable_recoverability", cfg.get("recoverable", True))
if cfg.get("cache"):
    jax.config.update("jax_compilation_cache_dir", cfg["cache"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{cfg['port']}", num_processes=cfg["n"], process_id=cfg["i"])

import numpy as np  # noqa: E402

import jaxengine as je  # noqa: E402
from jaxengine import _scan  # noqa: E402

result = {"written": [], "errors": []}


def save():
    with open(cfg["result"] + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(cfg["result"] + ".tmp", cfg["result"])


original = _scan._write_chunk


def write(group, plan, k, data):
    if cfg.get("kill_at") is not None and len(result["written"]) == cfg["kill_at"]:
        for name in _scan.VARS[:4]:
            group[name][plan.region(k)] = data[name]
        result["killed_at"] = time.time()
        save()
        os.kill(os.getpid(), 9)
    original(group, plan, k, data)
    result["written"].append(int(k))


_scan._write_chunk = write
if cfg.get("tty"):
    sys.stderr.isatty = lambda: True

for call in cfg["calls"]:
    axes = {k: np.asarray(v) for k, v in call["axes"].items()}
    try:
        je.scan(
            je.EngineParams(**call["base"]),
            axes=axes,
            out=call.get("out", cfg["out"]),
            progress=bool(cfg.get("tty")),
            **call.get("kw", {}),
        )
        result["errors"].append(None)
    except Exception as e:
        result["errors"].append({"type": type(e).__name__, "message": str(e), "time": time.time()})
        if cfg.get("reraise"):
            save()
            raise
save()

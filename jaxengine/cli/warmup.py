"""`jaxengine warmup`: compile the common programs once (after an install or upgrade) into the executable cache, so
that later processes start in milliseconds; `--clear` empties the cache. No physics here."""

import json
import time


def _programs(throughput: bool):
    import numpy as np

    import jaxengine as je

    p = je.EngineParams(T_h=0.7, delta=0.01, kappa_h=0.02)
    yield "observables (compact, every field)", lambda: je.observables(p)
    yield "steady_state (compact)", lambda: je.steady_state(p)
    yield "kappa_max (negativity)", lambda: je.kappa_max(p)
    yield "kappa_max (J)", lambda: je.kappa_max(p, observable="J")
    yield "critical_detuning", lambda: je.critical_detuning(p.replace(kappa_h=0.02), sign=-1)
    yield "critical_temperature (kappa = 0)", lambda: je.critical_temperature(je.EngineParams())
    if throughput:
        from jaxengine._observables import THROUGHPUT_MIN

        big = je.EngineParams(T_h=np.full(THROUGHPUT_MIN, 0.7), delta=0.01)
        yield "observables (throughput kernel, >= 65536 points)", lambda: je.observables(big)


def _cmd_warmup(args) -> int:
    from .. import _compile

    directory = _compile.cache_dir()
    if args.clear:
        removed = 0
        if directory is not None:
            for f in directory.glob("*.jxc"):
                f.unlink(missing_ok=True)
                removed += 1
        print(json.dumps({"cache_dir": str(directory), "removed": removed}))
        return 0
    if directory is None:
        print("jaxengine warmup: the executable cache is off (JAXENGINE_CACHE_DIR=off) or not writable: nothing kept")
    for name, run in _programs(not args.no_throughput):
        t = time.perf_counter()
        run()
        print(json.dumps({"program": name, "seconds": round(time.perf_counter() - t, 2)}), flush=True)
    files = sorted(directory.glob("*.jxc")) if directory is not None else []
    size = sum(f.stat().st_size for f in files)
    print(json.dumps({"cache_dir": str(directory), "executables": len(files), "megabytes": round(size / 2**20, 1)}))
    return 0


def register_warmup(sub):
    p = sub.add_parser(
        "warmup",
        help="compile the common programs once into the executable cache (JAXENGINE_CACHE_DIR)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--no-throughput", action="store_true", help="skip the throughput kernel (~10 s to compile)")
    p.add_argument("--clear", action="store_true", help="remove every cached executable and exit")
    p.set_defaults(func=_cmd_warmup)

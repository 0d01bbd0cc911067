"""`jaxengine.kappa_max` for many detunings at once against dense kappa scans, in one run.

The question a user asks: "the best kappa_h for each of 1000 detunings, to 1e-8". kappa_max answers with a coarse
scan plus a safeguarded Newton iteration on autodiff derivatives. The baseline is what one does without gradients:
a dense kappa grid per detuning (one batched `observables` call, chunked over detunings), refined by a parabola
through the best grid point and its neighbours. Its error falls like h^2, so the script runs it at growing grid
sizes and reports the error reached and the time taken at each; the grid needed for 1e-8 is extrapolated from the
measured h^2 law where running it would take too long.

For each observable (J and N) the script prints JSON lines: kappa_max (compile_s, run_s best of R, ok fraction,
max |kappa - gap matching|), then one line per dense grid size (n_kappa, run_s, max |kappa - kappa_max| and
max relative |value - value_max|).

    python bench/kappa_max.py                     # 1000 detunings, grids of 101, 1001 and 10001 kappa values
    python bench/kappa_max.py --n-delta 200 --grids 101 1001
"""

import argparse
import datetime
import json
import platform
import time

import jax
import numpy as np

import jaxengine as je


def _line(**kw):
    print(json.dumps(kw), flush=True)


def dense_scan(base, deltas, observable, n, bracket, chunk_points=2_000_000):
    """argmax over a grid of n kappa values per detuning, refined by a 3-point parabola. -> (kappa, value)"""
    ks = np.linspace(*bracket, n)
    per = min(max(1, chunk_points // n), deltas.size)  # detunings per chunk (no padding beyond the input)
    kappa, value = np.empty(deltas.size), np.empty(deltas.size)
    for s in range(0, deltas.size, per):
        d = deltas[s : s + per]
        pad = np.concatenate([d, np.full(per - d.size, d[-1])])  # one compiled shape for every chunk
        o = je.observables(base.replace(delta=pad[:, None], kappa_h=ks[None, :]), throw=False)
        f = np.asarray(o.J if observable == "J" else o.negativity)[: d.size]
        i = np.clip(np.argmax(f, axis=1), 1, n - 2)
        rows = np.arange(d.size)
        y0, y1, y2 = f[rows, i - 1], f[rows, i], f[rows, i + 1]
        h = ks[1] - ks[0]
        denom = y0 - 2 * y1 + y2
        shift = np.where(denom < 0, 0.5 * (y0 - y2) / np.where(denom < 0, denom, -1), 0.0)
        kappa[s : s + d.size] = ks[i] + shift * h
        value[s : s + d.size] = y1 - 0.25 * (y0 - y2) * shift
    return kappa, value


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-delta", type=int, default=1000)
    ap.add_argument("--grids", type=int, nargs="+", default=[101, 1001, 10001])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--T_h", type=float, default=0.7)
    args = ap.parse_args(argv)

    _line(
        case="machine",
        date=datetime.date.today().isoformat(),
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        cpus=jax.local_device_count() if jax.default_backend() != "cpu" else __import__("os").cpu_count(),
        backend=jax.default_backend(),
        devices=[str(d) for d in jax.devices()],
        jax=jax.__version__,
        jaxengine=je.__version__,
    )
    deltas = np.linspace(0.005, 0.05, args.n_delta)
    base = je.EngineParams(T_h=args.T_h)
    bracket = (0.0, 0.5)
    gap = np.sqrt((1 + deltas) ** 2 - 1) / 2
    for observable in ("J", "negativity"):
        p = base.replace(delta=deltas)
        t0 = time.perf_counter()
        r = je.kappa_max(p, observable=observable, bracket=bracket)
        jax.block_until_ready(r)
        first = time.perf_counter() - t0
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            jax.block_until_ready(je.kappa_max(p, observable=observable, bracket=bracket))
            runs.append(time.perf_counter() - t0)
        k_ref, v_ref = np.asarray(r.kappa), np.asarray(r.value)
        run_s = min(runs)
        _line(
            case="kappa_max",
            observable=observable,
            n_delta=int(deltas.size),
            compile_s=round(first - run_s, 2),
            run_s=round(run_s, 4),
            ok_fraction=float(np.mean(r.ok)),
            max_abs_kappa_minus_gap_matching=float(np.max(np.abs(k_ref - gap))),
        )
        errs = []
        for n in args.grids:
            dense_scan(base, deltas[: min(deltas.size, 2_000_000 // n)], observable, n, bracket)  # compile, untimed
            t0 = time.perf_counter()
            k, v = dense_scan(base, deltas, observable, n, bracket)
            dt = time.perf_counter() - t0
            err_k = float(np.max(np.abs(k - k_ref)))
            err_v = float(np.max(np.abs(v - v_ref) / np.abs(v_ref)))
            errs.append((n, dt, err_k))
            _line(
                case="dense_scan",
                observable=observable,
                n_delta=int(deltas.size),
                n_kappa=n,
                points=int(n * deltas.size),
                run_s=round(dt, 3),
                max_abs_kappa_error=err_k,
                max_rel_value_error=err_v,
                slowdown_vs_kappa_max=round(dt / run_s, 1),
            )
        # the grid a dense scan needs for the target accuracy, from the h^2 law of the two finest grids
        tol = 1e-8 if observable == "J" else 1e-6
        (n1, _, e1), (n2, t2, e2) = errs[-2], errs[-1]
        order = float(np.log(e1 / e2) / np.log((n2 - 1) / (n1 - 1))) if e1 > 0 and e2 > 0 else None
        if e2 <= tol:
            need_n, need_t = n2, t2
        else:
            need_n = int((n2 - 1) * (e2 / tol) ** (1 / max(order or 2.0, 0.5))) + 1  # the measured order
            need_t = t2 * need_n / n2
        _line(
            case="dense_scan_for_target",
            observable=observable,
            target_kappa_error=tol,
            measured_order=round(float(np.log(e1 / e2) / np.log((n2 - 1) / (n1 - 1))), 2)
            if e1 > 0 and e2 > 0
            else None,
            n_kappa_needed=need_n,
            estimated_run_s=round(need_t, 1),
            slowdown_vs_kappa_max=round(need_t / run_s, 1),
        )


if __name__ == "__main__":
    main()

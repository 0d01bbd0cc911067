"""Transient dynamics and counting statistics: `jaxengine.evolve` / `counting_statistics` against dynamiqs and QuTiP.

Case (issue 17): E engines with random T_h, delta, kappa_h (other fields at the paper's values) from |00> to
t = 5000 with 50 saved times (linspace). Every implementation is first checked against a tight reference (SciPy
`expm` of the dense Liouvillian at each saved time, on a subset of engines): max |rho - rho_ref| is reported. Then the
first call is timed on its own (compilation) and the best of R repeats with `block_until_ready`. One JSON line each.

- `jaxengine.evolve`: every observable at every time (rho, Q_h, Q_c, J, N, C, J_c, witness, ok);
- `jaxengine states`: the same propagation, states only (what the dynamiqs runs below compute);
- dynamiqs 0.3.7 `mesolve`, `Tsit5(rtol=1e-10, atol=1e-12)` and `Expm()`, `cartesian_batching=False`, states saved;
  each dynamiqs line also gives (`plus_user_observables_*`) the time of the same states PLUS what a dynamiqs user
  writes for the observables (`user_observables`: Q_h, Q_c, J, N by `eigvalsh` of the partial transpose, C by
  `eigvals`, jitted and vectorised), an extra baseline reported beside the states-only one, never instead of it;
- QuTiP `mesolve` loop (atol 1e-12, rtol 1e-10), states saved;
- `counting_statistics` (mean, noise, skewness) against a QuTiP `countstat_current_noise` loop (mean and noise).

    python bench/transient.py                   # 1000 engines; dynamiqs on 200 (Tsit5) / 1000 (Expm); QuTiP on 5
    python bench/transient.py --engines 200 --quick

dynamiqs is optional (`pip install -e ".[bench]"`); without it those lines say so.
"""

import argparse
import datetime
import functools
import json
import platform
import time
import timeit

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg as sl

import jaxengine as je
from jaxengine import _compile
from jaxengine._generator import pauli
from jaxengine._solve import evolve as ev

SP = np.array([[0, 1], [0, 0]], complex)
SM, SX, I2 = SP.T.copy(), np.array([[0, 1], [1, 0]], complex), np.eye(2)
GROUND = np.diag([0, 0, 0, 1.0]).astype(complex)


def engines(n, seed=0):
    rng = np.random.default_rng(seed)
    return je.EngineParams(
        T_h=rng.uniform(0.3, 1.0, n), delta=rng.uniform(-0.05, 0.05, n), kappa_h=rng.uniform(0.0, 0.1, n)
    )


def model(p):
    """(H (n, 4, 4), c_ops (4, n, 4, 4)) as NumPy arrays, from jaxengine's public operators."""
    return np.asarray(je.hamiltonian(p)), np.moveaxis(np.asarray(je.jump_operators(p)), -3, 0)


def reference(H, c_ops, times):
    """rho(t) of one engine by SciPy expm of the column-stacked Liouvillian."""
    eye = np.eye(4)
    L = -1j * (np.kron(eye, H) - np.kron(H.T, eye))
    for a in c_ops:
        ada = a.conj().T @ a
        L += np.kron(a.conj(), a) - 0.5 * (np.kron(eye, ada) + np.kron(ada.T, eye))
    v0 = GROUND.reshape(-1, order="F")
    return np.stack([(sl.expm(L * t) @ v0).reshape(4, 4, order="F") for t in times])


def timed(f, repeat):
    t0 = time.perf_counter()
    out = jax.block_until_ready(f())
    first = time.perf_counter() - t0
    best = min(timeit.repeat(lambda: jax.block_until_ready(f()), number=1, repeat=repeat))
    return out, first, best


def emit(**kw):
    kw.update(
        backend=jax.default_backend(),
        device=platform.processor() or platform.machine(),
        jax_version=jax.__version__,
        date=datetime.date.today().isoformat(),
    )
    print(json.dumps(kw), flush=True)


@functools.partial(_compile.bucketed, name="bench_states", static_argnames=("from_zero",), buckets=ev.STATE_BUCKETS)
def _states(batch, *, from_zero):
    """rho(t) only (no observables): `evolve`'s propagation program plus the assembly of rho, in the same buckets
    and threads (`_compile.bucketed`)."""
    p, x0, times, t0, h = batch
    x, *_ = ev.evolve_pauli(p, x0, times, mode="uniform", squarings=None, t0=t0, h=h, from_zero=from_zero)
    B, T, _ = x.shape
    return pauli.rho_from_pauli_batch_last(x.reshape(-1, 16).T).reshape(B, T, 4, 4)


def _partial_transpose(rho):
    """rho^{T_c} of (..., 4, 4) two-qubit states (qubit c is the right Kronecker factor)."""
    r = rho.reshape(rho.shape[:-2] + (2, 2, 2, 2))
    return jnp.swapaxes(r, -1, -3).reshape(rho.shape)


YY = np.kron([[0, -1j], [1j, 0]], [[0, -1j], [1j, 0]])


@jax.jit
def user_observables(rho, H, c_ops):
    """What a dynamiqs user writes for the same observables from the states rho (B, T, 4, 4), with H (B, 4, 4) and
    c_ops (4, B, 4, 4) (+h, -h, +c, -c): Q_j = Tr[H D_j rho] (full H), N = max(0, -min eig rho^{T_c}) by eigvalsh,
    Wootters' C from the eigenvalues of rho (YY) rho^* (YY) by eigvals, J = Q_h - Q_c."""

    def dissipator(L, r):
        LdL = jnp.conj(jnp.swapaxes(L, -1, -2)) @ L
        return L @ r @ jnp.conj(jnp.swapaxes(L, -1, -2)) - 0.5 * (LdL @ r + r @ LdL)

    Hb, cb = H[:, None], c_ops[:, :, None]
    heat = [
        jnp.einsum("btij,btji->bt", Hb, dissipator(cb[a], rho) + dissipator(cb[b], rho)).real
        for a, b in ((0, 1), (2, 3))
    ]
    N = jnp.maximum(0.0, -jnp.linalg.eigvalsh(_partial_transpose(rho))[..., 0])
    R = rho @ jnp.asarray(YY) @ jnp.conj(rho) @ jnp.asarray(YY)
    lam = jnp.sort(jnp.sqrt(jnp.abs(jnp.linalg.eigvals(R).real)), axis=-1)
    C = jnp.maximum(0.0, lam[..., 3] - lam[..., 2] - lam[..., 1] - lam[..., 0])
    return dict(Q_h=heat[0], Q_c=heat[1], J=heat[0] - heat[1], negativity=N, concurrence=C)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", type=int, default=1000)
    ap.add_argument("--dq-tsit5", type=int, default=200, help="engines for dynamiqs Tsit5 at kappa = delta = 0")
    ap.add_argument("--dq-tsit5-kappa", type=int, default=20, help="engines for dynamiqs Tsit5 at kappa_h != 0")
    ap.add_argument("--qutip", type=int, default=5, help="engines for the QuTiP loop")
    ap.add_argument("--check", type=int, default=8, help="engines checked against the SciPy reference")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--counting", type=int, default=100_000, help="points for counting_statistics")
    ap.add_argument("--quick", action="store_true", help="skip dynamiqs Tsit5 and use fewer points")
    ap.add_argument("--only", choices=("all", "transient", "counting"), default="all")
    args = ap.parse_args(argv)
    if args.only != "counting":
        transient(args)
    if args.only != "transient":
        counting(args)


def transient(args):
    n, times = args.engines, np.linspace(0.0, 5000.0, 50)
    p = engines(n)
    H, c_ops = model(p)
    chk = list(range(args.check))
    ref = np.stack([reference(H[i], c_ops[:, i], times) for i in chk])

    def err(rho):
        return float(np.abs(np.asarray(rho)[chk] - ref).max())

    def neg(rho):  # N = max(0, -min eig rho^{T_c}) in NumPy
        return np.maximum(0.0, -np.linalg.eigvalsh(np.asarray(_partial_transpose(jnp.asarray(rho))))[..., 0])

    def err_n(N, refm=ref):
        return float(np.abs(np.asarray(N)[chk] - neg(refm)).max())

    # jaxengine, every observable
    o, first, best = timed(lambda: je.evolve(p, times), args.repeat)
    emit(
        bench="transient",
        impl="jaxengine.evolve (all observables)",
        engines=n,
        times=50,
        compile_s=first - best,
        run_s=best,
        evolutions_per_s=n / best,
        max_err=err(o.rho),
        max_err_N=err_n(o.negativity),
    )
    rate_je = n / best
    # jaxengine, every observable, on the kappa = delta = 0 engines that dynamiqs Tsit5 solves below (like for like:
    # at kappa = 0 from |00> the eager path propagates the X subspace and takes N, C in closed form)
    p0 = p.replace(delta=np.zeros(n), kappa_h=np.zeros(n))
    H0, c0 = model(p0)
    ref0 = np.stack([reference(H0[i], c0[:, i], times) for i in chk])
    o0, first, best = timed(lambda: je.evolve(p0, times), args.repeat)
    emit(
        bench="transient",
        impl="jaxengine.evolve (all observables), kappa = delta = 0",
        engines=n,
        times=50,
        compile_s=first - best,
        run_s=best,
        evolutions_per_s=n / best,
        max_err=float(np.abs(np.asarray(o0.rho)[chk] - ref0).max()),
        max_err_N=err_n(o0.negativity, ref0),
    )
    rate_je0 = n / best
    # jaxengine, states only (same propagation)
    pf, x0, _ = ev._broadcast(p, None)
    slots = ev.time_bucket(len(times))
    batch = (pf, x0, np.zeros((n, slots)), np.zeros(n), np.full(n, times[1]))
    rho, first, best = timed(lambda: _states(batch, from_zero=True)[:, : len(times)], args.repeat)
    emit(
        bench="transient",
        impl="jaxengine states only",
        engines=n,
        times=50,
        compile_s=first - best,
        run_s=best,
        evolutions_per_s=n / best,
        max_err=err(rho),
    )
    rate_states = n / best

    try:
        import dynamiqs as dq
    except ImportError:
        emit(bench="transient", impl="dynamiqs", note="dynamiqs not installed (pip install -e '.[bench]')")
        dq = None
    if dq is not None:
        dq.set_precision("double")
        # kappa = delta = 0 (the measurement: no fast coherences, the easy case for an ODE solver) and the
        # random kappa_h of the benchmark (oscillations at eps_h: Tsit5 takes ~100x more steps)
        tsit5 = dq.method.Tsit5(rtol=1e-10, atol=1e-12)
        cases = [("Expm", dq.method.Expm(), n, H, c_ops, ref)]
        if not args.quick:
            cases.append(("Tsit5(rtol=1e-10, atol=1e-12), kappa = delta = 0", tsit5, args.dq_tsit5, H0, c0, ref0))
            cases.append(("Tsit5(rtol=1e-10, atol=1e-12)", tsit5, args.dq_tsit5_kappa, H, c_ops, ref))
        for name, method, m, Hm, cm, refm in cases:
            Hq, cq = jnp.asarray(Hm[:m]), [jnp.asarray(c[:m]) for c in cm]

            def run(Hq=Hq, cq=cq, method=method):
                res = dq.mesolve(
                    Hq, cq, jnp.asarray(GROUND), times, method=method, cartesian_batching=False, progress_meter=False
                )
                return res.states.to_jax()

            states, first, best = timed(run, 1 if m < n or "Tsit5" in name else args.repeat)
            r = m / best
            # the extra baseline: what a dynamiqs user runs to get the same observables from these states
            hm, cm_ = jnp.asarray(Hm[:m]), jnp.asarray(np.stack([c[:m] for c in cm]))
            obs, obs_first, obs_best = timed(lambda s=states, hm=hm, cm_=cm_: user_observables(s, hm, cm_), args.repeat)
            r_obs = m / (best + obs_best)
            emit(
                bench="transient",
                impl=f"dynamiqs {dq.__version__} mesolve {name}",
                engines=m,
                times=50,
                compile_s=first - best,
                run_s=best,
                evolutions_per_s=r,
                max_err=float(np.abs(np.asarray(states)[chk] - refm).max()),
                jaxengine_all_observables_speedup=rate_je / r,
                jaxengine_states_speedup=rate_states / r,
                plus_user_observables_run_s=best + obs_best,
                plus_user_observables_compile_s=obs_first - obs_best,
                plus_user_observables_evolutions_per_s=r_obs,
                plus_user_observables_max_err_N=err_n(obs["negativity"], refm),
                jaxengine_all_observables_speedup_vs_plus_user_observables=rate_je / r_obs,
                **(
                    dict(  # the same kappa = delta = 0 engines through jaxengine
                        jaxengine_same_engines_all_observables_speedup=rate_je0 / r,
                        jaxengine_same_engines_speedup_vs_plus_user_observables=rate_je0 / r_obs,
                    )
                    if "kappa = delta = 0" in name
                    else {}
                ),
            )

    import qutip

    dims = [[2, 2], [2, 2]]
    m = args.qutip

    def qloop():
        out = []
        for i in range(m):
            res = qutip.mesolve(
                qutip.Qobj(H[i], dims=dims),
                qutip.Qobj(GROUND, dims=dims),
                times,
                [qutip.Qobj(c[i], dims=dims) for c in c_ops],
                options={"atol": 1e-12, "rtol": 1e-10, "nsteps": 10**7},
            )
            out.append(np.stack([s.full() for s in res.states]))
        return np.stack(out)

    states, first, best = timed(qloop, 1)
    r = m / best
    emit(
        bench="transient",
        impl=f"qutip {qutip.__version__} mesolve loop",
        engines=m,
        times=50,
        run_s=best,
        evolutions_per_s=r,
        max_err=float(np.abs(states[: min(m, len(chk))] - ref[: min(m, len(chk))]).max()),
        jaxengine_all_observables_speedup=rate_je / r,
    )


def counting(args):
    import qutip

    dims = [[2, 2], [2, 2]]
    nc = args.counting if not args.quick else 10_000
    rng = np.random.default_rng(1)
    pc = je.EngineParams(
        T_h=rng.uniform(0.3, 1.5, nc), delta=rng.uniform(-0.05, 0.05, nc), kappa_h=rng.uniform(0, 0.1, nc)
    )
    cs, first, best = timed(lambda: je.counting_statistics(pc), args.repeat)
    rate_cs = nc / best
    emit(
        bench="counting",
        impl="jaxengine.counting_statistics (order 3)",
        points=nc,
        compile_s=first - best,
        run_s=best,
        points_per_s=rate_cs,
    )
    from qutip.solver.countstat import countstat_current_noise

    Hc, cc = model(pc)
    mq = 50

    def cloop():
        out = []
        for i in range(mq):
            cq = [qutip.Qobj(c[i], dims=dims) for c in cc]
            L = qutip.liouvillian(qutip.Qobj(Hc[i], dims=dims), cq)
            rho = qutip.steadystate(L)  # QuTiP's own solver; its countstat steady state is wrong here (see tests)
            res = countstat_current_noise(L, cq[:2], rhoss=rho, sparse=False)
            out.append(
                (
                    np.array([1, -1]) @ np.asarray(res[0]).ravel(),
                    np.array([1, -1]) @ np.asarray(res[1]).reshape(2, 2) @ np.array([1, -1]),
                )
            )
        return np.array(out)

    qc, _, best = timed(cloop, 1)
    rel = float(np.max(np.abs(qc[:, 1] - np.asarray(cs.noise)[:mq]) / np.abs(qc[:, 1])))
    emit(
        bench="counting",
        impl=f"qutip {qutip.__version__} countstat_current_noise loop",
        points=mq,
        run_s=best,
        points_per_s=mq / best,
        jaxengine_speedup=rate_cs / (mq / best),
        max_rel_noise_diff=rel,
    )


if __name__ == "__main__":
    main()

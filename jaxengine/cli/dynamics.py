"""`jaxengine evolve` and `jaxengine fluctuations`: argparse over `evolve`, `relaxation`, `counting_statistics` and
`thermodynamics` (no physics here)."""

from .solvers import _add_grid_options, _add_output_options, _emit, _grid


def _times(args):
    import numpy as np

    if args.times:
        try:
            return np.array([float(v) for v in args.times.split(",")])
        except ValueError:
            raise ValueError(f"--times must be a comma list of numbers, but got {args.times!r}.") from None
    if args.t_max <= 0 or args.num < 1:
        raise ValueError(f"--t-max must be > 0 and --num >= 1, but got {args.t_max} and {args.num}.")
    return np.linspace(0.0, args.t_max, args.num)


def _plot(path, x, series, xlabel, title, hlines=()):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(series), 1, figsize=(6.4, 1.9 * len(series) + 0.6), sharex=True, squeeze=False)
    for ax, (label, y) in zip(axes[:, 0], series, strict=True):
        ax.plot(x, y, lw=1.4)
        ax.set_ylabel(label)
        for name, value in hlines:
            if name == label:
                ax.axhline(value, color="0.5", ls="--", lw=1)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel(xlabel)
    axes[0, 0].set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _cmd_evolve(args):
    import numpy as np

    import jaxengine as je

    from . import params_from_args

    p = params_from_args(args)
    times = _times(args)
    o = je.evolve(p, times, throw=False)
    r = je.relaxation(p)
    header = ["t", "negativity", "concurrence", "Q_h", "Q_c", "J", "witness", "ok"]
    cols = [times] + [np.asarray(getattr(o, k)) for k in header[1:]]
    rows = [[*(c[i] for c in cols[:-1]), bool(cols[-1][i])] for i in range(times.size)]
    note = (
        f"from |00>: relaxation rate (Liouvillian gap) {float(r.rate):.6e}, relaxation time {float(r.time):.6g}; "
        f"J_c = {float(o.J_c[0]):.6e} (eq 18)"
    )
    _emit(args, header, rows, note)
    if args.plot:
        series = [("N", cols[1]), ("J", cols[5]), ("|J|/J_c", cols[6])]
        _plot(args.plot, times, series, "t (1/eps_h)", note, hlines=[("|J|/J_c", 1.0)])
    return 0 if np.all(cols[-1]) else 1


def register_evolve(sub):
    from . import add_param_options

    p = sub.add_parser(
        "evolve",
        help="time evolution from |00> at one parameter point: N(t), C(t), Q_h(t), Q_c(t), J(t), |J(t)|/J_c",
        description="Exact time evolution (scaling and squaring of the real generator) from both qubits in their "
        "ground state, with every observable at each time, and the relaxation rate.",
    )
    add_param_options(p)
    p.add_argument("--t-max", type=float, default=5000.0, help="last time (default 5000, units of 1/eps_h)")
    p.add_argument("--num", type=int, default=21, help="number of evenly spaced times from 0 (default 21)")
    p.add_argument("--times", help="explicit comma list of times (overrides --t-max/--num)")
    p.add_argument("--plot", help="also draw N(t), J(t) and |J(t)|/J_c to this PNG")
    _add_output_options(p)
    p.set_defaults(func=_cmd_evolve)


def _cmd_fluctuations(args):
    import numpy as np

    import jaxengine as je

    p, cols = _grid(args)
    cs = je.counting_statistics(p, bath=args.count_bath, quantity=args.quantity, throw=False)
    th = je.thermodynamics(p, bath=args.count_bath, throw=False)
    values = {
        "mean": cs.mean,
        "noise": cs.noise,
        "skewness": cs.skewness,
        "fano": cs.fano,
        "entropy_production": th.entropy_production,
        "activity": th.activity,
        "tur": th.tur,
        "kur": th.kur,
    }
    values = {k: np.atleast_1d(np.asarray(v)) for k, v in values.items()}
    ok = np.atleast_1d(np.asarray(cs.ok & th.ok))
    header = [n for n, _ in cols] + list(values) + ["ok"]
    n = ok.size
    rows = [[*(c[i] for _, c in cols), *(v[i] for v in values.values()), bool(ok[i])] for i in range(n)]
    unit = "excitations" if args.quantity == "particles" else "energy quanta eps_j"
    note = (
        f"cumulants per unit time of the {unit} that bath {args.count_bath} puts in; TUR = noise/mean^2 * entropy "
        "production (classical bound 2), KUR = noise/mean^2 * activity (classical bound 1), counted particle current"
    )
    _emit(args, header, rows, note)
    if args.plot:
        if len(cols) != 1:
            raise ValueError("--plot needs exactly one --axis (a line plot over it).")
        name, x = cols[0]
        series = [("fano", values["fano"]), ("TUR", values["tur"]), ("KUR", values["kur"])]
        _plot(args.plot, x, series, name, note[:90] + "...", hlines=[("TUR", 2.0), ("KUR", 1.0)])
    return 0 if ok.all() else 1


def register_fluctuations(sub):
    p = sub.add_parser(
        "fluctuations",
        help="current fluctuations (mean, noise, skewness, Fano) and the TUR/KUR ratios per point of a grid",
        description="Full counting statistics of one bath's exchanged excitations or energy quanta (cumulants per "
        "unit time, long-time limit), entropy production, activity and the thermodynamic and kinetic uncertainty "
        "ratios, for every point of the outer-product grid of the --axis values.",
    )
    _add_grid_options(p, "T_h=0.3:1.5:7")
    p.add_argument("--count-bath", choices=("h", "c"), default="h", help="the bath whose jumps are counted")
    p.add_argument("--quantity", choices=("particles", "energy"), default="particles")
    p.add_argument("--plot", help="also draw the Fano factor and the TUR/KUR ratios along the (single) axis")
    _add_output_options(p)
    p.set_defaults(func=_cmd_fluctuations)

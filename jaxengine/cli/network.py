"""`jaxengine network`: the steady state of a qubit network from flags or a small TOML/JSON model file (no physics).

    jaxengine network --eps 1,1,1 --g 0-1=0.004 --g 1-2=0.004 --gamma 1e-3,0,1e-2 --T 1,0.1,0.05
    jaxengine network --model three_qubits.toml --master-equation global --json
    jaxengine network --model model.json --csv out.csv

A model file holds the `Network` fields: `eps`, `g` (a matrix, or a table {"0-1" = 0.004, ...}), `kappa`, `gamma`,
`T`, `mu` (lists or numbers), and optionally `bath`, `master_equation`. Flags override the file.
"""

import csv
import json
import pathlib
import sys

PER_QUBIT = ("eps", "kappa", "gamma", "T", "mu")


def _numbers(text: str, flag: str):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--{flag} must be a comma-separated list of numbers, but is {text!r}.") from None
    return values[0] if len(values) == 1 else values


def _pair(key) -> tuple[int, int]:
    text = str(key).replace(",", "-").replace(" ", "")
    try:
        i, j = (int(v) for v in text.split("-"))
    except ValueError:
        raise ValueError(f"A coupling must be named 'i-j' (e.g. 0-1), but got {key!r}.") from None
    return i, j


def load_model(path: str) -> dict:
    """The fields of a TOML or JSON model file, as a dict of Network keyword arguments."""
    p = pathlib.Path(path)
    text = p.read_text()
    if p.suffix.lower() == ".toml":
        import tomllib

        data = tomllib.loads(text)
    else:
        data = json.loads(text)
    if isinstance(data.get("g"), dict):
        data["g"] = {_pair(k): float(v) for k, v in data["g"].items()}
    unknown = set(data) - {*PER_QUBIT, "g", "bath", "master_equation"}
    if unknown:
        raise ValueError(f"Unknown key(s) {sorted(unknown)} in the model file {path!r}.")
    return data


def network_from_args(args):
    import jaxengine as je

    fields = load_model(args.model) if args.model else {}
    for name in PER_QUBIT:
        value = getattr(args, name)
        if value is not None:
            fields[name] = _numbers(value, name)
    if args.g:
        fields["g"] = {}
        for item in args.g:
            key, _, value = item.partition("=")
            fields["g"][_pair(key)] = float(value)
    for name in ("bath", "master_equation"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if "eps" not in fields:
        raise ValueError("The network needs the qubit gaps: pass --eps 1,1,1 (one per qubit) or a --model file.")
    fields.setdefault("g", {})
    return je.Network(**fields)


def _cmd_network(args):
    import numpy as np

    import jaxengine as je

    net = network_from_args(args)
    o = je.observables(net, throw=False)
    n = net.n
    qubits = [
        dict(
            qubit=j,
            Q=float(o.Q[j]),
            particle_current=float(o.particle_current[j]),
        )
        for j in range(n)
    ]
    pairs = [
        dict(i=i, j=j, negativity=float(o.negativity[i, j]), concurrence=float(o.concurrence[i, j]))
        for i in range(n)
        for j in range(i + 1, n)
    ]
    summary = dict(
        entropy_production=float(o.entropy_production), residual=float(o.residual), ok=bool(np.asarray(o.ok))
    )
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["kind", "i", "j", "Q", "particle_current", "negativity", "concurrence"])
            for q in qubits:
                w.writerow(["qubit", q["qubit"], "", q["Q"], q["particle_current"], "", ""])
            for p in pairs:
                w.writerow(["pair", p["i"], p["j"], "", "", p["negativity"], p["concurrence"]])
    if args.json:
        rho = np.asarray(o.rho)
        print(
            json.dumps(
                dict(
                    n=n,
                    bath=net.bath,
                    master_equation=net.master_equation,
                    qubits=qubits,
                    pairs=pairs,
                    **summary,
                    rho={"real": rho.real.tolist(), "imag": rho.imag.tolist()},
                )
            )
        )
    else:
        print(f"{n} qubits, {net.bath} baths, {net.master_equation} master equation")
        print(f"  {'qubit':>5}  {'Q (energy in)':>15}  {'particles in':>15}")
        for q in qubits:
            print(f"  {q['qubit']:>5}  {q['Q']:>15.6e}  {q['particle_current']:>15.6e}")
        print(f"  {'pair':>5}  {'negativity':>15}  {'concurrence':>15}")
        for p in pairs:
            print(f"  {p['i']}-{p['j']:<3}  {p['negativity']:>15.6e}  {p['concurrence']:>15.6e}")
        print(
            f"  entropy production {summary['entropy_production']:.6e}, residual {summary['residual']:.1e}, "
            f"ok {summary['ok']}"
        )
    if not summary["ok"]:
        print("jaxengine network: the steady state is not trustworthy here (ok = False)", file=sys.stderr)
    return 0 if summary["ok"] else 1


def register_network(sub):
    p = sub.add_parser("network", help="steady state, currents and pairwise entanglement of an n-qubit network")
    p.add_argument("--model", help="a TOML or JSON file with the Network fields (flags override it)")
    for name, what in (
        ("eps", "qubit gaps, one per qubit: 1,1,1"),
        ("kappa", "sigma_x tunnelling per qubit (or one number for all)"),
        ("gamma", "bath rate per qubit (0: no bath)"),
        ("T", "bath temperature per qubit"),
        ("mu", "chemical potential per qubit (fermionic baths)"),
    ):
        p.add_argument(f"--{name}", help=what)
    p.add_argument("--g", action="append", metavar="I-J=VALUE", help="a coupling g_ij (repeat for each pair)")
    p.add_argument("--bath", choices=("bosonic", "fermionic"))
    p.add_argument("--master-equation", dest="master_equation", choices=("local", "global"))
    p.add_argument("--json", action="store_true", help="one JSON object (with rho) instead of a table")
    p.add_argument("--csv", help="also write the per-qubit and per-pair values to this CSV file")
    p.set_defaults(func=_cmd_network)

"""Smoke test of `jaxengine reproduce`: run it at reduced resolution and check what it WROTE against independent values.

The references here do not use jaxengine's solver: `np_steady` (an SVD null space of a row-stacked Liouvillian built
with NumPy, tests/helpers.py) and the paper's J_c (eq 18) written out again from its definition. The parameters are
the paper's, typed in again.
"""

import json
import types

import numpy as np
import pytest
from helpers import np_heat, np_model, np_negativity, np_rates, np_steady

from jaxengine.cli import main
from jaxengine.reproduce import FIGURES

# one worker runs every test of this module, so that the module-scoped reproduce run happens once (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("reproduce")

PAPER = dict(eps_h=1.0, g=1.6e-3, gamma_h=1e-3, gamma_c=1.1e-2, T_c=0.1, kappa_c=0.0, bath="bosonic")


def ref(T_h, delta, kappa_h=0.0):
    """(J, N, J_c) of one point of the paper's figures, from the independent NumPy reference."""
    p = types.SimpleNamespace(T_h=float(T_h), delta=float(delta), kappa_h=float(kappa_h), **PAPER)
    H, c_ops = np_model(p)
    rho = np_steady(H, c_ops)
    q_h, q_c = np_heat(H, c_ops, rho)
    # eq 18: J_c = 4 g sqrt(r1 r4) (eps_h Gamma_c + eps_c Gamma_h) / sqrt(Gamma^2 + 4 delta^2), Gamma_j = g_j^+ + g_j^-
    eps_c = p.eps_h + p.delta
    G_h = sum(np_rates(p.eps_h, p.T_h, p.gamma_h))
    G_c = sum(np_rates(eps_c, p.T_c, p.gamma_c))
    r1, r4 = rho[0, 0].real, rho[3, 3].real
    J_c = 4 * p.g * np.sqrt(r1 * r4) * (p.eps_h * G_c + eps_c * G_h) / np.hypot(G_h + G_c, 2 * p.delta)
    return q_h - q_c, np_negativity(rho), J_c


def gap_kappa(delta):
    return np.sqrt((1 + delta) ** 2 - 1) / 2  # sqrt(eps_h^2 + 4 kappa^2) = eps_c, eps_h = 1


def read_csv(path):
    return np.genfromtxt(path, delimiter=",", names=True, skip_header=1)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("reproduce")
    assert main(["reproduce", "--out", str(d), "--quick", "--quiet"]) == 0
    return d


@pytest.fixture(scope="module")
def summary(out):
    return json.loads((out / "summary.json").read_text())


def test_files_and_images(out):
    import matplotlib.image as mpimg

    for name in FIGURES:
        img = mpimg.imread(out / f"{name}.png")
        assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 500 and img.shape[2] in (3, 4), name
        assert float(np.std(img[..., :3])) > 0.05, f"{name}.png looks blank"
        data = read_csv(out / f"{name}.csv")
        assert data.size > 10 and all(np.isfinite(data[k]).all() for k in data.dtype.names if k != "witness"), name
    text = (out / "summary.md").read_text()
    assert "Quick (reduced) resolution" in text
    for k in range(1, 9):
        assert f"\n{k}. **" in text, f"erratum #{k} missing from summary.md"


def test_kappa0_curves_match_reference(out, summary):
    """Fig 2 / Fig 3 data (kappa = 0, where eqs 6-18 hold) against the independent NumPy steady state and eq 18."""
    rows = read_csv(out / "fig2.csv")
    assert (rows["ok"] == 1).all()
    np.testing.assert_allclose(rows["J"], 2 * rows["Q_h"], rtol=5e-12)  # CONVENTIONS #2 (13 digits in the CSV)
    for r in rows[:: max(1, len(rows) // 9)]:
        J, N, J_c = ref(r["T_h"], r["delta"])
        np.testing.assert_allclose(r["J"], J, rtol=1e-10)
        np.testing.assert_allclose(r["negativity"], N, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(r["J_c"], J_c, rtol=1e-10)
    f3 = read_csv(out / "fig3.csv")
    for r in f3[:: max(1, len(f3) // 7)]:
        J, N, J_c = ref(r["T_h"], r["delta"])
        np.testing.assert_allclose(r["witness"], abs(J) / J_c, rtol=1e-10, atol=1e-10)  # atol: J ~ 1e-17 at T_h = 0.1
    # delta = 0 references (dashed lines of Figs 4, 5), incl. the public reference point of CONVENTIONS.md
    for r in summary["delta0"]:
        J, N, J_c = ref(r["T_h"], 0.0)
        np.testing.assert_allclose([r["J"], r["N"], r["J_c"]], [J, N, J_c], rtol=1e-10)
    r7 = next(r for r in summary["delta0"] if r["T_h"] == 0.7)
    np.testing.assert_allclose(
        [r7["J"], r7["N"], r7["J_c"]], [1.9948078937e-04, 8.9722638102e-04, 9.0461953850e-05], rtol=1e-9
    )


def test_kappa_curves_match_reference(out):
    """Fig 4 / Fig 5 data (kappa_h > 0, not X-shaped) against the independent NumPy steady state."""
    for name in ("fig4", "fig5"):
        rows = read_csv(out / f"{name}.csv")
        for r in rows[:: max(1, len(rows) // 6)]:
            J, N, _ = ref(r["T_h"], r["delta"], r["kappa_h"])
            np.testing.assert_allclose(r["J"], J, rtol=1e-10, atol=1e-15)
            np.testing.assert_allclose(r["negativity"], N, rtol=1e-10, atol=1e-13)


def test_kappa_max_near_gap_matching(out, summary):
    rows = summary["kmax_fig4"] + summary["kmax_fig5"]
    assert all(r["ok_J"] and r["ok_N"] for r in rows)
    for r in rows:
        d = r["delta"]
        if d == 0:
            assert r["kappa_J"] == pytest.approx(0, abs=1e-6)
            continue
        g = gap_kappa(d)
        assert r["kappa_gap"] == pytest.approx(g, rel=1e-12)
        assert abs(r["kappa_J"] - g) / g < 1e-3, r
        J0, N0, _ = ref(r["T_h"], d, r["kappa_J"])
        assert r["J_max"] == pytest.approx(J0, rel=1e-10)
        for s in (-1, 1):  # a maximum of the independent J
            assert ref(r["T_h"], d, r["kappa_J"] * (1 + s * 2e-3))[0] < J0
        # the negativity at kappa_max of N is at least that at gap matching (N is flat: compare maxima, #9)
        _, N_k, _ = ref(r["T_h"], d, r["kappa_N"])
        _, N_g, _ = ref(r["T_h"], d, g)
        assert r["N_max"] == pytest.approx(N_k, rel=1e-10)
        assert N_k >= N_g * (1 - 1e-9), r
        assert abs(r["kappa_N"] - g) / g < (0.1 if r["T_h"] < 0.4 else 0.02), r
    line = read_csv(out / "kappa_max_delta.csv")
    sel = (line["observable_is_N"] == 0) & (line["delta"] >= 0.01) & (line["ok"] == 1)
    assert sel.sum() >= 4
    np.testing.assert_allclose(line["kappa_max"][sel], gap_kappa(line["delta"][sel]), rtol=1e-3)


def test_critical_points_are_on_the_witness_boundary(summary):
    """delta*(T_h) and T_h*(delta) from the summary: |J| = J_c there with the independent reference, N = 0 on one
    side and N > 0 on the other (CONVENTIONS #7), and the existence pattern of #8."""
    found = []
    for r in summary["dstar"]:
        for key in ("plus", "minus"):
            d = r[key]
            if d is None:
                continue
            found.append((r["T_h"], key))
            J, N, J_c = ref(r["T_h"], d)
            assert abs(J) / J_c == pytest.approx(1, abs=1e-6), (r, key)
            inner = ref(r["T_h"], d * (1 - 1e-2))[1]
            outer = ref(r["T_h"], d * (1 + 1e-2))[1]
            assert inner > 1e-12 and outer < 1e-14 and N < 1e-3 * inner, (r, key, N, inner, outer)
    # #8: a small positive delta* only at T_h = 0.3 of (0.3, 0.5, 0.7); a negative one at every T_h
    assert sorted(found) == [(0.3, "minus"), (0.3, "plus"), (0.5, "minus"), (0.7, "minus")]
    for r in summary["tstar"]:
        t = r["T_h_star"]
        J, N, J_c = ref(t, r["delta"])
        assert abs(J) / J_c == pytest.approx(1, abs=1e-6), r
        assert ref(t * 1.01, r["delta"])[1] > 0 and ref(t * 0.99, r["delta"])[1] < 1e-14, r

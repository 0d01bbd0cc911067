"""`jaxengine kappa-max`, `critical` and `optimise`, in-process: the printed and written numbers are those of the
Python API (itself tested against independent references in test_optimise.py), and bad input is one clear line."""

import csv
import json

import numpy as np
import pytest

import jaxengine as je
from jaxengine.cli import main


def test_kappa_max_csv_and_json(tmp_path, capsys):
    out = tmp_path / "km.csv"
    argv = ["kappa-max", "--axis", "delta=0.01,0.03", "--set", "T_h=0.7", "--observable", "J"]
    assert main([*argv, "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    ref = je.kappa_max(je.EngineParams(T_h=0.7, delta=np.array([0.01, 0.03])), observable="J")
    assert [float(r["delta"]) for r in rows] == [0.01, 0.03]
    np.testing.assert_allclose([float(r["kappa_h_max"]) for r in rows], ref.kappa, rtol=1e-12)
    np.testing.assert_allclose([float(r["J_max"]) for r in rows], ref.value, rtol=1e-12)
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    lines = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    assert [row["ok"] for row in lines] == [True, True]


def test_critical_table(capsys):
    assert main(["critical", "--axis", "T_h=0.3,0.7", "--json"]) == 0
    rows = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    p = je.EngineParams(T_h=np.array([0.3, 0.7]))
    neg, pos = je.critical_detuning(p, sign=-1), je.critical_detuning(p, sign=+1)
    np.testing.assert_allclose([r["delta*-"] for r in rows], neg.value, rtol=1e-12)
    assert rows[0]["delta*+"] == float(pos.value[0]) and np.isnan(rows[1]["delta*+"])  # no crossing at T_h = 0.7
    np.testing.assert_allclose(rows[0]["T_h*"], float(je.critical_temperature(je.EngineParams()).value), rtol=1e-12)


@pytest.mark.slow  # ~40-70 s of compilation on 2 cores; CI budget
def test_optimise_json(capsys):
    argv = ["optimise", "--free", "kappa_h", "--bounds", "kappa_h=0:0.3", "--set", "delta=0.02", "--objective", "J"]
    assert main([*argv, "--starts", "4", "--steps", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    k = out["params"]["kappa_h"]
    o = je.observables(je.EngineParams(delta=0.02, kappa_h=np.array([k, k - 1e-3, k + 1e-3])))
    np.testing.assert_allclose(out["observables"]["J"], float(o.J[0]), rtol=1e-12)
    assert out["value"] == out["observables"]["J"] and float(o.J[0]) > max(float(o.J[1]), float(o.J[2]))


def test_bad_input_is_one_line(capsys):
    assert main(["optimise", "--free", "kappa_h", "--bounds", "kappa_h=0-0.3"]) == 2
    assert "--bounds kappa_h must look like LO:HI" in capsys.readouterr().err
    assert main(["kappa-max", "--axis", "kappa=0:1:3"]) == 2
    assert "--axis kappa" in capsys.readouterr().err
    assert main(["kappa-max", "--observable", "J", "--bracket", "0.3:0.1"]) == 2
    assert "bracket" in capsys.readouterr().err

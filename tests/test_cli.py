"""The `jaxengine observables` command, in-process and as an installed console script."""

import json
import shutil
import subprocess

import numpy as np
import pytest

import jaxengine as je
from jaxengine.cli import main


def test_observables_json(capsys):
    assert main(["observables", "--T_h", "0.7", "--delta", "0.01", "--kappa_h", "0.02", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = je.observables(je.EngineParams(T_h=0.7, delta=0.01, kappa_h=0.02))
    for name in ("J", "Q_h", "Q_c", "negativity", "concurrence", "J_c", "witness"):
        np.testing.assert_allclose(out[name], float(getattr(ref, name)), rtol=1e-14)
    assert out["ok"] is True and out["params"]["kappa_h"] == 0.02 and out["params"]["bath"] == "bosonic"
    np.testing.assert_allclose(np.array(out["rho"]["real"]) + 1j * np.array(out["rho"]["imag"]), ref.rho)


def test_observables_table(capsys):
    assert main(["observables", "--bath", "fermionic"]) == 0
    text = capsys.readouterr().out
    ref = je.observables(je.EngineParams(bath="fermionic"))
    assert f"J            {float(ref.J):.10e}" in text and "bath=fermionic" in text


def test_failed_point_exit_code(capsys):
    assert main(["observables", "--gamma_h", "0", "--gamma_c", "0", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


@pytest.mark.skipif(shutil.which("jaxengine") is None, reason="console script not installed")
def test_console_script():
    out = subprocess.run(["jaxengine", "observables", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"{json.loads(out.stdout)['J']:.10e}" == "1.9948078937e-04"

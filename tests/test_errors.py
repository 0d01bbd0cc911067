"""Bad input raises ValueError/TypeError naming the argument and showing the value, before anything compiles."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxengine as je
import jaxengine._compile
import jaxengine._observables
import jaxengine._observables.closed_forms
import jaxengine._solve.steady


@pytest.fixture
def no_compile(monkeypatch):
    """Make every jitted implementation explode: a check that raises first ran before any compilation."""

    def boom(*args, **kwargs):
        raise AssertionError("reached the jitted implementation")

    monkeypatch.setattr(jaxengine._observables, "_observables_impl", boom)
    monkeypatch.setattr(jaxengine._compile, "executable", boom)  # every eager bucketed or chunked program
    monkeypatch.setattr(jaxengine._solve.steady, "_engine_steady", boom)
    monkeypatch.setattr(jaxengine._observables.closed_forms, "_closed_form_impl", boom)


CASES = [
    (dict(gamma_h=-1e-3), r"Field `gamma_h` must be a non-negative rate, but got gamma_h=-0.001"),
    (
        dict(gamma_c=np.array([1e-3, np.nan])),
        r"Field `gamma_c` must be finite, but got gamma_c=.*nan.* at index \(1,\)",
    ),
    (dict(T_h=-0.5), r"Field `T_h` must be a non-negative temperature, but got T_h=-0.5"),
    (dict(T_c=np.inf), r"Field `T_c` must be finite, but got T_c=inf"),
    (dict(eps_h=np.nan), r"Field `eps_h` must be finite"),
    (dict(delta=np.inf), r"Field `delta` must be finite"),
    (dict(kappa_h=[0.1, -np.inf]), r"Field `kappa_h` must be finite"),
    (dict(delta=-1.5), r"eps_c = eps_h \+ delta must be > 0 for bosonic baths"),
    (dict(T_h=np.ones(3), delta=np.ones(4) * 0.01), r"do not broadcast together: shapes delta\(4,\), T_h\(3,\)"),
]


@pytest.mark.parametrize("kw,match", CASES, ids=[c[1][:30] for c in CASES])
@pytest.mark.parametrize("fn", [je.observables, je.steady_state, je.closed_form])
def test_bad_params(no_compile, fn, kw, match):
    with pytest.raises(ValueError, match=match):
        fn(je.EngineParams(**kw))


def test_unknown_bath():
    with pytest.raises(ValueError, match=r"Argument `bath` must be one of \('bosonic', 'fermionic'\), but is bath='x'"):
        je.EngineParams(bath="x")


def test_complex_field(no_compile):
    with pytest.raises(TypeError, match="Field `g` must be real"):
        je.observables(je.EngineParams(g=1e-3 + 1j))


def test_not_params(no_compile):
    with pytest.raises(ValueError, match=r"must be an EngineParams or a Liouvillian of shape \(\.\.\., n², n²\)"):
        je.steady_state(jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"Argument `system` must have shape \(\.\.\., n, n\)"):
        je.steady_state(jnp.zeros((4, 5)))


def test_rho_shape():
    with pytest.raises(
        ValueError, match=r"Argument `rho` must have shape \(\.\.\., 4, 4\), but has shape rho.shape=\(3, 3\)"
    ):
        je.negativity(jnp.eye(3))
    with pytest.raises(ValueError, match=r"Argument `rho` must have shape \(\.\.\., 4, 4\)"):
        je.concurrence(jnp.eye(2))
    with pytest.raises(ValueError, match=r"Argument `rho` must have shape"):
        je.heat_currents(je.EngineParams(), jnp.eye(2))


def test_closed_form_refuses_kappa(no_compile):
    with pytest.raises(ValueError, match=r"closed_form holds only at kappa_h = kappa_c = 0.*kappa_c=0.2"):
        je.closed_form(je.EngineParams(kappa_c=0.2))


def test_fermionic_allows_negative_gaps():
    o = je.observables(je.EngineParams(bath="fermionic", eps_h=0.5, delta=-1.0))
    assert bool(o.ok)


def test_cli_reports_bad_input(capsys):
    from jaxengine.cli import main

    assert main(["observables", "--gamma_h", "-1"]) == 2
    assert "Field `gamma_h` must be a non-negative rate" in capsys.readouterr().err

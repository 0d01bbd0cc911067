"""`_linalg.expm`: the batch-last exponential against SciPy `expm` (Al-Mohy & Higham's Padé method, an independent
algorithm) and against the batched `expm` (the same algorithm, batch first)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl

import jaxengine  # noqa: F401  (float64)
from jaxengine._linalg.expm import expm, expm_batch_last

U = np.finfo(float).eps / 2


def _matrices(rng, kind, norm, n=7, B=24):
    """B random n x n matrices of 1-norm `norm`: Gaussian ("gauss"), or dissipative like the engine's generator
    (a skew-symmetric rotation plus a small negative semidefinite damping: bounded e^X at any norm)."""
    G = rng.normal(size=(B, n, n))
    if kind == "dissip":
        H = rng.normal(size=(B, n, n))
        G = (G - np.swapaxes(G, 1, 2)) - 1e-2 * H @ np.swapaxes(H, 1, 2)
    return G * (norm / np.abs(G).sum(axis=1).max(axis=1))[:, None, None]


# Gaussian matrices up to norm 10 only: beyond, e^X spans too many orders of magnitude for a relative check
CASES = [("gauss", v) for v in (1e-3, 1e-1, 1.0, 10.0)] + [
    ("dissip", v) for v in (1e-3, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4)
]


@pytest.mark.parametrize("kind, norm", CASES)
def test_batch_last_expm_against_scipy(kind, norm):
    """Relative error in the 1-norm <= 64 u max(1, ||X||_1). Why this tolerance: the exponential's relative condition
    number grows like ||X|| (exactly ||X||_2 for normal X), so no float64 method, SciPy's included, is more accurate
    than ~||X|| u; measured 2-4 u for ||X|| <= 1 and 7-42 u ||X|| above (mostly SciPy's own error: the batch-last and
    the batched `expm`, the same algorithm, agree to 1e-13 relative at ||X|| = 1e3, checked below at 4 u ||X||)."""
    X = _matrices(np.random.default_rng(int(np.log10(norm) * 10) + 100), kind, norm)
    E, ok = jax.jit(expm_batch_last)(jnp.asarray(np.moveaxis(X, 0, -1)))
    E = np.moveaxis(np.asarray(E), -1, 0)
    assert np.asarray(ok).all()
    ref = np.stack([sl.expm(x) for x in X])
    one = lambda M: np.abs(M).sum(axis=-2).max(axis=-1)  # noqa: E731
    assert np.all(one(E - ref) <= 64 * U * max(1.0, norm) * one(ref))
    E2 = np.asarray(expm(jnp.asarray(X), None)[0])
    assert np.all(one(E - E2) <= 4 * U * max(1.0, norm) * one(ref))


def test_batch_last_expm_squarings():
    """A static squaring count flags the matrices that need more, as `expm` does; 0 and exact cases."""
    X = np.zeros((3, 3, 3))
    X[0, 1, 1], X[1, 0, 1] = np.pi, -np.pi  # rotation by pi: needs 2 squarings
    X[..., 2] = 1e6 * np.eye(3)  # needs 20
    E, ok = expm_batch_last(jnp.asarray(X), 4)
    assert np.asarray(ok).tolist() == [True, True, False]
    np.testing.assert_array_equal(np.asarray(E[..., 0]), np.eye(3))  # e^0 = I exactly
    np.testing.assert_allclose(np.asarray(E[:2, :2, 1]), -np.eye(2), atol=1e-15)
    E, ok = expm_batch_last(jnp.asarray(X[..., :2]))
    assert np.asarray(ok).all()

"""Closed-form entanglement of X states (`_observables.xstate`) against NumPy eigenvalues, and the invariance of the
X subspace under the engine's generator at kappa = 0 (what makes the closed forms applicable)."""

import numpy as np
import pytest
from helpers import np_negativity

from jaxengine._generator import pauli
from jaxengine._observables import xstate

YY = np.array([[0, 0, 0, -1], [0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0]], dtype=complex)  # sigma_y x sigma_y


def np_concurrence(rho):
    """Wootters: the square roots of the eigenvalues of rho (YY rho* YY), by NumPy, in decreasing order."""
    lam = np.sqrt(np.clip(np.sort(np.linalg.eigvals(rho @ YY @ rho.conj() @ YY).real)[::-1], 0, None))
    return max(0.0, lam[0] - lam[1] - lam[2] - lam[3])


def random_x_states(rng, n):
    """n random X states (n, 4, 4): each 2x2 block {0, 3} and {1, 2} a random positive matrix, then normalised;
    a quarter are pushed to the separable/entangled boundary, and a few are pure or rank-deficient."""
    out = []
    for i in range(n):
        rho = np.zeros((4, 4), complex)
        for a, b in ((0, 3), (1, 2)):
            g = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
            blk = g @ g.conj().T * rng.uniform(0, 1) ** 3
            if i % 7 == 0:  # rank one block
                v = g[:, 0]
                blk = np.outer(v, v.conj())
            rho[np.ix_((a, b), (a, b))] = blk
        rho /= np.trace(rho).real
        if i % 4 == 1:  # move the coherences to the PPT boundary |c| = sqrt(p p'), where the state stays positive
            for (a, b), (c, d) in (((0, 3), (1, 2)), ((1, 2), (0, 3))):
                bound = np.sqrt(rho[c, c].real * rho[d, d].real) * (1 + 1e-9 * rng.normal())
                psd = np.sqrt(rho[a, a].real * rho[b, b].real)
                if abs(rho[a, b]) > 0 and bound < psd:
                    rho[a, b] *= bound / abs(rho[a, b])
                    rho[b, a] = rho[a, b].conj()
        out.append(rho)
    out.append(np.diag([0, 0, 0, 1.0]).astype(complex))  # |00>
    bell = np.zeros(4, complex)
    bell[[1, 2]] = 1 / np.sqrt(2)
    out.append(np.outer(bell, bell.conj()))  # (|10> + |01>)/sqrt2
    return np.array(out)


def to_pauli(rho):
    return np.einsum("kij,nji->nk", pauli.PAULI, rho).real


def test_closed_forms_match_numpy(rng):
    rho = random_x_states(rng, 400)
    assert min(np.linalg.eigvalsh(r).min() for r in rho) > -1e-15, "the test states are states"
    x = to_pauli(rho)
    assert xstate.is_x_state(x)
    rows = x.T
    neg = np.asarray(xstate.negativity_x(rows))
    sneg = np.asarray(xstate.signed_negativity_x(rows))
    conc = np.asarray(xstate.concurrence_x(rows))
    ref_n = np.array([np_negativity(r) for r in rho])
    ref_lam = np.array([np.linalg.eigvalsh(r.reshape(2, 2, 2, 2).transpose(0, 3, 2, 1).reshape(4, 4)).min() for r in rho])
    ref_c = np.array([np_concurrence(r) for r in rho])
    # LAPACK's eigenvalues are exact to a few eps times ||rho|| <= 1: the tolerance is 2 eps absolute
    np.testing.assert_allclose(neg, ref_n, rtol=0, atol=4.5e-16)
    np.testing.assert_allclose(sneg, -ref_lam, rtol=0, atol=4.5e-16)
    # NumPy's sqrt of eigvals of the non-Hermitian rho rho~ is itself only accurate to ~sqrt(eps) near zero
    np.testing.assert_allclose(conc, ref_c, rtol=0, atol=1e-7)
    assert np.all((conc > 0) == (neg > 0)), "two qubits: entangled by one measure iff by the other"
    bell = -1
    assert neg[bell] == pytest.approx(0.5, abs=1e-15) and conc[bell] == pytest.approx(1.0, abs=1e-15)


def test_not_an_x_state_is_detected(rng):
    x = to_pauli(random_x_states(rng, 3))
    x[1, 1] = 1e-300  # IX
    assert not xstate.is_x_state(x)


def test_x_subspace_is_invariant_without_tunnelling():
    """At kappa = 0 the generator M = sum theta_k B_k maps X states to X states: every B_k except the two tunnelling
    terms has no entry from an X component to another one, and the tunnelling terms do."""
    G = pauli.GENERATORS  # (9, 16, 16): eps_h, eps_c, g, kappa_h, kappa_c, four rates
    X, O = list(xstate.X_INDICES), list(xstate.OTHER_INDICES)
    for k in range(9):
        leak = np.abs(G[k][np.ix_(O, X)]).max()
        assert (leak == 0) == (k not in (3, 4)), k


def test_rho_x_is_the_general_assembly_bit_for_bit(rng):
    """`rho_x` (six entries, exact zeros elsewhere) against the general Pauli-to-rho assembly, bit for bit, and
    against the states it came from."""
    rho = random_x_states(rng, 50)
    rows = to_pauli(rho).T
    fast_rho = np.asarray(xstate.rho_x(rows))
    assert np.array_equal(fast_rho, np.asarray(pauli.rho_from_pauli_batch_last(rows)))
    np.testing.assert_allclose(fast_rho, rho, rtol=0, atol=1e-15)

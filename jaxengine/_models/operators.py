r"""Single- and two-qubit operators: the basis convention of jaxengine lives here and only here.

Two qubits, hot (h) and cold (c). The hot qubit is the LEFT factor of every Kronecker product, so the
two-qubit basis is ordered $|11\rangle, |10\rangle, |01\rangle, |00\rangle$ = $|h\,c\rangle$ with
$|1\rangle = (1, 0)^T$ (the excited state first). Then

$$\sigma_+ = |1\rangle\langle 0| = \begin{pmatrix}0&1\\0&0\end{pmatrix}, \qquad
\sigma_- = \sigma_+^T, \qquad n = \sigma_+\sigma_- = |1\rangle\langle 1|.$$

Everything here is a constant NumPy array (complex128); callers cast to the dtype they compute in.
"""

import numpy as np

I2 = np.eye(2, dtype=np.complex128)
SIGMA_PLUS = np.array([[0, 1], [0, 0]], dtype=np.complex128)
SIGMA_MINUS = SIGMA_PLUS.T.copy()
NUMBER = SIGMA_PLUS @ SIGMA_MINUS
SIGMA_X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
SIGMA_Y = np.array([[0, -1j], [1j, 0]], dtype=np.complex128)
SIGMA_Z = np.array([[1, 0], [0, -1]], dtype=np.complex128)

SITES = ("h", "c")


def embed(op: np.ndarray, site: str) -> np.ndarray:
    """Embed a single-qubit operator on `site` ("h" = left factor, "c" = right factor) into the 4-dim space."""
    if site == "h":
        return np.kron(op, I2)
    if site == "c":
        return np.kron(I2, op)
    raise ValueError(f"Argument `site` must be 'h' or 'c', but is site={site!r}.")


def pauli_basis() -> np.ndarray:
    r"""The 16 two-qubit Pauli strings $P_{4a+b} = \sigma_a \otimes \sigma_b$ ($\sigma_0 = I$), shape (16, 4, 4).

    They are Hermitian and orthogonal, $\mathrm{Tr}(P_j P_k) = 4\delta_{jk}$, so a state is
    $\rho = \frac14 \sum_k x_k P_k$ with real $x_k = \mathrm{Tr}(P_k\rho)$ and $x_0 = \mathrm{Tr}\rho = 1$.
    """
    paulis = (I2, SIGMA_X, SIGMA_Y, SIGMA_Z)
    return np.stack([np.kron(a, b) for a in paulis for b in paulis])

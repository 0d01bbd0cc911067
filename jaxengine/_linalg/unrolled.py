r"""Batch-last helpers for code unrolled at trace time: values are (B,) vectors, one per matrix entry, and loops run
over the points of a block (SIMD lanes on CPU, threads on GPU). Pure numerics: no physics.

- `_materialise`: make XLA compute a shared value once instead of fusing it into every consumer;
- `_block_any`: a block-wide decision as a max-reduction (which the fused GPU kernel's Triton lowering accepts);
- `_cmul`, `_cconj`: complex numbers as (re, im) pairs of real vectors (XLA's complex elementwise ops vectorise
  poorly on CPU);
- `block_lu`, `block_lu_apply`: LU of a sparse matrix given as a dict of entries, in a static order of 1x1 and 2x2
  pivot blocks, unrolled over the structural non-zeros (the engine's throughput solver, `_solve.kernel`).
"""

import contextvars

import jax.numpy as jnp


def _block_any(mask):
    """Whether any point of the block has `mask`, as a max-reduction (which the Triton lowering of the fused GPU
    kernel has; it has no boolean reductions)."""
    return jnp.max(jnp.where(mask, 1.0, 0.0)) > 0


# True while the fused kernel (`_observables.fused`) is traced: there every value lives in registers, nothing is
# recomputed, and
# `_materialise` is the identity
IN_REGISTERS = contextvars.ContextVar("jaxengine_in_registers", default=False)


def _materialise(v):
    """v itself, computed once: a division by a 1.0 that XLA cannot fold (exact), which XLA treats as expensive.

    XLA fuses every cheap elementwise producer into each of its consumers, so a value with several consumers deep in
    the unrolled elimination is recomputed once per consumer, recursively: the plain unrolled LU executes ~10x its
    own flops (16 000 instead of ~1 600 per point). XLA never duplicates a division into several consumers, so
    dividing by `where(v == v | v != v, 1, 2)` (1 also where v is nan; XLA does not simplify float comparisons of a
    value with itself) makes it compute v once and keep it in memory. LLVM then folds the comparison to true and the
    division by 1 away, so nothing is executed and the divisor reads no other array. On the 2-core CPU this cut the
    solve's run time by ~65 % and its compile time by more than half.
    """
    if IN_REGISTERS.get():
        return v
    return v / jnp.where((v == v) | (v != v), 1.0, 2.0).astype(v.dtype)


# complex numbers as (re, im) pairs of real (B,) vectors: XLA's complex elementwise ops vectorise poorly on CPU
def _cmul(a, b):
    return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]


def _cconj(a):
    return a[0], -a[1]


def block_lu(a, blocks):
    """Sparse LU of a batch-last matrix A, given as a dict {(i, j): (B,)} of its structural non-zeros, in the static
    order `blocks` of 1x1 and 2x2 pivot blocks (a tuple of index tuples covering every row), without runtime pivoting.

    Returns (L, U, inv, min_pivot): the multipliers L[(i, K)] (a tuple, one per index of block K) of row i, the
    upper-factor entries U[(k, j)] (ORIGINAL indices), the inverse of each diagonal block (a tuple: 1/d, or the four
    entries of the explicit 2x2 inverse), and the smallest pivot per point (|d|, or |det D| / ||D||_F <= sigma_min
    for a 2x2 block). The structural zeros are known at trace time, so only the entries of the filled pattern are
    ever touched. U and L are materialised (`_materialise`): each is read by every later elimination step below it and
    by both substitutions. The caller chooses an order whose pivots cannot vanish (`_solve.kernel.BLOCKS`).
    """
    a = dict(a)
    zero = jnp.zeros_like(next(iter(a.values())))
    get = lambda i, j: a.get((i, j), zero)  # noqa: E731
    rem = [k for blk in blocks for k in blk]
    L, U, inv = {}, {}, {}
    min_pivot = None
    for blk in blocks:
        for k in blk:
            rem.remove(k)
        if len(blk) == 1:
            (k,) = blk
            piv = a[(k, k)]
            inv[blk] = (1 / piv,)
            size = jnp.abs(piv)
        else:  # a rotating pair: [[-G, -w], [w, -G]] up to the updates; det = G^2 + w^2 does not cancel
            (k1, k2) = blk
            d11, d12, d21, d22 = get(k1, k1), get(k1, k2), get(k2, k1), get(k2, k2)
            det = d11 * d22 - d12 * d21
            r = 1 / det
            inv[blk] = tuple(_materialise(v) for v in (d22 * r, -d12 * r, -d21 * r, d11 * r))
            size = jnp.abs(det) / jnp.sqrt(d11 * d11 + d12 * d12 + d21 * d21 + d22 * d22)
        min_pivot = size if min_pivot is None else jnp.minimum(min_pivot, size)
        cols = [j for j in rem if any((k, j) in a for k in blk)]
        for k in blk:
            for j in cols:
                U[(k, j)] = _materialise(get(k, j))
        for i in rem:
            if not any((i, k) in a for k in blk):
                continue
            if len(blk) == 1:
                m = (_materialise(a[(i, blk[0])] * inv[blk][0]),)
            else:  # the row (a_ik1, a_ik2) times the 2x2 inverse
                (k1, k2), (i11, i12, i21, i22) = blk, inv[blk]
                r1, r2 = get(i, k1), get(i, k2)
                m = (_materialise(r1 * i11 + r2 * i21), _materialise(r1 * i12 + r2 * i22))
            L[(i, blk)] = m
            for j in cols:
                v = sum(mt * U[(k, j)] for mt, k in zip(m, blk, strict=True))
                a[(i, j)] = -v if (i, j) not in a else a[(i, j)] - v
    return L, U, inv, min_pivot


def block_lu_apply(F, rhs, blocks):
    """x = A^{-1} rhs (a tuple of n (B,) rows) with the factors F of `block_lu` in the same `blocks`; rhs is a dict
    index -> (B,), missing rows are 0.

    Every y_k and x_k of the two substitutions is materialised: each one feeds all the later rows."""
    L, U, inv, _ = F
    zero = jnp.zeros_like(next(iter(U.values())))
    y = {}
    for blk in blocks:  # forward substitution with the unit block-lower factor; structural zeros of rhs are skipped
        for k in blk:
            v = rhs.get(k)
            for (i, J), m in L.items():
                if i == k and J[0] in y:
                    for mt, j in zip(m, J, strict=True):
                        v = -mt * y[j] if v is None else v - mt * y[j]
            y[k] = _materialise(v) if v is not None else zero
    x = {}
    for blk in reversed(blocks):  # back substitution, through the inverse of each diagonal block
        w = []
        for k in blk:
            v = y[k]
            for (i, j), u in U.items():
                if i == k:
                    v = v - u * x[j]
            w.append(v)
        if len(blk) == 1:
            x[blk[0]] = _materialise(w[0] * inv[blk][0])
        else:
            i11, i12, i21, i22 = inv[blk]
            x[blk[0]] = _materialise(i11 * w[0] + i12 * w[1])
            x[blk[1]] = _materialise(i21 * w[0] + i22 * w[1])
    return tuple(x[i] for i in range(len(x)))

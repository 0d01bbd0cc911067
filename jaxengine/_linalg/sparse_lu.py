r"""Sparse block LU of a batch of matrices that share one sparsity pattern: batch last, rolled loops, no LAPACK.

For a batch of real $N\times N$ matrices $A_b$ whose structural non-zeros are the same for every $b$ (a pattern
known in NumPy before tracing), the elimination can be planned once: an order of pivot blocks, the fill-in, and for
every step the entries it reads and writes. `plan` does this in NumPy; `factor`, `solve` and `matvec` execute the
plan on a batch of values stored BATCH LAST, one (B,) row per structural entry, so every arithmetic operation is
elementwise over the points of the batch (SIMD across points), as in the two-qubit throughput kernel (`_solve.kernel`).

**Pivot blocks.** The caller partitions the unknowns into blocks of one or two. A 2x2 block is eliminated as one
pivot (through its explicit inverse): the caller pairs unknowns that rotate into each other (a Pauli component and
its partner under a qubit's precession, $\begin{psmallmatrix}-G & -\varepsilon\\ \varepsilon & -G\end{psmallmatrix}$,
whose determinant $G^2 + \varepsilon^2$ does not cancel), so a small decay rate $G$ never serves as a scalar pivot
(multipliers $\varepsilon/G$ would grow the elements). The order is greedy minimum fill on blocks (ties: the fewest
updated entries), restricted to blocks that are structurally non-singular at that point (a zero diagonal, e.g. a
component of a qubit without bath, waits until fill-in reaches it). There is no runtime pivoting: `factor` returns
the smallest pivot (|d|, or $|\det D|/\|D\|_F \le \sigma_{\min}(D)$ for a 2x2 block) of each point, and the caller
checks the residual of the solution against the exact matrix (and refines, see `_solve.network`).

**Execution.** The factor lives in one (S, B) array `F`: slot 0 holds 0, slot 1 holds 1, slot 2 is scratch, then
one slot per entry of the filled pattern, then scratch slots for padding. The Schur-complement updates of all steps
are cut into TILES of a fixed shape (`TILE` rows x columns of one step's update) and run by ONE `fori_loop` over the
tiles in elimination order; a tile gathers its step's pivot block, its rows' pivot-column entries (forming the
multipliers on the fly) and its columns' pivot-row entries, and scatter-adds the rank-2 (or rank-1) update into its
targets. Padding reads slot 0 and writes scratch. Tiling keeps the padding small (a step of 117 x 106 updates and
one of 7 x 6 run at the same rate) with a single small loop body, so the program compiles in about a second for
any N. XLA:CPU gathers and scatters cost ~1 ns per element and point, so the run time is about the number of
updated entries (fill included) times the batch. The multipliers and pivot inverses are then formed for all steps
at once (their inputs are final after their step). The substitutions loop over the steps, forward (unit
block-lower factor) and backward (block-upper factor through the inverse of each pivot block), on an (N + 2, B)
vector whose row N is 0 and row N + 1 is scratch.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

ZERO, ONE, TRASH = 0, 1, 2
TILE = (16, 16)  # rows x columns of the update tiles


@dataclasses.dataclass(frozen=True, eq=False)
class Plan:
    """Static elimination plan (NumPy int32 tables) for one sparsity pattern and block partition (see `plan`)."""

    N: int
    S: int  # factor slots (ZERO, ONE, TRASH, the filled pattern, the scratch of padded writes)
    entry_slot: np.ndarray  # (nnz,) slot of each input entry
    tiles: dict  # per tile: piv (4,), pair, c1/c2 (tc,), u1/u2 (tr,), tgt (tc * tr,)
    steps: dict  # per step: piv (4,), pair, p1, p2r, p2w, crow/c1/c2 (Cmax,), rcol/r1/r2 (Rmax,)
    order: tuple  # the pivot blocks in elimination order
    targets: int  # updated entries of the factorisation (structural, fill included)
    padded: int  # updated entries executed (tiles)


def _nonsingular(blk, S_rows):
    if len(blk) == 1:
        (a,) = blk
        return a in S_rows[a]
    a, b = blk
    return (a in S_rows[a] and b in S_rows[b]) or (b in S_rows[a] and a in S_rows[b])


def plan(rows, cols, N: int, blocks, tile=TILE) -> Plan:
    """Plan the block LU of N x N matrices with structural non-zeros at (rows[e], cols[e]).

    Args:
        rows, cols (int arrays of shape (nnz,)): the pattern (duplicates allowed; their values are summed).
        N: the dimension.
        blocks: a partition of range(N) into tuples of one or two unknowns (the pivot blocks).
        tile: (rows, columns) of the update tiles.
    """
    blocks = [tuple(int(k) for k in b) for b in blocks]
    if sorted(k for b in blocks for k in b) != list(range(N)) or any(len(b) not in (1, 2) for b in blocks):
        raise ValueError("`blocks` must partition range(N) into blocks of one or two unknowns.")
    rows, cols = np.asarray(rows).tolist(), np.asarray(cols).tolist()
    S_rows = [set() for _ in range(N)]  # current pattern by row: S_rows[i] = {j}
    S_cols = [set() for _ in range(N)]
    for i, j in zip(rows, cols, strict=True):
        S_rows[i].add(j)
        S_cols[j].add(i)
    slot = {}

    def slot_of(i, j):
        if (i, j) not in slot:
            slot[(i, j)] = 3 + len(slot)
        return slot[(i, j)]

    get = lambda i, j: slot.get((i, j), ZERO)  # noqa: E731
    entry_slot = np.array([slot_of(i, j) for i, j in zip(rows, cols, strict=True)], np.int32)
    alive = set(range(N))
    remaining = set(range(len(blocks)))
    steps, order, targets = [], [], 0
    while remaining:
        best = None
        for b in sorted(remaining):
            blk = blocks[b]
            if not _nonsingular(blk, S_rows):
                continue
            r = set().union(*(S_rows[k] for k in blk)) & (alive - set(blk))
            c = set().union(*(S_cols[k] for k in blk)) & (alive - set(blk))
            fill = sum(len(r - S_rows[i]) for i in c)
            cost = (fill, len(r) * len(c))
            if best is None or cost < best[0]:
                best = (cost, b, r, c)
        if best is None:
            raise ValueError("The pattern is structurally singular: no block can be eliminated.")
        _, b, r, c = best
        remaining.remove(b)
        blk = blocks[b]
        order.append(blk)
        R, C = sorted(r), sorted(c)
        alive -= set(blk)
        targets += len(R) * len(C)
        p1 = blk[0]
        p2 = blk[1] if len(blk) == 2 else None
        piv = [get(p1, p1), ZERO, ZERO, ONE] if p2 is None else [get(p1, p1), get(p1, p2), get(p2, p1), get(p2, p2)]
        # a pair's multipliers fill both pivot columns for every row of C
        col1 = [slot_of(i, p1) for i in C]
        col2 = [slot_of(i, p2) for i in C] if p2 is not None else [ZERO] * len(C)
        row1 = [get(p1, j) for j in R]
        row2 = [get(p2, j) for j in R] if p2 is not None else [ZERO] * len(R)
        tgt = [[slot_of(i, j) for j in R] for i in C]
        for i in C:
            S_rows[i] |= r
        for j in R:
            S_cols[j] |= c
        steps.append(dict(piv=piv, p1=p1, p2=p2, C=C, R=R, c1=col1, c2=col2, r1=row1, r2=row2, tgt=tgt))
    scratch0 = 3 + len(slot)
    tiles = _tiles(steps, tile, scratch0)
    step_tab = _step_tables(steps, N)
    padded = tiles["tgt"].size
    S = scratch0 + tile[0] * tile[1]
    # slots renumbered row by row in elimination order, so that a tile's targets lie in a few runs of neighbouring
    # rows of F (locality for the scatters; the factor of one batch is ~10^4 rows of B values)
    pos = np.empty(N, np.int64)
    pos[[k for blk in order for k in blk]] = np.arange(N)
    keys = sorted(slot, key=lambda ij: (pos[ij[0]], pos[ij[1]]))
    remap = np.arange(S, dtype=np.int32)
    remap[[slot[ij] for ij in keys]] = 3 + np.arange(len(keys), dtype=np.int32)
    tiles = {k: v if k == "pair" else remap[v] for k, v in tiles.items()}
    step_tab = {k: remap[v] if k in ("piv", "c1", "c2", "r1", "r2") else v for k, v in step_tab.items()}
    return Plan(N, S, remap[entry_slot], tiles, step_tab, tuple(order), targets, padded)


def _tiles(steps, tile, scratch0):
    tc, tr = tile
    out = {k: [] for k in ("piv", "pair", "c1", "c2", "u1", "u2", "tgt")}
    for s in steps:
        C, R = s["C"], s["R"]
        for a in range(0, len(C), tc):
            for b in range(0, len(R), tr):
                nc, nr = min(tc, len(C) - a), min(tr, len(R) - b)
                c1 = np.full(tc, ZERO, np.int32)
                c2 = np.full(tc, ZERO, np.int32)
                u1 = np.full(tr, ZERO, np.int32)
                u2 = np.full(tr, ZERO, np.int32)
                c1[:nc], c2[:nc] = s["c1"][a : a + nc], s["c2"][a : a + nc]
                u1[:nr], u2[:nr] = s["r1"][b : b + nr], s["r2"][b : b + nr]
                tgt = (scratch0 + np.arange(tc * tr, dtype=np.int32)).reshape(tc, tr)  # padding: distinct scratch
                tgt[:nc, :nr] = np.asarray(s["tgt"], np.int32)[a : a + nc, b : b + nr]
                for k, v in (("c1", c1), ("c2", c2), ("u1", u1), ("u2", u2), ("tgt", tgt.reshape(-1))):
                    out[k].append(v)
                out["piv"].append(s["piv"])
                out["pair"].append(s["p2"] is not None)
    shapes = dict(piv=(4,), pair=(), c1=(tc,), c2=(tc,), u1=(tr,), u2=(tr,), tgt=(tc * tr,))
    return {k: np.asarray(v, np.int32).reshape((len(v),) + shapes[k]) for k, v in out.items()}


def _step_tables(steps, N):
    cm = max(1, max(len(s["C"]) for s in steps))
    rm = max(1, max(len(s["R"]) for s in steps))
    k = len(steps)
    tab = dict(
        piv=np.zeros((k, 4), np.int32),
        pair=np.zeros(k, np.int32),
        p1=np.zeros(k, np.int32),
        p2r=np.zeros(k, np.int32),
        p2w=np.zeros(k, np.int32),
        crow=np.full((k, cm), N + 1, np.int32),  # padding: the scratch row
        c1=np.zeros((k, cm), np.int32),
        c2=np.zeros((k, cm), np.int32),
        rcol=np.full((k, rm), N, np.int32),  # padding: the zero row
        r1=np.zeros((k, rm), np.int32),
        r2=np.zeros((k, rm), np.int32),
    )
    for q, s in enumerate(steps):
        nc, nr = len(s["C"]), len(s["R"])
        tab["piv"][q] = s["piv"]
        tab["pair"][q] = s["p2"] is not None
        tab["p1"][q] = s["p1"]
        tab["p2r"][q] = N if s["p2"] is None else s["p2"]  # row N of the vector is 0
        tab["p2w"][q] = N + 1 if s["p2"] is None else s["p2"]  # row N + 1 is scratch
        tab["crow"][q, :nc] = s["C"]
        tab["c1"][q, :nc] = s["c1"]
        tab["c2"][q, :nc] = s["c2"]
        tab["rcol"][q, :nr] = s["R"]
        tab["r1"][q, :nr] = s["r1"]
        tab["r2"][q, :nr] = s["r2"]
    return tab


def _inverse2(d, pair):
    """The 2x2 inverse (i11, i12, i21, i22) of d = (d11, d12, d21, d22) and the pivot's size: |det| / ||D||_F (a
    lower bound of its smallest singular value) for a pair, |d11| for a single pivot (stored as diag(d11, 1))."""
    d11, d12, d21, d22 = d
    det = d11 * d22 - d12 * d21
    r = 1 / det
    norm = jnp.sqrt(d11 * d11 + d12 * d12 + d21 * d21 + d22 * d22)
    size = jnp.where(pair, jnp.abs(det) / jnp.where(norm > 0, norm, 1), jnp.abs(d11))
    return (d22 * r, -d12 * r, -d21 * r, d11 * r), size


def factor(p: Plan, values):
    """(factors, min_pivot): the block LU of the batch with entries `values` (nnz, B), and the smallest pivot per
    point. `factors` = (F, L1, L2, Dinv): the factor array, the multipliers of each step's rows (steps, Cmax, B)
    and each pivot block's inverse (steps, 4, B)."""
    B = values.shape[1]
    F = jnp.zeros((p.S, B), values.dtype).at[ONE].set(1).at[jnp.asarray(p.entry_slot)].add(values)
    t = {k: jnp.asarray(v) for k, v in p.tiles.items()}
    tc, tr = p.tiles["c1"].shape[1], p.tiles["u1"].shape[1]

    def body(q, F):
        (i11, i12, i21, i22), _ = _inverse2(tuple(F[t["piv"][q]]), t["pair"][q] > 0)
        c1, c2 = F[t["c1"][q]], F[t["c2"][q]]  # (tc, B)
        m1, m2 = c1 * i11[None] + c2 * i21[None], c1 * i12[None] + c2 * i22[None]
        u1, u2 = F[t["u1"][q]], F[t["u2"][q]]  # (tr, B)
        upd = m1[:, None] * u1[None] + m2[:, None] * u2[None]
        return F.at[t["tgt"][q]].add(-upd.reshape(tc * tr, B))

    if p.tiles["tgt"].shape[0]:
        F = jax.lax.fori_loop(0, p.tiles["tgt"].shape[0], body, F)
    # every pivot block and pivot column is final after its step: inverses and multipliers of all steps at once
    s = p.steps
    d = F[jnp.asarray(s["piv"])]  # (steps, 4, B)
    inv, size = _inverse2(tuple(jnp.moveaxis(d, 1, 0)), jnp.asarray(s["pair"])[:, None] > 0)
    c1, c2 = F[jnp.asarray(s["c1"])], F[jnp.asarray(s["c2"])]  # (steps, Cmax, B)
    i11, i12, i21, i22 = (v[:, None] for v in inv)
    L1, L2 = c1 * i11 + c2 * i21, c1 * i12 + c2 * i22
    return (F, L1, L2, jnp.stack(inv, axis=1)), jnp.min(size, axis=0)


def solve(p: Plan, factors, rhs):
    """x (N, B) with A x = rhs (N, B), from the factors of `factor`."""
    F, L1, L2, Dinv = factors
    B = rhs.shape[1]
    s = {k: jnp.asarray(v) for k, v in p.steps.items()}
    U1, U2 = F[s["r1"]], F[s["r2"]]  # (steps, Rmax, B)
    v = jnp.concatenate([rhs, jnp.zeros((2, B), rhs.dtype)])  # row N: 0, row N + 1: scratch
    k = s["p1"].shape[0]

    def forward(q, v):  # v[C] -= L1 v[p1] + L2 v[p2]
        y1, y2 = v[s["p1"][q]], v[s["p2r"][q]]
        return v.at[s["crow"][q]].add(-(L1[q] * y1[None] + L2[q] * y2[None]))

    v = jax.lax.fori_loop(0, k, forward, v)

    def backward(j, v):  # through the inverse of each pivot block
        q = k - 1 - j
        x = v[s["rcol"][q]]  # (Rmax, B): unknowns already solved (row N is 0)
        w1 = v[s["p1"][q]] - jnp.sum(U1[q] * x, axis=0)
        w2 = v[s["p2r"][q]] - jnp.sum(U2[q] * x, axis=0)
        i11, i12, i21, i22 = Dinv[q]
        return v.at[s["p1"][q]].set(i11 * w1 + i12 * w2).at[s["p2w"][q]].set(i21 * w1 + i22 * w2)

    v = jax.lax.fori_loop(0, k, backward, v)
    return v[: p.N]


def matvec(rows, cols, values, x, N: int):
    """A x (N, B) for the sparse A with entries `values` (nnz, B) at (rows, cols), x (N, B)."""
    return jax.ops.segment_sum(values * x[jnp.asarray(cols)], jnp.asarray(rows), num_segments=N)

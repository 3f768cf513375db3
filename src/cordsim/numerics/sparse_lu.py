"""Generated sparse LU of the BDF iteration matrix ``I - c J`` (static pivot order).

The sparsity of the model's Jacobian is fixed by its structure, so the LU factorization
can be planned once: states are eliminated in minimum-degree order (Tinney & Walker 1967),
which keeps the factors nearly as sparse as the Jacobian (753 non-zeros against 1,609 in
the model's own order); the elimination is planned as index tables and the triangular
solves are written out as straight-line code for numba, after KPP's generated chemistry
solvers (Damian et al. 2002). There is no row exchange: the diagonal pivot is used while
it is at least ``PIVOT_THRESHOLD`` times every entry below it (threshold partial pivoting
with u = 0.1, HSL MA48's default); otherwise ``sparse_lu`` returns False and the kernel
factors that matrix with row exchanges instead.
"""

from __future__ import annotations

import re

import numpy as np

PIVOT_THRESHOLD = 0.1


def jacobian_pattern(source: str, n: int) -> np.ndarray:
    """Structural non-zeros of the Jacobian in generated source (plus the diagonal)."""
    pattern = np.eye(n, dtype=bool)
    for i, j in re.findall(r"^    J\[(\d+), (\d+)\] = ", source, flags=re.MULTILINE):
        pattern[int(i), int(j)] = True
    return pattern


def driven_only_by_themselves(pattern: np.ndarray) -> list[int]:
    """States no other state drives back: those whose rows read only each other (e.g. a
    pulse set off by the injury that feeds the cytokines), each after the states it reads.
    Rows are states, columns the states their rates read."""
    n = len(pattern)
    reads = [set(np.flatnonzero(pattern[i]).tolist()) - {i} for i in range(n)]
    sources: list[int] = []
    changed = True
    while changed:  # grow from the states that read nothing else
        changed = False
        for i in range(n):
            if i not in sources and reads[i] <= set(sources):
                sources.append(i)
                changed = True
    return sources


def minimum_degree_order(pattern: np.ndarray) -> np.ndarray:
    """Greedy minimum-degree elimination order of the symmetrized pattern (ties: lowest
    index), updating the elimination graph as each state is eliminated; states no other
    state drives (:func:`driven_only_by_themselves`) go last, each after the states it
    drives. Their rows hold nothing but each other, so they add little fill, and their
    columns (how strongly they drive the rest, e.g. a cytokine burst of 1e5 pg/mL/day per
    unit) are then empty below the pivot: they never fail the pivot test."""
    n = len(pattern)
    sym = pattern | pattern.T
    adj = [set(np.flatnonzero(sym[i]).tolist()) - {i} for i in range(n)]
    last = driven_only_by_themselves(pattern)
    left = set(range(n)) - set(last)
    order = []
    while left:
        v = min(left, key=lambda i: (len(adj[i]), i))
        order.append(v)
        left.remove(v)
        for a in adj[v]:
            adj[a] |= adj[v] - {a}
            adj[a].discard(v)
    return np.array(order + last[::-1], dtype=np.int64)


def fill_pattern(pattern: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Non-zeros of L + U for the matrix permuted by ``perm`` on rows and columns."""
    a = pattern[np.ix_(perm, perm)].copy()
    for k in range(len(a)):
        rows = np.flatnonzero(a[k + 1:, k]) + k + 1
        cols = np.flatnonzero(a[k, k + 1:]) + k + 1
        a[np.ix_(rows, cols)] = True
    return a


_LOOPS = """
def sparse_assemble(jac, c, a):
    for q in range(LU_NNZ):
        a[q] = ASM_DIAG[q] - c * jac[ASM_ROW[q], ASM_COL[q]] * ASM_RATIO[q]


def sparse_lu(a):
    for k in range(DIAG_POS.size):
        piv = a[DIAG_POS[k]]
        if piv == 0.0:
            return False
        for e in range(BELOW_PTR[k], BELOW_PTR[k + 1]):
            if not abs(piv) >= PIVOT_THRESHOLD * abs(a[BELOW_POS[e]]):
                return False
        inv = 1.0 / piv
        a[DIAG_POS[k]] = inv
        u0 = UROW_PTR[k]
        width = UROW_PTR[k + 1] - u0
        for e in range(BELOW_PTR[k], BELOW_PTR[k + 1]):
            m = a[BELOW_POS[e]] * inv
            a[BELOW_POS[e]] = m
            t0 = TARGET_PTR[e]
            for u in range(width):
                a[TARGET[t0 + u]] -= m * a[UROW_POS[u0 + u]]
    return True


def sparse_solve_many(a, b, x):
    k = b.shape[1]
    for i in range(DIAG_POS.size):
        src = SOLVE_PERM[i]
        inv = 1.0 / SOLVE_SCALE[i]
        for r in range(k):
            x[i, r] = b[src, r] * inv
    for c in range(DIAG_POS.size):
        for e in range(BELOW_PTR[c], BELOW_PTR[c + 1]):
            i = BELOW_ROW[e]
            m = a[BELOW_POS[e]]
            for r in range(k):
                x[i, r] -= m * x[c, r]
    for i in range(DIAG_POS.size - 1, -1, -1):
        for u in range(UROW_PTR[i], UROW_PTR[i + 1]):
            j = UROW_COL[u]
            m = a[UROW_POS[u]]
            for r in range(k):
                x[i, r] -= m * x[j, r]
        m = a[DIAG_POS[i]]
        for r in range(k):
            x[i, r] *= m
    for i in range(DIAG_POS.size):
        dst = SOLVE_PERM[i]
        s = SOLVE_SCALE[i]
        for r in range(k):
            b[dst, r] = x[i, r] * s
"""


def _array(name: str, values: list, dtype: str) -> str:
    return f"{name} = np.array({list(values)!r}, dtype=np.{dtype})"


def generate_source(pattern: np.ndarray, perm: np.ndarray, scales: np.ndarray) -> str:
    """Source of ``sparse_assemble(jac, c, a)``, ``sparse_lu(a) -> bool``,
    ``sparse_solve(a, b)`` and ``sparse_solve_many(a, B, X)`` for numba (the module that
    includes it imports numpy as np).

    ``a`` holds the non-zeros of the permuted matrix, then of its factors (L below the
    diagonal, U above, 1 / U's diagonal on it); ``b`` is solved in place, in model order.
    The matrix is that of the states divided by their typical ``scales``
    (``S^-1 (I - c J) S``), so the pivot test compares like with like across units.
    Assembly and factorization loop over index tables (~100 calls per trajectory); the
    solve, called at every Newton iteration, is straight-line code. ``sparse_solve_many``
    solves the columns of ``B`` (states x k, model order) in place (``X``: scratch of its
    shape) in one sweep over the factors' tables, its inner loops over the k columns: the
    forward sensitivities' solves, one column each.
    """
    n = len(pattern)
    fill = fill_pattern(pattern, perm)
    pos = {ij: q for q, ij in enumerate(zip(*np.nonzero(fill), strict=True))}
    rows, cols = zip(*pos, strict=True)
    src = [f"LU_NNZ = {len(pos)}", f"PIVOT_THRESHOLD = {PIVOT_THRESHOLD!r}",
           _array("ASM_ROW", [int(perm[i]) for i in rows], "int64"),
           _array("ASM_COL", [int(perm[j]) for j in cols], "int64"),
           _array("ASM_RATIO", [float(scales[perm[j]] / scales[perm[i]])
                                if pattern[perm[i], perm[j]] else 0.0
                                for i, j in pos], "float64"),
           _array("ASM_DIAG", [1.0 if i == j else 0.0 for i, j in pos], "float64")]
    diag, below_ptr, below, urow_ptr, urow, target_ptr, target = [], [0], [], [0], [], [], []
    below_row, urow_col = [], []
    for k in range(n):
        diag.append(pos[(k, k)])
        ks = [j for j in range(k + 1, n) if fill[k, j]]
        urow += [pos[(k, j)] for j in ks]
        urow_col += ks
        urow_ptr.append(len(urow))
        for i in range(k + 1, n):
            if fill[i, k]:
                below.append(pos[(i, k)])
                below_row.append(i)
                target_ptr.append(len(target))
                target += [pos[(i, j)] for j in ks]
        below_ptr.append(len(below))
    for name, values in (("DIAG_POS", diag), ("BELOW_PTR", below_ptr), ("BELOW_POS", below),
                         ("UROW_PTR", urow_ptr), ("UROW_POS", urow),
                         ("TARGET_PTR", target_ptr), ("TARGET", target),
                         ("BELOW_ROW", below_row), ("UROW_COL", urow_col),
                         ("SOLVE_PERM", [int(i) for i in perm])):
        src.append(_array(name, values, "int64"))
    src.append(_array("SOLVE_SCALE", [float(scales[i]) for i in perm], "float64"))
    src.append(_LOOPS)

    def scaled(expr: str, factor: float) -> str:
        return expr if factor == 1.0 else f"{expr} * {float(factor)!r}"

    src += ["def sparse_solve(a, b):"]
    src += [f"    x{i} = {scaled(f'b[{perm[i]}]', 1.0 / scales[perm[i]])}" for i in range(n)]
    for i in range(n):  # forward: L has a unit diagonal
        terms = "".join(f" - a[{pos[(i, j)]}] * x{j}" for j in range(i) if fill[i, j])
        if terms:
            src.append(f"    x{i} = x{i}{terms}")
    for i in range(n - 1, -1, -1):  # backward: the diagonal holds 1 / U[i, i]
        terms = "".join(f" - a[{pos[(i, j)]}] * x{j}" for j in range(i + 1, n) if fill[i, j])
        src.append(f"    x{i} = (x{i}{terms}) * a[{pos[(i, i)]}]")
    src += [f"    b[{perm[i]}] = {scaled(f'x{i}', float(scales[perm[i]]))}" for i in range(n)]
    return "\n".join(src) + "\n"

"""Generated sparse LU of the BDF iteration matrix ``I - c J`` (static pivot order).

The sparsity of the model's Jacobian is fixed by its structure, so the LU factorization
can be planned once: states are eliminated in minimum-degree order (Tinney & Walker 1967),
which keeps the factors nearly as sparse as the Jacobian (753 non-zeros against 1,609 in
the model's own order), and the elimination and the triangular solves are written out as
straight-line code for numba, the approach of KPP's generated chemistry solvers (Damian et
al. 2002). There is no row exchange: the diagonal pivot is used while it is at least
``PIVOT_THRESHOLD`` times the largest entry below it (threshold partial pivoting with
u = 0.1, HSL MA48's default); otherwise ``lu`` returns False and the kernel factors that
matrix with row exchanges instead.
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


def minimum_degree_order(pattern: np.ndarray) -> np.ndarray:
    """Greedy minimum-degree elimination order of the symmetrized pattern (ties: lowest
    index), updating the elimination graph as each state is eliminated."""
    n = len(pattern)
    sym = pattern | pattern.T
    adj = [set(np.flatnonzero(sym[i]).tolist()) - {i} for i in range(n)]
    left = set(range(n))
    order = []
    while left:
        v = min(left, key=lambda i: (len(adj[i]), i))
        order.append(v)
        left.remove(v)
        for a in adj[v]:
            adj[a] |= adj[v] - {a}
            adj[a].discard(v)
    return np.array(order, dtype=np.int64)


def fill_pattern(pattern: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Non-zeros of L + U for the matrix permuted by ``perm`` on rows and columns."""
    a = pattern[np.ix_(perm, perm)].copy()
    for k in range(len(a)):
        rows = np.flatnonzero(a[k + 1:, k]) + k + 1
        cols = np.flatnonzero(a[k, k + 1:]) + k + 1
        a[np.ix_(rows, cols)] = True
    return a


def generate_source(pattern: np.ndarray, perm: np.ndarray, scales: np.ndarray) -> str:
    """numba source of ``sparse_assemble(jac, c, a)``, ``sparse_lu(a) -> bool`` and
    ``sparse_solve(a, b)`` (the module that includes it imports numba).

    ``a`` holds the non-zeros of the permuted matrix, then of its factors (L below the
    diagonal, U above, 1 / U's diagonal on it); ``b`` is solved in place, in model order.
    The matrix is that of the states divided by their typical ``scales``
    (``S^-1 (I - c J) S``), so the pivot test compares like with like across units.
    """
    n = len(pattern)
    fill = fill_pattern(pattern, perm)
    pos = {ij: q for q, ij in enumerate(zip(*np.nonzero(fill), strict=True))}
    jit = "@numba.njit(cache=True)"
    src = [f"LU_NNZ = {len(pos)}", "", "", jit, "def sparse_assemble(jac, c, a):"]
    for (i, j), q in pos.items():
        r, s = perm[i], perm[j]
        ratio = "" if scales[s] == scales[r] else f" * {float(scales[s] / scales[r])!r}"
        term = f"-c * jac[{r}, {s}]{ratio}" if pattern[r, s] else "0.0"
        src.append(f"    a[{q}] = {'1.0 + ' if i == j else ''}{term}")
    src += ["", "", jit, "def sparse_lu(a):"]
    for k in range(n):
        rows = [i for i in range(k + 1, n) if fill[i, k]]
        cols = [j for j in range(k + 1, n) if fill[k, j]]
        kk = pos[(k, k)]
        src.append(f"    piv = a[{kk}]")
        below = [f"abs(a[{pos[(i, k)]}])" for i in rows]
        if below:
            big = below[0] if len(below) == 1 else f"max({', '.join(below)})"
            src.append(f"    if not abs(piv) >= {PIVOT_THRESHOLD} * {big} or piv == 0.0:")
        else:
            src.append("    if not abs(piv) > 0.0:")
        src += ["        return False", "    inv = 1.0 / piv", f"    a[{kk}] = inv"]
        for i in rows:
            ik = pos[(i, k)]
            src.append(f"    a[{ik}] *= inv")
            for j in cols:
                src.append(f"    a[{pos[(i, j)]}] -= a[{ik}] * a[{pos[(k, j)]}]")
    src += ["    return True", "", "", jit, "def sparse_solve(a, b):"]
    def scaled(expr: str, factor: float) -> str:
        return expr if factor == 1.0 else f"{expr} * {float(factor)!r}"

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

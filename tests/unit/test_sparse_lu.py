"""Generated sparse LU: it solves (I - c J) x = b like LAPACK, refuses a bad pivot, and its
minimum-degree order keeps the factors sparse."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import cordsim
from cordsim.numerics import sparse_lu
from cordsim.numerics.compile import model_source


def _compile(pattern, perm, scales):
    namespace = {"np": np}
    exec(sparse_lu.generate_source(pattern, perm, scales), namespace)  # noqa: S102
    for name in ("sparse_assemble", "sparse_lu", "sparse_solve"):
        namespace[name] = numba.njit(namespace[name])
    return namespace


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(3)
    n = 9
    pattern = (rng.random((n, n)) < 0.3) | np.eye(n, dtype=bool)
    perm = sparse_lu.minimum_degree_order(pattern)
    scales = 10.0 ** rng.integers(-2, 4, n)
    return n, pattern, perm, scales, _compile(pattern, perm, scales)


def test_solves_like_numpy(small):
    n, pattern, perm, scales, f = small
    rng = np.random.default_rng(4)
    for c in (1e-3, 0.3, 2.0):
        scaled = np.where(pattern, 0.3 * rng.normal(size=(n, n)), 0.0)
        np.fill_diagonal(scaled, -np.abs(scaled.diagonal()) - 1.0)  # decay: usable pivots
        jac = scaled * scales[:, None] / scales[None, :]  # the same system in raw units
        a = np.zeros(f["LU_NNZ"])
        f["sparse_assemble"](jac, c, a)
        assert f["sparse_lu"](a)
        b = rng.normal(size=n)
        x = b.copy()
        f["sparse_solve"](a, x)
        np.testing.assert_allclose(x, np.linalg.solve(np.eye(n) - c * jac, b), rtol=1e-10)


def test_small_pivot_is_refused(small):
    n, pattern, perm, scales, f = small
    jac = np.where(pattern, 1.0, 0.0)
    np.fill_diagonal(jac, 1.0)  # 1 - c * 1 = 0 on the diagonal at c = 1
    a = np.zeros(f["LU_NNZ"])
    f["sparse_assemble"](jac, 1.0, a)
    assert not f["sparse_lu"](a)


def test_minimum_degree_keeps_the_cord_model_factors_sparse():
    model = cordsim.CordModel()
    source, nnz = model_source(model)
    n = len(model.state_names)
    pattern = sparse_lu.jacobian_pattern(source, n)
    assert pattern.sum() == nnz + sum(1 for i in range(n) if not _has_diag(source, i))
    natural = sparse_lu.fill_pattern(pattern, np.arange(n)).sum()
    ordered = sparse_lu.fill_pattern(pattern, sparse_lu.minimum_degree_order(pattern)).sum()
    assert ordered < 0.6 * natural
    assert sorted(sparse_lu.minimum_degree_order(pattern)) == list(range(n))


def _has_diag(source: str, i: int) -> bool:
    return f"    J[{i}, {i}] = " in source


def test_a_pulse_that_drives_hard_is_eliminated_last():
    """State 0 is a pulse nothing drives back (it decays on its own) and drives state 1 with
    a gain of 1e5 per day (like the resident cells' cytokine burst): eliminated first, its
    pivot 1 + c d would fail the test against c * 1e5 below it and send every step to the
    dense LU; eliminated last, the sparse LU factors it."""
    pattern = np.array([[True, False], [True, True]])
    assert sparse_lu.driven_only_by_themselves(pattern) == [0, 1]  # 1 reads only 0
    perm = sparse_lu.minimum_degree_order(pattern)
    assert list(perm) == [1, 0]
    jac = np.array([[-10.0, 0.0], [1e5, -5.0]])
    for order, factors in ((perm, True), (np.array([0, 1]), False)):
        f = _compile(pattern, order, np.ones(2))
        a = np.zeros(f["LU_NNZ"])
        f["sparse_assemble"](jac, 1e-2, a)
        assert f["sparse_lu"](a) is factors
    f = _compile(pattern, perm, np.ones(2))
    a = np.zeros(f["LU_NNZ"])
    f["sparse_assemble"](jac, 1e-2, a)
    f["sparse_lu"](a)
    x = np.array([1.0, 2.0])
    f["sparse_solve"](a, x)
    np.testing.assert_allclose(x, np.linalg.solve(np.eye(2) - 1e-2 * jac, [1.0, 2.0]))

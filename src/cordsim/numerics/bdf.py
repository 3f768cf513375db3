"""Compiled BDF integrator of a whole protocol: cordsim's default engine, for any ODE system.

The method is SciPy's ``BDF`` (variable order 1-5, numerical differentiation formulas with
quasi-constant step size; Shampine & Reichelt 1997, the MATLAB ode15s scheme) with the
iteration-matrix economy of LSODE (Hindmarsh 1983): the Jacobian and the LU factors of
``I - c J`` are kept across steps and step-size changes and are renewed only when ``c`` has
moved by more than 30 %, after 20 steps, or when the Newton iteration fails; a stale ``c`` is
compensated by LSODE's factor ``2 / (1 + c / c_lu)`` on each correction. Failures are handled
as CVODE does (Hindmarsh et al. 2005): a step whose Newton iteration fails is retried with a
quarter of the step, at most ``MAX_CONV_FAILS`` times; after repeated error-test failures the
order drops (to 1 after ``ERR_FAILS_TO_ORDER_1``) and the step shrinks by at least 5x, at most
``MAX_ERR_FAILS`` times; the step never exceeds ``max_step``; a non-finite Jacobian is
reported as such.

The problem comes as numba first-class functions (the integrator is compiled once per machine,
cached on disk, for every model: the problem is an argument, not part of the compiled code);
C callbacks (:func:`cfunc`) are the cheapest to pass::

    rhs(t, y, p) -> dy/dt                  float64[::1](float64, float64[::1], float64[::1])
    jac(t, y, p) -> d(dy/dt)/dy            float64[:, ::1](float64, float64[::1], float64[::1])
    lu_assemble(J, c, a)                   a <- the sparse matrix I - c J (model's own layout)
    lu_factor(a) -> ok                     False asks for the dense LU with row exchanges
    lu_solve(a, b)                         b <- (I - c J)^-1 b

:func:`solve` wraps it for plain problems (dense LU); cordsim's models add a generated
sparse LU (:mod:`cordsim.numerics.sparse_lu`).

A protocol is a sequence of segments ``[cuts[s], cuts[s + 1])``: at each segment start the
states jump by ``jumps[s]`` (a bolus), then the model runs with parameters ``params[s]`` (an
infusion changes them). Output times ``t_eval`` are filled in ``out`` from the dense output;
a time equal to a cut gets the state after that cut's jump.

Examples
--------
>>> import numba, numpy as np
>>> @numba.njit(RHS_SIGNATURE)
... def decay(t, y, p):
...     return -p[0] * y
>>> @numba.njit(JAC_SIGNATURE)
... def decay_jac(t, y, p):
...     return -p[0] * np.eye(1)
>>> res = solve(decay, decay_jac, np.array([1.0]), np.array([0.0, 1.0]), p=np.array([2.0]))
>>> res.status, abs(float(res.y[0, -1]) - float(np.exp(-2.0))) < 1e-6
('ok', True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numba
import numpy as np
from numba import types

from cordsim.numerics.sparse_lu import PIVOT_THRESHOLD

MAX_ORDER = 5
NEWTON_MAXITER = 4
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
CC_MAX = 0.3  # renew the iteration matrix when c / c_lu leaves [0.7, 1.3] (LSODE's CCMAX)
MAX_STEPS_PER_JAC = 20  # LSODE's MSBP
CONV_FAIL_FACTOR = 0.25  # CVODE's ETACF: step reduction after a Newton failure
MAX_CONV_FAILS = 10  # CVODE's MXNCF: Newton failures allowed on one step
MAX_ERR_FAILS = 10  # error-test failures allowed on one step (CVODE's MXNEF is 7)
ERR_FAILS_TO_ORDER_1 = 3  # CVODE's MXNEF1: after this many, restart at order 1
ERR_FAIL_MAX_FACTOR = 0.2  # after the first error-test failure, shrink by >= 5x (ETAMXF)
ERR_FAIL_ORDER_1_FACTOR = 0.1  # step reduction when dropping to order 1 (ETAMIN)

# NDF coefficients (SciPy's BDF): kappa, gamma_k = sum 1/j, alpha = (1 - kappa) gamma.
KAPPA = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])
GAMMA = np.concatenate((np.zeros(1), np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))))
ALPHA = (1.0 - KAPPA) * GAMMA
ERROR_CONST = KAPPA * GAMMA + 1.0 / np.arange(1, MAX_ORDER + 2)

# Status codes returned by solve_protocol.
OK, TOO_SMALL_STEP, TOO_MANY_STEPS, NON_FINITE, CONV_FAILURES, ERR_FAILURES, \
    NON_FINITE_JACOBIAN = 0, 1, 2, 3, 4, 5, 6
STATUS_MESSAGES = {
    OK: "ok",
    TOO_SMALL_STEP: "step size became too small",
    TOO_MANY_STEPS: "more than max_steps step attempts",
    NON_FINITE: "non-finite (or overflowing) state values or derivatives",
    CONV_FAILURES: f"the Newton iteration failed {MAX_CONV_FAILS} times on one step",
    ERR_FAILURES: f"the error test failed {MAX_ERR_FAILS} times on one step",
    NON_FINITE_JACOBIAN: "non-finite Jacobian",
}
# stats entries
N_RHS, N_JAC, N_LU, N_STEPS, N_DENSE_LU, N_CONV_FAILS, N_ERR_FAILS, BAD_INDEX = range(8)

_f8 = types.float64
_vec = types.float64[::1]
RHS_SIGNATURE = _vec(_f8, _vec, _vec)
JAC_SIGNATURE = types.float64[:, ::1](_f8, _vec, _vec)
LU_ASSEMBLE_SIGNATURE = types.none(types.float64[:, ::1], _f8, _vec)
LU_FACTOR_SIGNATURE = types.boolean(_vec)
LU_SOLVE_SIGNATURE = types.none(_vec, _vec)
_int_vec = types.int64[::1]
_BATCH_SIGNATURE = types.none(
    types.FunctionType(RHS_SIGNATURE), types.FunctionType(JAC_SIGNATURE),
    types.FunctionType(LU_ASSEMBLE_SIGNATURE), types.FunctionType(LU_FACTOR_SIGNATURE),
    types.FunctionType(LU_SOLVE_SIGNATURE), types.int64, _int_vec,
    types.float64[:, ::1], _vec, types.float64[:, ::1], types.float64[:, :, ::1], _vec, _f8,
    _vec, types.int64, _f8, types.float64[:, :, ::1], types.int64[:, ::1], types.float64[::1])
N_INFO = 11  # per problem: status, filled, then the 8 stats entries, then unused


@numba.njit
def _rms(x, scale):
    s = 0.0
    for i in range(x.size):
        v = x[i] / scale[i]
        s += v * v
    return math.sqrt(s / x.size)


@numba.njit
def _lu_factor(a, piv):
    """In-place LU with threshold partial pivoting (rows swapped whole, as LAPACK's getrf).

    The fallback when the sparse LU refuses a pivot. The diagonal pivot is kept while it is
    at least ``PIVOT_THRESHOLD`` times the largest in its column, so the fill-reducing order
    of the rows survives. Rows whose multiplier is zero are skipped. Returns False for a
    singular matrix.
    """
    n = a.shape[0]
    for k in range(n):
        p = k
        big = abs(a[k, k])
        for i in range(k + 1, n):
            if abs(a[i, k]) > big:
                big = abs(a[i, k])
                p = i
        if not big > 0.0:  # zero or NaN
            return False
        if abs(a[k, k]) >= PIVOT_THRESHOLD * big:
            p = k
        piv[k] = p
        if p != k:
            for j in range(n):
                tmp = a[k, j]
                a[k, j] = a[p, j]
                a[p, j] = tmp
        inv = 1.0 / a[k, k]
        for i in range(k + 1, n):
            m = a[i, k]
            if m != 0.0:
                m *= inv
                a[i, k] = m
                for j in range(k + 1, n):
                    a[i, j] -= m * a[k, j]
    return True


@numba.njit
def _lu_compress(a, l_ptr, l_idx, l_val, u_ptr, u_idx, u_val, u_diag):
    """Store the non-zeros of L (strictly lower) and U (strictly upper) row by row, and
    1 / diag(U), so the solves touch only the non-zeros."""
    n = a.shape[0]
    nl = nu = 0
    for i in range(n):
        l_ptr[i] = nl
        u_ptr[i] = nu
        for j in range(i):
            if a[i, j] != 0.0:
                l_idx[nl] = j
                l_val[nl] = a[i, j]
                nl += 1
        for j in range(i + 1, n):
            if a[i, j] != 0.0:
                u_idx[nu] = j
                u_val[nu] = a[i, j]
                nu += 1
        u_diag[i] = 1.0 / a[i, i]
    l_ptr[n] = nl
    u_ptr[n] = nu


@numba.njit(fastmath={"reassoc", "contract"})
def _lu_solve(perm, piv, l_ptr, l_idx, l_val, u_ptr, u_idx, u_val, u_diag, b, work):
    """Solve ``(I - c J) x = b`` in place with the dense factors of the permuted matrix."""
    n = b.size
    for i in range(n):
        work[i] = b[perm[i]]
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = work[k]
            work[k] = work[p]
            work[p] = tmp
    for i in range(n):
        s = work[i]
        for q in range(l_ptr[i], l_ptr[i + 1]):
            s -= l_val[q] * work[l_idx[q]]
        work[i] = s
    for i in range(n - 1, -1, -1):
        s = work[i]
        for q in range(u_ptr[i], u_ptr[i + 1]):
            s -= u_val[q] * work[u_idx[q]]
        work[i] = s * u_diag[i]
    for i in range(n):
        b[perm[i]] = work[i]


@numba.njit
def _compute_r(order, factor, r):
    """SciPy's ``compute_R`` into ``r[:order + 1, :order + 1]``."""
    for j in range(order + 1):
        r[0, j] = 1.0
    for i in range(1, order + 1):
        r[i, 0] = 0.0
        for j in range(1, order + 1):
            r[i, j] = r[i - 1, j] * (i - 1 - factor * j) / i


@numba.njit
def _change_d(d_arr, order, factor, rw, old):
    """Rescale the difference array to a step size ``factor`` times the current one.

    Scratch: ``rw`` (3, MAX_ORDER + 1, MAX_ORDER + 1) and ``old`` (MAX_ORDER + 1, n).
    """
    r, u, ru = rw[0], rw[1], rw[2]
    _compute_r(order, factor, r)
    _compute_r(order, 1.0, u)
    n = d_arr.shape[1]
    for i in range(order + 1):
        for j in range(order + 1):
            acc = 0.0
            for k in range(order + 1):
                acc += r[i, k] * u[k, j]
            ru[i, j] = acc
    for j in range(order + 1):
        for k in range(n):
            old[j, k] = d_arr[j, k]
    for i in range(order + 1):
        for k in range(n):
            acc = 0.0
            for j in range(order + 1):
                acc += ru[j, i] * old[j, k]
            d_arr[i, k] = acc


@numba.njit
def _interpolate(d_arr, order, t_new, h, t, out):
    """Dense output at ``t`` of the step that ended at ``t_new`` with size ``h``."""
    out[:] = d_arr[0]
    prod = 1.0
    for j in range(order):
        prod *= (t - (t_new - h * j)) / (h * (1 + j))
        for k in range(out.size):
            out[k] += d_arr[j + 1, k] * prod


@numba.njit
def _initial_step(rhs, t0, y0, f0, p, span, rtol, atol, stats):
    """Hairer, Norsett & Wanner's starting step (SciPy's ``select_initial_step``, order 1);
    NaN when the state or its derivative is not finite."""
    scale = atol + np.abs(y0) * rtol
    d0 = _rms(y0, scale)
    d1 = _rms(f0, scale)
    if not (math.isfinite(d0) and math.isfinite(d1)):  # overflow: name the largest term
        worst = 0.0
        for i in range(y0.size):
            v = max(abs(y0[i]), abs(f0[i])) / scale[i]
            if not v <= worst:
                worst = v
                stats[BAD_INDEX] = i
        return np.nan
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = max(min(h0, span), 1e-300)
    f1 = rhs(t0 + h0, y0 + h0 * f0, p)
    stats[N_RHS] += 1
    for i in range(f1.size):
        if not math.isfinite(f1[i]):
            stats[BAD_INDEX] = i
            return np.nan
    d2 = _rms(f1 - f0, scale) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** 0.5
    return min(100 * h0, h1, span)


@numba.njit
def _newton(rhs, lu_solve, t_new, y_pred, p, c, c_lu, psi, sparse, a_sp, factors, scale, tol,
            y_new, d, dy, work, stats):
    """Solve the NDF corrector; ``(converged, iterations)``. ``d`` gets the correction."""
    gain = 2.0 / (1.0 + c / c_lu)  # LSODE's compensation for a matrix made with c_lu
    y_new[:] = y_pred
    d[:] = 0.0
    dy_norm_old = -1.0
    for k in range(NEWTON_MAXITER):
        f = rhs(t_new, y_new, p)
        stats[N_RHS] += 1
        for i in range(y_new.size):
            if not math.isfinite(f[i]):
                stats[BAD_INDEX] = i  # remembered: a failure after this names the state
                return False, k + 1
            dy[i] = gain * (c * f[i] - psi[i] - d[i])
        if sparse:
            lu_solve(a_sp, dy)
        else:
            _lu_solve(*factors, dy, work)
        dy_norm = _rms(dy, scale)
        if not math.isfinite(dy_norm):
            return False, k + 1
        rate = dy_norm / dy_norm_old if dy_norm_old > 0 else -1.0
        if rate >= 0 and (rate >= 1
                          or rate ** (NEWTON_MAXITER - k) / (1 - rate) * dy_norm > tol):
            return False, k + 1
        y_new += dy
        d += dy
        if dy_norm == 0 or (rate >= 0 and rate / (1 - rate) * dy_norm < tol):
            return True, k + 1
        dy_norm_old = dy_norm
    return False, NEWTON_MAXITER


@numba.njit
def _first_non_finite_row(mat):
    """Index of the first row of ``mat`` with a non-finite entry, or -1."""
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            if not math.isfinite(mat[i, j]):
                return i
    return -1


def _solve_protocol(rhs, jac, lu_assemble, lu_factor, lu_solve, lu_size, perm, y0, cuts, jumps,
                    params, t_eval, rtol, atol, max_steps, max_step, out):
    """Integrate every segment; fill ``out`` (times x states) at ``t_eval``.

    ``atol``: absolute tolerance of each state. ``perm``: the order in which states are
    eliminated when a matrix needs row exchanges (the sparse LU's order, or the identity).
    ``lu_size``: length of the sparse LU's work array. Returns
    ``(status, filled, t_reached, stats)``: status as in ``STATUS_MESSAGES``; the first
    ``filled`` output rows are valid; ``stats`` counts right-hand side and Jacobian
    evaluations, LU factorizations, steps, dense (row-exchange) factorizations, Newton and
    error-test failures, and holds the first state whose derivative is not finite
    (``BAD_INDEX``, -1 if none).
    """
    n = y0.size
    y = y0.copy()
    stats = np.zeros(8, dtype=np.int64)
    stats[BAD_INDEX] = -1
    a_sp = np.zeros(max(lu_size, 1))
    sparse = False
    d_arr = np.zeros((MAX_ORDER + 3, n))
    lu = np.empty((n, n))
    piv = np.zeros(n, dtype=np.int64)
    l_ptr = np.zeros(n + 1, dtype=np.int64)
    u_ptr = np.zeros(n + 1, dtype=np.int64)
    l_idx = np.zeros(n * n, dtype=np.int64)
    u_idx = np.zeros(n * n, dtype=np.int64)
    l_val = np.zeros(n * n)
    u_val = np.zeros(n * n)
    u_diag = np.zeros(n)
    rw = np.empty((3, MAX_ORDER + 1, MAX_ORDER + 1))
    old = np.empty((MAX_ORDER + 1, n))
    work = np.empty(n)
    y_pred = np.empty(n)
    y_new = np.empty(n)
    psi = np.empty(n)
    d = np.empty(n)
    dy = np.empty(n)
    scale = np.empty(n)
    newton_tol = max(10 * np.finfo(np.float64).eps / rtol, min(0.03, rtol**0.5))
    k_out = 0
    attempts = 0
    n_out = t_eval.size
    t = cuts[0]
    for s in range(cuts.size - 1):
        a, b = cuts[s], cuts[s + 1]
        last = s == cuts.size - 2
        p = params[s]
        for i in range(n):
            y[i] += jumps[s, i]
        while k_out < n_out and t_eval[k_out] <= a:
            out[k_out] = y
            k_out += 1
        # (Re)start at order 1, as after any discontinuity.
        t = a
        f = rhs(t, y, p)
        stats[N_RHS] += 1
        for i in range(n):
            if not (math.isfinite(f[i]) and math.isfinite(y[i])):
                stats[BAD_INDEX] = i
                return NON_FINITE, k_out, t, stats
        h_abs = min(_initial_step(rhs, t, y, f, p, b - a, rtol, atol, stats), max_step)
        if not (h_abs > 0.0 and math.isfinite(h_abs)):
            return NON_FINITE, k_out, t, stats
        d_arr[:] = 0.0
        d_arr[0] = y
        d_arr[1] = f * h_abs
        order = 1
        n_equal = 0
        jac_mat = jac(t, y, p)
        stats[N_JAC] += 1
        bad = _first_non_finite_row(jac_mat)
        if bad >= 0:
            stats[BAD_INDEX] = bad
            return NON_FINITE_JACOBIAN, k_out, t, stats
        jac_fresh = True  # evaluated at the current point
        lu_ok = False
        c_lu = 0.0
        since_jac = 0
        while t < b:
            min_step = 10 * (np.nextafter(t, np.inf) - t)
            if h_abs < min_step:  # (h_abs is finite and positive here)
                _change_d(d_arr, order, min_step / h_abs, rw, old)
                h_abs = min_step
                n_equal = 0
            conv_fails = 0
            err_fails = 0
            while True:  # attempt steps until one is accepted
                if not h_abs >= min_step:
                    return TOO_SMALL_STEP, k_out, t, stats
                attempts += 1
                if attempts > max_steps:
                    return TOO_MANY_STEPS, k_out, t, stats
                t_new = t + h_abs
                if t_new > b:
                    _change_d(d_arr, order, (b - t) / h_abs, rw, old)
                    n_equal = 0
                    t_new = b
                h = t_new - t
                h_abs = h
                for k in range(n):
                    acc = 0.0
                    for j in range(order + 1):
                        acc += d_arr[j, k]
                    y_pred[k] = acc
                    scale[k] = atol[k] + rtol * abs(acc)
                    acc = 0.0
                    for j in range(1, order + 1):
                        acc += d_arr[j, k] * GAMMA[j]
                    psi[k] = acc / ALPHA[order]
                c = h / ALPHA[order]
                converged = False
                n_iter = 0
                while True:  # Newton with the kept matrix; renewed once if that fails
                    if (not lu_ok or abs(c / c_lu - 1.0) > CC_MAX
                            or since_jac >= MAX_STEPS_PER_JAC):
                        if not jac_fresh:
                            jac_mat = jac(t_new, y_pred, p)
                            stats[N_JAC] += 1
                            jac_fresh = True
                            bad = _first_non_finite_row(jac_mat)
                            if bad >= 0:
                                stats[BAD_INDEX] = bad
                                return NON_FINITE_JACOBIAN, k_out, t, stats
                        since_jac = 0
                        lu_assemble(jac_mat, c, a_sp)
                        sparse = lu_factor(a_sp)
                        lu_ok = sparse
                        if not sparse:  # a small pivot: factor with row exchanges
                            for i in range(n):
                                for j in range(n):
                                    lu[i, j] = -c * jac_mat[perm[i], perm[j]]
                                lu[i, i] += 1.0
                            lu_ok = _lu_factor(lu, piv)
                            if lu_ok:
                                _lu_compress(lu, l_ptr, l_idx, l_val, u_ptr, u_idx, u_val,
                                             u_diag)
                            stats[N_DENSE_LU] += 1
                        stats[N_LU] += 1
                        c_lu = c
                    if lu_ok:
                        factors = (perm, piv, l_ptr, l_idx, l_val, u_ptr, u_idx, u_val, u_diag)
                        converged, n_iter = _newton(rhs, lu_solve, t_new, y_pred, p, c, c_lu,
                                                    psi, sparse, a_sp, factors, scale,
                                                    newton_tol, y_new, d, dy, work, stats)
                    if converged or (jac_fresh and c_lu == c):
                        break
                    lu_ok = False  # the matrix was stale: renew it and try again
                if not converged:
                    conv_fails += 1
                    stats[N_CONV_FAILS] += 1
                    if conv_fails >= MAX_CONV_FAILS:
                        return CONV_FAILURES, k_out, t, stats
                    _change_d(d_arr, order, CONV_FAIL_FACTOR, rw, old)
                    h_abs *= CONV_FAIL_FACTOR
                    n_equal = 0
                    lu_ok = False
                    continue
                safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
                for i in range(n):
                    scale[i] = atol[i] + rtol * abs(y_new[i])
                    dy[i] = ERROR_CONST[order] * d[i]
                error_norm = _rms(dy, scale)
                if not error_norm <= 1:  # (NaN fails the test too)
                    err_fails += 1
                    stats[N_ERR_FAILS] += 1
                    if err_fails >= MAX_ERR_FAILS:
                        return ERR_FAILURES, k_out, t, stats
                    if math.isfinite(error_norm):
                        factor = max(MIN_FACTOR, safety * error_norm ** (-1.0 / (order + 1)))
                    else:
                        factor = MIN_FACTOR
                    if err_fails >= 2:  # repeated failures: shrink by at least 5x
                        factor = min(factor, ERR_FAIL_MAX_FACTOR)
                    if err_fails >= ERR_FAILS_TO_ORDER_1 and order > 1:
                        # the history is no longer trusted: restart at order 1
                        order = 1
                        factor = ERR_FAIL_ORDER_1_FACTOR
                    _change_d(d_arr, order, factor, rw, old)
                    h_abs *= factor
                    n_equal = 0
                    continue
                break
            # Accepted: update the differences, emit outputs, maybe change order and step.
            stats[N_STEPS] += 1
            since_jac += 1
            jac_fresh = False
            n_equal += 1
            for i in range(n):
                d_arr[order + 2, i] = d[i] - d_arr[order + 1, i]
                d_arr[order + 1, i] = d[i]
            for i in range(order, -1, -1):
                d_arr[i] += d_arr[i + 1]
            t_old, t = t, t_new
            y[:] = y_new
            while k_out < n_out and t_eval[k_out] <= t and (t_eval[k_out] < b or last):
                if t_eval[k_out] == t:
                    out[k_out] = y
                else:
                    _interpolate(d_arr, order, t, t - t_old, t_eval[k_out], out[k_out])
                k_out += 1
            if h_abs > max_step:  # (reached only when max_step shrank below the step)
                _change_d(d_arr, order, max_step / h_abs, rw, old)
                h_abs = max_step
                n_equal = 0
            if n_equal < order + 1:
                continue
            err_m = np.inf
            if order > 1:
                for i in range(n):
                    dy[i] = ERROR_CONST[order - 1] * d_arr[order, i]
                err_m = _rms(dy, scale)
            err_p = np.inf
            if order < MAX_ORDER:
                for i in range(n):
                    dy[i] = ERROR_CONST[order + 1] * d_arr[order + 2, i]
                err_p = _rms(dy, scale)
            best, delta = 0.0, 0
            for k, e in enumerate((err_m, error_norm, err_p)):
                fac = np.inf if e == 0 else e ** (-1.0 / (order + k))
                if fac > best:
                    best, delta = fac, k - 1
            order += delta
            factor = min(MAX_FACTOR, safety * best, max_step / h_abs)
            _change_d(d_arr, order, factor, rw, old)
            h_abs *= factor
            n_equal = 0
    return OK, k_out, t, stats


_solve_one = numba.njit(_solve_protocol)


def _solve_batch(rhs, jac, lu_assemble, lu_factor, lu_solve, lu_size, perm, y0s, cuts, jumps,
                 params, t_eval, rtol, atol, max_steps, max_step, out, info, t_reached):
    """:func:`_solve_protocol` for each row of ``y0s`` with its own parameters
    ``params[a]`` (segments x parameters) into ``out[a]``; ``info[a]`` gets the status, the
    rows filled and the counters, ``t_reached[a]`` how far it got. One call runs a whole
    cohort chunk, so the cost of calling compiled code is paid once."""
    for a in range(y0s.shape[0]):
        status, filled, reached, stats = _solve_one(
            rhs, jac, lu_assemble, lu_factor, lu_solve, lu_size, perm, y0s[a], cuts, jumps,
            params[a], t_eval, rtol, atol, max_steps, max_step, out[a])
        info[a, 0] = status
        info[a, 1] = filled
        for k in range(stats.size):
            info[a, 2 + k] = stats[k]
        t_reached[a] = reached


@cache
def kernel():
    """The compiled integrator, ``kernel()(rhs, jac, lu_assemble, lu_factor, lu_solve,
    lu_size, perm, y0s, cuts, jumps, params, t_eval, rtol, atol, max_steps, max_step, out,
    info, t_reached)`` for a batch of problems (see :func:`_solve_batch`). numba compiles it
    once per machine and caches it on disk; the cached code is checked against its hash
    before it runs."""
    from cordsim.numerics.cache import compile_checked

    dispatcher = numba.njit(cache=True)(_solve_batch)
    compile_checked([(dispatcher, _BATCH_SIGNATURE)])
    return dispatcher


def _no_sparse_assemble(jac, c, a):  # pragma: no cover - compiled
    return None


def _no_sparse_factor(a):  # pragma: no cover - compiled
    return False


def _no_sparse_solve(a, b):  # pragma: no cover - compiled
    return None


@cache
def dense_lu(n: int) -> tuple:
    """The ``lu`` argument of :func:`solve` for a plain problem of ``n`` states: sparse-LU
    stubs that refuse every factorization, so the kernel uses its dense LU."""
    from cordsim.numerics.cache import compile_checked

    stubs = [cfunc(f, sig) for f, sig in (
        (_no_sparse_assemble, LU_ASSEMBLE_SIGNATURE), (_no_sparse_factor, LU_FACTOR_SIGNATURE),
        (_no_sparse_solve, LU_SOLVE_SIGNATURE))]
    compile_checked([(c, None) for c in stubs])
    return (*stubs, 1, np.arange(n, dtype=np.int64))


def cfunc(function, signature, **options):
    """A numba C callback of ``function`` with disk caching, not yet compiled (for
    :func:`cordsim.numerics.cache.compile_checked`): the form in which problems are passed to
    the kernel (a C callback costs the least to pass at each call)."""
    from numba.core import sigutils
    from numba.core.ccallback import CFunc

    callback = CFunc(function, sigutils.normalize_signature(signature), locals={},
                     options={"nopython": True, **options})
    callback.enable_caching()
    return callback


@dataclass(frozen=True)
class BDFResult:
    """Output of :func:`solve`: times reached, states (states x times), status, counters."""

    t: np.ndarray
    y: np.ndarray
    status: str
    code: int
    stats: dict[str, int]
    bad_index: int = -1

    @property
    def success(self) -> bool:
        """True if every output time was reached."""
        return self.code == OK


def stats_dict(stats: np.ndarray) -> dict[str, int]:
    """The kernel's counters by name."""
    names = ("rhs", "jac", "lu", "steps", "dense_lu", "conv_fails", "err_fails")
    return {name: int(stats[i]) for i, name in enumerate(names)}


def solve(rhs, jac, y0, t_eval, *, p=None, rtol=1e-6, atol=1e-9, cuts=None, jumps=None,
          params=None, max_steps=500_000, max_step=np.inf, lu=None) -> BDFResult:
    """Integrate ``dy/dt = rhs(t, y, p)`` from ``t_eval[0]`` with the compiled BDF kernel.

    ``rhs`` and ``jac`` are numba functions compiled with :data:`RHS_SIGNATURE` and
    :data:`JAC_SIGNATURE`. ``atol`` is a number or one value per state. Without ``cuts`` the
    protocol is one segment from ``t_eval[0]`` to ``t_eval[-1]`` with parameters ``p``;
    with them, ``jumps`` (segments + 1 rows, the last at the end time) and ``params`` (one
    row per segment) as in the module docstring. ``lu``: ``(assemble, factor, solve, size,
    perm)`` of a generated sparse LU (default: the dense LU only).
    """
    y0 = np.ascontiguousarray(y0, dtype=float)
    t_eval = np.ascontiguousarray(t_eval, dtype=float)
    n = y0.size
    if cuts is None:
        cuts = np.array([t_eval[0], t_eval[-1]])
        p = np.zeros(0) if p is None else np.ascontiguousarray(p, dtype=float)
        params = p[None, :].copy()
        jumps = np.zeros((2, n))
    cuts = np.ascontiguousarray(cuts, dtype=float)
    jumps = np.ascontiguousarray(jumps, dtype=float)
    params = np.ascontiguousarray(params, dtype=float)
    atol_vec = np.array(np.broadcast_to(np.asarray(atol, dtype=float), (n,)))
    if lu is None:
        lu = dense_lu(n)
    assemble, factor, lu_solve, size, perm = lu
    out = np.empty((1, t_eval.size, n))
    info = np.zeros((1, N_INFO), dtype=np.int64)
    with np.errstate(all="ignore"):
        kernel()(rhs, jac, assemble, factor, lu_solve, int(size),
                 np.ascontiguousarray(perm, dtype=np.int64), y0[None, :].copy(), cuts,
                 jumps[:-1].copy(), params[None, :, :].copy(), t_eval, float(rtol), atol_vec,
                 int(max_steps), float(max_step), out, info, np.zeros(1))
    code, filled, stats = int(info[0, 0]), int(info[0, 1]), info[0, 2:]
    out = out[0]
    y = out[:filled].T.copy()
    if code == OK:
        y[:, -1] += jumps[-1]  # boluses at the end time show in the last output
    message = STATUS_MESSAGES.get(int(code), f"status {code}")
    return BDFResult(t=t_eval[:filled], y=y, status=message, code=code,
                     stats=stats_dict(stats), bad_index=int(stats[BAD_INDEX]))

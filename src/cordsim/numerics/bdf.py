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
    lu_solve_many(a, B, X)                 each column of B (states x k) solved in place

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
N_RHS, N_JAC, N_LU, N_STEPS, N_DENSE_LU, N_CONV_FAILS, N_ERR_FAILS, BAD_INDEX, N_SENS = range(9)

_f8 = types.float64
_vec = types.float64[::1]
RHS_SIGNATURE = _vec(_f8, _vec, _vec)
JAC_SIGNATURE = types.float64[:, ::1](_f8, _vec, _vec)
LU_ASSEMBLE_SIGNATURE = types.none(types.float64[:, ::1], _f8, _vec)
LU_FACTOR_SIGNATURE = types.boolean(_vec)
LU_SOLVE_SIGNATURE = types.none(_vec, _vec)
LU_SOLVE_MANY_SIGNATURE = types.none(_vec, types.float64[:, ::1], types.float64[:, ::1])
_int_vec = types.int64[::1]
_BATCH_SIGNATURE = types.none(
    types.FunctionType(RHS_SIGNATURE), types.FunctionType(JAC_SIGNATURE),
    types.FunctionType(LU_ASSEMBLE_SIGNATURE), types.FunctionType(LU_FACTOR_SIGNATURE),
    types.FunctionType(LU_SOLVE_SIGNATURE), types.FunctionType(LU_SOLVE_MANY_SIGNATURE),
    types.int64, _int_vec,
    types.float64[:, ::1], _vec, types.float64[:, ::1], types.float64[:, :, ::1], _vec, _f8,
    _vec, types.int64, _f8, types.float64[:, :, ::1], types.int64[:, ::1], types.float64[::1])
_f3 = types.float64[:, :, ::1]
_SENS_BATCH_SIGNATURE = types.none(
    types.FunctionType(RHS_SIGNATURE), types.FunctionType(JAC_SIGNATURE),
    types.FunctionType(LU_ASSEMBLE_SIGNATURE), types.FunctionType(LU_FACTOR_SIGNATURE),
    types.FunctionType(LU_SOLVE_SIGNATURE), types.FunctionType(LU_SOLVE_MANY_SIGNATURE),
    types.int64, _int_vec, types.FunctionType(RHS_SIGNATURE), _int_vec, _int_vec, _int_vec,
    _int_vec,
    types.float64[:, ::1], _f3, _vec, types.float64[:, ::1], _f3, types.float64[:, ::1], _f3,
    _f3, _f3, _f3, _vec, _f8, _vec, types.int64, _f8, types.boolean, _f3,
    types.int64[:, ::1], types.float64[::1])
N_INFO = 11  # per problem: status, filled, then the 9 stats entries


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
    """Solve the NDF corrector; ``(converged, iterations, last contraction rate or -1)``.
    ``d`` gets the correction."""
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
                return False, k + 1, -1.0
            dy[i] = gain * (c * f[i] - psi[i] - d[i])
        if sparse:
            lu_solve(a_sp, dy)
        else:
            _lu_solve(*factors, dy, work)
        dy_norm = _rms(dy, scale)
        if not math.isfinite(dy_norm):
            return False, k + 1, -1.0
        rate = dy_norm / dy_norm_old if dy_norm_old > 0 else -1.0
        if rate >= 0 and (rate >= 1
                          or rate ** (NEWTON_MAXITER - k) / (1 - rate) * dy_norm > tol):
            return False, k + 1, -1.0
        y_new += dy
        d += dy
        if dy_norm == 0 or (rate >= 0 and rate / (1 - rate) * dy_norm < tol):
            return True, k + 1, rate
        dy_norm_old = dy_norm
    return False, NEWTON_MAXITER, -1.0


@numba.njit
def _first_non_finite_row(mat):
    """Index of the first row of ``mat`` with a non-finite entry, or -1."""
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            if not math.isfinite(mat[i, j]):
                return i
    return -1


@numba.njit
def _factor(jac_mat, c, a_sp, lu_assemble, lu_factor, perm, lu, piv, l_ptr, l_idx, l_val,
            u_ptr, u_idx, u_val, u_diag, stats):
    """Factor ``I - c J``: the sparse LU, or the dense LU with row exchanges when the sparse
    one refuses a pivot; ``(sparse, ok)``."""
    n = jac_mat.shape[0]
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
            _lu_compress(lu, l_ptr, l_idx, l_val, u_ptr, u_idx, u_val, u_diag)
        stats[N_DENSE_LU] += 1
    stats[N_LU] += 1
    return sparse, lu_ok


@numba.njit
def _rescale(d_arr, ds_arr, ns, order, factor, rw, old, olds):
    """:func:`_change_d` on the states' differences and, with sensitivities, on theirs."""
    _change_d(d_arr, order, factor, rw, old)
    if ns > 0:
        _change_d_rows(ds_arr, order, factor, rw, olds)


# ------------------------------------------------------------------ forward sensitivities
# The sensitivities s_j = dy/dtheta_j obey s_j' = J s_j + (df/dp) dp/dtheta_j, linear in s_j
# with the states' own Jacobian. They are advanced with the states' steps, orders and
# difference arrays, by the staggered direct method of CVODES (Hindmarsh et al. 2005, Sec. 3):
# once a step's state corrector has converged, the sensitivities' corrector equations
# (I - c J(t_n, y_n)) s_j = s_pred - psi + c fp_j are solved with the integrator's Newton
# matrix. Their right-hand side needs the Jacobian at the new state anyway, so the kernel
# first renews its Newton matrix there: when the sparse LU takes it, the sensitivities' linear
# corrector is solved exactly, all sensitivities in one sweep of the factors
# (``lu_solve_many``), and the next step's Newton iteration starts from that fresh matrix.
# (Iterating with the kept matrix, as CVODES does, took ~1.6 iterations of a Jacobian product
# and a solve per step: more than one sparse factorization.) When the sparse LU refuses the
# new matrix (a small pivot), the kept matrix stays and the correctors are iterated with it
# (CVODES's convergence test, CRDOWN and RDIV); only if that fails is the exact matrix
# factored with row exchanges. Error control on the sensitivities is optional (``errcon``).
# The sensitivities are stored state-major: entry i * ns + j is d y_i / d theta_j, so the
# block of all sensitivities is a (states x ns) matrix that the LU solves in place.
SENS_CRDOWN = 0.3  # CVODES's CRDOWN: how fast the rate estimate may fall
SENS_RDIV = 2.0  # CVODES's RDIV: a correction this much larger than the last one diverges
SENS_ONCE_TOL = 0.03  # one correction with the kept matrix is taken when its size times the
# states' contraction rate is below this (CVODES's own test is ~0.1 / (order + 1))


@numba.njit
def _sens_directions(dparams_s, dfdp_cols, ns, fq_ptr, fq_idx, fq_coef):
    """For each sensitivity j, the non-zeros q of df/dp that drive it and their weights
    ``dp_col(q) / dtheta_j`` in the current segment (CSR in ``fq_*``)."""
    m = 0
    for j in range(ns):
        fq_ptr[j] = m
        for q in range(dfdp_cols.size):
            cf = dparams_s[j, dfdp_cols[q]]
            if cf != 0.0:
                fq_idx[m] = q
                fq_coef[m] = cf
                m += 1
    fq_ptr[ns] = m


@numba.njit
def _sens_forcing(fpv, dfdp_rows, fq_ptr, fq_idx, fq_coef, ns, fp):
    """``fp[i * ns + j]`` <- ((df/dp) dp/dtheta_j)_i from the non-zeros ``fpv`` of df/dp."""
    fp[:] = 0.0
    for j in range(ns):
        for e in range(fq_ptr[j], fq_ptr[j + 1]):
            q = fq_idx[e]
            fp[dfdp_rows[q] * ns + j] += fpv[q] * fq_coef[e]


@numba.njit
def _jac_csr(jac_mat, rows, cols, ptr, vals):
    """The Jacobian's structural non-zeros (``rows`` sorted) as CSR values, and the row
    pointers ``ptr``."""
    ptr[:] = 0
    for q in range(rows.size):
        vals[q] = jac_mat[rows[q], cols[q]]
        ptr[rows[q] + 1] += 1
    for i in range(ptr.size - 1):
        ptr[i + 1] += ptr[i]


@numba.njit
def _jac_mul(ptr, cols, vals, ns, x, out):
    """``out <- J X`` for state-major ``X`` (states x ns, flat), J in CSR."""
    out[:] = 0.0
    for i in range(ptr.size - 1):
        lo = i * ns
        for q in range(ptr[i], ptr[i + 1]):
            v = vals[q]
            src = cols[q] * ns
            for j in range(ns):
                out[lo + j] += v * x[src + j]


@numba.njit
def _column_rms(x, scale, ns, acc):
    """Largest RMS norm over the ns columns of state-major ``x`` (``acc``: scratch)."""
    acc[:] = 0.0
    n = x.size // ns
    for i in range(n):
        lo = i * ns
        for j in range(ns):
            v = x[lo + j] / scale[lo + j]
            acc[j] += v * v
    worst = 0.0
    for j in range(ns):
        v = math.sqrt(acc[j] / n)
        if not v <= worst:  # (NaN wins)
            worst = v
    return worst


@numba.njit
def _predict(d_arr, order, y_pred, psi):
    """The predicted values and psi of a difference array, row by row (vectorizes over the
    sensitivities' many entries)."""
    y_pred[:] = d_arr[0]
    psi[:] = 0.0
    for j in range(1, order + 1):
        g = GAMMA[j]
        row = d_arr[j]
        for k in range(y_pred.size):
            y_pred[k] += row[k]
            psi[k] += row[k] * g
    inv = 1.0 / ALPHA[order]
    for k in range(psi.size):
        psi[k] *= inv


@numba.njit
def _change_d_rows(d_arr, order, factor, rw, old):
    """:func:`_change_d` with the sums done row by row (for the sensitivities' wide array)."""
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
        old[j] = d_arr[j]
    for i in range(order + 1):
        row = d_arr[i]
        row[:] = 0.0
        for j in range(order + 1):
            w = ru[j, i]
            prev = old[j]
            for k in range(n):
                row[k] += w * prev[k]


@numba.njit
def _any_nonzero(a, b, c):
    """Whether any entry of ``a``, ``b`` or ``c`` is not zero: sensitivities that are zero,
    with a zero history and no forcing, stay zero without a solve (e.g. those to a dose
    before it is given)."""
    for k in range(a.size):
        if a[k] != 0.0 or b[k] != 0.0 or c[k] != 0.0:
            return True
    return False


@numba.njit
def _solve_columns(sparse, lu_solve_many, a_sp, factors, x, ns, scratch, work):
    """``X <- (I - c J)^-1 X`` for state-major ``X`` (flat): the sparse LU's solve of all
    columns at once, or the dense LU column by column."""
    n = x.size // ns
    if sparse:
        lu_solve_many(a_sp, x.reshape((n, ns)), scratch[:x.size].reshape((n, ns)))
        return
    for j in range(ns):
        for i in range(n):
            scratch[i] = x[i * ns + j]
        _lu_solve(*factors, scratch[:n], work)
        for i in range(n):
            x[i * ns + j] = scratch[i]


@numba.njit
def _sens_solve(ns, s_pred, psi_s, fp, c, sparse, lu_solve_many, a_sp, factors, s_new, d_s,
                scratch, work, stats):
    """Solve the correctors ``(I - c J) s_j = s_pred - psi + c fp_j`` with the LU of that
    matrix; ``d_s`` gets the corrections. False if a value is not finite."""
    for k in range(s_new.size):
        s_new[k] = s_pred[k] - psi_s[k] + c * fp[k]
    _solve_columns(sparse, lu_solve_many, a_sp, factors, s_new, ns, scratch, work)
    stats[N_SENS] += ns
    for k in range(s_new.size):
        if not math.isfinite(s_new[k]):
            return False
        d_s[k] = s_new[k] - s_pred[k]
    return True


@numba.njit
def _sens_iterate(ptr, cols, vals, ns, s_pred, psi_s, fp, c, c_lu, sparse, lu_solve_many, a_sp,
                  factors, scale_s, tol, crate, max_iter, s_new, d_s, corr, js, scratch, work,
                  acc, stats):
    """The correctors iterated with the kept matrix (made with ``c_lu``, maybe at another
    state): ``d += M^-1 (c (J s + fp) - psi - d)`` with the exact Jacobian ``J`` (CSR), at
    most ``max_iter`` times; ``(converged, rate estimate)``, tested on the largest column's
    correction (``crate``: the rate known before the first)."""
    gain = 2.0 / (1.0 + c / c_lu)  # LSODE's compensation for a matrix made with c_lu
    s_new[:] = s_pred
    d_s[:] = 0.0
    del_old = 0.0
    for k in range(max_iter):
        _jac_mul(ptr, cols, vals, ns, s_new, js)
        for q in range(corr.size):
            corr[q] = gain * (c * (js[q] + fp[q]) - psi_s[q] - d_s[q])
        _solve_columns(sparse, lu_solve_many, a_sp, factors, corr, ns, scratch, work)
        stats[N_SENS] += ns
        del_max = _column_rms(corr, scale_s, ns, acc)
        for q in range(corr.size):
            s_new[q] += corr[q]
            d_s[q] += corr[q]
        if not math.isfinite(del_max):
            return False, crate
        if k > 0:
            crate = max(SENS_CRDOWN * crate, del_max / del_old)
        if del_max * min(1.0, crate) <= tol:
            return True, crate
        if k > 0 and del_max > SENS_RDIV * del_old:
            return False, crate
        del_old = del_max
    return False, crate


def _solve_protocol(rhs, jac, lu_assemble, lu_factor, lu_solve, lu_solve_many, lu_size, perm,
                    y0, cuts, jumps, params, t_eval, rtol, atol, max_steps, max_step, out, sens):
    """Integrate every segment; fill ``out`` (times x states) at ``t_eval``.

    ``atol``: absolute tolerance of each state. ``perm``: the order in which states are
    eliminated when a matrix needs row exchanges (the sparse LU's order, or the identity).
    ``lu_size``: length of the sparse LU's work array. Returns
    ``(status, filled, t_reached, stats)``: status as in ``STATUS_MESSAGES``; the first
    ``filled`` output rows are valid; ``stats`` counts right-hand side and Jacobian
    evaluations, LU factorizations, steps, dense (row-exchange) factorizations, Newton and
    error-test failures, sensitivity solves, and holds the first state whose derivative is
    not finite (``BAD_INDEX``, -1 if none).

    Forward sensitivities to ``ns`` parameters theta_j come in ``sens = (ns, errcon, s0,
    dparams, djumps, dcuts, ev_dy, ev_dp, jac_rows, jac_cols, dfdp_rows, dfdp_cols, dfdp)``
    (one argument: a call of more than 30 arguments would reach numba as a tuple of
    first-class functions; none: ``ns = 0`` and the rest is not used): ``dfdp(t, y, p)`` gives the non-zeros of df/dp (rows
    ``dfdp_rows``, columns ``dfdp_cols``); ``jac_rows``, ``jac_cols`` are the Jacobian's
    structural non-zeros; ``s0`` (ns x states) the initial sensitivities; per segment s,
    ``dparams[s]`` (ns x parameters) is d params[s] / d theta_j, ``djumps[s]`` (ns x states)
    d jumps[s] / d theta_j, and ``dcuts[s, j]`` d cuts[s] / d theta_j for an event that moves
    with theta_j (a dose time): the event's own state jump ``ev_dy[s, j]`` and parameter change
    ``ev_dp[s, j]`` then carry s_j across it by s_j += (f(before) - f(after)) dcuts[s, j].
    ``atol`` then has ``n (1 + ns)`` entries, ``out`` as many columns: the states', then the
    sensitivities' state-major (entry ``n + i * ns + j`` for d y_i / d theta_j); ``errcon``
    puts the sensitivities in the error test.
    """
    (ns, errcon, s0, dparams, djumps, dcuts, ev_dy, ev_dp, jac_rows, jac_cols, dfdp_rows,
     dfdp_cols, dfdp) = sens
    n = y0.size
    y = y0.copy()
    stats = np.zeros(9, dtype=np.int64)
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
    # forward sensitivities (arrays of width 0 without them)
    m = ns * n
    sv = np.zeros(m)  # current sensitivities, state-major
    for j in range(ns):
        for i in range(n):
            sv[i * ns + j] = s0[j, i]
    ds_arr = np.zeros((MAX_ORDER + 3, m))
    olds = np.empty((MAX_ORDER + 1, m))
    s_pred = np.empty(m)
    s_new = np.empty(m)
    psi_s = np.empty(m)
    d_s = np.empty(m)
    fp = np.empty(m)
    scale_s = np.empty(m)
    err_s = np.empty(m)
    js = np.empty(m)
    fq_ptr = np.zeros(ns + 1, dtype=np.int64)
    fq_idx = np.zeros(max(ns * dfdp_cols.size, 1), dtype=np.int64)
    fq_coef = np.zeros(max(ns * dfdp_cols.size, 1))
    corr = np.empty(m)
    scratch = np.empty(max(m, n))
    col_acc = np.empty(ns)
    a_new = np.zeros(max(lu_size, 1)) if ns > 0 else np.zeros(1)  # a renewed matrix's LU
    jac_ptr = np.zeros(n + 1, dtype=np.int64)
    jac_vals = np.zeros(jac_rows.size)
    sens_tol = newton_tol
    crate = 1.0  # the sensitivities' iteration's rate estimate with the kept matrix
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
        if ns > 0:
            for j in range(ns):
                for i in range(n):
                    sv[i * ns + j] += djumps[s, j, i]
            moved = False
            for j in range(ns):
                if dcuts[s, j] != 0.0:
                    moved = True
            if moved:  # an event that moves with theta_j: s_j += (f(before) - f(after)) dt
                f_after = rhs(a, y, p)
                stats[N_RHS] += 1
                for j in range(ns):
                    if dcuts[s, j] != 0.0:
                        f_before = rhs(a, y - ev_dy[s, j], p - ev_dp[s, j])
                        stats[N_RHS] += 1
                        for i in range(n):
                            sv[i * ns + j] += (f_before[i] - f_after[i]) * dcuts[s, j]
            _sens_directions(dparams[s], dfdp_cols, ns, fq_ptr, fq_idx, fq_coef)
        while k_out < n_out and t_eval[k_out] <= a:
            out[k_out, :n] = y
            out[k_out, n:] = sv
            k_out += 1
        # (Re)start at order 1, as after any discontinuity.
        t = a
        f = rhs(t, y, p)
        stats[N_RHS] += 1
        for i in range(n):
            if not (math.isfinite(f[i]) and math.isfinite(y[i])):
                stats[BAD_INDEX] = i
                return NON_FINITE, k_out, t, stats
        h_abs = min(_initial_step(rhs, t, y, f, p, b - a, rtol, atol[:n], stats), max_step)
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
        if ns > 0:  # the sensitivities' own start: s_j and h s_j'
            _sens_forcing(dfdp(t, y, p), dfdp_rows, fq_ptr, fq_idx, fq_coef, ns, fp)
            ds_arr[:] = 0.0
            ds_arr[0] = sv
            _jac_csr(jac_mat, jac_rows, jac_cols, jac_ptr, jac_vals)
            _jac_mul(jac_ptr, jac_cols, jac_vals, ns, sv, js)
            for k in range(m):
                ds_arr[1, k] = (js[k] + fp[k]) * h_abs
        jac_fresh = True  # evaluated at the current point
        lu_ok = False
        c_lu = 0.0
        since_jac = 0
        while t < b:
            min_step = 10 * (np.nextafter(t, np.inf) - t)
            if h_abs < min_step:  # (h_abs is finite and positive here)
                _rescale(d_arr, ds_arr, ns, order, min_step / h_abs, rw, old, olds)
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
                    _rescale(d_arr, ds_arr, ns, order, (b - t) / h_abs, rw, old, olds)
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
                rate = -1.0
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
                        sparse, lu_ok = _factor(jac_mat, c, a_sp, lu_assemble, lu_factor, perm,
                                                lu, piv, l_ptr, l_idx, l_val, u_ptr, u_idx,
                                                u_val, u_diag, stats)
                        c_lu = c
                        crate = 1.0
                    if lu_ok:
                        factors = (perm, piv, l_ptr, l_idx, l_val, u_ptr, u_idx, u_val, u_diag)
                        converged, n_iter, rate = _newton(rhs, lu_solve, t_new, y_pred, p, c,
                                                          c_lu, psi, sparse, a_sp, factors,
                                                          scale, newton_tol, y_new, d, dy, work,
                                                          stats)
                    if converged or (jac_fresh and c_lu == c):
                        break
                    lu_ok = False  # the matrix was stale: renew it and try again
                if converged and ns > 0:  # staggered: the sensitivities' corrector
                    _predict(ds_arr, order, s_pred, psi_s)
                    _sens_forcing(dfdp(t_new, y_new, p), dfdp_rows, fq_ptr, fq_idx, fq_coef,
                                  ns, fp)
                    if _any_nonzero(s_pred, psi_s, fp):
                        jac_new = jac(t_new, y_new, p)
                        stats[N_JAC] += 1
                        bad = _first_non_finite_row(jac_new)
                        if bad >= 0:
                            stats[BAD_INDEX] = bad
                            return NON_FINITE_JACOBIAN, k_out, t, stats
                        factors = (perm, piv, l_ptr, l_idx, l_val, u_ptr, u_idx, u_val, u_diag)
                        for k in range(m):
                            scale_s[k] = atol[n + k] + rtol * abs(s_pred[k])
                        _jac_csr(jac_new, jac_rows, jac_cols, jac_ptr, jac_vals)
                        exact = False
                        once = False
                        if sparse and lu_ok and c == c_lu and rate >= 0.0:
                            # the kept matrix was made for this step size (at the last
                            # state): one correction, if the states' contraction rate says
                            # that it suffices (CVODES's test, with that rate)
                            once, _ = _sens_iterate(
                                jac_ptr, jac_cols, jac_vals, ns, s_pred, psi_s, fp, c, c_lu,
                                sparse, lu_solve_many, a_sp, factors, scale_s, SENS_ONCE_TOL,
                                rate, 1, s_new, d_s, corr, js, scratch, work, col_acc, stats)
                        if not once:
                            # the Newton matrix renewed at the new state, if the sparse LU
                            # takes it
                            lu_assemble(jac_new, c, a_new)
                            stats[N_LU] += 1
                            exact = lu_factor(a_new)
                            if exact:
                                a_sp, a_new = a_new, a_sp
                                sparse = lu_ok = True
                                jac_mat = jac_new
                                jac_fresh = True
                                since_jac = 0
                                c_lu = c
                                crate = 1.0
                            else:  # iterate with the kept matrix
                                converged, crate = _sens_iterate(
                                    jac_ptr, jac_cols, jac_vals, ns, s_pred, psi_s, fp, c, c_lu,
                                    sparse, lu_solve_many, a_sp, factors, scale_s, sens_tol,
                                    crate, NEWTON_MAXITER, s_new, d_s, corr, js, scratch, work,
                                    col_acc, stats)
                                if not converged:  # the exact matrix, with row exchanges
                                    jac_mat = jac_new
                                    jac_fresh = True
                                    since_jac = 0
                                    sparse, lu_ok = _factor(jac_mat, c, a_sp, lu_assemble,
                                                            lu_factor, perm, lu, piv, l_ptr,
                                                            l_idx, l_val, u_ptr, u_idx, u_val,
                                                            u_diag, stats)
                                    c_lu = c
                                    crate = 1.0
                                    exact = lu_ok
                        if exact:
                            factors = (perm, piv, l_ptr, l_idx, l_val, u_ptr, u_idx, u_val,
                                       u_diag)
                            converged = _sens_solve(ns, s_pred, psi_s, fp, c, sparse,
                                                    lu_solve_many, a_sp, factors, s_new, d_s,
                                                    scratch, work, stats)
                    else:
                        s_new[:] = 0.0
                        d_s[:] = 0.0
                if not converged:
                    conv_fails += 1
                    stats[N_CONV_FAILS] += 1
                    if conv_fails >= MAX_CONV_FAILS:
                        return CONV_FAILURES, k_out, t, stats
                    _rescale(d_arr, ds_arr, ns, order, CONV_FAIL_FACTOR, rw, old, olds)
                    h_abs *= CONV_FAIL_FACTOR
                    n_equal = 0
                    lu_ok = False
                    continue
                safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
                for i in range(n):
                    scale[i] = atol[i] + rtol * abs(y_new[i])
                    dy[i] = ERROR_CONST[order] * d[i]
                error_norm = _rms(dy, scale)
                if errcon and ns > 0:
                    for k in range(m):
                        scale_s[k] = atol[n + k] + rtol * abs(s_new[k])
                        err_s[k] = ERROR_CONST[order] * d_s[k]
                    error_norm = max(error_norm, _column_rms(err_s, scale_s, ns, col_acc))
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
                    _rescale(d_arr, ds_arr, ns, order, factor, rw, old, olds)
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
            if ns > 0:
                for k in range(m):
                    ds_arr[order + 2, k] = d_s[k] - ds_arr[order + 1, k]
                    ds_arr[order + 1, k] = d_s[k]
                for i in range(order, -1, -1):
                    row, nxt = ds_arr[i], ds_arr[i + 1]
                    for k in range(m):
                        row[k] += nxt[k]
                sv[:] = s_new
            t_old, t = t, t_new
            y[:] = y_new
            while k_out < n_out and t_eval[k_out] <= t and (t_eval[k_out] < b or last):
                if t_eval[k_out] == t:
                    out[k_out, :n] = y
                    out[k_out, n:] = sv
                else:
                    _interpolate(d_arr, order, t, t - t_old, t_eval[k_out], out[k_out, :n])
                    if ns > 0:
                        _interpolate(ds_arr, order, t, t - t_old, t_eval[k_out],
                                     out[k_out, n:])
                k_out += 1
            if h_abs > max_step:  # (reached only when max_step shrank below the step)
                _rescale(d_arr, ds_arr, ns, order, max_step / h_abs, rw, old, olds)
                h_abs = max_step
                n_equal = 0
            if n_equal < order + 1:
                continue
            err_m = np.inf
            if order > 1:
                for i in range(n):
                    dy[i] = ERROR_CONST[order - 1] * d_arr[order, i]
                err_m = _rms(dy, scale)
                if errcon and ns > 0:
                    for k in range(m):
                        err_s[k] = ERROR_CONST[order - 1] * ds_arr[order, k]
                    err_m = max(err_m, _column_rms(err_s, scale_s, ns, col_acc))
            err_p = np.inf
            if order < MAX_ORDER:
                for i in range(n):
                    dy[i] = ERROR_CONST[order + 1] * d_arr[order + 2, i]
                err_p = _rms(dy, scale)
                if errcon and ns > 0:
                    for k in range(m):
                        err_s[k] = ERROR_CONST[order + 1] * ds_arr[order + 2, k]
                    err_p = max(err_p, _column_rms(err_s, scale_s, ns, col_acc))
            best, delta = 0.0, 0
            for k, e in enumerate((err_m, error_norm, err_p)):
                fac = np.inf if e == 0 else e ** (-1.0 / (order + k))
                if fac > best:
                    best, delta = fac, k - 1
            order += delta
            factor = min(MAX_FACTOR, safety * best, max_step / h_abs)
            _rescale(d_arr, ds_arr, ns, order, factor, rw, old, olds)
            h_abs *= factor
            n_equal = 0
    return OK, k_out, t, stats


_solve_one = numba.njit(_solve_protocol)


def _solve_batch(rhs, jac, lu_assemble, lu_factor, lu_solve, lu_solve_many, lu_size, perm, y0s,
                 cuts, jumps, params, t_eval, rtol, atol, max_steps, max_step, out, info,
                 t_reached):
    """:func:`_solve_protocol` for each row of ``y0s`` with its own parameters
    ``params[a]`` (segments x parameters) into ``out[a]``; ``info[a]`` gets the status, the
    rows filled and the counters, ``t_reached[a]`` how far it got. One call runs a whole
    cohort chunk, so the cost of calling compiled code is paid once. No sensitivities."""
    n = y0s.shape[1]
    segs = cuts.size - 1
    no_int = np.zeros(0, dtype=np.int64)
    for a in range(y0s.shape[0]):
        status, filled, reached, stats = _solve_one(
            rhs, jac, lu_assemble, lu_factor, lu_solve, lu_solve_many, lu_size, perm, y0s[a],
            cuts, jumps, params[a], t_eval, rtol, atol, max_steps, max_step, out[a],
            (0, False, np.zeros((0, n)), np.zeros((segs, 0, 0)), np.zeros((segs, 0, n)),
             np.zeros((segs, 0)), np.zeros((segs, 0, n)), np.zeros((segs, 0, 0)), no_int,
             no_int, no_int, no_int, rhs))
        info[a, 0] = status
        info[a, 1] = filled
        for k in range(min(stats.size, N_INFO - 2)):
            info[a, 2 + k] = stats[k]
        t_reached[a] = reached


def _solve_sens_batch(rhs, jac, lu_assemble, lu_factor, lu_solve, lu_solve_many, lu_size, perm,
                      dfdp,
                      jac_rows, jac_cols, dfdp_rows, dfdp_cols, y0s, s0s, cuts, jumps, djumps,
                      dcuts, ev_dy, ev_dp, params, dparams, t_eval, rtol, atol, max_steps,
                      max_step, errcon, out, info, t_reached):
    """:func:`_solve_batch` with forward sensitivities (the arguments of
    :func:`_solve_protocol`; ``s0s[a]``: animal a's initial sensitivities; ``out[a]``: times x
    (states, then each sensitivity's block))."""
    ns = dcuts.shape[1]
    for a in range(y0s.shape[0]):
        status, filled, reached, stats = _solve_one(
            rhs, jac, lu_assemble, lu_factor, lu_solve, lu_solve_many, lu_size, perm, y0s[a],
            cuts, jumps, params[a], t_eval, rtol, atol, max_steps, max_step, out[a],
            (ns, errcon, s0s[a], dparams, djumps, dcuts, ev_dy, ev_dp, jac_rows, jac_cols,
             dfdp_rows, dfdp_cols, dfdp))
        info[a, 0] = status
        info[a, 1] = filled
        for k in range(min(stats.size, N_INFO - 2)):
            info[a, 2 + k] = stats[k]
        t_reached[a] = reached


@cache
def kernel():
    """The compiled integrator, ``kernel()(rhs, jac, lu_assemble, lu_factor, lu_solve,
    lu_solve_many, lu_size, perm, y0s, cuts, jumps, params, t_eval, rtol, atol, max_steps,
    max_step, out, info, t_reached)`` for a batch of problems (see :func:`_solve_batch`).
    numba compiles it once per machine and caches it on disk; the cached code is checked
    against its hash before it runs."""
    from cordsim.numerics.cache import compile_checked

    dispatcher = numba.njit(cache=True)(_solve_batch)
    compile_checked([(dispatcher, _BATCH_SIGNATURE)])
    return dispatcher


@cache
def sens_kernel():
    """The compiled integrator with forward sensitivities, ``sens_kernel()(rhs, jac,
    lu_assemble, lu_factor, lu_solve, lu_solve_many, lu_size, perm, dfdp, jac_rows, jac_cols,
    dfdp_rows, dfdp_cols, y0s, s0s, cuts, jumps, djumps, dcuts, ev_dy, ev_dp, params, dparams, t_eval,
    rtol, atol, max_steps, max_step, errcon, out, info, t_reached)`` (see
    :func:`_solve_sens_batch`); compiled and cached as :func:`kernel`."""
    from cordsim.numerics.cache import compile_checked

    dispatcher = numba.njit(cache=True)(_solve_sens_batch)
    compile_checked([(dispatcher, _SENS_BATCH_SIGNATURE)])
    return dispatcher


def _no_sparse_assemble(jac, c, a):  # pragma: no cover - compiled
    return None


def _no_sparse_factor(a):  # pragma: no cover - compiled
    return False


def _no_sparse_solve(a, b):  # pragma: no cover - compiled
    return None


def _no_sparse_solve_many(a, b, x):  # pragma: no cover - compiled
    return None


@cache
def dense_lu(n: int) -> tuple:
    """The ``lu`` argument of :func:`solve` for a plain problem of ``n`` states: sparse-LU
    stubs that refuse every factorization, so the kernel uses its dense LU."""
    from cordsim.numerics.cache import compile_checked

    stubs = [cfunc(f, sig) for f, sig in (
        (_no_sparse_assemble, LU_ASSEMBLE_SIGNATURE), (_no_sparse_factor, LU_FACTOR_SIGNATURE),
        (_no_sparse_solve, LU_SOLVE_SIGNATURE),
        (_no_sparse_solve_many, LU_SOLVE_MANY_SIGNATURE))]
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
    out = {name: int(stats[i]) for i, name in enumerate(names)}
    if stats.size > N_SENS:
        out["sens_solves"] = int(stats[N_SENS])
    return out


def solve(rhs, jac, y0, t_eval, *, p=None, rtol=1e-6, atol=1e-9, cuts=None, jumps=None,
          params=None, max_steps=500_000, max_step=np.inf, lu=None) -> BDFResult:
    """Integrate ``dy/dt = rhs(t, y, p)`` from ``t_eval[0]`` with the compiled BDF kernel.

    ``rhs`` and ``jac`` are numba functions compiled with :data:`RHS_SIGNATURE` and
    :data:`JAC_SIGNATURE`. ``atol`` is a number or one value per state. Without ``cuts`` the
    protocol is one segment from ``t_eval[0]`` to ``t_eval[-1]`` with parameters ``p``;
    with them, ``jumps`` (segments + 1 rows, the last at the end time) and ``params`` (one
    row per segment) as in the module docstring. ``lu``: ``(assemble, factor, solve,
    solve_many, size, perm)`` of a generated sparse LU (default: the dense LU only).
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
    assemble, factor, lu_solve, lu_solve_many, size, perm = lu
    out = np.empty((1, t_eval.size, n))
    info = np.zeros((1, N_INFO), dtype=np.int64)
    with np.errstate(all="ignore"):
        kernel()(rhs, jac, assemble, factor, lu_solve, lu_solve_many, int(size),
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

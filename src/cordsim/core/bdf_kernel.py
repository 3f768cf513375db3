"""Compiled BDF integrator of a whole protocol: the kernel of the ``"compiled"`` solver.

This file is not used as a module: :func:`cordsim.core.codegen.compile_kernel` appends its
text to a model's generated source (``rhs(t, y, p)``, ``jac(t, y, p)`` and the sparse LU
of ``sparse_lu.py``) and numba compiles them together, so the integrator calls the model
directly, with no Python between steps, and caches the machine code on disk.

The method is SciPy's ``BDF`` (variable order 1-5, numerical differentiation formulas with
quasi-constant step size; Shampine & Reichelt 1997, the MATLAB ode15s scheme) with the
iteration-matrix economy of LSODE (Hindmarsh 1983): the Jacobian and the LU factors of
``I - c J`` are kept across steps and step-size changes and are renewed only when ``c`` has
moved by more than 30 %, after 20 steps, or when the Newton iteration fails; a stale ``c`` is
compensated by LSODE's factor ``2 / (1 + c / c_lu)`` on each correction.

A protocol is a sequence of segments ``[cuts[s], cuts[s + 1])``: at each segment start the
states jump by ``jumps[s]`` (a bolus), then the model runs with parameters ``params[s]`` (an
infusion changes them). Output times ``t_eval`` are filled in ``out`` from the dense output;
a time equal to a cut gets the state after that cut's jump.
"""

import math

import numba
import numpy as np

MAX_ORDER = 5
NEWTON_MAXITER = 4
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
CC_MAX = 0.3  # renew the iteration matrix when c / c_lu leaves [0.7, 1.3] (LSODE's CCMAX)
MAX_STEPS_PER_JAC = 20  # LSODE's MSBP

# NDF coefficients (SciPy's BDF): kappa, gamma_k = sum 1/j, alpha = (1 - kappa) gamma.
KAPPA = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])
GAMMA = np.concatenate((np.zeros(1), np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))))
ALPHA = (1.0 - KAPPA) * GAMMA
ERROR_CONST = KAPPA * GAMMA + 1.0 / np.arange(1, MAX_ORDER + 2)

OK, TOO_SMALL_STEP, TOO_MANY_STEPS, NON_FINITE = 0, 1, 2, 3


@numba.njit(cache=True)
def _rms(x, scale):
    s = 0.0
    for i in range(x.size):
        v = x[i] / scale[i]
        s += v * v
    return math.sqrt(s / x.size)


@numba.njit(cache=True)
def _lu_factor(a, piv):
    """In-place LU with threshold partial pivoting (rows swapped whole, as LAPACK's getrf).

    The fallback when the sparse LU refuses a pivot. The diagonal pivot is kept while it is
    at least ``PIVOT_THRESHOLD`` (sparse_lu.py) times the largest in its column, so the
    fill-reducing order of the rows survives. Rows whose multiplier is zero are skipped.
    Returns False for a singular matrix.
    """
    n = a.shape[0]
    for k in range(n):
        p = k
        big = abs(a[k, k])
        for i in range(k + 1, n):
            if abs(a[i, k]) > big:
                big = abs(a[i, k])
                p = i
        if big == 0.0:
            return False
        if abs(a[k, k]) >= PIVOT_THRESHOLD * big:  # noqa: F821 - from sparse_lu.py
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


@numba.njit(cache=True)
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


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _lu_solve(perm, piv, l_ptr, l_idx, l_val, u_ptr, u_idx, u_val, u_diag, b, work):
    """Solve ``(I - c J) x = b`` in place with the factors of the permuted matrix."""
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


@numba.njit(cache=True)
def _compute_r(order, factor, r):
    """SciPy's ``compute_R`` into ``r[:order + 1, :order + 1]``."""
    for j in range(order + 1):
        r[0, j] = 1.0
    for i in range(1, order + 1):
        r[i, 0] = 0.0
        for j in range(1, order + 1):
            r[i, j] = r[i - 1, j] * (i - 1 - factor * j) / i


@numba.njit(cache=True)
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


@numba.njit(cache=True)
def _interpolate(d_arr, order, t_new, h, t, out):
    """Dense output at ``t`` of the step that ended at ``t_new`` with size ``h``."""
    out[:] = d_arr[0]
    prod = 1.0
    for j in range(order):
        prod *= (t - (t_new - h * j)) / (h * (1 + j))
        for k in range(out.size):
            out[k] += d_arr[j + 1, k] * prod


@numba.njit(cache=True)
def _initial_step(t0, y0, f0, p, span, rtol, atol, stats):
    """Hairer, Norsett & Wanner's starting step (SciPy's ``select_initial_step``, order 1);
    NaN when the state or its derivative is not finite."""
    scale = atol + np.abs(y0) * rtol
    d0 = _rms(y0, scale)
    d1 = _rms(f0, scale)
    if not (math.isfinite(d0) and math.isfinite(d1)):
        return np.nan
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = max(min(h0, span), 1e-300)
    f1 = rhs(t0 + h0, y0 + h0 * f0, p)  # noqa: F821 - defined by the generated model module
    stats[0] += 1
    d2 = _rms(f1 - f0, scale) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** 0.5
    return min(100 * h0, h1, span)


@numba.njit(cache=True)
def _newton(t_new, y_pred, p, c, c_lu, psi, sparse, a_sp, factors, scale, tol, y_new, d, dy,
            work, stats):
    """Solve the NDF corrector; ``(converged, iterations)``. ``d`` gets the correction."""
    gain = 2.0 / (1.0 + c / c_lu)  # LSODE's compensation for a matrix made with c_lu
    y_new[:] = y_pred
    d[:] = 0.0
    dy_norm_old = -1.0
    for k in range(NEWTON_MAXITER):
        f = rhs(t_new, y_new, p)  # noqa: F821
        stats[0] += 1
        for i in range(y_new.size):
            if not math.isfinite(f[i]):
                return False, k + 1
            dy[i] = gain * (c * f[i] - psi[i] - d[i])
        if sparse:
            sparse_solve(a_sp, dy)  # noqa: F821 - generated by sparse_lu.py
        else:
            _lu_solve(*factors, dy, work)
        dy_norm = _rms(dy, scale)
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


@numba.njit(cache=True)
def solve_protocol(y0, cuts, jumps, params, t_eval, rtol, atol, max_steps, perm, out):
    """Integrate every segment; fill ``out`` (times x states) at ``t_eval``.

    ``atol``: absolute tolerance of each state. ``perm``: the order in which states are
    eliminated when a matrix needs row exchanges (the sparse LU's order). Returns
    ``(status, filled, t_reached, stats)``: status 0 ok, 1 step size too small, 2 more than
    ``max_steps`` step attempts, 3 non-finite state or derivative at a segment start; the
    first ``filled`` output rows are valid; ``stats`` counts
    right-hand side and Jacobian evaluations, LU factorizations, steps, and the
    factorizations that needed row exchanges.
    """
    n = y0.size
    y = y0.copy()
    stats = np.zeros(5, dtype=np.int64)
    a_sp = np.zeros(LU_NNZ)  # noqa: F821 - generated by sparse_lu.py
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
        f = rhs(t, y, p)  # noqa: F821
        stats[0] += 1
        h_abs = _initial_step(t, y, f, p, b - a, rtol, atol, stats)
        if not (h_abs > 0.0 and math.isfinite(h_abs)):
            return NON_FINITE, k_out, t, stats
        d_arr[:] = 0.0
        d_arr[0] = y
        d_arr[1] = f * h_abs
        order = 1
        n_equal = 0
        jac_mat = jac(t, y, p)  # noqa: F821
        stats[1] += 1
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
                            jac_mat = jac(t_new, y_pred, p)  # noqa: F821
                            stats[1] += 1
                            jac_fresh = True
                        since_jac = 0
                        sparse_assemble(jac_mat, c, a_sp)  # noqa: F821
                        sparse = sparse_lu(a_sp)  # noqa: F821
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
                            stats[4] += 1
                        stats[2] += 1
                        c_lu = c
                    if lu_ok:
                        factors = (perm, piv, l_ptr, l_idx, l_val, u_ptr, u_idx, u_val, u_diag)
                        converged, n_iter = _newton(t_new, y_pred, p, c, c_lu, psi, sparse, a_sp,
                                                    factors,
                                                    scale, newton_tol, y_new, d, dy, work,
                                                    stats)
                    if converged or (jac_fresh and c_lu == c):
                        break
                    lu_ok = False  # the matrix was stale: renew it and try again
                if not converged:
                    _change_d(d_arr, order, 0.5, rw, old)
                    h_abs *= 0.5
                    n_equal = 0
                    lu_ok = False
                    continue
                safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
                for i in range(n):
                    scale[i] = atol[i] + rtol * abs(y_new[i])
                    dy[i] = ERROR_CONST[order] * d[i]
                error_norm = _rms(dy, scale)
                if error_norm > 1:
                    factor = max(MIN_FACTOR, safety * error_norm ** (-1.0 / (order + 1)))
                    _change_d(d_arr, order, factor, rw, old)
                    h_abs *= factor
                    n_equal = 0
                    continue
                break
            # Accepted: update the differences, emit outputs, maybe change order and step.
            stats[3] += 1
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
            factor = min(MAX_FACTOR, safety * best)
            _change_d(d_arr, order, factor, rw, old)
            h_abs *= factor
            n_equal = 0
    return OK, k_out, t, stats

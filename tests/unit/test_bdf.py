"""The compiled BDF kernel on classic stiff problems, against SciPy at tight tolerance, and its
failure handling (CVODE-like: capped Newton and error-test failures, maximum step, non-finite
values and Jacobians reported with the state involved)."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from cordsim.numerics import bdf

# ------------------------------------------------------------------ problems


@numba.njit(bdf.RHS_SIGNATURE)
def robertson(t, y, p):
    return np.array([-0.04 * y[0] + 1e4 * y[1] * y[2],
                     0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
                     3e7 * y[1] ** 2])


@numba.njit(bdf.JAC_SIGNATURE)
def robertson_jac(t, y, p):
    return np.array([[-0.04, 1e4 * y[2], 1e4 * y[1]],
                     [0.04, -1e4 * y[2] - 6e7 * y[1], -1e4 * y[1]],
                     [0.0, 6e7 * y[1], 0.0]])


@numba.njit(bdf.RHS_SIGNATURE)
def van_der_pol(t, y, p):
    mu = p[0]
    return np.array([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])


@numba.njit(bdf.JAC_SIGNATURE)
def van_der_pol_jac(t, y, p):
    mu = p[0]
    return np.array([[0.0, 1.0], [-2 * mu * y[0] * y[1] - 1.0, mu * (1 - y[0] ** 2)]])


@numba.njit(bdf.RHS_SIGNATURE)
def hires(t, y, p):
    """HIRES (Schafer 1975; Hairer & Wanner's test set): 8 states, plant physiology."""
    return np.array([
        -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007,
        1.71 * y[0] - 8.75 * y[1],
        -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4],
        8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3],
        -1.745 * y[4] + 0.43 * y[5] + 0.43 * y[6],
        -280.0 * y[5] * y[7] + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6],
        280.0 * y[5] * y[7] - 1.81 * y[6],
        -280.0 * y[5] * y[7] + 1.81 * y[6]])


@numba.njit(bdf.JAC_SIGNATURE)
def hires_jac(t, y, p):
    j = np.zeros((8, 8))
    j[0, 0], j[0, 1], j[0, 2] = -1.71, 0.43, 8.32
    j[1, 0], j[1, 1] = 1.71, -8.75
    j[2, 2], j[2, 3], j[2, 4] = -10.03, 0.43, 0.035
    j[3, 1], j[3, 2], j[3, 3] = 8.32, 1.71, -1.12
    j[4, 4], j[4, 5], j[4, 6] = -1.745, 0.43, 0.43
    j[5, 3], j[5, 4], j[5, 5], j[5, 6], j[5, 7] = 0.69, 1.71, -280.0 * y[7] - 0.43, 0.69, \
        -280.0 * y[5]
    j[6, 5], j[6, 6], j[6, 7] = 280.0 * y[7], -1.81, 280.0 * y[5]
    j[7, 5], j[7, 6], j[7, 7] = -280.0 * y[7], 1.81, -280.0 * y[5]
    return j


HIRES_Y0 = np.array([1.0, 0, 0, 0, 0, 0, 0, 0.0057])


def reference(fun, jac, y0, t_eval, p=None, rtol=1e-12, atol=1e-14):
    """SciPy's Radau at tight tolerance (the reference)."""
    p = np.zeros(0) if p is None else p
    sol = solve_ivp(lambda t, y: fun(t, y, p), (t_eval[0], t_eval[-1]), y0, method="Radau",
                    t_eval=t_eval, jac=lambda t, y: jac(t, y, p), rtol=rtol, atol=atol)
    assert sol.success
    return sol.y


# ------------------------------------------------------------------ accuracy


def test_robertson_against_scipy():
    t = np.array([0.0, 0.4, 4.0, 40.0, 400.0, 4e3, 4e4, 4e5])
    atol = np.array([1e-12, 1e-16, 1e-12])
    res = bdf.solve(robertson, robertson_jac, np.array([1.0, 0, 0]), t, rtol=1e-10, atol=atol)
    assert res.success, res.status
    ref = reference(robertson, robertson_jac, np.array([1.0, 0, 0]), t, atol=1e-18)
    np.testing.assert_allclose(res.y, ref, rtol=1e-6, atol=1e-14)
    # textbook value at t = 40 (Hairer & Wanner): y1 = 0.7158...
    assert res.y[0, 3] == pytest.approx(0.71582706, rel=1e-7)
    assert np.allclose(res.y.sum(axis=0), 1.0, atol=1e-9)  # mass is conserved


def test_van_der_pol_stiff_against_scipy():
    t = np.linspace(0.0, 3000.0, 31)
    p = np.array([1000.0])
    y0 = np.array([2.0, 0.0])
    res = bdf.solve(van_der_pol, van_der_pol_jac, y0, t, p=p, rtol=1e-9, atol=1e-10)
    assert res.success, res.status
    ref = reference(van_der_pol, van_der_pol_jac, y0, t, p=p)
    np.testing.assert_allclose(res.y[0], ref[0], rtol=1e-4, atol=1e-5)
    assert res.stats["steps"] < 20_000


def test_hires_against_scipy():
    t = np.array([0.0, 1.0, 10.0, 100.0, 321.8122, 421.8122])
    res = bdf.solve(hires, hires_jac, HIRES_Y0, t, rtol=1e-10, atol=1e-13)
    assert res.success, res.status
    ref = reference(hires, hires_jac, HIRES_Y0, t)
    np.testing.assert_allclose(res.y, ref, rtol=1e-6, atol=1e-12)
    # the test set's reference value of y8 at t = 321.8122
    assert res.y[7, 4] == pytest.approx(0.002850001604814231, rel=1e-6)


def test_tolerance_convergence():
    """Tighter tolerances give smaller errors, roughly in proportion."""
    t = np.array([0.0, 1.0, 10.0, 100.0, 321.8122])
    ref = reference(hires, hires_jac, HIRES_Y0, t)
    errors = []
    for rtol in (1e-4, 1e-6, 1e-8, 1e-10):
        res = bdf.solve(hires, hires_jac, HIRES_Y0, t, rtol=rtol, atol=rtol * 1e-3)
        assert res.success
        errors.append(np.max(np.abs(res.y - ref) / (np.abs(ref) + 1e-6)))
    assert all(a > b for a, b in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 1e-7 and errors[0] > 10 * errors[-1]


def test_protocol_segments_jumps_and_parameters():
    """A bolus at a cut adds to the state; a segment's parameters apply to it alone."""
    t = np.array([0.0, 1.0, 2.0, 3.0])
    cuts = np.array([0.0, 1.0, 3.0])
    jumps = np.array([[0.0], [5.0], [0.0]])  # +5 at t = 1
    params = np.array([[1.0], [2.0]])  # decay rate 1, then 2

    res = bdf.solve(DECAY, DECAY_JAC, np.array([1.0]), t, cuts=cuts, jumps=jumps,
                    params=params, rtol=1e-10, atol=1e-12)
    y1 = np.exp(-1.0) + 5.0
    np.testing.assert_allclose(res.y[0], [1.0, y1, y1 * np.exp(-2.0), y1 * np.exp(-4.0)],
                               rtol=1e-8)


@numba.njit(bdf.RHS_SIGNATURE)
def DECAY(t, y, p):
    return -p[0] * y


@numba.njit(bdf.JAC_SIGNATURE)
def DECAY_JAC(t, y, p):
    return -p[0] * np.eye(y.size)


# ------------------------------------------------------------------ failures


def test_max_step_is_respected():
    t = np.array([0.0, 10.0])
    free = bdf.solve(DECAY, DECAY_JAC, np.array([1.0]), t, p=np.array([0.1]), rtol=1e-3)
    capped = bdf.solve(DECAY, DECAY_JAC, np.array([1.0]), t, p=np.array([0.1]), rtol=1e-3,
                       max_step=0.05)
    assert capped.success and capped.stats["steps"] >= 200 > free.stats["steps"]


@numba.njit(bdf.RHS_SIGNATURE)
def nan_after_one(t, y, p):
    return np.array([np.nan if t > 1.0 else -y[0]])


def test_non_finite_derivative_is_reported_not_looped():
    res = bdf.solve(nan_after_one, DECAY_JAC, np.array([1.0]), np.array([0.0, 0.5, 2.0]),
                    p=np.array([1.0]))
    # it closes in on t = 1 with ever smaller steps, then stops and names the state
    assert res.code in (bdf.CONV_FAILURES, bdf.TOO_SMALL_STEP) and res.bad_index == 0
    assert res.t[-1] == 0.5  # what was computed before is kept


def test_step_budget():
    res = bdf.solve(van_der_pol, van_der_pol_jac, np.array([2.0, 0.0]),
                    np.array([0.0, 3000.0]), p=np.array([1000.0]), max_steps=50)
    assert res.code == bdf.TOO_MANY_STEPS and res.status == "more than max_steps step attempts"


# ------------------------------------------------------------------ the cord model at its bounds


@pytest.mark.slow
@pytest.mark.parametrize("dose", [("sev_naive", "2.4e10 particle", "iv", "daily", 3),
                                  ("msc", "1e6 cell", "iv", "bolus", 1)], ids=["sEV", "MSC"])
def test_corner_draws_at_tight_tolerance_succeed_where_scipy_does(dose):
    """Parameters at their bounds (each physiological one at its low or high end), doses, and
    rtol 1e-10: the kernel reaches day 70 whenever SciPy's BDF does, with the same answer."""
    import cordsim
    from cordsim.run.cohort import varied_parameters

    product, amount, route, schedule, count = dose
    protocol = cordsim.Protocol((cordsim.Dose(product, amount, route, schedule, start=3,
                                              count=count),))
    sims = {m: cordsim.Simulation(injury="moderate", protocol=protocol,
                                  solver=cordsim.Solver(method=m, rtol=1e-10))
            for m in ("compiled", "BDF")}
    params = sims["compiled"].parameters
    names = varied_parameters(params)
    rng = np.random.default_rng(8)
    days = np.array([0.0, 1.0, 7.0, 28.0, 70.0])
    for _ in range(6):
        ends = rng.integers(0, 2, len(names))
        values = {n: params.records[n].bounds[e] for n, e in zip(names, ends, strict=True)}
        ref = sims["BDF"].solve(days, values=values)
        res = sims["compiled"].solve(days, values=values)
        assert res.ok or not ref.ok, res.status
        if ref.ok:
            scale = sims["compiled"].state_atol / 1e-9
            np.testing.assert_allclose(res.y, ref.y, rtol=1e-5, atol=1e-9 * scale.max())

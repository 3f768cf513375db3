"""The compiled BDF kernel reproduces SciPy's LSODA over whole protocols and reports failures."""

from __future__ import annotations

import numpy as np
import pytest

import cordsim
from cordsim.design.dosing import Dose, Protocol

TIGHT = {"rtol": 1e-8, "atol": 1e-12}


def test_compiled_matches_lsoda(protocol):
    runs = {method: cordsim.Simulation(injury="moderate", protocol=protocol,
                                       solver=cordsim.Solver(method=method, **TIGHT)).run(70)
            for method in ("LSODA", "compiled")}
    ref, res = runs["LSODA"], runs["compiled"]
    model = cordsim.CordModel()
    scale = dict(zip(model.state_names, model.state_scales, strict=True))
    for col in cordsim.TIMECOURSE_COLUMNS[1:]:
        for day in (1, 7, 28, 70):
            tol = {"rel": 1e-3, "abs": 1e-6 * scale.get(col, 1.0)}
            assert res.at(col, day) == pytest.approx(ref.at(col, day), **tol), (col, day)
    assert res.at("bbb_score", 70) == pytest.approx(ref.at("bbb_score", 70), rel=1e-5)


def test_bolus_shows_at_its_own_time():
    prot = Protocol((Dose("sev_naive", "2.4e10 particle", "iv", start=5),), name="bolus")
    res = cordsim.Simulation(injury="moderate", protocol=prot,
                             solver=cordsim.Solver(method="compiled")).run(10, dt=1.0)
    plasma = res.to_dataframe()["sev_plasma"].to_numpy()
    assert plasma[4] == 0.0 and plasma[5] == pytest.approx(2.4e10, rel=1e-12)
    # cleared afterwards (within a day at the fitted clearance: ~0 up to the solver's
    # absolute tolerance, never meaningfully negative)
    assert -1e-9 * plasma[5] < plasma[6] < 1e-3 * plasma[5]
    assert np.all(res["sev_input_total"][res.time >= 5] == pytest.approx(2.4e10, rel=1e-9))


def test_failure_keeps_partial_result():
    prot = Protocol((Dose("sev_naive", "2.4e10 particle", "iv", start=5),), name="bolus")
    sim = cordsim.Simulation(injury="moderate", protocol=prot,
                             solver=cordsim.Solver(method="compiled"))
    bad = {"d_sev_organ": -2000.0}  # organ sEVs multiply: they overflow after the dose
    with pytest.raises(cordsim.SimulationError, match=r"at day 5(\.\d+)? .* compiled: step size"):
        sim.run(days=20, values=bad)
    res = sim.run(days=20, values=bad, throw=False)
    assert not res.ok and 5.0 <= res.time[-1] < 5.5
    good = sim.run(days=20)
    before = res.time <= 5.0  # everything computed before the dose is kept, unchanged
    np.testing.assert_allclose(res["neurons_fraction"][before],
                               good["neurons_fraction"][good.time <= 5.0], rtol=1e-12)


@pytest.mark.parametrize("bad", [{"d_sev_organ": float("nan")}, {"d_sev_organ": float("inf")}])
def test_non_finite_parameters_fail_with_a_message(bad):
    prot = Protocol((Dose("sev_naive", "2.4e10 particle", "iv", start=5),), name="bolus")
    sim = cordsim.Simulation(injury="moderate", protocol=prot)
    res = sim.run(days=10, values=bad, throw=False)
    assert not res.ok and "non-finite" in res.status and res.time[-1] < 5.0


def test_overflowing_dose_fails_with_a_message():
    """A dose that overflows (the amount is refused above 1e15 particles, so an absurd
    extravasation rate does it) stops the solver with the day and the state."""
    prot = Protocol((Dose("sev_naive", "1e15 particle", "iv", start=2),), name="absurd")
    with pytest.raises(cordsim.SimulationError, match=r"at day 2 .*non-finite .* in sev_"):
        cordsim.Simulation(injury="moderate", protocol=prot).run(
            days=5, values={"k_lesion_extravasation": 1e300})


@pytest.mark.parametrize("method", ["compiled", "LSODA"])
def test_dose_times_and_report_times_meet(method):
    solver = cordsim.Solver(method=method)
    at_end = Protocol((Dose("sev_naive", "2.4e10 particle", "iv", start=5),), name="end")
    res = cordsim.Simulation(injury="moderate", protocol=at_end, solver=solver).run(5, dt=1.0)
    assert res.time[-1] == 5.0 and res["sev_input_total"][-1] == pytest.approx(2.4e10)
    # 3 * 0.3 is 0.8999999999999999 in floating point: the report at "0.9" is the dose time
    early = Protocol((Dose("sev_naive", "2.4e10 particle", "iv", start=0.9),), name="early")
    res = cordsim.Simulation(injury="moderate", protocol=early, solver=solver).run(1.5, dt=0.3)
    table = res.to_dataframe()
    assert table["time_day"].iloc[3] == 0.9
    assert table["sev_input_total"].iloc[3] == pytest.approx(2.4e10)
    assert res.time[-1] == 1.5

"""Whole runs: invariants (homeostasis, non-negativity, balances) and the acceptance behaviours."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import cordsim
from cordsim.evaluation.claims import SEVERITIES
from cordsim.evaluation.observations import peak_time


def test_sham_stays_at_homeostasis_for_70_days(runs):
    res = runs["none"]
    assert res.ok and res.time[-1] == pytest.approx(70.0)
    for name, values in res.data.items():
        ref = max(abs(float(values[0])), 1e-12)
        assert np.max(np.abs(values - values[0])) / ref < 1e-6, name
    assert res.at("bbb_score", 70) == pytest.approx(21.0)
    assert res.at("bscb_permeability", 70) == pytest.approx(1.0)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_no_state_negative(runs, severity):
    res = runs[severity]
    assert res.ok
    worst = {n: float(np.min(v)) for n, v in res.data.items()}
    assert min(worst.values()) > -1e-6, min(worst, key=worst.get)


def test_neutrophils_peak_then_fall(runs):
    r = runs["moderate"]
    t, pk = r.peak("neutrophils")
    assert 0.5 <= t <= 2.0
    assert r.at("neutrophils", 10) < 0.35 * pk


def test_microglia_activated_within_hours(runs, params):
    assert runs["moderate"].at("microglia_activated", 0.25) > 0.25 * params["microglia_density"]


def test_microglia_peak_days_later_by_proliferation(runs):
    """Activated within hours, microglia keep dividing for days and peak on day 2-7 (Zhou 2018:
    day 7 after a clip compression), then fall below the macrophages by day 14."""
    r = runs["moderate"]
    t, pk = r.peak("microglia_activated")
    assert 2.0 <= t <= 7.0
    assert pk > 1.3 * r.at("microglia_activated", 0.25)
    assert r.at("microglia_activated", 14) < r.at("macrophages", 14)


def test_macrophages_dominate_from_first_week(runs):
    r = runs["moderate"]
    late = r.time >= 7
    assert np.all(r["macrophages"][late] > r["neutrophils"][late])
    assert r.at("macrophages", 3) < 5 * r.at("neutrophils", 3)  # not before the neutrophil wave


def test_m2_is_a_transient_minority(runs):
    """Revised spec 2 (Kigerl 2009: the M2 response is 'smaller and transient')."""
    r = runs["moderate"]
    m2 = r["m2_fraction_macrophages"]
    counted = r.time >= 0.5
    assert np.max(m2[counted]) <= 0.5
    assert 3 <= r.time[counted][int(np.argmax(m2[counted]))] <= 7
    assert np.max(m2[r.time >= 14]) <= 0.3


def test_m1_activity_peaks_in_the_first_week_and_falls(runs):
    """Revised spec 2 (Kisucka 2021, Popovich 1997): no foam-cell growth of M1-like cells."""
    r = runs["moderate"]
    m1 = (r["macrophages"] * (1 - r["m2_fraction_macrophages"])
          + r["microglia_activated"] * (1 - r["m2_fraction_microglia"]))
    assert 5 <= r.time[int(np.argmax(m1))] <= 10
    assert np.interp(14, r.time, m1) <= 0.8 * np.interp(7, r.time, m1)
    assert 0.3 <= np.mean(m1[r.time >= 28]) / np.max(m1) <= 0.6


def test_bscb_leak_peaks_early_and_mostly_resolves(runs):
    """Revised spec 4 (rat tracer studies): largest at days 0.5-3, excess at day 7 <= half and
    at day 14 <= a quarter of the peak excess, a low plateau to day 70."""
    r = runs["moderate"]
    t_peak, peak = r.peak("bscb_permeability", start=0.25)
    assert 0.5 <= t_peak <= 3
    excess = {d: (r.at("bscb_permeability", d) - 1) / (peak - 1) for d in (7, 14, 70)}
    assert excess[7] <= 0.5 and excess[14] <= 0.25
    assert 0.05 <= excess[70] <= 0.25 and r.at("bscb_permeability", 70) > 1.05


def test_bbb_by_severity(runs):
    bbb = {s: float(runs[s]["bbb_score"][-1]) for s in ("mild", "moderate", "severe")}
    assert bbb["mild"] > bbb["moderate"] > bbb["severe"]
    # spec 1: BBB at 6 weeks by preset
    for s, (lo, hi) in {"mild": (15, 18), "moderate": (10, 13), "severe": (4, 8)}.items():
        assert lo <= runs[s].at("bbb_score", 42) <= hi, s
    for s in ("mild", "moderate", "severe", "compression"):
        assert runs[s].at("bbb_score", 1) <= 2.5


def test_myelin_balance(runs, params, model):
    """Myelin accounting: free + internalized changes only by sources and processing.

    Checked on the rate laws at every saved state of a moderate run, so the identity is
    exact (no quadrature error): uptake moves myelin between compartments and cancels.
    """
    r = runs["moderate"]
    p = dict(params.values)
    for i in range(0, len(r.time), 8):
        y = {name: float(r[name][i]) for name in model.states}
        outs, rates = model.evaluate(float(r.time[i]), y, p)
        total_rate = rates["myelin_debris"] + rates["myelin_internalized"]
        expected = (outs["oligodendrocyte_death_flux"] + outs["wallerian_myelin_flux"]
                    - p["d_myelin_processing"] * y["myelin_internalized"])
        assert total_rate == pytest.approx(expected, rel=1e-9, abs=1e-15)
        assert outs["myelin_uptake"] > 0 or r.time[i] == 0


def test_result_provenance_and_units(runs):
    ds = runs["moderate"].to_xarray()
    assert ds["tnf"].attrs["units"] == "pg/mL"
    assert ds["neutrophils"].attrs["units"] == "cell/mm^3"
    assert ds.attrs["parameter_set_hash"] == cordsim.default_parameters().replace(
        cordsim.Injury("moderate").values()).hash
    assert ds.attrs["injury_severity_preset"] == "moderate"
    assert '"method": "compiled"' in ds.attrs["solver"]


def test_netcdf_round_trip(runs, tmp_path):
    import xarray as xr

    path = runs["moderate"].to_netcdf(tmp_path / "t.nc")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        np.testing.assert_allclose(ds["bbb_score"].values, runs["moderate"]["bbb_score"])
        assert ds["bbb_score"].attrs["units"] == "1"
        assert ds.attrs["cordsim_version"] == cordsim.__version__


def test_solvers_agree():
    """LSODA (default) and BDF give the same trajectory within tolerance."""
    a = cordsim.Simulation(injury="moderate").run(days=28)
    b = cordsim.Simulation(injury="moderate",
                           solver=cordsim.Solver(method="BDF", rtol=1e-8, atol=1e-10)).run(days=28)
    for name in ("neutrophils", "macrophages", "bscb_permeability", "bbb_score", "tnf"):
        np.testing.assert_allclose(a[name], b[name], rtol=2e-3, atol=1e-3 * np.max(b[name]))


def test_solver_failure_keeps_partial_result():
    """SciPy path (the compiled kernel's failures: test_compiled_solver.py)."""
    sim = cordsim.Simulation(injury="moderate", solver=cordsim.Solver(method="LSODA"))
    good = sim.compiled.rhs

    def bad(t, y, p):
        out = good(t, y, p)
        if t > 5.0:
            out[sim.model.state_names.index("tnf")] = np.nan
        return out

    sim.compiled = dataclasses.replace(sim.compiled, rhs=bad)
    with pytest.raises(cordsim.SimulationError, match="solver failed at day") as err:
        sim.run(days=20)
    partial = err.value.partial
    assert partial is not None and not partial.ok
    assert 4.0 <= partial.time[-1] <= 5.5
    assert np.all(np.isfinite(partial["neutrophils"]))
    res = sim.run(days=20, throw=False)
    assert "solver failed" in res.status and res.time[-1] == partial.time[-1]


def test_resident_cells_make_an_early_cytokine_burst(params, runs):
    """The resident cells' immediate-early response: cytokine synthesis (what mRNA tracks)
    peaks within hours and is back near baseline by day 1 (Yakovlev & Faden 1994, Hayashi
    2000), while the protein outlasts it (Xu 1998: TNF-alpha 4.5-fold at day 1)."""
    res = runs["moderate"]
    for name in ("tnf_synthesis", "il1b_synthesis", "il6_synthesis"):
        assert peak_time(res, name) < 0.25, name
    syn = res["tnf_synthesis"]
    # well below its peak by day 1 (8%: Yakovlev & Faden's "back to normal", <= 5%, row
    # acu002, is one of the calibration rows the fit misses; README "Validation")
    assert res.at("tnf_synthesis", 1.0) < 0.1 * float(np.max(syn))
    assert res.at("tnf", 1.0) > 0.05 * float(np.max(res["tnf"]))
    assert peak_time(res, "tnf") < 0.5
    # without the burst the lesion's cytokines come from leukocytes and peak a day later
    with pytest.warns(UserWarning, match="outside its plausible bounds"):  # a knock-out
        quiet_params = params.replace(s_tnf_resident=0.0, s_il1b_resident=0.0,
                                      s_il6_resident=0.0)
    quiet = cordsim.Simulation(parameters=quiet_params, injury="moderate").run(days=3)
    assert peak_time(quiet, "tnf_synthesis") > 0.4
    assert float(np.max(quiet["tnf"])) < 0.2 * float(np.max(res["tnf"]))


def test_resident_cells_answer_tnf_with_il1b_and_il6(params, runs):
    """TNF-alpha's mRNA peaks first, IL-1beta's and IL-6's after it (Hayashi 2000: TNF-alpha
    at 1 h, IL-6 at 3 h, IL-1beta at 6 h), because resident cells make those two on TNF-alpha
    signalling: blocking it (Pan 2002, receptor antagonists) leaves little of their early
    synthesis."""
    res = runs["moderate"]
    assert peak_time(res, "tnf_synthesis") < peak_time(res, "il1b_synthesis")
    assert peak_time(res, "tnf_synthesis") < peak_time(res, "il6_synthesis")
    blocked = cordsim.Simulation(parameters=params.replace(ec50_tnf_glia=1e5),
                                 injury="moderate").run(days=2)
    early, early_blocked = res.time <= 0.5, blocked.time <= 0.5
    # (a third of IL-1beta's early synthesis is left: the neutrophils' and microglia's own)
    assert float(np.max(blocked["il1b_synthesis"][early_blocked])) \
        < 0.5 * float(np.max(res["il1b_synthesis"][early]))
    # IL-6 less so (62% left on the rat-data fit: astrocytes make it on IL-1beta too)
    assert float(np.max(blocked["il6_synthesis"][early_blocked])) \
        < 0.75 * float(np.max(res["il6_synthesis"][early]))


def test_no_burst_without_injury(runs):
    res = runs["none"]
    assert float(np.max(res["resident_response"])) == 0.0
    assert float(np.max(res["tnf_synthesis"])) == 0.0

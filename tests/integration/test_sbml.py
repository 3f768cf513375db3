"""SBML export: libsbml finds no errors, and libRoadRunner reproduces cordsim's trajectories."""

from __future__ import annotations

import pytest

import cordsim
from cordsim.design.dosing import Dose, Protocol

libsbml = pytest.importorskip("libsbml")
roadrunner = pytest.importorskip("roadrunner")

from cordsim.io.sbml import check_sbml, export_sbml

TIGHT = cordsim.Solver(rtol=1e-10, atol=1e-12)  # particle tails span 1e-16..1e10


@pytest.mark.slow
def test_roadrunner_reproduces_cordsim(protocol):
    sim = cordsim.Simulation(injury="moderate", protocol=protocol, solver=TIGHT)
    text = export_sbml(sim)
    assert check_sbml(text) == []
    rr = roadrunner.RoadRunner(text)
    rr.integrator.relative_tolerance = TIGHT.rtol
    rr.integrator.absolute_tolerance = TIGHT.atol
    cols = [c for c in cordsim.TIMECOURSE_COLUMNS if c != "time_day"]
    rr.timeCourseSelections = ["time", *cols]
    out = rr.simulate(0, 70, 141)
    ref = sim.run(days=70)
    # absolute tolerance in each state's own scale: 1e-6 of a 1e9-particle dose, not 1e-6
    # particle (cordsim integrates particle states to atol x 1e9)
    scale = dict(zip(sim.model.state_names, sim.model.state_scales, strict=True))
    for day in (1, 7, 28, 70):
        row = int(round(2 * day))
        assert out[row, 0] == pytest.approx(day)
        for j, col in enumerate(cols, start=1):
            assert out[row, j] == pytest.approx(ref.at(col, day), rel=1e-3,
                                                abs=1e-6 * scale.get(col, 1.0)), (col, day)


def test_export_carries_units_sources_and_events(tmp_path):
    doses = Dose("sev_naive", "2.4e10 particle", "iv", "daily", count=3, start=3)
    sim = cordsim.Simulation(protocol=Protocol((doses,), name="fractionated sEV"))
    doc = libsbml.readSBMLFromString(export_sbml(sim))
    m = doc.getModel()
    assert doc.getLevel() == 3
    par = m.getParameter("d_msc_lung")
    assert "Lee2009" in par.getNotesString() and "evidence measured" in par.getNotesString()
    assert m.getUnitDefinition(par.getUnits()) is not None
    assert par.getSBOTermID() == "SBO:0000009"
    assert m.getNumEvents() == 3
    assert m.getRateRule("sev_plasma") is not None
    assert m.getAssignmentRule("bbb_score") is not None


def test_cli_export(tmp_path):
    from cordsim.cli import main

    out = tmp_path / "default.xml"
    assert main(["export", "sbml", "default", "--arm", "fractionated sEV", "--out", str(out)]) == 0
    assert check_sbml(out.read_text()) == []
    assert main(["export", "sbml", "--out", str(tmp_path / "nh.xml")]) == 0
    assert main(["export", "sbml", "default", "--arm", "nope", "--out", str(out)]) == 2


def test_roadrunner_adds_up_doses_given_at_the_same_moment():
    """Two IV boluses and an intrathecal one on day 3, and a 'times' schedule with a repeated
    offset: every dose arrives in the exported model, as in cordsim."""
    doses = (Dose("sev_naive", "5e10 particle", "iv", start=3),
             Dose("sev_naive", "5e10 particle", "iv", start=3),
             Dose("sev_naive", "1e11 particle", "intrathecal", start=3),
             Dose("sev_naive", "1e10 particle", "iv", "times", start=1, times=(0.0, 0.0)))
    sim = cordsim.Simulation(injury="moderate", protocol=Protocol(doses), solver=TIGHT)
    rr = roadrunner.RoadRunner(export_sbml(sim))
    rr.integrator.relative_tolerance = TIGHT.rtol
    rr.integrator.absolute_tolerance = TIGHT.atol
    cols = ["sev_input_total", "sev_total", "sev_liver", "sev_csf"]
    rr.timeCourseSelections = ["time", *cols]
    out = rr.simulate(0, 6, 13)
    ref = sim.run(days=6)
    assert ref.at("sev_input_total", 5) == pytest.approx(2.2e11)
    for j, col in enumerate(cols, start=1):
        assert out[10, j] == pytest.approx(ref.at(col, 5), rel=1e-3), col  # day 5

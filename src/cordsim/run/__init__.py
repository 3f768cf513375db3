"""Running the model: one animal (Simulation), a scenario's arms, virtual cohorts."""

from cordsim.run.results import TIMECOURSE_COLUMNS, Provenance, ScenarioResult, SimulationResult
from cordsim.run.scenarios import run_scenario
from cordsim.run.simulation import Simulation

__all__ = ["TIMECOURSE_COLUMNS", "Provenance", "ScenarioResult", "Simulation",
           "SimulationResult", "run_scenario"]

"""cordsim: an in-silico laboratory for spinal cord injury and MSC-sEV therapy.

Examples
--------
>>> import cordsim
>>> result = cordsim.Simulation(injury="moderate").run(days=14)
>>> round(result.at("bbb_score", 1.0)) <= 2
True
"""

from cordsim import experiments, models
from cordsim._version import __version__
from cordsim.core import Model, ParameterSet
from cordsim.errors import (
    CordsimError,
    ModelError,
    ParameterError,
    ScenarioError,
    SimulationError,
    UnitError,
)
from cordsim.protocols import Injury
from cordsim.results import TIMECOURSE_COLUMNS, ScenarioResult, SimulationResult
from cordsim.scenario import Scenario, load_scenario, run_scenario
from cordsim.simulation import Simulation, default_parameters
from cordsim.solvers import Solver
from cordsim.therapy import Dose, Protocol

__all__ = [
    "TIMECOURSE_COLUMNS", "CordsimError", "Dose", "Injury", "Model", "ModelError",
    "ParameterError", "ParameterSet", "Protocol", "Scenario", "ScenarioError",
    "ScenarioResult", "Simulation", "SimulationError", "SimulationResult", "Solver",
    "UnitError", "__version__", "default_parameters", "experiments", "load_scenario",
    "models", "run_scenario",
]

"""cordsim: an in-silico laboratory for spinal cord injury and MSC-sEV therapy.

The package is layered as the pipeline runs (each layer imports only the ones below it):
``core`` (framework) -> ``numerics`` (engines) | ``biology`` (submodels, the cord model) ->
``data`` (parameter sets, presets, products, scenarios) -> ``design`` (injury, doses,
perturbations, scenarios) -> ``run`` (simulation, results, cohorts) -> ``io`` (SBML,
PEtab, figures) -> ``evaluation`` (claims, observations, validation) -> ``analysis``
(calibration, uncertainty, sensitivity, scans, protocol optimisation) -> ``cli``.

The analysis functions load on first use: ``cordsim.scan``, ``cordsim.optimize_protocol``,
``cordsim.run_sensitivity``.

Examples
--------
>>> import cordsim
>>> result = cordsim.Simulation(injury="moderate").run(days=14)
>>> round(result.at("bbb_score", 1.0)) <= 2
True
"""

from cordsim._version import __version__
from cordsim.biology import CordModel
from cordsim.core import Model, ParameterSet
from cordsim.data import default_parameters
from cordsim.design import Arm, Dose, Injury, Perturbation, Protocol, Scenario, load_scenario
from cordsim.errors import (
    CordsimError,
    ModelError,
    ParameterError,
    ScenarioError,
    SimulationError,
    UnitError,
)
from cordsim.numerics.solvers import Solver
from cordsim.run import (
    TIMECOURSE_COLUMNS,
    Provenance,
    ScenarioResult,
    Simulation,
    SimulationResult,
    run_scenario,
)

_LAZY = {"scan": "cordsim.analysis.scan", "optimize_protocol": "cordsim.analysis.optimize",
         "run_sensitivity": "cordsim.analysis.sensitivity"}


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cordsim' has no attribute {name!r}")


__all__ = [
    "TIMECOURSE_COLUMNS", "Arm", "CordModel", "CordsimError", "Dose", "Injury", "Model",
    "ModelError", "ParameterError", "ParameterSet", "Perturbation", "Protocol", "Provenance",
    "Scenario", "ScenarioError", "ScenarioResult", "Simulation", "SimulationError",
    "SimulationResult", "Solver", "UnitError", "__version__", "default_parameters",
    "load_scenario", "optimize_protocol", "run_scenario", "run_sensitivity", "scan",
]

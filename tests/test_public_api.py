"""The public surface is small and pinned."""

import cordsim


def test_public_names():
    assert sorted(cordsim.__all__) == sorted([
        "TIMECOURSE_COLUMNS", "Arm", "CordModel", "CordsimError", "Dose", "Injury", "Model",
        "ModelError", "ParameterError", "ParameterSet", "Perturbation", "Protocol",
        "Provenance", "Scenario", "ScenarioError", "ScenarioResult", "Simulation",
        "SimulationError", "SimulationResult", "Solver", "UnitError", "__version__",
        "default_parameters", "load_scenario", "optimize_protocol", "run_scenario",
        "run_sensitivity", "scan",
    ])
    for name in cordsim.__all__:
        assert hasattr(cordsim, name), name


def test_entry_point_loads():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "cordsim"]
    assert ep.load() is cordsim.cli.main

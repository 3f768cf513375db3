"""`cordsim validate`: every claim passes with default parameters, and a broken model fails."""

from __future__ import annotations

import re

import pytest

from cordsim.cli import main
from cordsim.evaluation.claims import CLAIMS
from cordsim.evaluation.experiments import experiment_names
from cordsim.evaluation.validate import validate


def test_validate_passes_with_defaults(capsys, tmp_path):
    """Every claim, experiment and invariant passes (exit 0); the table has one row per claim
    or observation with its set, and at least 30 validation rows (never tuned to)."""
    import pandas as pd

    csv = tmp_path / "v.csv"
    code = main(["validate", "--quiet", "--csv", str(csv)])
    out = capsys.readouterr().out
    assert code == 0, out
    table = pd.read_csv(csv)
    assert {"claim", "source", "set", "expected", "simulated", "pass"} <= set(table.columns)
    calibration = table[table["set"] == "calibration"]
    built_to = calibration[calibration["kind"] != "observation"]
    n_claims = len(CLAIMS) + len(experiment_names()) + 1  # + the sEV mass balance
    assert len(built_to) == n_claims and built_to["pass"].all()
    n_cal = int(calibration["pass"].sum())
    assert re.search(rf"calibration: {n_cal} of {len(calibration)} pass", out)
    # The calibration-set observations are fitted and all pass (Zhou 2018's microglial peak
    # since the signal-driven proliferation): any failing is a regression.
    observed = calibration[calibration["kind"] == "observation"]
    assert observed["pass"].all(), list(observed.loc[~observed["pass"], "id"])
    validation = table[table["set"] == "validation"]
    assert len(validation) >= 30
    n_pass = int(validation["pass"].sum())
    assert re.search(rf"validation: {n_pass} of {len(validation)} "
                     rf"pass \({100 * n_pass / len(validation):.0f}%\)", out)
    for name in experiment_names():
        assert f"experiment:{name}" in set(table["id"])


def test_validate_reports_failures(params):
    """A user who slows monocyte entry below its plausible range sees macrophage claims fail."""
    with pytest.warns(UserWarning, match="outside its plausible bounds"):
        slow = params.replace(k_monocyte_influx=50.0)
    table = validate(slow, experiments=False)
    failed = set(table.loc[~table["pass"], "id"])
    assert {"macrophages_first_weeks", "microglia_then_macrophages"} <= failed
    assert table["source"].str.len().gt(3).all()

"""`cordsim validate`: every claim passes with default parameters, and a broken model fails."""

from __future__ import annotations

import re

import pytest

from cordsim.cli import main
from cordsim.evaluation.claims import CLAIMS
from cordsim.evaluation.experiments import experiment_names
from cordsim.evaluation.validate import validate


def test_validate_passes_with_defaults(capsys, tmp_path):
    code = main(["validate", "--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    n_claims = len(CLAIMS) + len(experiment_names()) + 1  # + the sEV mass balance
    assert re.search(rf"\b{n_claims} passed, 0 failed", out), out[-300:]
    for name in experiment_names():
        assert f"experiment:{name}" in (tmp_path / "validation.csv").read_text()
    assert (tmp_path / "validation.csv").exists()


def test_validate_reports_failures(params):
    """A user who slows monocyte entry below its plausible range sees macrophage claims fail."""
    with pytest.warns(UserWarning, match="outside its plausible bounds"):
        slow = params.replace(k_monocyte_influx=50.0)
    table = validate(slow, experiments=False)
    failed = set(table.loc[~table["passed"], "id"])
    assert {"macrophages_first_weeks", "microglia_then_macrophages"} <= failed
    assert table["source"].str.len().gt(3).all()

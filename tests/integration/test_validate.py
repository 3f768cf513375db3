"""`cordsim validate`: every claim passes with default parameters, and a broken model fails."""

from __future__ import annotations

from cordsim.cli import main
from cordsim.validation import CLAIMS, validate


def test_validate_passes_with_defaults(capsys, tmp_path):
    code = main(["validate", "--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(CLAIMS)} passed, 0 failed" in out
    assert (tmp_path / "validation.csv").exists()


def test_validate_reports_failures(params):
    """A user who slows monocyte entry sees the macrophage claims fail."""
    table = validate(params.replace(k_monocyte_influx=200.0, k_neutrophil_influx=9e4))
    failed = set(table.loc[~table["passed"], "id"])
    assert "macrophage_dominance" in failed
    assert table["source"].str.len().gt(3).all()

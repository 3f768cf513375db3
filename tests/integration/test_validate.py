"""`cordsim validate`: every claim passes with default parameters, and a broken model fails."""

from __future__ import annotations

import re

import pytest

from cordsim.cli import main
from cordsim.evaluation.claims import CLAIMS
from cordsim.evaluation.experiments import experiment_names
from cordsim.evaluation.validate import validate

# calibration observations cordsim fails, each explained in the README's Validation section
# Calibration rows the fit does not meet (README "Validation" says why: the spec's lines
# outrank them, or the model lacks the mechanism); a change to this set is a change to report.
KNOWN_CALIBRATION_FAILURES = {
    "acu002", "acu015", "acu016", "bar010", "bar022", "bar023", "bar040", "bar047", "bar061",
    "imm004", "imm006", "imm007", "imm027", "imm083", "imm084", "imm090", "imm095", "thx006"}


def test_validate_passes_with_defaults(capsys, tmp_path):
    """Every claim, experiment and invariant passes (exit 0); the table has one row per claim
    or observation with its set, and at least 25 validation rows (never tuned to; the study
    split of the rat dataset holds out 23 studies)."""
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
    # The calibration-set observations pass except the one the README names: Kisucka's M1
    # attenuation from week 1 to 2 (imm090), against cordsim's late M1 rise. Any other failing
    # is a regression; imm090 passing would be news for the README.
    observed = calibration[calibration["kind"] == "observation"]
    assert set(observed.loc[~observed["pass"], "id"]) == KNOWN_CALIBRATION_FAILURES
    validation = table[table["set"] == "validation"]
    assert len(validation) >= 25
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
    assert {"target:macrophages_lead_day14", "target:m1_peak_day"} <= failed
    assert table["source"].str.len().gt(3).all()


def _point_member(params):
    """The shipped point estimate as an ensemble member (the fitted parameters' values)."""
    import pandas as pd

    from cordsim.data import ensemble_members

    names = list(ensemble_members(1).columns)
    return pd.DataFrame([{n: params[n] for n in names}])


def test_validate_ensemble_counts_each_member(params, monkeypatch):
    """Each row's ensemble pass rate is the share of members that pass it: a member equal to
    the shipped point passes what the point passes, a member that recovers at the slowest plausible rate fails the
    BBB levels, so those rows pass for half of a two-member ensemble."""
    import pandas as pd

    import cordsim.data
    from cordsim.evaluation.validate import validate_ensemble

    point = _point_member(params)
    slow = point.assign(k_locomotor_recovery=0.02)  # the slowest plausible recovery
    members = pd.concat([point, slow], ignore_index=True)
    monkeypatch.setattr(cordsim.data, "ensemble_members", lambda n: members.iloc[:n])
    table = validate(params, claims=[], experiments=False)
    rate, counts = validate_ensemble(2, params, claims=[], experiments=False)
    rate.index = table["id"]
    assert set(rate.unique()) <= {0.0, 0.5, 1.0}
    for row in ("bar028", "bar035"):  # BBB at days 28-42, calibration: the point passes
        assert table.set_index("id").loc[row, "pass"] and rate[row] == 0.5
    # a row the point fails can pass only for the other member
    failed = table.loc[~table["pass"], "id"]
    assert (rate[failed] <= 0.5).all()
    # per member: the first member's passes are the point's
    assert counts.loc[0].to_dict() == table.groupby("set")["pass"].sum().to_dict()
    assert counts.loc[1].sum() < counts.loc[0].sum()


def test_validate_ensemble_on_the_command_line(capsys, tmp_path, monkeypatch):
    """`cordsim validate --ensemble N` adds each row's pass rate over N posterior members to
    the table and prints the passes per member by set; a bad N is refused with its range."""
    import pandas as pd

    csv = tmp_path / "v.csv"
    assert main(["validate", "--quiet", "--ensemble", "2", "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(csv)
    assert table["ensemble_pass"].between(0, 1).all()
    assert set(table["ensemble_pass"].unique()) <= {0.0, 0.5, 1.0}
    assert "over 2 members of the posterior ensemble" in out
    assert re.search(r"validation: \d+\.\d of \d+ \(\d+-\d+\); rows failing for every "
                     r"member: \d+", out)
    import cordsim.evaluation.validate as module
    from cordsim.cli import EXIT_BAD_INPUT

    def never(*args, **kwargs):
        raise AssertionError("a bad option must be refused before the validation runs")

    monkeypatch.setattr(module, "validate", never)
    for bad, message in ((["--ensemble", "-1"], "--ensemble must be 0"),
                         (["--ensemble", "100000"], "from 1 to"),
                         (["--csv", str(tmp_path)], "--csv must name a file"),
                         (["--out", str(csv / "sub")], "is not writable")):
        assert main(["validate", "--quiet", *bad]) == EXIT_BAD_INPUT
        assert message in capsys.readouterr().err

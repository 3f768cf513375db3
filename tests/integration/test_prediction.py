"""Predict the next study (issue 21): the posterior predictive's study effects, trial sizes by
assurance, validation by prediction on the held-out studies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cordsim
from cordsim.cli import main
from cordsim.data import ensemble_members, observations
from cordsim.evaluation.predictive import heldout_rows, predict, predictive_validation
from cordsim.run.cohort import animals_for_assurance, animals_for_power, power_for_benefit
from cordsim.run.ensemble import StudyEffects, run_members


def _scenario():
    """100 ug IV sEVs at 3 h in a moderate contusion (the pooled analyses' typical design)."""
    sev = cordsim.Protocol((cordsim.Dose("sev_naive", "100 ug", "iv", start=0.125),))
    return cordsim.Scenario("sev-3h", (cordsim.Arm("vehicle"), cordsim.Arm("sEV", sev)),
                            days=42.0, dt=1.0)


@pytest.fixture(scope="module")
def sev_3h():
    """A study of that design, 100 members, for each predictive target."""
    return {t: run_members(_scenario(), ensemble_members(100), target=t)
            for t in ("known-severity", "new-study")}


def _at(runs, day):
    return np.array([np.interp(day, runs.times, g) for g in runs.gain("sEV")])


def test_a_new_study_of_ivsevs_brackets_both_pooled_differences(sev_3h):
    """The issue's acceptance: median gain in +1.2..+3.5 and the 90% band containing the
    contusion-only (+1.56, Mou 2025) and the all-model (+3.47, Ye 2024) pooled differences."""
    gains = _at(sev_3h["new-study"], 42)
    lo, med, hi = np.quantile(gains, [0.05, 0.5, 0.95])
    assert 1.2 <= med <= 3.5
    assert lo <= 1.56 and hi >= 3.47


def test_study_effects_widen_the_band_and_severity_moves_the_vehicle(sev_3h):
    known, new = sev_3h["known-severity"], sev_3h["new-study"]
    ctrl_known = known.arms["vehicle"]["bbb_score"][:, -1]
    ctrl_new = new.arms["vehicle"]["bbb_score"][:, -1]
    # known severity: the vehicle arm varies only with the ensemble's parameters (a few
    # touch the untreated course, a little); a new study's injury is a draw
    assert np.std(ctrl_known) < 0.1
    assert np.std(ctrl_new) > 10 * np.std(ctrl_known)
    # without study effects the members spread less than with them
    none = run_members(_scenario(), ensemble_members(100),
                       effects=StudyEffects(effect_sd=0.0, severity_sd=0.0))
    assert np.std(_at(none, 42)) < np.std(_at(known, 42))


def test_the_effect_factor_scales_treatment_effects_not_the_vehicle():
    effects = StudyEffects(effect_sd=0.39, severity_sd=0.088)
    factor, shift = effects.draw(4000, target="known-severity", seed=3)
    assert np.all(shift == 0) and np.all(factor > 0)
    assert np.median(np.log(factor)) == pytest.approx(0.0, abs=0.03)
    assert np.std(np.log(factor)) == pytest.approx(0.39, rel=0.05)
    _, shift = effects.draw(4000, target="new-study", seed=3)
    assert np.std(shift) == pytest.approx(0.088, rel=0.05)
    with pytest.raises(cordsim.ScenarioError, match="unknown predictive target 'old'"):
        effects.draw(3, target="old")


def test_assurance_is_below_power_at_the_median_when_effects_spread():
    rng = np.random.default_rng(0)
    d = np.exp(np.log(0.8) + 0.5 * rng.standard_normal(2000))  # effect sizes, median 0.8
    n = 20
    at_median = float(power_for_benefit(n, np.median(d)))
    assurance = float(np.mean(power_for_benefit(n, d)))
    assert assurance < at_median
    n_power = animals_for_power(np.median(d))
    n_assurance = animals_for_assurance(d)
    assert n_assurance > n_power
    assert np.mean(power_for_benefit(int(n_assurance), d)) >= 0.8
    assert np.mean(power_for_benefit(int(n_assurance) - 1, d)) < 0.8


def test_trial_reports_assurance_and_animals_for_it(tmp_path):
    assert main(["cohort", "default", "--n", "12", "--out", str(tmp_path)]) == 0
    tri = pd.read_csv(tmp_path / "trial.csv")
    for col in ("gain_median", "gain_q05", "gain_q95", "sd_between_animals",
                "power_at_median", "assurance", "n_per_arm_80_power_at_median",
                "n_per_arm_80_assurance"):
        assert col in tri, col
    row = tri[tri["endpoint"] == "bbb_observed"].iloc[0]
    assert 0 < row["assurance"] < 1 and row["gain_q05"] < row["gain_median"] < row["gain_q95"]
    assert row["n_per_arm_80_assurance"] >= row["n_per_arm_80_power_at_median"]


def test_heldout_rows_are_validation_numbers_with_an_observation_model():
    rows = heldout_rows()
    assert len(rows) >= 5
    assert (rows["set"] == "validation").all()
    assert rows["observation_model"].ne("").all()
    ids = set(observations().query("set == 'calibration'")["obs_id"])
    assert not ids & set(rows["obs_id"])


def test_a_prediction_covers_what_the_model_says_and_not_what_it_does_not():
    rows = heldout_rows()
    row = rows[rows["observation_model"] == "bbb"].iloc[[0]].copy()
    first = predict(row, members=30)
    assert first.loc[0, "lo90"] < first.loc[0, "median"] < first.loc[0, "hi90"]
    near = row.assign(value=str(first.loc[0, "median"]))
    far = row.assign(value=str(first.loc[0, "hi90"] + 10))
    a, b = predict(near, members=30).iloc[0], predict(far, members=30).iloc[0]
    assert a["inside"] and not b["inside"] and a["lpd"] > b["lpd"] + 3


@pytest.mark.slow
def test_predictive_validation_writes_every_column_the_issue_names(tmp_path):
    out = tmp_path / "pv.csv"
    code = main(["validate", "--predictive", "--csv", str(out), "--quiet"])
    assert code in (0, 1)  # 1: the held-out rows fall short of the issue's aims (README)
    table = pd.read_csv(out)
    for col in ("obs_id", "study", "observable", "time_day", "observed", "lo90", "hi90",
                "inside", "lpd", "lpd_no_therapy", "lpd_empirical"):
        assert col in table, col
    assert (table["lo90"] < table["hi90"]).all()
    vehicle = table[table["condition"].isin(["vehicle", "untreated"])]
    # no therapy and cordsim predict a vehicle row alike
    assert np.allclose(vehicle["lpd"], vehicle["lpd_no_therapy"])
    _, summary = predictive_validation(members=20)
    assert summary["rows"] == len(table)
    assert 0 <= summary["coverage"] <= 1

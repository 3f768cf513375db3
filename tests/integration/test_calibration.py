"""Calibration: the dataset as PEtab in and out, a calibration that runs end to end, the
shipped parameter set an optimum of the shipped problem, therapy effects against the dataset,
cohorts from fitted variability, ensembles."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import cordsim
from cordsim.cli import EXIT_BAD_INPUT, main
from cordsim.data import data_path
from cordsim.errors import CordsimError


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    out = tmp_path_factory.mktemp("petab")
    assert main(["petab", "export", "--out", str(out)]) == 0
    return out / "cordsim_rat_calibration.yaml"


def test_petab_export_passes_the_linter(problem):
    import petab.v1 as petab

    from cordsim.io.petab import lint, quiet_petab

    assert lint(problem)
    with quiet_petab():
        p = petab.Problem.from_yaml(str(problem))
    assert {"obs_bbb", "obs_bbb_md_pooled", "obs_tgfb1_mrna_molecules"} <= set(
        p.observable_df.index)
    estimated = set(p.parameter_df.index[p.parameter_df["estimate"] == 1])
    assert set(pd.read_csv(data_path("calibration", "estimated.tsv"), sep="\t",
                           comment="#")["parameterId"]) <= estimated
    assert {"pooled_inflation", "bbb_sd_within", "severity_Kloos2005_intermediate"} <= estimated
    rows = cordsim.data.observations()
    fit = rows[(rows["use"] == "fit") & (rows["set"] == "calibration")]
    assert set(p.measurement_df["datasetId"]) == set(fit["obs_id"])
    # each study's rows share one severity parameter; pooled rows run the moderate preset
    kloos = p.condition_df.loc[[c for c in p.condition_df.index if c.startswith("Kloos2005")],
                               "injury_severity"]
    assert kloos.nunique() == 3 and all(str(v).startswith("severity_Kloos2005") for v in kloos)
    ye = p.condition_df.loc[[c for c in p.condition_df.index if c.startswith("Ye2024")],
                            "injury_severity"]
    assert (ye.astype(float) == cordsim.data.injury_presets()["moderate"]["injury_severity"]).all()


def test_overlapping_meta_analyses_count_as_one_source(problem):
    """Rows of the pooled-source group MA_MSC_EV (Ye 2024, Mou 2025, ... pool the same rat
    studies) have their SDs widened by the square root of the number of its meta-analyses
    that report the quantity."""
    import petab.v1 as petab

    from cordsim.io.petab import quiet_petab, row_sigma

    with quiet_petab():
        p = petab.Problem.from_yaml(str(problem))
    meas = p.measurement_df.set_index("datasetId")
    rows = cordsim.data.observations().set_index("obs_id")
    models = cordsim.data.assays()["models"]
    ye = rows.loc["thx001"]
    ratio = meas.loc["thx001", "noiseParameters"] / row_sigma(ye, models["bbb_md"])
    group = rows[(rows["source_group"] == "MA_MSC_EV") & (rows["set"] == "calibration")
                 & rows["observation_model"].isin(["bbb_md", "bbb_smd"])]
    assert ratio == pytest.approx(np.sqrt(group["study"].nunique()))
    assert meas.loc["bar028", "noiseParameters"] == pytest.approx(
        row_sigma(rows.loc["bar028"], models["bbb"]))  # a primary study: not widened


def _small_problem(problem, tmp_path):
    """Two estimated parameters, the natural-history measurements only."""
    import shutil

    for f in problem.parent.iterdir():
        shutil.copy(f, tmp_path / f.name)
    params = pd.read_csv(tmp_path / "parameters.tsv", sep="\t")
    keep = params["parameterId"].isin(["k_locomotor_recovery", "ec50_function_substrate"])
    # the problem's own parameters (study severities, observation parameters) stay in the
    # table, fixed at their nominal values; cordsim's other parameters leave it
    own = ~params["parameterId"].isin(list(cordsim.default_parameters().records))
    params.loc[own, "estimate"] = 0
    params[keep | own].to_csv(tmp_path / "parameters.tsv", sep="\t", index=False)
    meas = pd.read_csv(tmp_path / "measurements.tsv", sep="\t")
    meas[meas["observableId"] == "obs_bbb"].to_csv(tmp_path / "measurements.tsv",
                                                    sep="\t", index=False)
    return tmp_path / problem.name


def test_each_protocol_gets_its_own_condition_and_infusions_are_refused(monkeypatch):
    """A 'times' schedule is its own condition (it shared the bolus's, so its doses were
    simulated as the bolus); an infusion, which bolus slots cannot carry, is refused."""
    import cordsim.io.petab as petab_io
    from cordsim.errors import ScenarioError

    rows = cordsim.data.observations()
    bolus = rows[rows["obs_id"] == "thx001"].iloc[0]
    dose = json.loads(bolus["protocol"])[0]
    times = bolus.copy()
    times["obs_id"], times["protocol"] = "x_times", json.dumps(
        [{**dose, "schedule": "times", "times": [0, 1]}])
    extra = pd.DataFrame([times])
    monkeypatch.setattr(petab_io, "observations", lambda: pd.concat([rows, extra]))
    tables = petab_io.problem_tables()
    m = tables["measurements"].set_index("datasetId")["simulationConditionId"]
    assert m["x_times"] != m["thx001"]
    slots = tables["conditions"].loc[m["x_times"]]
    assert (slots.filter(like="_time") < 1e8).sum() == 2  # two doses, not the bolus's one
    infusion = bolus.copy()
    infusion["obs_id"], infusion["protocol"] = "x_infusion", json.dumps(
        [{**dose, "schedule": "infusion", "duration": 2}])
    monkeypatch.setattr(petab_io, "observations",
                        lambda: pd.concat([rows, pd.DataFrame([infusion])]))
    with pytest.raises(ScenarioError, match="x_infusion: an infusion cannot be exported"):
        petab_io.problem_tables()


def test_identifiability_compares_widths_within_the_bounds(problem):
    """A parameter the data do not touch (posterior = prior) scores 1, not the ~0.5 that the
    prior's SD before the cut at its bounds gave; a posterior 10x narrower scores ~0.1."""
    from scipy.stats import truncnorm

    from cordsim.analysis.calibration import PetabObjective, estimates_table
    from cordsim.analysis.uncertainty import bounded_sd

    assert bounded_sd(0.0, 1.0, -1.0, 1.0) == pytest.approx(
        truncnorm(-1, 1).std())  # ~0.54 of the SD: the shipped priors' case
    obj = PetabObjective(problem)
    untouched = estimates_table(obj, obj.prior_mean, obj.prior_sd)
    assert np.allclose(untouched["posterior_to_prior_sd"], 1.0)
    assert set(untouched["determined_by"]) == {"prior (not identifiable)"}
    middle = (obj.lb + obj.ub) / 2  # far from both bounds (a prior mean may sit on one)
    narrow = estimates_table(obj, middle, obj.prior_sd_bounded / 10)
    assert np.allclose(narrow["posterior_to_prior_sd"], 0.1, rtol=0.02)
    assert set(narrow["determined_by"]) == {"data"}


def test_a_small_calibration_runs_end_to_end(problem, tmp_path):
    (tmp_path / "p").mkdir()
    small = _small_problem(problem, tmp_path / "p")
    out = tmp_path / "fit"
    assert main(["calibrate", str(small), "--out", str(out), "--starts", "2",
                 "--max-nfev", "15", "--ensemble-draws", "400", "--no-spec-targets"]) == 0
    for name in ("estimates.csv", "fit.csv", "starts.csv", "rat.toml", "summary.json",
                 "samples.csv", "ensemble.json", "fig_fit.png", "fig_waterfall.png",
                 "fig_identifiability.png", "targets.csv", "prior_predictive.csv"):
        assert (out / name).stat().st_size > 0, name
    est = pd.read_csv(out / "estimates.csv")
    assert set(est["parameterId"]) == {"k_locomotor_recovery", "ec50_function_substrate"}
    assert pd.read_csv(out / "targets.csv").empty  # --no-spec-targets
    prior = pd.read_csv(out / "prior_predictive.csv")  # what the priors alone imply
    assert len(prior) == 3 and (prior["prior_q05"] <= prior["prior_q95"]).all()
    assert (prior["prior_draws"] == 100).all() and prior["best_fit"].notna().all()
    assert (est["estimate"] >= est["lower"]).all() and (est["estimate"] <= est["upper"]).all()
    starts = pd.read_csv(out / "starts.csv")
    from cordsim.analysis.calibration import PetabObjective

    obj = PetabObjective(small)
    assert starts["objective"].min() <= obj.neg_log_posterior(obj.prior_mean) + 1e-9
    fitted = cordsim.ParameterSet.load(out / "rat.toml", cordsim.CordModel())
    assert fitted.records["k_locomotor_recovery"].evidence == "fitted"
    members = pd.read_csv(out / "samples.csv")
    assert len(members) == 200
    lower = est.set_index("parameterId")["lower"]
    upper = est.set_index("parameterId")["upper"]
    for name in ("k_locomotor_recovery", "ec50_function_substrate"):
        assert members[name].between(lower[name], upper[name]).all(), name
    diag = json.loads((out / "ensemble.json").read_text())
    assert diag["unique_members"] > 20 and diag["effective_sample_size"] > 20
    # posterior draws fit the data about as well as the best fit (not ~10 log-units worse)
    assert diag["neg_log_posterior_members_median"] < diag["neg_log_posterior_best"] + 3
    # a lab designs with its own fit: cordsim run --parameters (issue 21)
    scen = tmp_path / "two.toml"
    scen.write_text('name = "two"\ndays = 21\ndt = 1\n[[arms]]\nname = "vehicle"\n'
                    '[[arms]]\nname = "sEV"\ndoses = [{product = "sev_naive", '
                    'amount = "100 ug", route = "iv", start = 0.125}]\n')
    run = tmp_path / "run"
    assert main(["run", str(scen), "--parameters", str(out), "--ensemble", "20",
                 "--out", str(run)]) == 0
    own = cordsim.Simulation(parameters=fitted).run(days=21, dt=1)
    tc = pd.read_csv(run / "timecourse.csv")
    vehicle = tc[tc["arm"] == "vehicle"]
    assert vehicle["bbb_score"].iloc[-1] == pytest.approx(own["bbb_score"][-1], rel=1e-6)
    shipped = cordsim.Simulation().run(days=21, dt=1)
    assert abs(own["bbb_score"][-1] - shipped["bbb_score"][-1]) > 1e-6  # not the shipped fit
    bands = pd.read_csv(run / "ensemble.csv")
    assert (bands["members"] == 20).all()
    ends = pd.read_csv(run / "endpoints.csv", index_col="arm")
    assert ends["point"].str.contains("20 fitted parameter sets").all()


def test_max_nfev_bounds_the_residual_evaluations(problem, tmp_path):
    """pyPESTO overwrote a ``max_nfev`` option with None: every fit ran to scipy's default
    of 100 evaluations per parameter, whatever ``--max-nfev`` said."""
    from cordsim.analysis.calibration import PetabObjective, fit

    obj = PetabObjective(_small_problem(problem, tmp_path), spec_targets=False)
    calls = []
    residuals = obj.residuals

    def counted(theta):
        calls.append(1)
        return residuals(theta)

    obj.residuals = counted
    fit(obj, n_starts=1, max_nfev=2)
    assert 1 <= len(calls) <= 2 + 1  # the optimizer's evaluations (+ pyPESTO's check)


def test_user_problems_get_clear_errors(problem, tmp_path):
    import shutil

    for f in problem.parent.iterdir():
        shutil.copy(f, tmp_path / f.name)
    xml = (tmp_path / "model.xml").read_text().replace("model hash", "model hush")
    (tmp_path / "model.xml").write_text(xml)
    with pytest.raises(CordsimError, match="not cordsim's current model"):
        from cordsim.analysis.calibration import PetabObjective

        PetabObjective(tmp_path / problem.name)
    assert main(["calibrate", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]) == \
        EXIT_BAD_INPUT
    for steps in ("0", "-1"):  # 0 is not "the default": refused before any fit
        assert main(["calibrate", str(problem), "--out", str(tmp_path / "s"),
                     "--ensemble-steps", steps]) == EXIT_BAD_INPUT
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(("edit", "message"), [
    (("observables.tsv", "noiseParameter1_obs_bbb\tnormal",
      "2 * noiseParameter1_obs_bbb\tnormal"), "noise formula must be a number"),
    (("observables.tsv", "bbb_score\tlin\tnoiseParameter1_obs_bbb\tnormal",
      "bbb_score\tlin\tnoiseParameter1_obs_bbb\tlaplace"),
     "only a linear observable with normal noise"),
    (("observables.tsv", "spared_tissue_fraction\tlin", "spared_tissue_fraction\tlog10"),
     "only a linear observable with normal noise"),
])
def test_petab_features_calibrate_does_not_implement_are_refused(problem, tmp_path, edit,
                                                                 message):
    """They were ignored: a user's problem with them was fitted as if they were not there."""
    import shutil

    from cordsim.analysis.calibration import PetabObjective

    for f in problem.parent.iterdir():
        shutil.copy(f, tmp_path / f.name)
    name, old, new = edit
    text = (tmp_path / name).read_text()
    assert old in text
    (tmp_path / name).write_text(text.replace(old, new, 1))
    with pytest.raises(CordsimError, match=message):
        PetabObjective(tmp_path / problem.name)


def test_a_parameter_the_table_fixes_takes_its_nominal_value(problem, tmp_path):
    import shutil

    from cordsim.analysis.calibration import PetabObjective

    for f in problem.parent.iterdir():
        shutil.copy(f, tmp_path / f.name)
    with (tmp_path / "parameters.tsv").open("a") as fh:
        fh.write("d_mirna\tlin\t0.05\t1\t0.5\t0\t\t\n")
    assert PetabObjective(tmp_path / problem.name).base["d_mirna"] == 0.5
    assert PetabObjective(problem).base["d_mirna"] == cordsim.default_parameters()["d_mirna"]


def test_a_start_file_is_read_by_name_and_checked(problem, tmp_path):
    from cordsim.analysis.calibration import PetabObjective, start_point

    obj = PetabObjective(problem)
    good = tmp_path / "start.csv"
    pd.DataFrame({"parameterId": ["k_locomotor_recovery"], "estimate": [0.05]}).to_csv(
        good, index=False)
    x = start_point(obj, good)
    i = obj.names.index("k_locomotor_recovery")
    assert x[i] == pytest.approx(np.log10(0.05))  # declared units in, scaled out
    others = np.arange(len(x)) != i
    assert np.array_equal(x[others], np.asarray(obj.prior_mean)[others])
    for rows, message in (({"parameterId": ["no_such"], "estimate": [1.0]},
                           "'no_such' is not estimated"),
                          ({"parameterId": ["k_locomotor_recovery"], "estimate": [1e9]},
                           "outside its bounds"),
                          ({"name": ["k_locomotor_recovery"], "value": [0.05]},
                           "missing column")):
        bad = tmp_path / "bad.csv"
        pd.DataFrame(rows).to_csv(bad, index=False)
        with pytest.raises(CordsimError, match=message):
            start_point(obj, bad)
    assert main(["calibrate", str(problem), "--out", str(tmp_path / "o"),
                 "--start", str(tmp_path / "nope.csv")]) == EXIT_BAD_INPUT
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_the_shipped_parameter_set_is_the_fit_of_the_shipped_problem(problem):
    """The shipped estimates give the shipped objective, rat.toml holds them, and more
    optimizer steps from them gain little (the shipped set is the fit, not a hand edit)."""
    from cordsim.analysis.calibration import PetabObjective, fit, start_point

    shipped = json.loads(data_path("calibration", "summary.json").read_text())
    obj = PetabObjective(problem)
    x = start_point(obj, data_path("calibration", "estimates.csv"))
    best = shipped["best_objective"]
    assert obj.neg_log_posterior(x) == pytest.approx(best, rel=2e-3)
    params = cordsim.default_parameters()
    for name in obj.model_names:
        assert params[name] == pytest.approx(shipped["estimates"][name], rel=1e-5), name
    more = fit(obj, n_starts=1, max_nfev=3, start=x)
    assert more.starts["objective"].iloc[0] > 0.97 * best


# ----------------------------------------------------------------- therapy acceptance
def _gain(protocol: cordsim.Protocol, day: float = 70.0) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        treated = cordsim.Simulation(protocol=protocol).run(day)
        vehicle = cordsim.Simulation().run(day)
    return treated.at("bbb_score", day) - vehicle.at("bbb_score", day)


ACUTE = cordsim.Protocol((cordsim.Dose("sev_naive", "100 ug", "iv", start=0.125),))
MSC = cordsim.Protocol((cordsim.Dose("msc", "1e6 cell", "iv", start=7),))
FRACTIONATED = cordsim.Protocol((cordsim.Dose("sev_naive", "2.4e10 particle", "iv", "daily",
                                              count=3, start=7),))
BOLUS = cordsim.Protocol((cordsim.Dose("sev_naive", "7.2e10 particle", "iv", start=7),))


def test_therapy_effects_of_the_size_rats_show():
    """The gains the mechanism fit gives (README "Calibration"), against the dataset: 100 ug
    IV sEVs at 3 h between the contusion-only pooled effect (+1.56, Mou 2025) and the
    all-model one (+3.47, Ye 2024) at day 42; IV MSCs positive and below the pooled +3.9
    (Oliveri 2014, all routes) at day 56; fractionated sEVs at least the single bolus."""
    assert 1.5 <= _gain(ACUTE, 42) <= 3.5
    assert 1.0 <= _gain(MSC, 56) <= 3.9
    fractionated, bolus = _gain(FRACTIONATED), _gain(BOLUS)
    assert fractionated >= 1.0 and fractionated >= bolus


def test_dose_response_saturates():
    gains = [_gain(cordsim.Protocol((cordsim.Dose("sev_naive", f"{ug} ug", "iv",
                                                  start=0.125),))) for ug in (1, 10, 100, 1000)]
    steps = np.diff([0.0, *gains])
    assert np.all(steps > 0) and steps[-1] < steps[1]


def test_tissue_effects_go_the_way_of_the_pooled_data():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        treated, vehicle = (cordsim.Simulation(protocol=p).run(7) for p in (ACUTE, None))

    def mean(res, name):
        mask = res.time >= 1
        return float(np.mean(res[name][mask]))

    assert mean(treated, "tnf") < mean(vehicle, "tnf")  # SMD -3.12
    assert mean(treated, "il10") > mean(vehicle, "il10")  # SMD +2.76
    assert mean(treated, "neural_death_flux") < mean(vehicle, "neural_death_flux")  # -4.52


def test_cohort_from_fitted_variability_needs_real_study_sizes(tmp_path):
    scen = tmp_path / "acute.toml"
    scen.write_text('name = "acute"\ndays = 42\n[[arms]]\nname = "vehicle"\n[[arms]]\n'
                    'name = "100 ug IV sEV at 3 h"\ndoses = [{product = "sev_naive", '
                    'amount = "100 ug", route = "iv", start = 0.125}]\n')
    out = tmp_path / "c"
    assert main(["cohort", str(scen), "--n", "200", "--workers", "1", "--out", str(out)]) == 0
    trial = pd.read_csv(out / "trial.csv").iloc[0]
    assert 4 <= trial["n_per_arm_for_power"] <= 20, trial.to_dict()
    animals = pd.read_parquet(next((out / "animals").glob("chunk-arm00-*.parquet")))
    assert animals["bbb_observed"].std() == pytest.approx(1.9, abs=0.5)  # Kloos 2005 spread


def test_ensemble_bands(tmp_path, capsys):
    out = tmp_path / "e"
    assert main(["run", "natural-history", "--days", "14", "--ensemble", "5", "--out",
                 str(out)]) == 0
    df = pd.read_csv(out / "ensemble.csv")
    bbb = df[(df["variable"] == "bbb_score") & (df["time_day"] == 14)].iloc[0]
    assert bbb["q05"] <= bbb["q50"] <= bbb["q95"] and bbb["members"] == 5
    assert (out / "fig_ensemble.png").stat().st_size > 0
    assert main(["run", "natural-history", "--days", "14", "--ensemble", "0", "--out",
                 str(tmp_path / "x")]) == 0  # 0: no ensemble
    assert not (tmp_path / "x" / "ensemble.csv").exists()
    capsys.readouterr()
    assert main(["run", "natural-history", "--ensemble", "-3", "--out", str(tmp_path / "y")]) \
        == EXIT_BAD_INPUT
    assert "--ensemble must be 0 (no ensemble) or a number of members" in capsys.readouterr().err
    assert main(["run", "natural-history", "--ensemble", "201", "--out", str(tmp_path / "z")]) \
        == EXIT_BAD_INPUT

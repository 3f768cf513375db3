"""Issue 10: study design in silico: sensitivity, endpoints, scans, optimisation, MSC routes."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from cordsim import Dose, Protocol, ScenarioError, Simulation
from cordsim.analysis.grafts import graft_observations, model_at, survival_curves
from cordsim.analysis.optimize import Constraints, optimize_protocol, pareto_front, search
from cordsim.analysis.scan import parse_vary, scan
from cordsim.analysis.sensitivity import Factor, analyze, design, run_sensitivity, to_natural
from cordsim.cli import main
from cordsim.run.endpoints import Endpoint, parse_endpoints

# ---------------------------------------------------------------- sensitivity wiring


def ishigami(x, factors, folder):
    """The Ishigami function; inputs not varied sit at 1."""
    a, b = 7.0, 0.1
    col = {f.name: x[:, j] for j, f in enumerate(factors)}
    x1, x2, x3 = (col.get(n, np.ones(len(x))) for n in ("x1", "x2", "x3"))
    return {"y": np.sin(x1) + a * np.sin(x2) ** 2 + b * x3**4 * np.sin(x1)}


ISHIGAMI = [Factor(n, -math.pi, math.pi, log=False) for n in ("x1", "x2", "x3")]
# Analytic indices (a = 7, b = 0.1; Saltelli 2008).
S1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
ST = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}


def test_sobol_recovers_ishigami_indices_through_the_same_code(tmp_path):
    res = run_sensitivity("sobol", ISHIGAMI, ishigami, n=1024, out=tmp_path, seed=3)
    table = res.tables["y"].set_index("parameter")
    for name in S1:
        assert abs(table.loc[name, "S1"] - S1[name]) <= table.loc[name, "S1_conf"] + 0.03
        assert abs(table.loc[name, "ST"] - ST[name]) <= table.loc[name, "ST_conf"] + 0.03
    info = res.summary["endpoints"]["y"]
    assert info["sum_S1"] <= 1 + info["sum_S1_conf"]
    written = pd.read_csv(tmp_path / "sobol" / "indices.csv")
    assert set(written["parameter"]) == set(S1) and written["S1_conf"].gt(0).all()


def test_morris_ranks_ishigami_and_screening_keeps_the_top(tmp_path):
    res = run_sensitivity("morris", ISHIGAMI, ishigami, n=40, out=tmp_path, seed=3)
    table = res.tables["y"]
    assert table["mu_star"].gt(1).all()  # every input matters in Ishigami
    both = run_sensitivity("sobol", ISHIGAMI, ishigami, n=64, out=tmp_path / "s", seed=3,
                           keep=2, n_screening=20)
    assert both.screening is not None and len(both.factors) == 2
    kept = {f.name for f in both.factors}
    top2 = set(both.screening.tables["y"]["parameter"].head(2))
    assert kept == top2


def test_failed_runs_drop_their_block_not_the_analysis():
    x = design("sobol", ISHIGAMI, 64, seed=1)
    y = ishigami(to_natural(x, ISHIGAMI), ISHIGAMI, None)["y"]
    y[7] = np.nan  # one failed run spoils its block of k + 2 = 5 runs
    table, dropped = analyze("sobol", ISHIGAMI, x, y, seed=1)
    assert dropped == 1 and np.isfinite(table["S1"]).all()


def test_design_refuses_bad_inputs():
    with pytest.raises(ScenarioError, match="power of 2"):
        design("sobol", ISHIGAMI, 100, seed=1)
    with pytest.raises(ScenarioError, match="unknown method 'sobl'.*did you mean 'sobol'"):
        design("sobl", ISHIGAMI, 64, seed=1)


@pytest.mark.slow
def test_sensitivity_cli_on_the_model_writes_indices_figures_and_resumes(tmp_path, capsys):
    out = tmp_path / "sens"
    args = ["sensitivity", "default", "--method", "sobol", "--arm", "fractionated sEV",
            "--effect", "--n", "32", "--keep", "3", "--endpoint", "bbb_score@70",
            "--out", str(out), "--quiet"]
    for p in ("ec50_function_substrate", "d_macrophages", "d_mirna", "k_angiogenesis",
              "d_il1b"):
        args += ["--param", p]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "sum of first-order indices" in text
    table = pd.read_csv(out / "sobol" / "indices.csv")
    assert len(table) == 3 and {"S1", "S1_conf", "ST", "ST_conf"} <= set(table.columns)
    summary = json.loads((out / "sobol" / "summary.json").read_text())
    info = summary["endpoints"]["bbb_score@70"]
    assert info["failed_runs"] == 0 and info["sum_S1"] <= 1 + info["sum_S1_conf"]
    for fig in ("morris.png", "sobol.png", "top_parameters_over_time.png"):
        assert (out / "figures" / fig).stat().st_size > 10_000
    chunks = sorted((out / "sobol" / "animals").glob("*.parquet"))
    stamps = [c.stat().st_mtime_ns for c in chunks]
    assert main(args) == 0  # the rerun resumes: every chunk is kept
    assert [c.stat().st_mtime_ns for c in chunks] == stamps


# ---------------------------------------------------------------- endpoints


def test_endpoint_forms_and_values():
    t = np.linspace(0, 10, 101)
    series = np.exp(-((t - 3) ** 2))
    assert Endpoint.parse("x@3").value(t, series) == pytest.approx(1.0)
    assert Endpoint.parse("x@peak").value(t, series) == pytest.approx(1.0)
    assert Endpoint.parse("x@tpeak").value(t, series) == pytest.approx(3.0)
    assert Endpoint.parse("x@auc").value(t, series) == pytest.approx(math.sqrt(math.pi),
                                                                     rel=1e-3)
    assert Endpoint.parse("x@auc:0-3").value(t, series) == pytest.approx(
        math.sqrt(math.pi) / 2, rel=1e-2)
    with pytest.raises(ScenarioError, match="given twice"):
        parse_endpoints(["x@3", "x@3.0"])
    with pytest.raises(ScenarioError, match="window's start must come before its end"):
        Endpoint.parse("x@auc:7-2")


def test_cohort_endpoint_adds_a_column_and_a_trial_row(tmp_path, capsys):
    out = tmp_path / "c"
    code = main(["cohort", "default", "--n", "12", "--out", str(out), "--endpoint",
                 "bbb_score@21", "--endpoint", "neutrophils@tpeak"])
    assert code == 0
    pct = pd.read_csv(out / "percentiles.csv")
    assert {"bbb_score_day21", "bbb_observed_day21", "neutrophils_tpeak"} <= set(pct.columns)
    trial = pd.read_csv(out / "trial.csv")
    assert set(trial["endpoint"]) == {"bbb_observed", "bbb_observed_day21",
                                      "neutrophils_tpeak"}
    assert len(trial) == 3 * 3  # three treated arms, three endpoints
    animals = pd.concat(pd.read_parquet(f) for f in (out / "animals").glob("*.parquet"))
    # Scores rise from day 21 to day 70; neutrophils peak within the first two days.
    assert (animals["bbb_score_day70"] > animals["bbb_score_day21"]).all()
    assert animals["neutrophils_tpeak"].between(0.1, 2).all()
    capsys.readouterr()
    assert main(["cohort", "default", "--n", "4", "--out", str(tmp_path / "d"),
                 "--endpoint", "bbb_score@90"]) == 2
    assert "past the last simulated day (70)" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


# ---------------------------------------------------------------- scans


def test_parse_vary_forms_and_errors():
    assert parse_vary("dose=1e9..1e12:log:4") == ("dose", [1e9, 1e10, 1e11, 1e12])
    assert parse_vary("start=0..28:8")[1] == [0, 4, 8, 12, 16, 20, 24, 28]
    assert parse_vary("count=1,3") == ("count", [1, 3])
    assert parse_vary("route=iv,intrathecal") == ("route", ["iv", "intrathecal"])
    with pytest.raises(ScenarioError, match="unknown setting 'dosage'.*did you mean 'dose'"):
        parse_vary("dosage=1,2")
    with pytest.raises(ScenarioError, match="counts must be whole numbers"):
        parse_vary("count=1.5")
    with pytest.raises(ScenarioError, match="log range needs positive ends"):
        parse_vary("dose=0..10:log:3")


def test_scan_dose_response_saturates_and_late_starts_gain_less():
    ds = scan("default", "fractionated sEV",
              {"dose": [1e8, 1e9, 1e10, 1e11, 1e12], "start": [7.0, 21.0]})
    assert ds["gain"].dims == ("dose", "start")
    g = ds["gain"].sel(start=7.0).values
    assert np.all(np.diff(g) > 0)  # more vesicles, more gain ...
    # ... saturating: on log-spaced doses the curve is sigmoid, so the last step is under
    # half the steepest one (not the first, which sits below the curve's rise)
    assert np.diff(g)[-1] < 0.5 * np.diff(g).max()
    assert (ds["gain"].sel(start=21.0) < ds["gain"].sel(start=7.0)).all()
    assert ds.attrs["endpoint"] == "bbb_score@70"


def test_scan_cli_writes_table_netcdf_and_heat_map(tmp_path, capsys):
    out = tmp_path / "scan"
    code = main(["scan", "default", "--arm", "IV MSC", "--vary", "start=3,7",
                 "--vary", "route=iv,intralesional", "--n", "6", "--out", str(out), "--quiet"])
    assert code == 0
    table = pd.read_csv(out / "scan.csv")
    assert len(table) == 4 and table["gain_ci_low"].le(table["gain"]).all()
    assert (out / "scan.nc").exists() and (out / "figures" / "scan_gain.png").exists()
    assert main(["scan", "default", "--arm", "vehicle", "--vary", "start=3",
                 "--out", str(tmp_path / "x")]) == 2


# ---------------------------------------------------------------- optimisation


def test_search_finds_the_known_optimum_of_a_synthetic_problem():
    def define(trial):
        return {"start": trial.suggest_float("start", 0.0, 10.0),
                "log_dose": trial.suggest_float("log_dose", -3.0, 0.0)}

    def score(s):
        return -((s["start"] - 6.25) ** 2) - 4 * (s["log_dose"] + 1.5) ** 2

    records = search(define, score, trials=150, seed=7)
    best = max(records, key=lambda r: r["score"])["settings"]
    assert best["start"] == pytest.approx(6.25, abs=0.5)
    assert best["log_dose"] == pytest.approx(-1.5, abs=0.25)
    again = search(define, score, trials=20, seed=7)
    assert [r["settings"] for r in again] == [r["settings"] for r in records[:20]]


def test_optimizer_matches_or_beats_the_arms_own_protocol():
    res = optimize_protocol("default", "fractionated sEV", n=6, trials=12, seed=2)
    s = res.summary
    assert s["best"]["score"] >= s["own"]["gain"] - 1e-9  # its own protocol is trial 0
    assert s["best"]["total_dose"] <= s["constraints"]["total_dose"] * (1 + 1e-6)
    diff = s["best_minus_own"]
    assert diff["gain_ci_low"] <= diff["gain"] <= diff["gain_ci_high"]
    front = res.pareto
    assert front["total_dose"].is_monotonic_increasing
    assert front["gain"].is_monotonic_increasing
    assert len(pareto_front(res.trials)) == len(front)


def test_an_own_protocol_outside_the_constraints_is_not_tried(tmp_path):
    """An arm whose own infusion is longer than max_duration (or an infusion where infusions
    are not allowed) is not queued as trial 0: every trial respects the constraints."""
    path = tmp_path / "infusion.toml"
    path.write_text('name = "infusion"\ndays = 42\n[[arms]]\nname = "vehicle"\n[[arms]]\n'
                    'name = "sEV infusion"\ndoses = [{product = "sev_naive", amount = '
                    '"7.2e10 particle", schedule = "infusion", start = 7, duration = 3}]\n')
    for constraints in (Constraints(max_duration=2.0), Constraints(infusion=False)):
        res = optimize_protocol(str(path), "sEV infusion", n=3, trials=3, seed=1,
                                constraints=constraints)
        for protocol in res.trials["protocol"]:
            for dose in json.loads(protocol):
                if constraints.infusion:
                    assert dose.get("duration", 0) <= 2.0, dose
                else:
                    assert dose["schedule"] != "infusion", dose


# ---------------------------------------------------------------- MSC by every route


@pytest.mark.parametrize("route", ["intralesional", "intrathecal"])
def test_local_msc_doses_run_and_conserve_cells_and_vesicles(route):
    dose = Dose("msc", "1e6 cell", route, "bolus", start=3)
    res = Simulation(protocol=Protocol((dose,), name=route)).run(days=42)
    cells = res["msc_lung"] + res["msc_csf"] + res["msc_graft"] + res["msc_cleared"]
    assert np.allclose(cells, res["msc_input_total"], rtol=1e-6, atol=1e-3)
    assert res["msc_input_total"][-1] == pytest.approx(1e6)
    assert np.abs(res["msc_lung"]).max() < 1e-6  # no lung trap
    assert np.allclose(res["sev_total"], res["sev_input_total"], rtol=1e-6,
                       atol=1e-6 * res["sev_input_total"].max())
    assert res.at("sev_lesion", 4) > 0
    vehicle = Simulation().run(days=42)
    assert res.at("bbb_score", 42) > vehicle.at("bbb_score", 42) + 1


@pytest.mark.xfail(strict=True, reason="on the rat-data calibration the graft model, refitted "
                   "by tools/fit_graft_survival.py, keeps 23-24% of 7- and 21-day grafts "
                   "(cited 9%) and 25% of 3-day ones (52%): README 'Honest science'")
def test_graft_survival_matches_the_cited_counts():
    """Nandoe Tewarie 2009: acute and 3-day grafts survive significantly more than 7- and
    21-day ones (32%, 52% vs 9%, 9% at 7 days; p < 0.01), and none are left by 28 days."""
    obs = graft_observations()
    curves = survival_curves(sorted(obs["graft_day"].unique()))
    week = {}
    for row, model in zip(obs.itertuples(), model_at(curves, obs), strict=True):
        if row.kind == "upper":  # "close to 0" at 28 days: rejection
            assert model < 0.02
            continue
        week[row.graft_day] = model
        if row.graft_day == 3.0:  # 36% against 52%: the model's one miss (README)
            assert model == pytest.approx(0.36, abs=0.04)
        else:
            assert model == pytest.approx(row.value, abs=0.03)
    early, late = min(week[0.0104], week[3.0]), max(week[7.0], week[21.0])
    assert early > 2.5 * late  # the source's significant contrast
    lesion = survival_curves([7.0], days_after=7.0)
    csf = survival_curves([7.0], route="intrathecal", days_after=7.0)
    assert csf["surviving_fraction"].iloc[-1] < lesion["surviving_fraction"].iloc[-1]

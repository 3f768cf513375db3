"""The command line: outputs written as documented, and clear errors for bad input."""

from __future__ import annotations

import os

import pandas as pd
import pytest

import cordsim
from cordsim.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("nh")
    assert main(["run", "natural-history", "--species", "rat", "--severity", "moderate",
                 "--days", "70", "--out", str(out)]) == 0
    return out


def test_run_writes_documented_files(run_dir):
    for name in ("timecourse.csv", "timecourse.nc", "summary.csv", "fig_natural_history.png",
                 "fig_outcomes.png"):
        assert (run_dir / name).stat().st_size > 0, name


def test_timecourse_columns_and_resolution(run_dir):
    df = pd.read_csv(run_dir / "timecourse.csv")
    assert list(df.columns[: len(cordsim.TIMECOURSE_COLUMNS)]) == list(cordsim.TIMECOURSE_COLUMNS)
    assert df["time_day"].iloc[0] == 0 and df["time_day"].iloc[-1] == 70
    assert df["time_day"].diff().max() <= 0.5 + 1e-12
    assert df["bbb_score"].between(0, 21).all()


def test_summary_table(run_dir):
    df = pd.read_csv(run_dir / "summary.csv")
    assert {"metric", "value", "unit", "description"} <= set(df.columns)
    assert "bbb_day70" in set(df["metric"])


def test_sham_run(tmp_path):
    assert main(["run", "natural-history", "--severity", "none", "--days", "7",
                 "--out", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "timecourse.csv")
    assert (df["bbb_score"] == 21).all()


@pytest.mark.parametrize("argv, message", [
    (["--severity", "medium"], "unknown severity 'medium'; allowed: none, mild, moderate"),
    (["--species", "dog"], "unknown species 'dog'; allowed: rat"),
    (["--days", "-3"], "days must be a positive number"),
])
def test_bad_input_errors(tmp_path, capsys, argv, message):
    code = main(["run", "natural-history", "--out", str(tmp_path), *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_unknown_scenario(tmp_path, capsys):
    assert main(["run", "nat-history", "--out", str(tmp_path)]) == 2
    assert "no scenario file 'nat-history'" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; see the file case")
def test_unwritable_folder_permissions(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    assert main(["run", "natural-history", "--out", str(ro / "x")]) == 2
    assert "is not writable" in capsys.readouterr().err


def test_unwritable_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["run", "natural-history", "--days", "1", "--out", str(blocker / "out")]) == 2
    assert "is not writable" in capsys.readouterr().err


def test_params_lists_everything(capsys):
    assert main(["params", "--wide"]) == 0
    out = capsys.readouterr().out
    for col in ("parameterId", "nominalValue", "unit", "lowerBound", "upperBound", "evidence",
                "source"):
        assert col in out
    assert "k_neutrophil_influx" in out
    n = len(cordsim.CordModel().params)
    assert f"{n} parameters" in out


def test_params_csv(capsys):
    assert main(["params", "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(cordsim.CordModel().params) + 1


def test_params_fit_120_columns_and_json_parses(capsys):
    import json

    assert main(["params"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert main(["params", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == len(cordsim.CordModel().params)
    assert {"parameterId", "nominalValue", "unit", "source", "evidence"} <= set(records[0])


def test_run_and_products_speak_json(tmp_path, capsys):
    import json

    assert main(["run", "natural-history", "--days", "3", "--json", "--quiet",
                 "--out", str(tmp_path / "nh")]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["days"] == 3 and any(r["metric"].startswith("bbb") for r in done["summary"])
    assert main(["products", "--json"]) == 0
    assert "sev_naive" in json.loads(capsys.readouterr().out)


def test_default_scenario_compares_four_arms(default_run):
    for name in ("timecourse.csv", "timecourse.nc", "summary.csv", "endpoints.csv",
                 "fig_comparison.png", "fig_natural_history.png", "fig_outcomes.png"):
        assert (default_run / name).stat().st_size > 0, name
    df = pd.read_csv(default_run / "timecourse.csv")
    assert list(df.columns[: len(cordsim.TIMECOURSE_COLUMNS)]) == list(cordsim.TIMECOURSE_COLUMNS)
    assert list(df["arm"].unique()) == ["vehicle", "IV MSC", "fractionated sEV",
                                        "single sEV bolus"]
    ends = pd.read_csv(default_run / "endpoints.csv", index_col="arm")
    assert ends.loc["vehicle", "sev_lesion_peak"] == 0
    assert ends.loc["fractionated sEV", "bbb_score_day70"] > ends.loc["vehicle", "bbb_score_day70"]
    import xarray as xr

    with xr.open_dataset(default_run / "timecourse.nc", engine="h5netcdf") as ds:
        assert ds["sev_lesion"].dims == ("arm", "time")
        assert ds["sev_lesion"].attrs["units"] == "particle"


def test_the_headline_is_the_posterior_median_with_its_band(default_run):
    ends = pd.read_csv(default_run / "endpoints.csv", index_col="arm")
    bands = pd.read_csv(default_run / "ensemble.csv")
    assert ends["point"].str.startswith("posterior predictive median").all()
    for arm in ["IV MSC", "fractionated sEV", "single sEV bolus"]:
        at70 = bands[(bands["arm"] == arm) & (bands["variable"] == "bbb_gain")
                     & (bands["time_day"] == 70)].iloc[0]
        gain = ends.loc[arm, "bbb_score_day70_minus_vehicle"]
        assert gain == pytest.approx(at70["q50"], abs=1e-4)
        assert ends.loc[arm, "bbb_score_day70_minus_vehicle_q05"] < gain \
            < ends.loc[arm, "bbb_score_day70_minus_vehicle_q95"]
    # the mode (timecourse.csv, summary.csv) is the best fit, not the median
    mode = pd.read_csv(default_run / "timecourse.csv")
    assert set(mode["arm"]) == set(ends.index)


def test_point_mode_reports_the_best_fit(tmp_path):
    assert main(["run", "default", "--out", str(tmp_path), "--point", "mode",
                 "--ensemble", "3"]) == 0
    ends = pd.read_csv(tmp_path / "endpoints.csv", index_col="arm")
    assert (ends["point"] == "mode (best fit)").all()
    assert not any(c.endswith("_q05") for c in ends.columns)


@pytest.mark.parametrize("argv, message", [
    (["--point", "mean"], "invalid choice: 'mean'"),
    (["--predict", "old-study"], "invalid choice: 'old-study'"),
])
def test_bad_point_or_target_is_refused(tmp_path, argv, message, capsys):
    with pytest.raises(SystemExit):
        main(["run", "default", "--out", str(tmp_path / "never"), *argv])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_scenario_file_run(tmp_path):
    scen = tmp_path / "mine.toml"
    scen.write_text('name = "mine"\ninjury = "mild"\ndays = 10\n[[arms]]\nname = "IT"\n'
                    'doses = [{product = "sev_hypoxia", amount = "20 ug", route = "intrathecal",'
                    ' start = 1}]\n')
    out = tmp_path / "out"
    assert main(["run", str(scen), "--out", str(out)]) == 0
    df = pd.read_csv(out / "timecourse.csv")
    assert df["time_day"].iloc[-1] == 10 and "arm" not in df.columns
    assert df["sev_internalized"].max() > 0


def test_readme_scenario_example_runs_as_written(tmp_path):
    """The README's scenario file, copied as printed (only its 70 days shortened), runs."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Scenario files", 1)[1]
    toml = re.search(r"```toml\n(.*?)```", section, re.DOTALL).group(1)
    assert "doses = [" in toml and "hypoxic-sev-intrathecal" in toml
    scen = tmp_path / "example.toml"
    scen.write_text(toml.replace("days = 70", "days = 5"))
    out = tmp_path / "out"
    assert main(["run", str(scen), "--ensemble", "0", "--out", str(out)]) == 0
    df = pd.read_csv(out / "timecourse.csv")
    assert set(df["arm"]) == {"vehicle", "IT sEV"}
    assert df.loc[df["arm"] == "IT sEV", "sev_internalized"].max() > 0


def test_bad_scenario_file_exit_code(tmp_path, capsys):
    scen = tmp_path / "bad.toml"
    scen.write_text('[[arms]]\nname = "x"\ndoses = [{product = "sev_naive", amount = "-3 ug"}]\n')
    assert main(["run", str(scen), "--out", str(tmp_path / "o")]) == 2
    assert "dose amount must be positive" in capsys.readouterr().err


def test_experiment_list_and_run(tmp_path, capsys):
    assert main(["experiment", "list"]) == 0
    listed = capsys.readouterr().out
    for name in ("sev-vs-pbs", "rnase", "uptake-assay", "macrophage-depletion"):
        assert name in listed
    assert main(["experiment", "run", "dose-response", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "fig_dose_response.png").stat().st_size > 0
    assert (tmp_path / "check.csv").exists()
    assert main(["experiment", "run", "uptake-assay", "--out", str(tmp_path / "u")]) == 0
    assert (tmp_path / "u" / "fig_uptake_assay.png").exists()
    assert main(["experiment", "run", "rnasee"]) == 2
    assert "did you mean 'rnase'" in capsys.readouterr().err


def test_products_listing(capsys):
    assert main(["products"]) == 0
    out = capsys.readouterr().out
    assert "sev_rnase" in out and "msc" in out


def test_grafts_writes_curves_fit_table_and_figure(tmp_path, capsys):
    """`cordsim grafts`: both routes' survival curves, the table against Nandoe Tewarie 2009
    (its values are tested in test_issue10_design) and the two-panel figure."""
    assert main(["grafts", "--out", str(tmp_path)]) == 0
    curves = pd.read_csv(tmp_path / "graft_survival.csv")
    assert set(curves["route"]) == {"intralesional", "intrathecal"}
    assert curves["surviving_fraction"].between(0, 1 + 1e-9).all()
    fit = pd.read_csv(tmp_path / "graft_fit.csv")
    assert len(fit) == 8 and fit["model"].between(0, 1).all()
    assert {"value", "model", "log_residual"} <= set(fit.columns)
    from PIL import Image

    with Image.open(tmp_path / "graft_survival.png") as img:  # two panels side by side
        assert img.width > 2 * img.height
    assert "Nandoe Tewarie 2009" in capsys.readouterr().out


def test_experiment_run_refuses_an_empty_out(capsys):
    assert main(["experiment", "run", "rnase", "--out", ""]) == 2
    assert "output folder must not be empty" in capsys.readouterr().err


def test_output_cut_short_by_the_reader_is_not_an_error():
    """`cordsim params | head -1`: the reader closes the pipe early; no traceback, exit 0."""
    import shlex
    import subprocess
    import sys

    cmd = f"{shlex.quote(sys.executable)} -m cordsim.cli params | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                          text=True, timeout=120, check=False)
    assert "parameter" in done.stdout and "source" in done.stdout
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


def _two_arm_run(tmp_path):
    """A short two-arm run with a two-member ensemble into ``tmp_path/out``."""
    scen = tmp_path / "two.toml"
    scen.write_text('days = 5\n[[arms]]\nname = "vehicle"\n[[arms]]\nname = "sEV"\n'
                    'doses = [{product = "sev_naive", amount = "1e10 particle", start = 1}]\n')
    out = tmp_path / "out"
    assert main(["run", str(scen), "--ensemble", "2", "--out", str(out)]) == 0
    return scen, out


def test_a_rerun_without_ensemble_removes_the_earlier_ensemble(tmp_path):
    scen, out = _two_arm_run(tmp_path)
    assert (out / "ensemble.csv").exists() and (out / "fig_ensemble.png").exists()
    assert main(["run", str(scen), "--ensemble", "0", "--out", str(out)]) == 0
    assert not (out / "ensemble.csv").exists() and not list(out.glob("fig_ensemble.*"))


def test_a_run_into_a_used_folder_replaces_the_earlier_runs_files(tmp_path):
    """A report is made from the folder: after a natural-history run (SVG only) into a folder
    that held a two-arm run (PNG), none of the earlier run's tables or figures are left."""
    _, out = _two_arm_run(tmp_path)
    assert (out / "endpoints.csv").exists() and (out / "fig_comparison.png").exists()
    assert main(["run", "natural-history", "--days", "5", "--format", "svg", "--report",
                 "--out", str(out)]) == 0
    left = sorted(p.name for p in out.iterdir())
    assert left == ["fig_natural_history.svg", "fig_outcomes.svg", "manifest.json",
                    "provenance.json", "report.html", "summary.csv", "timecourse.csv",
                    "timecourse.nc"], left
    report = (out / "report.html").read_text()
    assert "Endpoints" not in report and "ensemble" not in report.lower()


def test_an_infusion_cut_short_is_warned_about_once(tmp_path, capsys):
    """Loading the scenario warns with the arm's place; the run's repeat is not shown."""
    scen = tmp_path / "inf.toml"
    scen.write_text('days = 3\n[[arms]]\nname = "t"\ndoses = [{product = "sev_naive", '
                    'amount = "1e10 particle", schedule = "infusion", duration = 5, '
                    'start = 1}]\n')
    assert main(["run", str(scen), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert err.count("past the last simulated day") == 1 and "arm 't':" in err

"""cordsim report / run --report: one self-contained HTML file (issue 11, item 3)."""

from __future__ import annotations

import re

import cordsim
from cordsim.cli import main


def test_run_report_is_one_offline_html_file(default_run):
    out = default_run
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    for arm in ("vehicle", "IV MSC", "fractionated sEV", "single sEV bolus"):
        assert arm in page
    for section in ("Scenario and protocols", "Endpoints", "Figures", "Validation status",
                    "Parameters changed from the defaults", "Provenance"):
        assert f"<h2>{section}" in page
    images = re.findall(r'<img [^>]*src="([^"]{0,30})', page)
    # every figure of the run (the default run includes the ensemble's fig_ensemble.png)
    figures = sorted(p.name for p in out.glob("fig_*.png"))
    assert figures == ["fig_comparison.png", "fig_ensemble.png", "fig_natural_history.png",
                       "fig_outcomes.png"]
    assert len(images) == 4 and all(s.startswith("data:image/png;base64,") for s in images)
    # Nothing is fetched when it opens: no script, no stylesheet link, no remote URL.
    assert not re.search(r"<script|<link|<iframe|(src|href)=\"(https?:)?//", page)
    assert "bbb_score_day70_minus_vehicle" in page and "model_hash" in page


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "is not a cordsim run folder (no timecourse.nc)" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_report_embeds_each_figure_once_when_a_run_has_several_formats(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "default", "--days", "14", "--ensemble", "0", "--format", "png,svg",
                 "--out", str(out), "--report"]) == 0
    assert (out / "fig_comparison.svg").exists() and (out / "fig_comparison.png").exists()
    page = (out / "report.html").read_text()
    images = re.findall(r'<img [^>]*src="data:image/([a-z+]+);', page)
    assert images == ["png"] * 3  # comparison, natural history, outcomes: once each


def test_report_and_netcdf_keep_every_arms_provenance(tmp_path):
    """Each arm's parameter changes and perturbations reach the report and the NetCDF (they
    held the first arm's only); one arm reads back from a scenario's file; a single-arm
    scenario's report lists its doses."""
    import pytest

    import cordsim
    from cordsim.errors import ScenarioError

    scen = tmp_path / "two.toml"
    scen.write_text('days = 6\n[[arms]]\nname = "vehicle"\n[[arms]]\nname = "pert"\n'
                    'perturbations = {marco_activity = 0.3}\n'
                    'parameters = {d_neutrophils = 0.6}\n')
    out = tmp_path / "two"
    assert main(["run", str(scen), "--ensemble", "0", "--report", "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    default = cordsim.default_parameters()["d_neutrophils"]
    assert f"d_neutrophils: {default:g} -&gt; 0.6 (arm parameters)" in page
    assert "marco_activity: 0.3 (perturbation)" in page
    nc = out / "timecourse.nc"
    with pytest.raises(ScenarioError, match="holds 2 arms: pass arm= one of 'vehicle', 'pert'"):
        cordsim.SimulationResult.from_netcdf(nc)
    pert = cordsim.SimulationResult.from_netcdf(nc, arm="pert")
    assert pert.provenance.perturbations == {"marco_activity": 0.3}
    direct = cordsim.run_scenario(cordsim.load_scenario(str(scen))).arms["pert"]
    assert pert.at("bbb_score", 5) == pytest.approx(direct.at("bbb_score", 5), rel=1e-9)
    one = tmp_path / "one.toml"
    one.write_text('name = "one-arm"\ndays = 4\n[[arms]]\nname = "IT"\ndoses = [{product = '
                   '"sev_naive", amount = "1e10 particle", route = "intrathecal", start = 1}]\n')
    assert main(["run", str(one), "--report", "--out", str(tmp_path / "one")]) == 0
    page = (tmp_path / "one" / "report.html").read_text()
    assert "route intrathecal" in page and "cordsim report: one-arm</h1>" in page


def test_cohort_and_scan_folders_get_a_report(tmp_path):
    """cordsim report refused every folder but a run's (issue 24): a cohort's report shows its
    trial (with assurance) and percentiles, a scan's its table and figure, both with what
    made them; a folder changed after it was written is refused."""
    cohort, scan = tmp_path / "cohort", tmp_path / "scan"
    assert main(["cohort", "default", "--n", "6", "--out", str(cohort)]) == 0
    assert main(["scan", "default", "--arm", "single sEV bolus", "--vary",
                 "dose=1e10..1e11:log:2", "--out", str(scan), "--quiet"]) == 0
    for folder, words in ((cohort, ("trial.csv", "assurance", "percentiles.csv")),
                          (scan, ("scan.csv", "gain_q95", "scan_gain"))):
        out = tmp_path / f"{folder.name}.html"
        assert main(["report", str(folder), "--out", str(out)]) == 0
        page = out.read_text()
        assert f"cordsim {folder.name} report" in page and "Provenance" in page
        assert "model_hash" in page and "<script" not in page
        for word in words:
            assert word in page, word
    (scan / "scan.csv").write_text("changed\n")
    assert main(["report", str(scan), "--out", str(tmp_path / "again.html")]) == 2
    assert not (tmp_path / "again.html").exists()

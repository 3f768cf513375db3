"""cordsim report / run --report: one self-contained HTML file (issue 11, item 3)."""

from __future__ import annotations

import re

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

"""Figures (issue 11, item 1): the gain over vehicle with its ensemble band, published
observations with their spread and source, one colour per arm in every figure, dose markers,
PNG/SVG/PDF at journal width; and ``cordsim.plotting`` leaves the matplotlib backend alone."""

from __future__ import annotations

import subprocess
import sys

import pytest
from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D
from matplotlib.text import Text

import cordsim
from cordsim.cli import main
from cordsim.data import ensemble_members
from cordsim.plotting import (
    COLUMN_WIDTH,
    CONTROL_COLOR,
    arm_colors,
    comparison_figure,
    literature_points,
    natural_history_figure,
    outcomes_figure,
)
from cordsim.run.ensemble import run_ensemble

ARMS = ["vehicle", "IV MSC", "fractionated sEV", "single sEV bolus"]


@pytest.fixture(scope="module")
def scenario_result():
    scenario = cordsim.load_scenario("default")
    return scenario, cordsim.run_scenario(scenario)


@pytest.fixture(scope="module")
def ensemble(scenario_result):
    return run_ensemble(scenario_result[0], ensemble_members(5))


def test_default_run_writes_every_figure_in_every_format(default_run):
    for stem in ("fig_comparison", "fig_natural_history", "fig_outcomes", "fig_ensemble"):
        png = (default_run / f"{stem}.png").read_bytes()
        svg = (default_run / f"{stem}.svg").read_text()
        pdf = (default_run / f"{stem}.pdf").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), stem
        assert "<svg" in svg[:2000] and svg.rstrip().endswith("</svg>"), stem
        assert pdf.startswith(b"%PDF-") and b"/Subtype /Type3" not in pdf, stem
    # the default run computes the ensemble (the band needs it)
    assert (default_run / "ensemble.csv").stat().st_size > 0


def test_default_comparison_shows_the_gain_band_data_and_doses(default_run):
    svg = (default_run / "fig_comparison.svg").read_text()
    assert "BBB gain over vehicle" in svg
    assert 'id="band-bbb_gain' in svg  # the ensemble's 5-95% band of the gain
    # the lines are the posterior medians, and the legend says what the band is
    assert "lines: median and 90% band over" in svg and "100 fitted parameter sets" in svg
    for label in ("Ye 2024 (sEV)", "Oliveri 2014 (MSC)", "Kloos 2005"):  # published data
        assert label in svg, label
    assert 'id="dose-markers-0' in svg and 'id="dose-markers-2' in svg  # three treated arms
    assert "published gains" in svg


def test_every_line_is_the_median_inside_its_band(scenario_result, ensemble):
    import numpy as np

    fig = comparison_figure(scenario_result[1].arms, ensemble=ensemble)
    gain_ax = next(ax for ax in fig.axes if ax.get_title().startswith("BBB gain over"))
    checked = 0
    for arm in ARMS[1:]:
        line = next(ln for ln in gain_ax.get_lines() if ln.get_label() == arm)
        band = ensemble[(ensemble["arm"] == arm) & (ensemble["variable"] == "bbb_gain")]
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        assert np.allclose(x, band["time_day"]) and np.allclose(y, band["q50"])
        assert np.all(band["q05"].to_numpy() <= y + 1e-12)
        assert np.all(y <= band["q95"].to_numpy() + 1e-12)
        checked += 1
    assert checked == 3


def test_the_mode_is_drawn_only_when_asked(tmp_path):
    assert main(["run", "default", "--out", str(tmp_path), "--format", "svg",
                 "--point", "mode", "--ensemble", "5"]) == 0
    svg = (tmp_path / "fig_comparison.svg").read_text()
    assert "lines: best fit (mode)" in svg and 'id="band-bbb_gain' not in svg
    assert (tmp_path / "ensemble.csv").exists()  # the band is still written, apart


def test_vector_only_and_no_ensemble(tmp_path):
    assert main(["run", "default", "--out", str(tmp_path), "--format", "svg",
                 "--ensemble", "0"]) == 0
    names = sorted(p.name for p in tmp_path.glob("fig_*"))
    assert names == ["fig_comparison.svg", "fig_natural_history.svg", "fig_outcomes.svg"]
    assert not (tmp_path / "ensemble.csv").exists()
    assert 'id="band-bbb_gain' not in (tmp_path / "fig_comparison.svg").read_text()


@pytest.mark.parametrize("argv", [["--format", "tiff"], ["--format", ","],
                                  ["--ensemble", "-1"]])
def test_bad_format_or_ensemble_is_refused_before_any_work(tmp_path, argv, capsys):
    out = tmp_path / "never"
    assert main(["run", "default", "--out", str(out), *argv]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert ("--format" in err and "png, svg, pdf" in err) or "--ensemble" in err


def test_gain_panel_band_and_published_gains(scenario_result, ensemble):
    _, res = scenario_result
    fig = comparison_figure(res.arms, ensemble=ensemble)
    (gain,) = [ax for ax in fig.axes if ax.get_title().startswith("BBB gain over vehicle")]
    bands = [c for c in gain.collections
             if isinstance(c, PolyCollection) and (c.get_gid() or "") == "band-bbb_gain"]
    assert len(bands) == 3  # one per treated arm
    # the band is the ensemble's 5-95% range: its vertices span q05..q95 of the last day
    last = ensemble[(ensemble["variable"] == "bbb_gain") & (ensemble["arm"] == "IV MSC")]
    q05, q95 = last["q05"].iloc[-1], last["q95"].iloc[-1]
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert ys.min() <= q05 + 1e-9 and ys.max() >= q95 - 1e-9
    legend = [t.get_text() for t in gain.get_legend().get_texts()]
    published = literature_points("bbb_score", injury="moderate", kind="gain")
    assert {p["label"] for p in published} <= {t.split(", ")[0] for t in legend}
    assert any(p["obs_id"] == "thx001" and p["value"] == 3.47 and (p["lo"], p["hi"]) ==
               (3.31, 3.63) and p["time"] == 42 for p in published)
    # the published points are drawn where the data say
    drawn = {round(float(y), 2) for line in gain.get_lines() if line.get_gid() is None
             and line.get_marker() not in ("None", "", None) for y in line.get_ydata()}
    assert {3.47, 3.9, 1.56, 3.12} <= drawn


def test_dose_markers_at_each_arms_dose_days_in_its_colour(scenario_result):
    _, res = scenario_result
    fig = comparison_figure(res.arms)
    colors = arm_colors(res.arms)
    ax = fig.axes[0]
    marks = [line for line in ax.get_lines() if (line.get_gid() or "").startswith("dose")]
    days = {line.get_color(): list(line.get_xdata()) for line in marks}
    assert days == {colors["IV MSC"]: [7.0], colors["fractionated sEV"]: [7.0, 8.0, 9.0],
                    colors["single sEV bolus"]: [7.0]}


def _arm_line_colors(fig, arms):
    found: dict[str, set] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_label() in arms:
                found.setdefault(line.get_label(), set()).add(line.get_color())
    return found


def test_an_arm_has_one_colour_in_every_figure(scenario_result, ensemble):
    _, res = scenario_result
    colors = arm_colors(res.arms)
    assert list(colors) == ARMS and colors["vehicle"] == CONTROL_COLOR
    assert len(set(colors.values())) == len(ARMS)
    comparison = _arm_line_colors(comparison_figure(res.arms, ensemble=ensemble), ARMS)
    outcomes = _arm_line_colors(outcomes_figure(res.arms), ARMS)
    notebook = _arm_line_colors(res.plot("bbb_score"), ARMS)  # ScenarioResult.plot
    for arm in ARMS:
        assert comparison[arm] == outcomes[arm] == notebook[arm] == {colors[arm]}, arm


def test_figures_fit_a_journal_column_with_readable_text(scenario_result, ensemble):
    _, res = scenario_result
    for fig in (comparison_figure(res.arms, ensemble=ensemble, title="t"),
                natural_history_figure(res["vehicle"]), outcomes_figure(res.arms)):
        assert fig.get_figwidth() == pytest.approx(COLUMN_WIDTH)
        fig.canvas.draw()  # ticks are made at draw time
        small = {(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
                 if t.get_visible() and t.get_text().strip() and t.get_fontsize() < 7}
        assert not small


def test_natural_history_shows_untreated_bbb_data(scenario_result):
    _, res = scenario_result
    fig = natural_history_figure(res["vehicle"])
    bbb = next(ax for ax in fig.axes if ax.get_title().startswith("F"))
    labels = [t.get_text() for t in bbb.get_legend().get_texts()]
    assert "Kloos 2005, SEM" in labels and "Garcia-Alias 2010, ±" in labels
    # no observation of another injury is drawn
    assert literature_points("bbb_score", injury="severe")[0]["label"] not in labels


def test_no_observations_when_the_lines_differ_in_injury():
    runs = {s: cordsim.Simulation(injury=s).run(days=14) for s in ("mild", "severe")}
    fig = outcomes_figure(runs)
    assert not [line for ax in fig.axes for line in ax.get_lines()
                if line.get_label().startswith(("Kloos", "Nakano"))]
    assert all(isinstance(line, Line2D) for line in fig.axes[0].get_lines())


BACKEND_PROBE = """
import sys
import matplotlib
{setup}
before = matplotlib.get_backend()
import cordsim.plotting, cordsim, cordsim.io.plotting
print(before == matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules, before)
"""


@pytest.mark.parametrize("env, setup", [
    ({"MPLBACKEND": "module://matplotlib_inline.backend_inline"}, ""),
    ({}, "matplotlib.use('pdf')"),
    ({"MPLBACKEND": "svg"}, ""),
], ids=["inline", "use-pdf", "env-svg"])
def test_import_leaves_the_backend_alone(env, setup):
    if "inline" in env.get("MPLBACKEND", ""):
        pytest.importorskip("matplotlib_inline")
    proc = subprocess.run([sys.executable, "-c", BACKEND_PROBE.format(setup=setup)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", **env})
    assert proc.returncode == 0, proc.stderr
    same, pyplot, before = proc.stdout.split()
    assert same == "True", before
    assert pyplot == "False"  # cordsim never imports pyplot
    assert before != "agg"  # the probe really ran under a non-default backend


def test_the_gain_panel_shows_published_gains_of_the_arms_products_only():
    from cordsim.io.plotting import literature_points

    def labels(products):
        return [p["label"] for p in literature_points("bbb_score", injury="moderate",
                                                      kind="gain", products=products)]

    msc, sev = labels(["msc"]), labels(["sev_naive"])
    assert "Oliveri 2014 (MSC)" in msc and all(label.endswith("(MSC)") for label in msc)
    assert sev and all(label.endswith("(sEV)") for label in sev)
    assert "Ye 2024 (sEV)" in sev and not any(label.startswith("tx") for label in sev)
    assert set(labels(None)) == set(labels(["msc", "sev_naive"]))


def test_ensemble_gain_pairs_each_member_with_its_own_vehicle_run(monkeypatch):
    """A member that fails in one arm only drops out of that arm's gain; every other member's
    gain is its treated run minus its own vehicle run (here +1 for every member)."""
    from types import SimpleNamespace

    import numpy as np
    import pandas as pd

    import cordsim.run.ensemble as ens
    from cordsim.run import scenarios

    class Sim:  # what run_members reads of an arm's simulation
        def __init__(self, treated):
            self.treated = treated
            self.model = SimpleNamespace(state_names=["bbb_score"], output_names=[])
            self.compiled = SimpleNamespace(outputs=lambda t, y, p: [])
            self.parameters = {"injury_severity": 0.5}

        def _dose_times(self, days):
            return np.array([])

        def solve_batch(self, t, animals):
            return [SimpleNamespace(ok=not (self.treated and i == 0), t=t, p=None,
                                    y=np.array([np.full(len(t), a["m"] + self.treated)]))
                    for i, a in enumerate(animals)]

    monkeypatch.setattr(scenarios, "arm_simulation",
                        lambda sc, arm, parameters=None: Sim(arm.name != "ctl"))
    monkeypatch.setattr(ens, "report_times", lambda days, dt: np.array([0.0, 1.0]))
    arms = [SimpleNamespace(name="ctl", parameters={}), SimpleNamespace(name="trt",
                                                                       parameters={})]
    scenario = SimpleNamespace(arms=arms, days=1, dt=1, parameters={})
    runs = ens.run_members(scenario, pd.DataFrame({"m": [0.0, 10.0, 20.0, 30.0]}),
                           columns=("bbb_score",),
                           effects=ens.StudyEffects(effect_sd=0.0, severity_sd=0.0))
    bands = ens.bands(runs)
    gain = bands[bands["variable"] == "bbb_gain"]
    assert np.allclose(gain[["q05", "q50", "q95"]], 1.0) and (gain["members"] == 3).all()
    control = bands[(bands["arm"] == "ctl") & (bands["variable"] == "bbb_score")]
    assert (control["members"] == 4).all()


def test_vector_figures_are_identical_between_reruns(tmp_path):
    """The README promises identical files on a rerun: SVG (its ids too) and PDF."""
    for name in ("a", "b"):
        assert main(["run", "natural-history", "--days", "7", "--format", "svg,pdf",
                     "--out", str(tmp_path / name)]) == 0
    for suffix in ("svg", "pdf"):
        files = sorted((tmp_path / "a").glob(f"*.{suffix}"))
        assert files
        for f in files:
            assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name

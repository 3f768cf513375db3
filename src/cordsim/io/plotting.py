"""Figures a biologist recognises: the review's Fig. 1 panels and the tissue/behaviour outcomes.

Figures are built with matplotlib's object API (``Figure``), never pyplot, so importing or
using this module leaves the user's matplotlib backend alone.

Every multi-arm figure colours an arm the same way (:func:`arm_colors`: the first arm, the
vehicle or control, in grey; the treated arms in the Okabe-Ito colour-blind-safe palette),
marks each arm's dose times on the time axis (small triangles in the arm's colour), and
overlays the published observations that match a panel's readout (the observation dataset,
:func:`cordsim.data.observations`) with their spread and a short source label. Figures are
sized for a journal page (:data:`COLUMN_WIDTH`, 7.2 in, fonts of at least 7 pt) and written
in PNG, SVG or PDF (``formats``).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cordsim.design.dosing import administration_days
from cordsim.errors import ScenarioError
from cordsim.run.palette import arm_colors
from cordsim.run.results import SimulationResult

MAX_TITLE = 300  # characters of a scenario's name and description shown in a title

COLUMN_WIDTH = 7.2  # inches: a journal's double-column figure width
FONT = 7.0  # points: tick labels, axis labels, legends (the smallest text in a figure)
TITLE_FONT = 8.0  # points: panel titles and figure titles
FORMATS = ("png", "svg", "pdf")
PNG_DPI = 200

OBSERVATION_COLOR = "black"
OBSERVATION_MARKERS = ("o", "s", "D", "P", "X", "h", "p", "*")  # no triangles: doses


def figure_formats(formats: str | Iterable[str] | None) -> tuple[str, ...]:
    """Normalise ``--format`` values (``"png"``, ``"svg,pdf"``, ``["png", "pdf"]``) to a
    tuple of distinct formats from :data:`FORMATS`; None gives ``("png",)``."""
    if formats is None:
        return ("png",)
    items = [formats] if isinstance(formats, str) else list(formats)
    out: list[str] = []
    for item in items:
        for part in str(item).split(","):
            fmt = part.strip().lower().lstrip(".")
            if not fmt:
                continue
            if fmt not in FORMATS:
                raise ScenarioError(f"--format must be one or more of {', '.join(FORMATS)} "
                                    f"(comma-separated or repeated), got {part.strip()!r}")
            if fmt not in out:
                out.append(fmt)
    if not out:
        raise ScenarioError(f"--format must name at least one of {', '.join(FORMATS)}")
    return tuple(out)


def figure_paths(path: str | Path, formats: str | Iterable[str] | None = None) -> list[Path]:
    """The files :func:`save_figure` writes for ``path`` in ``formats`` (the suffix of
    ``path`` is replaced by each format's; without ``formats``, ``path`` itself)."""
    path = Path(path)
    if formats is None:
        return [path]
    return [path.with_suffix(f".{fmt}") for fmt in figure_formats(formats)]


def save_figure(fig: Figure, path: str | Path,
                formats: str | Iterable[str] | None = None) -> list[Path]:
    """Write ``fig`` to ``path`` in each of ``formats`` (PNG at 200 dpi; SVG and PDF as
    vector graphics with no creation date, so reruns give identical files; their text stays
    text, editable in a drawing program: SVG ``<text>``, PDF TrueType fonts, not Type 3)."""
    from matplotlib import rc_context

    written = []
    # this call only; a fixed salt makes the SVG's clip-path and marker ids the same each run
    with rc_context({"svg.fonttype": "none", "pdf.fonttype": 42, "svg.hashsalt": "cordsim"}):
        for p in figure_paths(path, formats):
            fmt = p.suffix.lstrip(".").lower()
            metadata = ({"Date": None} if fmt == "svg" else
                        {"CreationDate": None} if fmt == "pdf" else None)
            fig.savefig(p, dpi=PNG_DPI, metadata=metadata)
            written.append(p)
    return written


def _title(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 3] + "..."


def _save(fig: Figure, path: str | Path,
          formats: str | Iterable[str] | None = None) -> Path:
    return save_figure(fig, path, formats)[0]

WEEK_TICKS = [0, 7, 14, 21, 28, 35, 42, 49, 56, 63, 70]


def _days_axis(ax: Axes, end: float, *, compact: bool = False) -> None:
    ticks = [t for t in WEEK_TICKS if t <= end] if end > 14 else None
    if ticks and (compact or end > 42):  # a narrow panel: a tick every two weeks
        ticks = ticks[::2] if compact or len(ticks) > 8 else ticks
    if ticks:
        ax.set_xticks(ticks)
    ax.set_xlim(0, end)
    ax.set_xlabel("days after injury", fontsize=FONT)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=FONT)
    ax.yaxis.label.set_fontsize(FONT)
    ax.yaxis.get_offset_text().set_fontsize(FONT)


# ---------------------------------------------------------------- doses and observations
def dose_times(result: SimulationResult) -> list[float]:
    """Days of every administration of the result's protocol (an infusion: its start)."""
    times: list[float] = []
    for d in result.provenance.protocol.get("doses", []) or []:
        times += administration_days(d.get("schedule", "bolus"), float(d.get("start", 0.0)),
                                     d.get("count", 1), [float(t) for t in d.get("times", [])])
    return sorted(set(times))


def _dose_markers(ax: Axes, results: Mapping[str, SimulationResult],
                  colors: Mapping[str, str]) -> None:
    """Triangles on the time axis at each arm's dose times, one row per treated arm."""
    row = 0
    for arm, r in results.items():
        times = dose_times(r)
        if not times:
            continue
        ax.plot(times, [0.025 + 0.045 * row] * len(times), ls="none", marker="^", ms=4,
                color=colors.get(arm, "black"), transform=ax.get_xaxis_transform(),
                clip_on=False, label="_dose", gid=f"dose-markers-{row}", zorder=4)
        row += 1


_SPREAD_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-|–|to)\s*(-?\d+(?:\.\d+)?)\s*$")
_AUTHOR = re.compile(r"^\(?(?:authors recalled: )?([A-Z][A-Za-z\-]+(?: [A-Z][a-z]+)?)"
                     r"(?:\s+[A-Z]{1,3}\b|,|\s+et al|\s+&|\s+and\b)")
_JOURNAL = re.compile(r"['’]\s*([A-Z][A-Za-z .]+?)\s+((?:19|20)\d{2})\b")
_YEAR = re.compile(r"\b(19\d{2}|20\d{2})\b")
PRODUCT_LABELS = {"msc": "MSC", "sev_naive": "sEV", "sev_primed": "primed sEV"}


def _short_source(source: str) -> str | None:
    m, y = _AUTHOR.match(source.strip()), _YEAR.search(source)
    if m and y:
        return f"{m.group(1)} {y.group(1)}"
    j = _JOURNAL.search(source)  # a title in quotes, then the journal and year
    return f"{j.group(1)} {j.group(2)}" if j else None


def _spread(value: str, spread: str) -> tuple[float, float, float] | None:
    """(value, low, high) of a row: a range or CI as written, a single spread as +/-."""
    val = float(value) if value.strip() else math.nan
    m = _SPREAD_RANGE.match(spread)
    if m:
        lo, hi = float(m.group(1)), float(m.group(2))
        return (val if math.isfinite(val) else (lo + hi) / 2, lo, hi)
    if not math.isfinite(val):
        return None
    try:
        s = float(spread)
    except ValueError:
        return val, val, val
    return val, val - s, val + s


def literature_points(readout: str, *, injury: str, kind: str = "level",
                      products: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Published observations of ``readout`` for the injury preset ``injury`` that a panel
    can show, from the observation dataset (:func:`cordsim.data.observations`):
    ``kind="level"``: untreated or vehicle animals (rows compared by level, in the model's
    units); ``kind="gain"``: treated minus vehicle (rows compared by gain, e.g. pooled BBB
    gains of MSCs and MSC-sEVs). Each point: ``time``, ``value``, ``lo``, ``hi`` (the
    spread as published: SEM, SD, range or 95% CI), ``spread_type``, ``label`` (first
    author and year, product for gains), ``obs_id``. Rows repeating the same time and value
    (one study entered twice) appear once. ``products``: for gains, only rows whose product
    is of the same kind (cells or vesicles) as one of these."""
    from cordsim.data import observations
    from cordsim.data import products as product_table

    if not injury:
        return []
    df = observations()
    what = df["observable"].where(df["observable"] != "", df["model"])
    if kind == "level":
        rows = df[((df["model"] == readout) | (what == readout))
                  & ((df["comparison"] == "level") | (df["observation_model"] == "bbb")
                     | (df["observation_model"] == readout))
                  & df["condition"].isin(["untreated", "vehicle"])]
    elif kind == "gain":
        rows = df[((df["model"] == readout) & (df["comparison"] == "gain"))
                  | ((readout == "bbb_score") & (df["observation_model"] == "bbb_md"))]
    else:
        raise ValueError(f"kind must be 'level' or 'gain', got {kind!r}")
    rows = rows[rows["injury"] == injury]
    if kind == "gain" and products is not None:
        table = product_table()
        kinds = {table[p]["kind"] for p in products if p in table}

        def same_kind(protocol: Any) -> bool:
            if not str(protocol).strip() or str(protocol) == "nan":
                return False
            return any(table.get(d.get("product"), {}).get("kind") in kinds
                       for d in json.loads(protocol))

        rows = rows[rows["protocol"].map(same_kind)]
    points: list[dict[str, Any]] = []
    seen: set[tuple[float, float]] = set()
    for r in rows.itertuples():
        if not str(r.time_day).strip():
            continue
        vals = _spread(str(r.value), str(r.spread))
        if vals is None:
            continue
        t = float(r.time_day)
        key = (round(t, 3), round(vals[0], 3))
        if key in seen:
            continue
        seen.add(key)
        label = _short_source(str(r.source)) or str(r.study) or str(r.obs_id)
        if kind == "gain" and str(r.protocol).strip():
            prods = {d.get("product") for d in json.loads(r.protocol)}
            label += " (" + ", ".join(PRODUCT_LABELS.get(p, p) for p in sorted(prods)) + ")"
        spread_type = str(r.spread_type).split(" (")[0].strip()
        if spread_type == "none":
            spread_type = ""
        if spread_type.startswith("unspecified"):
            spread_type = "±"
        points.append({"time": t, "value": vals[0], "lo": vals[1], "hi": vals[2],
                       "spread_type": spread_type, "label": label, "obs_id": str(r.obs_id)})
    return sorted(points, key=lambda p: (p["time"], p["label"]))


def _overlay(ax: Axes, points: list[dict[str, Any]], end: float) -> None:
    """Draw observations as black markers with their spread."""
    points = [p for p in points if 0 <= p["time"] <= end]
    by_time: dict[float, int] = {}
    for k, p in enumerate(points):
        same = by_time.get(p["time"], 0)
        by_time[p["time"]] = same + 1
        dx = 0.012 * end * ((same + 1) // 2) * (1 if same % 2 else -1)  # side by side
        kind = f", {p['spread_type']}" if p["spread_type"] and p["lo"] != p["hi"] else ""
        ax.errorbar([p["time"] + dx], [p["value"]],
                    yerr=[[p["value"] - p["lo"]], [p["hi"] - p["value"]]],
                    fmt=OBSERVATION_MARKERS[k % len(OBSERVATION_MARKERS)], ms=3.5,
                    color=OBSERVATION_COLOR, mfc="white", mew=0.9, elinewidth=0.9,
                    capsize=2, zorder=5, label=f"{p['label']}{kind}")


def _injury(results: Mapping[str, SimulationResult]) -> str:
    """The injury preset all ``results`` share ("" when they differ: no observation then
    fits every line)."""
    injuries = {r.provenance.injury_severity_preset for r in results.values()}
    return injuries.pop() if len(injuries) == 1 else ""


def _ensemble_band(ax: Axes, ensemble: Any, arm: str, variable: str, color: str,
                   alpha: float = 0.2) -> bool:
    if ensemble is None:
        return False
    part = ensemble[(ensemble["arm"] == arm) & (ensemble["variable"] == variable)]
    if part.empty:
        return False
    ax.fill_between(part["time_day"], part["q05"], part["q95"], color=color, alpha=alpha,
                    lw=0, gid=f"band-{variable}")
    for q in ("q05", "q95"):  # the edges, so overlapping bands stay apart
        ax.plot(part["time_day"], part[q], color=color, lw=0.5, ls=(0, (2, 2)),
                label="_band")
    return True


def _band_median(ensemble: Any, arm: str, variable: str) -> tuple[Any, Any] | None:
    """The band's median line (days, values), or None without a band."""
    if ensemble is None:
        return None
    part = ensemble[(ensemble["arm"] == arm) & (ensemble["variable"] == variable)]
    return None if part.empty else (part["time_day"].to_numpy(), part["q50"].to_numpy())


def _legend(ax: Axes, *, skip: Iterable[str] = (), **kwargs: Any) -> None:
    """A legend in the figure's font; ``skip``: labels left out (e.g. the arms, named in
    another panel's legend)."""
    skip = set(skip)
    pairs = [(h, lab) for h, lab in zip(*ax.get_legend_handles_labels(), strict=True)
             if lab not in skip]
    if pairs:
        handles, labels = zip(*pairs, strict=True)
        ax.legend(handles, labels, fontsize=FONT, title_fontsize=FONT, **kwargs)


def _panel_title(ax: Axes, text: str, width: int = 60) -> None:
    ax.set_title(textwrap.fill(text, width), fontsize=TITLE_FONT)


def natural_history_figure(result: SimulationResult, *, title: str | None = None,
                           observations: bool = True) -> Figure:
    """Six panels after the review's Fig. 1: injury, cells, M1/M2, cytokines, BSCB, BBB
    (with the published BBB scores of untreated or vehicle animals of the same injury)."""
    end = float(result.time[-1])
    t = result.time
    fig = Figure(figsize=(COLUMN_WIDTH, 4.8), layout="constrained")
    axes = fig.subplots(2, 3)
    (a, b, c), (d, e, f) = axes

    a.plot(t, result["neurons_fraction"], label="neurons")
    a.plot(t, result["oligodendrocytes_fraction"], label="oligodendrocytes")
    a.plot(t, result["axons_spared"], label="spared axons")
    a.plot(t, result["myelin_debris"], "--", label="myelin debris")
    _panel_title(a, "A  Primary and secondary injury")
    a.set_ylabel("fraction of intact cord")
    a.set_ylim(bottom=0)

    b.plot(t, result["neutrophils"] / 1e3, label="neutrophils")
    b.plot(t, result["microglia_activated"] / 1e3, label="activated microglia")
    b.plot(t, result["macrophages"] / 1e3, label="macrophages")
    _panel_title(b, "B  Immune cells in the lesion")
    b.set_ylabel("thousand cells / mm³")

    c.plot(t, result["m2_fraction_macrophages"], label="macrophages")
    c.plot(t, result["m2_fraction_microglia"], label="microglia")
    c.axhline(0.5, color="grey", lw=0.8, ls=":")
    c.set_ylim(0, 1)
    _panel_title(c, "C  M2-like share (0 = M1-like)")
    c.set_ylabel("M2-like fraction")

    for name, label in (("tnf", "TNF-α"), ("il1b", "IL-1β"), ("il6", "IL-6"),
                        ("il10", "IL-10"), ("tgfb", "TGF-β")):
        d.plot(t, result[name], label=label)
    d.set_yscale("symlog", linthresh=1.0)
    _panel_title(d, "D  Lesion cytokines")
    d.set_ylabel("pg/mL")

    e.plot(t, result["bscb_permeability"], color="tab:red")
    e.axhline(1.0, color="grey", lw=0.8, ls=":")
    _panel_title(e, "E  BSCB permeability (1 = intact)")
    e.set_ylabel("relative permeability")

    f.plot(t, result["bbb_score"], color="black", label="cordsim")
    if observations:
        _overlay(f, literature_points("bbb_score", injury=result.provenance
                                      .injury_severity_preset), end)
    f.set_ylim(0, 21)
    _panel_title(f, "F  Locomotor recovery")
    f.set_ylabel("BBB score (0-21)")

    for ax in axes.flat:
        _days_axis(ax, end, compact=True)
        _dose_markers(ax, {"": result}, {"": "black"})
    for ax in (a, b, c):
        _legend(ax)
    _legend(f, loc="lower right")
    _legend(d, ncol=2)
    fig.suptitle(textwrap.fill(_title(title or "cordsim natural history: "
                                      f"{result.provenance.injury_description}"), 120),
                 fontsize=TITLE_FONT)
    return fig


def plot_natural_history(result: SimulationResult, path: str | Path, *,
                         title: str | None = None, observations: bool = True,
                         formats: str | Iterable[str] | None = None) -> Path:
    """Write :func:`natural_history_figure` to ``path`` (in each of ``formats``); returns
    the first file written."""
    return _save(natural_history_figure(result, title=title, observations=observations),
                 path, formats)


def outcomes_figure(results: Mapping[str, SimulationResult], *,
                    observations: bool = True) -> Figure:
    """Tissue sparing, lesion volume, serum cytokines, scar and BBB score for one or more
    runs, one colour per run (:func:`arm_colors`)."""
    fig = Figure(figsize=(COLUMN_WIDTH, 4.9), layout="constrained")
    axes = fig.subplots(2, 2).flat
    end = max(float(r.time[-1]) for r in results.values())
    colors = arm_colors(results)
    for label, r in results.items():
        color = colors[label]
        axes[0].plot(r.time, r["spared_tissue_fraction"], color=color, label=label)
        axes[0].plot(r.time, r["lesion_volume_fraction"], ls="--", color=color)
        axes[1].plot(r.time, r["serum_tnf"], color=color, label=f"{label} TNF-α")
        axes[1].plot(r.time, r["serum_il6"], ls="--", color=color, label=f"{label} IL-6")
        axes[2].plot(r.time, r["scar_cspg"], color=color, label=f"{label} CSPG")
        axes[2].plot(r.time, r["scar_fibrotic"], ls="--", color=color,
                     label=f"{label} fibrotic")
        axes[3].plot(r.time, r["bbb_score"], color=color, label=label)
    if observations:
        injury = _injury(results)
        _overlay(axes[0], literature_points("spared_tissue_fraction", injury=injury), end)
        _overlay(axes[3], literature_points("bbb_score", injury=injury), end)
    _panel_title(axes[0], "Spared tissue (solid) and lesion volume (dashed)")
    axes[0].set_ylabel("fraction of epicenter")
    axes[0].set_ylim(0, 1)
    _panel_title(axes[1], "Serum TNF-α (solid) and IL-6 (dashed)")
    axes[1].set_ylabel("pg/mL")
    _panel_title(axes[2], "Scar: astroglial CSPG (solid) and fibrotic (dashed)")
    axes[2].set_ylabel("fraction of maximal")
    _panel_title(axes[3], "BBB locomotor score")
    axes[3].set_ylabel("BBB (0-21)")
    axes[3].set_ylim(0, 21)
    for ax in axes:
        _days_axis(ax, end)
        _dose_markers(ax, results, colors)
    _legend(axes[0])
    _legend(axes[3], skip=results, loc="lower right")
    for ax in (axes[1], axes[2]):
        if len(results) <= 3:
            _legend(ax, ncol=2 if len(results) > 1 else 1)
    return fig


def plot_outcomes(results: Mapping[str, SimulationResult], path: str | Path, *,
                  observations: bool = True,
                  formats: str | Iterable[str] | None = None) -> Path:
    """Write :func:`outcomes_figure` to ``path`` (in each of ``formats``)."""
    return _save(outcomes_figure(results, observations=observations), path, formats)


COMPARISON_PANELS = (
    ("bbb_score", "BBB locomotor score (0-21)", (0, 21)),
    ("bscb_permeability", "BSCB permeability (1 = intact)", None),
    ("m2_fraction_macrophages", "Lesion macrophages: M2-like share", (0, 1)),
    ("serum_tnf", "Serum TNF-α (pg/mL)", None),
    ("serum_il6", "Serum IL-6 (pg/mL)", None),
    ("spared_tissue_fraction", "Spared tissue (fraction of epicenter)", (0, 1)),
    ("sev_lesion", "Free sEVs in the lesion (particles)", None),
    ("mirna_copies_per_macrophage", "miRNA copies per lesion myeloid cell", None),
)


def comparison_figure(results: Mapping[str, SimulationResult], *, title: str = "",
                      panels: tuple = COMPARISON_PANELS, ensemble: Any = None,
                      observations: bool = True) -> Figure:
    """One panel per readout, one line per arm (:func:`arm_colors`), dose times marked on
    every time axis. With a BBB panel and more than one arm, the top row shows the BBB
    score (with the published scores of untreated/vehicle animals of the same injury) and
    the BBB gain of each treated arm over the first arm, with the 5-95% band of a fitted
    parameter ensemble (``ensemble``: :func:`cordsim.run.ensemble.bands`' table)
    and the published gains with their 95% CIs. With an ensemble, every line is its median,
    inside its band, on every panel; without one, the best fit (the mode)."""
    colors = arm_colors(results)
    names = [p[0] for p in panels]
    gain = "bbb_score" in names and len(results) > 1
    top = [p for p in panels if p[0] == "bbb_score"] if gain else []
    rest = [p for p in panels if p not in top]
    ncol = 4
    nrow = -(-(len(rest) + 1) // ncol)  # + 1: the arms' legend takes a slot
    ratios = [1.35] * bool(gain) + [1.0] * nrow
    fig = Figure(figsize=(COLUMN_WIDTH, 1.75 * sum(ratios) + 0.4), layout="constrained")
    grid = fig.add_gridspec(len(ratios), ncol, height_ratios=ratios)
    end = max(float(r.time[-1]) for r in results.values())
    injury = _injury(results)
    control = next(iter(results))
    ax_bbb = fig.add_subplot(grid[0, :2]) if gain else None
    ax_gain = fig.add_subplot(grid[0, 2:]) if gain else None
    axes = [fig.add_subplot(grid[int(gain) + k // ncol, k % ncol]) for k in range(nrow * ncol)]
    drawn = [(ax_bbb, *top[0])] if gain else []
    drawn += list(zip(axes, (p[0] for p in rest), (p[1] for p in rest), (p[2] for p in rest),
                      strict=False))
    members = None
    for ax, name, label, ylim in drawn:
        for arm, r in results.items():
            if name not in r.data:
                continue
            banded = _ensemble_band(ax, ensemble, arm, name, colors[arm], alpha=0.15)
            line = _band_median(ensemble, arm, name) or (r.time, r[name])  # median in its band
            ax.plot(*line, label=arm, color=colors[arm], lw=1.3 if arm == control else 1.1)
            if banded:
                part = ensemble[ensemble["arm"] == arm]
                members = int(part["members"].iloc[0])
        _panel_title(ax, label, 60 if ax is ax_bbb else 28)
        if ylim:
            ax.set_ylim(*ylim)
        if name == "bbb_score" and observations:
            _overlay(ax, literature_points("bbb_score", injury=injury), end)
    if gain:
        assert ax_gain is not None and ax_bbb is not None
        ref = results[control]
        ax_gain.axhline(0, color=colors[control], lw=1.0)
        for arm, r in list(results.items())[1:]:
            _ensemble_band(ax_gain, ensemble, arm, "bbb_gain", colors[arm], alpha=0.25)
            line = _band_median(ensemble, arm, "bbb_gain") or (
                r.time, r["bbb_score"] - np.interp(r.time, ref.time, ref["bbb_score"]))
            ax_gain.plot(*line, color=colors[arm], lw=1.3, label=arm)
        if observations:
            given = {d.get("product") for r in list(results.values())[1:]
                     for d in r.provenance.protocol.get("doses", [])}
            _overlay(ax_gain, literature_points("bbb_score", injury=injury, kind="gain",
                                                products=given), end)
        _panel_title(ax_gain, f"BBB gain over {control} (points)")
        ax_gain.set_ylabel("BBB points", fontsize=FONT)
        ax_bbb.set_ylabel("BBB score", fontsize=FONT)
        _legend(ax_gain, skip=results, loc="upper left", title="published gains")
        _legend(ax_bbb, skip=results, loc="lower right", title="published, untreated")
    for ax, *_ in drawn:
        _days_axis(ax, end, compact=ax is not ax_bbb)
        _dose_markers(ax, results, colors)
    if gain:
        assert ax_gain is not None
        _days_axis(ax_gain, end)
        _dose_markers(ax_gain, results, colors)
    key = axes[len(rest)]
    key.axis("off")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors[a], lw=1.5, label=a) for a in results]
    handles.append(Line2D([], [], color="black", ls="none", marker="^", ms=4,
                          label="dose (arm's colour)"))
    if members:
        from matplotlib.patches import Patch

        label = ensemble.attrs.get("label", f"median and 90% band over {members} fitted "
                                   "parameter sets")
        handles.append(Patch(color="grey", alpha=0.3, label=textwrap.fill(
            f"lines: {label}", 34)))
    else:
        handles.append(Line2D([], [], color="grey", lw=1.5, label="lines: best fit (mode)"))
    key.legend(handles=handles, fontsize=FONT, loc="center", frameon=False,
               title="arms", title_fontsize=FONT)
    for ax in axes[len(rest) + 1:]:
        ax.axis("off")
    if title:
        fig.suptitle(textwrap.fill(_title(title), 120), fontsize=TITLE_FONT)
    return fig


def plot_comparison(results: Mapping[str, SimulationResult], path: str | Path, *,
                    title: str = "", panels: tuple = COMPARISON_PANELS, ensemble: Any = None,
                    observations: bool = True,
                    formats: str | Iterable[str] | None = None) -> Path:
    """Write :func:`comparison_figure` to ``path`` (in each of ``formats``); returns the
    first file written."""
    return _save(comparison_figure(results, title=title, panels=panels, ensemble=ensemble,
                                   observations=observations), path, formats)


def write_run_figures(results: Mapping[str, SimulationResult], out: str | Path, *,
                      title: str = "", control_title: str | None = None,
                      ensemble: Any = None, formats: str | Iterable[str] | None = None
                      ) -> list[Path]:
    """The figures of a scenario run in the folder ``out``, each in every one of ``formats``
    (default PNG): ``fig_comparison`` (:func:`comparison_figure`, with the ensemble's bands
    when ``ensemble`` is given), and, when the run has more than one time point,
    ``fig_natural_history`` (the first arm) and ``fig_outcomes``. Returns the files."""
    out = Path(out)
    first = next(iter(results.values()))
    written = save_figure(comparison_figure(results, title=title, ensemble=ensemble),
                          out / "fig_comparison.png", formats)
    if first.time.size > 1:
        written += save_figure(natural_history_figure(first, title=control_title),
                               out / "fig_natural_history.png", formats)
        written += save_figure(outcomes_figure(results), out / "fig_outcomes.png", formats)
    return written


def plot_dose_response(doses: list[float], values: list[float], path: str | Path, *,
                       unit: str, ylabel: str, title: str, control: float) -> Path:
    """Endpoint against dose on a log axis, with the vehicle level."""
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.semilogx(doses, values, "o-", color="tab:blue", label="treated")
    ax.axhline(control, color="black", ls=":", label="vehicle")
    ax.set_xlabel(f"dose ({unit})")
    ax.set_ylabel(ylabel)
    ax.set_title(_title(title))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_calibration(table, starts, out: str | Path) -> list[Path]:  # type: ignore[no-untyped-def]
    """``fig_fit.png``: every measurement with its SD against the fitted model;
    ``fig_waterfall.png``: the objective of each start, best first."""
    out = Path(out)
    fig = Figure(figsize=(8, 0.45 * len(table) + 1.8), layout="constrained")
    ax = fig.subplots()
    y = list(range(len(table)))
    labels = [f"{r.datasetId}: {r.observableId} @ day {r.time:g} ({r.simulationConditionId})"
              for r in table.itertuples()]
    ax.errorbar(table["measurement"], y, xerr=table["sigma"], fmt="o", color="black",
                label="data (mean, SD used in the fit)")
    ax.plot(table["simulated"], y, "D", color="tab:red", label="cordsim (fitted)")
    ax.set_yticks(y, [_title(lab)[:80] for lab in labels], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("value (observable units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Calibration: fitted model against the calibration data")
    paths = [_save(fig, out / "fig_fit.png")]
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    best = starts["objective"].min()
    ax.semilogy(range(1, len(starts) + 1), starts["objective"] - best + 1, "o-")
    ax.set_xlabel("start (sorted)")
    ax.set_ylabel("objective - best + 1")
    ax.set_title("Multi-start waterfall")
    ax.grid(alpha=0.3, which="both")
    paths.append(_save(fig, out / "fig_waterfall.png"))
    return paths


def plot_identifiability(table, path: str | Path) -> Path:  # type: ignore[no-untyped-def]
    """Posterior-to-prior SD of each fitted parameter, both within the bounds: below 0.5 the
    data determine it."""
    fig = Figure(figsize=(7, 0.32 * len(table) + 1.5), layout="constrained")
    ax = fig.subplots()
    y = list(range(len(table)))
    colors = ["tab:green" if r < 0.5 else "tab:orange" if r < 0.9 else "tab:grey"
              for r in table["posterior_to_prior_sd"]]
    ax.barh(y, table["posterior_to_prior_sd"], color=colors)
    ax.axvline(0.5, color="black", ls=":", lw=0.8)
    ax.axvline(0.9, color="black", ls="--", lw=0.8)
    ax.set_yticks(y, table["parameterId"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("posterior SD / prior SD, both within the bounds (parameter scale)")
    ax.set_title("Identifiability: green = set by the data, grey = prior only")
    return _save(fig, path)



ENSEMBLE_PANELS = (("bbb_score", "BBB locomotor score (0-21)"),
                   ("bbb_gain", "BBB gain over the first arm (points)"),
                   ("bscb_permeability", "BSCB permeability (1 = intact)"),
                   ("spared_tissue_fraction", "Spared tissue (fraction)"))


def ensemble_figure(df, *, title: str = "", injury: str | None = None,  # type: ignore[no-untyped-def]
                    observations: bool = True) -> Figure:
    """Median and 90% credible band over the ensemble, one colour per arm
    (:func:`arm_colors`); with ``injury``, the published observations of that injury."""
    fig = Figure(figsize=(COLUMN_WIDTH, 4.9), layout="constrained")
    axes = fig.subplots(2, 2).flat
    arms = list(dict.fromkeys(df["arm"]))
    colors = arm_colors(arms)
    end = float(df["time_day"].max())
    for ax, (name, label) in zip(axes, ENSEMBLE_PANELS, strict=True):
        for arm in arms:
            part = df[(df["arm"] == arm) & (df["variable"] == name)]
            if part.empty:
                continue
            ax.fill_between(part["time_day"], part["q05"], part["q95"], color=colors[arm],
                            alpha=0.2, lw=0, gid=f"band-{name}")
            ax.plot(part["time_day"], part["q50"], color=colors[arm],
                    label=f"{arm} (n={int(part['members'].iloc[0])})")
        if observations and injury and name in ("bbb_score", "spared_tissue_fraction"):
            _overlay(ax, literature_points(name, injury=injury), end)
        if observations and injury and name == "bbb_gain":
            _overlay(ax, literature_points("bbb_score", injury=injury, kind="gain"), end)
        _panel_title(ax, label)
        _days_axis(ax, end)
        _legend(ax)
    fig.suptitle(textwrap.fill(_title(title or "Ensemble of fitted parameter sets: median "
                                      "and 90% band"), 120), fontsize=TITLE_FONT)
    return fig


def plot_ensemble(df, path: str | Path, *, title: str = "", injury: str | None = None,  # type: ignore[no-untyped-def]
                  observations: bool = True,
                  formats: str | Iterable[str] | None = None) -> Path:
    """Write :func:`ensemble_figure` to ``path`` (in each of ``formats``)."""
    return _save(ensemble_figure(df, title=title, injury=injury, observations=observations),
                 path, formats)


def plot_sensitivity(tables: Mapping[str, object], method: str, path: str | Path, *,
                     top: int = 15, title: str = "") -> Path:
    """Ranked bars with 95% CIs, one panel per endpoint: Morris ``mu_star`` or Sobol
    first-order (``S1``) and total (``ST``) indices."""
    fig = Figure(figsize=(6.5 * len(tables), 0.3 * top + 1.8), layout="constrained")
    axes = fig.subplots(1, len(tables), squeeze=False)[0]
    for ax, (endpoint, table) in zip(axes, tables.items(), strict=True):
        t = table.head(top)  # type: ignore[attr-defined]
        y = list(range(len(t)))
        if method == "morris":
            ax.barh(y, t["mu_star"], xerr=t["mu_star_conf"], color="tab:blue", capsize=2)
            ax.set_xlabel("Morris mu* (mean |elementary effect|, endpoint units)")
        else:
            ax.barh([v - 0.2 for v in y], t["ST"], height=0.4, xerr=t["ST_conf"],
                    color="tab:orange", capsize=2, label="total (ST)")
            ax.barh([v + 0.2 for v in y], t["S1"], height=0.4, xerr=t["S1_conf"],
                    color="tab:blue", capsize=2, label="first order (S1)")
            ax.axvline(0, color="black", lw=0.6)
            ax.set_xlabel("Sobol index (share of the endpoint's variance)")
            ax.legend(fontsize=8, loc="lower right")
        ax.set_yticks(y, t["parameter"], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(endpoint, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(_title(title or f"{method} sensitivity (95% bootstrap CIs)"), fontsize=10)
    return _save(fig, path)


def plot_effects_over_time(curves: Mapping[str, Mapping[str, object]], readout: str,
                           path: str | Path, *, title: str = "") -> Path:
    """The readout over time with each top parameter at its low, middle and high value."""
    fig = Figure(figsize=(4.2 * len(curves), 3.6), layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (name, c) in zip(axes, curves.items(), strict=True):
        for label, color in (("low", "tab:blue"), ("mid", "black"), ("high", "tab:red")):
            ax.plot(c["time"], c[label], color=color, label=label)  # type: ignore[arg-type]
        ax.set_title(name, fontsize=9)
        _days_axis(ax, float(c["time"][-1]))  # type: ignore[index]
        ax.set_ylabel(readout)
    axes[0].legend(fontsize=7, title="parameter at", title_fontsize=7)
    fig.suptitle(_title(title or f"Top parameters: {readout} over time"), fontsize=10)
    return _save(fig, path)


def plot_scan(ds, path: str | Path, *, variable: str = "gain") -> Path:  # type: ignore[no-untyped-def]
    """Heat map of a scan over two settings (one panel per value of any third), or a line
    with its band over one setting (posterior members: the 90% band; animals: the 95% CI
    of the mean)."""
    import numpy as np

    dims = list(ds[variable].dims)
    label = (f"{ds.attrs['endpoint']}: {ds.attrs['arm']} minus {ds.attrs['control']}"
             if variable == "gain" else f"{ds.attrs['endpoint']} ({ds.attrs['arm']})")
    note = f" ({ds.attrs['point']})" if "point" in ds.attrs else (
        f" (mean of {ds.attrs['animals']} animals)" if ds.attrs["animals"] > 1 else "")
    if len(dims) == 1:
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.subplots()
        x = ds[dims[0]].values
        xs = np.arange(len(x)) if x.dtype.kind in "OUS" else x
        ax.plot(xs, ds[variable].values, "o-", color="black")
        for lo, hi, text in ((f"{variable}_q05", f"{variable}_q95",
                              "90% band of the posterior predictive (line: median)"),
                             (f"{variable}_ci_low", f"{variable}_ci_high",
                              "95% CI of the mean")):
            if lo in ds:
                ax.fill_between(xs, ds[lo].values, ds[hi].values, color="grey", alpha=0.3,
                                label=text)
                ax.legend(fontsize=8)
        if x.dtype.kind in "OUS":
            ax.set_xticks(xs, x)
        elif dims[0] == "dose" and x.min() > 0:
            ax.set_xscale("log")
        ax.set_xlabel(_setting_label(dims[0], ds))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        fig.suptitle(_title(f"Scan of {ds.attrs['arm']}{note}"), fontsize=10)
        return _save(fig, path)
    extra = dims[2:]
    combos = [dict(zip(extra, c, strict=True))
              for c in itertools.product(*(ds[d].values for d in extra))][:6]
    fig = Figure(figsize=(5.5 * len(combos), 4.5), layout="constrained")
    axes = fig.subplots(1, len(combos), squeeze=False)[0]
    vmin, vmax = float(np.nanmin(ds[variable])), float(np.nanmax(ds[variable]))
    for ax, combo in zip(axes, combos, strict=True):
        part = ds[variable].sel(combo).transpose(dims[0], dims[1]).values
        im = ax.imshow(part, origin="lower", aspect="auto", cmap="viridis", vmin=vmin,
                       vmax=vmax)
        for (i, j), v in np.ndenumerate(part):
            ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=7,
                    color="white" if v < (vmin + vmax) / 2 else "black")
        ax.set_yticks(range(part.shape[0]), [_tick(v) for v in ds[dims[0]].values])
        ax.set_xticks(range(part.shape[1]), [_tick(v) for v in ds[dims[1]].values])
        ax.set_ylabel(_setting_label(dims[0], ds))
        ax.set_xlabel(_setting_label(dims[1], ds))
        if combo:
            ax.set_title(", ".join(f"{k} = {_tick(v)}" for k, v in combo.items()), fontsize=9)
    fig.colorbar(im, ax=list(axes), label=label)
    fig.suptitle(_title(f"Scan of {ds.attrs['arm']}{note}"), fontsize=10)
    return _save(fig, path)


SETTING_LABELS = {"dose": "dose per administration", "start": "first dose (day after injury)",
                  "count": "administrations", "interval": "days between administrations",
                  "duration": "infusion duration (days; 0 = injections)", "route": "route",
                  "product": "product"}


def _setting_label(name: str, ds) -> str:  # type: ignore[no-untyped-def]
    label = SETTING_LABELS.get(name, name)
    return f"{label} ({ds.attrs['dose_unit']})" if name == "dose" else label


def _tick(v) -> str:  # type: ignore[no-untyped-def]
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def plot_pareto(trials, pareto, summary: Mapping[str, object], path: str | Path) -> Path:  # type: ignore[no-untyped-def]
    """Gain against total dose of every protocol tried, the Pareto front and the arm's own
    protocol, with the 90% band over posterior members (or 95% CIs over animals)."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(trials["total_dose"], trials["gain"], s=12, color="grey", alpha=0.6,
               label="protocols tried")
    ax.plot(pareto["total_dose"], pareto["gain"], "o-", color="tab:blue",
            label="Pareto front (no smaller dose gains more)")
    lo, hi = ("gain_q05", "gain_q95") if "gain_q05" in pareto else ("gain_ci_low",
                                                                     "gain_ci_high")
    if lo in pareto:
        ax.fill_between(pareto["total_dose"], pareto[lo], pareto[hi], color="tab:blue",
                        alpha=0.15, step=None)
    own = summary["own"]
    best = summary["best"]
    ax.errorbar([own["total_dose"]], [own["gain"]],  # type: ignore[index]
                yerr=[[own["gain"] - own.get(lo, own["gain"])],  # type: ignore[index,union-attr]
                      [own.get(hi, own["gain"]) - own["gain"]]],  # type: ignore[index,union-attr]
                fmt="s", color="black", capsize=3, label="the arm's own protocol")
    ax.scatter([best["total_dose"]], [best["gain"]], marker="*", s=160,  # type: ignore[index]
               color="tab:red", zorder=5, label="best found")
    ax.set_xscale("log")
    ax.set_xlabel(f"total dose ({summary['dose_unit']})")
    ax.set_ylabel(f"{summary['endpoint']}: gain over {summary['control']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    per = summary.get("point") or f"{summary['animals']} animals per protocol"
    fig.suptitle(_title(f"Protocol search for {summary['arm']} ({per}, "
                        f"{summary['trials']} trials)"), fontsize=10)
    return _save(fig, path)


def plot_graft_survival(curves, obs, path: str | Path,  # type: ignore[no-untyped-def]
                        milieu=None) -> Path:
    """Share of grafted MSCs alive against days since grafting, one line per graft day and
    route, with the published counts (28-day "close to 0" rows as upper bounds); with
    ``milieu`` (columns ``time_day``, ``t_cells``, ``macrophages_m1`` of an untreated lesion)
    a second panel shows what primes the rejection, with the graft days marked."""
    fig = Figure(figsize=(7.5 if milieu is None else 12.0, 4.5), layout="constrained")
    axes = fig.subplots(1, 1 if milieu is None else 2, squeeze=False)[0]
    ax = axes[0]
    days = sorted(curves["graft_day"].unique())
    for i, day in enumerate(days):
        for route, style in (("intralesional", "-"), ("intrathecal", ":")):
            part = curves[(curves["graft_day"] == day) & (curves["route"] == route)]
            if part.empty:
                continue
            ax.plot(part["days_after_graft"], 100 * part["surviving_fraction"], style,
                    color=f"C{i}", label=f"{route}, grafted day {day:g}")
        o = obs[(obs["graft_day"] - day).abs() < 1e-3]
        vals, ups = o[o["kind"] == "value"], o[o["kind"] == "upper"]
        ax.scatter(vals["days_after_graft"], 100 * vals["value"], color=f"C{i}", s=40,
                   edgecolor="black", zorder=5)
        ax.scatter(ups["days_after_graft"], [2.0] * len(ups), color=f"C{i}", marker="v",
                   s=40, zorder=5)
    ax.set_xlabel("days after grafting")
    ax.set_ylabel("grafted MSCs alive (%)")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    if milieu is not None:
        right = axes[1]
        right.plot(milieu["time_day"], milieu["t_cells"], color="black",
                   label="T cells (primes rejection)")
        right.set_xlabel("days after injury (untreated moderate contusion)")
        right.set_ylabel("T cells in the lesion (cells/mm$^3$)")
        right.grid(alpha=0.3)
        twin = right.twinx()
        twin.plot(milieu["time_day"], milieu["macrophages_m1"], color="grey", ls="--",
                  label="M1-like macrophages (weaker priming)")
        twin.set_ylabel("M1-like macrophages (cells/mm$^3$)")
        for i, day in enumerate(days):
            right.axvspan(day, day + 7, color=f"C{i}", alpha=0.12)
        lines = right.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        right.legend(lines, [h.get_label() for h in lines], fontsize=7, loc="center right")
        right.set_title("the first week of each graft (shaded) against the lesion's "
                        "immune cells", fontsize=8)
    fig.suptitle("MSC graft survival in the contused cord: model (lines), Nandoe Tewarie 2009\n"
                 "(dots: counts 7 d after grafting; triangles: 'close to 0' at 28 d)",
                 fontsize=9)
    return _save(fig, path)

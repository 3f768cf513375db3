"""Figures a biologist recognises: the review's Fig. 1 panels and the tissue/behaviour outcomes.

Figures are built with matplotlib's object API (``Figure``), never pyplot, so importing or
using this module leaves the user's matplotlib backend alone.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Mapping
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cordsim.run.results import SimulationResult

MAX_TITLE = 300  # characters of a scenario's name and description shown in a title


def _title(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 3] + "..."


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path

WEEK_TICKS = [0, 7, 14, 21, 28, 35, 42, 49, 56, 63, 70]


def _days_axis(ax: Axes, end: float) -> None:
    ticks = [t for t in WEEK_TICKS if t <= end] if end > 14 else None
    if ticks:
        ax.set_xticks(ticks)
    ax.set_xlim(0, end)
    ax.set_xlabel("days after injury")
    ax.grid(alpha=0.3)


def plot_natural_history(result: SimulationResult, path: str | Path, *,
                         title: str | None = None) -> Path:
    """Six panels after the review's Fig. 1: injury, cells, M1/M2, cytokines, BSCB, BBB."""
    end = float(result.time[-1])
    t = result.time
    fig = Figure(figsize=(15, 8.5), layout="constrained")
    axes = fig.subplots(2, 3)
    (a, b, c), (d, e, f) = axes

    a.plot(t, result["neurons_fraction"], label="neurons")
    a.plot(t, result["oligodendrocytes_fraction"], label="oligodendrocytes")
    a.plot(t, result["axons_spared"], label="spared axons")
    a.plot(t, result["myelin_debris"], "--", label="myelin debris")
    a.set_title("A  Primary and secondary injury")
    a.set_ylabel("fraction of intact cord")
    a.set_ylim(bottom=0)
    a.legend(fontsize=8)

    b.plot(t, result["neutrophils"] / 1e3, label="neutrophils")
    b.plot(t, result["microglia_activated"] / 1e3, label="activated microglia")
    b.plot(t, result["macrophages"] / 1e3, label="macrophages (monocyte-derived)")
    b.set_title("B  Immune cells in the lesion")
    b.set_ylabel("thousand cells / mm³")
    b.legend(fontsize=8)

    c.plot(t, result["m2_fraction_macrophages"], label="macrophages")
    c.plot(t, result["m2_fraction_microglia"], label="microglia")
    c.axhline(0.5, color="grey", lw=0.8, ls=":")
    c.set_ylim(0, 1)
    c.set_title("C  Polarization: M2-like share (0 = M1-like, 1 = M2-like)")
    c.set_ylabel("M2-like fraction")
    c.legend(fontsize=8)

    for name, label in (("tnf", "TNF-α"), ("il1b", "IL-1β"), ("il6", "IL-6"),
                        ("il10", "IL-10"), ("tgfb", "TGF-β")):
        d.plot(t, result[name], label=label)
    d.set_yscale("symlog", linthresh=1.0)
    d.set_title("D  Lesion cytokines")
    d.set_ylabel("pg/mL")
    d.legend(fontsize=8, ncol=2)

    e.plot(t, result["bscb_permeability"], color="tab:red")
    e.axhline(1.0, color="grey", lw=0.8, ls=":")
    e.set_title("E  BSCB permeability (1 = intact cord)")
    e.set_ylabel("relative permeability")

    f.plot(t, result["bbb_score"], color="black")
    f.set_ylim(0, 21)
    f.set_title("F  Locomotor recovery")
    f.set_ylabel("BBB score (0-21)")

    for ax in axes.flat:
        _days_axis(ax, end)
    fig.suptitle(_title(title or "cordsim natural history: "
                        f"{result.provenance.injury_description}"))
    return _save(fig, path)


def plot_outcomes(results: Mapping[str, SimulationResult], path: str | Path) -> Path:
    """Tissue sparing, lesion volume, serum cytokines and BBB score for one or more runs."""
    fig = Figure(figsize=(17, 4.2), layout="constrained")
    axes = fig.subplots(1, 4)
    end = max(float(r.time[-1]) for r in results.values())
    for label, r in results.items():
        (line,) = axes[0].plot(r.time, r["spared_tissue_fraction"], label=label)
        axes[0].plot(r.time, r["lesion_volume_fraction"], ls="--", color=line.get_color())
        axes[1].plot(r.time, r["serum_tnf"], color=line.get_color(), label=f"{label} TNF-α")
        axes[1].plot(r.time, r["serum_il6"], ls="--", color=line.get_color(),
                     label=f"{label} IL-6")
        axes[2].plot(r.time, r["scar_cspg"], color=line.get_color(), label=f"{label} CSPG")
        axes[2].plot(r.time, r["scar_fibrotic"], ls="--", color=line.get_color(),
                     label=f"{label} fibrotic")
        axes[3].plot(r.time, r["bbb_score"], color=line.get_color(), label=label)
    axes[0].set_title("Spared tissue (solid) and lesion volume (dashed)")
    axes[0].set_ylabel("fraction of epicenter")
    axes[0].set_ylim(0, 1)
    axes[1].set_title("Serum TNF-α (solid) and IL-6 (dashed)")
    axes[1].set_ylabel("pg/mL")
    axes[2].set_title("Scar: astroglial CSPG and fibrotic")
    axes[2].set_ylabel("fraction of maximal")
    axes[3].set_title("BBB locomotor score")
    axes[3].set_ylabel("BBB (0-21)")
    axes[3].set_ylim(0, 21)
    for ax in axes:
        _days_axis(ax, end)
        ax.legend(fontsize=7)
    return _save(fig, path)


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


def plot_comparison(results: Mapping[str, SimulationResult], path: str | Path, *,
                    title: str = "", panels: tuple = COMPARISON_PANELS) -> Path:
    """One panel per readout, one line per arm (first arm = control, in black)."""
    ncol = 4
    nrow = -(-len(panels) // ncol)
    fig = Figure(figsize=(4.3 * ncol, 3.6 * nrow), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False)
    end = max(float(r.time[-1]) for r in results.values())
    for ax, (name, label, ylim) in zip(axes.flat, panels, strict=False):
        for i, (arm, r) in enumerate(results.items()):
            ax.plot(r.time, r[name], label=arm, color="black" if i == 0 else None,
                    lw=1.8 if i == 0 else 1.4)
        ax.set_title(label, fontsize=10)
        if ylim:
            ax.set_ylim(*ylim)
        _days_axis(ax, end)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(textwrap.fill(_title(title), 150), fontsize=10)
    return _save(fig, path)


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
    """Posterior-to-prior SD of each fitted parameter: below 0.5 the data determine it."""
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
    ax.set_xlabel("posterior SD / prior SD (parameter scale)")
    ax.set_title("Identifiability: green = set by the data, grey = prior only")
    return _save(fig, path)


ENSEMBLE_PANELS = (("bbb_score", "BBB locomotor score (0-21)"),
                   ("bbb_gain", "BBB gain over the first arm (points)"),
                   ("bscb_permeability", "BSCB permeability (1 = intact)"),
                   ("spared_tissue_fraction", "Spared tissue (fraction)"))


def plot_ensemble(df, path: str | Path, *, title: str = "") -> Path:  # type: ignore[no-untyped-def]
    """Median and 90% credible band over the ensemble, one colour per arm."""
    fig = Figure(figsize=(17, 4.2), layout="constrained")
    axes = fig.subplots(1, len(ENSEMBLE_PANELS))
    arms = list(dict.fromkeys(df["arm"]))
    end = float(df["time_day"].max())
    for ax, (name, label) in zip(axes, ENSEMBLE_PANELS, strict=True):
        for i, arm in enumerate(arms):
            part = df[(df["arm"] == arm) & (df["variable"] == name)]
            if part.empty:
                continue
            color = f"C{i}" if i else "black"
            ax.fill_between(part["time_day"], part["q05"], part["q95"], color=color, alpha=0.2)
            ax.plot(part["time_day"], part["q50"], color=color,
                    label=f"{arm} (n={int(part['members'].iloc[0])})")
        ax.set_title(label, fontsize=10)
        _days_axis(ax, end)
    axes[0].legend(fontsize=7)
    fig.suptitle(_title(title or "Ensemble of fitted parameter sets: median and 90% band"),
                 fontsize=10)
    return _save(fig, path)


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
    with its 95% CI over one setting."""
    import numpy as np

    dims = list(ds[variable].dims)
    label = (f"{ds.attrs['endpoint']}: {ds.attrs['arm']} minus {ds.attrs['control']}"
             if variable == "gain" else f"{ds.attrs['endpoint']} ({ds.attrs['arm']})")
    note = f" (mean of {ds.attrs['animals']} animals)" if ds.attrs["animals"] > 1 else ""
    if len(dims) == 1:
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.subplots()
        x = ds[dims[0]].values
        xs = np.arange(len(x)) if x.dtype.kind in "OUS" else x
        ax.plot(xs, ds[variable].values, "o-", color="black")
        if f"{variable}_ci_low" in ds:
            ax.fill_between(xs, ds[f"{variable}_ci_low"].values,
                            ds[f"{variable}_ci_high"].values, color="grey", alpha=0.3,
                            label="95% CI of the mean")
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
    protocol, with 95% CIs over animals."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(trials["total_dose"], trials["gain"], s=12, color="grey", alpha=0.6,
               label="protocols tried")
    ax.plot(pareto["total_dose"], pareto["gain"], "o-", color="tab:blue",
            label="Pareto front (no smaller dose gains more)")
    if "gain_ci_low" in pareto:
        ax.fill_between(pareto["total_dose"], pareto["gain_ci_low"], pareto["gain_ci_high"],
                        color="tab:blue", alpha=0.15, step=None)
    own = summary["own"]
    best = summary["best"]
    ax.errorbar([own["total_dose"]], [own["gain"]],  # type: ignore[index]
                yerr=[[own["gain"] - own.get("gain_ci_low", own["gain"])],  # type: ignore[index,union-attr]
                      [own.get("gain_ci_high", own["gain"]) - own["gain"]]],  # type: ignore[index,union-attr]
                fmt="s", color="black", capsize=3, label="the arm's own protocol")
    ax.scatter([best["total_dose"]], [best["gain"]], marker="*", s=160,  # type: ignore[index]
               color="tab:red", zorder=5, label="best found")
    ax.set_xscale("log")
    ax.set_xlabel(f"total dose ({summary['dose_unit']})")
    ax.set_ylabel(f"{summary['endpoint']}: gain over {summary['control']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(_title(f"Protocol search for {summary['arm']} ({summary['animals']} animals "
                        f"per protocol, {summary['trials']} trials)"), fontsize=10)
    return _save(fig, path)


def plot_graft_survival(curves, obs, path: str | Path) -> Path:  # type: ignore[no-untyped-def]
    """Share of grafted MSCs alive against days since grafting, one line per graft day and
    route, with the published counts (28-day "close to 0" rows as upper bounds)."""
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
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
    fig.suptitle("MSC graft survival in the contused cord: model (lines), Nandoe Tewarie 2009\n"
                 "(dots: counts 7 d after grafting; triangles: 'close to 0' at 28 d)",
                 fontsize=9)
    return _save(fig, path)

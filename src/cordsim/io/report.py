"""A self-contained HTML report of a run folder: one file to hand a colleague.

``write_report(run_dir, out)`` reads what ``cordsim run`` wrote (``timecourse.nc`` for the
scenario, protocols and provenance; ``endpoints.csv``; ``ensemble.csv`` when the run had an
ensemble; every figure) and writes one HTML file: figures embedded as data URIs, styles
inline, no script and no link to anything outside the file, so it opens offline.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from cordsim.errors import ScenarioError

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.pass { color: #1a7f37; } .fail { color: #b42318; } .note { color: #555; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 3px; }
"""


def _table(df: Any, float_format: str = "{:.3g}") -> str:
    return df.to_html(index=False, border=0, float_format=float_format.format, escape=True)


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    kind = "svg+xml" if path.suffix == ".svg" else "png"
    return (f'<figure><img alt="{html.escape(path.stem)}" src="data:image/{kind};base64,'
            f'{data}"><figcaption class="note">{html.escape(path.name)}</figcaption></figure>')


def write_report(run_dir: str | Path, out: str | Path, *, validation: Any = None,
                 parameters: Any = None) -> Path:
    """Write the report of ``run_dir`` (a ``cordsim run`` output folder) to ``out``.

    ``validation``: the table of :func:`cordsim.evaluation.validate.validate` (pass rates by
    set are shown); ``parameters``: the parameter set, to show the source of every parameter
    the run changed from its defaults.
    """
    import pandas as pd
    import xarray as xr

    run = Path(run_dir)
    nc = run / "timecourse.nc"
    if not nc.is_file():
        raise ScenarioError(f"{run} is not a cordsim run folder (no timecourse.nc); run "
                            "'cordsim run SCENARIO --out DIR' first")
    with xr.open_dataset(nc) as ds:
        attrs = dict(ds.attrs)
    parts = [f"<h1>cordsim report: {html.escape(str(attrs.get('scenario', run.name)))}</h1>"]
    parts.append(f'<p class="note">Run folder <code>{html.escape(str(run))}</code>; cordsim '
                 f"{html.escape(str(attrs.get('cordsim_version')))}.</p>")
    parts.append("<h2>Scenario and protocols</h2>")
    parts.append(f"<p>{html.escape(str(attrs.get('injury_description', '')))} "
                 f"({html.escape(str(attrs.get('species', '')))}).</p>")
    rows = []
    # a scenario of several arms lists each arm's protocol; a single run has its own
    protocols = (json.loads(attrs["protocols"]) if "protocols" in attrs
                 else [attrs["protocol"]] if attrs.get("protocol") else [])
    for text in protocols:
        proto = json.loads(text)
        doses = "; ".join(", ".join(f"{k} {v}" for k, v in d.items())
                          for d in proto["doses"]) or "none (vehicle)"
        rows.append({"arm": proto["name"], "doses": doses})
    if rows:
        parts.append(_table(pd.DataFrame(rows)))
    endpoints = run / "endpoints.csv"
    if endpoints.is_file():
        parts.append("<h2>Endpoints</h2>")
        parts.append('<p class="note">One nominal animal per arm; columns ending '
                     "<code>_minus_vehicle</code> are the effect over the first arm.</p>")
        parts.append(_table(pd.read_csv(endpoints)))
    ensemble = run / "ensemble.csv"
    if ensemble.is_file():
        ens = pd.read_csv(ensemble)
        gain = ens[ens["variable"] == "bbb_gain"]
        if not gain.empty:
            last = gain[gain["time_day"] == gain["time_day"].max()]
            parts.append("<h2>BBB gain with its credible band (ensemble)</h2>")
            parts.append(_table(last[["arm", "time_day", "q05", "q50", "q95", "members"]]))
    for name in ("trial.csv",):
        path = run / name
        if path.is_file():
            parts.append("<h2>Virtual trial</h2>")
            parts.append(_table(pd.read_csv(path)))
    # one image per figure: the PNG when the run wrote several formats
    found = [*sorted(run.glob("*.svg")), *sorted(run.glob("*.png")),
             *sorted(run.glob("figures/*.png"))]
    by_stem = {p.with_suffix(""): p for p in found}  # a PNG replaces its SVG
    figures = sorted(by_stem.values())
    if figures:
        parts.append("<h2>Figures</h2>")
        parts.extend(_image(f) for f in figures)
    if validation is not None:
        parts.append("<h2>Validation status</h2>")
        summary = validation.groupby("set")["pass"].agg(["sum", "count"]).reset_index()
        summary["share"] = summary["sum"] / summary["count"]
        parts.append(_table(summary.rename(columns={"sum": "pass", "count": "rows"})))
        failed = validation[~validation["pass"].astype(bool)]
        if len(failed):
            parts.append('<p class="note">Rows that fail (the README says why):</p>')
            parts.append(_table(failed[["set", "claim", "source", "expected", "simulated"]]))
    parts.append("<h2>Parameters changed from the defaults</h2>")
    # each arm's own changes and perturbations (a single run: its own)
    by_arm = json.loads(attrs.get("provenance_by_arm", "{}")) or {"": attrs}
    rows = []
    for arm, prov in by_arm.items():
        changes = [*json.loads(prov.get("parameter_changes", "[]")),
                   *(f"{k}: {v:g} (perturbation)"
                     for k, v in json.loads(prov.get("perturbations", "{}")).items())]
        for change in changes:
            name = change.split(":", 1)[0]
            rec = parameters.records.get(name) if parameters is not None else None
            rows.append({**({"arm": arm} if arm else {}), "change": change,
                         "source": rec.source if rec else "",
                         "evidence": rec.evidence if rec else ""})
    if rows:
        parts.append(_table(pd.DataFrame(rows)))
    else:
        parts.append("<p>None.</p>")
    parts.append("<h2>Provenance</h2>")
    keys = ("model", "model_hash", "parameter_set", "parameter_set_hash", "solver",
            "perturbations", "status", "cordsim_version")
    parts.append(_table(pd.DataFrame([{"field": k, "value": str(attrs.get(k, ""))}
                                      for k in keys])))
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>cordsim report"
            f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    out = Path(out)
    out.write_text(page, encoding="utf-8")
    return out

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


def check_run_folder(run_dir: str | Path) -> None:
    """Refuse (ScenarioError) a folder that is not one whole ``cordsim run`` folder: no
    ``timecourse.nc``, or files that do not match its manifest
    (:func:`cordsim.io.outputs.verify_folder`)."""
    from cordsim.io.outputs import verify_folder

    run = Path(run_dir)
    if not run.is_dir():
        raise ScenarioError(f"{str(run)!r} is not a folder; give a folder written by "
                            "'cordsim run SCENARIO --out DIR'")
    if not (run / "timecourse.nc").is_file():
        raise ScenarioError(f"{run} is not a cordsim run folder (no timecourse.nc); run "
                            "'cordsim run SCENARIO --out DIR' first")
    verify_folder(run)


def _json(text: Any, what: str, kind: type) -> Any:
    """``text`` parsed as JSON of type ``kind``, or a ScenarioError naming ``what``."""
    try:
        value = json.loads(text) if isinstance(text, str | bytes) else text
    except (ValueError, RecursionError):
        raise ScenarioError(f"{what} is not JSON: the run folder is damaged") from None
    if not isinstance(value, kind):
        raise ScenarioError(f"{what} is not a JSON {kind.__name__}: the run folder is damaged")
    return value


def _read_csv(path: Path) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - pandas raises many types on a damaged file
        raise ScenarioError(f"{path} is not a readable CSV table ({type(exc).__name__}): "
                            "the run folder is damaged") from None


def write_report(run_dir: str | Path, out: str | Path, *, validation: Any = None,
                 parameters: Any = None, label: str | None = None) -> Path:
    """Write the report of ``run_dir`` (a ``cordsim run`` output folder) to ``out``.

    ``validation``: the table of :func:`cordsim.evaluation.validate.validate` (pass rates by
    set are shown); ``parameters``: the parameter set, to show the source of every parameter
    the run changed from its defaults; ``label``: the folder's name shown (default
    ``run_dir``). A damaged folder (a file that is not NetCDF, an attribute that is not the
    JSON a run writes) is refused with a ScenarioError naming the file; call
    :func:`check_run_folder` first to refuse files that do not belong to one run.
    """
    import pandas as pd
    import xarray as xr

    run = Path(run_dir)
    nc = run / "timecourse.nc"
    if not nc.is_file():
        raise ScenarioError(f"{run} is not a cordsim run folder (no timecourse.nc); run "
                            "'cordsim run SCENARIO --out DIR' first")
    try:
        with xr.open_dataset(nc) as ds:
            attrs = dict(ds.attrs)
    except Exception as exc:  # noqa: BLE001 - xarray and its engines raise many types
        raise ScenarioError(f"{nc} is not a readable NetCDF file ({type(exc).__name__}): the "
                            "run folder is damaged; rerun the command") from None
    shown_folder = label if label is not None else str(run)
    parts = [f"<h1>cordsim report: {html.escape(str(attrs.get('scenario', run.name)))}</h1>"]
    parts.append(f'<p class="note">Run folder <code>{html.escape(shown_folder)}</code>; '
                 f"cordsim {html.escape(str(attrs.get('cordsim_version')))}.</p>")
    parts.append("<h2>Scenario and protocols</h2>")
    parts.append(f"<p>{html.escape(str(attrs.get('injury_description', '')))} "
                 f"({html.escape(str(attrs.get('species', '')))}).</p>")
    rows = []
    # a scenario of several arms lists each arm's protocol; a single run has its own
    protocols = (_json(attrs["protocols"], f"{nc.name} attribute 'protocols'", list)
                 if "protocols" in attrs else [attrs["protocol"]] if attrs.get("protocol")
                 else [])
    for text in protocols:
        what = f"{nc.name}: a protocol"
        proto = _json(text, what, dict)
        doses = proto.get("doses")
        if not isinstance(doses, list) or not all(isinstance(d, dict) for d in doses) \
                or "name" not in proto:
            raise ScenarioError(f"{what} has no name or no list of doses: the run folder is "
                                "damaged")
        shown = "; ".join(", ".join(f"{k} {v}" for k, v in d.items())
                          for d in doses) or "none (vehicle)"
        rows.append({"arm": proto["name"], "doses": shown})
    if rows:
        parts.append(_table(pd.DataFrame(rows)))
    endpoints = run / "endpoints.csv"
    if endpoints.is_file():
        table = _read_csv(endpoints)
        point = str(table.pop("point").iloc[0]) if "point" in table else "mode (best fit)"
        parts.append("<h2>Endpoints</h2>")
        parts.append(f'<p class="note">{html.escape(point[:1].upper() + point[1:])}; columns '
                     "ending <code>_minus_vehicle</code> are the effect over the first arm; "
                     "<code>_q05</code> and <code>_q95</code> bound its 90% band. The median "
                     "is the forecast; the mode (<code>cordsim run --point mode</code>) is a "
                     "diagnostic of the fit.</p>")
        parts.append(_table(table))
    ensemble = run / "ensemble.csv"
    if ensemble.is_file():
        ens = _read_csv(ensemble)
        gain = ens[ens["variable"] == "bbb_gain"]
        if not gain.empty:
            last = gain[gain["time_day"] == gain["time_day"].max()]
            parts.append("<h2>BBB gain at the last day: median and 90% band</h2>")
            parts.append(_table(last[["arm", "time_day", "q05", "q50", "q95", "members"]]))
    for name in ("trial.csv",):
        path = run / name
        if path.is_file():
            parts.append("<h2>Virtual trial</h2>")
            parts.append(_table(_read_csv(path)))
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
    by_arm = _json(attrs.get("provenance_by_arm", "{}"),
                   f"{nc.name} attribute 'provenance_by_arm'", dict) or {"": attrs}
    rows = []
    for arm, prov in by_arm.items():
        where = f"{nc.name}: the provenance of arm {arm!r}" if arm else nc.name
        prov = _json(prov, where, dict)
        perturbations = _json(prov.get("perturbations", "{}"), f"{where}, perturbations", dict)
        changes = [*map(str, _json(prov.get("parameter_changes", "[]"),
                                   f"{where}, parameter_changes", list)),
                   *(f"{k}: {v:g} (perturbation)" if isinstance(v, int | float)
                     else f"{k}: {v} (perturbation)" for k, v in perturbations.items())]
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
    return _write_page("cordsim report", parts, out)


def _write_page(title: str, parts: list[str], out: str | Path) -> Path:
    """One self-contained HTML page of ``parts`` (already escaped) at ``out``."""
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>"
            f"{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"{''.join(parts)}</body></html>")
    out = Path(out)
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot write the report to {str(out)!r}: "
                            f"{exc.strerror or exc}") from None
    return out


# the tables a folder report shows for each command (the rest of the folder's CSVs follow)
FOLDER_TABLES = {
    "cohort": ("trial.csv", "percentiles.csv"),
    "scan": ("scan.csv",),
    "optimize": ("pareto.csv", "trials.csv"),
    "sensitivity": (),
    "calibrate": ("estimates.csv", "targets.csv", "prior_predictive.csv", "fit.csv"),
}
MAX_ROWS = 200  # rows of a table shown (the CSV has them all)


def folder_command(folder: str | Path) -> str | None:
    """The command that wrote ``folder`` (its manifest), or None without one."""
    from cordsim.io.outputs import read_manifest

    manifest = read_manifest(folder)
    return None if manifest is None else str(manifest.get("command"))


def write_folder_report(folder: str | Path, out: str | Path) -> Path:
    """The report of a cohort, scan, optimize, sensitivity or calibrate folder (checked
    against its manifest first): what made it (``provenance.json``), its tables (the
    command's own first, each cut at :data:`MAX_ROWS` rows) and its figures, in one
    self-contained HTML file."""
    import pandas as pd

    from cordsim.io.outputs import PROVENANCE, verify_folder

    folder = Path(folder)
    manifest = verify_folder(folder)
    command = str(manifest.get("command"))
    if command not in FOLDER_TABLES:
        raise ScenarioError(f"{folder} was written by 'cordsim {command}', which has no "
                            f"report; reports exist for run, {', '.join(FOLDER_TABLES)}")
    files = sorted(manifest["files"])
    parts = [f"<h1>cordsim {html.escape(command)} report: {html.escape(folder.name)}</h1>"]
    parts.append(f'<p class="note">Folder <code>{html.escape(str(folder))}</code>; '
                 f"cordsim {html.escape(str(manifest.get('cordsim_version')))}, written "
                 f"{html.escape(str(manifest.get('written')))}.</p>")
    own = [f for f in FOLDER_TABLES[command] if f in files]
    tables = own + [f for f in files if f.endswith(".csv") and f not in own
                    and "/" not in f]
    for name in tables:
        df = _read_csv(folder / name)
        parts.append(f"<h2>{html.escape(name)}</h2>")
        if len(df) > MAX_ROWS:
            parts.append(f'<p class="note">First {MAX_ROWS} of {len(df)} rows.</p>')
        parts.append(_table(df.head(MAX_ROWS)))
    figures = [folder / f for f in files if f.endswith((".png", ".svg"))]
    if figures:
        parts.append("<h2>Figures</h2>")
        parts.extend(_image(f) for f in figures)
    if PROVENANCE in files:
        prov = _json((folder / PROVENANCE).read_text(encoding="utf-8"),
                     f"{folder / PROVENANCE}", dict)
        parts.append("<h2>Provenance</h2>")
        parts.append(_table(pd.DataFrame([{"field": k, "value": str(v)}
                                          for k, v in prov.items()])))
    return _write_page(f"cordsim {command} report", parts, out)

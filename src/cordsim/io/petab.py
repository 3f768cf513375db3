"""The calibration problem as PEtab v1: cordsim's SBML, conditions, observables, measurements,
parameters with bounds and priors.

The shipped problem is built from the dataset's ``fit`` rows of the calibration set
(``data/observations/measurements.csv``), each read through its observation model
(``data/observations/assays.toml``), and the calibration spec
``data/calibration/estimated.tsv`` (which cordsim parameters are estimated, their bounds and
priors). Each study's rows share one injury severity, estimated from the study's own rows
(``severity_<study>``, prior centred on its injury preset): studies are matched by their own
vehicle groups, not forced onto a preset. Pooled (meta-analysis) rows run the moderate preset.
Conditions set the injury (``injury_severity``, ``compression_ischemia``), the product's
parameters and bolus *slots*: the exported SBML has one event per slot
(``dose_<state>_<k>_time``/``_amount``), so one model serves every protocol. A treatment effect
is an observable of one simulation: the SBML carries an untreated twin of the animal (ids
prefixed ``vehicle__``), so ``bbb_score - vehicle__bbb_score`` is the gain over vehicle.

Examples
--------
>>> tables = problem_tables()
>>> sorted(tables)
['conditions', 'measurements', 'observables', 'parameters']
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cordsim.data import assays, data_path, default_parameters, injury_presets, observations
from cordsim.design.dosing import Dose, Protocol
from cordsim.errors import ScenarioError
from cordsim.io.sbml import NEVER, TWIN_PREFIX, dose_slot_ids

CALIBRATION_SPEC = ("calibration", "estimated.tsv")
PROBLEM_NAME = "cordsim_rat_calibration"
SEVERITY_PRIOR_SD = 0.1  # a study's severity around its injury preset (linear scale)
SEVERITY_BOUNDS = (0.05, 1.0)
SEVERITY_LABELS = {"mild": "mild", "moderate": "moderate", "severe": "severe",
                   "compression": "compression"}


@contextlib.contextmanager
def quiet_petab() -> Iterator[None]:
    """The petab library's own deprecation warnings (pandas 3 API changes it has not made yet)
    are not the user's business."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            from pandas.errors import Pandas4Warning

            warnings.simplefilter("ignore", Pandas4Warning)
        except ImportError:  # pragma: no cover - older pandas
            pass
        yield


def calibration_spec() -> Any:
    """Which parameters the shipped calibration estimates, with bounds and priors (in the
    parameter's scale) and why."""
    import pandas as pd

    return pd.read_csv(data_path(*CALIBRATION_SPEC), sep="\t", comment="#")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def _protocol_id(protocol: str) -> str:
    if not protocol:
        return "untreated"
    doses = json.loads(protocol)
    # every setting that changes what is given: a 'times' schedule's offsets too
    parts = [f"{d['product']}_{d['route']}_{d['amount']}_d{d['start']:g}"
             + (f"x{d['count']}" if d.get("count", 1) > 1 else "")
             + ("_at_" + "_".join(f"{t:g}" for t in d["times"])
                if d.get("schedule") == "times" else "") for d in doses]
    return _slug("_".join(parts))


def _protocol(text: str) -> Protocol:
    return Protocol(tuple(Dose.from_json(d) for d in json.loads(text)) if text else ())


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _spread_bounds(text: str) -> tuple[float, float] | None:
    """'lo-hi' or 'lo to hi' (negative numbers allowed) as two numbers."""
    import re

    m = re.fullmatch(r"\s*(-?[\d.eE+]+)\s*(?:-|to|–)\s*(-?[\d.eE+]+)\s*", str(text))
    return (float(m.group(1)), float(m.group(2))) if m else None


def row_sigma(row: Any, model: dict[str, Any]) -> float:
    """The SD of a row's number under its observation model: sqrt(se^2 + extra_sd^2), se from
    the row's spread and n (``assays.toml`` says how each spread type is read)."""
    value = _number(row["value"])
    n = _number(row["n"])
    n = n if n > 0 and str(row.get("n_type", "")) != "studies" else model.get("default_n", 8)
    kind = str(row["spread_type"]).strip().lower()
    spread = str(row["spread"]).strip()
    bounds = _spread_bounds(spread)
    se = math.nan
    if spread and kind not in ("none", ""):
        if kind in ("ci95", "95% ci") and bounds:
            se = abs(bounds[1] - bounds[0]) / 3.92
        elif kind in ("range", "iqr") and bounds:
            se = abs(bounds[1] - bounds[0]) / 4
        elif kind == "sd" and not math.isnan(_number(spread)):
            se = _number(spread) / math.sqrt(n)
        elif not math.isnan(_number(spread)):  # SEM, or a spread of unstated type
            se = _number(spread)
    if math.isnan(se):
        if "default_cv" in model:
            se = model["default_cv"] * abs(value)
        else:
            se = model["default_sd"] / math.sqrt(n)
    extra = model.get("extra_sd", 0.0)
    if row.get("design") == "meta-analysis":
        extra = model.get("pooled_extra_sd", extra)
    return math.sqrt(se ** 2 + extra ** 2)


def severity_id(row: Any) -> str:
    """The parameter that holds the injury severity of a row's study (or cohort of it)."""
    return _slug(f"severity_{row['study']}" + (f"_{row['group']}" if row["group"] else ""))


def _injury_of(row: Any) -> str:
    if row["injury"]:
        return str(row["injury"])
    label = str(row.get("severity_label", "")).split()[0].lower() if row.get(
        "severity_label") else ""
    return SEVERITY_LABELS.get(label, "moderate")


def _family(model: str) -> str:
    """Observation models that estimate the same quantity (a BBB effect as an MD or an SMD)."""
    return "bbb_effect" if model in ("bbb_md", "bbb_smd") else model


def overlapping_sources(fit: Any) -> dict[tuple[str, str], int]:
    """How many meta-analyses of one pooled-source group (they pool overlapping studies) give
    rows of one quantity: their rows' SDs are widened by the square root of that number, so
    that the group counts as one source in the likelihood, as it does in the split."""
    pooled = fit[fit["source_group"] != ""]
    counts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, r in pooled.iterrows():
        counts[(r["source_group"], _family(r["observation_model"]))].add(r["study"])
    return {k: len(v) for k, v in counts.items()}


def problem_tables() -> dict[str, Any]:
    """The four PEtab tables of the calibration problem (from the dataset's fit rows of the
    calibration set, through their observation models)."""
    import pandas as pd

    rows = observations()
    fit = rows[(rows["use"] == "fit") & (rows["set"] == "calibration")]
    models = assays()["models"]
    overlap = overlapping_sources(fit)
    presets = injury_presets()
    conditions: dict[str, dict[str, Any]] = {}
    severities: dict[str, dict[str, Any]] = {}
    slots_used: dict[str, int] = defaultdict(int)
    measurements, observables = [], {}
    for _, r in fit.iterrows():
        name = r["observation_model"]
        if name not in models:
            raise ScenarioError(f"observation {r['obs_id']}: observation model {name!r} is not "
                                f"in assays.toml ({', '.join(sorted(models))})")
        if any(d.schedule == "infusion" for d in _protocol(r["protocol"]).doses):
            raise ScenarioError(f"observation {r['obs_id']}: an infusion cannot be exported to "
                                f"PEtab (the problem's doses are bolus events); give the row a "
                                f"bolus, daily or 'times' protocol")
        if math.isnan(_number(r["time_day"])) or math.isnan(_number(r["value"])):
            raise ScenarioError(f"observation {r['obs_id']}: a fit row needs a number and a "
                                "day")
        injury = _injury_of(r)
        preset = presets[injury]
        pooled = r["design"] == "meta-analysis" or injury == "none"
        severity: Any = float(preset["injury_severity"])
        if not pooled:
            severity = severity_id(r)
            severities.setdefault(severity, {"prior": float(preset["injury_severity"]),
                                             "injury": injury, "study": r["study"]})
        cid = _slug(f"{r['study']}_{r['group']}_{injury}_{_protocol_id(r['protocol'])}")
        if cid not in conditions:
            cond: dict[str, Any] = {"conditionId": cid, "injury_severity": severity,
                                    "compression_ischemia": float(preset["compression_ischemia"])}
            count: dict[str, int] = defaultdict(int)
            protocol = _protocol(r["protocol"])
            for dose in protocol.doses:
                for t, amount in dose.events("rat"):
                    count[dose.entry_state] += 1
                    t_id, a_id = dose_slot_ids(dose.entry_state, count[dose.entry_state])
                    cond[t_id], cond[a_id] = t, amount
            cond.update(protocol.product_parameters())
            for state, k in count.items():
                slots_used[state] = max(slots_used[state], k)
            conditions[cid] = cond
        formula = models[name]["formula"]
        oid = f"obs_{name}"
        if r["design"] == "meta-analysis" and TWIN_PREFIX in formula:
            formula = assays()["pooled"]["formula"].format(formula=formula)
            oid = f"obs_{name}_pooled"
        observables[oid] = {"observableId": oid, "observableName": models[name]["description"][:60],
                            "observableFormula": formula,
                            "observableTransformation": "lin",
                            "noiseFormula": f"noiseParameter1_{oid}",
                            "noiseDistribution": "normal"}
        measurements.append({"observableId": oid, "simulationConditionId": cid,
                             "time": float(r["time_day"]), "measurement": float(r["value"]),
                             "noiseParameters": row_sigma(r, models[name])
                             * math.sqrt(overlap.get((r["source_group"], _family(name)), 1)),
                             "datasetId": r["obs_id"]})
    # every slot appears in every condition (unused: never)
    for cond in conditions.values():
        for state, count in slots_used.items():
            for k in range(1, count + 1):
                t_id, a_id = dose_slot_ids(state, k)
                cond.setdefault(t_id, NEVER)
                cond.setdefault(a_id, 0.0)
    product_params = sorted({k for c in conditions.values() for k in c
                             if k.startswith(("cargo_", "homing_"))})
    defaults = default_parameters()
    for cond in conditions.values():
        for name in product_params:
            cond.setdefault(name, defaults[name])
    params = []
    for _, s in calibration_spec().iterrows():
        params.append({"parameterId": s["parameterId"], "parameterScale": s["parameterScale"],
                       "lowerBound": s["lowerBound"], "upperBound": s["upperBound"],
                       "nominalValue": defaults[s["parameterId"]], "estimate": 1,
                       "objectivePriorType": "parameterScaleNormal",
                       "objectivePriorParameters": f"{s['priorMean']};{s['priorSD']}"})
    used = " ".join(o["observableFormula"] for o in observables.values())
    for pid, spec in assays()["parameters"].items():
        if pid not in used:
            continue
        log = spec["scale"] == "log10"
        mean = math.log10(spec["prior_mean"]) if log else spec["prior_mean"]
        params.append({"parameterId": pid, "parameterScale": spec["scale"],
                       "lowerBound": spec["bounds"][0], "upperBound": spec["bounds"][1],
                       "nominalValue": spec["value"], "estimate": 1,
                       "objectivePriorType": "parameterScaleNormal",
                       "objectivePriorParameters": f"{mean};{spec['prior_sd']}"})
    for pid, sev in sorted(severities.items()):
        params.append({"parameterId": pid, "parameterScale": "lin",
                       "lowerBound": SEVERITY_BOUNDS[0], "upperBound": SEVERITY_BOUNDS[1],
                       "nominalValue": sev["prior"], "estimate": 1,
                       "objectivePriorType": "parameterScaleNormal",
                       "objectivePriorParameters": f"{sev['prior']};{SEVERITY_PRIOR_SD}"})
    tables = {
        "conditions": pd.DataFrame(list(conditions.values())).set_index("conditionId"),
        "observables": pd.DataFrame(list(observables.values())).set_index("observableId"),
        "measurements": pd.DataFrame(measurements),
        "parameters": pd.DataFrame(params).set_index("parameterId"),
    }
    tables["conditions"].attrs["dose_slots"] = dict(slots_used)
    return tables


def export_problem(out: str | Path) -> Path:
    """Write the calibration problem as PEtab v1 files into ``out``; returns the YAML path."""
    import petab.v1 as petab

    from cordsim.io.sbml import export_sbml
    from cordsim.run.simulation import Simulation

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = problem_tables()
    slots = tables["conditions"].attrs["dose_slots"]
    sbml = export_sbml(Simulation(injury="moderate"), dose_slots=slots, twin=True)
    (out / "model.xml").write_text(sbml)
    yaml_path = out / f"{PROBLEM_NAME}.yaml"
    with quiet_petab():
        petab.write_condition_df(tables["conditions"], out / "conditions.tsv")
        petab.write_observable_df(tables["observables"], out / "observables.tsv")
        petab.write_measurement_df(tables["measurements"], out / "measurements.tsv")
        petab.write_parameter_df(tables["parameters"], out / "parameters.tsv")
        petab.create_problem_yaml(sbml_files=out / "model.xml",
                                  condition_files=out / "conditions.tsv",
                                  measurement_files=out / "measurements.tsv",
                                  parameter_file=out / "parameters.tsv",
                                  observable_files=out / "observables.tsv",
                                  yaml_file=yaml_path, relative_paths=True)
    return yaml_path


def lint(yaml_path: str | Path) -> bool:
    """True if the petab library's linter finds no error in the problem."""
    import petab.v1 as petab

    with quiet_petab():
        return not petab.lint_problem(petab.Problem.from_yaml(str(yaml_path)))

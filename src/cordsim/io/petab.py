"""The calibration problem as PEtab v1: cordsim's SBML, conditions, observables, measurements,
parameters with bounds and priors.

The shipped problem is built from the observation dataset's ``fit`` rows (calibration set
only) and the calibration spec ``data/calibration/estimated.tsv`` (which parameters are
estimated, their bounds and priors). Conditions set the injury (``injury_severity``,
``compression_ischemia``), the product's parameters and bolus *slots*: the exported SBML has
one event per slot (``dose_<state>_<k>_time``/``_amount``), so one model serves every
protocol. A treatment effect is an observable of one simulation: the SBML carries an
untreated twin of the animal (ids prefixed ``vehicle__``), so ``bbb_score -
vehicle__bbb_score`` is the gain over vehicle.

Examples
--------
>>> tables = problem_tables()
>>> sorted(tables)
['conditions', 'measurements', 'observables', 'parameters']
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cordsim.data import data_path, default_parameters, observations
from cordsim.design.dosing import Dose, Protocol
from cordsim.errors import ScenarioError
from cordsim.io.sbml import NEVER, TWIN_PREFIX, dose_slot_ids

CALIBRATION_SPEC = ("calibration", "estimated.tsv")
PROBLEM_NAME = "cordsim_rat_calibration"


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


def _condition_id(injury: str, protocol: str) -> str:
    if not protocol:
        return f"{injury}_untreated"
    doses = json.loads(protocol)
    # every setting that changes what is given: a 'times' schedule's offsets too
    parts = [f"{d['product']}_{d['route']}_{d['amount']}_d{d['start']:g}"
             + (f"x{d['count']}" if d.get("count", 1) > 1 else "")
             + ("_at_" + "_".join(f"{t:g}" for t in d["times"])
                if d.get("schedule") == "times" else "") for d in doses]
    text = f"{injury}_" + "_".join(parts)
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def _observable_id(model: str, comparison: str) -> str:
    base = "".join(c if c.isalnum() else "_" for c in model)
    return f"gain_{base}" if comparison == "gain" else f"obs_{base}"


def _protocol(text: str) -> Protocol:
    return Protocol(tuple(Dose.from_json(d) for d in json.loads(text)) if text else ())


def problem_tables() -> dict[str, Any]:
    """The four PEtab tables of the calibration problem (from the dataset's fit rows)."""
    import pandas as pd

    from cordsim.data import injury_presets

    rows = observations()
    fit = rows[(rows["use"] == "fit") & (rows["set"] == "calibration")]
    conditions: dict[str, dict[str, Any]] = {}
    slots_used: dict[str, int] = defaultdict(int)
    measurements, observables = [], {}
    for _, r in fit.iterrows():
        if any(d.schedule == "infusion" for d in _protocol(r["protocol"]).doses):
            raise ScenarioError(f"observation {r['obs_id']}: an infusion cannot be exported to "
                                f"PEtab (the problem's doses are bolus events); give the row a "
                                f"bolus, daily or 'times' protocol")
        cid = _condition_id(r["injury"], r["protocol"])
        if cid not in conditions:
            preset = injury_presets()[r["injury"]]
            cond: dict[str, Any] = {"conditionId": cid,
                                    "injury_severity": float(preset["injury_severity"]),
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
        oid = _observable_id(r["model"], r["comparison"])
        formula = (f"{r['model']} - {TWIN_PREFIX}{r['model']}" if r["comparison"] == "gain"
                   else r["model"])
        observables[oid] = {"observableId": oid, "observableName": " ".join(
                                r["measure"][:60].split()),
                            "observableFormula": formula, "observableTransformation": "lin",
                            "noiseFormula": f"noiseParameter1_{oid}",
                            "noiseDistribution": "normal"}
        measurements.append({"observableId": oid, "simulationConditionId": cid,
                             "time": float(r["time_day"]), "measurement": float(r["value"]),
                             "noiseParameters": float(r["sigma"]), "datasetId": r["obs_id"]})
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
    spec = calibration_spec()
    params = []
    for _, s in spec.iterrows():
        params.append({"parameterId": s["parameterId"], "parameterScale": s["parameterScale"],
                       "lowerBound": s["lowerBound"], "upperBound": s["upperBound"],
                       "nominalValue": defaults[s["parameterId"]], "estimate": 1,
                       "objectivePriorType": "parameterScaleNormal",
                       "objectivePriorParameters": f"{s['priorMean']};{s['priorSD']}"})
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

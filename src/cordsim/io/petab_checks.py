"""Reading a PEtab problem for ``cordsim calibrate`` with its files and tables checked first.

A PEtab problem is data that labs exchange: :func:`read_problem` refuses, with a
:class:`~cordsim.errors.CordsimError` naming the file, line and column, what would otherwise
hang, crash or be fitted silently: files beyond a size limit, a missing required column, an
empty, non-finite or absurd measurement, a time before the injury or beyond the longest
simulation, an observable or condition the measurement table names but no table defines, an
unknown ``parameterScale``, bounds that are not numbers or are crossed, malformed prior
parameters, condition values that are neither numbers nor parameter ids, and noise formulas
that are not numbers. Numbers written as
text go through the whitelist parser (:mod:`cordsim.io.formulas`), never through Python.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cordsim.design.dosing import MAX_DAY
from cordsim.errors import CordsimError
from cordsim.io.formulas import parse_formula, parse_number

MAX_YAML_BYTES = 1_000_000
MAX_SBML_BYTES = 20_000_000  # cordsim's own export is ~0.7 MB
MAX_TABLE_BYTES = 10_000_000
MAX_ROWS = 5_000  # rows of any table: every row is evaluated in Python on each residual call
# a measurement's magnitude: beyond it the squared residual leaves a float's range
MAX_MAGNITUDE = 1e100
SCALES = ("lin", "log", "log10")
REQUIRED = {
    "measurement": ("observableId", "simulationConditionId", "time", "measurement"),
    "observable": ("observableFormula", "noiseFormula"),
    "parameter": ("parameterScale", "lowerBound", "upperBound", "nominalValue", "estimate"),
}
_FILE_KEYS = ("sbml_files", "condition_files", "measurement_files", "observable_files",
              "visualization_files", "parameter_file")


def _check_size(path: Path, limit: int, what: str) -> None:
    try:
        size = path.stat().st_size
    except OSError:
        return  # a missing file: the petab library names it
    if not path.is_file():
        raise CordsimError(f"{what} {str(path)!r} is not a regular file")
    if size > limit:
        raise CordsimError(f"{what} {str(path)!r} is {size:,} bytes; cordsim calibrate reads "
                           f"at most {limit:,} (is it the right file?)")


def check_files(yaml_path: str | Path) -> None:
    """Refuse a problem YAML or any file it names beyond its size limit (before reading)."""
    import yaml

    path = Path(yaml_path)
    _check_size(path, MAX_YAML_BYTES, "PEtab problem file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return  # the petab library reports a malformed file
    if not isinstance(data, dict):
        return
    sections = [data, *(p for p in data.get("problems", []) or [] if isinstance(p, dict))]
    for section in sections:
        for key in _FILE_KEYS:
            limit = MAX_SBML_BYTES if key == "sbml_files" else MAX_TABLE_BYTES
            names = section.get(key)
            for name in names if isinstance(names, list) else [names]:
                if isinstance(name, str) and name:
                    _check_size(path.parent / name, limit, f"PEtab {key.removesuffix('s')}")


def _given(value: Any) -> bool:
    """A cell that holds something (not empty, not NaN)."""
    import pandas as pd

    return not (value is None or (not isinstance(value, str) and pd.isna(value))
                or (isinstance(value, str) and not value.strip()))


def _columns(df: Any, table: str, required: tuple[str, ...]) -> None:
    names = {str(c) for c in df.columns} | {str(n) for n in df.index.names if n}
    missing = [c for c in required if c not in names]
    if missing:
        from cordsim.errors import did_you_mean

        hint = "".join(did_you_mean(m, names) for m in missing[:1])
        raise CordsimError(f"PEtab {table} table: required column(s) {', '.join(missing)} "
                           f"missing{hint}; columns: {', '.join(sorted(names))}")
    if len(df) > MAX_ROWS:
        raise CordsimError(f"PEtab {table} table has {len(df):,} rows; cordsim calibrate "
                           f"reads at most {MAX_ROWS:,}")


def check_measurements(problem: Any) -> None:
    """Every measurement row: a known observable and condition, a finite measurement of
    sensible size, a time from 0 to the longest simulation, a positive numeric noise
    parameter where the noise formula asks for one."""
    meas = problem.measurement_df
    _columns(meas, "measurement", REQUIRED["measurement"])
    if meas.empty:
        raise CordsimError("PEtab measurement table has no rows: nothing to fit")
    observables = problem.observable_df.index
    conditions = problem.condition_df.index
    for i, (_, row) in enumerate(meas.reset_index(drop=True).iterrows()):
        label = row.get("datasetId")
        where = (f"PEtab measurement table, line {i + 2}"
                 + (f" ({label})" if _given(label) else ""))
        oid, cid = row["observableId"], row["simulationConditionId"]
        if oid not in observables:
            raise CordsimError(f"{where}: unknown observableId {oid!r}; the observable table "
                               f"defines {', '.join(map(str, observables[:10]))}")
        if cid not in conditions:
            raise CordsimError(f"{where}: unknown simulationConditionId {cid!r}; the "
                               f"condition table defines {', '.join(map(str, conditions[:10]))}")
        value = parse_number(row["measurement"], what=f"{where}, column measurement")
        if abs(value) > MAX_MAGNITUDE:
            raise CordsimError(f"{where}, column measurement: {value:g} is beyond "
                               f"±{MAX_MAGNITUDE:g} (its squared residual would overflow)")
        time = parse_number(row["time"], what=f"{where}, column time")
        if not 0 <= time <= MAX_DAY:
            raise CordsimError(f"{where}, column time: day {time:g} is outside 0 to "
                               f"{MAX_DAY:g} (the injury is day 0; cordsim simulates at most "
                               f"{MAX_DAY:g} days)")
        noise = str(problem.observable_df.loc[oid, "noiseFormula"]).strip()
        if noise == f"noiseParameter1_{oid}":
            sd = row.get("noiseParameters")
            text = str(sd).split(";")[0] if isinstance(sd, str) else sd
            value = parse_number(text, what=f"{where}, column noiseParameters (the SD)")
            if not value > 0:
                raise CordsimError(f"{where}, column noiseParameters: the SD must be positive, "
                                   f"got {value:g}")


def check_observables(problem: Any) -> None:
    """Required columns; a noise formula that is a number must be a positive finite one."""
    obs = problem.observable_df
    _columns(obs, "observable", REQUIRED["observable"])
    for oid, row in obs.iterrows():
        noise = row["noiseFormula"]
        if not _given(noise):
            raise CordsimError(f"PEtab observable {oid}: noiseFormula is empty")
        text = str(noise).strip()
        expr = parse_formula(text, {f"noiseParameter1_{oid}"},
                             what=f"PEtab observable {oid}, noiseFormula")
        if expr.is_number and not float(expr) > 0:
            raise CordsimError(f"PEtab observable {oid}: the noise SD {text!r} must be "
                               "positive")


def check_parameters(problem: Any) -> None:
    """Scales, bounds, nominal values, the estimate flag and prior parameters of every row."""
    pdf = problem.parameter_df
    _columns(pdf, "parameter", REQUIRED["parameter"])
    for pid, row in pdf.iterrows():
        where = f"PEtab parameter {pid}"
        scale = str(row["parameterScale"]).strip() if _given(row["parameterScale"]) else ""
        if scale not in SCALES:
            raise CordsimError(f"{where}: unknown parameterScale {row['parameterScale']!r}; "
                               f"allowed: {', '.join(SCALES)}")
        estimate = row["estimate"]
        if not _given(estimate) or str(estimate).strip() not in ("0", "1", "0.0", "1.0"):
            raise CordsimError(f"{where}: estimate must be 0 or 1, got {estimate!r}")
        nominal = parse_number(row["nominalValue"], what=f"{where}, nominalValue")
        lo = parse_number(row["lowerBound"], what=f"{where}, lowerBound")
        hi = parse_number(row["upperBound"], what=f"{where}, upperBound")
        if lo > hi or (float(estimate) == 1 and lo == hi):
            raise CordsimError(f"{where}: lowerBound {lo:g} is not below upperBound {hi:g}")
        if scale != "lin" and (lo <= 0 or nominal <= 0):
            raise CordsimError(f"{where}: parameterScale {scale} needs positive bounds and "
                               f"nominal value, got {lo:g}, {hi:g} and {nominal:g}")
        kind = row.get("objectivePriorType")
        if _given(kind) and str(kind).strip() in ("parameterScaleNormal", "normal",
                                                  "laplace", "parameterScaleLaplace"):
            params = row.get("objectivePriorParameters")
            parts = str(params).split(";") if _given(params) else []
            if len(parts) != 2:
                raise CordsimError(f"{where}: objectivePriorParameters must be two numbers "
                                   f"'MEAN;SD', got {params!r}")
            parse_number(parts[0], what=f"{where}, objectivePriorParameters (mean)")
            sd = parse_number(parts[1], what=f"{where}, objectivePriorParameters (SD)")
            if not sd > 0:
                raise CordsimError(f"{where}: the prior SD must be positive, got {sd:g}")


def check_conditions(problem: Any) -> None:
    """Every value of the condition table is empty, a finite number or the id of a parameter
    of the parameter table (a study's severity, as PEtab allows)."""
    cdf = problem.condition_df
    _columns(cdf, "condition", ())
    ids = {str(i) for i in problem.parameter_df.index}
    for cid, row in cdf.iterrows():
        for column, value in row.items():
            if column == "conditionName" or not _given(value):
                continue
            if isinstance(value, str) and value.strip() in ids:
                continue
            parse_number(value, what=f"PEtab condition {cid}, column {column}")


def check_problem(problem: Any) -> None:
    """All the table checks of this module (see the module docstring)."""
    check_observables(problem)
    check_parameters(problem)
    check_conditions(problem)
    check_measurements(problem)


def read_problem(yaml_path: str | Path) -> Any:
    """The petab ``Problem`` of ``yaml_path`` after :func:`check_files`, read quietly, then
    checked by :func:`check_problem`; a :class:`CordsimError` names any problem."""
    import petab.v1 as petab

    from cordsim.io.petab import quiet_petab

    check_files(yaml_path)
    try:
        with quiet_petab():
            problem = petab.Problem.from_yaml(str(yaml_path))
    except Exception as exc:  # noqa: BLE001 - petab raises many types on a bad file
        raise CordsimError(f"cannot read PEtab problem {str(yaml_path)!r}: "
                           f"{type(exc).__name__}: {exc}"[:500]) from None
    check_problem(problem)
    return problem

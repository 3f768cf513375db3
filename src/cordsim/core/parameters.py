"""ParameterSet: parameter values with unit, bounds, source and evidence, loaded from TOML.

Parameter files are the single source of parameter values. Each entry is a table
``[<submodel>.<parameter>]`` with ``value``, ``unit``, ``bounds``, ``source``, ``evidence``
(one of measured, fitted, derived, assumed) and an optional ``note`` and ``scale``.
On load every value is converted into the unit the model declares for it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pint

from cordsim.core.units import convert, ureg
from cordsim.errors import ParameterError, UnitError

EVIDENCE_LEVELS = ("measured", "fitted", "derived", "assumed")
PARAMETER_DIR = Path(__file__).resolve().parent.parent / "parameter_sets"


@dataclass(frozen=True)
class ParamRecord:
    """One parameter: value and bounds in the declared unit, plus provenance."""

    name: str
    value: float
    unit: str
    bounds: tuple[float, float]
    source: str
    evidence: str
    submodel: str
    description: str = ""
    note: str = ""
    scale: str = "log10"


def _suggest(name: str, pool: list[str]) -> str:
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.4)
    return f"; did you mean {close[0]!r}?" if close else ""


def _as_float(name: str, value: Any, unit: str) -> float:
    """Interpret a user value (number, 'number unit' string, pint Quantity, (value, unit))."""
    if isinstance(value, tuple) and len(value) == 2:
        value = ureg.Quantity(value[0], value[1])
    if isinstance(value, str):
        try:
            value = ureg.Quantity(value)
        except (pint.errors.UndefinedUnitError, ValueError, AttributeError, TypeError) as exc:
            raise UnitError(f"parameter {name!r}: cannot read {value!r} as a quantity "
                            f"({exc})") from None
    if isinstance(value, pint.Quantity):
        value = convert(value.magnitude, str(value.units), unit, what=f"parameter {name!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"parameter {name!r}: value must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"parameter {name!r}: value must be finite, got {value}")
    if value < 0:
        raise ParameterError(f"parameter {name!r}: value must be non-negative, got {value}")
    return value


class ParameterSet:
    """An immutable set of parameter values with provenance.

    Examples
    --------
    >>> import cordsim
    >>> ps = cordsim.default_parameters()
    >>> ps2 = ps.replace(d_neutrophils="1.5 1/day")
    >>> ps2["d_neutrophils"], ps2.history[-1].startswith("d_neutrophils: ")
    (1.5, True)
    """

    def __init__(self, records: Mapping[str, ParamRecord], *, name: str,
                 meta: Mapping[str, Any] | None = None, history: tuple[str, ...] = ()) -> None:
        self.records = dict(records)
        self.name = name
        self.meta = dict(meta or {})
        self.history = history

    # -------------------------------------------------------------- loading
    @classmethod
    def load(cls, source: str | Path, model: Any) -> ParameterSet:
        """Load a TOML parameter file (a bundled name such as ``'rat'`` or a path)."""
        path = Path(source)
        if not path.suffix:
            path = PARAMETER_DIR / f"{source}.toml"
            if not path.exists():
                bundled = sorted(p.stem for p in PARAMETER_DIR.glob("*.toml"))
                raise ParameterError(f"unknown parameter set {source!r}; bundled sets: {bundled}")
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ParameterError(f"cannot read parameter file {str(path)!r}: {exc}") from None
        meta = data.pop("meta", {})
        data.pop("references", None)
        records: dict[str, ParamRecord] = {}
        problems: list[str] = []
        for section, entries in data.items():
            if not isinstance(entries, dict):
                problems.append(f"[{section}] must be a table of parameters")
                continue
            for pname, entry in entries.items():
                try:
                    records[pname] = cls._record(section, pname, entry, model)
                except ParameterError as exc:
                    problems.append(str(exc))
        if problems:
            raise ParameterError(f"{path.name}: " + "; ".join(problems))
        ps = cls(records, name=meta.get("name", path.stem), meta=meta)
        ps.check_against(model)
        return ps

    @staticmethod
    def _record(section: str, pname: str, entry: Any, model: Any) -> ParamRecord:
        if pname not in model.params:
            raise ParameterError(f"unknown parameter {pname!r} in [{section}]"
                                 f"{_suggest(pname, list(model.params))}")
        if not isinstance(entry, dict):
            raise ParameterError(f"{pname}: expected a table with value, unit, bounds, source")
        missing = [k for k in ("value", "unit", "bounds", "source", "evidence") if k not in entry]
        if missing:
            raise ParameterError(f"{pname}: missing field(s) {missing}")
        declared = model.params[pname].unit
        value = _as_float(pname, (entry["value"], entry["unit"]), declared)
        lo, hi = (_as_float(pname, (b, entry["unit"]), declared) for b in entry["bounds"])
        if entry["evidence"] not in EVIDENCE_LEVELS:
            raise ParameterError(f"{pname}: evidence {entry['evidence']!r} is not one of "
                                 f"{EVIDENCE_LEVELS}")
        return ParamRecord(
            name=pname, value=value, unit=declared, bounds=(lo, hi), source=entry["source"],
            evidence=entry["evidence"], submodel=section,
            description=model.params[pname].description, note=entry.get("note", ""),
            scale=entry.get("scale", "log10"),
        )

    # -------------------------------------------------------------- access
    @property
    def values(self) -> dict[str, float]:
        """Parameter values in their declared units."""
        return {k: r.value for k, r in self.records.items()}

    def __getitem__(self, name: str) -> float:
        try:
            return self.records[name].value
        except KeyError:
            raise ParameterError(f"unknown parameter {name!r}"
                                 f"{_suggest(name, list(self.records))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.records

    def __len__(self) -> int:
        return len(self.records)

    @cached_property
    def hash(self) -> str:
        """Short hash of the values (recorded in results' provenance)."""
        text = json.dumps(sorted(self.values.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    # -------------------------------------------------------------- changes
    def replace(self, changes: Mapping[str, Any] | None = None, /, **kwargs: Any) -> ParameterSet:
        """A new set with some values changed; the change is recorded in ``history``.

        Values may be numbers (in the declared unit), quantity strings such as
        ``"2 1/hour"``, pint quantities or ``(value, unit)`` tuples.
        """
        updates = {**(changes or {}), **kwargs}
        records = dict(self.records)
        history = list(self.history)
        for pname, raw in updates.items():
            if pname not in records:
                raise ParameterError(f"unknown parameter {pname!r}"
                                     f"{_suggest(pname, list(records))}")
            rec = records[pname]
            value = _as_float(pname, raw, rec.unit)
            lo, hi = rec.bounds
            if not lo <= value <= hi:
                warnings.warn(f"parameter {pname!r} = {value:g} {rec.unit} lies outside its "
                              f"plausible bounds [{lo:g}, {hi:g}]", UserWarning, stacklevel=2)
            history.append(f"{pname}: {rec.value:g} -> {value:g}")
            records[pname] = replace(rec, value=value)
        return ParameterSet(records, name=self.name, meta=self.meta, history=tuple(history))

    # -------------------------------------------------------------- checks and views
    def check_against(self, model: Any) -> None:
        """Every declared parameter has a value, none is extra, defaults lie within bounds."""
        problems = []
        missing = sorted(set(model.params) - set(self.records))
        if missing:
            problems.append(f"no value for parameter(s) {missing}")
        extra = sorted(set(self.records) - set(model.params))
        if extra:
            problems.append(f"value(s) for unknown parameter(s) {extra}")
        for rec in self.records.values():
            lo, hi = rec.bounds
            if not lo <= hi:
                problems.append(f"{rec.name}: bounds [{lo}, {hi}] are reversed")
            elif not lo <= rec.value <= hi and not self.history:
                problems.append(f"{rec.name}: default {rec.value:g} outside bounds [{lo:g}, {hi:g}]")
            if rec.submodel != model.owner[rec.name].name if rec.name in model.owner else False:
                problems.append(f"{rec.name} is filed under [{rec.submodel}] but belongs to "
                                f"[{model.owner[rec.name].name}]")
        if problems:
            raise ParameterError(f"parameter set {self.name!r}: " + "; ".join(problems))

    def to_dataframe(self):  # type: ignore[no-untyped-def]
        """PEtab-style parameter table plus unit, source, evidence and note."""
        import pandas as pd

        rows = [{
            "parameterId": r.name, "submodel": r.submodel, "description": r.description,
            "nominalValue": r.value, "unit": r.unit, "lowerBound": r.bounds[0],
            "upperBound": r.bounds[1], "parameterScale": r.scale, "estimate": 0,
            "evidence": r.evidence, "source": r.source, "note": r.note,
        } for r in self.records.values()]
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return f"ParameterSet({self.name!r}, {len(self)} parameters, hash={self.hash})"

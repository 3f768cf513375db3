"""ParameterSet: parameter values with unit, bounds, source and evidence, loaded from TOML.

Parameter files are the single source of parameter values. Each entry is a table
``[<submodel>.<parameter>]`` with ``value``, ``unit``, ``bounds``, ``source``, ``evidence``
(one of measured, fitted, derived, assumed) and an optional ``note`` and ``scale``.
On load every value is converted into the unit the model declares for it.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pint

from cordsim.core.files import read_text_limited
from cordsim.core.units import convert, parse_quantity
from cordsim.errors import ParameterError, UnitError, did_you_mean

EVIDENCE_LEVELS = ("measured", "fitted", "derived", "assumed")


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


AT_BOUND = 0.01  # a value within this share of its bounds' width (in its scale) sits on one


def at_bound(rec: ParamRecord) -> bool:
    """Whether a parameter's value sits on one of its bounds: within :data:`AT_BOUND` of the
    bounds' width, measured in its scale (log10 when the scale is logarithmic and the bounds
    positive).

    >>> at_bound(ParamRecord("k", 1.0, "1/day", (1.0, 100.0), "", "fitted", "x"))
    True
    >>> at_bound(ParamRecord("k", 10.0, "1/day", (1.0, 100.0), "", "fitted", "x"))
    False
    """
    import math

    lo, hi = rec.bounds
    v = rec.value
    if rec.scale.startswith("log") and lo > 0 and v > 0:
        v, lo, hi = math.log10(v), math.log10(lo), math.log10(hi)
    width = hi - lo
    return width > 0 and (v - lo <= AT_BOUND * width or hi - v <= AT_BOUND * width)


def _suggest(name: str, pool: list[str]) -> str:
    return did_you_mean(name, pool, cutoff=0.4)


def _as_float(name: str, value: Any, unit: str) -> float:
    """Interpret a user value (number, 'number unit' string, pint Quantity, (value, unit))."""
    if isinstance(value, str):
        try:
            value = parse_quantity(value)
        except UnitError as exc:
            raise UnitError(f"parameter {name!r}: {exc}") from None
    if isinstance(value, tuple) and len(value) == 2:
        number, from_unit = value
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ParameterError(f"parameter {name!r}: value must be a number, got {number!r}")
        value = convert(float(number), str(from_unit), unit, what=f"parameter {name!r}")
    if isinstance(value, pint.Quantity):
        value = convert(value.magnitude, str(value.units), unit, what=f"parameter {name!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"parameter {name!r}: value must be a number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an integer with hundreds of digits
        raise ParameterError(f"parameter {name!r}: value must be finite, got an integer of "
                             f"{len(str(value))} digits") from None
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
                 meta: Mapping[str, Any] | None = None, history: tuple[str, ...] = (),
                 user_set: frozenset[str] = frozenset()) -> None:
        self.records = dict(records)
        self.name = name
        self.meta = dict(meta or {})
        self.history = history
        #: names whose values a user set explicitly (with :meth:`replace`): no preset,
        #: product or scenario layer overwrites them (:func:`apply_layers`)
        self.user_set = frozenset(user_set)

    # -------------------------------------------------------------- loading
    @classmethod
    def load(cls, source: str | Path, model: Any) -> ParameterSet:
        """Load a TOML parameter file (bundled sets: :func:`cordsim.data.default_parameters`)."""
        path = Path(source)
        text = read_text_limited(path, ParameterError, what="parameter file")
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as exc:
            why = exc if isinstance(exc, tomllib.TOMLDecodeError) else "nested too deeply"
            raise ParameterError(f"cannot read parameter file {str(path)!r}: {why}") from None
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
        """A new set with some values changed by the user; the change is recorded in
        ``history`` and the names in ``user_set`` (presets and products never overwrite them).

        Values may be numbers (in the declared unit), quantity strings such as
        ``"2 1/hour"``, pint quantities or ``(value, unit)`` tuples.
        """
        return self._changed({**(changes or {}), **kwargs}, label="user", user=True)

    def _changed(self, updates: Mapping[str, Any], *, label: str, user: bool) -> ParameterSet:
        if not isinstance(updates, Mapping):
            raise ParameterError(f"{label} parameters must be a table of name = value, got "
                                 f"{updates!r}")
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
                              f"plausible bounds [{lo:g}, {hi:g}] ({label})", UserWarning,
                              stacklevel=3)
            history.append(f"{pname}: {rec.value:g} -> {value:g} ({label})")
            records[pname] = replace(rec, value=value)
        user_set = self.user_set | set(updates) if user else self.user_set
        return ParameterSet(records, name=self.name, meta=self.meta, history=tuple(history),
                            user_set=user_set)

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
            elif not lo <= rec.value <= hi and not self.history:  # a file's own defaults
                problems.append(f"{rec.name}: default {rec.value:g} outside bounds "
                                f"[{lo:g}, {hi:g}]")
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

    def _repr_html_(self) -> str:
        """Notebook view: name, hash, and how many parameters per evidence level."""
        import html
        from collections import Counter

        counts = Counter(r.evidence for r in self.records.values())
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{v}</td></tr>"
                       for k, v in sorted(counts.items()))
        return (f"<table><caption>ParameterSet {html.escape(self.name)} ({len(self)} "
                f"parameters, hash {self.hash}); evidence levels</caption>{rows}</table>")


def apply_layers(base: ParameterSet, layers: Sequence[tuple[str, Mapping[str, Any]]]
                 ) -> ParameterSet:
    """Apply parameter layers in order, later layers winning, then restore every value the
    user set explicitly on ``base`` (``base.user_set``): the one rule of precedence.

    cordsim's order (:func:`cordsim.design.setup.resolve_parameters`): defaults < species <
    injury preset < product < scenario < arm < perturbations < explicit user values. Each
    change is recorded in ``history`` with its layer's label; a layer value the user's own
    value overrides is recorded too, never applied silently.

    Examples
    --------
    >>> import cordsim
    >>> user = cordsim.default_parameters().replace(injury_severity=0.6)
    >>> ps = apply_layers(user, [("injury preset 'moderate'", {"injury_severity": 0.5})])
    >>> ps["injury_severity"], ps.history[-1]
    (0.6, "injury_severity: kept the user's 0.6 over injury preset 'moderate' (0.5)")
    """
    current = base
    for label, values in layers:
        if not isinstance(values, Mapping):
            raise ParameterError(f"{label}: parameters must be a table of name = value, got "
                                 f"{values!r}")
        free = {k: v for k, v in values.items() if k not in base.user_set}
        current = current._changed(free, label=label, user=False)
        kept = [k for k in values if k in base.user_set]
        if kept:
            notes = []
            for k in kept:
                try:
                    layer_value = f"{_as_float(k, values[k], base.records[k].unit):g}"
                except ParameterError:
                    layer_value = repr(values[k])
                notes.append(f"{k}: kept the user's {base[k]:g} over {label} ({layer_value})")
            current = ParameterSet(current.records, name=current.name, meta=current.meta,
                                   history=(*current.history, *notes),
                                   user_set=current.user_set)
    return current

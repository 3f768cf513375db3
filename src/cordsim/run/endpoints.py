"""Endpoints: one number per animal read off its trajectory, named ``readout@when``.

``readout`` is any state or output of the model (``cordsim params`` lists parameters;
``SimulationResult.data`` holds the readouts). ``when`` is

* a day: ``bbb_score@21`` (the value at day 21);
* ``peak``: the largest value over the simulated days (``tnf@peak``);
* ``tpeak``: the day of that largest value (``neutrophils@tpeak``);
* ``auc``: the area under the curve over the simulated days, or over a window of days:
  ``tnf@auc``, ``tnf@auc:0-7`` (readout unit times day).

Peaks, their days and areas are read on the analysis grid of
:func:`cordsim.run.simulation.analysis_times` (every 30 min on day 1, 0.1 day to day 7,
0.25 day after), plus every endpoint day.

Examples
--------
>>> Endpoint.parse("bbb_score@21").column
'bbb_score_day21'
>>> Endpoint.parse("tnf@auc:0-7").column
'tnf_auc_day0-7'
>>> Endpoint.parse("bbb_score@day21")
Traceback (most recent call last):
...
cordsim.errors.ScenarioError: endpoint 'bbb_score@day21': after '@' give a day (e.g. 21), peak, tpeak, auc or auc:FROM-TO
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cordsim.design.dosing import MAX_DAY
from cordsim.errors import ScenarioError, did_you_mean

_NUMBER = r"\d+(?:\.\d+)?"
_WHEN = re.compile(rf"^(?:(?P<day>{_NUMBER})|(?P<form>peak|tpeak)|"
                   rf"auc(?::(?P<a>{_NUMBER})-(?P<b>{_NUMBER}))?)$")
MAX_ENDPOINTS = 50


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: ``readout`` at a ``day``, or its ``peak``/``tpeak``/``auc`` form."""

    readout: str
    form: str = "day"  # day | peak | tpeak | auc
    day: float | None = None  # the day of a "day" endpoint
    window: tuple[float, float] | None = None  # days of an "auc" window (None: all days)

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """Read ``readout@when`` (see the module docstring)."""
        if not isinstance(text, str) or len(text) > 120 or text.count("@") != 1:
            raise ScenarioError(f"endpoint {str(text)[:60]!r} must read READOUT@WHEN, e.g. "
                                "bbb_score@21, tnf@peak, tnf@auc:0-7")
        readout, when = (s.strip() for s in text.split("@"))
        if not re.fullmatch(r"[a-z][a-z0-9_]*", readout):
            raise ScenarioError(f"endpoint {text!r}: {readout!r} is not a readout name")
        match = _WHEN.match(when)
        if not match:
            raise ScenarioError(f"endpoint {text!r}: after '@' give a day (e.g. 21), peak, "
                                "tpeak, auc or auc:FROM-TO")
        if match["day"] is not None:
            day = float(match["day"])
            if not 0 <= day <= MAX_DAY:
                raise ScenarioError(f"endpoint {text!r}: day must lie in 0-{MAX_DAY:g}")
            return cls(readout, "day", day=day)
        if match["form"]:
            return cls(readout, match["form"])
        if match["a"] is not None:
            a, b = float(match["a"]), float(match["b"])
            if not a < b:
                raise ScenarioError(f"endpoint {text!r}: the window's start must come "
                                    "before its end")
            return cls(readout, "auc", window=(a, b))
        return cls(readout, "auc")

    @property
    def text(self) -> str:
        """The endpoint as written (``bbb_score@21``)."""
        if self.form == "day":
            return f"{self.readout}@{self.day:g}"
        if self.form == "auc" and self.window:
            return f"{self.readout}@auc:{self.window[0]:g}-{self.window[1]:g}"
        return f"{self.readout}@{self.form}"

    @property
    def column(self) -> str:
        """Column name in cohort tables (``bbb_score_day21``, ``tnf_peak``)."""
        if self.form == "day":
            return f"{self.readout}_day{self.day:g}"
        if self.form == "auc" and self.window:
            return f"{self.readout}_auc_day{self.window[0]:g}-{self.window[1]:g}"
        return f"{self.readout}_{self.form}"

    @property
    def last_day(self) -> float:
        """The last day this endpoint needs simulated (0 when any length will do)."""
        if self.form == "day":
            return float(self.day or 0.0)
        return self.window[1] if self.window else 0.0

    def check(self, readouts: Sequence[str], days: float) -> None:
        """Refuse an unknown readout or a day beyond the simulated ``days``."""
        if self.readout not in readouts:
            raise ScenarioError(f"endpoint {self.text!r}: unknown readout {self.readout!r}"
                                f"{did_you_mean(self.readout, list(readouts))}")
        if self.last_day > days:
            raise ScenarioError(f"endpoint {self.text!r} needs day {self.last_day:g}, past "
                                f"the last simulated day ({days:g})")

    def value(self, t: np.ndarray, series: np.ndarray) -> float:
        """The endpoint of one trajectory (times ``t`` holding every endpoint day)."""
        if self.form == "day":
            k = int(np.argmin(np.abs(t - float(self.day or 0.0))))
            return float(series[k])
        if self.form in ("peak", "tpeak"):
            k = int(np.argmax(series))
            return float(series[k] if self.form == "peak" else t[k])
        a, b = self.window or (float(t[0]), float(t[-1]))
        keep = (t >= a - 1e-9) & (t <= b + 1e-9)
        return float(np.trapezoid(series[keep], t[keep]))


def parse_endpoints(texts: Iterable[str]) -> tuple[Endpoint, ...]:
    """Parse several endpoints; refuse duplicates and more than :data:`MAX_ENDPOINTS`."""
    eps = tuple(Endpoint.parse(t) for t in texts)
    if len(eps) > MAX_ENDPOINTS:
        raise ScenarioError(f"at most {MAX_ENDPOINTS} endpoints, got {len(eps)}")
    seen = set()
    for ep in eps:
        if ep.column in seen:
            raise ScenarioError(f"endpoint {ep.text!r} is given twice")
        seen.add(ep.column)
    return eps


# What a cohort reports when no endpoint is asked for.
DEFAULT_ENDPOINTS = parse_endpoints((
    "bbb_score@70", "bbb_score@28", "bscb_permeability@14", "spared_tissue_fraction@70",
    "m2_fraction_macrophages@14", "serum_tnf@10"))


def endpoint_times(endpoints: Sequence[Endpoint], days: float) -> np.ndarray:
    """The times a trajectory must hold to read ``endpoints`` over ``days``: the endpoint
    days, the window edges, and the analysis grid when a peak or area is asked for."""
    from cordsim.run.simulation import analysis_times

    times = {0.0, float(days)}
    for ep in endpoints:
        if ep.form == "day" and ep.day is not None and ep.day <= days:
            times.add(float(ep.day))
        if ep.window:
            times.update(ep.window)
    grid = np.array(sorted(times))
    if any(ep.form != "day" for ep in endpoints):
        grid = np.unique(np.concatenate([grid, analysis_times(days)]))
    return grid[grid <= days + 1e-9]


def read_endpoints(sim: Any, traj: Any, endpoints: Sequence[Endpoint]) -> list[float]:
    """Each endpoint of one successful trajectory of ``sim`` (a Simulation): the outputs are
    computed once, then each readout is an output or a state."""
    outs = sim.compiled.outputs(traj.t, traj.y, traj.p)
    names = sim.model.output_names
    values = []
    for ep in endpoints:
        series = (outs[names.index(ep.readout)] if ep.readout in names
                  else traj.y[sim.model.state_names.index(ep.readout)])
        values.append(ep.value(traj.t, series))
    return values

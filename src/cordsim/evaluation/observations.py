"""Checks of the observation dataset: each ``check`` or ``fit`` row of
``data/observations/measurements.csv``
compared with cordsim by the rule written in the row (set a priori, before any fit).

Rules (``comparison``): ``level`` (value at ``time_day`` in [lo, hi]); ``peak_time`` (time of the
maximum over the 120-day run, ``DAYS``, in [lo, hi]); ``elevated`` / ``not_elevated`` (at
``time_day``, above / below 5% of the run's peak excess over the uninjured level); ``declined`` (at
``time_day`` below half the peak excess); ``stable`` (|change from ``time_ref`` to ``time_day``|
<= ``hi``); ``higher_than_ref`` / ``lower_than_ref`` (the value at ``time_day`` above / below
the value at ``time_ref``); ``leaky`` / ``sealed`` (BSCB permeability at ``time_day`` above /
below ``lo`` / ``hi``); ``gain`` (treated minus vehicle at ``time_day`` in [lo, hi]);
``direction`` (treated minus vehicle, averaged over [``time_ref``, ``time_day``] when both
are given, has the sign of ``value``); ``smd`` (gain over the between-animal SD of observed
BBB in [lo, hi]); ``sd`` (between-animal SD of observed BBB in a virtual cohort in
[lo, hi]); ``saturates`` (the second dose adds 0 to < 1 BBB point over the first);
``dose_increases`` (the second dose gains more);
``fractionated_beats_bolus`` (three daily doses >= one bolus of the same total).
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from typing import Any

import numpy as np

from cordsim.core import ParameterSet
from cordsim.data import default_parameters, observations
from cordsim.design.dosing import Dose, Protocol
from cordsim.evaluation.checks import Check
from cordsim.run.results import SimulationResult
from cordsim.run.simulation import Simulation

ELEVATED = 0.05  # share of the peak excess above which a quantity counts as raised
DAYS = 120.0  # long enough for the latest observation (16 weeks)


class ObservationRuns:
    """Runs shared by the checks: each injury untreated, each (injury, protocol) treated."""

    def __init__(self, parameters: ParameterSet | None = None) -> None:
        self.parameters = parameters or default_parameters()
        self._runs: dict[tuple[str, str], SimulationResult] = {}

    def run_at(self, injury: str, protocol: str, severity: float) -> SimulationResult:
        """A run of ``injury``'s preset with its severity set to ``severity`` (a study's own)."""
        key = (f"{injury}@{severity:.6g}", protocol)
        if key not in self._runs:
            doses = tuple(Dose.from_json(d) for d in json.loads(protocol)) if protocol else ()
            self._runs[key] = Simulation(parameters=self.parameters, injury=injury,
                                         protocol=Protocol(doses)).run(
                DAYS, dt=1.0, values={"injury_severity": severity})
        return self._runs[key]

    def run(self, injury: str, protocol: str = "", days: float = DAYS) -> SimulationResult:
        key = (injury, protocol)
        if key not in self._runs:
            doses = tuple(Dose.from_json(d) for d in json.loads(protocol)) if protocol else ()
            self._runs[key] = Simulation(parameters=self.parameters, injury=injury,
                                         protocol=Protocol(doses)).run(days, dt=1.0)
        return self._runs[key]

    @cached_property
    def sham(self) -> SimulationResult:
        return self.run("none")

    def bbb_sd(self, injury: str, day: float, n: int = 300) -> float:
        """Between-animal SD of observed BBB at ``day`` in a virtual cohort (cohort settings'
        defaults)."""
        from cordsim.run.cohort import observed_bbb_sd

        return observed_bbb_sd(day, injury=injury, n=n, seed=11, parameters=self.parameters)


def _value(res: SimulationResult, expr: str, day: float) -> float:
    return float(sum(res.at(name.strip(), day) for name in expr.split("+")))


def _series(res: SimulationResult, expr: str) -> np.ndarray:
    return sum(res[name.strip()] for name in expr.split("+"))


def _mean(res: SimulationResult, expr: str, start: float, end: float) -> float:
    mask = (res.time >= start) & (res.time <= end)
    return float(np.trapezoid(_series(res, expr)[mask], res.time[mask]) / (end - start))


def peak_time(res: SimulationResult, expr: str) -> float:
    """Day of the maximum of ``expr`` (a readout or a sum ``a + b``): the vertex of the
    parabola through the largest sample and its two neighbours, so that the time is not
    rounded to the output grid (half-hourly in the first day, where acute peaks sit hours
    apart); the largest sample's day when it is the first or last."""
    y, t = _series(res, expr), res.time
    i = int(np.argmax(y))
    if i == 0 or i == len(y) - 1:
        return float(t[i])
    (t0, t1, t2), (f0, f1, f2) = t[i - 1:i + 2], y[i - 1:i + 2]
    den = (t1 - t0) * (f1 - f2) - (t1 - t2) * (f1 - f0)
    if not den > 0:  # all three equal, a repeated time or a NaN: no parabola to read
        return float(t1)
    num = (t1 - t0) ** 2 * (f1 - f2) - (t1 - t2) ** 2 * (f1 - f0)
    return float(t1 - 0.5 * num / den)


def peak_window(model: str) -> tuple[float, float]:
    """The calibration set's window for the day of ``model``'s peak: the latest ``lo`` and
    the earliest ``hi`` of its ``peak_time`` check rows (what a fit of that peak aims at)."""
    df = observations()
    rows = df[(df["set"] == "calibration") & df["use"].isin(["check", "fit"])
              & (df["model"] == model) & (df["comparison"] == "peak_time")]
    if rows.empty:
        raise ValueError(f"no calibration peak_time row for {model!r}")
    return float(rows["lo"].astype(float).max()), float(rows["hi"].astype(float).min())


def peak_excess_share(res: SimulationResult, sham: SimulationResult, expr: str,
                      day: float) -> float:
    """``expr`` at ``day`` above the uninjured level, as a share of its peak excess (0 when it
    never rises): what ``elevated`` and ``not_elevated`` compare with 5%."""
    base = _value(sham, expr, day)
    excess = float(np.max(_series(res, expr))) - base
    return (_value(res, expr, day) - base) / excess if excess > 0 else 0.0


def _num(x: str) -> float:
    return float(x) if x not in ("", None) else float("nan")


def check_row(row: Any, runs: ObservationRuns) -> Check:
    """Compare one observation row with cordsim by its rule."""
    comp, expr, injury = row["comparison"], row["model"], row["injury"] or "moderate"
    t, lo, hi = _num(row["time_day"]), _num(row["lo"]), _num(row["hi"])
    res = runs.run(injury)
    if comp == "level":
        v = _value(res, expr, t)
        return Check(f"{v:.3g} at day {t:g}", lo <= v <= hi, f"{lo:g}-{hi:g} at day {t:g}")
    if comp == "peak_time":
        expected = f"peak at day {lo:.3g}-{hi:.3g}"
        y = _series(res, expr)
        # no peak to time: a readout that never rises above its uninjured level, or only falls
        if not np.max(y) > _value(runs.sham, expr, 0.0) or int(np.argmax(y)) == 0:
            return Check("no rise above the uninjured level to time", False, expected)
        tp = peak_time(res, expr)
        return Check(f"peak at day {tp:.3g}", lo <= tp <= hi, expected)
    if comp in ("elevated", "not_elevated", "declined"):
        share = peak_excess_share(res, runs.sham, expr, t)
        if comp == "elevated":
            return Check(f"{100 * share:.0f}% of peak excess at day {t:.3g}", share > ELEVATED,
                         f"raised at day {t:.3g} (> {100 * ELEVATED:.0f}% of peak excess)")
        if comp == "not_elevated":
            return Check(f"{100 * share:.0f}% of peak excess at day {t:.3g}",
                         share <= ELEVATED, f"back to baseline at day {t:.3g} "
                                            f"(<= {100 * ELEVATED:.0f}% of peak excess)")
        return Check(f"{100 * share:.0f}% of peak excess at day {t:.3g}", share < 0.5,
                     f"below half the peak excess by day {t:.3g}")
    if comp == "stable":
        ref = _num(row["time_ref"])
        change = abs(_value(res, expr, t) - _value(res, expr, ref))
        return Check(f"changes by {change:.3g} from day {ref:g} to {t:g}", change <= hi,
                     f"change <= {hi:g} from day {ref:g} to {t:g}")
    if comp in ("higher_than_ref", "lower_than_ref"):
        ref = _num(row["time_ref"])
        now, before = _value(res, expr, t), _value(res, expr, ref)
        higher = comp == "higher_than_ref"
        return Check(f"{now:.3g} at day {t:g} vs {before:.3g} at day {ref:g}",
                     now > before if higher else now < before,
                     f"{'higher' if higher else 'lower'} at day {t:g} than at day {ref:g}")
    if comp in ("leaky", "sealed"):
        v = _value(res, expr, t)
        ok = v > lo if comp == "leaky" else v <= hi
        return Check(f"{v:.2f}x intact at day {t:.3g}", ok,
                     f"{'>' if comp == 'leaky' else '<='} {lo if comp == 'leaky' else hi:g}x "
                     f"intact at day {t:.3g}")
    treated = runs.run(injury, row["protocol"]) if row["protocol"] else None
    if comp == "gain":
        g = _value(treated, expr, t) - _value(res, expr, t)
        return Check(f"{g:+.2f} at day {t:g}", lo <= g <= hi, f"{lo:+.2f} to {hi:+.2f}")
    if comp == "direction":
        ref = _num(row["time_ref"])
        if math.isnan(ref):
            d = _value(treated, expr, t) - _value(res, expr, t)
            when = f"at day {t:g}"
        else:
            d = _mean(treated, expr, ref, t) - _mean(res, expr, ref, t)
            when = f"days {ref:g}-{t:g}"
        value = _num(row["value"])
        if math.isnan(value) or value == 0:
            raise ValueError(f"row {row['obs_id']}: a direction row needs a signed value")
        sign = 1 if value > 0 else -1
        return Check(f"treated minus vehicle {d:+.3g} ({when})", d * sign > 0,
                     f"{'higher' if sign > 0 else 'lower'} than vehicle ({when})")
    if comp == "smd":
        g = _value(treated, expr, t) - _value(res, expr, t)
        sd = runs.bbb_sd(injury, t)
        smd = g / sd
        return Check(f"SMD {smd:.2f} (gain {g:+.2f} / SD {sd:.2f})", lo <= smd <= hi,
                     f"{lo:g}-{hi:g}")
    if comp == "sd":
        sd = runs.bbb_sd(injury, t)
        return Check(f"SD {sd:.2f} of observed BBB at day {t:g}", lo <= sd <= hi,
                     f"{lo:g}-{hi:g}")
    if comp in ("saturates", "dose_increases"):
        doses = json.loads(row["protocol"])
        gains = [runs.run(injury, json.dumps([d])).at(expr, t) - res.at(expr, t)
                 for d in doses]
        extra = gains[1] - gains[0]
        text = f"gain {gains[0]:+.2f} then {gains[1]:+.2f}"
        if comp == "saturates":
            return Check(text, 0 <= extra < 1.0, "the second dose adds 0 to < 1 point")
        return Check(text, extra > 0, "the higher dose gains more")
    if comp == "fractionated_beats_bolus":
        dose = json.loads(row["protocol"])[0]
        total = float(dose["amount"].split()[0]) * dose["count"]
        bolus = json.dumps([{**dose, "schedule": "bolus", "count": 1,
                             "amount": f"{total:g} particle"}])
        frac, single = treated.at(expr, t), runs.run(injury, bolus).at(expr, t)
        return Check(f"fractionated {frac - res.at(expr, t):+.2f}, bolus "
                     f"{single - res.at(expr, t):+.2f}", frac >= single - 1e-6,
                     "fractionated >= bolus of the same total")
    raise ValueError(f"unknown comparison {comp!r} in row {row['obs_id']}")


FIT_SDS = 2.0  # a number is matched when cordsim lies within this many of its SDs


def fitted_observation_values() -> dict[str, float]:
    """The observation parameters and study severities the shipped calibration estimated
    (``data/calibration/estimates.csv``), or none when it holds none."""
    from cordsim.data import data_path

    path = data_path("calibration", "estimates.csv")
    if not path.exists():
        return {}
    import pandas as pd

    est = pd.read_csv(path)
    return {str(k): float(v) for k, v in zip(est["parameterId"], est["estimate"], strict=True)}


def _observe(formula: str, treated: SimulationResult, vehicle: SimulationResult | None,
             params: dict[str, float], day: float) -> float:
    from cordsim.io.formulas import parse_formula
    from cordsim.io.sbml import TWIN_PREFIX

    names = set(treated.data) | {TWIN_PREFIX + n for n in treated.data} | set(params)
    expr = parse_formula(formula, names, what="observation model")
    values = {}
    for sym in expr.free_symbols:
        name = str(sym)
        if name.startswith(TWIN_PREFIX):
            values[sym] = vehicle.at(name.removeprefix(TWIN_PREFIX), day)  # type: ignore[union-attr]
        elif name in params:
            values[sym] = params[name]
        else:
            values[sym] = treated.at(name, day)
    return float(expr.subs(values))


def fit_row_check(row: Any, runs: ObservationRuns, fitted: dict[str, float]) -> Check:
    """A number of the dataset through its observation model (``assays.toml``): cordsim's value
    at the row's day, with the study's fitted severity (calibration studies) or its injury
    preset (a held-out study is a new study), passes within :data:`FIT_SDS` of the row's SD."""
    from cordsim.data import assays, injury_presets
    from cordsim.io.petab import _injury_of, row_sigma, severity_id

    models = assays()
    model = models["models"][row["observation_model"]]
    params = {k: float(v["value"]) for k, v in models["parameters"].items()}
    params.update({k: v for k, v in fitted.items() if k in params})
    injury = _injury_of(row)
    severity = float(injury_presets()[injury]["injury_severity"])
    if row["design"] != "meta-analysis" and injury != "none":
        severity = fitted.get(severity_id(row), severity)
    day = _num(row["time_day"])
    formula = model["formula"]
    if row["design"] == "meta-analysis" and "vehicle__" in formula:
        formula = models["pooled"]["formula"].format(formula=formula)
    treated = runs.run_at(injury, row["protocol"], severity)
    vehicle = runs.run_at(injury, "", severity) if "vehicle__" in formula else None
    value = _observe(formula, treated, vehicle, params, day)
    sd = row_sigma(row, model)
    observed = _num(row["value"])
    return Check(f"{value:.3g} at day {day:g}", abs(value - observed) <= FIT_SDS * sd,
                 f"{observed:g} +- {FIT_SDS:g} x {sd:.2g} ({row['observation_model']})")


def check_observations(parameters: ParameterSet | None = None, *, progress: bool = False
                       ) -> Any:
    """Every ``check`` and ``fit`` row of the dataset against cordsim; a DataFrame with the
    columns of ``cordsim validate --csv``."""
    import pandas as pd
    from tqdm.auto import tqdm

    runs = ObservationRuns(parameters)
    df = observations()
    fitted = fitted_observation_values()
    rows = []
    todo = df[df["use"].isin(["check", "fit"])]
    for _, row in tqdm(list(todo.iterrows()), desc="observations", unit="row",
                       disable=not progress):
        try:
            result = (fit_row_check(row, runs, fitted) if row["use"] == "fit"
                      else check_row(row, runs))
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failed one
            result = Check(f"error: {exc}", False, "")
        rows.append({"id": row["obs_id"], "claim": row["measure"], "source": row["source"],
                     "set": row["set"], "kind": "observation", "expected": result.expected,
                     "simulated": result.simulated, "pass": bool(result.passed),
                     "note": row["note"]})
    return pd.DataFrame(rows)

"""Protocol optimisation: the dose, timing, fractionation, infusion and route of one arm
that maximise the expected gain (or the chance of a gain of at least X) over a cohort.

The search is Optuna's TPE sampler (seeded: the same seed gives the same trials) over the
settings of :mod:`cordsim.design.variants`, within :class:`Constraints`:

* ``dose``: the total dose is at most ``total_dose`` (default: the arm's own total); the
  search picks the share of that budget used (log scale, ``min_share``-1), split evenly
  over the administrations;
* ``start`` in [``earliest``, ``latest``] days (0.125-day steps), ``count`` from 1 to
  ``max_injections``, ``interval`` in [``min_interval``, ``max_interval``] days, or a single
  infusion of ``max_duration`` days at most (when ``infusion`` and the route allows it);
* ``route`` among ``routes`` (default: the arm's own route).

Every candidate runs on the same members of the shipped posterior ensemble (each with its
study's effect factor: the posterior predictive, by default) or the same virtual animals
(``n``: at the best fit) as the arm's own protocol and the control arm
(:class:`cordsim.analysis.scan.ProtocolEvaluator`), so comparisons are paired, member by
member. The arm's own protocol is the search's first trial, so the best found is at least
as good on the objective. The report gives the best protocols, the dose-gain Pareto front
(no protocol with less total dose gains more) and the best minus the own protocol: its
median and 90% band over the members (or its 95% CI over animals).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cordsim._optional import require
from cordsim.analysis.scan import (
    POSTERIOR_MEMBERS,
    ProtocolEvaluator,
    check_threshold,
    summarize_gains,
)
from cordsim.design.dosing import DOSE_UNIT, ENTRY, ROUTES, product
from cordsim.design.variants import total_dose
from cordsim.errors import ScenarioError

OBJECTIVES = ("mean", "probability")


def search(define: Callable[[Any], dict[str, Any]], score: Callable[[dict[str, Any]], float],
           *, trials: int, seed: int, first: dict[str, Any] | None = None,
           progress: bool = False) -> list[dict[str, Any]]:
    """Maximise ``score(settings)`` over settings that ``define(trial)`` draws from an Optuna
    trial (TPE sampler, ``seed``); ``first`` is evaluated first. Returns every trial as
    ``{"number", "settings", "score"}`` (failed scores are -inf)."""
    require("optuna", "cordsim optimize")
    import optuna

    check_trials(trials)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, trials))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    if first is not None:
        study.enqueue_trial(first)
    records: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        settings = define(trial)
        value = float(score(settings))
        records.append({"number": trial.number, "settings": settings,
                        "score": value if math.isfinite(value) else -math.inf})
        return value if math.isfinite(value) else -1e300

    study.optimize(objective, n_trials=trials, show_progress_bar=progress)
    return records


def check_trials(trials: int) -> None:
    """Refuse a number of trials outside 1 to 100,000."""
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= 100_000:
        raise ScenarioError(f"trials must be an integer from 1 to 100,000, got {trials!r}")


@dataclass(frozen=True)
class Constraints:
    """What the optimiser may change; ``None`` means the arm's own value (see the module
    docstring)."""

    total_dose: float | None = None  # in cells or particles
    max_injections: int = 5
    earliest: float = 0.0
    latest: float | None = None  # default: 28 days or the last simulated day before it
    min_interval: float = 0.5
    max_interval: float = 7.0
    infusion: bool = True
    max_duration: float = 7.0
    routes: tuple[str, ...] | None = None
    min_share: float = 0.01

    def check(self, days: float, product_name: str) -> Constraints:
        """These constraints with defaults filled in, or a ScenarioError naming the bad one."""
        latest = self.latest if self.latest is not None else min(28.0, days - 1)
        if not 0 <= self.earliest <= latest < days:
            raise ScenarioError(f"need 0 <= earliest ({self.earliest:g}) <= latest "
                                f"({latest:g}) < the last simulated day ({days:g})")
        if isinstance(self.max_injections, bool) or not isinstance(self.max_injections, int) \
                or not 1 <= self.max_injections <= 30:
            raise ScenarioError(f"max_injections must be an integer from 1 to 30, got "
                                f"{self.max_injections!r}")
        if not 0 < self.min_interval <= self.max_interval <= 30:
            raise ScenarioError("need 0 < min_interval <= max_interval <= 30 days")
        if not 0 < self.max_duration <= 30:
            raise ScenarioError("max_duration must lie in (0, 30] days")
        if not 0 < self.min_share <= 1:
            raise ScenarioError("min_share must lie in (0, 1]")
        if self.total_dose is not None and not (math.isfinite(self.total_dose)
                                                and self.total_dose > 0):
            raise ScenarioError(f"total_dose must be positive, got {self.total_dose!r}")
        allowed = product(product_name)["routes"]
        for route in self.routes or ():
            if route not in ROUTES or route not in allowed:
                raise ScenarioError(f"route {route!r} is not modelled for {product_name!r}; "
                                    f"allowed: {', '.join(allowed)}")
        return Constraints(**{**asdict(self), "latest": latest})


@dataclass
class OptimizationResult:
    """Every trial (``trials``: a table), the best protocols, the Pareto front and the
    comparison with the arm's own protocol (``summary``)."""

    trials: Any
    pareto: Any
    summary: dict[str, Any]

    def write(self, out: str | Path) -> list[Path]:
        out = Path(out)
        paths = [out / "trials.csv", out / "pareto.csv", out / "summary.json"]
        self.trials.to_csv(paths[0], index=False, float_format="%.6g")
        self.pareto.to_csv(paths[1], index=False, float_format="%.6g")
        paths[2].write_text(json.dumps(self.summary, indent=1, default=str))
        return paths


def optimize_protocol(scenario: str, arm: str, *, constraints: Constraints | None = None,
                      objective: str = "mean", threshold: float = 1.0,
                      endpoint: str | None = None, n: int | None = None, trials: int = 60,
                      seed: int = 1, progress: bool = False,
                      members: int = POSTERIOR_MEMBERS) -> OptimizationResult:
    """Search the protocol of ``arm`` (see the module docstring). Each protocol is scored
    over ``members`` members of the shipped ensemble with their study effects (the
    posterior predictive: ``mean``, the expected gain; ``probability``, the posterior
    probability of a gain of at least ``threshold``), or, with ``n``, over ``n`` virtual
    animals at the best fit."""
    import pandas as pd

    if objective not in OBJECTIVES:
        raise ScenarioError(f"objective must be one of {', '.join(OBJECTIVES)}, got "
                            f"{objective!r}")
    check_threshold(threshold)
    check_trials(trials)  # every option before the animals are drawn
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        from cordsim.run.resources import check_animals

        check_animals(n, f"optimize {arm!r}", runs=trials)  # the trials' gains are kept
    posterior = n is None
    ev = ProtocolEvaluator(scenario, arm, endpoint, n=n, seed=seed,
                           members=members if posterior else None)
    own = ev.own
    own_protocol = ev.arm.protocol
    species = ev.scenario.species
    c = (constraints or Constraints()).check(ev.scenario.days, own["product"])
    budget = c.total_dose if c.total_dose is not None else total_dose(own_protocol, species)
    routes = c.routes or (own["route"],)
    per_unit = total_dose(ev.protocol(dose=1.0, count=1, duration=0.0), species)
    kind = own_protocol.doses[0].kind

    def build(s: dict[str, Any]) -> Any:
        per_admin = s["share"] * budget / s["count"] / per_unit  # in the arm's dose unit
        return ev.protocol(dose=per_admin, start=s["start"], count=s["count"],
                           interval=s.get("interval", 1.0), duration=s.get("duration", 0.0),
                           route=s["route"])

    def define(trial: Any) -> dict[str, Any]:
        s: dict[str, Any] = {
            "route": trial.suggest_categorical("route", list(routes)),
            "share": trial.suggest_float("share", c.min_share, 1.0, log=True),
            "start": trial.suggest_float("start", c.earliest, c.latest, step=0.125),
        }
        infusable = ENTRY[(kind, s["route"])][1] is not None
        mode = trial.suggest_categorical("mode", ["injections", "infusion"]) \
            if c.infusion and infusable else "injections"
        if mode == "infusion":
            s["count"] = 1
            s["duration"] = trial.suggest_float("duration", 0.25, c.max_duration, step=0.25)
        else:
            s["count"] = trial.suggest_int("count", 1, c.max_injections)
            if s["count"] > 1:
                s["interval"] = trial.suggest_float("interval", c.min_interval,
                                                    c.max_interval, step=0.5)
        return s

    cache: dict[str, np.ndarray] = {}

    def gains_of(s: dict[str, Any]) -> np.ndarray:
        key = json.dumps(s, sort_keys=True)
        if key not in cache:
            try:
                cache[key] = ev.gains(build(s))
            except ScenarioError:  # e.g. administrations after the last day: infeasible
                cache[key] = np.full(len(ev.animals), np.nan)
        return cache[key]

    def score(s: dict[str, Any]) -> float:
        g = gains_of(s)
        if not np.isfinite(g).any():
            return -math.inf
        g = g[np.isfinite(g)]
        return float(g.mean() if objective == "mean" else (g >= threshold).mean())

    first = _own_settings(own, budget, per_unit, c, routes)
    records = search(define, score, trials=trials, seed=seed, first=first, progress=progress)
    own_gains = ev.gains(own_protocol)
    rows = []
    for r in records:
        s = r["settings"]
        g = gains_of(s)
        try:
            protocol = build(s)
        except ScenarioError:
            continue
        rows.append({"trial": r["number"], "score": r["score"], **s,
                     "total_dose": total_dose(protocol, species),
                     **summarize_gains(g, g + ev.control, threshold, posterior=posterior),
                     "protocol": json.dumps(protocol.as_dict()["doses"])})
    table = pd.DataFrame(rows)
    table = table.sort_values(["score", "total_dose"], ascending=[False, True],
                              ignore_index=True)
    best = table.iloc[0]
    settings_of_trial = {r["number"]: r["settings"] for r in records}
    best_gains = gains_of(settings_of_trial[int(best["trial"])])
    diff = summarize_gains(best_gains - own_gains, best_gains - own_gains, 0.0,
                           posterior=posterior)
    summary = {
        "scenario": ev.scenario.name, "arm": arm, "control": ev.scenario.arms[0].name,
        "endpoint": ev.endpoint.text, "objective": objective, "threshold": threshold,
        "animals": n, "members": members if posterior else None,
        "point": ("posterior predictive (median and 90% band over "
                  f"{members} fitted parameter sets)" if posterior else
                  f"best fit (mode), {n} virtual animals"),
        "trials": trials, "seed": seed, "runs": ev.runs,
        "constraints": {**asdict(c), "total_dose": budget, "routes": list(routes)},
        "dose_unit": DOSE_UNIT[kind],
        "own": {"protocol": own_protocol.as_dict()["doses"],
                "total_dose": total_dose(own_protocol, species),
                **summarize_gains(own_gains, own_gains + ev.control, threshold,
                                  posterior=posterior)},
        "best": {"protocol": json.loads(best["protocol"]),
                 "total_dose": float(best["total_dose"]),
                 **{k: float(best[k]) for k in ("score", "gain", "gain_ci_low", "gain_ci_high",
                                                "gain_q05", "gain_q95", "p_gain")
                    if k in best}},
        "best_minus_own": {k: v for k, v in diff.items() if k != "endpoint"},
    }
    return OptimizationResult(table, pareto_front(table), summary)


def pareto_front(table: Any, dose: str = "total_dose", gain: str = "gain") -> Any:
    """The trials no other trial beats with less or equal total dose and more gain."""
    ok = table[np.isfinite(table[gain])].sort_values([dose, gain], ascending=[True, False])
    keep, best = [], -math.inf
    for i, row in ok.iterrows():
        if row[gain] > best:
            keep.append(i)
            best = row[gain]
    return ok.loc[keep].reset_index(drop=True)


def _own_settings(own: dict[str, Any], budget: float, per_unit: float, c: Constraints,
                  routes: tuple[str, ...]) -> dict[str, Any] | None:
    """The arm's own protocol as search settings, when the constraints allow it."""
    share = own["dose"] * per_unit * own["count"] / budget
    fits = (own["route"] in routes and c.min_share <= share <= 1 + 1e-9
            and c.earliest <= own["start"] <= c.latest and own["count"] <= c.max_injections
            and (own["count"] == 1 or c.min_interval <= own["interval"] <= c.max_interval)
            and (own["duration"] == 0
                 or (c.infusion and 0.25 <= own["duration"] <= c.max_duration)))
    if not fits:
        return None
    first: dict[str, Any] = {"route": own["route"], "share": min(share, 1.0),
                             "start": own["start"]}
    if own["duration"] > 0:
        first.update(mode="infusion", duration=own["duration"])
    else:
        first.update(mode="injections", count=own["count"])
        if own["count"] > 1:
            first["interval"] = own["interval"]
    return first


"""Protocol scans: an endpoint over a grid of dose, timing, fractionation, route or product.

``scan(scenario, arm, {"dose": [...], "start": [...]})`` runs the arm's protocol at every
grid point (:func:`cordsim.design.variants.vary`) on the same animals, and the scenario's
first arm (the control) once: every grid point is compared on identical animals (common
random numbers), so differences between grid points are the protocol's, not sampling noise.
Without ``n`` each grid point is one nominal animal; with ``n`` a cohort drawn as
``cordsim cohort`` draws it (between-animal variability; observer error left out).

The result is an :class:`xarray.Dataset` with one dimension per varied setting:
``endpoint`` (mean over animals), ``gain`` (mean of treated minus control, animal by
animal), and with ``n``: ``endpoint_sd``, ``gain_sd``, ``gain_ci_low``/``gain_ci_high``
(95% t interval of the mean gain), ``p_gain`` (share of animals whose gain is at least
``threshold``), plus ``total_dose`` and ``failed`` runs.

``--vary`` text: ``dose=1e9..1e12:log:7`` (7 log-spaced values), ``start=0..28:8`` (8 evenly
spaced), ``count=1,3,5`` (a list), ``route=iv,intrathecal``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from cordsim.design.dosing import DOSE_UNIT
from cordsim.design.scenario import Scenario, load_scenario
from cordsim.design.variants import SETTINGS, settings_of, total_dose, vary
from cordsim.errors import ScenarioError, did_you_mean
from cordsim.run.endpoints import Endpoint, endpoint_times, read_endpoints

MAX_GRID = 10_000


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """``name=values`` -> (name, values); see the module docstring for the forms."""
    if not isinstance(text, str) or "=" not in text or len(text) > 500:
        raise ScenarioError(f"--vary {str(text)[:60]!r} must read NAME=VALUES, e.g. "
                            "dose=1e9..1e12:log:7, start=0..28:8, count=1,3,5, route=iv,hydrogel")
    name, values = (s.strip() for s in text.split("=", 1))
    if name not in SETTINGS:
        raise ScenarioError(f"--vary: unknown setting {name!r}; allowed: {', '.join(SETTINGS)}"
                            f"{did_you_mean(name, SETTINGS)}")
    if name in ("route", "product"):
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not items:
            raise ScenarioError(f"--vary {text!r}: give at least one {name}")
        return name, items
    if ".." in values:
        low, rest = values.split("..", 1)
        high, *flags = rest.split(":")
        a, b = _float(low, text), _float(high, text)
        log = "log" in flags
        counts = [f for f in flags if f != "log"]
        if len(counts) > 1 or (counts and not re.fullmatch(r"\d+", counts[0])):
            raise ScenarioError(f"--vary {text!r}: a range reads FROM..TO[:log][:POINTS]")
        k = int(counts[0]) if counts else 5
        if not 1 <= k <= 1000:
            raise ScenarioError(f"--vary {text!r}: 1 to 1000 points")
        if log:
            if a <= 0 or b <= 0:
                raise ScenarioError(f"--vary {text!r}: a log range needs positive ends")
            grid = np.geomspace(a, b, k)
        else:
            grid = np.linspace(a, b, k)
        out = [float(f"{v:.6g}") for v in grid]
    else:
        out = [_float(v, text) for v in values.split(",") if v.strip()]
    if name == "count":
        if any(not v.is_integer() or v < 1 for v in out):
            raise ScenarioError(f"--vary {text!r}: counts must be whole numbers >= 1")
        return name, [int(v) for v in out]
    return name, out


def _float(text: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ScenarioError(f"--vary {whole!r}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ScenarioError(f"--vary {whole!r}: values must be finite and >= 0")
    return value


class ProtocolEvaluator:
    """The endpoint of protocol variants of one arm on fixed animals, paired with the
    scenario's first arm (the control) on the same animals.

    ``n=None``: one nominal animal; else ``n`` animals drawn as ``cordsim cohort`` draws
    them (seed ``seed``), without observer error. ``endpoint`` defaults to the BBB score at
    the scenario's last day.
    """

    def __init__(self, scenario: str | Scenario, arm: str, endpoint: str | None = None, *,
                 n: int | None = None, seed: int = 1, members: int | None = None) -> None:
        from cordsim.numerics.solvers import Solver
        from cordsim.run.cohort import CohortSpec, varied_parameters
        from cordsim.run.scenarios import arm_simulation

        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.arm = self.scenario.arm(arm)
        if self.arm is self.scenario.arms[0]:
            raise ScenarioError(f"arm {arm!r} is the control (the first arm); choose a "
                                "treated arm")
        self.own = settings_of(self.arm.protocol)
        self.endpoint = Endpoint.parse(endpoint or f"bbb_score@{self.scenario.days:g}")
        self.solver = Solver(method="compiled")
        control = arm_simulation(self.scenario, self.scenario.arms[0], solver=self.solver)
        self.endpoint.check([*control.model.output_names, *control.model.state_names],
                            self.scenario.days)
        self.times = endpoint_times([self.endpoint], self.scenario.days)
        self.members = members
        self.factor = np.ones(1)
        if members is not None:
            if n is not None:
                raise ScenarioError("give --n (virtual animals at the best fit) or the "
                                    "posterior members, not both")
            from cordsim.data import ensemble_members
            from cordsim.run.ensemble import DEFAULT_TARGET, StudyEffects, member_values

            # the same members in the control arm and the varied one
            self.animals = member_values(ensemble_members(members), self.scenario,
                                         self.scenario.arms[0], self.arm)
            # each member's study effect factor on the treatment effect (a study of the
            # scenario's injury, as cordsim run predicts it)
            self.factor = StudyEffects.shipped().draw(members, target=DEFAULT_TARGET,
                                                       seed=seed)[0]
        elif n is None:
            self.animals: list[dict[str, float] | None] = [None]
        else:
            from cordsim.run.resources import check_animals

            spec = CohortSpec(scenario=self.scenario.name, n=n, seed=seed)
            check_animals(n, f"{self.scenario.name}, arm {arm!r}")  # before drawing them
            names = varied_parameters(control.parameters, control.model)
            severity = control.parameters["injury_severity"]
            self.animals = [spec.draw(0, i, control.parameters, names, severity)
                            for i in range(n)]
            for a in self.animals:
                a.pop("_rater")
        self.n = n
        self.runs = 0
        self.control = self._values(control)

    def protocol(self, **settings: Any) -> Any:
        """The arm's protocol with ``settings`` changed."""
        return vary(self.arm.protocol, **settings)

    def values(self, protocol: Any) -> np.ndarray:
        """The endpoint of every animal under ``protocol`` (NaN where the solver failed)."""
        from cordsim.run.scenarios import arm_simulation

        for dose in protocol.doses:  # refuses administrations after the last day
            dose.check_within(self.scenario.days)
        sim = arm_simulation(self.scenario, replace(self.arm, protocol=protocol),
                             solver=self.solver)
        return self._values(sim)

    def gains(self, protocol: Any) -> np.ndarray:
        """Treated minus control, animal by animal (member by member, each scaled by its
        study's effect factor, with posterior members)."""
        return self.factor * (self.values(protocol) - self.control)

    def _values(self, sim: Any) -> np.ndarray:
        trajs = sim.solve_batch(self.times, self.animals)
        self.runs += len(trajs)
        return np.array([read_endpoints(sim, traj, [self.endpoint])[0] if traj.ok else np.nan
                         for traj in trajs])


def check_threshold(threshold: float) -> float:
    """A finite threshold (NaN counted no animal as gaining), or a ScenarioError."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) \
            or not math.isfinite(threshold):
        raise ScenarioError(f"threshold must be a finite number (a gain in the endpoint's "
                            f"units), got {threshold!r}")
    return float(threshold)


def summarize_gains(gains: np.ndarray, values: np.ndarray, threshold: float, *,
                    posterior: bool = False) -> dict[str, float]:
    """Mean endpoint and gain, their spread, the 95% CI of the mean gain and the share of
    animals gaining at least ``threshold`` (animals that ran); with ``posterior`` (the
    gains of posterior members): the median endpoint and gain, the gain's 90% band
    (``gain_q05``, ``gain_q95``) and the posterior probability of a gain of at least
    ``threshold`` (``p_gain``)."""
    from scipy import stats

    ok = np.isfinite(gains)
    g, v = gains[ok], values[ok]
    if posterior:
        row = {"endpoint": float(np.median(v)) if v.size else math.nan,
               "gain": float(np.median(g)) if g.size else math.nan, "failed": int((~ok).sum())}
        if g.size:
            row.update(gain_q05=float(np.quantile(g, 0.05)),
                       gain_q95=float(np.quantile(g, 0.95)),
                       p_gain=float((g >= threshold).mean()))
        return row
    row = {"endpoint": float(v.mean()) if v.size else math.nan,
           "gain": float(g.mean()) if g.size else math.nan, "failed": int((~ok).sum())}
    if g.size > 1:
        half = float(stats.t.ppf(0.975, g.size - 1) * g.std(ddof=1) / math.sqrt(g.size))
        row.update(endpoint_sd=float(v.std(ddof=1)), gain_sd=float(g.std(ddof=1)),
                   gain_ci_low=row["gain"] - half, gain_ci_high=row["gain"] + half,
                   p_gain=float((g >= threshold).mean()))
    return row


POSTERIOR_MEMBERS = 50  # members of the shipped ensemble behind a scan's point by default


def scan(scenario: str | Scenario, arm: str, vary_settings: Mapping[str, Sequence[Any]], *,
         endpoint: str | None = None, n: int | None = None, seed: int = 1,
         threshold: float = 1.0, progress: bool = False,
         members: int | None = POSTERIOR_MEMBERS) -> Any:
    """The endpoint of ``arm`` over the grid of ``vary_settings`` (setting -> values); see
    the module docstring. By default each grid point is ``members`` members of the shipped
    ensemble with their study effects (the posterior predictive: median gain, its 90% band
    and the probability of a gain of at least ``threshold``); with ``n``: virtual animals at
    the best fit. Returns an :class:`xarray.Dataset`."""
    import xarray as xr
    from tqdm.auto import tqdm

    check_threshold(threshold)
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if not vary_settings:
        raise ScenarioError("give at least one setting to vary (e.g. dose=1e9..1e12:log:7)")
    for name in vary_settings:
        if name not in SETTINGS:
            raise ScenarioError(f"unknown setting {name!r}; allowed: {', '.join(SETTINGS)}"
                                f"{did_you_mean(name, SETTINGS)}")
    size = math.prod(len(v) for v in vary_settings.values())
    if not 1 <= size <= MAX_GRID:
        raise ScenarioError(f"the grid has {size:,} points; 1 to {MAX_GRID:,} allowed")
    members = None if n is not None else members
    ev = ProtocolEvaluator(sc, arm, endpoint, n=n, seed=seed, members=members)
    names = list(vary_settings)
    protocols = [ev.protocol(**dict(zip(names, combo, strict=True)))
                 for combo in itertools.product(*vary_settings.values())]  # fail early
    rows = []
    for protocol in tqdm(protocols, desc=f"scan {arm}", unit="protocol", disable=not progress):
        gains = ev.gains(protocol)
        rows.append({**summarize_gains(gains, ev.control + gains, threshold,
                                       posterior=members is not None),
                     "total_dose": total_dose(protocol, sc.species)})
    shape = [len(v) for v in vary_settings.values()]
    coords = {k: list(v) for k, v in vary_settings.items()}
    data = {key: (names, np.array([r.get(key, np.nan) for r in rows], dtype=float)
                  .reshape(shape)) for key in rows[0]}
    ds = xr.Dataset(data, coords=coords)
    kind = DOSE_UNIT[ev.arm.protocol.doses[0].kind]
    ds["total_dose"].attrs["units"] = kind
    ds.attrs.update({"scenario": sc.name, "arm": arm, "control": sc.arms[0].name,
                     "endpoint": ev.endpoint.text, "animals": n or 1, "seed": seed,
                     "point": (f"posterior predictive median and 90% band over {members} "
                               "fitted parameter sets (known severity)" if members else
                               f"best fit (mode), {n or 1} animal(s)"),
                     "threshold": threshold, "own_protocol": str(ev.own),
                     "dose_unit": ev.own["unit"], "runs": ev.runs})
    return ds

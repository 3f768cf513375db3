"""Global sensitivity analysis with SALib: Morris screening, then Sobol indices.

Which parameters decide an endpoint, over which ranges? Each factor is a parameter varied
log-uniformly over its value times/divided by ``fold`` (default 2), clipped to its
plausible bounds, or over the whole bounds (``fold=None``). SALib draws the design and
computes the indices; cordsim only evaluates the model on each row:

* **Morris** (elementary effects, Campolongo 2007 ``mu_star``): ``n`` trajectories of
  ``k + 1`` runs each over all ``k`` factors; cheap, ranks every parameter.
* **Sobol** (Saltelli 2010 estimators, first-order ``S1`` and total ``ST`` with bootstrap
  confidence intervals): ``n`` base samples (a power of 2) times ``k + 2`` runs, on the
  ``keep`` factors Morris ranks highest (screening runs first when there are more).

The endpoint of each run is read for one scenario arm, or as the treatment effect (that arm
minus the scenario's first arm, run with the same parameters). Runs go through the cohort
engine (:class:`cordsim.run.cohort.SampleSpec`): all cores, or Dask with a scheduler,
streamed to Parquet and resumable. A run whose solver fails is recorded; the Morris
trajectory or Sobol block holding it is left out of the indices (and counted).

The wiring is the same whatever computes the endpoint: :func:`run_sensitivity` takes any
``evaluate(matrix, factors, folder) -> {endpoint: values}``, so the Ishigami function with
known indices runs through exactly this code in the tests.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cordsim._optional import require
from cordsim.errors import ScenarioError, did_you_mean
from cordsim.run.resources import check_design as check_memory_of_design

METHODS = ("morris", "sobol")
MORRIS_LEVELS = 4
CONFIDENCE = 0.95
RESAMPLES = 1000

Evaluate = Callable[[np.ndarray, Sequence["Factor"], Path], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Factor:
    """A parameter varied from ``low`` to ``high`` (log-uniformly when ``log``)."""

    name: str
    low: float
    high: float
    log: bool = True


def factors_of(parameters: Any, model: Any = None, *, names: Sequence[str] | None = None,
               fold: float | None = 2.0) -> list[Factor]:
    """The factors of a sensitivity analysis: ``names`` (default: every parameter that varies
    between animals, :func:`cordsim.run.cohort.varied_parameters`) over value x/÷ ``fold``
    within the plausible bounds, or over the bounds when ``fold`` is None."""
    from cordsim.run.cohort import varied_parameters

    if fold is not None and (isinstance(fold, bool) or not isinstance(fold, int | float)
                             or not math.isfinite(fold) or not 1 < fold <= 1000):
        raise ScenarioError(f"fold must be a number in (1, 1000] (or 'bounds'), got {fold!r}")
    chosen = list(names) if names is not None else varied_parameters(parameters, model)
    out = []
    for name in chosen:
        if name not in parameters.records:
            raise ScenarioError(f"unknown parameter {name!r}"
                                f"{did_you_mean(name, list(parameters.records))}")
        rec = parameters.records[name]
        lo, hi = (float(b) for b in rec.bounds)
        value = float(rec.value)
        if fold is not None:
            lo, hi = max(lo, value / fold), min(hi, value * fold)
        log = rec.scale != "lin" and lo > 0
        if not hi > lo:
            raise ScenarioError(f"parameter {name!r} cannot vary: its range is "
                                f"[{lo:g}, {hi:g}]")
        out.append(Factor(name, lo, hi, log))
    if not out:
        raise ScenarioError("no parameter to vary")
    return out


def problem(factors: Sequence[Factor]) -> dict[str, Any]:
    """SALib's problem: log10 bounds for log factors."""
    return {"num_vars": len(factors), "names": [f.name for f in factors],
            "bounds": [[math.log10(f.low), math.log10(f.high)] if f.log else [f.low, f.high]
                       for f in factors]}


def to_natural(x: np.ndarray, factors: Sequence[Factor]) -> np.ndarray:
    """SALib's samples in parameter units (undo the log10 of log factors)."""
    x = np.array(x, dtype=float)
    for j, f in enumerate(factors):
        if f.log:
            x[:, j] = 10.0 ** x[:, j]
    return x


def block_size(method: str, k: int) -> int:
    """Runs per Morris trajectory or Sobol base sample (first and total order only)."""
    return k + 1 if method == "morris" else k + 2


def design(method: str, factors: Sequence[Factor], n: int, seed: int) -> np.ndarray:
    """The SALib design (in SALib's scale): Morris ``n`` trajectories, Sobol ``n`` base
    samples (a power of 2)."""
    require("SALib", "cordsim sensitivity")
    check_design(method, n)
    prob = problem(factors)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(prob, N=n, num_levels=MORRIS_LEVELS, seed=seed)
    from SALib.sample import sobol

    return sobol.sample(prob, N=n, calc_second_order=False, scramble=True, seed=seed)


def check_design(method: str, n: int) -> None:
    """A ScenarioError naming the problem unless ``n`` suits ``method``'s design."""
    check_method(method)
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 1_000_000:
        raise ScenarioError(f"n must be an integer from 2 to 1,000,000, got {n!r}")
    if method == "sobol" and n & (n - 1):
        raise ScenarioError(f"Sobol needs n a power of 2 (Saltelli's sequence), got {n}; "
                            f"try {2 ** round(math.log2(n))}")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ScenarioError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}"
                            f"{did_you_mean(str(method), METHODS)}")


def analyze(method: str, factors: Sequence[Factor], x: np.ndarray, y: np.ndarray,
            seed: int) -> tuple[Any, int]:
    """Indices of one endpoint: a table (one row per factor, with CIs) and the number of
    Morris trajectories or Sobol blocks left out because a run failed."""
    import pandas as pd

    prob = problem(factors)
    size = block_size(method, len(factors))
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y).reshape(-1, size).all(axis=1)
    dropped = int((~ok).sum())
    if ok.sum() < 2:
        raise ScenarioError(f"too few complete {method} blocks to analyze ({int(ok.sum())} of "
                            f"{ok.size}; the rest hold failed runs)")
    keep = np.repeat(ok, size)
    x, y = x[keep], y[keep]
    if method == "morris":
        from SALib.analyze import morris

        si = morris.analyze(prob, x, y, num_levels=MORRIS_LEVELS, conf_level=CONFIDENCE,
                            num_resamples=RESAMPLES, seed=seed)
        table = pd.DataFrame({"parameter": prob["names"], "mu": si["mu"],
                              "mu_star": si["mu_star"], "mu_star_conf": si["mu_star_conf"],
                              "sigma": si["sigma"]})
        return table.sort_values("mu_star", ascending=False, ignore_index=True), dropped
    from SALib.analyze import sobol

    si = sobol.analyze(prob, y, calc_second_order=False, conf_level=CONFIDENCE,
                       num_resamples=RESAMPLES, seed=seed)
    table = pd.DataFrame({"parameter": prob["names"], "S1": si["S1"],
                          "S1_conf": si["S1_conf"], "ST": si["ST"], "ST_conf": si["ST_conf"]})
    return table.sort_values("ST", ascending=False, ignore_index=True), dropped


@dataclass
class SensitivityResult:
    """Indices per endpoint (``tables``: endpoint -> DataFrame), the factors analyzed, and
    what the runs cost (``summary``)."""

    method: str
    factors: list[Factor]
    tables: dict[str, Any]
    summary: dict[str, Any]
    screening: SensitivityResult | None = None

    def tidy(self) -> Any:
        """All endpoints in one table (endpoint, parameter, indices...)."""
        import pandas as pd

        return pd.concat([t.assign(endpoint=e) for e, t in self.tables.items()],
                         ignore_index=True)


def run_sensitivity(method: str, factors: Sequence[Factor], evaluate: Evaluate, *, n: int,
                    out: str | Path, seed: int = 1, keep: int = 12,
                    n_screening: int = 10) -> SensitivityResult:
    """Morris or Sobol indices of every endpoint ``evaluate`` returns; writes
    ``OUT/METHOD/indices.csv`` and ``summary.json`` (and the runs, via ``evaluate``).

    Sobol on more than ``keep`` factors screens first: Morris with ``n_screening``
    trajectories into ``OUT/morris``, then Sobol on the ``keep`` factors with the largest
    ``mu_star`` (relative to each endpoint's largest, the best over endpoints).
    """
    # every option checked before any run (a Sobol run screens with Morris first)
    check_design(method, n)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ScenarioError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out)
    factors = list(factors)
    final = min(len(factors), keep) if method == "sobol" and isinstance(keep, int) \
        and keep >= 1 else len(factors)
    check_memory_of_design(n * block_size(method, final), final, f"{method} design")
    screening = None
    if method == "sobol" and len(factors) > keep:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ScenarioError(f"keep must be a positive integer (the factors Sobol keeps "
                                f"after the Morris screen), got {keep!r}")
        check_design("morris", n_screening)
        screening = run_sensitivity("morris", factors, evaluate, n=n_screening, out=out,
                                    seed=seed)
        factors = screened(screening, keep)
    folder = out / method
    folder.mkdir(parents=True, exist_ok=True)
    x = design(method, factors, n, seed)
    start = time.perf_counter()
    ys = evaluate(to_natural(x, factors), factors, folder)
    seconds = time.perf_counter() - start
    tables, summary = {}, {"method": method, "n": n, "seed": seed, "runs": int(len(x)),
                           "factors": [f.__dict__ for f in factors], "endpoints": {},
                           "seconds": round(seconds, 3)}
    for endpoint, y in ys.items():
        table, dropped = analyze(method, factors, x, y, seed)
        tables[endpoint] = table
        info: dict[str, Any] = {"failed_runs": int((~np.isfinite(y)).sum()),
                                "blocks_left_out": dropped}
        if method == "sobol":
            info["sum_S1"] = float(table["S1"].sum())
            info["sum_S1_conf"] = float(np.sqrt((table["S1_conf"] ** 2).sum()))
        summary["endpoints"][endpoint] = info
    result = SensitivityResult(method, factors, tables, summary, screening)
    result.tidy().to_csv(folder / "indices.csv", index=False, float_format="%.6g")
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    return result


def screened(result: SensitivityResult, keep: int) -> list[Factor]:
    """The ``keep`` factors with the largest relative ``mu_star`` over all endpoints."""
    score: dict[str, float] = {}
    for table in result.tables.values():
        top = float(table["mu_star"].max()) or 1.0
        for name, mu in zip(table["parameter"], table["mu_star"], strict=True):
            score[name] = max(score.get(name, 0.0), float(mu) / top)
    ranked = sorted(score, key=score.__getitem__, reverse=True)[:keep]
    by_name = {f.name: f for f in result.factors}
    return [by_name[name] for name in ranked]


def model_evaluator(scenario: str, arm: str, endpoints: Sequence[str], *, effect: bool,
                    workers: int | None = None, scheduler: str | None = None,
                    progress: bool = False, chunk: int = 100) -> Evaluate:
    """``evaluate`` for :func:`run_sensitivity` on cordsim's model: every row of the matrix
    is one run of ``arm`` of ``scenario`` (and of the first arm with the same parameters
    when ``effect``), through the cohort engine; returns each endpoint per row (arm minus
    first arm when ``effect``; NaN where a run failed)."""
    from cordsim.design.scenario import load_scenario
    from cordsim.run.cohort import SampleSpec, read_animals, run_cohort, write_samples
    from cordsim.run.endpoints import parse_endpoints

    sc = load_scenario(scenario)
    index = arm_index(sc, arm)
    if effect and index == 0:
        raise ScenarioError(f"the treatment effect is arm minus the first arm "
                            f"({sc.arms[0].name!r}); choose another arm")
    eps = parse_endpoints(endpoints)
    arms = [0, index] if effect else [index]

    def evaluate(matrix: np.ndarray, factors: Sequence[Factor], folder: Path) -> dict:
        path = folder / "samples.npy"
        digest = write_samples(matrix, path)
        spec = SampleSpec(scenario=scenario, samples=str(path), samples_hash=digest,
                          names=tuple(f.name for f in factors), n=len(matrix), chunk=chunk,
                          endpoints=tuple(ep.text for ep in eps))
        run_cohort(spec, folder, workers=workers, scheduler=scheduler, progress=progress,
                   arms=arms)
        df = read_animals(folder)
        values = {}
        for ep in eps:
            per_arm = []
            for a in arms:
                rows = df[df["arm_index"] == a].set_index("animal").reindex(range(len(matrix)))
                y = rows[ep.column].to_numpy(dtype=float, copy=True) if ep.column in rows else \
                    np.full(len(matrix), np.nan)
                y[(rows["status"] != "ok").to_numpy()] = np.nan
                per_arm.append(y)
            values[ep.text] = per_arm[1] - per_arm[0] if effect else per_arm[0]
        return values

    return evaluate


def arm_index(scenario: Any, name: str | None) -> int:
    """Index of the arm called ``name`` (default: the last arm)."""
    if name is None:
        return len(scenario.arms) - 1
    return scenario.arms.index(scenario.arm(name))


def effects_over_time(scenario: str, arm: str, readout: str, factors: Sequence[Factor], *,
                      effect: bool) -> dict[str, dict[str, Any]]:
    """The readout over time with each factor at its low, middle (geometric for log
    factors) and high value, the others at their values: ``{factor: {"time": t,
    "low"|"mid"|"high": series}}`` (arm minus first arm when ``effect``)."""
    from cordsim.design.scenario import load_scenario
    from cordsim.run.scenarios import arm_simulation

    sc = load_scenario(scenario)
    index = arm_index(sc, arm)
    sims = [arm_simulation(sc, sc.arms[i]) for i in ([0, index] if effect else [index])]
    t = np.linspace(0.0, sc.days, int(sc.days * 4) + 1)
    curves: dict[str, dict[str, Any]] = {}
    for f in factors:
        mid = math.sqrt(f.low * f.high) if f.log else (f.low + f.high) / 2
        curves[f.name] = {"time": t}
        for label, value in (("low", f.low), ("mid", mid), ("high", f.high)):
            series = []
            for sim in sims:
                res = sim.run(days=sc.days, dt=0.25, values={f.name: value}, throw=False)
                series.append(np.interp(t, res["time_day"], res[readout]))
            curves[f.name][label] = series[1] - series[0] if effect else series[0]
    return curves

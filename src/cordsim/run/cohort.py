"""Virtual cohorts and trials: animals that differ, results streamed to disk, resumable.

Each arm of a scenario gets ``n`` animals of its own (as in a real trial). Animal ``i`` of arm
``a`` draws its parameters from its own random stream ``(seed, a, i)``, so any chunk of
animals can run anywhere (local processes or Dask workers) and give the same numbers:

* every physiological parameter with a log scale varies log-normally around its default
  (coefficient of variation ``cv``), clipped to its plausible bounds;
* the injury severity varies as a covariate (impactor displacement within a group,
  normal with ``severity_sd``, clipped to 0-1);
* the BBB score is read by an observer: the animal's true score plus rater noise
  (SD ``rater_sd``, Basso 1996: 0.6-1.3 points), rounded and clipped to the 0-21 scale.

Results are written chunk by chunk as Parquet (``animals/chunk-*.parquet``); a chunk already on
disk is not recomputed, so an interrupted cohort resumes where it stopped. An animal whose
simulation fails is recorded with its parameters and the error.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from cordsim.scenario import Scenario, load_scenario

# Parameters that are experimental knobs, normalizations, dose inputs or product cargo, not
# animal physiology: they do not vary between animals.
FIXED = {"injury_severity", "compression_ischemia", "bbb_max", "marco_activity",
         "p2ry12_activity", "macrophage_depletion", "tlr4_overexpression", "homing_factor",
         "phagocyte_reference", "macrophage_floor", "myeloid_floor", "fibrogenic_drive"}
FIXED_PREFIXES = ("input_", "cargo_")
ENDPOINTS = (("bbb_score", 70.0), ("bbb_score", 28.0), ("bscb_permeability", 14.0),
             ("spared_tissue_fraction", 70.0), ("m2_fraction_macrophages", 14.0),
             ("serum_tnf", 10.0))


@dataclass(frozen=True)
class CohortSpec:
    """What varies between animals, and how the cohort is cut into chunks."""

    scenario: str
    n: int
    seed: int = 1
    cv: float = 0.2
    severity_sd: float = 0.05
    rater_sd: float = 0.9
    chunk: int = 50

    def __post_init__(self) -> None:
        from cordsim.errors import ScenarioError

        if not isinstance(self.n, int) or self.n < 1:
            raise ScenarioError(f"cohort size n must be a positive integer, got {self.n!r}")
        for name in ("cv", "severity_sd", "rater_sd"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ScenarioError(f"{name} must be >= 0, got {value!r}")
        if self.chunk < 1:
            raise ScenarioError(f"chunk must be >= 1, got {self.chunk!r}")


def varied_parameters(parameters: Any) -> list[str]:
    """Names of the parameters that vary between animals."""
    return [name for name, rec in parameters.records.items()
            if rec.scale != "lin" and rec.bounds[0] < rec.bounds[1] and name not in FIXED
            and not name.startswith(FIXED_PREFIXES)]


def draw_animal(spec: CohortSpec, arm: int, animal: int, parameters: Any,
                names: list[str], severity: float) -> dict[str, float]:
    """The parameter values of one animal (its own random stream)."""
    rng = np.random.default_rng([spec.seed, arm, animal])
    sigma = math.sqrt(math.log1p(spec.cv**2))
    z = rng.standard_normal(len(names))
    base, lo, hi = _values_and_bounds(parameters, tuple(names))
    drawn = np.clip(base * np.exp(sigma * z - sigma**2 / 2), lo, hi)
    values = dict(zip(names, drawn.tolist(), strict=True))
    if severity > 0:
        values["injury_severity"] = float(np.clip(severity + spec.severity_sd
                                                  * rng.standard_normal(), 0.0, 1.0))
    values["_rater"] = float(spec.rater_sd * rng.standard_normal())
    return values


@cache
def _values_and_bounds(parameters: Any, names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    recs = [parameters.records[name] for name in names]
    lo, hi = np.array([r.bounds for r in recs]).T
    return np.array([r.value for r in recs]), lo, hi


def chunks(spec: CohortSpec, arms: Iterable[int]) -> list[tuple[int, int, int]]:
    """(arm, first animal, last animal + 1) of every chunk of the given arms."""
    return [(a, i, min(i + spec.chunk, spec.n)) for a in arms
            for i in range(0, spec.n, spec.chunk)]


_SIMULATIONS: dict[tuple[str, int], Any] = {}


def chunk_path(out: Path, arm: int, start: int) -> Path:
    return out / "animals" / f"chunk-arm{arm:02d}-{start:09d}.parquet"


def run_chunk(spec: CohortSpec, arm: int, start: int, stop: int, out: str) -> str:
    """Simulate animals [start, stop) of one arm and write their Parquet file (atomically)."""
    import pandas as pd

    from cordsim.simulation import Simulation
    from cordsim.solvers import Solver

    path = chunk_path(Path(out), arm, start)
    if path.exists():
        return str(path)
    key = (spec.scenario, arm)
    if key not in _SIMULATIONS:  # one per process: loading parameters is not free
        scenario = load_scenario(spec.scenario)
        a = scenario.arms[arm]
        sim = Simulation(injury=a.injury or scenario.injury, species=scenario.species,
                         protocol=a.protocol, solver=Solver(method="compiled"))
        _SIMULATIONS[key] = (scenario, a, sim, varied_parameters(sim.parameters))
    scenario, a, sim, names = _SIMULATIONS[key]
    severity = sim.parameters["injury_severity"]
    rows = []
    for i in range(start, stop):
        values = draw_animal(spec, arm, i, sim.parameters, names, severity)
        rater = values.pop("_rater")
        row: dict[str, Any] = {"arm": a.name, "arm_index": arm, "animal": i,
                               "injury_severity": values.get("injury_severity", severity)}
        try:
            res = sim.run(days=scenario.days, dt=1.0, overrides=values)
            for name, day in ENDPOINTS:
                if day <= scenario.days:
                    row[f"{name}_day{day:g}"] = res.at(name, day)
            true = row.get(f"bbb_score_day{scenario.days:g}", float(res["bbb_score"][-1]))
            row["bbb_observed"] = float(np.clip(np.round(true + rater), 0, 21))
            row["status"], row["error"], row["parameters"] = "ok", "", ""
        except Exception as exc:  # noqa: BLE001 - a failed animal is recorded, not dropped
            row["status"], row["error"] = "failed", f"{type(exc).__name__}: {exc}"
            row["parameters"] = json.dumps(values)
            row["bbb_observed"] = float("nan")
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    pd.DataFrame(rows).to_parquet(tmp, index=False)
    tmp.replace(path)
    return str(path)


def run_cohort(spec: CohortSpec, out: str | Path, *, workers: int | None = None,
               scheduler: str | None = None, progress: bool = False,
               arms: Iterable[int] | None = None) -> Path:
    """Run (or resume) a cohort into ``out``; returns the folder of Parquet chunks.

    ``scheduler``: ``None`` runs local processes (``workers``, default all cores);
    ``"local"`` starts a Dask LocalCluster; any other value is a Dask scheduler address.
    ``arms``: indices of the arms to run (default: all).
    """
    from tqdm.auto import tqdm

    out = Path(out)
    scenario = load_scenario(spec.scenario)
    arms = range(len(scenario.arms)) if arms is None else arms
    todo = [c for c in chunks(spec, arms)
            if not chunk_path(out, c[0], c[1]).exists()]
    (out / "animals").mkdir(parents=True, exist_ok=True)
    for stale in (out / "animals").glob("*.tmp*"):  # half-written by an interrupted run
        stale.unlink()
    meta = out / "cohort.json"
    if meta.exists() and json.loads(meta.read_text()) != asdict(spec):
        from cordsim.errors import ScenarioError

        raise ScenarioError(f"{out} holds a cohort with other settings ({meta.read_text()}); "
                            f"use a new folder or the same settings to resume")
    meta.write_text(json.dumps(asdict(spec), indent=1))
    bar = tqdm(total=len(todo), desc=f"cohort {scenario.name}", unit="chunk",
               disable=not progress)
    if scheduler:
        _run_dask(spec, todo, out, scheduler, bar)
    elif (workers or os.cpu_count() or 1) == 1 or len(todo) <= 1:
        for c in todo:
            run_chunk(spec, *c, str(out))
            bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
            futures = [pool.submit(run_chunk, spec, *c, str(out)) for c in todo]
            for f in as_completed(futures):
                f.result()
                bar.update()
    bar.close()
    return out / "animals"


def _run_dask(spec: CohortSpec, todo: Iterable[tuple[int, int, int]], out: Path,
              scheduler: str, bar: Any) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, dashboard_address=None) if scheduler == "local" \
        else None
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            futures = [client.submit(run_chunk, spec, *c, str(out), pure=False) for c in todo]
            for f in as_completed(futures):
                f.result()
                bar.update()
    finally:
        if cluster is not None:
            cluster.close()


def read_animals(out: str | Path) -> Any:
    """All animals of a cohort folder as one DataFrame, in the scenario's arm order."""
    import pandas as pd

    files = sorted((Path(out) / "animals").glob("chunk-*.parquet"))
    if not files:
        from cordsim.errors import ScenarioError

        raise ScenarioError(f"no cohort results in {out}")
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return df.sort_values(["arm_index", "animal"], kind="stable").reset_index(drop=True)


def percentiles(df: Any, qs: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)) -> Any:
    """Cohort percentiles of every endpoint, per arm (animals that ran)."""
    ok = df[df["status"] == "ok"]
    cols = [c for c in ok.columns
            if c not in ("arm", "arm_index", "animal", "status", "error", "parameters")]
    table = ok.groupby("arm", sort=False)[cols].quantile(list(qs))
    table.index.names = ["arm", "quantile"]
    return table


def trial(df: Any, control: str, *, alpha: float = 0.05, power: float = 0.8,
          endpoint: str = "bbb_observed") -> Any:
    """Effect of every arm against ``control``: difference, 95% CI, Cohen's d, n per arm.

    Welch's t interval for the difference in means; animals per arm for a two-sided test at
    ``alpha`` with ``power`` from the normal approximation n = 2 (z_a + z_b)^2 / d^2.
    """
    import pandas as pd
    from scipy import stats

    ok = df[df["status"] == "ok"]
    ref = ok.loc[ok["arm"] == control, endpoint].to_numpy()
    rows = []
    for arm, grp in ok.groupby("arm", sort=False):
        if arm == control:
            continue
        x = grp[endpoint].to_numpy()
        diff = x.mean() - ref.mean()
        va, vb = x.var(ddof=1) / len(x), ref.var(ddof=1) / len(ref)
        se = math.sqrt(va + vb)
        dof = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(ref) - 1)) if se else 1.0
        half = stats.t.ppf(1 - alpha / 2, dof) * se
        sd = math.sqrt((x.var(ddof=1) + ref.var(ddof=1)) / 2)
        d = diff / sd if sd else float("inf")
        za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
        n_needed = math.ceil(2 * (za + zb) ** 2 / d**2) if d else float("inf")
        rows.append({"arm": arm, "control": control, "endpoint": endpoint, "n_arm": len(x),
                     "n_control": len(ref), "mean_arm": x.mean(), "mean_control": ref.mean(),
                     "difference": diff, "ci_low": diff - half, "ci_high": diff + half,
                     "cohens_d": d, "n_per_arm_for_power": n_needed, "alpha": alpha,
                     "power": power})
    return pd.DataFrame(rows)


def summarize(out: str | Path, scenario: Scenario) -> tuple[Any, Any]:
    """Write percentiles.csv and trial.csv for a finished cohort; return both tables."""
    out = Path(out)
    df = read_animals(out)
    pct = percentiles(df)
    pct.to_csv(out / "percentiles.csv", float_format="%.6g")
    tri = trial(df, scenario.arms[0].name) if len(scenario.arms) > 1 else None
    if tri is not None:
        tri.to_csv(out / "trial.csv", index=False, float_format="%.6g")
    failed = df[df["status"] != "ok"]
    if len(failed):
        failed.to_csv(out / "failed_animals.csv", index=False)
    return pct, tri

"""Virtual cohorts and trials: animals that differ, results streamed to disk, resumable.

Each arm of a scenario gets ``n`` animals of its own (as in a real trial). Animal ``i`` of arm
``a`` draws its parameters from its own random stream ``(seed, a, i)``, so any chunk of
animals can run anywhere (local processes or Dask workers) and give the same numbers:

* every parameter whose declared role is ``physiological`` (log scale, bounds wider than a
  point) varies log-normally around its value (coefficient of variation ``cv``), clipped to
  its plausible bounds;
* the injury severity varies as a covariate (impactor displacement within a group,
  normal with ``severity_sd``, clipped to 0-1);
* the BBB score is read by an observer: the animal's true score plus rater noise
  (SD ``rater_sd``, Basso 1996: 0.6-1.3 points), rounded and clipped to the 0-21 scale.

The defaults come from ``data/calibration/variability.toml``: the severity SD is fitted so
that a vehicle cohort's spread of observed BBB matches rat data
(:mod:`cordsim.analysis.variability`).

Results are written chunk by chunk as Parquet (``animals/chunk-*.parquet``), each through a
temporary file and a rename, each carrying its arm, animal range and the cohort's settings
hash. A rerun resumes: a chunk that is readable and belongs to this cohort is kept, any other
(truncated, empty, another arm's, another cohort's) is recomputed. ``cohort.json`` records
the settings and the hashes of the scenario file, model and parameter set; a rerun with
anything changed is refused. An animal whose simulation fails is recorded with its
parameters and the error.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from cordsim._optional import require
from cordsim._version import __version__
from cordsim.design.scenario import Scenario, load_scenario, resolve_scenario_path
from cordsim.errors import ScenarioError
from cordsim.run.endpoints import (
    DEFAULT_ENDPOINTS,
    Endpoint,
    endpoint_times,
    parse_endpoints,
    read_endpoints,
)

MAX_ANIMALS = 1_000_000  # per arm
MAX_WORKERS = 256


@dataclass(frozen=True)
class CohortSpec:
    """What varies between animals, and how the cohort is cut into chunks."""

    scenario: str
    n: int
    seed: int = 1
    cv: float | None = None  # None: the shipped value (data/calibration/variability.toml)
    severity_sd: float | None = None
    rater_sd: float | None = None
    chunk: int = 50
    endpoints: tuple[str, ...] = ()  # added to the defaults (run/endpoints.py)

    def __post_init__(self) -> None:
        from cordsim.data import variability

        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        parse_endpoints(self.endpoints)

        for name in ("cv", "severity_sd", "rater_sd"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, float(variability()[name]["value"]))
        def integer(name: str, lo: int, hi: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ScenarioError(f"cohort {name} must be an integer from {lo:,} to {hi:,}, "
                                    f"got {value!r}")

        integer("n", 1, MAX_ANIMALS)
        integer("seed", 0, 2**63 - 1)
        integer("chunk", 1, 10_000)
        for name, hi, why in (("cv", 1.0, "a coefficient of variation above 100% is not an "
                                           "animal cohort"),
                              ("severity_sd", 0.3, "on the 0-1 severity scale"),
                              ("rater_sd", 5.0, "BBB points; Basso 1996: 0.6-1.3")):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or not 0 <= value <= hi):
                raise ScenarioError(f"cohort {name} must lie in [0, {hi:g}] ({why}), got "
                                    f"{value!r}")

    @property
    def settings_hash(self) -> str:
        """Hash of the settings that decide every animal's numbers (chunk size excluded)."""
        return _hash(json.dumps({**asdict(self), "chunk": None}, sort_keys=True))

    def draw(self, arm: int, animal: int, parameters: Any, names: list[str],
             severity: float) -> dict[str, float]:
        """Parameter values of one animal (its own random stream) and its ``_rater``."""
        return draw_animal(self, arm, animal, parameters, names, severity)


@dataclass(frozen=True)
class SampleSpec:
    """Animals that are the rows of a matrix of parameter values (a sensitivity design):
    row ``i`` sets ``names`` to ``matrix[i]`` (declared units), everything else keeps the
    arm's value, and no observer error is added. Runs, streams and resumes like a cohort.

    ``samples`` is a ``.npy`` file (rows x names); ``samples_hash`` its content hash (a
    rerun on another matrix is refused, as for a cohort with other settings).
    """

    scenario: str
    samples: str
    samples_hash: str
    names: tuple[str, ...]
    n: int
    chunk: int = 100
    endpoints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        parse_endpoints(self.endpoints)

    @property
    def settings_hash(self) -> str:
        """Hash of what decides every row's numbers (chunk size and file path excluded)."""
        return _hash(json.dumps({**asdict(self), "chunk": None, "samples": None},
                                sort_keys=True))

    def draw(self, arm: int, animal: int, parameters: Any, names: list[str],
             severity: float) -> dict[str, float]:
        """Row ``animal`` of the matrix as parameter values."""
        row = _matrix(self.samples, self.samples_hash)[animal]
        return {**dict(zip(self.names, row.tolist(), strict=True)), "_rater": 0.0}


def write_samples(matrix: np.ndarray, path: str | Path) -> str:
    """Save a sample matrix as ``.npy``; returns its content hash (for :class:`SampleSpec`)."""
    matrix = np.ascontiguousarray(matrix, dtype=float)
    np.save(path, matrix)
    return _matrix_hash(matrix)


def _matrix_hash(matrix: np.ndarray) -> str:
    return hashlib.sha256(matrix.tobytes() + str(matrix.shape).encode()).hexdigest()[:16]


@cache
def _matrix(path: str, digest: str) -> np.ndarray:
    matrix = np.load(path)
    if _matrix_hash(matrix) != digest:
        raise ScenarioError(f"{path} changed since its run started; use a new folder")
    return matrix


def cohort_endpoints(spec: Any, days: float, readouts: list[str]) -> tuple[Endpoint, ...]:
    """The endpoints a cohort reports: the defaults that fit in ``days``, then the spec's
    own (checked: known readout, day within ``days``)."""
    extra = parse_endpoints(spec.endpoints)
    for ep in extra:
        ep.check(readouts, days)
    columns = {ep.column for ep in extra}
    return tuple(ep for ep in DEFAULT_ENDPOINTS
                 if ep.last_day <= days and ep.column not in columns) + extra


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_workers(workers: Any) -> int | None:
    """``None`` (all cores) or a positive worker count."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= \
            MAX_WORKERS:
        raise ScenarioError(f"workers must be an integer from 1 to {MAX_WORKERS} (or omitted "
                            f"for all cores), got {workers!r}")
    return workers


def check_scheduler(scheduler: Any) -> str | None:
    """``None``, ``"local"`` or a Dask scheduler address ``tcp://host:port``. An address
    gets a warning: Dask's messages are unpickled, so the scheduler and its workers can run
    any code in this process; use only one you started yourself."""
    if scheduler is None or scheduler == "local":
        return scheduler
    if not isinstance(scheduler, str) or not re.fullmatch(
            r"(tcp|tls|inproc|ucx)://[\w.\-\[\]:]+:\d{1,5}", scheduler):
        raise ScenarioError(f"scheduler must be 'local' or a Dask scheduler address such as "
                            f"tcp://host:8786, got {scheduler!r}")
    warnings.warn(f"the Dask scheduler at {scheduler} must be trusted: Dask unpickles its "
                  "messages, so the scheduler and its workers can run any code as you; use "
                  "only a scheduler you started yourself", UserWarning, stacklevel=2)
    return scheduler


def varied_parameters(parameters: Any, model: Any = None) -> list[str]:
    """Names of the parameters that vary between animals: role ``physiological``, log scale,
    bounds wider than a point."""
    if model is None:
        from cordsim.biology import CordModel

        model = CordModel()
    return [name for name, rec in parameters.records.items()
            if model.params[name].role == "physiological" and rec.scale != "lin"
            and rec.bounds[0] < rec.bounds[1]]


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
    base = np.array([r.value for r in recs])
    # a value the scenario sets outside the plausible bounds (warned about) is kept, not
    # clipped back silently: the animals' draws may reach it
    return base, np.minimum(lo, base), np.maximum(hi, base)


def chunks(spec: CohortSpec, arms: Iterable[int]) -> list[tuple[int, int, int]]:
    """(arm, first animal, last animal + 1) of every chunk of the given arms."""
    return [(a, i, min(i + spec.chunk, spec.n)) for a in arms
            for i in range(0, spec.n, spec.chunk)]


def chunk_path(out: Path, arm: int, start: int) -> Path:
    """File of the chunk of ``arm`` that starts at animal ``start``."""
    return out / "animals" / f"chunk-arm{arm:02d}-{start:09d}.parquet"


def chunk_is_valid(path: Path, spec: CohortSpec, arm: int, start: int, stop: int) -> bool:
    """True if ``path`` is a complete chunk of this cohort: readable, same settings hash, the
    right arm and every animal of [start, stop) once."""
    import pyarrow.parquet as pq

    try:
        meta = json.loads(pq.read_schema(path).metadata[b"cordsim"])
        if meta != {"settings_hash": spec.settings_hash, "arm": arm, "start": start,
                    "stop": stop}:
            return False
        table = pq.read_table(path, columns=["arm_index", "animal"])
    except Exception:  # noqa: BLE001 - truncated, empty, foreign: all mean "recompute"
        return False
    animals = table.column("animal").to_numpy()
    arms = table.column("arm_index").to_numpy()
    return bool(np.array_equal(animals, np.arange(start, stop)) and np.all(arms == arm))


_SIMULATIONS: dict[tuple[str, int], Any] = {}


def _simulation(spec: CohortSpec, arm: int) -> tuple[Scenario, Any, Any, list[str]]:
    key = (spec.scenario, arm)
    if key not in _SIMULATIONS:  # one per process: loading parameters is not free
        from cordsim.numerics.solvers import Solver
        from cordsim.run.scenarios import arm_simulation

        scenario = load_scenario(spec.scenario)
        a = scenario.arms[arm]
        sim = arm_simulation(scenario, a, solver=Solver(method="compiled"))
        _SIMULATIONS[key] = (scenario, a, sim, varied_parameters(sim.parameters, sim.model))
    return _SIMULATIONS[key]


def _owner_alive(owner: int | None) -> bool:
    if owner is None:
        return True
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_chunk(spec: CohortSpec, arm: int, start: int, stop: int, out: str,
              owner: int | None = None) -> str:
    """Simulate animals [start, stop) of one arm and write their Parquet file (atomically).

    ``owner``: the pid of the cordsim process that asked; if it is gone, the chunk is not
    started (and pool workers die with it: no orphan keeps writing into a folder nobody
    watches).
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = chunk_path(Path(out), arm, start)
    if chunk_is_valid(path, spec, arm, start, stop):
        return str(path)
    scenario, a, sim, names = _simulation(spec, arm)
    severity = sim.parameters["injury_severity"]
    readouts = [*sim.model.output_names, *sim.model.state_names]
    eps = cohort_endpoints(spec, scenario.days, readouts)
    times = endpoint_times(eps, scenario.days)
    last = Endpoint("bbb_score", "day", day=scenario.days)  # what bbb_observed records
    if not _owner_alive(owner):
        os._exit(3)  # the cohort's owner is gone: stop without writing
    draws = [spec.draw(arm, i, sim.parameters, names, severity) for i in range(start, stop)]
    raters = [values.pop("_rater") for values in draws]
    trajectories = sim.solve_batch(times, draws)  # the whole chunk in one compiled call
    rows = []
    for i, values, rater, traj in zip(range(start, stop), draws, raters, trajectories,
                                      strict=True):
        row: dict[str, Any] = {"arm": a.name, "arm_index": arm, "animal": i,
                               "injury_severity": values.get("injury_severity", severity)}
        if traj.ok:
            *read, true_last = read_endpoints(sim, traj, [*eps, last])
            for ep, value in zip(eps, read, strict=True):
                row[ep.column] = value
                if ep.readout == "bbb_score" and ep.form == "day":
                    row[observed_column(ep)] = float(observe_bbb(value, rater))
            row["bbb_observed"] = float(observe_bbb(true_last, rater))
            row["status"], row["error"], row["parameters"] = "ok", "", ""
        else:
            row["status"], row["error"] = "failed", traj.status
            row["parameters"] = json.dumps(values)
            row["bbb_observed"] = float("nan")
        rows.append(row)
    table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
    meta = {**(table.schema.metadata or {}), b"cordsim": json.dumps(
        {"settings_hash": spec.settings_hash, "arm": arm, "start": start, "stop": stop})}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    pq.write_table(table.replace_schema_metadata(meta), tmp)
    tmp.replace(path)
    return str(path)


def observed_column(ep: Endpoint) -> str:
    """Column of the BBB score an observer gives at a ``bbb_score@DAY`` endpoint."""
    return f"bbb_observed_day{ep.day:g}"


def observe_bbb(true: Any, rater: Any) -> Any:
    """The score an observer records: the true score plus the animal's rater error, rounded
    and clipped to the 0-21 scale (numbers or arrays)."""
    return np.clip(np.round(true + rater), 0, 21)


def observed_bbb_sd(day: float, *, injury: str = "moderate", protocol: Any = None,
                    n: int = 400, seed: int = 21, parameters: Any = None,
                    cv: float | None = None, severity_sd: float | None = None,
                    rater_sd: float | None = None) -> float:
    """SD of the observed BBB at ``day`` over a virtual cohort of ``n`` animals drawn as
    :func:`draw_animal` draws them (settings left None: the shipped variability)."""
    from cordsim.run.simulation import Simulation

    sim = Simulation(parameters=parameters, injury=injury, protocol=protocol)
    spec = CohortSpec("default", n=n, seed=seed, cv=cv, severity_sd=severity_sd,
                      rater_sd=rater_sd)
    names = varied_parameters(sim.parameters, sim.model)
    draws = [draw_animal(spec, 0, i, sim.parameters, names, sim.parameters["injury_severity"])
             for i in range(n)]
    raters = np.array([d.pop("_rater") for d in draws])
    at_day = [Endpoint("bbb_score", "day", day=float(day))]
    true = np.array([read_endpoints(sim, t, at_day)[0] if t.ok else np.nan
                     for t in sim.solve_batch(np.array([0.0, day]), draws)])
    return float(np.nanstd(observe_bbb(true, raters), ddof=1))


def cohort_manifest(spec: CohortSpec) -> dict[str, Any]:
    """What a cohort folder records: settings, and the hashes of the scenario file, model
    and parameter set of every arm, with the cordsim version."""
    scenario = load_scenario(spec.scenario)
    text = resolve_scenario_path(spec.scenario).read_bytes()
    sims = [_simulation(spec, a)[2] for a in range(len(scenario.arms))]
    return {"settings": asdict(spec), "settings_hash": spec.settings_hash,
            "scenario_hash": hashlib.sha256(text).hexdigest()[:16],
            "model_hash": sims[0].model.structure_hash,
            "parameter_set_hashes": {a.name: s.parameters.hash
                                     for a, s in zip(scenario.arms, sims, strict=True)},
            "cordsim_version": __version__}


def _check_resume(out: Path, manifest: dict[str, Any]) -> None:
    meta = out / "cohort.json"
    if not meta.exists():
        return
    try:
        old = json.loads(meta.read_text())
    except (OSError, ValueError):
        raise ScenarioError(f"{meta} is unreadable; use a new folder") from None
    if not isinstance(old, dict):
        raise ScenarioError(f"{meta} is not a cohort record; use a new folder")
    changed = [k for k in ("settings_hash", "scenario_hash", "model_hash",
                           "parameter_set_hashes", "cordsim_version")
               if old.get(k) != manifest[k]]
    if changed:
        what = {"settings_hash": "the cohort settings", "scenario_hash": "the scenario file",
                "model_hash": "the model", "parameter_set_hashes": "the parameters",
                "cordsim_version": "the cordsim version"}
        which = ", ".join(what[k] for k in changed)
        raise ScenarioError(f"{out} holds a cohort run with other inputs ({which} changed "
                            "since); resuming would mix animals of two versions: use a new "
                            "folder, or restore the inputs to resume")


def _worker_init() -> None:
    """Pool workers die with the cordsim process that started them (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere run_chunk's owner check stops them


def run_cohort(spec: CohortSpec, out: str | Path, *, workers: int | None = None,
               scheduler: str | None = None, progress: bool = False,
               arms: Iterable[int] | None = None) -> Path:
    """Run (or resume) a cohort into ``out``; returns the folder of Parquet chunks.

    ``scheduler``: ``None`` runs local processes (``workers``, default all cores);
    ``"local"`` starts a Dask LocalCluster; any other value is a Dask scheduler address.
    ``arms``: indices of the arms to run (default: all).
    """
    from tqdm.auto import tqdm

    workers = check_workers(workers)
    scheduler = check_scheduler(scheduler)
    require("pyarrow", "cordsim cohort (Parquet chunks)")
    if scheduler:
        require("distributed", "a Dask scheduler")
    out = Path(out)
    scenario = load_scenario(spec.scenario)
    arms = list(range(len(scenario.arms)) if arms is None else arms)
    manifest = cohort_manifest(spec)
    sim = _simulation(spec, arms[0])[2]
    cohort_endpoints(spec, scenario.days, [*sim.model.output_names, *sim.model.state_names])
    _check_resume(out, manifest)
    (out / "animals").mkdir(parents=True, exist_ok=True)
    for stale in (out / "animals").glob("*.tmp*"):  # half-written by an interrupted run
        stale.unlink()
    # chunks of these arms that this cohort's layout does not name (an earlier run of the same
    # cohort with another --chunk, a stray copy) would count their animals twice
    expected = {chunk_path(out, a, start).name for a, start, _ in chunks(spec, arms)}
    for path in (out / "animals").glob("chunk-*.parquet"):
        m = re.fullmatch(r"chunk-arm(\d+)-\d+\.parquet", path.name)
        if path.name not in expected and (m is None or int(m.group(1)) in arms):
            path.unlink()
    (out / "cohort.json").write_text(json.dumps(manifest, indent=1))
    todo = [c for c in chunks(spec, arms)
            if not chunk_is_valid(chunk_path(out, c[0], c[1]), spec, *c)]
    _simulation(spec, arms[0])[2].solve(np.array([0.0, 1.0]))  # compile before forking
    bar = tqdm(total=len(todo), desc=f"cohort {scenario.name}", unit="chunk",
               disable=not progress)
    owner = os.getpid()
    if scheduler:
        _run_dask(spec, todo, out, scheduler, bar, owner if scheduler == "local" else None)
    elif (workers or os.cpu_count() or 1) == 1 or len(todo) <= 1:
        for c in todo:
            run_chunk(spec, *c, str(out))
            bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers or os.cpu_count(),
                                 initializer=_worker_init) as pool:
            futures = [pool.submit(run_chunk, spec, *c, str(out), owner) for c in todo]
            for f in as_completed(futures):
                f.result()
                bar.update()
    bar.close()
    return out / "animals"


def _run_dask(spec: CohortSpec, todo: Iterable[tuple[int, int, int]], out: Path,
              scheduler: str, bar: Any, owner: int | None) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, dashboard_address=None) if scheduler == "local" \
        else None
    try:
        try:
            # the process's default client only while the chunks run (as_current below): a
            # default client that failed to connect stayed registered, and xarray then took
            # its dead lock for every NetCDF file the process wrote
            client = Client(cluster if cluster is not None else scheduler, timeout=30,
                            set_as_default=False)
        except Exception as exc:
            if isinstance(exc, OSError):
                raise ScenarioError(f"cannot reach the Dask scheduler at {scheduler}: "
                                    f"{exc}") from None
            if cluster is not None:
                raise
            raise ScenarioError(f"the peer at {scheduler} did not answer as a Dask scheduler "
                                f"({type(exc).__name__}: {str(exc)[:200]})") from None
        with client, client.as_current():
            futures = [client.submit(run_chunk, spec, *c, str(out), owner, pure=False)
                       for c in todo]
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


def animals_for_power(d: float, *, alpha: float = 0.05, power: float = 0.8,
                      max_n: int = 10_000_000) -> float:
    """Animals per arm for a two-sided two-sample t test to detect effect size ``d``
    (Cohen's d) at ``alpha`` with ``power`` (noncentral t, equal groups).

    >>> animals_for_power(1.5), animals_for_power(0.5)
    (9, 64)
    """
    from scipy import stats

    d = abs(d)
    if not d > 0 or not math.isfinite(d):
        return float("inf")

    def achieved(n: int) -> float:
        df = 2 * n - 2
        crit = stats.t.ppf(1 - alpha / 2, df)
        nc = d * math.sqrt(n / 2)
        return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))

    return _smallest_n(achieved, power, max_n)


def power_for_benefit(n: int, d: Any, *, alpha: float = 0.05) -> Any:
    """Probability that a two-sided two-sample t test at ``alpha`` with ``n`` animals per arm
    finds a significant benefit (treated above control) when the true standardized effect is
    ``d`` (an array: one per posterior predictive draw)."""
    from scipy import stats

    df = 2 * n - 2
    crit = stats.t.ppf(1 - alpha / 2, df)
    return stats.nct.sf(crit, df, np.asarray(d, dtype=float) * math.sqrt(n / 2))


def animals_for_assurance(d: Any, *, alpha: float = 0.05, assurance: float = 0.8,
                          max_n: int = 10_000) -> float:
    """Animals per arm whose assurance (:func:`power_for_benefit` averaged over the draws
    ``d``) reaches ``assurance``; inf when even ``max_n`` does not (too many draws of no
    effect).

    >>> animals_for_assurance([1.5] * 3), animals_for_assurance([0.0, 1.5])
    (9, inf)
    """
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    if not len(d):
        return float("inf")
    return _smallest_n(lambda n: float(np.mean(power_for_benefit(n, d, alpha=alpha))),
                       assurance, max_n)


def _smallest_n(achieved: Callable[[int], float], target: float, max_n: int) -> float:
    """The smallest n >= 2 with ``achieved(n) >= target`` (``achieved`` increasing in n)."""
    lo, hi = 2, 4
    while achieved(hi) < target:
        lo, hi = hi, hi * 2
        if hi > max_n:
            return float("inf")
    while lo < hi:  # smallest n that reaches the target
        mid = (lo + hi) // 2
        if achieved(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def trial(df: Any, control: str, *, alpha: float = 0.05, power: float = 0.8,
          endpoint: str = "bbb_observed") -> Any:
    """Effect of every arm against ``control``: difference, 95% CI, Cohen's d, n per arm.

    Welch's t interval for the difference in means; animals per arm for a two-sided t test
    at ``alpha`` with ``power`` (:func:`animals_for_power`).
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
        rows.append({"arm": arm, "control": control, "endpoint": endpoint, "n_arm": len(x),
                     "n_control": len(ref), "mean_arm": x.mean(), "mean_control": ref.mean(),
                     "difference": diff, "ci_low": diff - half, "ci_high": diff + half,
                     "cohens_d": d, "n_per_arm_for_power": animals_for_power(
                         d, alpha=alpha, power=power), "alpha": alpha, "power": power})
    return pd.DataFrame(rows)


ASSURANCE_MEMBERS = 100  # posterior predictive draws behind the assurance


def with_assurance(tri: Any, df: Any, scenario: Scenario, *, alpha: float = 0.05,
                   members: int = ASSURANCE_MEMBERS) -> Any:
    """``tri`` with the posterior predictive columns of its ``bbb_observed`` rows (the BBB at
    the last day): the gain's median and 90% band for a new study
    (:func:`cordsim.run.ensemble.run_members`, target ``new-study``: parameters, the study's
    effect factor and its severity drawn); ``sd_between_animals``, the virtual trial's
    pooled SD of observed BBB (its variability is calibrated to individual animals,
    ``calibration/variability.toml``); power at the posterior median and assurance (the
    power averaged over the predictive draws), both with the trial's animals per arm and
    for a significant benefit; and the animals per arm for 80% power at the median and for
    80% assurance."""
    from cordsim.data import ensemble_members
    from cordsim.run.ensemble import QUANTILES, run_members

    runs = run_members(scenario, ensemble_members(members), target="new-study")
    ok = df[df["status"] == "ok"]
    ref = ok.loc[ok["arm"] == scenario.arms[0].name, "bbb_observed"].to_numpy()
    tri = tri.copy()
    for i, row in tri.iterrows():
        if row["endpoint"] != "bbb_observed" or row["arm"] not in runs.arms:
            continue
        gains = runs.gain(row["arm"])
        draws = np.array([np.interp(scenario.days, runs.times, g) for g in gains])
        draws = draws[np.isfinite(draws)]
        x = ok.loc[ok["arm"] == row["arm"], "bbb_observed"].to_numpy()
        sd = math.sqrt((x.var(ddof=1) + ref.var(ddof=1)) / 2)
        q = np.quantile(draws, QUANTILES)
        n = int(row["n_arm"])
        tri.loc[i, ["gain_median", "gain_q05", "gain_q95"]] = q[1], q[0], q[2]
        tri.loc[i, "sd_between_animals"] = sd
        tri.loc[i, "power_at_median"] = float(power_for_benefit(n, q[1] / sd, alpha=alpha))
        tri.loc[i, "assurance"] = float(np.mean(power_for_benefit(n, draws / sd, alpha=alpha)))
        tri.loc[i, "n_per_arm_80_power_at_median"] = animals_for_power(q[1] / sd, alpha=alpha)
        tri.loc[i, "n_per_arm_80_assurance"] = animals_for_assurance(draws / sd, alpha=alpha)
        tri.loc[i, "predictive_draws"] = len(draws)
    return tri


def summarize(out: str | Path, scenario: Scenario, spec: Any = None) -> tuple[Any, Any, Any]:
    """Write percentiles.csv and trial.csv (and failed_animals.csv when animals failed) for a
    finished cohort; return the percentiles, the trial and the failed animals.

    trial.csv has one row per treated arm and endpoint: the observed BBB at the last day,
    then each of the spec's own endpoints (BBB endpoints as an observer scores them).
    """
    import pandas as pd

    out = Path(out)
    df = read_animals(out)
    pct = percentiles(df)
    pct.to_csv(out / "percentiles.csv", float_format="%.6g")
    tri = None
    if len(scenario.arms) > 1:
        columns = ["bbb_observed"]
        for ep in parse_endpoints(getattr(spec, "endpoints", ())):
            columns.append(observed_column(ep) if ep.readout == "bbb_score"
                           and ep.form == "day" else ep.column)
        tri = pd.concat([trial(df, scenario.arms[0].name, endpoint=c) for c in columns],
                        ignore_index=True)
        tri = with_assurance(tri, df, scenario)
    if tri is not None:
        tri.to_csv(out / "trial.csv", index=False, float_format="%.6g")
    failed = df[df["status"] != "ok"]
    if len(failed):
        failed.to_csv(out / "failed_animals.csv", index=False)
    else:  # none now: no list left from an earlier summary of this folder
        (out / "failed_animals.csv").unlink(missing_ok=True)
    return pct, tri, failed

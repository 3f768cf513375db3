"""Posterior predictions: a scenario run for every member of an ensemble of fitted parameter
sets (the shipped one: :func:`cordsim.data.ensemble_members`), each member with its own draw
of the study effects, summarised as a median and a 90% band. Every output that reports a
number of a run (``endpoints.csv``, ``ensemble.csv``, the figures, the stdout table, the web
app, trial sizes) asks here.

Two predictive targets (:data:`TARGETS`):

``known-severity``
    a study of the scenario's injury (its severity as given), whose therapy works as a
    study's does: the treatment effect of every readout (treated minus the same member's
    vehicle) is scaled by the study's effect factor ``u`` (lognormal, median 1, log-SD
    :attr:`StudyEffects.effect_sd`, from the between-study heterogeneity the meta-analyses
    report as I2);
``new-study``
    the same, and the study's injury severity drawn too (normal around the preset, SD
    :attr:`StudyEffects.severity_sd`, the spread of the study severities the calibration
    estimated).

The effect factor is a random effect on the effect, as model-based meta-analyses put one (on
Emax): what differs between labs beyond dose, timing and severity (products, raters, lesion
level) is not in the model and is carried as this spread, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cordsim.design.scenario import Scenario
from cordsim.errors import ScenarioError
from cordsim.run.results import COMPARISON_ENDPOINTS, TIMECOURSE_COLUMNS
from cordsim.run.simulation import report_times

QUANTILES = (0.05, 0.5, 0.95)
BAND = "90%"  # what q05-q95 is
TARGETS = {
    "known-severity": "a study of the scenario's injury: parameter uncertainty and the "
                      "between-study spread of the therapy's effect",
    "new-study": "a new study: parameter uncertainty, the between-study spread of the "
                 "therapy's effect and of the injury's severity",
}
POINTS = ("median", "mode")
DEFAULT_TARGET = "known-severity"
AFTER_DOSE = np.array([1, 2, 4, 8, 12]) / 24  # days after a dose the members report too


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise ScenarioError(f"unknown predictive target {target!r}; choose one of "
                            f"{sorted(TARGETS)}")
    return target


def check_point(point: str) -> str:
    if point not in POINTS:
        raise ScenarioError(f"unknown point {point!r}; choose one of {list(POINTS)} (median: "
                            "the posterior predictive median, the headline; mode: the best "
                            "fit, a diagnostic)")
    return point


@dataclass(frozen=True)
class StudyEffects:
    """Between-study spreads (``calibration/variability.toml``, each with its source)."""

    effect_sd: float  # log-SD of the study's factor on every treatment effect
    severity_sd: float  # SD of a new study's injury severity (0-1 scale)

    @classmethod
    def shipped(cls) -> StudyEffects:
        from cordsim.data import variability

        v = variability()
        return cls(effect_sd=float(v["study_effect_sd"]["value"]),
                   severity_sd=float(v["study_severity_sd"]["value"]))

    def draw(self, n: int, *, target: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Each member's effect factor and severity shift (0 unless a new study)."""
        check_target(target)
        rng = np.random.default_rng(seed)
        factor = np.exp(self.effect_sd * rng.standard_normal(n))
        shift = self.severity_sd * rng.standard_normal(n)
        return factor, (shift if target == "new-study" else np.zeros(n))


@dataclass(frozen=True)
class MemberRuns:
    """Every member's time courses at the report times, per arm (members x times), the study
    effects already applied; a member whose run failed is a row of NaN in every arm."""

    times: np.ndarray
    arms: dict[str, dict[str, np.ndarray]]
    control: str
    target: str
    members: int

    @property
    def label(self) -> str:
        return (f"median and {BAND} band over {self.members} fitted parameter sets "
                f"({self.target.replace('-', ' ')})")

    def gain(self, arm: str, column: str = "bbb_score") -> np.ndarray:
        return self.arms[arm][column] - self.arms[self.control][column]


@dataclass(frozen=True)
class Posterior:
    """A fitted parameter set and its ensemble: the shipped ones, or a folder a user's
    ``cordsim calibrate`` wrote (``rat.toml``: the parameter set with the estimates;
    ``samples.csv``: the ensemble; :meth:`load`)."""

    parameters: Any  # ParameterSet
    samples: Any  # DataFrame, one row per member
    source: str

    @classmethod
    def load(cls, folder: str | Path) -> Posterior:
        """The posterior in ``folder`` (a ``cordsim calibrate`` output), checked: both files
        there, every sample column a parameter of the model, every value finite."""
        import pandas as pd

        from cordsim.biology import CordModel
        from cordsim.core import ParameterSet

        folder = Path(folder)
        if not folder.is_dir():
            raise ScenarioError(f"--parameters must be a folder written by 'cordsim "
                                f"calibrate', got {str(folder)!r} (not a folder)")
        missing = [f for f in ("rat.toml", "samples.csv") if not (folder / f).is_file()]
        if missing:
            raise ScenarioError(f"{str(folder)!r} is not a 'cordsim calibrate' output: "
                                f"{', '.join(missing)} missing")
        parameters = ParameterSet.load(folder / "rat.toml", CordModel())
        try:
            samples = pd.read_csv(folder / "samples.csv")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{folder / 'samples.csv'}: not a table ({exc})") from None
        model = [c for c in samples.columns if c in parameters.records]
        if samples.empty or not model:
            raise ScenarioError(f"{folder / 'samples.csv'}: no member with a parameter of "
                                "cordsim's model")
        values = samples[model].apply(pd.to_numeric, errors="coerce")
        if not np.isfinite(values.to_numpy()).all():
            raise ScenarioError(f"{folder / 'samples.csv'}: a value that is not a finite "
                                "number")
        return cls(parameters, values, str(folder))

    def members(self, n: int | None = None) -> Any:
        """``n`` members spread over the samples (all by default); model parameters only."""
        from cordsim.data import spread_members

        return spread_members(self.samples, n, f"the members in {self.source}")


def member_values(members: Any, scenario: Scenario, *arms: Any) -> list[dict[str, float]]:
    """Each member's parameter values (a DataFrame's rows) without those the scenario or
    one of ``arms`` sets itself: a scenario's own override wins over a member's value."""
    fixed = set(scenario.parameters).union(*(arm.parameters for arm in arms))
    return [{k: v for k, v in row.items() if k not in fixed}
            for row in members.to_dict("records")]


def run_members(scenario: Scenario, members: Any, *, target: str = DEFAULT_TARGET,
                effects: StudyEffects | None = None, seed: int = 0, parameters: Any = None,
                columns: tuple[str, ...] | None = None) -> MemberRuns:
    """Run every arm of ``scenario`` for every member (a DataFrame of parameter values; the
    scenario's and an arm's own overrides win over a member's value; ``parameters``: the
    set the members vary, default the shipped one), with each member's study effects
    (``target``, :class:`StudyEffects`)."""
    from cordsim.run.scenarios import arm_simulation

    check_target(target)
    effects = effects or StudyEffects.shipped()
    sims = [arm_simulation(scenario, arm, parameters=parameters) for arm in scenario.arms]
    doses = sorted({t for sim in sims for t in sim._dose_times(scenario.days)})
    # the report times, and hours after each dose (where the peaks of the sEV pools are)
    times = np.unique(np.round(np.concatenate([
        report_times(scenario.days, scenario.dt),
        *[t + AFTER_DOSE for t in doses]]), 9))
    times = times[times <= scenario.days]
    wanted = columns or tuple(dict.fromkeys(
        [*TIMECOURSE_COLUMNS[1:], *(name for name, _ in COMPARISON_ENDPOINTS)]))
    factor, shift = effects.draw(len(members), target=target, seed=seed)
    raw: dict[str, dict[str, np.ndarray]] = {}
    for arm, sim in zip(scenario.arms, sims, strict=True):
        base = float(sim.parameters["injury_severity"])
        animals = []
        for k, values in enumerate(member_values(members, scenario, arm)):
            if shift[k]:
                values["injury_severity"] = float(np.clip(base + shift[k], 0.0, 1.0))
            animals.append(values)
        cols = [c for c in wanted if c in sim.model.state_names or c in sim.model.output_names]
        values_: dict[str, list[np.ndarray]] = {c: [] for c in cols}
        for traj in sim.solve_batch(times, animals):
            if not traj.ok:
                for c in cols:
                    values_[c].append(np.full(len(times), np.nan))
                continue
            outs = sim.compiled.outputs(traj.t, traj.y, traj.p)
            data = {**{n: traj.y[i] for i, n in enumerate(sim.model.state_names)},
                    **{n: outs[i] for i, n in enumerate(sim.model.output_names)}}
            for c in cols:
                values_[c].append(data[c])
        raw[arm.name] = {c: np.array(v) for c, v in values_.items()}
    control = scenario.arms[0].name
    arms = {control: raw[control]}
    for name, data in list(raw.items())[1:]:
        # the study's factor on the treatment effect, readout by readout
        arms[name] = {c: raw[control][c] + factor[:, None] * (v - raw[control][c])
                      if c in raw[control] else v for c, v in data.items()}
    return MemberRuns(times, arms, control, target, len(members))


def bands(runs: MemberRuns) -> Any:
    """Quantiles (5%, 50%, 95%) over the members of every arm's time courses, and of the gain
    over the first arm (each member against its own vehicle). A tidy DataFrame: arm,
    time_day, variable, q05, q50, q95, members (how many ran); ``attrs['label']`` says what
    the band is."""
    import pandas as pd

    rows = []
    for arm, values in runs.arms.items():
        blocks = dict(values)
        if arm != runs.control and "bbb_score" in values:
            blocks["bbb_gain"] = runs.gain(arm)
        for c, v in blocks.items():
            v = v[np.isfinite(v).all(axis=1)]  # members that ran
            if not len(v):
                continue
            q = np.quantile(v, QUANTILES, axis=0)
            rows.extend({"arm": arm, "time_day": t, "variable": c, "q05": q[0, k],
                         "q50": q[1, k], "q95": q[2, k], "members": len(v)}
                        for k, t in enumerate(runs.times))
    df = pd.DataFrame(rows)
    df.attrs["label"] = runs.label
    return df


def endpoint_draws(runs: MemberRuns, endpoints: tuple = COMPARISON_ENDPOINTS) -> Any:
    """Every member's endpoints (the columns of ``ScenarioResult.endpoints``: a value at a
    day, or a peak over the report times; and the BBB differences from the control arm):
    one row per (member, arm)."""
    import pandas as pd

    frames = []
    for arm, values in runs.arms.items():
        cols: dict[str, np.ndarray] = {}
        for name, when in endpoints:
            if name not in values:
                continue
            v = values[name]
            if when == "peak":
                cols[f"{name}_peak"] = np.max(v, axis=1)
            else:
                cols[f"{name}_day{when:g}"] = np.array([np.interp(float(when), runs.times, row)
                                                        for row in v])
                if name == "bbb_score":
                    gain = runs.gain(arm, name)
                    cols[f"{name}_day{when:g}_minus_{runs.control}"] = np.array(
                        [np.interp(float(when), runs.times, row) for row in gain])
        frames.append(pd.DataFrame({"member": np.arange(runs.members), "arm": arm, **cols}))
    return pd.concat(frames, ignore_index=True)


def endpoint_summary(draws: Any) -> Any:
    """The headline table: per arm, each endpoint's median over the members (the column's own
    name) and its 90% band (``_q05``, ``_q95``), members that ran; ``point`` says what the
    numbers are."""
    import pandas as pd

    names = [c for c in draws.columns if c not in ("member", "arm")]
    rows = []
    for arm, part in draws.groupby("arm", sort=False):
        row: dict[str, Any] = {"arm": arm}
        ok = part[names].dropna()
        for c in names:
            q = np.quantile(ok[c], QUANTILES) if len(ok) else (np.nan,) * 3
            row[c], row[f"{c}_q05"], row[f"{c}_q95"] = q[1], q[0], q[2]
        row["members"] = len(ok)
        rows.append(row)
    df = pd.DataFrame(rows).set_index("arm")
    ordered = [c for n in names for c in (n, f"{n}_q05", f"{n}_q95")]
    return df[[*ordered, "members"]].dropna(axis=1, how="all")


def run_ensemble(scenario: Scenario, members: Any, *, target: str = DEFAULT_TARGET,
                 seed: int = 0) -> Any:
    """:func:`bands` of :func:`run_members` (the table of ``ensemble.csv``)."""
    return bands(run_members(scenario, members, target=target, seed=seed))

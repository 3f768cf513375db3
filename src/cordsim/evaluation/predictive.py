"""Validation by prediction: every numeric row of the held-out studies (the ``validation`` set
of the split, never fitted or tuned to) predicted before it is looked at, as a 90% interval
and a log predictive density (``cordsim validate --predictive``).

How a row is predicted (:func:`predict`): for each member of the shipped ensemble, the row's
condition is simulated and read through the row's observation model (``assays.toml``), with
the member's study effects (:class:`cordsim.run.ensemble.StudyEffects`): the treatment effect
scaled by the study's effect factor; the injury severity of a study that reports its own
vehicle or untreated BBB scores set from them (as a lab knows its injury: least squares over
those rows, at the fit), else drawn as a new study's. The row's own noise (its spread and n,
and the assay's between-study SD, :func:`cordsim.io.petab.row_sigma`) is added. A study's
vehicle rows are themselves predicted as a new study's (severity drawn).

Two nulls, scored on the same rows (:func:`null_predictions`):

``no_therapy``
    the same model and study effects without any treatment effect (treated = vehicle);
``empirical``
    no mechanism: the calibration studies' rows of the same observation model (their mean
    and between-study SD, vehicle and untreated rows for a vehicle row, a BBB row's nearest
    days), plus, for a treated or a difference row, one constant gain: the mean of the
    calibration set's pooled effects of that observation model (a row without calibration
    rows of its model gets no empirical prediction, and is left out of that comparison).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cordsim.data import assays, injury_presets, is_quantitative, observations
from cordsim.errors import ScenarioError

MEMBERS = 100  # ensemble members behind each prediction
NOISE_DRAWS = 50  # observation-noise draws per member for the interval
LEVEL = 0.90
DAYS = 120.0
VEHICLE = ("vehicle", "untreated")
COVERAGE_RANGE = (0.80, 0.97)  # the acceptance: at least 80%, at most 97%


def heldout_rows() -> Any:
    """The held-out numbers cordsim can predict: validation-set rows of the rat dataset that
    are quantitative (:func:`cordsim.data.is_quantitative`) and name an observation model."""
    df = observations()
    models = assays()["models"]
    keep = (df["set"] == "validation") & df.apply(is_quantitative, axis=1) & \
        df["observation_model"].isin(list(models))
    return df[keep].reset_index(drop=True)


@dataclass
class _Formula:
    """An observation model's formula as a fast function of the run's arrays."""

    names: tuple[str, ...]
    fn: Any

    @classmethod
    def of(cls, formula: str, variables: set[str], params: dict[str, float]) -> _Formula:
        import sympy

        from cordsim.io.formulas import parse_formula
        from cordsim.io.sbml import TWIN_PREFIX

        names = variables | {TWIN_PREFIX + n for n in variables} | set(params)
        expr = parse_formula(formula, names, what="observation model")
        expr = expr.subs({sympy.Symbol(k): v for k, v in params.items()})
        free = tuple(sorted(str(s) for s in expr.free_symbols))
        return cls(free, sympy.lambdify([sympy.Symbol(n) for n in free], expr, "numpy"))

    def __call__(self, treated: dict[str, np.ndarray], vehicle: dict[str, np.ndarray]
                 ) -> np.ndarray:
        from cordsim.io.sbml import TWIN_PREFIX

        args = [vehicle[n.removeprefix(TWIN_PREFIX)] if n.startswith(TWIN_PREFIX)
                else treated[n] for n in self.names]
        return np.asarray(self.fn(*args), dtype=float)


def _row_formula(row: Any) -> str:
    models = assays()
    formula = models["models"][row["observation_model"]]["formula"]
    if row["design"] == "meta-analysis" and "vehicle__" in formula:
        formula = models["pooled"]["formula"].format(formula=formula)
    return str(formula)


def _observation_params() -> dict[str, float]:
    from cordsim.evaluation.observations import fitted_observation_values

    models = assays()
    params = {k: float(v["value"]) for k, v in models["parameters"].items()}
    fitted = fitted_observation_values()
    params.update({k: v for k, v in fitted.items() if k in params})
    return params


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


class _Runner:
    """Member runs of (injury, protocol, severities), each at days 0..DAYS (daily)."""

    def __init__(self, members: Any, parameters: Any = None) -> None:
        self.members = members.to_dict("records")
        self.parameters = parameters
        self.times = np.arange(0.0, DAYS + 1.0)
        self._cache: dict[tuple, dict[str, np.ndarray]] = {}

    def run(self, injury: str, protocol: str, severity: np.ndarray) -> dict[str, np.ndarray]:
        """Every state and output (members x days) of ``injury`` under ``protocol`` with each
        member's severity."""
        import json

        from cordsim.design.dosing import Dose, Protocol
        from cordsim.run.simulation import Simulation

        key = (injury, protocol, tuple(np.round(severity, 6)))
        if key in self._cache:
            return self._cache[key]
        doses = tuple(Dose.from_json(d) for d in json.loads(protocol)) if protocol else ()
        sim = Simulation(parameters=self.parameters, injury=injury, protocol=Protocol(doses))
        animals = [{**m, "injury_severity": float(s)}
                   for m, s in zip(self.members, severity, strict=True)]
        data: dict[str, list[np.ndarray]] = {}
        names = [*sim.model.state_names, *sim.model.output_names]
        for traj in sim.solve_batch(self.times, animals):
            if traj.ok:
                outs = sim.compiled.outputs(traj.t, traj.y, traj.p)
                values = [*traj.y, *outs]
            else:
                values = [np.full(len(self.times), np.nan)] * len(names)
            for n, v in zip(names, values, strict=True):
                data.setdefault(n, []).append(np.asarray(v, dtype=float))
        self._cache[key] = out = {n: np.array(v) for n, v in data.items()}
        return out

    def at(self, data: dict[str, np.ndarray], day: float) -> dict[str, np.ndarray]:
        k = np.searchsorted(self.times, day)
        if k < len(self.times) and self.times[k] == day:
            return {n: v[:, k] for n, v in data.items()}
        return {n: np.array([np.interp(day, self.times, row) for row in v])
                for n, v in data.items()}


SEVERITY_GRID = np.linspace(0.05, 0.95, 91)


def _study_severity(rows: Any, fit: _Runner, preset: str) -> float | None:
    """The severity that best reproduces a study's own vehicle/untreated BBB means (least
    squares on :data:`SEVERITY_GRID`; ``fit``: the fit's parameters, one member per grid
    point, its runs shared by every study), or None without such rows."""
    own = rows[(rows["observation_model"] == "bbb") & rows["condition"].isin(VEHICLE)]
    if own.empty:
        return None
    grid = SEVERITY_GRID
    data = fit.run(preset, "", grid)
    cost = np.zeros(len(grid))
    for _, row in own.iterrows():
        cost += (fit.at(data, _num(row["time_day"]))["bbb_score"] - _num(row["value"])) ** 2
    return float(grid[int(np.argmin(cost))])


def runner_members_at_fit(n: int) -> Any:
    """``n`` copies of the fitted values of the ensemble's parameters (the mode)."""
    import pandas as pd

    from cordsim.data import default_parameters, ensemble_members

    names = list(ensemble_members(1).columns)
    p = default_parameters()
    return pd.DataFrame([{k: p[k] for k in names}] * n)


def _lpd(observed: float, mu: np.ndarray, sigma: float) -> float:
    """Log of the mean over members of the normal density of ``observed``."""
    if not len(mu):
        return math.nan
    dens = np.exp(-0.5 * ((observed - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return float(np.log(np.mean(dens)))


def predict(rows: Any | None = None, *, members: int = MEMBERS, seed: int = 0,
            progress: bool = False) -> Any:
    """Each row's posterior predictive (module docstring): a DataFrame with obs_id, study,
    observable, observation_model, condition, time_day, observed, sigma, median, lo90,
    hi90, inside, lpd (log predictive density, natural log), lpd_no_therapy (the same
    members and study draws without any treatment effect: the no-therapy null), severity
    (how the study's severity was set)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from cordsim.data import ensemble_members
    from cordsim.io.petab import _injury_of, row_sigma
    from cordsim.run.ensemble import StudyEffects

    rows = heldout_rows() if rows is None else rows
    effects = StudyEffects.shipped()
    runner = _Runner(ensemble_members(members))
    fit = _Runner(runner_members_at_fit(len(SEVERITY_GRID)))
    params = _observation_params()
    models = assays()["models"]
    rng = np.random.default_rng(seed)
    out = []
    for study, part in tqdm(list(rows.groupby("study", sort=False)), desc="held-out studies",
                            unit="study", disable=not progress):
        preset = _injury_of(part.iloc[0])
        base = float(injury_presets()[preset]["injury_severity"])
        # the study's draws: one effect factor and one severity shift per member
        factor, shift = effects.draw(members, target="new-study",
                                     seed=int(rng.integers(2**31)))
        known = _study_severity(part, fit, preset)
        for _, row in part.iterrows():
            is_vehicle = row["condition"] in VEHICLE or row["condition"] == "sham"
            if known is not None and not is_vehicle:
                severity, how = np.full(members, known), f"from its vehicle rows ({known:.2f})"
            else:
                severity, how = np.clip(base + shift, 0.0, 1.0), "drawn (new study)"
            injury = "none" if row["condition"] == "sham" else preset
            vehicle = runner.run(injury, "", severity)
            day = _num(row["time_day"])
            v_at = runner.at(vehicle, day)
            if row["protocol"] and not is_vehicle:
                treated = runner.at(runner.run(injury, row["protocol"], severity), day)
                t_at = {n: v_at[n] + factor * (treated[n] - v_at[n]) for n in treated}
            else:
                t_at = v_at
            formula = _Formula.of(_row_formula(row), set(v_at), params)
            mu = formula(t_at, v_at)
            mu_null = formula(v_at, v_at)  # no treatment effect
            sigma = row_sigma(row, models[row["observation_model"]])
            observed = _num(row["value"])
            ok = np.isfinite(mu)
            mu = mu[ok]
            mu_null = mu_null[np.isfinite(mu_null)]
            noise = rng.standard_normal((len(mu), NOISE_DRAWS)) * sigma
            draws = (mu[:, None] + noise).ravel()
            lo, med, hi = np.quantile(draws, [(1 - LEVEL) / 2, 0.5, (1 + LEVEL) / 2])
            out.append({"obs_id": row["obs_id"], "study": study,
                        "observable": row["observable"] or row["observation_model"],
                        "observation_model": row["observation_model"],
                        "condition": row["condition"], "time_day": day,
                        "observed": observed, "sigma": sigma, "median": med, "lo90": lo,
                        "hi90": hi, "inside": bool(lo <= observed <= hi),
                        "lpd": _lpd(observed, mu, sigma),
                        "lpd_no_therapy": _lpd(observed, mu_null, sigma),
                        "severity": how, "members": int(ok.sum())})
    return pd.DataFrame(out)


def empirical_null(rows: Any) -> Any:
    """The empirical null's prediction of each row (module docstring): obs_id, median, sd,
    lpd (NaN where the calibration set has no row of the row's observation model)."""
    import pandas as pd

    from cordsim.io.petab import row_sigma

    data = observations()
    models = assays()["models"]
    cal = data[(data["set"] == "calibration") & data.apply(is_quantitative, axis=1)
               & data["observation_model"].isin(list(models))].copy()
    cal["day"] = cal["time_day"].map(_num)
    cal["number"] = cal["value"].map(_num)
    out = []
    for _, row in rows.iterrows():
        model = row["observation_model"]
        same = cal[cal["observation_model"] == model]
        vehicle_like = row["condition"] in (*VEHICLE, "sham")
        pool = same[same["condition"].isin(VEHICLE if vehicle_like or "vehicle__" not in
                                           models[model]["formula"] else ("difference",
                                                                          "treated"))]
        if model == "bbb" and not vehicle_like:
            pool = same[same["condition"].isin(VEHICLE)]  # a vehicle curve, plus the gain
        day = _num(row["time_day"])
        if len(pool) > 1 and pool["day"].nunique() > 1:
            # the nearest days (on a log scale): at least three rows
            dist = (np.log1p(pool["day"]) - math.log1p(day)).abs()
            pool = pool[dist <= max(np.sort(dist.to_numpy())[min(2, len(dist) - 1)], 0.4)]
        if pool.empty:
            out.append({"obs_id": row["obs_id"], "median": math.nan, "sd": math.nan,
                        "lpd": math.nan})
            continue
        mean = float(pool["number"].mean())
        spread = float(pool["number"].std(ddof=1)) if len(pool) > 1 else 0.0
        if model == "bbb" and not vehicle_like:
            gains = cal[(cal["observation_model"] == "bbb_md")]["number"]
            mean += float(gains.mean()) if len(gains) else 0.0
        sigma = row_sigma(row, models[model])
        sd = math.sqrt(sigma ** 2 + spread ** 2)
        obs = _num(row["value"])
        lpd = -0.5 * ((obs - mean) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi))
        out.append({"obs_id": row["obs_id"], "median": mean, "sd": sd, "lpd": lpd})
    return pd.DataFrame(out)


def predictive_validation(*, members: int = MEMBERS, progress: bool = False
                          ) -> tuple[Any, dict[str, Any]]:
    """The held-out rows predicted (:func:`predict`), with the nulls' log predictive
    densities (``lpd_no_therapy``, ``lpd_empirical``), and a summary: rows, coverage of the
    90% intervals, median width per observable, summed lpd of cordsim and of each null over
    the rows all three predict."""
    rows = heldout_rows()
    if rows.empty:
        raise ScenarioError("the dataset has no held-out quantitative row with an observation "
                            "model")
    table = predict(rows, members=members, progress=progress)
    emp = empirical_null(rows)
    table["median_empirical"] = emp["median"].to_numpy()
    table["lpd_empirical"] = emp["lpd"].to_numpy()
    table["width"] = table["hi90"] - table["lo90"]
    both = table.dropna(subset=["lpd", "lpd_no_therapy", "lpd_empirical"])
    summary = {
        "rows": len(table), "studies": int(table["study"].nunique()),
        "coverage": float(table["inside"].mean()),
        "coverage_range": COVERAGE_RANGE,
        "median_width": table.groupby("observable")["width"].median().to_dict(),
        "compared_rows": len(both),
        "lpd": {"cordsim": float(both["lpd"].sum()),
                "no_therapy": float(both["lpd_no_therapy"].sum()),
                "empirical": float(both["lpd_empirical"].sum())},
    }
    return table, summary

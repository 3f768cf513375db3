"""MSC graft survival: curves after intralesional or intrathecal grafts, the data they are
fitted to, and the fit.

Nandoe Tewarie et al. 2009 (J Neurotrauma 26:2313, calibration set rows thr001-thr008)
grafted BMSCs into the contused rat cord 15 min, 3, 7 or 21 days after injury and counted
survivors 7 and 28 days later: 32%, 52%, 9% and 9% at 7 days; "close to 0" at 28 days in
every group. :func:`fit_graft_survival` fits the six graft parameters of
:class:`cordsim.biology.pharmacokinetics.MSCPharmacokinetics` and the four T-cell rates of
:class:`cordsim.biology.lymphocytes.Lymphocytes` to those rows (log survival, 28-day rows as
"at most 2%") and to the calibration set's T-cell peak (a day outside its window costs as
much as a factor e^5 in survival: in practice a constraint); ``tools/fit_graft_survival.py``
writes the result into the parameter set. The graft size is not in the abstract: 1e6 cells
is assumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cordsim.design.dosing import Dose, Protocol

FITTED = ("d_graft_basal", "k_graft_neutrophils", "k_graft_sensitization",
          "ec50_m1_sensitization", "ec50_t_sensitization", "d_graft_rejection",
          "k_t_priming", "k_t_expansion", "d_t_program", "d_t_cells")
PEAK_WEIGHT = 5.0  # residual per day of T-cell peak outside the calibration window
PEAK_MARGIN = 0.25  # days kept inside that window, so that the check does not sit on its edge
GRAFT = "1e6 cell"  # assumed: the abstract gives no cell number
NEAR_ZERO = 0.02  # "close to 0": at most 2% survive


def graft_observations() -> Any:
    """The graft-survival rows of the observation dataset (intraspinal MSC grafts) with the
    graft day and the days since grafting."""
    import pandas as pd

    from cordsim.data import observations

    obs = observations()
    rows = obs[obs["observable"] == "graft_survival_fraction"].copy()
    for col in ("time_day", "value"):
        rows[col] = pd.to_numeric(rows[col], errors="coerce")
    rows = rows[rows["protocol"].astype(str).str.contains('"intraspinal"')
                & rows["time_day"].notna()].copy()
    after = np.where(rows["measure"].str.contains("close to 0"), 28.0, 7.0)
    rows["days_after_graft"] = after
    rows["graft_day"] = (rows["time_day"] - after).round(4)
    rows["kind"] = np.where(after == 28.0, "upper", "value")
    return rows[["obs_id", "set", "graft_day", "days_after_graft", "value", "kind",
                 "source"]].reset_index(drop=True)


def survival_curves(graft_days: Sequence[float], *, parameters: Any = None,
                    route: str = "intralesional", amount: str = GRAFT,
                    days_after: float = 35.0, values: dict[str, float] | None = None) -> Any:
    """Share of grafted MSCs alive (at the lesion or still in the CSF) against days since
    grafting, for each graft day (moderate contusion)."""
    import pandas as pd

    from cordsim.run.simulation import Simulation

    frames = []
    for day in graft_days:
        dose = Dose("msc", amount, route, "bolus", start=float(day))
        sim = Simulation(parameters=parameters, injury="moderate",
                         protocol=Protocol((dose,), name=f"{route} graft at day {day:g}"))
        res = sim.run(days=float(day) + days_after, dt=0.25, values=values)
        t = res["time_day"]
        keep = t >= day
        alive = res["msc_graft"][keep] + res["msc_csf"][keep]
        frames.append(pd.DataFrame({"graft_day": float(day), "route": route,
                                    "days_after_graft": t[keep] - day,
                                    "surviving_fraction": alive / dose.total("rat")}))
    return pd.concat(frames, ignore_index=True)


def model_at(curves: Any, obs: Any) -> np.ndarray:
    """The model's surviving fraction at each observation's graft day and time after."""
    out = []
    for row in obs.itertuples():
        part = curves[curves["graft_day"] == row.graft_day]
        out.append(float(np.interp(row.days_after_graft, part["days_after_graft"],
                                   part["surviving_fraction"])))
    return np.array(out)


def residuals(curves: Any, obs: Any) -> np.ndarray:
    """Log-survival residuals: model minus data for values; for "close to 0" rows, how far
    the model is above :data:`NEAR_ZERO` (0 when below)."""
    model = np.log(np.maximum(model_at(curves, obs), 1e-6))
    upper = (obs["kind"] == "upper").to_numpy()
    data = np.log(np.where(upper, NEAR_ZERO, obs["value"].clip(lower=1e-12)))
    return np.where(upper, np.maximum(0.0, model - data), model - data)


def fit_graft_survival(parameters: Any = None, *, seed: int = 0) -> dict[str, Any]:
    """Fit :data:`FITTED` (log scale, within bounds) to :func:`graft_observations`; returns
    the values, the residuals and the cost."""
    from scipy.optimize import least_squares

    from cordsim.data import default_parameters
    from cordsim.evaluation.observations import DAYS, peak_time, peak_window
    from cordsim.run.simulation import Simulation

    params = parameters or default_parameters("rat")
    obs = graft_observations()
    recs = [params.records[n] for n in FITTED]
    lo = np.log10([max(r.bounds[0], 1e-6) for r in recs])
    hi = np.log10([r.bounds[1] for r in recs])
    x0 = np.clip(np.log10([max(r.value, 1e-6) for r in recs]), lo, hi)
    days = sorted(obs["graft_day"].unique())
    lo_peak, hi_peak = peak_window("t_cells")

    def f(x: np.ndarray) -> np.ndarray:
        values = dict(zip(FITTED, (10.0 ** x).tolist(), strict=True))
        curves = survival_curves(days, parameters=params, values=values)
        # read as cordsim validate reads it (same run length, parabola through daily samples)
        peak = peak_time(Simulation(parameters=params, injury="moderate").run(
            days=DAYS, dt=1.0, values=values), "t_cells")
        miss = max(0.0, lo_peak + PEAK_MARGIN - peak, peak - hi_peak + PEAK_MARGIN)
        return np.append(residuals(curves, obs), PEAK_WEIGHT * miss)

    best = None
    rng = np.random.default_rng(seed)
    for start in [x0, *(lo + (hi - lo) * rng.random(len(x0)) for _ in range(3))]:
        sol = least_squares(f, start, bounds=(lo, hi), x_scale=1.0, diff_step=1e-3)
        if best is None or sol.cost < best.cost:
            best = sol
    assert best is not None
    return {"values": dict(zip(FITTED, (10.0 ** best.x).tolist(), strict=True)),
            "residuals": best.fun.tolist(), "cost": float(best.cost),
            "observations": obs.to_dict("records")}

"""Between-animal variability estimated from the spread of rat data.

The spread of observed BBB scores in a group of rats comes from the injury (impactor
variation), from the animals' physiology and from the rater. cordsim carries it as: rater SD
from Basso 1996 (MASCIS inter-rater discordance), a small physiological CV (assumed), and the
injury-severity SD, which is fitted so that a virtual vehicle cohort's SD of observed BBB
matches the target in ``data/calibration/variability.toml`` (read from a calibration-set
source; :func:`cordsim.data.variability`). :func:`fit_severity_sd` refits it; ``cordsim
cohort`` uses the shipped values.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def cohort_bbb_sd(*, severity_sd: float, cv: float, rater_sd: float, day: float,
                  injury: str = "moderate", n: int = 400, seed: int = 21,
                  parameters: Any = None) -> float:
    """SD of observed BBB at ``day`` in a virtual vehicle cohort of ``n`` animals."""
    from cordsim.run.cohort import CohortSpec, draw_animal, varied_parameters
    from cordsim.run.simulation import Simulation

    sim = Simulation(parameters=parameters, injury=injury)
    spec = CohortSpec("default", n=n, seed=seed, cv=cv, severity_sd=severity_sd,
                      rater_sd=rater_sd)
    names = varied_parameters(sim.parameters, sim.model)
    draws = [draw_animal(spec, 0, i, sim.parameters, names, sim.parameters["injury_severity"])
             for i in range(n)]
    raters = np.array([d.pop("_rater") for d in draws])
    trajs = sim.solve_batch(np.array([0.0, day]), draws)
    k = sim.model.output_names.index("bbb_score")
    true = np.array([sim.compiled.outputs(t.t, t.y, t.p)[k, -1] if t.ok else np.nan
                     for t in trajs])
    return float(np.nanstd(np.clip(np.round(true + raters), 0, 21), ddof=1))


def fit_severity_sd(target_sd: float, *, cv: float, rater_sd: float, day: float,
                    injury: str = "moderate", parameters: Any = None) -> float:
    """The injury-severity SD whose vehicle cohort has ``target_sd`` (bisection; the SD grows
    with severity SD)."""
    from scipy.optimize import brentq

    def gap(sd: float) -> float:
        return cohort_bbb_sd(severity_sd=sd, cv=cv, rater_sd=rater_sd, day=day, injury=injury,
                             parameters=parameters) - target_sd

    lo, hi = 0.0, 0.3
    if gap(lo) >= 0:
        return 0.0  # the rater and physiology alone already spread this much
    if gap(hi) <= 0:
        return hi
    return float(brentq(gap, lo, hi, xtol=1e-3))

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


def fit_severity_sd(target_sd: float, *, cv: float, rater_sd: float, day: float,
                    injury: str = "moderate", parameters: Any = None) -> float:
    """The injury-severity SD whose vehicle cohort has ``target_sd`` (bisection; the SD grows
    with severity SD)."""
    from scipy.optimize import brentq

    from cordsim.run.cohort import observed_bbb_sd

    def gap(sd: float) -> float:
        return observed_bbb_sd(day, injury=injury, parameters=parameters, cv=cv,
                               severity_sd=sd, rater_sd=rater_sd) - target_sd

    lo, hi = 0.0, 0.3
    if gap(lo) >= 0:
        return 0.0  # the rater and physiology alone already spread this much
    if gap(hi) <= 0:
        return hi
    return float(brentq(gap, lo, hi, xtol=1e-3))

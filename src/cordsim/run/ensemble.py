"""Ensembles: a scenario run for every member of an ensemble of fitted parameter sets, giving
each prediction a credible band (the shipped ensemble is drawn from the calibration's
posterior, :func:`cordsim.data.ensemble_members`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cordsim.design.scenario import Scenario
from cordsim.run.results import TIMECOURSE_COLUMNS
from cordsim.run.simulation import report_times

QUANTILES = (0.05, 0.5, 0.95)


def run_ensemble(scenario: Scenario, members: Any, *, columns: tuple[str, ...] = TIMECOURSE_COLUMNS[1:]) -> Any:
    """Quantiles (5%, 50%, 95%) over the members of every arm's time courses at the report
    times, and of the gain over the first arm. A tidy DataFrame: arm, time_day, variable,
    q05, q50, q95, members (how many ran)."""
    import pandas as pd

    from cordsim.run.scenarios import arm_simulation

    times = np.round(report_times(scenario.days, scenario.dt), 9)
    animals = members.to_dict("records")
    per_arm: dict[str, dict[str, np.ndarray]] = {}
    for arm in scenario.arms:
        sim = arm_simulation(scenario, arm)
        trajs = sim.solve_batch(times, animals)
        values: dict[str, list[np.ndarray]] = {c: [] for c in columns}
        for traj in trajs:
            if not traj.ok:  # a row of NaN keeps member i at row i in every arm
                for c in columns:
                    values[c].append(np.full(len(times), np.nan))
                continue
            outs = sim.compiled.outputs(traj.t, traj.y, traj.p)
            data = {**{n: traj.y[i] for i, n in enumerate(sim.model.state_names)},
                    **{n: outs[i] for i, n in enumerate(sim.model.output_names)}}
            for c in columns:
                values[c].append(data[c])
        per_arm[arm.name] = {c: np.array(v) for c, v in values.items()}
    rows = []
    control = scenario.arms[0].name
    for arm, values in per_arm.items():
        blocks = dict(values)
        if arm != control and "bbb_score" in values:
            # each member against its own vehicle run (NaN where either failed)
            blocks["bbb_gain"] = values["bbb_score"] - per_arm[control]["bbb_score"]
        for c, v in blocks.items():
            v = v[np.isfinite(v).all(axis=1)] if len(v) else v  # members that ran
            if not len(v):
                continue
            q = np.quantile(v, QUANTILES, axis=0)
            for k, t in enumerate(times):
                rows.append({"arm": arm, "time_day": t, "variable": c, "q05": q[0, k],
                             "q50": q[1, k], "q95": q[2, k], "members": len(v)})
    return pd.DataFrame(rows)

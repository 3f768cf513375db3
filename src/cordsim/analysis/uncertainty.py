"""Uncertainty after calibration: identifiability, and the ensemble of parameter sets that
gives every prediction a credible band.

:func:`laplace_ensemble` draws the ensemble from the Laplace approximation of the posterior at
the best fit: a normal distribution in parameter scale whose covariance is the inverse of the
Gauss-Newton Hessian of data and priors (``estimates.csv`` gives its standard errors and, per
parameter, whether the data or the prior determine it). :func:`sample_posterior` runs pyPESTO's
adaptive Metropolis sampler instead (``cordsim calibrate --samples N``) and reports whether the
chain converged (Geweke test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ENSEMBLE_MEMBERS = 200


def laplace_ensemble(objective: Any, best: np.ndarray, covariance: np.ndarray, out: str | Path,
                     *, seed: int = 0, members: int = ENSEMBLE_MEMBERS) -> Any:
    """``members`` parameter vectors from N(best, covariance) in parameter scale, redrawn
    until inside the bounds; written as ``samples.csv`` (values in declared units)."""
    import pandas as pd

    from cordsim.analysis.scales import from_scale

    rng = np.random.default_rng(seed)
    cov = (covariance + covariance.T) / 2
    kept: list[np.ndarray] = []
    while len(kept) < members:
        draws = rng.multivariate_normal(best, cov, size=members, method="eigh")
        inside = np.all((draws >= objective.lb) & (draws <= objective.ub), axis=1)
        kept.extend(draws[inside])
    values = pd.DataFrame([{n: from_scale(x, s) for n, x, s in
                            zip(objective.names, row, objective.scales, strict=True)}
                           for row in kept[:members]])
    values.to_csv(Path(out) / "samples.csv", index=False, float_format="%.6g")
    return values


def sample_posterior(objective: Any, start: np.ndarray, n_samples: int, out: str | Path, *,
                     seed: int = 0, members: int = ENSEMBLE_MEMBERS) -> Any:
    """Sample the posterior (adaptive Metropolis) and write ``mcmc_samples.csv`` (thinned
    chain), ``mcmc_identifiability.csv`` and ``mcmc.txt`` (burn-in, convergence)."""
    import pandas as pd
    import pypesto
    import pypesto.sample

    from cordsim.analysis.scales import from_scale

    out = Path(out)
    np.random.seed(seed)  # pyPESTO's samplers draw from numpy's global generator
    problem = pypesto.Problem(pypesto.Objective(fun=objective.neg_log_posterior),
                              lb=objective.lb, ub=objective.ub, x_names=objective.names)
    sampler = pypesto.sample.AdaptiveMetropolisSampler()
    result = pypesto.sample.sample(problem, n_samples=n_samples, sampler=sampler,
                                   x0=np.asarray(start, float))
    burn = int(pypesto.sample.geweke_test(result) or 0)
    chain = np.asarray(result.sample_result.trace_x[0])[burn:]
    if len(chain) < 10:
        chain = np.asarray(result.sample_result.trace_x[0])[len(result.sample_result.trace_x[0])
                                                            // 2:]
    step = max(1, len(chain) // members)
    thinned = chain[::step][:members]
    values = pd.DataFrame([{n: from_scale(x, s) for n, x, s in
                            zip(objective.names, row, objective.scales, strict=True)}
                           for row in thinned])
    values.to_csv(out / "mcmc_samples.csv", index=False, float_format="%.6g")
    rows = []
    for i, name in enumerate(objective.names):
        col = chain[:, i]
        ratio = float(np.std(col) / objective.prior_sd[i])
        rows.append({"parameterId": name, "scale": objective.scales[i],
                     "median": from_scale(float(np.median(col)), objective.scales[i]),
                     "q05": from_scale(float(np.quantile(col, 0.05)), objective.scales[i]),
                     "q95": from_scale(float(np.quantile(col, 0.95)), objective.scales[i]),
                     "posterior_sd_scaled": float(np.std(col)),
                     "prior_sd_scaled": float(objective.prior_sd[i]),
                     "posterior_to_prior_sd": ratio,
                     "determined_by": "data" if ratio < 0.5 else ("data and prior" if ratio < 0.9
                                                                  else "prior (not identifiable)")})
    table = pd.DataFrame(rows)
    table.to_csv(out / "mcmc_identifiability.csv", index=False, float_format="%.6g")
    converged = burn < n_samples
    (out / "mcmc.txt").write_text(
        f"samples {n_samples}, Geweke burn-in {burn} "
        f"({'converged' if converged else 'NOT converged: use more samples'}), kept "
        f"{len(chain)}, thinned {len(values)}, acceptance {_acceptance(chain):.2f}\n")
    return table


def _acceptance(chain: np.ndarray) -> float:
    moves = np.any(np.diff(chain, axis=0) != 0, axis=1)
    return float(np.mean(moves)) if moves.size else 0.0

"""Uncertainty after calibration: identifiability, and the ensemble of parameter sets that
gives every prediction a credible band.

:func:`posterior_ensemble` draws the ensemble from the posterior (data and priors) with
emcee's ensemble sampler; ``estimates.csv`` gives the Laplace standard errors at the best
fit and, per parameter, whether the data or the prior determine it. :func:`sample_posterior`
runs pyPESTO's adaptive Metropolis sampler as well (``cordsim calibrate --samples N``) and
reports whether its chain converged (Geweke test).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cordsim.errors import CordsimError

ENSEMBLE_MEMBERS = 200
ENSEMBLE_STEPS = 10000  # emcee steps per walker (half of them burn-in)
BALL = 0.3  # walkers start around the best fit, spread by this share of each prior SD


def bounded_sd(mean: float, sd: float, lower: float, upper: float) -> float:
    """SD of a normal(``mean``, ``sd``) cut to [``lower``, ``upper``]: a prior (or a Laplace
    posterior) as it is within the bounds. With the shipped priors (SD half the bounds'
    width) a prior's SD within the bounds is about half its ``sd``."""
    from scipy.stats import truncnorm

    if not (sd > 0 and np.isfinite(sd)):
        return 0.0
    a, b = (lower - mean) / sd, (upper - mean) / sd
    return float(truncnorm(a, b, loc=mean, scale=sd).std())


def identifiability(ratio: float) -> str:
    """What determines a parameter, from its posterior SD over its prior SD (both within
    the bounds)."""
    return ("data" if ratio < 0.5 else "data and prior" if ratio < 0.9
            else "prior (not identifiable)")


def posterior_ensemble(objective: Any, best: np.ndarray, out: str | Path, *, seed: int = 0,
                       members: int = ENSEMBLE_MEMBERS, steps: int = ENSEMBLE_STEPS,
                       progress: bool = False) -> dict[str, Any]:
    """``members`` parameter vectors drawn from the posterior by emcee's affine-invariant
    ensemble sampler, its walkers started around ``best`` (spread :data:`BALL` prior SDs,
    inside the bounds); each step simulates all moving walkers in one kernel call per
    condition. The first half of the chain is burn-in; the
    members are spread evenly over the rest. Writes ``samples.csv`` (values in declared
    units) and returns diagnostics (acceptance, autocorrelation time, how the members fit
    against the best fit), also written to ``ensemble.json``.

    Why not the Laplace approximation: on the shipped problem most parameters are determined
    by their priors and the model is far from linear over a prior's width, so normal draws
    around the best fit were ~10 log-units worse than it and their effects biased low."""
    from cordsim._optional import require

    emcee = require("emcee", "the calibration's ensemble")
    rng = np.random.default_rng(seed)
    best = np.asarray(best, float)
    ndim = best.size
    walkers = 2 * ndim + 2  # emcee's stretch move needs an even number above 2 * ndim

    def log_prob(thetas: np.ndarray) -> np.ndarray:
        thetas = np.atleast_2d(thetas)
        lp = np.full(len(thetas), -np.inf)
        inside = np.all((thetas >= objective.lb) & (thetas <= objective.ub), axis=1)
        if inside.any():
            lp[inside] = -objective.neg_log_posteriors(list(thetas[inside]))
        return lp

    ball = BALL * objective.prior_sd
    start = np.clip(best + ball * rng.standard_normal((walkers, ndim)), objective.lb,
                    objective.ub)
    sampler = emcee.EnsembleSampler(walkers, ndim, log_prob, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()
    sampler.run_mcmc(start, steps, progress=progress)
    burn = steps // 2
    chain = sampler.get_chain(discard=burn, flat=True)
    logp = sampler.get_log_prob(discard=burn, flat=True)
    pick = np.linspace(0, len(chain) - 1, members).round().astype(int)
    kept = chain[pick]
    values = _values_table(objective, kept)
    out = Path(out)
    values.to_csv(out / "samples.csv", index=False, float_format="%.6g")
    tau = sampler.get_autocorr_time(discard=burn, quiet=True, tol=0)
    best_lp = float(log_prob(best[None, :])[0])
    diagnostics = {
        "sampler": f"emcee {emcee.__version__} (affine-invariant ensemble)",
        "walkers": walkers, "steps": steps, "burn_in": burn, "members": members,
        "seed": seed,
        "acceptance": float(np.mean(sampler.acceptance_fraction)),
        "autocorrelation_steps_max": float(np.nanmax(tau)),
        "chain_over_autocorrelation": float((steps - burn) / np.nanmax(tau)),
        "neg_log_posterior_best": -best_lp,
        "neg_log_posterior_members_median": float(np.median(-logp[pick])),
    }
    (out / "ensemble.json").write_text(json.dumps(diagnostics, indent=1) + "\n")
    return diagnostics


LAPLACE_DRAWS = 2000
LAPLACE_WIDEN = 1.5  # the proposal's SDs over the Laplace approximation's
REGION_WIDEN = 0.5  # the proposal of the fallback (draws kept inside the 95% region)
# What the shipped problem's ensemble varies: the therapy's parameters and the publication
# bias of pooled effects; the natural history stays at its fit (see laplace_ensemble).
THERAPY_PARAMETERS = (
    "ec50_mirna_silencing", "k_sev_uptake", "k_lesion_extravasation", "k_program",
    "d_program", "w_m2_program", "w_program_trophic", "w_program_il10", "k_splenic_il10",
    "k_il10_serum_entry", "ec50_sev_spleen", "s_sev_msc", "f_protection_max",
    "w_regrowth_function", "w_program_barrier", "f_program_mmp", "pooled_inflation")


def laplace_ensemble(objective: Any, best: np.ndarray, covariance: np.ndarray,
                     out: str | Path, *, seed: int = 0, members: int = ENSEMBLE_MEMBERS,
                     draws: int = LAPLACE_DRAWS, names: tuple[str, ...] | None = None,
                     progress: bool = False) -> dict[str, Any]:
    """``members`` parameter vectors from draws of a Laplace approximation at ``best``
    (normal in parameter scale; a draw beyond a bound is moved onto it). ``names``: the
    parameters that vary (default all; the others stay at ``best``), drawn from their
    Laplace approximation conditional on the others. Writes ``samples.csv`` and
    ``ensemble.json``, as :func:`posterior_ensemble` does.

    First, sampling importance resampling: ``draws`` draws with SDs x :data:`LAPLACE_WIDEN`,
    each weighted by its posterior over the proposal's density. When the weights collapse
    (effective sample size below a tenth of ``members``: the posterior is far from normal,
    as with the spec targets' one-sided penalties, which the Laplace approximation at an
    optimum inside them does not see), the members are instead draws of a narrower proposal
    (SDs x :data:`REGION_WIDEN`) whose negative log posterior lies within half the 95%
    chi-square quantile (degrees of freedom: the varied parameters) of the best: parameter
    sets the data and the targets do not reject, not a sample of the posterior.
    ``ensemble.json`` says which method made the members."""
    from scipy.stats import chi2

    rng = np.random.default_rng(seed)
    best = np.asarray(best, float)
    idx = (np.arange(best.size) if names is None
           else np.array([objective.names.index(n) for n in names if n in objective.names]))
    info = np.linalg.pinv(0.5 * (covariance + covariance.T))
    cov = np.linalg.pinv(info[np.ix_(idx, idx)])  # the varied ones given the others
    chol = np.linalg.cholesky(0.5 * (cov + cov.T) + np.eye(idx.size) * 1e-12)
    lb, ub = objective.lb[idx], objective.ub[idx]

    def propose(widen: float, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = rng.standard_normal((n, idx.size))
        x = np.tile(best, (n, 1))
        moved = best[idx] + widen * z @ chol.T
        inside = np.all((moved >= lb) & (moved <= ub), axis=1)
        x[:, idx] = np.clip(moved, lb, ub)
        return x, z, inside

    best_nlp = float(objective.neg_log_posterior(best))
    x, z, inside = propose(LAPLACE_WIDEN, draws)
    nlp = np.asarray(objective.neg_log_posteriors(list(x)))
    log_w = -nlp + 0.5 * np.sum(z ** 2, axis=1)  # posterior over the proposal (+ constant)
    log_w[~np.isfinite(log_w)] = -np.inf
    w = np.exp(log_w - np.max(log_w))
    w /= w.sum()
    ess = float(1.0 / np.sum(w ** 2))
    diagnostics: dict[str, Any] = {
        "varied": [objective.names[i] for i in idx] if names is not None else "all",
        "draws": draws, "draws_inside_bounds": int(inside.sum()), "seed": seed,
        "widen": LAPLACE_WIDEN, "effective_sample_size": ess,
        "neg_log_posterior_best": best_nlp}
    if ess >= members / 10:
        positions = (rng.random() + np.arange(members)) / members  # systematic resampling
        pick = np.minimum(np.searchsorted(np.cumsum(w), positions), len(x) - 1)
        kept, kept_nlp = x[pick], nlp[pick]
        diagnostics.update(
            sampler="sampling importance resampling of a widened Laplace approximation",
            unique_members=int(len(np.unique(pick))))
    else:
        limit = 0.5 * float(chi2.ppf(0.95, idx.size))
        x, _, _ = propose(REGION_WIDEN, draws)
        nlp = np.asarray(objective.neg_log_posteriors(list(x)))
        ok = np.flatnonzero(nlp - best_nlp <= limit)[:members]
        if not ok.size:
            raise CordsimError("no Laplace draw lies inside the 95% region of the best fit: "
                               "no ensemble (try --ensemble emcee)")
        kept, kept_nlp = x[ok], nlp[ok]
        diagnostics.update(
            sampler=("importance weights collapsed: draws of a narrowed Laplace approximation "
                     "(SDs x {REGION_WIDEN}) within half the 95% chi-square quantile of the best "
                     "(a region the data and targets do not reject; not a posterior sample)"
                     ).replace("{REGION_WIDEN}", str(REGION_WIDEN)),
            region_widen=REGION_WIDEN, region_limit=limit,
            region_draws_inside=int((nlp - best_nlp <= limit).sum()),
            unique_members=int(len(ok)))
    diagnostics.update(members=int(len(kept)),
                       neg_log_posterior_members_median=float(np.median(kept_nlp)))
    out = Path(out)
    _values_table(objective, kept).to_csv(out / "samples.csv", index=False,
                                          float_format="%.6g")
    (out / "ensemble.json").write_text(json.dumps(diagnostics, indent=1) + "\n")
    return diagnostics


def _values_table(objective: Any, rows: np.ndarray) -> Any:
    """One row of parameter values (declared units) per parameter vector."""
    import pandas as pd

    return pd.DataFrame([objective.values(row) for row in rows])


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
    values = _values_table(objective, thinned)
    values.to_csv(out / "mcmc_samples.csv", index=False, float_format="%.6g")
    rows = []
    for i, name in enumerate(objective.names):
        col = chain[:, i]
        ratio = float(np.std(col) / objective.prior_sd_bounded[i])  # both within the bounds
        rows.append({"parameterId": name, "scale": objective.scales[i],
                     "median": from_scale(float(np.median(col)), objective.scales[i]),
                     "q05": from_scale(float(np.quantile(col, 0.05)), objective.scales[i]),
                     "q95": from_scale(float(np.quantile(col, 0.95)), objective.scales[i]),
                     "posterior_sd_scaled": float(np.std(col)),
                     "prior_sd_within_bounds": float(objective.prior_sd_bounded[i]),
                     "posterior_to_prior_sd": ratio,
                     "determined_by": identifiability(ratio)})
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


PRIOR_PREDICTIVE_DRAWS = 100
# the gains the prior predictive check reports: (condition, day) of targets.CONDITIONS, each
# against the untreated moderate injury
PRIOR_PREDICTIVE_GAINS = (("sev_3h", 42.0), ("msc_d7", 56.0), ("fractionated_d7", 42.0))


def prior_predictive(objective: Any, theta_best: np.ndarray, out: str | Path | None = None, *,
                     draws: int = PRIOR_PREDICTIVE_DRAWS, seed: int = 0) -> Any:
    """What the priors alone imply for the therapy's BBB gains (a prior predictive check):
    ``draws`` vectors of the estimated parameters drawn from their priors (normal in the
    parameter scale, clipped to the bounds), each condition of
    :data:`PRIOR_PREDICTIVE_GAINS` run against the untreated moderate injury; the 5/50/95%
    quantiles of each gain beside its value at the best fit. Written to
    ``out/prior_predictive.csv`` when ``out`` is given."""
    import pandas as pd

    from cordsim.evaluation.targets import run_conditions

    rng = np.random.default_rng(seed)
    thetas = np.clip(objective.prior_mean + objective.prior_sd
                     * rng.standard_normal((draws, objective.prior_mean.size)),
                     objective.lb, objective.ub)
    names = ["moderate", *(c for c, _ in PRIOR_PREDICTIVE_GAINS)]
    vectors = [objective.model_values(theta_best), *(objective.model_values(t) for t in thetas)]
    series = run_conditions(vectors, names, parameters=objective.base)
    rows = []
    for cond, day in PRIOR_PREDICTIVE_GAINS:
        gains = np.array([s.at(cond, "bbb_score", day) - s.at("moderate", "bbb_score", day)
                          for s in series])
        prior = gains[1:][np.isfinite(gains[1:])]
        q = np.quantile(prior, (0.05, 0.5, 0.95)) if prior.size else (np.nan,) * 3
        rows.append({"gain": f"bbb_score {cond} minus moderate", "day": day,
                     "prior_q05": q[0], "prior_q50": q[1], "prior_q95": q[2],
                     "prior_draws": int(prior.size), "best_fit": gains[0]})
    table = pd.DataFrame(rows)
    if out is not None:
        table.to_csv(Path(out) / "prior_predictive.csv", index=False, float_format="%.6g")
    return table

"""What ``cordsim run SCENARIO`` writes, in one place: the command line and the web app
(``cordsim serve``) both call :func:`run_and_write`, so they give the same numbers and files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cordsim.design.scenario import Scenario
    from cordsim.errors import SimulationError
    from cordsim.run.results import ScenarioResult


DEFAULT_ENSEMBLE = 100  # members a run uses for its median and band (about 6 s for 4 arms)


def ensemble_size(scenario: Scenario, ensemble: int | None) -> int:
    """The members a run of ``scenario`` uses: ``ensemble``, or by default
    :data:`DEFAULT_ENSEMBLE`."""
    return DEFAULT_ENSEMBLE if ensemble is None else ensemble


def check_scenario_run(scenario: Scenario, ensemble: int | None = None, *,
                       limit: float | None = None, limit_name: str | None = None) -> Any:
    """The memory and time estimate of :func:`run_and_write` (``ensemble`` as there),
    refused beyond the memory ``limit`` (:mod:`cordsim.run.resources`)."""
    from cordsim.run.resources import LIMIT_ENV, check_run

    return check_run(scenario, ensemble_size(scenario, ensemble), limit=limit,
                     limit_name=limit_name or LIMIT_ENV)


def run_and_write(scenario: Scenario, out: Path, *, progress: bool = False,
                  ensemble: int | None = None, formats: tuple[str, ...] = ("png",),
                  point: str = "median", target: str = "known-severity",
                  posterior: Any = None) -> tuple[ScenarioResult, list[Path], SimulationError | None]:
    """Simulate every arm of ``scenario`` and write into the folder ``out``:
    ``timecourse.csv``/``.nc`` and ``summary.csv`` (the best fit, the mode); with an ensemble
    of ``ensemble`` fitted parameter sets (default :data:`DEFAULT_ENSEMBLE` when the run
    reached its end, 0 for none) ``ensemble.csv`` and ``fig_ensemble`` (the posterior
    predictive for ``target``, :mod:`cordsim.run.ensemble`); ``endpoints.csv``: the posterior
    predictive median with its 90% band (``point="median"``, the default, with an
    ensemble), or the mode (``point="mode"``, or no ensemble), its ``point`` column says
    which; and ``fig_comparison`` (the median inside its band), ``fig_natural_history``
    (the control arm) and ``fig_outcomes``, each figure in every one of ``formats``.
    ``posterior``: a :class:`cordsim.run.ensemble.Posterior` (a user's calibration)
    instead of the shipped one.

    Returns the result, the paths written and the solver failure (``None`` when every arm
    ran to the end; then the result holds each arm up to its failure).
    """
    from cordsim.errors import SimulationError
    from cordsim.io.plotting import write_run_figures
    from cordsim.io.writers import remove_stale_outputs, write_scenario_result
    from cordsim.run.ensemble import check_point, check_target
    from cordsim.run.scenarios import run_scenario

    check_point(point)
    check_target(target)
    check_scenario_run(scenario, ensemble)  # refused before it runs out of memory
    failure: SimulationError | None = None
    try:
        res = run_scenario(scenario, progress=progress,
                           parameters=posterior.parameters if posterior else None)
    except SimulationError as exc:
        res, failure = exc.partial, exc
    out = Path(out)
    if ensemble is None:
        ensemble = DEFAULT_ENSEMBLE if failure is None else 0
    bands, ensemble_paths, headline = None, [], None
    if ensemble:
        bands, headline, ensemble_paths = write_ensemble(scenario, ensemble, out, formats,
                                                         target=target, posterior=posterior)
    if point == "median" and headline is not None:
        headline = headline.assign(point=f"posterior predictive {bands.attrs['label']}")
    else:
        headline = None  # the mode's
    written = write_scenario_result(res, out, headline)
    written += write_run_figures(res.arms, out, title=f"{scenario.name}: {scenario.description}",
                                 ensemble=bands if point == "median" else None,
                                 formats=formats,
                                 control_title=f"{scenario.name}: {res.control} arm")
    remove_stale_outputs(out, written + ensemble_paths)  # an earlier run's files in ``out``
    return res, written + ensemble_paths, failure  # the main figures first


def write_ensemble(scenario: Scenario, n: int, out: Path, formats: tuple[str, ...] = ("png",),
                   *, target: str = "known-severity", posterior: Any = None
                   ) -> tuple[Any, Any, list[Path]]:
    """``ensemble.csv`` (quantiles over ``n`` members of the fitted ensemble, the posterior
    predictive for ``target``) and ``fig_ensemble``; returns the bands, the headline
    endpoints (:func:`cordsim.run.ensemble.endpoint_summary`) and the paths."""
    from cordsim.data import ensemble_members
    from cordsim.io.plotting import ensemble_figure, save_figure
    from cordsim.run.ensemble import bands, endpoint_draws, endpoint_summary, run_members

    members = posterior.members(n) if posterior else ensemble_members(n)
    runs = run_members(scenario, members, target=target,
                       parameters=posterior.parameters if posterior else None)
    df = bands(runs)
    df.to_csv(out / "ensemble.csv", index=False, float_format="%.6g")
    fig = ensemble_figure(df, title=f"{scenario.name}: {runs.label}",
                          injury=scenario.injury.severity)
    return df, endpoint_summary(endpoint_draws(runs)), [
        out / "ensemble.csv", *save_figure(fig, out / "fig_ensemble.png", formats)]

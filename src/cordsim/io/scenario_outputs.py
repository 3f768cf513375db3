"""What ``cordsim run SCENARIO`` writes, in one place: the command line and the web app
(``cordsim serve``) both call :func:`run_and_write`, so they give the same numbers and files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cordsim.design.scenario import Scenario
    from cordsim.errors import SimulationError
    from cordsim.run.results import ScenarioResult


DEFAULT_ENSEMBLE = 50  # members a multi-arm run uses for its bands (about 0.7 s)


def ensemble_size(scenario: Scenario, ensemble: int | None) -> int:
    """The members a run of ``scenario`` uses: ``ensemble``, or by default
    :data:`DEFAULT_ENSEMBLE` for a scenario of several arms and none for one arm."""
    if ensemble is None:
        return DEFAULT_ENSEMBLE if len(scenario.arms) > 1 else 0
    return ensemble


def check_scenario_run(scenario: Scenario, ensemble: int | None = None, *,
                       limit: float | None = None, limit_name: str | None = None) -> Any:
    """The memory and time estimate of :func:`run_and_write` (``ensemble`` as there),
    refused beyond the memory ``limit`` (:mod:`cordsim.run.resources`)."""
    from cordsim.run.resources import LIMIT_ENV, check_run

    return check_run(scenario, ensemble_size(scenario, ensemble), limit=limit,
                     limit_name=limit_name or LIMIT_ENV)


def run_and_write(scenario: Scenario, out: Path, *, progress: bool = False,
                  ensemble: int | None = None, formats: tuple[str, ...] = ("png",)
                  ) -> tuple[ScenarioResult, list[Path], SimulationError | None]:
    """Simulate every arm of ``scenario`` and write into the folder ``out``:
    ``timecourse.csv``/``.nc``, ``summary.csv``, ``endpoints.csv``; with an ensemble of
    ``ensemble`` fitted parameter sets (default :data:`DEFAULT_ENSEMBLE` for a scenario of
    several arms that ran to the end, 0 for none) ``ensemble.csv`` and ``fig_ensemble``; and
    ``fig_comparison`` (with the ensemble's bands), ``fig_natural_history`` (the control arm)
    and ``fig_outcomes``, each figure in every one of ``formats``.

    Returns the result, the paths written and the solver failure (``None`` when every arm
    ran to the end; then the result holds each arm up to its failure).
    """
    from cordsim.errors import SimulationError
    from cordsim.io.plotting import write_run_figures
    from cordsim.io.writers import remove_stale_outputs, write_scenario_result
    from cordsim.run.scenarios import run_scenario

    check_scenario_run(scenario, ensemble)  # refused before it runs out of memory
    failure: SimulationError | None = None
    try:
        res = run_scenario(scenario, progress=progress)
    except SimulationError as exc:
        res, failure = exc.partial, exc
    out = Path(out)
    written = write_scenario_result(res, out)
    if ensemble is None:
        ensemble = DEFAULT_ENSEMBLE if len(scenario.arms) > 1 and failure is None else 0
    bands, ensemble_paths = None, []
    if ensemble:
        bands, ensemble_paths = write_ensemble(scenario, ensemble, out, formats)
    written += write_run_figures(res.arms, out, title=f"{scenario.name}: {scenario.description}",
                                 ensemble=bands, formats=formats,
                                 control_title=f"{scenario.name}: {res.control} arm")
    remove_stale_outputs(out, written + ensemble_paths)  # an earlier run's files in ``out``
    return res, written + ensemble_paths, failure  # the main figures first


def write_ensemble(scenario: Scenario, n: int, out: Path, formats: tuple[str, ...] = ("png",)
                   ) -> tuple[object, list[Path]]:
    """``ensemble.csv`` (quantiles over ``n`` members of the fitted ensemble) and
    ``fig_ensemble``; returns the table and the paths."""
    from cordsim.data import ensemble_members
    from cordsim.io.plotting import ensemble_figure, save_figure
    from cordsim.run.ensemble import run_ensemble

    df = run_ensemble(scenario, ensemble_members(n))
    df.to_csv(out / "ensemble.csv", index=False, float_format="%.6g")
    fig = ensemble_figure(df, title=f"{scenario.name}: median and 90% band over {n} fitted "
                          "parameter sets", injury=scenario.injury.severity)
    return df, [out / "ensemble.csv", *save_figure(fig, out / "fig_ensemble.png", formats)]

"""What ``cordsim run SCENARIO`` writes, in one place: the command line and the web app
(``cordsim serve``) both call :func:`run_and_write`, so they give the same numbers and files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cordsim.design.scenario import Scenario
    from cordsim.errors import SimulationError
    from cordsim.run.results import ScenarioResult


def run_and_write(scenario: Scenario, out: Path, *, progress: bool = False
                  ) -> tuple[ScenarioResult, list[Path], SimulationError | None]:
    """Simulate every arm of ``scenario`` and write into the folder ``out``:
    ``timecourse.csv``/``.nc``, ``summary.csv``, ``endpoints.csv``, ``fig_comparison.png``,
    ``fig_natural_history.png`` (the control arm) and ``fig_outcomes.png``.

    Returns the result, the paths written and the solver failure (``None`` when every arm
    ran to the end; then the result holds each arm up to its failure).
    """
    from cordsim.errors import SimulationError
    from cordsim.io.plotting import plot_comparison, plot_natural_history, plot_outcomes
    from cordsim.io.writers import write_scenario_result
    from cordsim.run.scenarios import run_scenario

    failure: SimulationError | None = None
    try:
        res = run_scenario(scenario, progress=progress)
    except SimulationError as exc:
        res, failure = exc.partial, exc
    out = Path(out)
    written = write_scenario_result(res, out)
    written.append(plot_comparison(res.arms, out / "fig_comparison.png",
                                   title=f"{scenario.name}: {scenario.description}"))
    first = next(iter(res.arms.values()))
    if first.time.size > 1:
        written.append(plot_natural_history(first, out / "fig_natural_history.png",
                                            title=f"{scenario.name}: {res.control} arm"))
        written.append(plot_outcomes(res.arms, out / "fig_outcomes.png"))
    return res, written, failure

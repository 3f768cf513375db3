"""Memory and time a run will need, estimated from its size before it starts, and refused
beyond a limit that the message names.

The counts cordsim already limits (days, report times, arms, animals) do not bound memory
on their own: 50 arms x 100,000 report times is inside each of them and needs more than
11 GB. :func:`run_estimate` multiplies the sizes out (arms x report times x values per row,
ensemble members, animals x parameters); :func:`check_memory` refuses an estimate beyond
:func:`memory_limit` (``$CORDSIM_MEMORY_LIMIT_GB``; default 8 GB, or three quarters of the
machine's memory if less) with a
:class:`~cordsim.errors.ScenarioError` naming the limit and what to shrink.

The constants are measured (peak resident memory and wall time of ``cordsim run``,
``optimize`` and ``scan`` on a 2-core machine), rounded up: an estimate errs on the large side.

Examples
--------
>>> from cordsim.design.scenario import scenario_from_dict
>>> small = scenario_from_dict({"days": 14, "arms": [{"name": "vehicle"}]})
>>> run_estimate(small).memory < 1e9
True
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from cordsim.errors import ScenarioError

LIMIT_ENV = "CORDSIM_MEMORY_LIMIT_GB"
DEFAULT_LIMIT_GB = 8.0
BASE_BYTES = 400e6  # the process with numpy, pandas, xarray, the model and its kernel
# a time-course value (one state or output at one report time of one arm) is held about
# five times while a run is written (solution, outputs, DataFrame, CSV and NetCDF buffers):
# 2 arms x 36,500 report times peaked at 620 MB
BYTES_PER_VALUE = 40
# members' trajectories of one arm (states) and the columns kept, held about 1.5 times
BYTES_PER_ENSEMBLE_VALUE = 12
BYTES_PER_ENSEMBLE_ROW = 600  # a row of the tidy ensemble table while it is built
BYTES_PER_ANIMAL = 40_000  # a drawn animal and its batch run (optimize, scan): 35 kB measured
SECONDS_PER_ROW = 6e-4  # writing a report time of one arm: tables, NetCDF, figures
SECONDS_PER_ARM_DAY = 1e-4  # the compiled solver, per simulated day of one animal
SECONDS_PER_ENSEMBLE_VALUE = 2e-5  # the ensemble's quantile table, per row and variable
SECONDS_BASE = 10.0


@dataclass(frozen=True)
class Estimate:
    """Peak memory (bytes) and wall time (seconds) a run is expected to need."""

    memory: float
    seconds: float


def memory_limit() -> float:
    """The memory a run may use, in bytes: ``$CORDSIM_MEMORY_LIMIT_GB`` (GB), else 8 GB or
    three quarters of the machine's memory if that is less."""
    text = os.environ.get(LIMIT_ENV, "").strip()
    if not text:
        try:
            physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            physical = math.inf
        return min(DEFAULT_LIMIT_GB * 1e9, 0.75 * physical)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ScenarioError(f"{LIMIT_ENV} must be a positive number of GB, got {text!r}")
    return value * 1e9


def _model_sizes() -> tuple[int, int]:
    from cordsim.biology import CordModel

    model = CordModel()
    return len(model.state_names), len(model.output_names)


def _values_per_row() -> int:
    states, outputs = _model_sizes()
    return states + outputs + 2  # + time, arm


def run_estimate(scenario: Any, ensemble: int = 0) -> Estimate:
    """Memory and time of running ``scenario`` and writing its folder, with ``ensemble``
    members of the fitted ensemble."""
    from cordsim.run.results import TIMECOURSE_COLUMNS
    from cordsim.run.simulation import report_times

    times = len(report_times(scenario.days, scenario.dt)) + 20  # + dose times
    arms = len(scenario.arms)
    rows = arms * times
    memory = BASE_BYTES + rows * _values_per_row() * BYTES_PER_VALUE
    seconds = SECONDS_BASE + rows * SECONDS_PER_ROW + arms * scenario.days * SECONDS_PER_ARM_DAY
    if ensemble:
        kept = _model_sizes()[0] + len(TIMECOURSE_COLUMNS)
        per_arm = ensemble * times * kept * BYTES_PER_ENSEMBLE_VALUE
        table = rows * (len(TIMECOURSE_COLUMNS) + 1) * BYTES_PER_ENSEMBLE_ROW
        memory = max(memory, BASE_BYTES + per_arm + table)
        seconds += ensemble * arms * scenario.days * SECONDS_PER_ARM_DAY \
            + rows * len(TIMECOURSE_COLUMNS) * SECONDS_PER_ENSEMBLE_VALUE
    return Estimate(memory, seconds)


def _gb(value: float) -> str:
    gb = value / 1e9
    return f"{gb:,.0f} GB" if gb >= 100 else f"{gb:.3g} GB"


def check_memory(needed: float, what: str, shrink: str, *, limit: float | None = None,
                 limit_name: str = LIMIT_ENV) -> None:
    """Refuse ``needed`` bytes beyond ``limit`` (default :func:`memory_limit`): a
    ScenarioError naming ``what``, the estimate, the limit (``limit_name``) and what to
    ``shrink``."""
    limit = memory_limit() if limit is None else limit
    if needed > limit:
        raise ScenarioError(f"{what} would need about {_gb(needed)} of memory, beyond the "
                            f"limit of {_gb(limit)} ({limit_name}); {shrink}")


def check_run(scenario: Any, ensemble: int = 0, *, limit: float | None = None,
              limit_name: str = LIMIT_ENV) -> Estimate:
    """:func:`run_estimate` of ``scenario``, refused beyond the memory limit."""
    est = run_estimate(scenario, ensemble)
    times = len(scenario.arms) * (scenario.days / scenario.dt + 1)
    check_memory(est.memory, f"scenario {scenario.name!r} ({len(scenario.arms)} arm(s) x "
                 f"{scenario.days / scenario.dt + 1:,.0f} report times = {times:,.0f} rows"
                 + (f", ensemble of {ensemble}" if ensemble else "") + ")",
                 "raise dt, shorten 'days' or split the arms over several runs"
                 + (" (or run without the ensemble: --ensemble 0)" if ensemble else ""),
                 limit=limit, limit_name=limit_name)
    return est


def check_animals(n: int, what: str, *, runs: int = 1, limit: float | None = None) -> None:
    """Refuse drawing ``n`` animals (each held with its parameters and batch run, ``runs``
    result vectors kept per animal) beyond the memory limit."""
    needed = BASE_BYTES + n * BYTES_PER_ANIMAL + n * runs * 8
    check_memory(needed, f"{what} with {n:,} animals", "lower --n", limit=limit)


def check_design(rows: int, factors: int, what: str, *, limit: float | None = None) -> None:
    """Refuse a sampling design of ``rows`` parameter sets x ``factors`` held several times
    (design, parameter matrix, results) beyond the memory limit."""
    needed = BASE_BYTES + rows * (factors + 4) * 8 * 3
    check_memory(needed, f"{what} of {rows:,} parameter sets x {factors} parameters",
                 "lower --n or vary fewer parameters (--param)", limit=limit)

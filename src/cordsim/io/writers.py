"""Writing a run's tables: time courses (CSV at the report times, NetCDF with every solution
point), the summary table and the endpoint table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cordsim.run.results import ScenarioResult, SimulationResult

# What a run writes into its folder (``cordsim run``, the web app); a later run into the same
# folder removes those it did not write itself, so that the folder (and a report made from it)
# shows one run, not a mix of two.
RUN_OUTPUTS = ("timecourse.csv", "timecourse.nc", "summary.csv", "endpoints.csv",
               "ensemble.csv", "report.html", "fig_*.png", "fig_*.svg", "fig_*.pdf")


def remove_stale_outputs(out: Path, written: list[Path]) -> None:
    """Delete the run outputs in ``out`` that this run did not write (an earlier run's)."""
    keep = {Path(p).resolve() for p in written}
    for pattern in RUN_OUTPUTS:
        for path in Path(out).glob(pattern):
            if path.resolve() not in keep:
                path.unlink(missing_ok=True)


def write_result(result: SimulationResult, out: Path) -> list[Path]:
    """``timecourse.csv``, ``timecourse.nc`` and ``summary.csv`` of one run."""
    written = [result.to_csv(out / "timecourse.csv"), result.to_netcdf(out / "timecourse.nc")]
    written.append(out / "summary.csv")
    result.summary().to_csv(written[-1], index=False, float_format="%.6g")
    return written


def write_scenario_result(res: ScenarioResult, out: Path, endpoints: Any = None) -> list[Path]:
    """``timecourse.csv``/``.nc``, ``summary.csv`` and ``endpoints.csv`` of a scenario (a
    single-arm scenario's time course has no ``arm`` column): ``endpoints``, a table of the
    headline endpoints (the posterior median, :mod:`cordsim.io.scenario_outputs`), or the
    result's own (the mode), with a ``point`` column saying which."""
    import pandas as pd

    out = Path(out)
    if len(res.arms) == 1:
        only = next(iter(res.arms.values()))
        paths = [only.to_csv(out / "timecourse.csv"), out / "timecourse.nc"]
        ds = only.to_xarray(full=True)
        ds.attrs["scenario"] = res.name  # the report's title (the arm's own file has none)
        ds.to_netcdf(paths[1], engine="h5netcdf")
    else:
        paths = [out / "timecourse.csv", out / "timecourse.nc"]
        res.to_dataframe().to_csv(paths[0], index=False, float_format="%.6g")
        res.to_xarray(full=True).to_netcdf(paths[1], engine="h5netcdf")
    summary = pd.concat([r.summary().assign(arm=arm) for arm, r in res.arms.items()],
                        ignore_index=True)
    paths.append(out / "summary.csv")
    summary.to_csv(paths[-1], index=False, float_format="%.6g")
    paths.append(out / "endpoints.csv")
    if endpoints is None:
        endpoints = res.endpoints().assign(point="mode (best fit)")
    endpoints.to_csv(paths[-1], float_format="%.6g")
    return paths

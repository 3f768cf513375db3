"""SimulationResult: labelled time courses with units and provenance; CSV, NetCDF, summary.

Examples
--------
>>> import cordsim
>>> res = cordsim.Simulation(injury="none").run(days=1)
>>> ds = res.to_xarray()
>>> ds["bscb_permeability"].attrs["units"], float(ds["bscb_permeability"][-1])
('1', 1.0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cordsim._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import xarray as xr

    from cordsim.simulation import Simulation

# Columns of timecourse.csv, in this order (more follow). Units are in the README and in
# the NetCDF attributes.
TIMECOURSE_COLUMNS = (
    "time_day", "neutrophils", "microglia_activated", "macrophages", "m2_fraction_macrophages",
    "m2_fraction_microglia", "tnf", "il1b", "il6", "il10", "tgfb", "serum_tnf", "serum_il6",
    "mmp9", "bscb_permeability", "myelin_debris", "neurons_fraction",
    "oligodendrocytes_fraction", "spared_tissue_fraction", "lesion_volume_fraction",
    "scar_cspg", "scar_fibrotic", "bbb_score",
    "msc_lung", "sev_plasma", "sev_liver", "sev_spleen", "sev_lesion", "sev_internalized",
    "mirna_copies_per_macrophage",
)


@dataclass(frozen=True)
class SimulationResult:
    """Time courses of every state and output of one simulation.

    ``result[name]`` returns the array for a state, an output or ``time_day``.
    """

    time: np.ndarray
    data: dict[str, np.ndarray]
    units: dict[str, str]
    descriptions: dict[str, str]
    attrs: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"

    @classmethod
    def from_integration(cls, sim: Simulation, t: np.ndarray, y: np.ndarray, p: np.ndarray,
                         *, status: str) -> SimulationResult:
        """Build a result from raw solver output (states x times)."""
        model = sim.model
        data = {name: y[i] for i, name in enumerate(model.state_names)}
        if t.size:
            outs = np.asarray(sim.compiled.outputs(t, y, p)).reshape(len(model.output_names),
                                                                    t.size)
        else:
            outs = np.empty((len(model.output_names), 0))
        data.update({name: outs[i] for i, name in enumerate(model.output_names)})
        decls = {**model.states, **model.outputs}
        attrs = {
            "cordsim_version": __version__,
            "model": model.name,
            "model_hash": model.structure_hash,
            "species": sim.species,
            "injury_severity_preset": sim.injury.severity,
            "injury_description": sim.injury.description,
            "parameter_set": sim.parameters.name,
            "parameter_set_hash": sim.parameters.hash,
            "parameter_changes": json.dumps(list(sim.parameters.history)),
            "protocol": json.dumps(sim.protocol.as_dict()),
            "solver": json.dumps(sim.solver.as_dict()),
            "time_unit": "day",
            "status": status,
        }
        return cls(time=t, data=data, units={k: d.unit for k, d in decls.items()},
                   descriptions={k: d.description for k, d in decls.items()}, attrs=attrs,
                   status=status)

    @property
    def ok(self) -> bool:
        """True if the solver reached the end time."""
        return self.status == "ok"

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "time_day":
            return self.time
        try:
            return self.data[name]
        except KeyError:
            from cordsim.errors import did_you_mean

            hint = did_you_mean(name, self.data, cutoff=0.6)
            raise KeyError(f"no variable {name!r} in the result{hint}") from None

    def at(self, name: str, day: float) -> float:
        """Value of a variable at a given day (linear interpolation)."""
        return float(np.interp(day, self.time, self[name]))

    # ------------------------------------------------------------------ exports
    def columns(self) -> list[str]:
        """Column order for tables: the documented ones first, then every other variable."""
        rest = [k for k in self.data if k not in TIMECOURSE_COLUMNS]
        return [*TIMECOURSE_COLUMNS, *rest]

    def to_dataframe(self) -> pd.DataFrame:
        """One row per output time, columns as in :data:`TIMECOURSE_COLUMNS` and then the rest."""
        import pandas as pd

        return pd.DataFrame({c: self[c] for c in self.columns()})

    def to_xarray(self) -> xr.Dataset:
        """Dataset on dimension ``time`` (days) with units, descriptions and provenance."""
        import xarray as xr

        ds = xr.Dataset(
            {k: ("time", v, {"units": self.units[k], "long_name": self.descriptions[k]})
             for k, v in self.data.items()},
            coords={"time": ("time", self.time, {"units": "day",
                                                 "long_name": "time since injury"})},
            attrs=dict(self.attrs),
        )
        return ds

    def to_csv(self, path: str | Path) -> Path:
        """Write the time course table (``timecourse.csv``)."""
        path = Path(path)
        self.to_dataframe().to_csv(path, index=False, float_format="%.6g")
        return path

    def to_netcdf(self, path: str | Path) -> Path:
        """Write the Dataset as NetCDF-4 (h5netcdf engine)."""
        path = Path(path)
        self.to_xarray().to_netcdf(path, engine="h5netcdf")
        return path

    # ------------------------------------------------------------------ endpoints
    def _extreme(self, name: str, start: float, end: float | None, pick) -> tuple[float, float]:  # type: ignore[no-untyped-def]
        mask = (self.time >= start) & (self.time <= (self.time[-1] if end is None else end))
        idx = np.flatnonzero(mask)
        i = idx[int(pick(self[name][idx]))]
        return float(self.time[i]), float(self[name][i])

    def peak(self, name: str, *, start: float = 0.0, end: float | None = None) -> tuple[float, float]:
        """(day, value) of the maximum of a variable within [start, end] days."""
        return self._extreme(name, start, end, np.argmax)

    def trough(self, name: str, *, start: float = 0.0, end: float | None = None) -> tuple[float, float]:
        """(day, value) of the minimum of a variable within [start, end] days."""
        return self._extreme(name, start, end, np.argmin)

    def summary(self) -> pd.DataFrame:
        """Endpoint table a biologist reads first: peaks, timings and outcomes."""
        import pandas as pd

        end = float(self.time[-1])
        rows: list[tuple[str, float, str, str]] = []

        def add(metric: str, value: float, unit: str, text: str) -> None:
            rows.append((metric, value, unit, text))

        t, v = self.peak("neutrophils")
        add("neutrophil_peak_hour", 24 * t, "hour", "time of the neutrophil peak")
        add("neutrophil_peak", v, self.units["neutrophils"], "neutrophils at their peak")
        t, v = self.peak("macrophages")
        add("macrophage_peak_day", t, "day", "time of the macrophage peak")
        add("macrophage_peak", v, self.units["macrophages"], "macrophages at their peak")
        over = np.flatnonzero((self["macrophages"] > self["neutrophils"]) & (self.time > 0.1))
        add("macrophages_exceed_neutrophils_day", float(self.time[over[0]]) if over.size
            else float("nan"), "day", "first day macrophages outnumber neutrophils")
        t, v = self.peak("m2_fraction_macrophages", start=0.5)
        add("m2_fraction_macrophages_peak_day", t, "day", "time of the highest macrophage M2 share")
        add("m2_fraction_macrophages_peak", v, "1", "highest macrophage M2 share")
        t, v = self.peak("bscb_permeability")
        add("bscb_permeability_peak_day", t, "day", "time of the highest BSCB permeability")
        add("bscb_permeability_peak", v, "1", "highest permeability (1 = intact)")
        for day in (1, 7, 14, 28, 42, 70):
            if day <= end:
                add(f"bscb_permeability_day{day}", self.at("bscb_permeability", day), "1",
                    f"BSCB permeability at day {day}")
        for day in (1, 7, 14, 28, 42, 70):
            if day <= end:
                add(f"bbb_day{day}", self.at("bbb_score", day), "BBB points",
                    f"BBB locomotor score at day {day}")
        for name in ("spared_tissue_fraction", "lesion_volume_fraction", "neurons_fraction",
                     "oligodendrocytes_fraction", "scar_cspg", "scar_fibrotic"):
            add(f"{name}_end", float(self[name][-1]), self.units[name],
                f"{self.descriptions[name]} at day {end:g}")
        for name in ("serum_tnf", "serum_il6", "tnf", "il1b", "il6", "il10", "tgfb"):
            t, v = self.peak(name)
            add(f"{name}_peak", v, self.units[name], f"peak {self.descriptions[name]}")
            add(f"{name}_peak_day", t, "day", f"time of peak {name}")
        return pd.DataFrame(rows, columns=["metric", "value", "unit", "description"])


# Endpoints of a comparison, in the order a biologist reads them: (column, day or "peak").
COMPARISON_ENDPOINTS = (
    ("bbb_score", 70.0), ("bbb_score", 28.0), ("bscb_permeability", 14.0),
    ("bscb_permeability", 42.0), ("m2_fraction_macrophages", 14.0), ("serum_tnf", 10.0),
    ("serum_il6", 10.0), ("spared_tissue_fraction", 70.0), ("sev_lesion", "peak"),
    ("sev_internalized", "peak"), ("mirna_copies_per_macrophage", "peak"),
)


@dataclass(frozen=True)
class ScenarioResult:
    """The results of every arm of a scenario, keyed by arm name (first arm = control)."""

    name: str
    arms: dict[str, SimulationResult]
    description: str = ""

    def __getitem__(self, arm: str) -> SimulationResult:
        try:
            return self.arms[arm]
        except KeyError:
            raise KeyError(f"no arm {arm!r}; arms: {list(self.arms)}") from None

    @property
    def control(self) -> str:
        """Name of the first arm, the reference of every difference."""
        return next(iter(self.arms))

    def to_dataframe(self) -> pd.DataFrame:
        """Stacked time courses, one block per arm, with an ``arm`` column."""
        import pandas as pd

        frames = []
        for arm, res in self.arms.items():
            df = res.to_dataframe()
            df["arm"] = arm
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def to_xarray(self) -> xr.Dataset:
        """Dataset on dimensions (arm, time); arms must share the output grid."""
        import xarray as xr

        sets = [res.to_xarray() for res in self.arms.values()]
        protocols = [ds.attrs.get("protocol", "") for ds in sets]
        ds = xr.concat([d.drop_attrs(deep=False) for d in sets], dim="arm",
                       data_vars="all", coords="minimal", compat="override")
        ds = ds.assign_coords(arm=("arm", list(self.arms)))
        ds.attrs = {k: v for k, v in sets[0].attrs.items() if k != "protocol"}
        ds.attrs["scenario"] = self.name
        ds.attrs["protocols"] = json.dumps(protocols)
        return ds

    def endpoints(self, endpoints: tuple = COMPARISON_ENDPOINTS) -> pd.DataFrame:
        """Endpoint table: one row per arm, with differences from the control arm."""
        import pandas as pd

        rows = []
        for arm, res in self.arms.items():
            row: dict[str, Any] = {"arm": arm}
            for name, when in endpoints:
                if when == "peak":
                    row[f"{name}_peak"] = res.peak(name)[1]
                elif when <= res.time[-1]:
                    row[f"{name}_day{when:g}"] = res.at(name, float(when))
            rows.append(row)
        df = pd.DataFrame(rows).set_index("arm")
        ctrl = df.loc[self.control]
        for col in [c for c in df.columns if c.startswith("bbb_score")]:
            df[f"{col}_minus_{self.control}"] = df[col] - ctrl[col]
        return df

    def write(self, out: str | Path) -> list[Path]:
        """Write timecourse.csv/.nc, summary.csv and endpoints.csv into ``out``."""
        out = Path(out)
        if len(self.arms) == 1:
            res = next(iter(self.arms.values()))
            paths = [res.to_csv(out / "timecourse.csv"), res.to_netcdf(out / "timecourse.nc")]
        else:
            paths = [out / "timecourse.csv", out / "timecourse.nc"]
            self.to_dataframe().to_csv(paths[0], index=False, float_format="%.6g")
            self.to_xarray().to_netcdf(paths[1], engine="h5netcdf")
        import pandas as pd

        summary = pd.concat([res.summary().assign(arm=arm) for arm, res in self.arms.items()],
                            ignore_index=True)
        paths.append(out / "summary.csv")
        summary.to_csv(paths[-1], index=False, float_format="%.6g")
        paths.append(out / "endpoints.csv")
        self.endpoints().to_csv(paths[-1], float_format="%.6g")
        return paths

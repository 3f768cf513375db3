"""Results: labelled time courses with units and provenance, as pure data.

A :class:`SimulationResult` holds the solution at the report times a user asked for (every
``dt`` days) and at cordsim's analysis times (every 30 min on day 1, 0.1 day to day 7, 0.25
day after, and every dose time), so peaks, peak times and endpoint days come from the
solution whatever ``dt`` is; ``reported`` marks the user's grid, which tables show. It is
built from arrays by any engine (:meth:`SimulationResult.from_arrays`) or read back from
NetCDF (:meth:`SimulationResult.from_netcdf`): nothing here knows how it was computed beyond
its :class:`Provenance`.

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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cordsim._version import __version__
from cordsim.errors import ScenarioError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import xarray as xr

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
ENDPOINT_DAYS = (1, 7, 14, 28, 42, 70)
SENSITIVITY_VARIABLE = "sensitivity"  # NetCDF: (variable, parameter, time)


@dataclass(frozen=True)
class Provenance:
    """Where a result comes from: code, model, parameters, injury, protocol, solver."""

    model: str = ""
    model_hash: str = ""
    species: str = ""
    injury_severity_preset: str = ""
    injury_description: str = ""
    parameter_set: str = ""
    parameter_set_hash: str = ""
    parameter_changes: tuple[str, ...] = ()
    protocol: dict[str, Any] = field(default_factory=dict)
    perturbations: dict[str, float] = field(default_factory=dict)
    solver: dict[str, Any] = field(default_factory=dict)
    cordsim_version: str = __version__

    def to_attrs(self) -> dict[str, str]:
        """Flat text attributes (NetCDF-safe); structured fields as JSON."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value if isinstance(value, str) else json.dumps(
                list(value) if isinstance(value, tuple) else value)
        return out

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Provenance:
        """Inverse of :meth:`to_attrs` (unknown keys are ignored)."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in attrs:
                continue
            value = attrs[f.name]
            if f.name in ("parameter_changes", "protocol", "perturbations", "solver"):
                value = json.loads(value)
                value = tuple(value) if f.name == "parameter_changes" else value
            kwargs[f.name] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class SimulationResult:
    """Time courses of every state and output of one simulation.

    ``result[name]`` returns the array for a state, an output or ``time_day`` on the full
    solution grid; ``reported`` marks the rows on the user's report grid. A run with
    ``Solver(sensitivities=[...])`` also holds d(every variable)/d(each of
    ``sensitivity_names``) (:meth:`sensitivity`).
    """

    time: np.ndarray
    data: dict[str, np.ndarray]
    units: dict[str, str]
    descriptions: dict[str, str]
    provenance: Provenance = field(default_factory=Provenance)
    status: str = "ok"
    reported: np.ndarray | None = None
    sensitivity_names: tuple[str, ...] = ()
    sensitivity_nominal: tuple[float, ...] = ()  # each parameter's value in the run
    sensitivities: dict[str, np.ndarray] = field(default_factory=dict)  # (parameters x time)

    @classmethod
    def from_arrays(cls, time: np.ndarray, data: dict[str, np.ndarray], *, model: Any,
                    provenance: Provenance, status: str = "ok",
                    reported: np.ndarray | None = None) -> SimulationResult:
        """A result from raw arrays of a model's states and outputs (any engine)."""
        decls = {**model.states, **model.outputs}
        return cls(time=np.asarray(time, dtype=float), data=data,
                   units={k: decls[k].unit for k in data},
                   descriptions={k: decls[k].description for k in data},
                   provenance=provenance, status=status, reported=reported)

    @property
    def attrs(self) -> dict[str, str]:
        """Provenance and status as flat attributes (as in the NetCDF file)."""
        return {**self.provenance.to_attrs(), "time_unit": "day", "status": self.status}

    @property
    def ok(self) -> bool:
        """True if the solver reached the end time."""
        return self.status == "ok"

    @property
    def report_index(self) -> np.ndarray:
        """Indices of the rows on the user's report grid."""
        if self.reported is None:
            return np.arange(self.time.size)
        return np.flatnonzero(self.reported)

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "time_day":
            return self.time
        try:
            return self.data[name]
        except KeyError:
            hint = did_you_mean(name, self.data, cutoff=0.6)
            raise KeyError(f"no variable {name!r} in the result{hint}") from None

    def with_sensitivities(self, names: tuple[str, ...], nominal: Any,
                           sensitivities: dict[str, np.ndarray]) -> SimulationResult:
        """This result with forward sensitivities (variable -> parameters x times)."""
        return replace(self, sensitivity_names=tuple(names),
                       sensitivity_nominal=tuple(float(x) for x in nominal),
                       sensitivities={k: np.asarray(v, dtype=float)
                                      for k, v in sensitivities.items()})

    def sensitivity(self, variable: str, parameter: str, *, scale: str = "lin",
                    full: bool = False) -> np.ndarray:
        """d ``variable`` / d ``parameter`` on the report times (every solution point with
        ``full``), per unit of the parameter in its declared unit (a dose amount: per cell
        or particle; a dose start: per day); ``scale="log10"`` gives d variable / d log10
        parameter (the parameter's value times ln 10 times the former).

        Needs a run with ``Solver(sensitivities=[..., parameter])``.
        """
        if not self.sensitivity_names:
            raise ScenarioError("this result has no sensitivities: run with "
                                "Solver(sensitivities=[...])")
        if parameter not in self.sensitivity_names:
            raise ScenarioError(f"no sensitivity to {parameter!r}; this run has "
                                f"{', '.join(self.sensitivity_names)}")
        if scale not in ("lin", "log10"):
            raise ScenarioError(f"scale must be 'lin' or 'log10', got {scale!r}")
        if variable not in self.sensitivities:
            raise KeyError(f"no variable {variable!r} in the result"
                           f"{did_you_mean(variable, self.sensitivities, cutoff=0.6)}")
        j = self.sensitivity_names.index(parameter)
        values = self.sensitivities[variable][j]
        if scale == "log10":
            values = values * self.sensitivity_nominal[j] * np.log(10.0)
        return values if full else values[self.report_index]

    def at(self, name: str, day: float) -> float:
        """Value of a variable at a given day (linear interpolation between solution
        points; NaN beyond the end of the result)."""
        if self.time.size == 0 or day > self.time[-1] * (1 + 1e-12) or day < self.time[0]:
            return float("nan")
        return float(np.interp(day, self.time, self[name]))

    def __repr__(self) -> str:
        end = f"{self.time[-1]:g}" if self.time.size else "0"
        return (f"SimulationResult({self.provenance.injury_severity_preset or '?'} injury, "
                f"protocol {self.provenance.protocol.get('name', '?')!r}, days 0-{end}, "
                f"{len(self.data)} variables, status {self.status!r})")

    def _repr_html_(self) -> str:
        """A short table for notebooks: provenance, status and a few readouts."""
        rows = [("injury", self.provenance.injury_description or "?"),
                ("protocol", self.provenance.protocol.get("name", "?")),
                ("days", f"0-{self.time[-1]:g}" if self.time.size else "none"),
                ("status", self.status), ("variables", str(len(self.data))),
                ("parameter set", f"{self.provenance.parameter_set} "
                                  f"({self.provenance.parameter_set_hash})")]
        for name in ("bbb_score", "spared_tissue_fraction"):
            if name in self.data and self.time.size:
                rows.append((f"{name} at day {self.time[-1]:g}",
                             f"{self.data[name][-1]:.3g} {self.units.get(name, '')}"))
        return _html_table("SimulationResult", rows)

    def plot(self, *variables: str, ax: Any = None) -> Any:
        """Time courses of ``variables`` (default: the BBB score), one axis each unless
        ``ax`` is given; returns the matplotlib Figure (object API: no pyplot, no backend
        change)."""
        return _plot({"": self}, variables or ("bbb_score",), ax)

    # ------------------------------------------------------------------ exports
    def columns(self) -> list[str]:
        """Column order for tables: the documented ones first, then every other variable."""
        rest = [k for k in self.data if k not in TIMECOURSE_COLUMNS]
        return [*(c for c in TIMECOURSE_COLUMNS if c == "time_day" or c in self.data), *rest]

    def to_dataframe(self, *, full: bool = False) -> pd.DataFrame:
        """One row per report time (every solution point with ``full``), columns as in
        :data:`TIMECOURSE_COLUMNS` and then the rest."""
        import pandas as pd

        rows = slice(None) if full else self.report_index
        return pd.DataFrame({c: self[c][rows] for c in self.columns()})

    def to_xarray(self, *, full: bool = False) -> xr.Dataset:
        """Dataset on dimension ``time`` (days) with units, descriptions and provenance; the
        report grid, or every solution point with ``full`` (coordinate ``reported``)."""
        import xarray as xr

        rows = slice(None) if full else self.report_index
        coords: dict[str, Any] = {"time": ("time", self.time[rows],
                                           {"units": "day", "long_name": "time since injury"})}
        if full:
            mask = np.ones(self.time.size, bool) if self.reported is None else self.reported
            coords["reported"] = ("time", mask.astype(np.int8),
                                  {"long_name": "1 = on the report grid (dt), 0 = analysis "
                                                "time"})
        variables: dict[str, Any] = {
            k: ("time", v[rows], {"units": self.units[k], "long_name": self.descriptions[k]})
            for k, v in self.data.items()}
        if self.sensitivity_names:
            names = [k for k in self.data if k in self.sensitivities]
            coords["variable"] = ("variable", names)
            coords["parameter"] = ("parameter", list(self.sensitivity_names))
            coords["parameter_value"] = ("parameter", np.array(self.sensitivity_nominal),
                                         {"long_name": "value of the parameter in the run"})
            variables[SENSITIVITY_VARIABLE] = (
                ("variable", "parameter", "time"),
                np.stack([self.sensitivities[k][:, rows] for k in names]),
                {"long_name": "forward sensitivity d variable / d parameter (per unit of the "
                              "parameter; dose<k>_amount per cell or particle, dose<k>_start "
                              "per day)"})
        return xr.Dataset(variables, coords=coords, attrs=self.attrs)

    def to_csv(self, path: str | Path) -> Path:
        """Write the time course table at the report times (``timecourse.csv``)."""
        path = Path(path)
        self.to_dataframe().to_csv(path, index=False, float_format="%.6g")
        return path

    def to_netcdf(self, path: str | Path) -> Path:
        """Write every solution point as NetCDF-4 (``reported`` marks the report grid)."""
        path = Path(path)
        self.to_xarray(full=True).to_netcdf(path, engine="h5netcdf")
        return path

    @classmethod
    def from_xarray(cls, ds: xr.Dataset) -> SimulationResult:
        """A result from a Dataset written by :meth:`to_xarray` (``full=True`` keeps the
        analysis times)."""
        reported = (np.asarray(ds["reported"].values, dtype=bool) if "reported" in ds.coords
                    else None)
        names = [k for k in ds.data_vars if k != SENSITIVITY_VARIABLE]
        result = cls(time=np.asarray(ds["time"].values, dtype=float),
                     data={k: np.asarray(ds[k].values, dtype=float) for k in names},
                     units={k: str(ds[k].attrs.get("units", "")) for k in names},
                     descriptions={k: str(ds[k].attrs.get("long_name", "")) for k in names},
                     provenance=Provenance.from_attrs(dict(ds.attrs)),
                     status=str(ds.attrs.get("status", "ok")), reported=reported)
        if SENSITIVITY_VARIABLE in ds.data_vars:
            sens = ds[SENSITIVITY_VARIABLE].transpose("variable", "parameter", "time")
            result = result.with_sensitivities(
                tuple(str(p) for p in ds["parameter"].values), ds["parameter_value"].values,
                {str(v): np.asarray(sens.values[i], dtype=float)
                 for i, v in enumerate(ds["variable"].values)})
        return result

    @classmethod
    def from_netcdf(cls, path: str | Path, arm: str | None = None) -> SimulationResult:
        """Read a result written by :meth:`to_netcdf`, or one ``arm`` of a scenario's file
        (``timecourse.nc`` of a run of several arms)."""
        import xarray as xr

        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ds = ds.load()
        if "arm" not in ds.dims:
            if arm is not None:
                raise ScenarioError(f"{path} holds one run, not arms; read it without arm=")
            return cls.from_xarray(ds)
        arms = [str(a) for a in ds["arm"].values]
        if arm not in arms:
            raise ScenarioError(f"{path} holds {len(arms)} arms: pass arm= one of "
                                f"{', '.join(map(repr, arms))}" + ("" if arm is None else
                                                                   f" (got {arm!r})"))
        one = ds.sel(arm=arm).drop_vars("arm")
        first = next(k for k in one.data_vars if k != SENSITIVITY_VARIABLE)
        one = one.isel(time=np.flatnonzero(np.isfinite(one[first].values)))  # its own times
        by_arm = json.loads(ds.attrs.get("provenance_by_arm", "{}"))
        one.attrs = {**by_arm.get(arm, ds.attrs),
                     "status": json.loads(ds.attrs.get("status", "{}")).get(arm, "ok")}
        return cls.from_xarray(one)

    # ------------------------------------------------------------------ endpoints
    def _extreme(self, name: str, start: float, end: float | None,
                 pick: Any) -> tuple[float, float]:
        last = self.time[-1] if self.time.size else 0.0
        mask = (self.time >= start) & (self.time <= (last if end is None else end))
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return float("nan"), float("nan")
        i = idx[int(pick(self[name][idx]))]
        return float(self.time[i]), float(self[name][i])

    def peak(self, name: str, *, start: float = 0.0,
             end: float | None = None) -> tuple[float, float]:
        """(day, value) of the maximum of a variable within [start, end] days (NaN if the
        result does not reach ``start``)."""
        return self._extreme(name, start, end, np.argmax)

    def trough(self, name: str, *, start: float = 0.0,
               end: float | None = None) -> tuple[float, float]:
        """(day, value) of the minimum of a variable within [start, end] days."""
        return self._extreme(name, start, end, np.argmin)

    def summary(self) -> pd.DataFrame:
        """Endpoint table a biologist reads first: peaks, timings and outcomes (from the
        solution, not the report grid; NaN where the result ends too early)."""
        import pandas as pd

        end = float(self.time[-1]) if self.time.size else 0.0
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
        for day in ENDPOINT_DAYS:
            if day <= end:
                add(f"bscb_permeability_day{day}", self.at("bscb_permeability", day), "1",
                    f"BSCB permeability at day {day}")
        for day in ENDPOINT_DAYS:
            if day <= end:
                add(f"bbb_day{day}", self.at("bbb_score", day), "BBB points",
                    f"BBB locomotor score at day {day}")
        last = -1 if self.time.size else slice(0, 0)
        for name in ("spared_tissue_fraction", "lesion_volume_fraction", "neurons_fraction",
                     "oligodendrocytes_fraction", "scar_cspg", "scar_fibrotic"):
            value = float(self[name][last]) if self.time.size else float("nan")
            add(f"{name}_end", value, self.units[name],
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

    def __repr__(self) -> str:
        return f"ScenarioResult({self.name!r}, arms {list(self.arms)})"

    def _repr_html_(self) -> str:
        rows = [("scenario", self.name), ("arms", ", ".join(self.arms))]
        for arm, res in self.arms.items():
            if "bbb_score" in res.data and res.time.size:
                rows.append((f"{arm}: BBB at day {res.time[-1]:g}",
                             f"{res.data['bbb_score'][-1]:.3g} ({res.status})"))
        return _html_table("ScenarioResult", rows)

    def plot(self, *variables: str, ax: Any = None, difference: bool = False) -> Any:
        """Each variable over time, one line per arm (the same colour per arm as in every
        figure); ``difference=True`` draws each treated arm minus the first arm. Returns the
        matplotlib Figure."""
        return _plot(self.arms, variables or ("bbb_score",), ax,
                     control=self.control if difference else None)

    @property
    def control(self) -> str:
        """Name of the first arm, the reference of every difference."""
        return next(iter(self.arms))

    def to_dataframe(self) -> pd.DataFrame:
        """Stacked time courses at the report times, one block per arm, with an ``arm``
        column."""
        import pandas as pd

        frames = []
        for arm, res in self.arms.items():
            df = res.to_dataframe()
            df["arm"] = arm
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def to_xarray(self, *, full: bool = False) -> xr.Dataset:
        """Dataset on dimensions (arm, time); arms that stopped early are padded with NaN."""
        import xarray as xr

        sets = [res.to_xarray(full=full) for res in self.arms.values()]
        if len({SENSITIVITY_VARIABLE in d for d in sets}) > 1:  # only some arms have them
            sets = [d.drop_vars([SENSITIVITY_VARIABLE, "variable", "parameter",
                                 "parameter_value"], errors="ignore") for d in sets]
        protocols = [ds.attrs.get("protocol", "") for ds in sets]
        ds = xr.concat([d.drop_attrs(deep=False) for d in sets], dim="arm", join="outer",
                       data_vars="all", coords="minimal", compat="override")
        ds = ds.assign_coords(arm=("arm", list(self.arms)))
        if "reported" in ds.coords:  # a time any arm reports (not only the first arm's)
            times = ds["time"].values
            mask = np.zeros(times.size, bool)
            for d in sets:
                mask |= np.isin(times, d["time"].values[d["reported"].values.astype(bool)])
            ds = ds.assign_coords(reported=("time", mask.astype(np.int8),
                                            ds["reported"].attrs))
        ds.attrs = {k: v for k, v in sets[0].attrs.items() if k != "protocol"}
        ds.attrs["scenario"] = self.name
        ds.attrs["protocols"] = json.dumps(protocols)
        ds.attrs["status"] = json.dumps({a: r.status for a, r in self.arms.items()})
        # each arm's own provenance (parameter changes, perturbations, injury, hash); the
        # top-level attributes are the first arm's
        ds.attrs["provenance_by_arm"] = json.dumps(
            {a: d.attrs for a, d in zip(self.arms, sets, strict=True)})
        return ds

    def endpoints(self, endpoints: tuple = COMPARISON_ENDPOINTS) -> pd.DataFrame:
        """Endpoint table: one row per arm, with differences from the control arm (NaN where
        an arm stopped before the endpoint's day)."""
        import pandas as pd

        rows = []
        for arm, res in self.arms.items():
            row: dict[str, Any] = {"arm": arm}
            for name, when in endpoints:
                if when == "peak":
                    row[f"{name}_peak"] = res.peak(name)[1]
                else:
                    row[f"{name}_day{when:g}"] = res.at(name, float(when))
            rows.append(row)
        df = pd.DataFrame(rows).set_index("arm")
        ctrl = df.loc[self.control]
        for col in [c for c in df.columns if c.startswith("bbb_score")]:
            df[f"{col}_minus_{self.control}"] = df[col] - ctrl[col]
        return df.dropna(axis=1, how="all")



def _html_table(title: str, rows: list[tuple[str, str]]) -> str:
    import html

    body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table><caption>{html.escape(title)}</caption>{body}</table>"


def _plot(arms: dict[str, SimulationResult], variables: tuple[str, ...], ax: Any,
          control: str | None = None) -> Any:
    from matplotlib.figure import Figure

    from cordsim.run.palette import arm_colors

    colors = arm_colors(arms)
    if ax is not None and len(variables) > 1:
        raise ValueError("give one variable with ax=..., or no ax")
    fig = ax.figure if ax is not None else Figure(figsize=(4.5 * len(variables), 3.4),
                                                   layout="constrained")
    axes = [ax] if ax is not None else list(np.atleast_1d(fig.subplots(1, len(variables))))
    for a, name in zip(axes, variables, strict=True):
        for arm, res in arms.items():
            if arm == control:
                continue
            y = res[name]
            if control is not None:
                ref = arms[control]
                y = y - np.interp(res.time, ref.time, ref[name])
            a.plot(res.time, y, color=colors[arm], label=arm or None)
        unit = next(iter(arms.values())).units.get(name, "")
        a.set_ylabel(f"{name}{' minus ' + control if control else ''} ({unit})")
        a.set_xlabel("days after injury")
        a.grid(alpha=0.3)
        if any(arms):
            a.legend(fontsize=7)
    return fig

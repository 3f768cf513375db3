"""Packaged data: parameter sets, injury presets, products, species, scenarios, targets.

Everything is read on first use and cached (nothing is read at ``import cordsim``). Each
file carries its own sources; this module only finds and parses them.
"""

from __future__ import annotations

import hashlib
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from cordsim.core import ParameterSet
from cordsim.errors import ScenarioError, did_you_mean

DATA_DIR = Path(__file__).resolve().parent
SPECIES = ("rat",)


def data_path(*parts: str) -> Path:
    """Path of a packaged data file."""
    return DATA_DIR.joinpath(*parts)


def check_species(species: str) -> str:
    """Return ``species`` if cordsim has parameters for it, else raise a ScenarioError."""
    if species not in SPECIES:
        raise ScenarioError(f"unknown species {species!r}; allowed: {', '.join(SPECIES)}"
                            f"{did_you_mean(str(species), SPECIES)}")
    return species


@cache
def _toml(name: str) -> dict[str, Any]:
    return tomllib.loads(data_path(name).read_text())


def injury_presets() -> dict[str, dict[str, Any]]:
    """Injury presets (``injury_presets.toml``), keyed by severity name."""
    return _toml("injury_presets.toml")


def products() -> dict[str, dict[str, Any]]:
    """Product presets (``products.toml``), keyed by name."""
    return _toml("products.toml")


def species_facts() -> dict[str, dict[str, Any]]:
    """Species-level facts used outside the ODE model (``species.toml``: body weight)."""
    return _toml("species.toml")


def builtin_scenarios() -> dict[str, Path]:
    """Built-in scenario files by name."""
    return {p.stem: p for p in sorted(data_path("scenarios").glob("*.toml"))}


VALIDATION_EVERY = 3  # one source in three is held out for validation


def split_key(study: Any) -> str:
    """What the split hashes for a study: its pooled-source group (meta-analyses that pool
    overlapping studies are one source), else its DOI, else its id."""
    return str(study["source_group"] or study["doi"] or study["study"]).strip().lower()


def study_set(study: Any, *, groups_used: frozenset[str] = frozenset()) -> str:
    """The set a study belongs to, by the rule fixed before any fit: a study that designed a
    mechanism or set a parameter (``mechanism_source``: cited by a parameter, a submodel or
    a must-show line of the spec), or that shares a pooled-source group with one
    (``groups_used``), is ``calibration``; of the rest, one source in
    :data:`VALIDATION_EVERY` is ``validation``: the one whose SHA-256 of :func:`split_key`,
    read as an integer, is divisible by it. A study is wholly in one set.

    >>> study_set({"study": "X1999", "doi": "", "source_group": "", "mechanism_source": ""})
    'calibration'
    """
    if str(study["mechanism_source"]).strip() or (
            study["source_group"] and study["source_group"] in groups_used):
        return "calibration"
    digest = int(hashlib.sha256(split_key(study).encode()).hexdigest(), 16)
    return "validation" if digest % VALIDATION_EVERY == 0 else "calibration"


def studies() -> Any:
    """The studies and pooled sources of the dataset (``observations/studies.csv``), one row
    each, with the ``set`` the split rule gives it (:func:`study_set`)."""
    return _studies().copy()


@cache
def _studies() -> Any:
    import pandas as pd

    df = pd.read_csv(data_path("observations", "studies.csv"), dtype=str,
                     keep_default_na=False)
    groups = frozenset(df.loc[df["mechanism_source"].str.strip() != "", "source_group"]) - {""}
    df["set"] = [study_set(row, groups_used=groups) for _, row in df.iterrows()]
    return df


def measurements() -> Any:
    """Every row of the dataset (``observations/measurements.csv``: one number, check or
    record each, of one species, pointing to its study) with its study's ``set``, injury
    model and device. Read once per process; each call gets its own copy."""
    return _measurements().copy()


@cache
def _measurements() -> Any:
    import pandas as pd

    rows = pd.read_csv(data_path("observations", "measurements.csv"), dtype=str,
                       keep_default_na=False)
    cols = ["study", "set", "strain", "injury_model", "device", "design", "citation", "doi",
            "severity_label", "source_group"]
    merged = rows.merge(_studies()[cols], on="study", how="left", validate="many_to_one")
    missing = merged.loc[merged["set"].isna(), "study"].unique().tolist()
    if missing:
        raise ScenarioError(f"observations/measurements.csv names studies not in "
                            f"studies.csv: {missing}")
    merged["source"] = merged["citation"]
    return merged


def observations() -> Any:
    """The rows of the dataset cordsim checks or fits (the rat's: species ``rat``), with their
    set (:func:`measurements`); ``use`` says how: ``fit`` (through its observation model,
    ``observation_model``; a PEtab measurement when in the calibration set), ``check`` (an
    a-priori rule: ``comparison``, ``lo``, ``hi``), ``record`` (kept, not evaluated)."""
    df = measurements()
    return df[df["species"] == "rat"].reset_index(drop=True)


DATASET_COLUMNS = ("obs_id", "study", "set", "species", "injury", "condition", "observable",
                   "assay", "time_day", "value", "spread", "spread_type", "n", "unit",
                   "address", "location", "kind", "use", "observation_model", "product", "dose",
                   "dose_unit", "route", "schedule", "start_day", "group", "n_type", "strain",
                   "design", "citation", "doi", "quote", "note")


def dataset() -> Any:
    """The whole dataset as ``cordsim data --csv`` prints it: one row per number or check,
    ``injury`` naming the injury model and device of its study (and the preset a row runs
    when it has no study severity of its own)."""
    df = measurements()
    preset = df["injury"].where(df["injury"] == "", " (" + df["injury"] + " preset)")
    df["injury"] = (df["injury_model"] + ": " + df["device"]).str.strip(": ") + preset
    df["observable"] = df["observable"].where(df["observable"] != "", df["model"])
    return df[list(DATASET_COLUMNS)]


def is_quantitative(row: Any) -> bool:
    """A number with a unit and a spread type ("none" allowed): not an indicator, a direction
    or a peak day (those are checks, counted apart)."""
    unit = str(row["unit"]).strip().lower()
    if not unit or unit in ("day", "days") or any(
            w in unit for w in ("indicator", "binary", "direction")):
        return False
    try:
        float(row["value"])
    except (TypeError, ValueError):
        return False
    return bool(str(row["spread_type"]).strip()) and row["kind"] == "quantitative"


def assays() -> dict[str, Any]:
    """Observation models (``observations/assays.toml``): how each assay reads cordsim, and
    the observation parameters (scales, offsets, within-group SDs) they use."""
    return _toml("observations/assays.toml")


def variability() -> dict[str, Any]:
    """Between-animal variability of virtual cohorts (``calibration/variability.toml``): the
    spread matched, its source, and the settings that reproduce it."""
    return _toml("calibration/variability.toml")


def ensemble_members(n: int | None = None) -> Any:
    """Members of the shipped ensemble of fitted parameter values (``calibration/samples.csv``,
    drawn by the calibration, ``calibration/ensemble.json`` says how): ``n`` spread over the
    ensemble, or all; cordsim's parameters only."""
    df = _samples()
    # the model's parameters only (samples.csv also holds the problem's own: observation
    # parameters and study severities, which a scenario does not take)
    model = set(default_parameters().records)
    return spread_members(df[[c for c in df.columns if c in model]], n, "the members shipped")


def spread_members(df: Any, n: int | None, what: str) -> Any:
    """``n`` rows of ``df`` spread evenly over it (all with None), or a ScenarioError naming
    ``what`` the rows are when ``n`` is not 1 to their number."""
    import numpy as np

    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(df):
            raise ScenarioError(f"--ensemble must be an integer from 1 to {len(df)} ({what}), "
                                f"got {n!r}")
        df = df.iloc[np.linspace(0, len(df) - 1, n).round().astype(int)]
    return df.reset_index(drop=True)


@cache
def _samples() -> Any:
    """``calibration/samples.csv``, parsed once per process (callers get new frames)."""
    import pandas as pd

    path = data_path("calibration", "samples.csv")
    if not path.exists():
        raise ScenarioError("no ensemble ships with this version (calibration/samples.csv)")
    return pd.read_csv(path)


def default_parameters(species: str = "rat") -> ParameterSet:
    """The bundled default parameter set of a species (immutable, so loaded once)."""
    return _default_parameters(check_species(species))


@cache
def _default_parameters(species: str) -> ParameterSet:
    from cordsim.biology import CordModel

    return ParameterSet.load(data_path("parameter_sets", f"{species}.toml"), CordModel())

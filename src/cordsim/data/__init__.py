"""Packaged data: parameter sets, injury presets, products, species, scenarios, targets.

Everything is read on first use and cached (nothing is read at ``import cordsim``). Each
file carries its own sources; this module only finds and parses them.
"""

from __future__ import annotations

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


def observations() -> Any:
    """The observation dataset (``observations.csv``): one row per published observation with
    its source, the address it was read at, the set it belongs to (``calibration`` or
    ``validation``, fixed by source before any fit) and how it is used (``fit``: a PEtab
    measurement; ``check``: compared with an a-priori rule; ``record``: kept, not evaluated).
    Read once per process; each call gets its own copy."""
    return _observations().copy()


@cache
def _observations() -> Any:
    import pandas as pd

    return pd.read_csv(data_path("observations.csv"), dtype=str, keep_default_na=False)


def variability() -> dict[str, Any]:
    """Between-animal variability of virtual cohorts (``calibration/variability.toml``): the
    spread matched, its source, and the settings that reproduce it."""
    return _toml("calibration/variability.toml")


def ensemble_members(n: int | None = None) -> Any:
    """Members of the shipped ensemble of fitted parameter values (``calibration/samples.csv``,
    drawn from the calibration's posterior): ``n`` spread over the ensemble, or all."""
    import numpy as np

    df = _samples()
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(df):
            raise ScenarioError(f"--ensemble must be an integer from 1 to {len(df)} (the "
                                f"members shipped), got {n!r}")
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

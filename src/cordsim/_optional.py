"""Optional dependencies: a clear error naming the extra to install when one is missing."""

from __future__ import annotations

import importlib
from typing import Any

from cordsim.errors import CordsimError

EXTRAS = {"pyarrow": "cohort", "distributed": "cohort", "libsbml": "sbml", "libsedml": "sbml",
          "roadrunner": "sbml", "petab": "calibration", "pypesto": "calibration",
          "emcee": "calibration", "cma": "calibration",
          "SALib": "design", "optuna": "design", "fastapi": "app", "uvicorn": "app"}


def require(module: str, feature: str) -> Any:
    """Import ``module`` or raise :class:`CordsimError` saying which extra provides it.

    >>> require("math", "arithmetic").sqrt(4.0)
    2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(module, "all")
        raise CordsimError(f"{feature} needs the optional package {module!r}: "
                           f"pip install 'cordsim[{extra}]'") from None

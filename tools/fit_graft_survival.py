"""Fit the MSC graft-survival parameters and the T-cell rates that prime rejection to Nandoe
Tewarie 2009 and the calibration set's T-cell peak window, and write them into rat.toml.

    .venv/bin/python tools/fit_graft_survival.py          # fit, print, write
    .venv/bin/python tools/fit_graft_survival.py --dry    # fit and print only

The fit (cordsim.analysis.grafts.fit_graft_survival) runs the full model, so refit after a
change to the lesion's neutrophils, macrophages or T cells (1-6 min on 2 cores).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cordsim.analysis.calibration import write_parameter_set
from cordsim.analysis.grafts import fit_graft_survival

TOML = Path(__file__).resolve().parents[1] / "src/cordsim/data/parameter_sets/rat.toml"


def main() -> None:
    fit = fit_graft_survival()
    print(json.dumps({k: fit[k] for k in ("values", "residuals", "cost")}, indent=1))
    if "--dry" in sys.argv:
        return
    write_parameter_set(fit["values"], TOML, TOML, note="fitted by tools/fit_graft_survival.py")
    print(f"wrote {len(fit['values'])} values into {TOML}")


if __name__ == "__main__":
    main()

"""Sensitivity-analysis throughput: Morris and Sobol runs against a plain cohort.

    .venv/bin/python benchmarks/sensitivity.py [--cohort 2000] [--morris 10] [--sobol 256]

In one run on this machine, all cores: (1) a plain cohort of ``--cohort`` animals of the
default scenario's "fractionated sEV" arm; (2) Morris screening of the treatment effect
(fractionated sEV minus vehicle, BBB at day 70) over every parameter that varies between
animals, ``--morris`` trajectories; (3) Sobol on the 12 parameters Morris ranks highest,
``--sobol`` base samples. Prints simulations per second of each and the ratio to the plain
cohort: what the design, the Parquet streaming and SALib add to the engine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cordsim.analysis.sensitivity import (  # noqa: E402
    factors_of,
    model_evaluator,
    run_sensitivity,
    screened,
)
from cordsim.design.scenario import load_scenario  # noqa: E402
from cordsim.run.cohort import CohortSpec, run_cohort  # noqa: E402
from cordsim.run.scenarios import arm_simulation  # noqa: E402

ARM = "fractionated sEV"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cohort", type=int, default=2000)
    ap.add_argument("--morris", type=int, default=10)
    ap.add_argument("--sobol", type=int, default=256)
    args = ap.parse_args()
    scenario = load_scenario("default")
    index = [a.name for a in scenario.arms].index(ARM)
    sim = arm_simulation(scenario, scenario.arms[index])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        run_cohort(CohortSpec("default", n=args.cohort), Path(tmp) / "cohort", arms=[index])
        cohort_rate = args.cohort / (time.perf_counter() - t)
        rows.append(("plain cohort", args.cohort, cohort_rate))
        evaluate = model_evaluator("default", ARM, ["bbb_score@70"], effect=True)
        factors = factors_of(sim.parameters, sim.model)
        t = time.perf_counter()
        morris = run_sensitivity("morris", factors, evaluate, n=args.morris,
                                 out=Path(tmp) / "m")
        sims = 2 * morris.summary["runs"]
        rows.append((f"Morris ({len(factors)} parameters)", sims,
                     sims / (time.perf_counter() - t)))
        kept = screened(morris, 12)
        t = time.perf_counter()
        sobol = run_sensitivity("sobol", kept, evaluate, n=args.sobol, out=Path(tmp) / "s")
        sims = 2 * sobol.summary["runs"]
        rows.append((f"Sobol ({len(kept)} parameters)", sims, sims / (time.perf_counter() - t)))
    print(f"machine: {os.cpu_count()} cores; default scenario, {ARM} minus vehicle, 70 days")
    print(f"{'run':>28} {'sims':>7} {'sims/s':>8} {'vs cohort':>10}")
    for name, sims, rate in rows:
        print(f"{name:>28} {sims:>7} {rate:>8.1f} {rate / cohort_rate:>9.2f}x")


if __name__ == "__main__":
    main()

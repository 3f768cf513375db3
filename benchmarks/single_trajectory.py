"""Time one 70-day trajectory after model load, and compare engines.

    .venv/bin/python benchmarks/single_trajectory.py [--repeats 20]

Reports the median wall time of `Simulation.run(days=70)` (LSODA, the default engine)
next to the alternatives on the same generated right-hand side and Jacobian (SciPy's BDF
and Radau; cordsim's compiled BDF kernel), as ratios against the default measured in the
same run, and treated runs (three daily sEV doses: four integration segments). Model load
(sympy tracing, code generation or the disk cache, compile) is timed separately.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import cordsim  # noqa: E402
from cordsim.core import codegen  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()

    t0 = time.perf_counter()
    model = cordsim.CordModel()
    source, _ = codegen.generate_source(model.symbolic)
    t_codegen = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim = cordsim.Simulation(injury="moderate")
    t_load = time.perf_counter() - t0

    rows = []
    doses = cordsim.Protocol((cordsim.Dose("sev_naive", "2.4e10 particle", "iv", "daily",
                                           count=3, start=7),))
    for label, method, protocol in (("LSODA", "LSODA", None), ("BDF", "BDF", None),
                                    ("Radau", "Radau", None), ("compiled", "compiled", None),
                                    ("LSODA+3 doses", "LSODA", doses),
                                    ("compiled+3 doses", "compiled", doses)):
        s = cordsim.Simulation(injury="moderate", protocol=protocol,
                               solver=cordsim.Solver(method=method))
        s.run(days=70)  # warm-up (and, for "compiled", numba's compile or its disk cache)
        n = args.repeats if method in ("LSODA", "compiled") else max(3, args.repeats // 5)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            s.run(days=70)
            times.append(time.perf_counter() - t0)
        rows.append((label, statistics.median(times), min(times), max(times), n))
    ref = rows[0][1]
    print(f"model: {len(model.state_names)} states, {len(model.param_names)} parameters, "
          f"{len(model.output_names)} outputs")
    print(f"code generation from sympy (no cache): {t_codegen:.2f} s; "
          f"Simulation() load in this process: {t_load:.2f} s")
    print(f"{'engine':16} {'median ms':>10} {'min-max ms':>14} {'runs':>5} {'vs LSODA':>9}")
    for method, med, lo, hi, n in rows:
        print(f"{method:16} {1e3 * med:10.1f} {1e3 * lo:6.1f}-{1e3 * hi:<7.1f} {n:5d} "
              f"{med / ref:8.2f}x")
    assert sim is not None


if __name__ == "__main__":
    main()

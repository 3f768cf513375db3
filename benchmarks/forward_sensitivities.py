"""Cost of forward sensitivities: one simulation with sensitivities to 20 parameters against
one without, on the same warm engine.

    .venv/bin/python benchmarks/forward_sensitivities.py [--repeats 21] [--params 20]

The protocol: moderate injury, three daily IV sEV doses from day 7 (2.4e10 particles), 70
days, daily outputs. The parameters: the first ``--params`` that the shipped calibration
estimates (``data/calibration/estimated.tsv``). Plain and sensitivity runs alternate and the
ratio of their medians is printed, measured in the same run (timings on shared cores are
noisy: only the ratio is meant to travel). Two levels are timed: the engine
(``Simulation.solve`` against ``Simulation.solve_sensitivities``, which also carries the
sensitivities to every output) and the user's call (``Simulation.run`` with and without
``Solver(sensitivities=...)``, analysis times included).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import cordsim  # noqa: E402
from cordsim.io.petab import calibration_spec  # noqa: E402


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--params", type=int, default=20)
    args = ap.parse_args()
    names = list(calibration_spec()["parameterId"])[: args.params]
    protocol = cordsim.Protocol((cordsim.Dose("sev_naive", "2.4e10 particle", route="iv",
                                              schedule="daily", count=3, start=7),),
                                name="3 daily sEV doses")
    plain = cordsim.Simulation(injury="moderate", protocol=protocol)
    sens = cordsim.Simulation(injury="moderate", protocol=protocol,
                              solver=cordsim.Solver(sensitivities=names))
    days = np.arange(71.0)
    t0 = time.process_time()
    st = plain.solve_sensitivities(days, names)  # generates/compiles on a cold cache
    setup = time.process_time() - t0
    plain.run(days=70)
    sens.run(days=70)
    pairs = {
        "engine (solve vs solve_sensitivities)": (lambda: plain.solve(days),
                                                  lambda: plain.solve_sensitivities(days, names)),
        "user call (run vs run with sensitivities)": (lambda: plain.run(days=70),
                                                      lambda: sens.run(days=70)),
    }
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"(shared); protocol: {protocol.name}, 70 days; {len(names)} sensitivities; "
          f"first call (generation/compilation or cache) {setup:.1f} s; median of "
          f"{args.repeats} alternating repeats")
    for label, (a, b) in pairs.items():
        ta, tb = [], []
        for _ in range(args.repeats):
            ta.append(_median_ms(a, 1))
            tb.append(_median_ms(b, 1))
        ma, mb = statistics.median(ta), statistics.median(tb)
        print(f"{label}: plain {ma:.1f} ms, with sensitivities {mb:.1f} ms, ratio "
              f"{mb / ma:.2f}x")
    print(f"status {st.trajectory.status}; d bbb_score(day 70)/d {names[0]} = "
          f"{st.of('bbb_score')[0, -1]:.4g}")


if __name__ == "__main__":
    main()

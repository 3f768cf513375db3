"""Cohort throughput: cordsim's cohort engine vs libRoadRunner on cordsim's exported SBML.

    .venv/bin/python benchmarks/cohort.py [--sizes 1000 10000] [--check 200]

For each size n, in one run on this machine: (1) cordsim's cohort engine (the compiled BDF
kernel, ``Solver(method="compiled")``, a process per core, Parquet chunks) simulates n
animals of the default scenario's "fractionated sEV" arm; (2) libRoadRunner simulates the
same n parameter sets from the exported SBML in a process pool over all cores (one
RoadRunner per worker, same tolerances: rtol 1e-6 and each state's absolute tolerance,
``cordsim.io.sbml.absolute_tolerances``). It prints sims/s, the ratio, the peak
resident memory of each cohort (a fresh process per size, so memory can be compared across
sizes), and the agreement of the cohort endpoints (BBB at days 28 and 70, BSCB permeability
at day 14, spared tissue at day 70, lesion M2 share at day 14, serum TNF at day 10) on the
first ``--check`` animals.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cordsim.run.endpoints import DEFAULT_ENDPOINTS  # noqa: E402

ENDPOINTS = [(ep.readout, float(ep.day)) for ep in DEFAULT_ENDPOINTS]

ARM = 2  # "fractionated sEV" in scenarios/default.toml
CHECK_MAX = 200  # animals whose endpoints are compared between the engines


def _animals(n: int, seed: int = 1) -> list[dict[str, float]]:
    import cordsim
    from cordsim.run.cohort import CohortSpec, draw_animal, varied_parameters

    spec = CohortSpec("default", n=n, seed=seed)
    sc = cordsim.load_scenario("default")
    sim = cordsim.Simulation(injury=sc.injury, protocol=sc.arms[ARM].protocol)
    names = varied_parameters(sim.parameters)
    out = []
    for i in range(n):
        values = draw_animal(spec, ARM, i, sim.parameters, names, sim.parameters["injury_severity"])
        values.pop("_rater")
        out.append(values)
    return out


_RR = None


def _rr_init(sbml: str, atol: dict[str, float]) -> None:
    global _RR
    import roadrunner

    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)  # CVODE's event-time notes
    _RR = roadrunner.RoadRunner(sbml)
    _RR.integrator.relative_tolerance = 1e-6
    for state, value in atol.items():  # cordsim's own: 1e-9 of each state's typical scale
        _RR.integrator.setIndividualTolerance(state, value)
    _RR.timeCourseSelections = ["time", *dict.fromkeys(name for name, _ in ENDPOINTS)]


def _rr_one(values: dict[str, float]) -> list[float]:
    """One animal; the cohort's endpoints (``DEFAULT_ENDPOINTS``) from daily output."""
    assert _RR is not None
    _RR.resetAll()
    for k, v in values.items():
        _RR.setValue(k, v)
    _RR.reset()  # re-evaluates initial assignments with the animal's parameters
    out = _RR.simulate(0, 70, 71)
    cols = list(dict.fromkeys(name for name, _ in ENDPOINTS))
    return [float(out[int(day), 1 + cols.index(name)]) for name, day in ENDPOINTS]


def run_single(repeats: int) -> None:
    """Child process: one trajectory at a time, both engines, median ms."""
    import statistics

    import cordsim
    from cordsim.io.sbml import absolute_tolerances, export_sbml

    sc = cordsim.load_scenario("default")
    rows = []
    for label, protocol in (("untreated", sc.arms[0].protocol),
                            ("3 sEV doses", sc.arms[ARM].protocol)):
        sim = cordsim.Simulation(injury=sc.injury, protocol=protocol,
                                 solver=cordsim.Solver(method="compiled"))
        _rr_init(export_sbml(sim), absolute_tolerances(sim))
        days = np.arange(71.0)

        def one() -> None:  # as libRoadRunner's simulate(0, 70, 71): states and outputs daily
            traj = sim.solve(days)
            sim.compiled.outputs(traj.t, traj.y, traj.p)

        one()
        _rr_one({})
        times = {"cordsim": [], "roadrunner": []}
        for _ in range(repeats):
            t0 = time.perf_counter()
            one()
            times["cordsim"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _rr_one({})
            times["roadrunner"].append(time.perf_counter() - t0)
        med = {k: 1e3 * statistics.median(v) for k, v in times.items()}
        rows.append(f"single trajectory, {label}: cordsim {med['cordsim']:.1f} ms, "
                    f"libRoadRunner {med['roadrunner']:.1f} ms "
                    f"({med['roadrunner'] / med['cordsim']:.2f}x)")
    print("\n".join(rows))


def run_roadrunner(n: int) -> None:
    """Child process: simulate n animals with libRoadRunner; print JSON."""
    from concurrent.futures import ProcessPoolExecutor

    import cordsim
    from cordsim.io.sbml import absolute_tolerances, export_sbml

    sc = cordsim.load_scenario("default")
    sim = cordsim.Simulation(injury=sc.injury, protocol=sc.arms[ARM].protocol)
    sbml, atol = export_sbml(sim), absolute_tolerances(sim)
    animals = _animals(n)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count(), initializer=_rr_init,
                             initargs=(sbml, atol)) as pool:
        ends = list(pool.map(_rr_one, animals, chunksize=50))
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"wall": wall, "endpoints": ends[:CHECK_MAX],
                      "rss_mb": max(rss, rss_kids) / 1024}))


def run_cordsim(n: int, out: str) -> None:
    """Child process: run the cohort engine on the same animals; print JSON."""
    import shutil

    from cordsim.run.cohort import CohortSpec, read_animals, run_chunk, run_cohort

    Path(out).mkdir(parents=True, exist_ok=True)
    spec = CohortSpec("default", n=n, seed=1)  # same seed and arm: the same animals
    warm = Path(out) / "warm"  # fill numba's disk cache before timing
    run_chunk(CohortSpec("default", n=1, seed=99), ARM, 0, 1, str(warm))
    shutil.rmtree(warm)
    t0 = time.perf_counter()
    run_cohort(spec, Path(out) / "cohort", arms=[ARM])
    wall = time.perf_counter() - t0
    df = read_animals(Path(out) / "cohort")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cols = [f"{name}_day{day:g}" for name, day in ENDPOINTS]
    print(json.dumps({"wall": wall, "endpoints": df[cols].head(CHECK_MAX).values.tolist(),
                      "failed": int((df["status"] != "ok").sum()),
                      "rss_mb": max(rss, rss_kids) / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--check", type=int, default=CHECK_MAX)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        engine, n = args.child
        if engine == "single":
            run_single(int(n))
        elif engine == "roadrunner":
            run_roadrunner(int(n))
        else:
            run_cordsim(int(n), tempfile.mkdtemp(prefix="cordsim-bench-"))
        return
    print(f"machine: {os.cpu_count()} cores; arm: fractionated sEV (default scenario); "
          "rtol 1e-6, atol 1e-9; 70 days")
    single = subprocess.run([sys.executable, __file__, "--child", "single", "20"],
                            capture_output=True, text=True, check=True)
    print(single.stdout.strip())
    print(f"{'n':>7} {'engine':>10} {'wall s':>8} {'sims/s':>8} {'peak MB':>8} "
          f"{'vs RR':>6}")
    for n in args.sizes:
        res = {}
        for engine in ("roadrunner", "cordsim"):
            proc = subprocess.run([sys.executable, __file__, "--child", engine, str(n)],
                                  capture_output=True, text=True, check=True)
            res[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
        ref = n / res["roadrunner"]["wall"]
        for engine in ("roadrunner", "cordsim"):
            r = res[engine]
            rate = n / r["wall"]
            print(f"{n:7d} {engine:>10} {r['wall']:8.1f} {rate:8.1f} {r['rss_mb']:8.0f} "
                  f"{rate / ref:5.2f}x")
        a = np.array(res["cordsim"]["endpoints"][: args.check])
        b = np.array(res["roadrunner"]["endpoints"][: args.check])
        print(f"        agreement of {a.shape[1]} endpoints on {len(a)} animals: max relative "
              f"difference {np.max(np.abs(a - b) / np.abs(b)):.1e}")


if __name__ == "__main__":
    main()

"""The shipped calibration with exact gradients against finite differences (and, optionally,
pyPESTO with AMICI on the same PEtab problem).

    .venv/bin/python benchmarks/calibration_gradients.py [--starts 8] [--max-nfev 100]
        [--amici-python /path/to/python-with-amici-and-pypesto]

In one run on this machine, the shipped problem (``cordsim petab export``) is fitted by
``cordsim.analysis.calibration.fit`` (pyPESTO, multi-start ``ls_trf``, the shipped starts:
prior mean and seeded uniform draws) twice: with the exact Jacobian (forward sensitivities)
and with forward differences (every perturbed vector of a condition in one kernel call).
Each residual evaluation is logged, so the time to optimum is when the objective first came
within 0.1 of the best found by either. Both fits start warm (the kernels compiled). CPU
time of this process is reported beside wall time: the machine's cores are shared, and only
ratios measured in the same run are meant to travel.

With ``--amici-python``, ``benchmarks/amici_petab.py`` runs in that interpreter on the same
PEtab files and starts: AMICI's model import and compilation is timed separately, then
pyPESTO fits the problem with AMICI's forward sensitivities.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cordsim.analysis.calibration import PetabObjective, fit  # noqa: E402
from cordsim.io.petab import export_problem  # noqa: E402


def starts(objective: PetabObjective, n: int, seed: int) -> np.ndarray:
    """The starts ``fit`` uses (prior mean, then seeded uniform draws in the bounds)."""
    rng = np.random.default_rng(seed)
    guesses = [np.clip(objective.prior_mean, objective.lb, objective.ub)]
    guesses += [objective.lb + rng.random(objective.lb.size) * (objective.ub - objective.lb)
                for _ in range(n - 1)]
    return np.array(guesses)


def timed_fit(path: Path, gradient: str, n_starts: int, max_nfev: int, seed: int,
              spec_targets: bool = True) -> dict:
    obj = PetabObjective(path, gradient=gradient, spec_targets=spec_targets)
    obj.jacobian(obj.nominal)  # warm: kernels compiled, structural zeros found
    log: list[tuple[float, float]] = []
    calls = {"residuals": 0, "jacobian": 0}
    residuals, jacobian = obj.residuals, obj.jacobian
    t0 = time.perf_counter()
    c0 = time.process_time()

    def res(theta):  # noqa: ANN001, ANN202
        r = residuals(theta)
        calls["residuals"] += 1
        log.append((time.perf_counter() - t0, time.process_time() - c0, 0.5 * float(r @ r)))
        return r

    def jac(theta):  # noqa: ANN001, ANN202
        calls["jacobian"] += 1
        return jacobian(theta)

    obj.residuals, obj.jacobian = res, jac  # type: ignore[method-assign]
    result = fit(obj, n_starts=n_starts, seed=seed, max_nfev=max_nfev)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"gradient": gradient, "wall": wall, "cpu": cpu, "calls": calls,
            "best": float(result.starts["objective"].iloc[0]),
            "objectives": result.starts["objective"].tolist(), "log": log}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=8)
    ap.add_argument("--max-nfev", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--amici-python", default=None)
    ap.add_argument("--amici-only", action="store_true", help="skip cordsim's two fits")
    ap.add_argument("--no-spec-targets", action="store_true",
                    help="the PEtab problem alone (as AMICI sees it), without cordsim's spec "
                    "targets")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cordsim-calbench-"))
    path = export_problem(folder)
    if not args.amici_only:
        cordsim_fits(path, args)
    if args.amici_python:
        obj = PetabObjective(path, spec_targets=not args.no_spec_targets)
        at = obj.nominal
        r = obj.residuals(at)
        spec = {"yaml": str(path), "starts": starts(obj, args.starts, args.seed).tolist(),
                "names": obj.names, "max_nfev": args.max_nfev, "at": at.tolist(),
                "gradient": (obj.jacobian(at).T @ r).tolist()}
        (folder / "spec.json").write_text(json.dumps(spec))
        env = dict(os.environ)  # the environment's own executables (swig) on the PATH
        env["PATH"] = f"{Path(args.amici_python).parent}{os.pathsep}{env.get('PATH', '')}"
        proc = subprocess.run([args.amici_python, str(Path(__file__).with_name("amici_petab.py")),
                               str(folder / "spec.json")], capture_output=True, text=True,
                              env=env)
        print(proc.stdout.strip() or proc.stderr.strip()[-3000:])


def cordsim_fits(path: Path, args: argparse.Namespace) -> None:
    """cordsim's fit with exact and finite-difference Jacobians; prints the comparison."""
    runs = {g: timed_fit(path, g, args.starts, args.max_nfev, args.seed,
                         spec_targets=not args.no_spec_targets) for g in ("exact", "fd")}
    best = min(r["best"] for r in runs.values())
    what = "the PEtab problem alone" if args.no_spec_targets else "with the spec targets"
    print(f"machine: {os.cpu_count()} cores (shared); shipped problem ({what}), "
          f"{args.starts} starts, "
          f"ls_trf, max_nfev {args.max_nfev}; best objective over both {best:.4f}")
    for g, r in runs.items():
        hit = next((entry for entry in r["log"] if entry[2] <= best + 0.1), None)
        r["to_optimum_wall"], r["to_optimum_cpu"] = (hit[0], hit[1]) if hit else (np.nan,) * 2
        print(f"{g:>5}: best {r['best']:.4f}; {r['calls']['residuals']} residual and "
              f"{r['calls']['jacobian']} Jacobian evaluations; whole fit {r['wall']:.1f} s wall "
              f"({r['cpu']:.1f} s CPU); optimum (within 0.1) reached after "
              f"{r['to_optimum_wall']:.1f} s wall ({r['to_optimum_cpu']:.1f} s CPU)")
    e, f = runs["exact"], runs["fd"]
    print(f"ratio fd / exact: whole fit {f['wall'] / e['wall']:.2f}x wall "
          f"({f['cpu'] / e['cpu']:.2f}x CPU); to optimum "
          f"{f['to_optimum_wall'] / e['to_optimum_wall']:.2f}x wall "
          f"({f['to_optimum_cpu'] / e['to_optimum_cpu']:.2f}x CPU)")


if __name__ == "__main__":
    main()

"""pyPESTO with AMICI on cordsim's PEtab problem (run by ``calibration_gradients.py`` in an
environment that has ``amici``, ``swig`` and ``pypesto``, not cordsim's own).

    /path/to/amici-env/bin/python benchmarks/amici_petab.py SPEC.json

SPEC.json: ``yaml`` (the PEtab problem cordsim exported), ``starts`` (the same starts cordsim
uses, in parameter scale, in ``names`` order), ``max_nfev``, and optionally ``gradient`` /
``objective`` (cordsim's gradient of the negative log-posterior at ``at``) to compare AMICI's
forward sensitivities with. Prints AMICI's import-and-compile time (not counted in the fit),
the gradient agreement, and the fit: time, best objective, time to within 0.1 of its best.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import numpy as np


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    import petab.v1 as petab
    import pypesto
    import pypesto.optimize
    import pypesto.petab

    t0 = time.perf_counter()
    problem = petab.Problem.from_yaml(spec["yaml"])
    importer = pypesto.petab.PetabImporter(problem, output_folder=tempfile.mkdtemp(),
                                           model_name="cordsim_amici")
    pproblem = importer.create_problem()
    compile_s = time.perf_counter() - t0
    names = list(pproblem.x_names)
    free = [names.index(n) for n in spec["names"]]
    order = [pproblem.x_free_indices.index(i) for i in free]
    objective = pproblem.objective
    print(f"AMICI: model import and compilation {compile_s:.1f} s (not counted below)")
    if "at" in spec:
        x = np.asarray(spec["at"])
        xf = np.zeros(len(pproblem.x_free_indices))
        xf[order] = x
        t1 = time.perf_counter()
        fval, grad = pproblem.objective(xf, sensi_orders=(0, 1))
        one = time.perf_counter() - t1
        grad = np.asarray(grad)[order]
        ref = np.asarray(spec["gradient"])
        rel = np.abs(grad - ref) / np.maximum(np.abs(ref), 1e-8 * np.abs(ref).max())
        print(f"AMICI forward sensitivities: gradient of the objective against cordsim's, "
              f"largest relative difference {rel.max():.2e} (components > 1e-8 of the "
              f"largest); one objective + gradient evaluation {1e3 * one:.0f} ms")
    log: list[tuple[float, float]] = []
    start = time.perf_counter()

    class Logged(pypesto.objective.ObjectiveBase):  # noqa: D101
        pass

    fun = objective.__call__

    def logged(x, *args, **kwargs):  # noqa: ANN001, ANN202
        out = fun(x, *args, **kwargs)
        value = out[0] if isinstance(out, tuple) else out
        if isinstance(value, dict):
            value = value.get("fval", np.nan)
        log.append((time.perf_counter() - start, float(np.asarray(value).ravel()[0])))
        return out

    objective.__call__ = logged  # type: ignore[method-assign]
    guesses = np.zeros((len(spec["starts"]), len(pproblem.x_free_indices)))
    guesses[:, order] = np.asarray(spec["starts"])
    pproblem.set_x_guesses(guesses)
    # the optimiser cordsim uses (least squares, trust region reflective), where AMICI's
    # objective gives residuals and their sensitivities; else L-BFGS-B
    method = spec.get("method", "ls_trf")
    options = {"max_nfev": spec["max_nfev"]} if method.startswith("ls_") else \
        {"maxfun": spec["max_nfev"]}
    optimizer = pypesto.optimize.ScipyOptimizer(method=method, options=options)
    start = time.perf_counter()
    result = pypesto.optimize.minimize(pproblem, optimizer, n_starts=len(spec["starts"]),
                                       progress_bar=False)
    wall = time.perf_counter() - start
    fvals = [r.fval for r in result.optimize_result.list]
    best = min(fvals)
    hit = next((t for t, v in log if v <= best + 0.1), float("nan"))
    print(f"pyPESTO + AMICI ({method}, AMICI forward sensitivities, same starts): fit "
          f"{wall:.1f} s, best objective {best:.4f} (AMICI's normalization constants "
          f"included), optimum (within 0.1) after {hit:.1f} s")


if __name__ == "__main__":
    main()

"""Issue 22 (gradients): calibration's exact Jacobian of the PEtab residuals (forward
sensitivities, observables by the chain rule, the untreated twin included) against finite
differences; the optimizer's switch between exact and finite-difference Jacobians."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cordsim.analysis.calibration import PetabObjective
from cordsim.cli import main
from cordsim.errors import CordsimError


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    out = tmp_path_factory.mktemp("petab")
    assert main(["petab", "export", "--out", str(out)]) == 0
    return out / "cordsim_rat_calibration.yaml"


def test_exact_jacobian_matches_central_differences(problem):
    """Every residual row (natural history, a gain over the untreated twin for sEVs and for
    MSCs, the priors) and every estimated parameter, away from the nominal values."""
    exact = PetabObjective(problem)
    assert exact.gradient == "exact"
    rng = np.random.default_rng(3)
    theta = np.clip(exact.nominal + rng.normal(0, 0.1, exact.nominal.size), exact.lb + 1e-3,
                    exact.ub - 1e-3)
    jac = exact.jacobian(theta)
    h = 1e-5
    central = np.empty_like(jac)
    for i in range(theta.size):
        e = np.zeros(theta.size)
        e[i] = h
        central[:, i] = (exact.residuals(theta + e) - exact.residuals(theta - e)) / (2 * h)
    n = exact.n_measurements
    big = np.abs(central[:n]) > 1e-6 * np.abs(central[:n]).max()
    err = np.abs(jac[:n][big] - central[:n][big]) / np.abs(central[:n][big])
    # central differences of residuals at the solver's default tolerances carry ~1e-3 noise
    # on the entries whose column is nearly flat
    assert np.quantile(err, 0.99) < 1e-3 and err.max() < 1e-2
    assert np.allclose(jac[:n][~big], 0, atol=1e-5 * np.abs(central[:n]).max())
    nt = len(exact.targets)  # the spec targets' rows: forward differences themselves
    assert np.isfinite(jac[n:n + nt]).all()
    np.testing.assert_allclose(jac[n + nt:], central[n + nt:], rtol=1e-6)  # the priors: exact
    import pandas as pd

    observables = pd.read_csv(problem.parent / "observables.tsv", sep="\t")
    reads_twin = set(observables.loc[observables["observableFormula"].str.contains(
        "vehicle__"), "observableId"])  # a gain over the untreated twin
    twin = [i for i, o in enumerate(exact.measurements["observableId"]) if o in reads_twin]
    assert twin and np.abs(jac[twin]).max() > 0
    fd = PetabObjective(problem, gradient="fd").jacobian(theta)
    assert np.abs(fd - jac).max() < 0.02 * np.abs(jac).max()  # forward differences: ~1e-3


def test_gradient_switch(problem, tmp_path):
    with pytest.raises(CordsimError, match="gradient must be"):
        PetabObjective(problem, gradient="adjoint")
    import pickle

    fd = pickle.loads(pickle.dumps(PetabObjective(problem, gradient="fd")))
    assert fd.gradient == "fd"
    import shutil

    import pandas as pd

    small = tmp_path / "p"
    small.mkdir()
    for f in problem.parent.iterdir():
        shutil.copy(f, small / f.name)
    params = pd.read_csv(small / "parameters.tsv", sep="\t")
    own = ~params["parameterId"].isin(list(PetabObjective(problem).base.records))
    params.loc[own, "estimate"] = 0  # the problem's own parameters fixed at their values
    params[(params["parameterId"] == "k_locomotor_recovery") | own].to_csv(
        small / "parameters.tsv", sep="\t", index=False)
    meas = pd.read_csv(small / "measurements.tsv", sep="\t")
    meas[meas["observableId"] == "obs_bbb"].to_csv(small / "measurements.tsv", sep="\t",
                                                          index=False)
    best = {}
    for how in ("exact", "fd"):
        out = tmp_path / how
        assert main(["calibrate", str(small / problem.name), "--out", str(out), "--starts", "1",
                     "--max-nfev", "20", "--ensemble-draws", "200", "--no-spec-targets",
                     "--gradient", how]) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["gradient"] == how
        best[how] = summary["best_objective"]
    assert best["exact"] == pytest.approx(best["fd"], abs=1e-3)

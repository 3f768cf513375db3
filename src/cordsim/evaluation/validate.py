"""Literature validation: the natural-history claims (:mod:`cordsim.evaluation.claims`), the
review's experiments (spec Section 8, :mod:`cordsim.evaluation.experiments`), the sEV mass
balance and the observation dataset (:mod:`cordsim.evaluation.observations`), as one pass/fail
table with the set of each row: ``calibration`` (what the model was tuned or fitted to:
in-sample) or ``validation`` (sources never tuned to). Run with ``cordsim validate``;
``cordsim validate --ensemble N`` also gives each row's pass rate over N members of the
shipped posterior ensemble (:func:`validate_ensemble`). The ensemble draws only the parameters
the therapy calibration fits (the others keep their values): a row that fails for every member
fails for any values of those the calibration data allow; a row that passes for some members
is decided by them, and data that narrow them would decide it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from cordsim.core import ParameterSet
from cordsim.evaluation.checks import Check, Claim
from cordsim.evaluation.claims import CLAIMS, Runs
from cordsim.run.simulation import Simulation


def sev_mass_balance(parameters: ParameterSet | None = None) -> tuple[float, list[str]]:
    """Largest relative sEV mass-balance error over every route and schedule type."""
    from cordsim.design.dosing import Dose, Protocol

    doses = [Dose("sev_naive", "1e10 particle", route, "bolus", start=2)
             for route in ("iv", "intrathecal", "intralesional", "intranasal", "hydrogel")]
    doses += [Dose("sev_naive", "3e9 particle", "iv", "daily", start=1, count=3),
              Dose("sev_naive", "3e9 particle", "intrathecal", "times", start=1, times=(0, 2.5)),
              Dose("sev_naive", "1e10 particle", "iv", "infusion", start=1, duration=2),
              Dose("msc", "1e6 cell", "iv", "bolus", start=1)]
    worst, labels = 0.0, []
    for dose in doses:
        res = Simulation(parameters=parameters, injury="moderate",
                         protocol=Protocol((dose,), name="balance")).run(days=10)
        err = float(np.max(np.abs(res["sev_total"] - res["sev_input_total"]))
                    / np.max(res["sev_input_total"]))
        worst = max(worst, err)
        labels.append(f"{dose.route}/{dose.schedule}")
    return worst, labels


def validate(parameters: ParameterSet | None = None, *,
             claims: Iterable[Claim] = CLAIMS, experiments: bool = True,
             observations: bool = True, progress: bool = False):  # type: ignore[no-untyped-def]
    """Evaluate every claim, every experiment (by default) and the observation dataset.

    Returns a DataFrame (id, claim, source, set, kind, expected, simulated, pass, note).
    Claims, experiments and invariants are calibration-set (the model was tuned to them).
    """
    import pandas as pd
    from tqdm import tqdm

    runs = Runs(parameters)
    rows = []
    claims = list(claims)
    if experiments:
        from cordsim.evaluation.experiments import experiment_names, experiments, run_experiment

        def exp_claim(name: str) -> Claim:
            exp = experiments().get(name)

            def check(r: Runs) -> Check:
                return run_experiment(name, parameters=r.parameters)[1]

            title = exp.claim if exp else ("In-vitro sEV uptake: primed M2-like cells only "
                                           "(M0/M1/M2 x pH 7.4/6 x debris)")
            return Claim(f"experiment:{name}", title, exp.source if exp else "R[6,11]",
                         "the direction the review reports", check)

        def balance(r: Runs) -> Check:
            err, labels = sev_mass_balance(r.parameters)
            return Check(f"largest relative error {err:.1e} over {len(labels)} protocols",
                         err < 1e-6)

        claims += [exp_claim(n) for n in experiment_names()]
        claims.append(Claim("sev_mass_balance", "Every sEV is accounted for, in every route "
                            "and schedule", "spec 5 invariant", "relative error < 1e-6",
                            balance))
    for claim in tqdm(claims, desc="validate", unit="claim", disable=not progress):
        try:
            result = claim.check(runs)
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failed claim
            result = Check(f"error: {exc}", False)
        kind = ("experiment" if claim.id.startswith("experiment:") else
                "invariant" if claim.source.startswith("spec") and "invariant" in claim.source
                else "claim")
        rows.append({"id": claim.id, "claim": claim.claim, "source": claim.source,
                     "set": "calibration", "kind": kind,
                     "expected": result.expected or claim.expected,
                     "simulated": result.simulated,
                     "pass": bool(result.passed), "note": ""})
    table = pd.DataFrame(rows)
    if observations:
        from cordsim.evaluation.observations import check_observations

        table = pd.concat([table, check_observations(runs.parameters, progress=progress)],
                          ignore_index=True)
    return table


def validate_ensemble(n: int, parameters: ParameterSet | None = None, *,
                      progress: bool = False, **kwargs: object):  # type: ignore[no-untyped-def]
    """Validate ``n`` members of the shipped posterior ensemble (:func:`cordsim.data.
    ensemble_members`: the fitted parameters drawn from the calibration's posterior, every
    other parameter as in ``parameters``).

    Returns ``(rate, counts)``: each row's pass rate over the members (a Series in the order
    of :func:`validate`'s table), and each member's passes by set (a DataFrame, one row per
    member, one column per set). ``kwargs`` go to :func:`validate` (``claims``,
    ``experiments``, ``observations``).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from cordsim.core.parameters import apply_layers
    from cordsim.data import default_parameters, ensemble_members

    base = parameters or default_parameters()
    members = ensemble_members(n)
    passes, counts, ids = [], [], None
    for i, member in tqdm(list(members.iterrows()), desc="ensemble", unit="member",
                          disable=not progress):
        # a layer, as the shipped values are: a product's own values still apply on top
        drawn = apply_layers(base, [(f"ensemble member {i}", member.to_dict())])
        table = validate(drawn, **kwargs)
        if ids is None:
            ids = list(table["id"])
        elif list(table["id"]) != ids:  # the rows are fixed by the code and the dataset
            raise RuntimeError("validate gave different rows for two ensemble members")
        passes.append(table["pass"].to_numpy(dtype=bool))
        counts.append(table.groupby("set", sort=False)["pass"].sum().astype(int))
    rate = pd.Series(np.mean(passes, axis=0), name="ensemble_pass")
    return rate, pd.DataFrame(counts).reset_index(drop=True)

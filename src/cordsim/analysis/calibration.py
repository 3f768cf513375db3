"""Calibration: fit any PEtab v1 problem on cordsim's model with cordsim's compiled engine.

:class:`PetabObjective` reads a PEtab problem whose model is cordsim's SBML export (``cordsim
petab export``: the shipped problem, or a user's own conditions and measurements against it),
simulates each condition with the compiled kernel and returns the residuals of the PEtab
likelihood (normal noise) and of the parameters' priors, with their Jacobian: exact by
default, from the forward sensitivities the kernel solves with the states
(:func:`cordsim.run.sensitivity.solve_sensitivities`) and the observables' own derivatives
(chain rule), or by forward differences (``gradient="fd"``: every perturbed parameter vector
of a condition runs in one call of the kernel).
:func:`calibrate` hands it to pyPESTO (multi-start ``ls_trf``, seeded starts) and writes the
fitted parameter set, the fit table, the estimates with their uncertainty and figures.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cordsim.analysis.scales import from_scale, to_scale
from cordsim.analysis.uncertainty import bounded_sd, identifiability
from cordsim.errors import CordsimError, ParameterError

FD_STEP = 1e-4  # forward-difference step in parameter scale (log10 or linear)
GRADIENTS = ("exact", "fd")  # how PetabObjective.jacobian differentiates the residuals
FAILED_RESIDUAL = 1e3  # residual of a measurement whose simulation failed


@dataclass
class _Condition:
    cid: str
    treated: Any  # Simulation
    vehicle: Any  # Simulation or None
    times: np.ndarray
    refs: dict[str, str] = field(default_factory=dict)  # model parameter -> problem parameter
    rows: list[tuple[int, int, float]] = field(default_factory=list)  # (measurement, obs, t)


class PetabObjective:
    """Residuals of a PEtab problem simulated with cordsim (picklable: rebuilt from the YAML
    path in each process).

    Estimated parameters are cordsim parameters (set in every condition), or the problem's own
    parameters: a condition may name one in place of a number (a per-study injury severity,
    ``injury_severity = severity_Kloos2005``), and an observable formula may use one (an
    assay's scale or offset, a within-group SD of a standardized mean difference).

    Examples
    --------
    >>> import tempfile
    >>> from cordsim.io.petab import export_problem
    >>> obj = PetabObjective(export_problem(tempfile.mkdtemp()))
    >>> r = obj.residuals(obj.nominal)
    >>> r.size == obj.n_measurements + len(obj.targets) + len(obj.names)
    True
    """

    def __init__(self, yaml_path: str | Path, *, spec_targets: bool = True,
                 gradient: str = "exact") -> None:
        if gradient not in GRADIENTS:
            raise CordsimError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
        self.yaml_path = str(yaml_path)
        self.spec_targets = spec_targets
        self.gradient = gradient
        self._build()

    def __getstate__(self) -> dict[str, Any]:
        return {"yaml_path": self.yaml_path, "spec_targets": self.spec_targets,
                "gradient": self.gradient}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.yaml_path = state["yaml_path"]
        self.spec_targets = state.get("spec_targets", True)
        self.gradient = state.get("gradient", "exact")
        self._build()

    # ------------------------------------------------------------------ reading
    def _build(self) -> None:
        import sympy

        from cordsim.biology import CordModel
        from cordsim.core.parameters import apply_layers
        from cordsim.data import default_parameters
        from cordsim.io.formulas import parse_formula
        from cordsim.io.petab_checks import read_problem
        from cordsim.io.sbml import TWIN_PREFIX

        problem = read_problem(self.yaml_path)  # sizes, columns, values checked (exit 2)
        model = CordModel()
        notes = problem.sbml_model.getNotesString() if problem.sbml_model else ""
        if f"model hash {model.structure_hash}" not in notes:
            raise CordsimError(
                f"{self.yaml_path}: the SBML model is not cordsim's current model (hash "
                f"{model.structure_hash}); write the problem's model with 'cordsim petab "
                "export' and keep your own conditions and measurements")
        self.problem = problem
        self.model = model
        sbml_values = {p.getId(): p.getValue() for p in problem.sbml_model.getListOfParameters()
                       if p.getId() in model.params}
        pdf = problem.parameter_df
        _refuse_unsupported(problem)
        # a parameter the table fixes (estimate 0) takes its nominal value, as PEtab says
        fixed = {str(k): float(v) for k, v in pdf.loc[pdf["estimate"] == 0,
                                                       "nominalValue"].items()}
        self.base = apply_layers(default_parameters(), [
            ("PEtab model", sbml_values),
            ("PEtab parameter table", {k: v for k, v in fixed.items() if k in model.params})])
        self.fixed_extra = {k: v for k, v in fixed.items() if k not in model.params}
        est = pdf[pdf["estimate"] == 1]
        self.names = [str(n) for n in est.index]
        self.scales = list(est["parameterScale"])
        self.model_names = [n for n in self.names if n in model.params]
        self._index = {n: i for i, n in enumerate(self.names)}
        self.lb = np.array([to_scale(v, s) for v, s in zip(est["lowerBound"], self.scales,
                                                             strict=True)])
        self.ub = np.array([to_scale(v, s) for v, s in zip(est["upperBound"], self.scales,
                                                             strict=True)])
        nominal_values = {n: (self.base[n] if n in model.params else float(est.loc[n,
                                                                               "nominalValue"]))
                          for n in self.names}
        self.nominal = np.array([to_scale(nominal_values[n], s)
                                 for n, s in zip(self.names, self.scales, strict=True)])
        self.prior_mean, self.prior_sd = _priors(est, self.nominal, self.lb, self.ub)
        # the prior as it is within the bounds (what a posterior's width is compared with)
        self.prior_sd_bounded = np.array([bounded_sd(m, sd, lo, hi) for m, sd, lo, hi in zip(
            self.prior_mean, self.prior_sd, self.lb, self.ub, strict=True)])
        # observables: sympy formulas over model states/outputs, their untreated twin, and
        # the problem's own parameters
        known = set(model.state_names) | set(model.output_names)
        problem_params = set(self.names) | set(self.fixed_extra)
        self.observables: dict[str, tuple[Any, list[str]]] = {}
        self._exprs: dict[str, Any] = {}
        for oid, row in problem.observable_df.iterrows():
            # whitelist parser: a formula in a data file never runs as code (sympify would)
            expr = parse_formula(row["observableFormula"],
                                 known | {TWIN_PREFIX + n for n in known} | problem_params,
                                 what=f"observable {oid}")
            names = sorted(str(s) for s in expr.free_symbols)
            bad = [n for n in names
                   if n.removeprefix(TWIN_PREFIX) not in known and n not in problem_params]
            if bad:
                raise CordsimError(f"observable {oid}: {bad} are neither cordsim states or "
                                   "outputs nor parameters of the problem")
            self.observables[oid] = (sympy.lambdify(names, expr, "numpy"), names)
            self._exprs[oid] = expr
        self.obs_ids = list(self.observables)
        meas = problem.measurement_df.reset_index(drop=True)
        self.data = meas["measurement"].to_numpy(dtype=float)
        self.sigma = _noise(meas, problem.observable_df)
        self.measurements = meas
        self.n_measurements = len(meas)
        self.conditions = [self._condition(cid, problem.condition_df.loc[cid], meas,
                                           est_names=set(self.model_names))
                           for cid in dict.fromkeys(meas["simulationConditionId"])]
        # which estimated parameters change each condition's simulation (model parameters
        # and the problem parameters its table names); observation parameters change none
        model_idx = [self._index[n] for n in self.model_names]
        # the spec's must-show lines with a size (evaluation.targets), as residuals
        from cordsim.evaluation.targets import TARGETS

        self.targets = TARGETS if self.spec_targets else ()
        self._model_idx = model_idx
        self._sim_params = [sorted(set(model_idx) | {self._index[r] for r in c.refs.values()
                                                     if r in self._index})
                            for c in self.conditions]

    def _condition(self, cid: str, row: Any, meas: Any, *, est_names: set[str]) -> _Condition:
        from cordsim.design.dosing import DOSE_UNIT, Dose, Protocol, entry_of
        from cordsim.design.perturbations import Perturbation
        from cordsim.io.sbml import TWIN_PREFIX
        from cordsim.run.simulation import Simulation

        params: dict[str, float] = {}
        refs: dict[str, str] = {}
        perturbations = []
        slots: dict[tuple[str, str], dict[str, float]] = {}
        problem_params = set(self.names) | set(self.fixed_extra)
        for key, value in row.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            m = re.fullmatch(r"dose_(\w+?)_(\d+)_(time|amount)", str(key))
            if m:
                slots.setdefault((m.group(1), m.group(2)), {})[m.group(3)] = float(value)
            elif key in est_names:
                raise CordsimError(f"condition {cid}: {key} is estimated and set by the "
                                   "condition table; do one or the other")
            elif key in self.model.params:
                if isinstance(value, str) and not _is_number(value):
                    if value not in problem_params:
                        raise CordsimError(f"condition {cid}: {key} = {value!r} is neither a "
                                           "number nor a parameter of the problem")
                    if self.model.params[key].role == "experimental":
                        raise CordsimError(f"condition {cid}: an experimental manipulation "
                                           f"({key}) must be a number")
                    refs[key] = value
                elif self.model.params[key].role == "experimental":
                    perturbations.append(Perturbation(key, float(value)))
                else:
                    params[key] = float(value)
            else:
                raise CordsimError(f"condition {cid}: {key!r} is neither a cordsim parameter "
                                   "nor a dose slot")
        doses = []
        for (state, _), slot in sorted(slots.items()):
            if slot.get("amount", 0.0) > 0 and slot.get("time", 1e9) < 1e8:
                kind, route = entry_of(state)
                product = "msc" if kind == "cells" else "sev_naive"
                doses.append(Dose(product, f"{slot['amount']:.12g} {DOSE_UNIT[kind]}", route,
                                  start=slot["time"]))
        kinds = {d.product for d in doses}
        protocol = Protocol(tuple(doses), name=cid) if len(kinds) <= 1 else None
        if protocol is None:
            raise CordsimError(f"condition {cid}: doses of cells and vesicles together are not "
                               "supported")
        sub = meas[meas["simulationConditionId"] == cid]
        times = np.unique(np.concatenate([[0.0], sub["time"].to_numpy(dtype=float)]))
        uses_twin = any(n.startswith(TWIN_PREFIX) for oid in sub["observableId"]
                        for n in self.observables[oid][1])

        def sim(p: Protocol) -> Simulation:
            return Simulation(parameters=self.base, injury="moderate", protocol=p,
                              perturbations=perturbations, arm_parameters=params)

        cond = _Condition(cid, sim(protocol), sim(Protocol()) if uses_twin else None, times,
                          refs)
        for i, r in sub.iterrows():
            cond.rows.append((int(i), self.obs_ids.index(r["observableId"]), float(r["time"])))
        return cond

    # ------------------------------------------------------------------ simulating
    def values(self, theta: np.ndarray) -> dict[str, float]:
        """Values (declared units) of the estimated parameters of a vector in parameter
        scale."""
        return {n: from_scale(x, s) for n, x, s in zip(self.names, theta, self.scales,
                                                         strict=True)}

    def model_values(self, theta: np.ndarray) -> dict[str, float]:
        """The estimated cordsim parameters of a vector (what a parameter set takes)."""
        values = self.values(theta)
        return {n: values[n] for n in self.model_names}

    def _animal(self, cond: _Condition, values: dict[str, float]) -> dict[str, float]:
        animal = {n: values[n] for n in self.model_names}
        for param, ref in cond.refs.items():
            animal[param] = values[ref] if ref in values else self.fixed_extra[ref]
        return animal

    def _arrays(self, cond: _Condition, thetas: list[np.ndarray]) -> list[dict | None]:
        """States and outputs of a condition (and its untreated twin) at its times, one dict
        per parameter vector (None where a simulation failed)."""
        from cordsim.io.sbml import TWIN_PREFIX

        animals = [self._animal(cond, self.values(th)) for th in thetas]
        runs = {"": cond.treated.solve_batch(cond.times, animals)}
        if cond.vehicle is not None:
            runs[TWIN_PREFIX] = cond.vehicle.solve_batch(cond.times, animals)
        out: list[dict | None] = []
        for a in range(len(thetas)):
            arrays: dict[str, np.ndarray] = {}
            for prefix, trajs in runs.items():
                traj = trajs[a]
                if not traj.ok:
                    break
                sim = cond.treated if not prefix else cond.vehicle
                with np.errstate(all="ignore"):
                    outs = sim.compiled.outputs(traj.t, traj.y, traj.p)
                arrays.update({prefix + n: traj.y[i]
                               for i, n in enumerate(self.model.state_names)})
                arrays.update({prefix + n: outs[i]
                               for i, n in enumerate(self.model.output_names)})
            else:
                out.append(arrays)
                continue
            out.append(None)
        return out

    def _observe(self, cond: _Condition, arrays: dict | None, theta: np.ndarray,
                 out: np.ndarray) -> None:
        """Fill ``out`` (one row of measurements) with a condition's observables."""
        if arrays is None:
            return
        params = {**self.fixed_extra, **self.values(theta)}
        for m, o, t in cond.rows:
            k = int(np.searchsorted(cond.times, t))
            fn, names = self.observables[self.obs_ids[o]]
            with np.errstate(all="ignore"):
                out[m] = float(fn(*(arrays[n][k] if n in arrays else params[n]
                                    for n in names)))

    def simulate(self, thetas: list[np.ndarray]) -> np.ndarray:
        """Simulated measurements (rows: parameter vectors, columns: measurements); NaN
        where a simulation failed."""
        out = np.full((len(thetas), self.n_measurements), np.nan)
        for cond in self.conditions:
            for a, arrays in enumerate(self._arrays(cond, thetas)):
                self._observe(cond, arrays, thetas[a], out[a])
        return out

    def target_residuals(self, thetas: list[np.ndarray]) -> np.ndarray:
        """The spec targets' residuals (rows: parameter vectors): zero inside each target's
        range, the distance outside over its scale beyond (:mod:`cordsim.evaluation.targets`)."""
        if not self.targets:
            return np.zeros((len(thetas), 0))
        from cordsim.evaluation.targets import FIT_MARGIN, run_conditions

        runs = run_conditions([self.model_values(th) for th in thetas], parameters=self.base)
        out = np.array([[t.residual(series, margin=FIT_MARGIN) for t in self.targets]
                        for series in runs])
        out[~np.isfinite(out)] = FAILED_RESIDUAL
        return out

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """Data residuals (simulated - data) / sigma, the spec targets' residuals, then the
        priors'."""
        theta = np.asarray(theta, float)
        return self._residuals(self.simulate([theta])[0], theta,
                               self.target_residuals([theta])[0])

    def _residuals(self, sim: np.ndarray, theta: np.ndarray,
                   targets: np.ndarray) -> np.ndarray:
        r = (sim - self.data) / self.sigma
        r[~np.isfinite(r)] = FAILED_RESIDUAL
        return np.concatenate([r, targets,
                               (np.asarray(theta) - self.prior_mean) / self.prior_sd])

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d residuals / d theta (rows as :meth:`residuals`): exact (forward sensitivities)
        or by forward differences, as ``gradient`` says. The spec targets' rows come from
        forward differences in both (each moves only with cordsim's own parameters)."""
        if self.gradient == "exact":
            return self.exact_jacobian(theta)
        return self.fd_jacobian(theta)

    def exact_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d residuals / d theta from forward sensitivities: each condition (and its
        untreated twin) simulated once with sensitivities to the cordsim parameters that
        change it (the estimated ones and those its table ties to a problem parameter, such as
        a study's severity), the observables differentiated by the chain rule (observation
        parameters directly), then d p / d theta of each scale."""
        from cordsim.io.sbml import TWIN_PREFIX
        from cordsim.run.sensitivity import solve_sensitivities

        theta = np.asarray(theta, float)
        values = self.values(theta)
        params = {**self.fixed_extra, **values}
        sim = np.full(self.n_measurements, np.nan)
        dsim = np.zeros((self.n_measurements, theta.size))
        grads = self._observable_gradients()
        for cond in self.conditions:
            runs = {"": cond.treated}
            if cond.vehicle is not None:
                runs[TWIN_PREFIX] = cond.vehicle
            # the columns: each estimated cordsim parameter, then the referenced ones
            names = list(self.model_names) + [k for k, ref in cond.refs.items()
                                              if ref in self._index]
            column = ([self._index[n] for n in self.model_names]
                      + [self._index[cond.refs[k]] for k in names[len(self.model_names):]])
            arrays: dict[str, np.ndarray] = {}
            derivs: dict[str, np.ndarray] = {}
            ok = True
            for prefix, condition in runs.items():
                st = solve_sensitivities(condition, cond.times, names,
                                         values=self._animal(cond, values))
                if not st.ok:
                    ok = False
                    break
                for name in self._read:
                    arrays[prefix + name] = st.value(name)
                    derivs[prefix + name] = st.of(name)
            if not ok:
                continue  # failed: residual FAILED_RESIDUAL, no slope
            for m, o, t in cond.rows:
                k = int(np.searchsorted(cond.times, t))
                fn, fnames = self.observables[self.obs_ids[o]]
                args = [arrays[n][k] if n in arrays else params[n] for n in fnames]
                sim[m] = float(fn(*args))
                for name, dfn in zip(fnames, grads[self.obs_ids[o]], strict=True):
                    slope = float(dfn(*args))
                    if name in arrays:
                        dsim[m, column] += slope * derivs[name][:, k]
                    elif name in self._index:  # an estimated observation parameter
                        dsim[m, self._index[name]] += slope
        dp_dtheta = np.array([_dvalue_dscale(x, s) for x, s in zip(theta, self.scales,
                                                                   strict=True)])
        targets, target_jac = self._target_block(theta)
        jac = np.vstack([dsim * dp_dtheta[None, :] / self.sigma[:, None], target_jac,
                         np.diag(1.0 / self.prior_sd)])
        r = self._residuals(sim, theta, targets)
        jac[:self.n_measurements][r[:self.n_measurements] == FAILED_RESIDUAL] = 0.0
        return jac

    def _target_block(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The spec targets' residuals at ``theta`` and their Jacobian by forward differences
        (one kernel call per standard condition)."""
        n = theta.size
        if not self.targets:
            return np.zeros(0), np.zeros((0, n))
        steps = np.where(theta + FD_STEP <= self.ub, FD_STEP, -FD_STEP)
        moved = self.target_residuals(
            [theta] + [theta + np.eye(n)[i] * steps[i] for i in self._model_idx])
        jac = np.zeros((len(self.targets), n))
        for k, i in enumerate(self._model_idx):
            jac[:, i] = (moved[k + 1] - moved[0]) / steps[i]
        return moved[0], jac

    def _observable_gradients(self) -> dict[str, list[Any]]:
        """Each observable's derivative by each name it reads (sympy, lambdified), and which
        states and outputs the observables read (``_read``)."""
        if getattr(self, "_grads", None) is None:
            import sympy

            from cordsim.io.sbml import TWIN_PREFIX

            known = set(self.model.state_names) | set(self.model.output_names)
            self._grads = {}
            for oid in self.observables:
                expr = self._exprs[oid]
                names = self.observables[oid][1]
                self._grads[oid] = [sympy.lambdify(names, sympy.diff(expr, sympy.Symbol(n)),
                                                   "numpy") for n in names]
            self._read = sorted({n.removeprefix(TWIN_PREFIX)
                                 for _, names in self.observables.values() for n in names
                                 if n.removeprefix(TWIN_PREFIX) in known})
        return self._grads

    def fd_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d residuals / d theta by forward differences: each condition is simulated again
        only for the parameters that change it (one kernel call per condition); observation
        parameters only re-evaluate the formulas."""
        theta = np.asarray(theta, float)
        n = theta.size
        steps = np.where(theta + FD_STEP <= self.ub, FD_STEP, -FD_STEP)
        thetas = [theta + np.eye(n)[i] * steps[i] for i in range(n)]
        sims = np.full((n + 1, self.n_measurements), np.nan)
        for cond, idx in zip(self.conditions, self._sim_params, strict=True):
            arrays = self._arrays(cond, [theta] + [thetas[i] for i in idx])
            base = arrays[0]
            self._observe(cond, base, theta, sims[0])
            moved = dict(zip(idx, arrays[1:], strict=True))
            for i in range(n):
                self._observe(cond, moved.get(i, base), thetas[i], sims[i + 1])
        # the targets move with the model's parameters only
        moved_targets = self.target_residuals([theta] + [thetas[i] for i in self._model_idx])
        tg = np.repeat(moved_targets[:1], n + 1, axis=0)
        for k, i in enumerate(self._model_idx):
            tg[i + 1] = moved_targets[k + 1]
        r0 = self._residuals(sims[0], theta, tg[0])
        jac = np.empty((r0.size, n))
        for i in range(n):
            jac[:, i] = (self._residuals(sims[i + 1], thetas[i], tg[i + 1]) - r0) / steps[i]
        return jac

    def neg_log_posterior(self, theta: np.ndarray) -> float:
        """Half the sum of squared residuals (data and priors), up to a constant."""
        return float(self.neg_log_posteriors([theta])[0])

    def neg_log_posteriors(self, thetas: list[np.ndarray]) -> np.ndarray:
        """:meth:`neg_log_posterior` of several vectors, simulated in one kernel call per
        condition (how the ensemble sampler moves its walkers)."""
        thetas = [np.asarray(th, float) for th in thetas]
        sims = self.simulate(thetas)
        targets = self.target_residuals(thetas)
        return np.array([0.5 * float(r @ r) for r in
                         (self._residuals(sim, th, tg) for sim, th, tg in zip(
                             sims, thetas, targets, strict=True))])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _dvalue_dscale(x: float, scale: str) -> float:
    """d value / d x for a parameter at ``x`` in ``scale`` (lin, log, log10)."""
    value = from_scale(x, scale)
    return value * math.log(10.0) if scale == "log10" else value if scale == "log" else 1.0


def _refuse_unsupported(problem: Any) -> None:
    """A CordsimError naming any PEtab feature the objective does not implement (linear
    observables with normal noise whose SD is a number or the measurement's noise
    parameter; no pre-equilibration, no observable parameters), instead of ignoring it."""
    import pandas as pd

    def given(row: Any, column: str, default: str) -> str:  # an empty cell is the default
        value = row.get(column)
        return default if value is None or pd.isna(value) or not str(value).strip() \
            else str(value).strip()

    obs = problem.observable_df
    for oid, row in obs.iterrows():
        transform = given(row, "observableTransformation", "lin")
        noise = given(row, "noiseDistribution", "normal")
        if transform != "lin" or noise != "normal":
            raise CordsimError(f"observable {oid}: only a linear observable with normal noise "
                               f"is supported, got {transform} / {noise}")
        formula = str(row["noiseFormula"]).strip()
        try:
            float(formula)
        except ValueError:
            if formula != f"noiseParameter1_{oid}":
                raise CordsimError(f"observable {oid}: the noise formula must be a number or "
                                   f"noiseParameter1_{oid} (the measurement's SD), got "
                                   f"{formula!r}") from None
    meas = problem.measurement_df
    for column in ("preequilibrationConditionId", "observableParameters"):
        if any(given(row, column, "") for _, row in meas.iterrows()):
            raise CordsimError(f"measurement table: {column} is not supported by cordsim "
                               f"calibrate")


def _priors(est: Any, nominal: np.ndarray, lb: np.ndarray, ub: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean and SD in parameter scale (parameterScaleNormal), or a wide default."""
    means, sds = [], []
    for i, (_, row) in enumerate(est.iterrows()):
        kind = row.get("objectivePriorType", "")
        if isinstance(kind, str) and kind == "parameterScaleNormal":
            mean, sd = (float(v) for v in str(row["objectivePriorParameters"]).split(";"))
        elif isinstance(kind, str) and kind not in ("", "parameterScaleUniform", "uniform"):
            raise ParameterError(f"prior {kind!r} of {est.index[i]} is not supported "
                                 "(parameterScaleNormal or none)")
        else:
            mean, sd = nominal[i], (ub[i] - lb[i]) * 10  # effectively flat within bounds
        means.append(mean)
        sds.append(sd)
    return np.array(means), np.array(sds)


def _noise(meas: Any, observable_df: Any) -> np.ndarray:
    """Each measurement's SD: numeric noise formulas or numeric noiseParameters."""
    sigma = []
    for _, row in meas.iterrows():
        formula = str(observable_df.loc[row["observableId"], "noiseFormula"])
        try:
            sigma.append(float(formula))
            continue
        except ValueError:
            pass
        try:
            sigma.append(float(str(row["noiseParameters"]).split(";")[0]))
        except (KeyError, ValueError):
            raise CordsimError(f"measurement of {row['observableId']}: give the noise SD as a "
                               "number (noiseFormula or noiseParameters)") from None
    out = np.array(sigma)
    if not np.all(out > 0):
        raise CordsimError("noise SDs must be positive")
    return out


# ---------------------------------------------------------------------- fitting
@dataclass
class CalibrationResult:
    """Estimates of a calibration: the best vector, every start, uncertainty."""

    names: list[str]
    scales: list[str]
    best: np.ndarray
    starts: Any  # DataFrame: start, objective, x...
    covariance: np.ndarray
    prior_sd: np.ndarray
    seconds: float

    @property
    def values(self) -> dict[str, float]:
        """Every estimated parameter (cordsim's and the problem's own)."""
        return {n: from_scale(x, s) for n, x, s in zip(self.names, self.best, self.scales,
                                                         strict=True)}


def fit(objective: PetabObjective, *, n_starts: int = 8, seed: int = 0, max_nfev: int = 100,
        workers: int = 1, progress: bool = False,
        start: np.ndarray | None = None) -> CalibrationResult:
    """Multi-start least squares (pyPESTO, scipy's ``ls_trf`` with Jacobian-scaled steps)
    from ``start`` (scaled; default the prior mean) and from seeded uniform draws within the
    bounds."""
    import pandas as pd
    import pypesto
    import pypesto.optimize

    rng = np.random.default_rng(seed)
    first = objective.prior_mean if start is None else np.asarray(start, dtype=float)
    guesses = [np.clip(first, objective.lb, objective.ub)]
    guesses += [objective.lb + rng.random(objective.lb.size) * (objective.ub - objective.lb)
                for _ in range(n_starts - 1)]
    pyobj = pypesto.Objective(res=objective.residuals, sres=objective.jacobian,
                              x_names=objective.names)
    problem = pypesto.Problem(pyobj, lb=objective.lb, ub=objective.ub,
                              x_guesses=np.array(guesses), x_names=objective.names)
    # Jacobian-scaled steps: the parameters' scales differ by orders of magnitude. pyPESTO
    # hands least_squares its "maxfun" option as max_nfev (and overwrites a "max_nfev" key
    # with None, which let every fit run to scipy's default of 100 x parameters).
    optimizer = pypesto.optimize.ScipyOptimizer(method="ls_trf",
                                                options={"maxfun": max_nfev,
                                                         "x_scale": "jac"})
    engine = (pypesto.engine.MultiProcessEngine(n_procs=workers) if workers > 1
              else pypesto.engine.SingleCoreEngine())
    start = time.perf_counter()
    result = pypesto.optimize.minimize(problem, optimizer, n_starts=n_starts, engine=engine,
                                       progress_bar=progress)
    seconds = time.perf_counter() - start
    runs = result.optimize_result.list
    rows = [{"start": int(str(r.id).split("_")[-1]) if str(r.id).split("_")[-1].isdigit()
             else i, "objective": float(r.fval), "exitflag": r.exitflag,
             **dict(zip(objective.names, np.asarray(r.x), strict=True))}
            for i, r in enumerate(runs)]
    starts = pd.DataFrame(rows).sort_values("objective").reset_index(drop=True)
    best = np.asarray(runs[0].x, dtype=float)
    jac = objective.jacobian(best)
    info = jac.T @ jac
    covariance = np.linalg.pinv(info)
    return CalibrationResult(objective.names, objective.scales, best, starts, covariance,
                             objective.prior_sd, seconds)


# ---------------------------------------------------------------------- outputs
def write_parameter_set(values: dict[str, float], source_toml: Path, out: Path, *,
                        note: str, evidence: str | None = "fitted") -> Path:
    """A copy of a parameter file with new values (evidence ``evidence`` unless None, source
    ending with ``note``); every other line unchanged. ``out`` may be ``source_toml``: how
    the fitting tools in ``tools/`` write their results into the shipped file."""
    text = source_toml.read_text()
    for name, value in values.items():
        pattern = re.compile(rf"^({re.escape(name)} = \{{ value = )([^,]+)(,.*)$", re.MULTILINE)
        match = pattern.search(text)
        if not match:
            raise CordsimError(f"{name} not found in {source_toml}")
        rest = match.group(3)
        if evidence is not None:
            rest = re.sub(r'evidence = "[a-z]+"', f'evidence = "{evidence}"', rest)
        if note not in rest:
            rest = re.sub(r'source = "([^"]*)"', lambda m: f'source = "{m.group(1)}; {note}"',
                          rest, count=1)
        text = text[:match.start()] + f"{match.group(1)}{value:.6g}{rest}" + text[match.end():]
    out.write_text(text)
    return out


def fit_table(objective: PetabObjective, theta: np.ndarray) -> Any:
    """One row per measurement: data, SD, simulated, residual."""
    sim = objective.simulate([theta])[0]
    df = objective.measurements.copy()
    df["sigma"] = objective.sigma
    df["simulated"] = sim
    df["residual"] = (sim - objective.data) / objective.sigma
    return df


def estimates_table(objective: PetabObjective, best: np.ndarray, se: np.ndarray) -> Any:
    """One row per estimated parameter: value, bounds, prior, standard error and whether the
    data (not the prior) determine it: the Laplace posterior's SD over the prior's, both cut
    to the bounds (a parameter the data do not touch scores about 1)."""
    import pandas as pd

    rows = []
    for i, name in enumerate(objective.names):
        lo, hi = objective.lb[i], objective.ub[i]
        posterior = bounded_sd(best[i], se[i], lo, hi)
        ratio = posterior / objective.prior_sd_bounded[i]
        rows.append({
            "parameterId": name, "scale": objective.scales[i],
            "estimate": from_scale(best[i], objective.scales[i]),
            "estimate_scaled": best[i], "se_scaled": se[i],
            "prior_mean_scaled": objective.prior_mean[i], "prior_sd_scaled":
                objective.prior_sd[i], "prior_sd_within_bounds": objective.prior_sd_bounded[i],
            "posterior_sd_within_bounds": posterior, "posterior_to_prior_sd": ratio,
            "determined_by": identifiability(ratio),
            "lower": from_scale(lo, objective.scales[i]),
            "upper": from_scale(hi, objective.scales[i]),
            "at_bound": bool(min(best[i] - lo, hi - best[i]) < 1e-3),
        })
    return pd.DataFrame(rows)


def add_ensemble_widths(estimates: Any, objective: PetabObjective, samples: Any) -> Any:
    """``estimates`` with the ensemble's view: each parameter's SD over the posterior
    ensemble (``samples``, declared units) over its prior's within the bounds."""
    scaled = np.column_stack([[to_scale(v, s) for v in samples[name]]
                              for name, s in zip(objective.names, objective.scales,
                                                 strict=True)])
    ratio = scaled.std(axis=0) / objective.prior_sd_bounded
    return estimates.assign(ensemble_to_prior_sd=ratio,
                            determined_by_ensemble=[identifiability(r) for r in ratio])


def start_point(objective: PetabObjective, path: str | Path) -> np.ndarray:
    """The scaled start a previous fit's ``estimates.csv`` (``parameterId``, ``estimate`` in
    declared units) gives; a parameter the file lacks starts at its prior mean. A name the
    problem does not estimate, a missing column or a value outside the bounds is refused."""
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise CordsimError(f"start file {path}: cannot read it as CSV ({err})") from err
    missing = {"parameterId", "estimate"} - set(table.columns)
    if missing:
        raise CordsimError(f"start file {path}: missing column(s) {sorted(missing)} "
                           "(expected a calibration's estimates.csv)")
    index = {n: i for i, n in enumerate(objective.names)}
    x = np.array(objective.prior_mean, dtype=float)
    for name, value in zip(table["parameterId"], table["estimate"], strict=True):
        if name not in index:
            raise CordsimError(f"start file {path}: {name!r} is not estimated in this problem")
        i = index[name]
        if not np.isfinite(value):
            raise CordsimError(f"start file {path}: {name} = {value} is not a number")
        scaled = to_scale(float(value), objective.scales[i])
        if not objective.lb[i] - 1e-9 <= scaled <= objective.ub[i] + 1e-9:
            raise CordsimError(f"start file {path}: {name} = {value} lies outside its bounds "
                               f"[{from_scale(objective.lb[i], objective.scales[i]):g}, "
                               f"{from_scale(objective.ub[i], objective.scales[i]):g}]")
        x[i] = scaled
    return x


def calibrate(yaml_path: str | Path, out: str | Path, *, n_starts: int = 8, seed: int = 0,
              max_nfev: int = 100, workers: int = 1, progress: bool = False,
              samples: int = 0, ensemble: str = "laplace", ensemble_steps: int | None = None,
              ensemble_draws: int | None = None, spec_targets: bool = True,
              gradient: str = "exact", start: str | Path | None = None,
              ensemble_vary: str = "therapy") -> CalibrationResult:
    """Fit a PEtab problem and write into ``out``: ``estimates.csv`` (every estimated
    parameter, the study severities and observation parameters included, with standard errors
    and identifiability), ``fit.csv``, ``targets.csv`` (the spec targets at the fit),
    ``starts.csv``, ``rat.toml`` (the parameter set with the estimates), ``samples.csv`` (the
    ensemble: ``laplace``, importance-resampled draws of a widened Laplace approximation, or
    ``emcee``, the affine-invariant ensemble sampler; diagnostics in ``ensemble.json``),
    ``summary.json`` and figures (fit against data with the data's SD; waterfall of the starts;
    identifiability), ``prior_predictive.csv`` (what the priors alone imply for the therapy's
    gains). ``samples`` > 0 also runs an MCMC chain of that length (``mcmc_*``).
    ``gradient``: the optimizer's Jacobian, ``exact`` (forward sensitivities) or ``fd``
    (forward differences). ``start``: a previous fit's ``estimates.csv`` whose estimates
    are the first start (parameters it lacks start at the prior mean): to refine or resume a
    fit. ``ensemble_vary``: what the Laplace ensemble varies, ``therapy`` (the therapy's
    parameters the problem estimates, :data:`~cordsim.analysis.uncertainty.THERAPY_PARAMETERS`,
    the rest at the fit; all when it estimates none of them) or ``all``."""
    import pandas as pd

    from cordsim._optional import require
    from cordsim.analysis.uncertainty import (
        ENSEMBLE_STEPS,
        LAPLACE_DRAWS,
        THERAPY_PARAMETERS,
        laplace_ensemble,
        posterior_ensemble,
        prior_predictive,
        sample_posterior,
    )
    from cordsim.data import data_path
    from cordsim.io.plotting import plot_calibration, plot_identifiability

    if ensemble_vary not in ("therapy", "all"):
        raise CordsimError(f"ensemble_vary must be 'therapy' or 'all', got {ensemble_vary!r}")
    if ensemble not in ("laplace", "emcee"):
        raise CordsimError(f"ensemble must be 'laplace' or 'emcee', got {ensemble!r}")
    if ensemble == "emcee":
        require("emcee", "the calibration's ensemble")  # before the fit, not after it
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    objective = PetabObjective(yaml_path, spec_targets=spec_targets, gradient=gradient)
    first = None if start is None else start_point(objective, start)
    result = fit(objective, n_starts=n_starts, seed=seed, max_nfev=max_nfev, workers=workers,
                 progress=progress, start=first)
    table = fit_table(objective, result.best)
    table.to_csv(out / "fit.csv", index=False, float_format="%.6g")
    target_table(objective, result.best).to_csv(out / "targets.csv", index=False,
                                                float_format="%.6g")
    se = np.sqrt(np.clip(np.diag(result.covariance), 0, None))
    estimates = estimates_table(objective, result.best, se)
    estimates.to_csv(out / "estimates.csv", index=False, float_format="%.6g")
    result.starts.to_csv(out / "starts.csv", index=False, float_format="%.6g")
    name = Path(yaml_path).stem
    write_parameter_set({k: v for k, v in result.values.items() if k in objective.model_names},
                        data_path("parameter_sets", "rat.toml"), out / "rat.toml",
                        note=f"fitted by cordsim calibrate ({name})")
    summary = {"problem": str(yaml_path), "gradient": gradient, "n_starts": n_starts,
               "seed": seed,
               "max_nfev": max_nfev, "seconds": round(result.seconds, 1),
               "spec_targets": spec_targets,
               "best_objective": float(result.starts["objective"].iloc[0]),
               "starts_within_1_of_best": int((result.starts["objective"]
                                               < result.starts["objective"].iloc[0] + 1).sum()),
               "estimates": result.values}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    plot_calibration(table, result.starts, out)
    plot_identifiability(estimates, out / "fig_identifiability.png")
    if objective.model_names:  # what the priors alone imply for the gains
        summary["prior_predictive"] = prior_predictive(objective, result.best, out,
                                                       seed=seed).to_dict("records")
    if ensemble == "emcee":
        summary["ensemble"] = posterior_ensemble(
            objective, result.best, out, seed=seed,
            steps=ENSEMBLE_STEPS if ensemble_steps is None else ensemble_steps,
            progress=progress)
    else:
        varied = ([n for n in THERAPY_PARAMETERS if n in objective.names] or None
                  if ensemble_vary == "therapy" else None)
        summary["ensemble"] = laplace_ensemble(
            objective, result.best, result.covariance, out, seed=seed,
            draws=LAPLACE_DRAWS if ensemble_draws is None else ensemble_draws,
            names=varied)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    estimates = add_ensemble_widths(estimates, objective, pd.read_csv(out / "samples.csv"))
    estimates.to_csv(out / "estimates.csv", index=False, float_format="%.6g")
    if samples:
        sample_posterior(objective, result.best, samples, out, seed=seed)
    return result


def target_table(objective: PetabObjective, theta: np.ndarray) -> Any:
    """One row per spec target: its range and the value at ``theta``."""
    import pandas as pd

    from cordsim.evaluation.targets import run_conditions, target_values

    if not objective.targets:
        return pd.DataFrame(columns=["target", "text", "lo", "hi", "value", "inside"])
    series = run_conditions([objective.model_values(theta)], parameters=objective.base)[0]
    values = target_values(series)
    return pd.DataFrame([{"target": t.name, "text": t.text, "source": t.source, "lo": t.lo,
                          "hi": t.hi, "value": values[t.name],
                          "inside": bool(t.lo <= values[t.name] <= t.hi)}
                         for t in objective.targets])

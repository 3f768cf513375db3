"""Forward sensitivities: d(states)/d(theta) solved with the states by the compiled BDF kernel.

A sensitivity parameter theta_j is a direction in the protocol's inputs: a model parameter
(in every segment), a dose amount (the state jumps of its boluses, or an infusion's rate) or
a dose time (the events it moves). :class:`Directions` holds those derivatives segment by
segment; :func:`integrate_sensitivities` runs the kernel (:func:`cordsim.numerics.bdf.
sens_kernel`: the staggered direct method of CVODES, sharing the states' Newton matrix) on
the model's generated derivatives (:func:`sensitivity_functions`: df/dp, dy0/dp and the
outputs' derivatives, generated from the same sympy form as the right-hand side and Jacobian
and cached like them); :func:`output_sensitivities` carries the states' sensitivities to the
outputs by the chain rule.

Each sensitivity is integrated in its own unit (per unit of theta_j) with the absolute
tolerance of the states divided by ``|theta_j|`` (CVODES's ``pbar`` scaling), so that a
parameter of 1e-5 and one of 1e9 are resolved alike.

Examples
--------
>>> import numpy as np, cordsim
>>> from cordsim.numerics.sensitivity import Directions
>>> d = Directions.zeros(("k",), segments=2, states=3, params=4)
>>> d.dparams.shape, d.djumps.shape
((2, 1, 4), (3, 1, 3))
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cordsim.core.codegen import generate_sensitivity_source
from cordsim.core.model import Model
from cordsim.numerics import sparse_lu
from cordsim.numerics.cache import (
    cache_dir,
    compile_checked,
    import_module,
    read_source,
    source_module,
    write_source,
)
from cordsim.numerics.compile import kernel_functions, python_functions
from cordsim.numerics.solvers import Integration, Solver, _integration


@dataclass(frozen=True)
class SensitivityFunctions:
    """A model's derivatives for forward sensitivities, each as non-zeros with a pattern.

    ``dfdp``: numba C callback of d rhs / d p (``rhs``'s signature; rows ``dfdp_rows``,
    columns ``dfdp_cols``); ``jac_rows``, ``jac_cols``: the Jacobian's structural non-zeros;
    ``initial_dp(p)``: d y0 / d p (``init_rows``, ``init_cols``); ``outputs_dy(t, Y, p)`` and
    ``outputs_dp(t, Y, p)``: d outputs / d states and / d p over times (non-zeros x times).
    """

    dfdp: Callable
    dfdp_rows: np.ndarray
    dfdp_cols: np.ndarray
    jac_rows: np.ndarray
    jac_cols: np.ndarray
    initial_dp: Callable
    init_rows: np.ndarray
    init_cols: np.ndarray
    outputs_dy: Callable
    out_dy_rows: np.ndarray
    out_dy_cols: np.ndarray
    outputs_dp: Callable
    out_dp_rows: np.ndarray
    out_dp_cols: np.ndarray


def sensitivity_source(model: Model) -> str:
    """Generated source of the model's sensitivity derivatives, from the disk cache when
    present and intact (generated the first time: ~20 s for the cord model)."""
    path = cache_dir() / f"model_sens_{model.structure_hash}.py"
    text = read_source(path)
    if text is not None:
        return text
    source = generate_sensitivity_source(model.symbolic)
    write_source(path, source)  # best effort: a cache only saves time
    return source


_FUNCTIONS: dict[str, SensitivityFunctions] = {}


def _pattern(namespace: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    return (np.array(namespace[f"{name}_ROW"], dtype=np.int64),
            np.array(namespace[f"{name}_COL"], dtype=np.int64))


def sensitivity_functions(model: Model) -> SensitivityFunctions:
    """The model's sensitivity derivatives: Python for the outputs and initial values, numba
    for df/dp (cached per model structure, in memory and on disk)."""
    key = model.structure_hash
    if key in _FUNCTIONS:
        return _FUNCTIONS[key]
    from cordsim.numerics import bdf

    source = sensitivity_source(model)
    namespace: dict[str, object] = {"math": math, "np": np}
    exec(compile(source, f"<cordsim-sensitivities {key}>", "exec"), namespace)  # noqa: S102
    name = f"cordsim_sens_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    module = import_module(name, source_module(name, source))
    dfdp = bdf.cfunc(module.dfdp, bdf.RHS_SIGNATURE, error_model="numpy")
    compile_checked([(dfdp, None)])
    n = len(model.state_names)
    pattern = sparse_lu.jacobian_pattern(python_functions(model).source, n)
    jac_rows, jac_cols = (np.ascontiguousarray(a, dtype=np.int64) for a in np.nonzero(pattern))
    fns = SensitivityFunctions(
        dfdp, *_pattern(namespace, "DFDP"), jac_rows, jac_cols,
        namespace["initial_dp"], *_pattern(namespace, "INITIAL_DP"),  # type: ignore[arg-type]
        namespace["outputs_dy"], *_pattern(namespace, "OUTPUTS_DY"),  # type: ignore[arg-type]
        namespace["outputs_dp"], *_pattern(namespace, "OUTPUTS_DP"))  # type: ignore[arg-type]
    _FUNCTIONS[key] = fns
    return fns


@dataclass
class Directions:
    """How each sensitivity parameter theta_j enters a protocol of ``segments`` segments.

    ``dparams[s, j]``: d(parameters of segment s)/d theta_j; ``djumps[s, j]``: d(state jump at
    cut s)/d theta_j (one row more than segments: the last is the jump at the end time);
    ``dcuts[s, j]``: d(cut s)/d theta_j for an event that moves with theta_j, whose own state
    jump and parameter change are ``ev_dy[s, j]`` and ``ev_dp[s, j]``; ``param_index[j]``: the
    model parameter theta_j is (its initial values' dependence), or -1; ``nominal[j]``: the
    value of theta_j (its tolerance scale and ``log10`` sensitivities).
    """

    names: tuple[str, ...]
    dparams: np.ndarray
    djumps: np.ndarray
    dcuts: np.ndarray
    ev_dy: np.ndarray
    ev_dp: np.ndarray
    param_index: np.ndarray
    nominal: np.ndarray

    @classmethod
    def zeros(cls, names: tuple[str, ...], *, segments: int, states: int,
              params: int) -> Directions:
        """No dependence on anything yet (fill the arrays in place)."""
        ns = len(names)
        return cls(names=tuple(names), dparams=np.zeros((segments, ns, params)),
                   djumps=np.zeros((segments + 1, ns, states)), dcuts=np.zeros((segments, ns)),
                   ev_dy=np.zeros((segments, ns, states)),
                   ev_dp=np.zeros((segments, ns, params)),
                   param_index=np.full(ns, -1, dtype=np.int64), nominal=np.ones(ns))


def initial_sensitivities(fns: SensitivityFunctions, p: np.ndarray, directions: Directions,
                          n: int) -> np.ndarray:
    """d y0 / d theta_j (sensitivities x states): the initial values' dependence on the model
    parameters among the thetas."""
    s0 = np.zeros((len(directions.names), n))
    values = np.asarray(fns.initial_dp(p), dtype=float)
    for j, k in enumerate(directions.param_index):
        if k >= 0:
            hit = fns.init_cols == k
            s0[j, fns.init_rows[hit]] = values[hit]
    return s0


_ZEROS: dict[tuple, frozenset[int]] = {}


def structurally_zero(model: Model, zero_states: frozenset[int], zero_params: frozenset[int],
                      candidates: frozenset[int]) -> frozenset[int]:
    """The model parameters among ``candidates`` whose sensitivities are zero at all times
    when the states ``zero_states`` start at zero (and receive no dose) and the parameters
    ``zero_params`` are zero throughout: e.g. every sEV parameter in an untreated animal.

    The states that stay zero are found symbolically (a state starting at zero whose rate
    vanishes when all of them are zero, for any values of the other parameters); a
    parameter's sensitivities are then zero if its derivative df/dp vanishes there for every
    other state and it does not set an initial value. Cached per pattern.
    """
    import sympy

    key = (model.structure_hash, zero_states, zero_params, candidates)
    if key in _ZEROS:
        return _ZEROS[key]
    sym = model.symbolic
    subs: dict = {sym.param_symbols[k]: 0 for k in zero_params}
    stay = set(zero_states)
    changed = True
    while changed:  # drop the states a non-zero state or parameter can drive
        changed = False
        repl = {**subs, **{sym.state_symbols[i]: 0 for i in stay}}
        for i in sorted(stay):
            if sympy.sympify(sym.rhs[i]).xreplace(repl) != 0:
                stay.discard(i)
                changed = True
    repl = {**subs, **{sym.state_symbols[i]: 0 for i in stay}}
    zero = set()
    for k in candidates:
        if k in zero_params:
            continue  # (perturbing it would wake what its zero keeps asleep)
        p = sym.param_symbols[k]
        if any(p in sympy.sympify(e).free_symbols for e in sym.initial):
            continue
        if all(i in stay or p not in sym.rhs[i].free_symbols
               or sympy.diff(sym.rhs[i], p).xreplace(repl) == 0
               for i in range(len(sym.rhs))):
            zero.add(k)
    _ZEROS[key] = frozenset(zero)
    return _ZEROS[key]


def _prunable(model: Model, y0s: np.ndarray, jumps: np.ndarray, params: np.ndarray,
              directions: Directions) -> np.ndarray:
    """Which sensitivities are structurally zero in these runs (:func:`structurally_zero`;
    only model parameters, for every animal)."""
    plain = [j for j, k in enumerate(directions.param_index) if k >= 0
             and not directions.djumps[:, j].any() and not directions.dcuts[:, j].any()]
    out = np.zeros(len(directions.names), dtype=bool)
    if not plain:
        return out
    zero_states = frozenset(np.flatnonzero(~(y0s != 0).any(axis=0) & ~(jumps != 0).any(axis=0))
                            .tolist())
    zero_params = frozenset(np.flatnonzero(~(params != 0).any(axis=(0, 1))).tolist())
    by_param = {int(directions.param_index[j]): j for j in plain}
    for k in structurally_zero(model, zero_states, zero_params, frozenset(by_param)):
        out[by_param[k]] = True
    return out


def _subset(directions: Directions, keep: np.ndarray) -> Directions:
    return Directions(names=tuple(n for n, k in zip(directions.names, keep, strict=True) if k),
                      dparams=directions.dparams[:, keep], djumps=directions.djumps[:, keep],
                      dcuts=directions.dcuts[:, keep], ev_dy=directions.ev_dy[:, keep],
                      ev_dp=directions.ev_dp[:, keep], param_index=directions.param_index[keep],
                      nominal=directions.nominal[keep])


def integrate_sensitivities(model: Model, y0s: np.ndarray, cuts: np.ndarray,
                            jumps: np.ndarray, params: np.ndarray, directions: Directions,
                            t_eval: np.ndarray, solver: Solver, atol: np.ndarray
                            ) -> list[tuple[Integration, np.ndarray]]:
    """Run a protocol with forward sensitivities for several animals in one kernel call
    (arguments as :func:`cordsim.numerics.solvers.integrate_batch`, plus the
    ``directions``). Returns, per animal, the states' integration and the sensitivities
    (sensitivities x states x times reached), per unit of each theta. Sensitivities that are
    structurally zero (:func:`structurally_zero`) are not integrated."""
    zero = _prunable(model, y0s, jumps, params, directions)
    if zero.any():
        kept = _integrate(model, y0s, cuts, jumps, params, _subset(directions, ~zero),
                          t_eval, solver, atol)
        out = []
        for integ, sens in kept:
            full = np.zeros((len(directions.names), *sens.shape[1:]))
            full[~zero] = sens
            out.append((integ, full))
        return out
    return _integrate(model, y0s, cuts, jumps, params, directions, t_eval, solver, atol)


def _integrate(model: Model, y0s: np.ndarray, cuts: np.ndarray, jumps: np.ndarray,
               params: np.ndarray, directions: Directions, t_eval: np.ndarray, solver: Solver,
               atol: np.ndarray) -> list[tuple[Integration, np.ndarray]]:
    from cordsim.numerics import bdf

    f = kernel_functions(model)
    fns = sensitivity_functions(model)
    m, n = y0s.shape
    ns = len(directions.names)
    s0s = np.ascontiguousarray([initial_sensitivities(fns, params[a, 0], directions, n)
                                for a in range(m)], dtype=float).reshape(m, ns, n)
    # each sensitivity's absolute tolerance: the states' over |theta_j| (CVODES's pbar)
    pbar = np.where(np.abs(directions.nominal) > 0, np.abs(directions.nominal), 1.0)
    atol_all = np.concatenate([atol, (atol[:, None] / pbar[None, :]).ravel()])  # state-major
    out = np.empty((m, len(t_eval), n * (1 + ns)))
    info = np.zeros((m, bdf.N_INFO), dtype=np.int64)
    reached = np.zeros(m)
    c = np.ascontiguousarray
    with np.errstate(all="ignore"):
        bdf.sens_kernel()(
            f.rhs, f.jac, *f.lu, fns.dfdp, fns.jac_rows, fns.jac_cols, fns.dfdp_rows,
            fns.dfdp_cols, c(y0s, dtype=float), s0s, c(cuts, dtype=float), c(jumps, dtype=float),
            c(directions.djumps[:-1]), c(directions.dcuts), c(directions.ev_dy),
            c(directions.ev_dp), c(params, dtype=float), c(directions.dparams),
            c(t_eval, dtype=float), float(solver.rtol), c(atol_all, dtype=float),
            int(solver.max_steps), float(solver.max_step),
            bool(solver.sensitivity_error_control), out, info, reached)
    results = []
    for a in range(m):
        integ = _integration(out[a, :, :n], info[a], reached[a], t_eval, solver)
        k = integ.t.size
        sens = out[a, :k, n:].reshape(k, n, ns).transpose(2, 1, 0).copy()
        if integ.success:  # jumps at the end time show in the last output
            sens[:, :, -1] += directions.djumps[-1]
        results.append((integ, sens))
    return results


def output_sensitivities(fns: SensitivityFunctions, t: np.ndarray, y: np.ndarray,
                         p: np.ndarray, sens: np.ndarray, dp: np.ndarray, n_outputs: int, *,
                         param_columns: np.ndarray) -> np.ndarray:
    """d outputs / d theta (outputs x sensitivities x times) by the chain rule: d g/d y . s +
    d g/d p . dp, with ``y`` and ``p`` (states, parameters x times), ``sens`` (sensitivities x
    states x times) and ``dp`` (sensitivities x ``param_columns`` x times: d(those parameters
    in force)/d theta; every other parameter's is zero)."""
    ns, _, k = sens.shape
    out = np.zeros((n_outputs, ns, k))
    if k == 0:
        return out
    with np.errstate(all="ignore"):
        gy = np.broadcast_to(np.asarray(fns.outputs_dy(t, y, p), dtype=float),
                             (fns.out_dy_rows.size, k))
        gp = np.broadcast_to(np.asarray(fns.outputs_dp(t, y, p), dtype=float),
                             (fns.out_dp_rows.size, k))
    for q in range(fns.out_dy_rows.size):  # one product per non-zero: (sens. x times)
        out[fns.out_dy_rows[q]] += gy[q] * sens[:, fns.out_dy_cols[q], :]
    position = {int(c): i for i, c in enumerate(param_columns)}
    for q in np.flatnonzero(np.isin(fns.out_dp_cols, param_columns)):
        out[fns.out_dp_rows[q]] += gp[q] * dp[:, position[int(fns.out_dp_cols[q])], :]
    return out


_NAME = re.compile(r"^dose(\d+)_(amount|start)$")


def dose_sensitivity_name(name: str) -> tuple[int, str] | None:
    """``("dose2_amount")`` -> ``(1, "amount")``: a dose line's (0-based) and what of it; None
    for any other name."""
    match = _NAME.match(name)
    if not match or int(match.group(1)) < 1:
        return None
    return int(match.group(1)) - 1, match.group(2)

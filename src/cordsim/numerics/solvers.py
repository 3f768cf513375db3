"""ODE solver settings and integration: the compiled BDF kernel (default) or SciPy.

Every method gets the analytic Jacobian. ``"compiled"`` runs a whole protocol in one call
of cordsim's BDF integrator (:mod:`cordsim.numerics.bdf`) on the model's numba-compiled
functions; SciPy's LSODA, BDF and Radau (``solve_ivp``) remain as references. The choice was
measured by ``benchmarks/single_trajectory.py`` and ``benchmarks/cohort.py``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from cordsim.core.model import Model
from cordsim.errors import ScenarioError
from cordsim.numerics.compile import CompiledModel

METHODS = ("LSODA", "BDF", "Radau", "compiled")


@dataclass(frozen=True)
class Solver:
    """Integration method and tolerances (time in days).

    ``atol`` is per unit of each state's typical magnitude (``Model.state_scales``): state
    ``i`` is integrated with absolute tolerance ``atol * scale[i]`` in its own unit.

    ``sensitivities``: parameters (model parameter names, or ``dose<k>_amount`` and
    ``dose<k>_start`` for the protocol's k-th dose line, from 1) whose forward sensitivities
    the compiled engine solves with the states (``SimulationResult.sensitivity``);
    ``sensitivity_error_control`` also puts them in the error test (smaller steps, more
    accurate sensitivities; CVODES's ``errconS``).

    Examples
    --------
    >>> Solver(method="BDF", rtol=1e-8).method
    'BDF'
    >>> Solver(sensitivities=["k_sev_uptake"]).sensitivities
    ('k_sev_uptake',)
    """

    method: str = "compiled"  # numba BDF kernel (~30 s to compile once per machine, cached
    # on disk), or SciPy's "LSODA", "BDF", "Radau"
    rtol: float = 1e-6
    atol: float = 1e-9
    max_step: float = math.inf  # days
    max_steps: int = 200_000  # step attempts per protocol, compiled kernel (~1,000 typical)
    sensitivities: tuple[str, ...] = ()  # forward sensitivities (compiled engine only)
    sensitivity_error_control: bool = False

    def __post_init__(self) -> None:
        names = self.sensitivities
        if isinstance(names, str) or not isinstance(names, list | tuple) \
                or not all(isinstance(x, str) and x for x in names):
            raise ScenarioError(f"solver sensitivities must be a list of parameter names, got "
                                f"{names!r}"[:300])
        if len(set(names)) != len(names):
            raise ScenarioError(f"solver sensitivities name a parameter twice: {list(names)}")
        object.__setattr__(self, "sensitivities", tuple(names))
        if names and self.method != "compiled":
            raise ScenarioError(f"sensitivities are solved by the compiled engine only, not "
                                f"{self.method!r}")
        if not isinstance(self.sensitivity_error_control, bool):
            raise ScenarioError("solver sensitivity_error_control must be true or false")
        if self.method not in METHODS:
            raise ScenarioError(f"unknown solver method {self.method!r}; allowed: "
                                f"{', '.join(METHODS)}")
        for name in ("rtol", "atol", "max_step"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not value > 0 or (name != "max_step" and not math.isfinite(value))):
                raise ScenarioError(f"solver {name} must be a positive number, got {value!r}")
        if not 1e-13 <= self.rtol <= 0.1:
            raise ScenarioError(f"solver rtol must lie in [1e-13, 0.1], got {self.rtol!r}")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) \
                or not 1 <= self.max_steps <= 10_000_000:
            raise ScenarioError(f"solver max_steps must be an integer in [1, 1e7], got "
                                f"{self.max_steps!r}")

    def as_dict(self) -> dict[str, object]:
        """Settings as a plain dict (recorded in results; the sensitivity settings only when
        sensitivities are asked for)."""
        out = asdict(self)
        if not self.sensitivities:
            del out["sensitivities"], out["sensitivity_error_control"]
        else:
            out["sensitivities"] = list(self.sensitivities)
        return out


@dataclass(frozen=True)
class Integration:
    """Raw integration output: times reached, states (states x times), status and message."""

    t: np.ndarray
    y: np.ndarray
    success: bool
    message: str
    nfev: int
    nonfinite: tuple[int, ...] = ()
    t_reached: float = float("nan")  # how far the solver got (the last output time if unknown)


def integrate(compiled: CompiledModel, y0: np.ndarray, p: np.ndarray, t_eval: np.ndarray,
              solver: Solver, atol: np.ndarray) -> Integration:
    """Integrate from ``t_eval[0]`` to ``t_eval[-1]`` with a SciPy method; on failure keep
    the points reached. ``atol``: absolute tolerance of each state."""
    from scipy.integrate import solve_ivp  # only the SciPy reference methods need it


    def fun(t: float, y: np.ndarray) -> np.ndarray:
        return compiled.rhs(t, y, p)

    def jac(t: float, y: np.ndarray) -> np.ndarray:
        return compiled.jac(t, y, p)

    with np.errstate(all="ignore"):
        sol = solve_ivp(fun, (float(t_eval[0]), float(t_eval[-1])), y0, method=solver.method,
                        t_eval=t_eval, jac=jac, rtol=solver.rtol, atol=atol,
                        max_step=solver.max_step)
    t = np.asarray(sol.t, dtype=float)
    y = np.asarray(sol.y, dtype=float).reshape(len(y0), -1)
    finite = np.all(np.isfinite(y), axis=0)
    if not np.all(finite):  # keep the points computed before the first non-finite value
        first_bad = int(np.argmin(finite))
        bad_states = np.flatnonzero(~np.isfinite(y[:, first_bad]))
        t, y = t[:first_bad], y[:, :first_bad]
        return Integration(t=t, y=y, success=False, nfev=int(sol.nfev),
                           message="non-finite state values",
                           nonfinite=tuple(int(i) for i in bad_states))
    return Integration(t=t, y=y, success=bool(sol.success), nfev=int(sol.nfev),
                       message="ok" if sol.success else str(sol.message))


def integrate_batch(model: Model, y0s: np.ndarray, cuts: np.ndarray, jumps: np.ndarray,
                    params: np.ndarray, t_eval: np.ndarray, solver: Solver,
                    atol: np.ndarray) -> list[Integration]:
    """Run every segment of a protocol with the compiled BDF kernel for several animals
    (``y0s``: animals x states, ``params``: animals x segments x parameters) in one call, no
    Python between steps; on failure keep the output times reached. ``jumps`` has one row per
    segment (the state jump at its start); ``atol`` as in :func:`integrate`."""
    from cordsim.numerics import bdf
    from cordsim.numerics.compile import kernel_functions

    f = kernel_functions(model)
    m, n = y0s.shape
    out = np.empty((m, len(t_eval), n))
    info = np.zeros((m, bdf.N_INFO), dtype=np.int64)
    reached = np.zeros(m)
    with np.errstate(all="ignore"):
        bdf.kernel()(f.rhs, f.jac, *f.lu,
                     np.ascontiguousarray(y0s, dtype=float), cuts, np.ascontiguousarray(jumps),
                     np.ascontiguousarray(params, dtype=float), t_eval, float(solver.rtol),
                     np.ascontiguousarray(atol, dtype=float), int(solver.max_steps),
                     float(solver.max_step), out, info, reached)
    return [_integration(out[a], info[a], reached[a], t_eval, solver) for a in range(m)]


def _integration(out: np.ndarray, info: np.ndarray, t_reached: float, t_eval: np.ndarray,
                 solver: Solver) -> Integration:
    from cordsim.numerics import bdf

    code, filled, stats = int(info[0]), int(info[1]), info[2:]
    y = out[:filled].T
    finite = np.all(np.isfinite(y), axis=0)
    if code == bdf.OK and filled == len(t_eval) and np.all(finite):
        return Integration(t=t_eval, y=y, success=True, nfev=int(stats[bdf.N_RHS]),
                           message="ok")
    first_bad = int(np.argmin(finite)) if not np.all(finite) else filled
    if first_bad < filled:
        bad = tuple(int(i) for i in np.flatnonzero(~np.isfinite(y[:, first_bad])))
        message = "non-finite state values"
    else:
        bad = (int(stats[bdf.BAD_INDEX]),) if stats[bdf.BAD_INDEX] >= 0 else ()
        message = (bdf.STATUS_MESSAGES.get(code, f"status {code}") if code != bdf.OK
                   else "not every output time was reached")
        if code == bdf.TOO_MANY_STEPS:
            message = f"more than {solver.max_steps} step attempts"
    return Integration(t=t_eval[:first_bad], y=y[:, :first_bad], success=False,
                       nfev=int(stats[bdf.N_RHS]), message=message, nonfinite=bad,
                       t_reached=float(t_reached))

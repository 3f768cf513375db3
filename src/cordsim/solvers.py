"""ODE solver settings and integration with SciPy (LSODA by default, analytic Jacobian).

The engine was chosen by ``benchmarks/single_trajectory.py`` on this model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.integrate import solve_ivp

from cordsim.core.codegen import CompiledModel

METHODS = ("LSODA", "BDF", "Radau", "odeint")


@dataclass(frozen=True)
class Solver:
    """Integration method and tolerances (time in days).

    Examples
    --------
    >>> Solver(method="BDF", rtol=1e-8).method
    'BDF'
    """

    method: str = "LSODA"  # or BDF, Radau (solve_ivp); "odeint": LSODA with its loop in Fortran
    rtol: float = 1e-6
    atol: float = 1e-9
    jit: bool = False  # numba-compile the right-hand side and Jacobian (cohorts)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown solver method {self.method!r}; allowed: {METHODS}")
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"solver {name} must be positive and finite, got {value}")

    def as_dict(self) -> dict[str, object]:
        """Settings as a plain dict (recorded in results)."""
        return asdict(self)


@dataclass(frozen=True)
class Integration:
    """Raw integration output: times reached, states (states x times), status and message."""

    t: np.ndarray
    y: np.ndarray
    success: bool
    message: str
    nfev: int
    nonfinite: tuple[int, ...] = ()


def integrate(compiled: CompiledModel, y0: np.ndarray, p: np.ndarray, t_eval: np.ndarray,
              solver: Solver) -> Integration:
    """Integrate from ``t_eval[0]`` to ``t_eval[-1]``; on failure keep the points reached."""

    if solver.method == "odeint":
        return _odeint(compiled, y0, p, t_eval, solver)

    def fun(t: float, y: np.ndarray) -> np.ndarray:
        return compiled.rhs(t, y, p)

    def jac(t: float, y: np.ndarray) -> np.ndarray:
        return compiled.jac(t, y, p)

    with np.errstate(all="ignore"):
        sol = solve_ivp(fun, (float(t_eval[0]), float(t_eval[-1])), y0, method=solver.method,
                        t_eval=t_eval, jac=jac, rtol=solver.rtol, atol=solver.atol)
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


def _odeint(compiled: CompiledModel, y0: np.ndarray, p: np.ndarray, t_eval: np.ndarray,
            solver: Solver) -> Integration:
    """LSODA through ``scipy.integrate.odeint``: no Python between steps (cohort engine)."""
    from scipy.integrate import odeint

    with np.errstate(all="ignore"):
        y, info = odeint(compiled.rhs, y0, t_eval, args=(p,), Dfun=compiled.jac, tfirst=True,
                         rtol=solver.rtol, atol=solver.atol, full_output=True, mxstep=100_000)
    y = np.asarray(y, dtype=float).T
    ok = info["message"] == "Integration successful."
    good = np.all(np.isfinite(y), axis=0)
    if ok and np.all(good):
        return Integration(t=np.asarray(t_eval, dtype=float), y=y, success=True,
                           nfev=int(info["nfe"][-1]), message="ok")
    if not ok:  # points after the last time the solver reached are not valid
        good &= np.r_[True, t_eval[1:] <= float(np.max(info["tcur"]))]
    first_bad = int(np.argmin(good)) if not np.all(good) else len(t_eval)
    bad = (np.flatnonzero(~np.isfinite(y[:, first_bad])) if first_bad < len(t_eval)
           else np.array([], dtype=int))
    return Integration(t=np.asarray(t_eval[:first_bad], dtype=float), y=y[:, :first_bad],
                       success=False, nfev=int(info["nfe"][-1]) if len(info["nfe"]) else 0,
                       message=str(info["message"]) if not ok else "non-finite state values",
                       nonfinite=tuple(int(i) for i in bad))

"""ODE solver settings and integration: the compiled BDF kernel (default) or SciPy.

Every method gets the analytic Jacobian. ``"compiled"`` runs a whole protocol in one call
of a BDF integrator compiled by numba together with the model (``core/bdf_kernel.py``);
SciPy's LSODA, BDF and Radau (``solve_ivp``) remain as references. The choice was measured
by ``benchmarks/single_trajectory.py`` and ``benchmarks/cohort.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.integrate import solve_ivp

from cordsim.core.codegen import CompiledModel, compile_kernel
from cordsim.core.model import Model

METHODS = ("LSODA", "BDF", "Radau", "compiled")
MAX_STEPS = 200_000  # step attempts per protocol, compiled kernel (~1,000 is typical)


@dataclass(frozen=True)
class Solver:
    """Integration method and tolerances (time in days).

    ``atol`` is per unit of each state's typical magnitude (``Model.state_scales``): state
    ``i`` is integrated with absolute tolerance ``atol * scale[i]`` in its own unit.

    Examples
    --------
    >>> Solver(method="BDF", rtol=1e-8).method
    'BDF'
    """

    method: str = "compiled"  # numba BDF kernel (~30 s to compile once per machine, cached
    # on disk), or SciPy's "LSODA", "BDF", "Radau"
    rtol: float = 1e-6
    atol: float = 1e-9

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
              solver: Solver, atol: np.ndarray) -> Integration:
    """Integrate from ``t_eval[0]`` to ``t_eval[-1]`` with a SciPy method; on failure keep
    the points reached. ``atol``: absolute tolerance of each state."""

    def fun(t: float, y: np.ndarray) -> np.ndarray:
        return compiled.rhs(t, y, p)

    def jac(t: float, y: np.ndarray) -> np.ndarray:
        return compiled.jac(t, y, p)

    with np.errstate(all="ignore"):
        sol = solve_ivp(fun, (float(t_eval[0]), float(t_eval[-1])), y0, method=solver.method,
                        t_eval=t_eval, jac=jac, rtol=solver.rtol, atol=atol)
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


_KERNEL_STATUS = {1: "step size became too small", 2: f"more than {MAX_STEPS} step attempts",
                  3: "non-finite state values"}


def integrate_protocol(model: Model, y0: np.ndarray, cuts: np.ndarray, jumps: np.ndarray,
                       params: np.ndarray, t_eval: np.ndarray, solver: Solver,
                       atol: np.ndarray) -> Integration:
    """Run every segment of a protocol with the compiled BDF kernel (one call, no Python
    between steps); on failure keep the output times reached. ``atol`` as in
    :func:`integrate`."""
    kernel = compile_kernel(model)
    out = np.empty((len(t_eval), len(y0)))
    with np.errstate(all="ignore"):
        status, filled, _, stats = kernel.solve_protocol(
            np.ascontiguousarray(y0, dtype=float), cuts, jumps, params, t_eval,
            float(solver.rtol), atol, MAX_STEPS, kernel.perm, out)
    y = out[:filled].T
    finite = np.all(np.isfinite(y), axis=0)
    if status == 0 and filled == len(t_eval) and np.all(finite):
        return Integration(t=t_eval, y=y, success=True, nfev=int(stats[0]), message="ok")
    first_bad = int(np.argmin(finite)) if not np.all(finite) else filled
    bad = (np.flatnonzero(~np.isfinite(y[:, first_bad])) if first_bad < filled
           else np.array([], dtype=int))
    return Integration(t=t_eval[:first_bad], y=y[:, :first_bad], success=False,
                       nfev=int(stats[0]),
                       message=_KERNEL_STATUS.get(int(status), "non-finite state values"
                                                  if first_bad < filled else
                                                  "not every output time was reached"),
                       nonfinite=tuple(int(i) for i in bad))

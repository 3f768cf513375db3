"""A model's numerical functions: generated once from sympy, cached, run by Python or numba.

:func:`python_functions` executes the generated source (SciPy engines, outputs, initial
values). :func:`kernel_functions` compiles the same right-hand side and Jacobian with numba,
with the model's generated sparse LU (:mod:`cordsim.numerics.sparse_lu`), as the first-class
functions the BDF integrator (:mod:`cordsim.numerics.bdf`) takes. Both are cached per model
structure: in memory, and on disk in :func:`cordsim.numerics.cache.cache_dir` (sources with
their hash, numba's machine code with a manifest of hashes).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cordsim.core.codegen import generate_source
from cordsim.core.model import Model
from cordsim.numerics import sparse_lu
from cordsim.numerics.cache import (
    CacheWarning,
    cache_dir,
    compile_checked,
    import_module,
    read_source,
    source_module,
    write_source,
)


@dataclass(frozen=True)
class CompiledModel:
    """Numerical functions of one model structure (plain Python over NumPy).

    ``rhs(t, y, p)`` and ``jac(t, y, p)`` take 1-D arrays of states and parameters (in the
    model's order); ``outputs(t, Y, p)`` takes a (states x times) array and returns
    (outputs x times); ``initial(p)`` returns the initial state vector.
    """

    rhs: Callable[[float, np.ndarray, np.ndarray], np.ndarray]
    jac: Callable[[float, np.ndarray, np.ndarray], np.ndarray]
    outputs: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    initial: Callable[[np.ndarray], np.ndarray]
    source: str


@dataclass(frozen=True)
class KernelFunctions:
    """A model's functions for the BDF kernel: rhs, jac and the sparse LU (its solve of one
    vector and of many), compiled by numba as C callbacks, and the LU's work-array size and
    elimination order (the ``lu`` of :func:`bdf.solve`)."""

    rhs: Callable
    jac: Callable
    lu_assemble: Callable
    lu_factor: Callable
    lu_solve: Callable
    lu_solve_many: Callable
    lu_size: int
    perm: np.ndarray

    @property
    def lu(self) -> tuple:
        """``(assemble, factor, solve, solve_many, size, perm)`` for
        :func:`cordsim.numerics.bdf.solve`."""
        return (self.lu_assemble, self.lu_factor, self.lu_solve, self.lu_solve_many,
                self.lu_size, self.perm)


def model_source(model: Model) -> tuple[str, int]:
    """Generated source for the model and its Jacobian's non-zeros, from the disk cache when
    present and intact."""
    path = cache_dir() / f"model_{model.structure_hash}.py"
    text = read_source(path)
    if text is not None:
        header, _, source = text.partition("\n")
        if header.startswith("# jac_nnz="):
            return source, int(header.removeprefix("# jac_nnz="))
    source, nnz = generate_source(model.symbolic)
    write_source(path, f"# jac_nnz={nnz}\n{source}")  # best effort: a cache only saves time
    return source, nnz


_PYTHON: dict[str, CompiledModel] = {}  # by model structure: equal models share functions
_KERNELS: dict[tuple, KernelFunctions] = {}


def _python_functions(structure_hash: str, model: Model) -> CompiledModel:
    source, _ = model_source(model)
    namespace: dict[str, object] = {"math": math, "np": np}
    label = f"<cordsim-generated {structure_hash}>"
    try:
        exec(compile(source, label, "exec"), namespace)  # noqa: S102
        for name in ("rhs", "jac", "outputs", "initial"):
            if not callable(namespace.get(name)):
                raise NameError(f"no function {name!r}")
    except Exception as exc:  # noqa: BLE001 - a cached file that does not run: regenerate
        path = cache_dir() / f"model_{model.structure_hash}.py"
        warnings.warn(f"cordsim: cached model code {path} does not run ({type(exc).__name__}: "
                      f"{exc}); regenerated", CacheWarning, stacklevel=2)
        path.unlink(missing_ok=True)
        source, nnz = generate_source(model.symbolic)
        write_source(path, f"# jac_nnz={nnz}\n{source}")
        namespace = {"math": math, "np": np}
        exec(compile(source, label, "exec"), namespace)  # noqa: S102
    return CompiledModel(
        rhs=namespace["rhs"], jac=namespace["jac"],  # type: ignore[arg-type]
        outputs=namespace["outputs"], initial=namespace["initial"],  # type: ignore[arg-type]
        source=source,
    )


def python_functions(model: Model) -> CompiledModel:
    """The model's numerical functions in Python (cached per model structure)."""
    key = model.structure_hash
    if key not in _PYTHON:
        _PYTHON[key] = _python_functions(key, model)
    return _PYTHON[key]


def _kernel_functions(model: Model) -> KernelFunctions:
    from cordsim.numerics import bdf  # numba: only when the compiled engine is used

    signatures = {"rhs": bdf.RHS_SIGNATURE, "jac": bdf.JAC_SIGNATURE,
                  "sparse_assemble": bdf.LU_ASSEMBLE_SIGNATURE,
                  "sparse_lu": bdf.LU_FACTOR_SIGNATURE, "sparse_solve": bdf.LU_SOLVE_SIGNATURE,
                  "sparse_solve_many": bdf.LU_SOLVE_MANY_SIGNATURE}
    source = python_functions(model).source  # generated (or read) once per structure
    n = len(model.state_names)
    pattern = sparse_lu.jacobian_pattern(source, n)
    perm = sparse_lu.minimum_degree_order(pattern)
    lu_source = sparse_lu.generate_source(pattern, perm, model.state_scales)
    body = f"{source}\n# --- sparse LU (sparse_lu.py) ---\n{lu_source}"
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    name = f"cordsim_kernel_{digest}"
    module = import_module(name, source_module(name, body))
    # error_model "numpy": a division by zero gives inf/NaN, which the kernel reports with
    # the state involved, instead of raising ZeroDivisionError from compiled code.
    dispatchers = {fn: bdf.cfunc(getattr(module, fn), sig, error_model="numpy")
                   for fn, sig in signatures.items()}
    compile_checked([(d, None) for d in dispatchers.values()])
    return KernelFunctions(
        rhs=dispatchers["rhs"], jac=dispatchers["jac"],
        lu_assemble=dispatchers["sparse_assemble"], lu_factor=dispatchers["sparse_lu"],
        lu_solve=dispatchers["sparse_solve"], lu_solve_many=dispatchers["sparse_solve_many"],
        lu_size=int(module.LU_NNZ), perm=perm)


def kernel_functions(model: Model) -> KernelFunctions:
    """The model's rhs, Jacobian and sparse LU compiled by numba (cached on disk, ~10 s the
    first time on a machine)."""
    # the state scales shape the LU (its pivot test compares scaled entries)
    key = (model.structure_hash, tuple(model.state_scales))
    if key not in _KERNELS:
        _KERNELS[key] = _kernel_functions(model)
    return _KERNELS[key]

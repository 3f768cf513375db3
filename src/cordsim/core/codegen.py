"""Generate numerical functions (right-hand side, Jacobian, outputs) from the sympy model.

The generated source is plain Python over ``math`` and NumPy, cached on disk per model
structure and compiled once per process (``compile_model``). ``compile_kernel`` compiles
the same source with numba, together with a generated sparse LU and the BDF integrator of
``bdf_kernel.py``: the ``"compiled"`` solver. Nothing here depends on parameter values.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from cordsim.core.model import Model, SymbolicModel

_CACHE: dict[str, CompiledModel] = {}


@dataclass(frozen=True)
class CompiledModel:
    """Numerical functions of one model structure.

    ``rhs(t, y, p)`` and ``jac(t, y, p)`` take 1-D arrays of states and parameters (in the
    model's order); ``outputs(t, Y, p)`` takes a (states x times) array and returns
    (outputs x times); ``initial(p)`` returns the initial state vector.
    """

    rhs: Callable[[float, np.ndarray, np.ndarray], np.ndarray]
    jac: Callable[[float, np.ndarray, np.ndarray], np.ndarray]
    outputs: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    initial: Callable[[np.ndarray], np.ndarray]
    source: str
    jac_nnz: int


def _unpack(sym: SymbolicModel, indent: str = "    ") -> list[str]:
    lines = [f"{indent}{s} = y[{i}]" for i, s in enumerate(sym.state_symbols)]
    lines += [f"{indent}{s} = p[{i}]" for i, s in enumerate(sym.param_symbols)]
    return lines


def _body(exprs: list[sympy.Expr], printer: PythonCodePrinter, targets: list[str],
          indent: str = "    ") -> list[str]:
    subs, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols("_x"))
    lines = [f"{indent}{s} = {printer.doprint(e)}" for s, e in subs]
    lines += [f"{indent}{tgt} = {printer.doprint(e)}" for tgt, e in zip(targets, reduced,
                                                                        strict=True)]
    return lines


def generate_source(sym: SymbolicModel) -> tuple[str, int]:
    """Python source of the four functions, and the Jacobian's number of non-zeros."""
    n = len(sym.state_names)
    scalar = PythonCodePrinter({"fully_qualified_modules": True})
    vector = NumPyPrinter({"fully_qualified_modules": False})
    vector._module = "np"  # noqa: SLF001 - print numpy functions as np.*

    src = ["import math", "import numpy as np", "", "def rhs(t, y, p):"]
    src += _unpack(sym)
    src += [f"    dy = np.empty({n})"]
    src += _body(list(sym.rhs), scalar, [f"dy[{i}]" for i in range(n)])
    src += ["    return dy", ""]

    jmat = sympy.Matrix(sym.rhs).jacobian(sympy.Matrix(sym.state_symbols))
    entries = [(i, j, jmat[i, j]) for i in range(n) for j in range(n) if jmat[i, j] != 0]
    src += ["def jac(t, y, p):"]
    src += _unpack(sym)
    src += [f"    J = np.zeros(({n}, {n}))"]
    src += _body([e for _, _, e in entries], scalar, [f"J[{i}, {j}]" for i, j, _ in entries])
    src += ["    return J", ""]

    src += ["def outputs(t, y, p):"]
    src += _unpack(sym)
    src += [f"    out = np.empty(({len(sym.output_names)},) + np.shape(t))"]
    src += _body(list(sym.outputs), vector,
                 [f"out[{i}]" for i in range(len(sym.output_names))])
    src += ["    return out", ""]

    src += ["def initial(p):"]
    src += [f"    {s} = p[{i}]" for i, s in enumerate(sym.param_symbols)]
    src += [f"    y0 = np.empty({n})"]
    src += _body(list(sym.initial), scalar, [f"y0[{i}]" for i in range(n)])
    src += ["    return y0", ""]
    return "\n".join(src), len(entries)


def cache_dir() -> Path:
    """Folder for generated sources: ``$CORDSIM_CACHE_DIR`` or ``~/.cache/cordsim``."""
    env = os.environ.get("CORDSIM_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "cordsim"


def _cached_source(model: Model) -> tuple[str, int]:
    """Generated source for the model, read from the disk cache when present."""
    path = cache_dir() / f"model_{model.structure_hash}.py"
    try:
        text = path.read_text()
        header, _, source = text.partition("\n")
        return source, int(header.removeprefix("# jac_nnz="))
    except (OSError, ValueError):
        pass
    source, nnz = generate_source(model.symbolic)
    try:  # best effort: an unwritable cache only costs time
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
            fh.write(f"# jac_nnz={nnz}\n{source}")
        os.replace(fh.name, path)
    except OSError:
        pass
    return source, nnz


def compile_model(model: Model) -> CompiledModel:
    """Generate and compile the model's numerical functions (cached per structure)."""
    key = model.structure_hash
    if key not in _CACHE:
        source, nnz = _cached_source(model)
        namespace: dict[str, object] = {"math": math, "np": np}
        exec(compile(source, f"<cordsim-generated {key}>", "exec"), namespace)  # noqa: S102
        _CACHE[key] = CompiledModel(
            rhs=namespace["rhs"], jac=namespace["jac"],  # type: ignore[arg-type]
            outputs=namespace["outputs"], initial=namespace["initial"],  # type: ignore[arg-type]
            source=source, jac_nnz=nnz,
        )
    return _CACHE[key]


_SIGNATURES = {"rhs": "float64[::1](float64, float64[::1], float64[::1])",
               "jac": "float64[:, ::1](float64, float64[::1], float64[::1])"}


def compile_kernel(model: Model) -> Kernel:
    """The model's protocol integrator: the BDF kernel (``bdf_kernel.py``) compiled by numba
    together with the model's right-hand side, Jacobian and generated sparse LU (cached on
    disk)."""
    key = (model.structure_hash, tuple(model.state_scales))  # the scales shape the LU
    if key in _KERNELS:
        return _KERNELS[key]
    import hashlib

    from cordsim.core import sparse_lu

    source, _ = _cached_source(model)
    pattern = sparse_lu.jacobian_pattern(source, len(model.state_names))
    perm = sparse_lu.minimum_degree_order(pattern)
    template = Path(__file__).with_name("bdf_kernel.py").read_text()
    jit = "\n".join(f"{name} = numba.njit({sig!r}, cache=True)({name})"
                     for name, sig in _SIGNATURES.items())
    lu = sparse_lu.generate_source(pattern, perm, model.state_scales)
    text = (f"{source}\nimport numba\n{jit}\n\n# --- sparse_lu.py ---\n{lu}\n"
            f"# --- bdf_kernel.py ---\n{template}")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    module = _load_module(f"cordsim_kernel_{digest}", text)
    kernel = Kernel(module.solve_protocol, perm)
    _KERNELS[key] = kernel
    return kernel


@dataclass(frozen=True)
class Kernel:
    """A model's compiled protocol integrator and the order its LU eliminates states in."""

    solve_protocol: Callable
    perm: np.ndarray


_KERNELS: dict[tuple, Kernel] = {}


def _load_module(name: str, text: str) -> object:
    """Import generated source from a file in the cache, so numba can cache it on disk."""
    import importlib.util

    path = cache_dir() / f"{name}.py"
    try:
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                             suffix=".tmp") as fh:
                fh.write(text)
            os.replace(fh.name, path)
    except OSError:  # unwritable cache: compile from a temporary file, no disk cache
        path = Path(tempfile.mkdtemp()) / f"{name}.py"
        path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's disk cache re-imports it by name
    spec.loader.exec_module(module)
    return module

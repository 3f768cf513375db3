"""Generate the source of the model's numerical functions (right-hand side, Jacobian,
outputs, initial values) from its sympy form.

The source is plain Python over ``math`` and NumPy; :mod:`cordsim.numerics.compile` caches
it on disk, runs it with Python (SciPy engines, outputs) and compiles it with numba (the
default engine). Nothing here depends on parameter values.
"""

from __future__ import annotations

import sympy
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from cordsim.core.model import SymbolicModel


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
    """Python source of ``rhs(t, y, p)``, ``jac(t, y, p)`` (1-D state and parameter arrays
    in the model's order), ``outputs(t, Y, p)`` (states x times in, outputs x times out) and
    ``initial(p)``; and the Jacobian's number of non-zeros."""
    n = len(sym.state_names)
    scalar = PythonCodePrinter({"fully_qualified_modules": True})
    vector = NumPyPrinter({"fully_qualified_modules": False})
    vector._module = "np"

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


def _sparse_block(exprs: list[tuple[int, int, sympy.Expr]], name: str, header: list[str],
                  printer: PythonCodePrinter, shape: str) -> list[str]:
    """A function filling the non-zeros of a derivative matrix, row by row, and its pattern
    (``<NAME>_ROW``, ``<NAME>_COL`` at module level)."""
    upper = name.upper()
    src = [f"{upper}_ROW = {[i for i, _, _ in exprs]!r}",
           f"{upper}_COL = {[j for _, j, _ in exprs]!r}", ""]
    src += header
    src += [f"    out = np.empty({shape})"]
    src += _body([e for _, _, e in exprs], printer, [f"out[{q}]" for q in range(len(exprs))])
    src += ["    return out", ""]
    return src


def _nonzeros(exprs: tuple[sympy.Expr, ...], symbols: tuple[sympy.Symbol, ...]
              ) -> list[tuple[int, int, sympy.Expr]]:
    """(row, column, derivative) of every structurally non-zero d expr_i / d symbol_j."""
    index = {s: j for j, s in enumerate(symbols)}
    out = []
    for i, e in enumerate(exprs):
        for s in sorted(e.free_symbols & set(index), key=index.__getitem__):
            d = sympy.diff(e, s)
            if d != 0:
                out.append((i, index[s], d))
    return out


def generate_sensitivity_source(sym: SymbolicModel) -> str:
    """Python source of the derivatives forward sensitivities need, each as its non-zeros
    with a module-level pattern (``*_ROW``, ``*_COL``):

    - ``dfdp(t, y, p)``: d rhs / d p (scalar code, compiled by numba for the kernel);
    - ``initial_dp(p)``: d initial state / d p;
    - ``outputs_dy(t, Y, p)``, ``outputs_dp(t, Y, p)``: d outputs / d states and / d p,
      vectorized over times like ``outputs`` (non-zeros x times).
    """
    scalar = PythonCodePrinter({"fully_qualified_modules": True})
    vector = NumPyPrinter({"fully_qualified_modules": False})
    vector._module = "np"
    params = [f"    {s} = p[{i}]" for i, s in enumerate(sym.param_symbols)]
    src = ["import math", "import numpy as np", ""]
    dfdp = _nonzeros(sym.rhs, sym.param_symbols)
    src += _sparse_block(dfdp, "dfdp", ["def dfdp(t, y, p):", *_unpack(sym)], scalar,
                         str(len(dfdp)))
    init = _nonzeros(sym.initial, sym.param_symbols)
    src += _sparse_block(init, "initial_dp", ["def initial_dp(p):", *params], scalar,
                         str(len(init)))
    for name, symbols in (("outputs_dy", sym.state_symbols), ("outputs_dp", sym.param_symbols)):
        entries = _nonzeros(sym.outputs, symbols)
        src += _sparse_block(entries, name, [f"def {name}(t, y, p):", *_unpack(sym)], vector,
                             f"({len(entries)},) + np.shape(t)")
    return "\n".join(src)

"""Formulas from data files (PEtab observables, noise, conditions, parameters), parsed by a
whitelist: reading a formula never runs code.

A formula may hold numbers, the names the caller allows (the model's states and outputs, a
problem's own symbols), the operators ``+ - * / ** ^`` and calls of the functions in
:data:`FUNCTIONS`. Anything else (attributes, subscripts, strings, lambdas, comparisons,
keyword arguments, an unknown name or function) is refused by name with a
:class:`~cordsim.errors.CordsimError`. The text is parsed by Python's :mod:`ast` and never
evaluated; the sympy expression is built node by node from the tree (``sympy.sympify``
would evaluate it as Python).

Examples
--------
>>> parse_formula("2 * bbb_score - vehicle__bbb_score", {"bbb_score", "vehicle__bbb_score"})
2.0*bbb_score - vehicle__bbb_score
>>> parse_formula("__import__('os').system('true')", {"bbb_score"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
cordsim.errors.CordsimError: formula "__import__...": "__import__('os').system" is not a ...
>>> parse_number(" 1e-3 ", what="nominalValue of k_x")
0.001
>>> parse_number("1/4", what="upperBound of k_x", formulas=True)
0.25
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable
from typing import Any

from cordsim.errors import CordsimError, did_you_mean

MAX_FORMULA = 2000  # characters of one formula
MAX_NODES = 500  # operators, names and numbers of one formula


def _functions() -> dict[str, Callable[..., Any]]:
    import sympy

    return {
        "exp": sympy.exp, "log": sympy.log, "ln": sympy.log,
        "log10": lambda x: sympy.log(x, 10), "log2": lambda x: sympy.log(x, 2),
        "sqrt": sympy.sqrt, "abs": sympy.Abs, "sign": sympy.sign,
        "min": sympy.Min, "max": sympy.Max, "pow": sympy.Pow,
        "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan,
        "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh,
    }


# the named functions a formula may call (PEtab's usual ones)
FUNCTIONS = ("exp", "log", "ln", "log10", "log2", "sqrt", "abs", "sign", "min", "max", "pow",
             "sin", "cos", "tan", "sinh", "cosh", "tanh")
CONSTANTS = ("pi",)


def _shown(text: str) -> str:
    text = text if len(text) <= 80 else text[:77] + "..."
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_formula(text: Any, symbols: Iterable[str], *, what: str = "") -> Any:
    """The sympy expression of ``text``, whose names must be among ``symbols`` (or ``pi``);
    a :class:`CordsimError` naming ``what`` and the refused part otherwise."""
    import sympy

    where = f"{what}: " if what else ""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise CordsimError(f"{where}formula must be text or a number, got "
                           f"{type(text).__name__}")
    if isinstance(text, int | float):
        return sympy.Float(_finite(float(text), where, str(text)))
    source = text.strip()
    label = f"{where}formula {_shown(source)}"
    if not source:
        raise CordsimError(f"{label}: empty")
    if len(source) > MAX_FORMULA:
        raise CordsimError(f"{where}formula of {len(source):,} characters; at most "
                           f"{MAX_FORMULA:,}")
    if any(ord(c) < 32 or c == "\x7f" for c in source):
        raise CordsimError(f"{label}: holds a control character")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise CordsimError(f"{label}: not a formula ({err.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise CordsimError(f"{label}: nested too deeply") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise CordsimError(f"{label}: {nodes} terms; at most {MAX_NODES}")
    allowed = set(symbols)
    functions = _functions()
    binary = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
              ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
              ast.Pow: lambda a, b: a**b, ast.BitXor: lambda a, b: a**b}  # PEtab/SBML: ^

    def refuse(reason: str) -> CordsimError:
        return CordsimError(f"{label}: {reason}")

    def build(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise refuse(f"{type(value).__name__} {value!r} is not a number")
            try:
                number = float(value)
            except OverflowError:
                raise refuse("a number too large for a float") from None
            shown = ast.get_source_segment(source, node) or repr(value)
            return sympy.Float(_finite(number, f"{label}: ", shown))
        if isinstance(node, ast.Name):
            if node.id in allowed:
                return sympy.Symbol(node.id)
            if node.id in CONSTANTS:
                return sympy.pi
            raise refuse(f"unknown name {node.id!r}{did_you_mean(node.id, allowed)}"
                         + ("" if allowed else " (only a number is allowed here)"))
        if isinstance(node, ast.BinOp) and type(node.op) in binary:
            return binary[type(node.op)](build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            operand = build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise refuse(f"{ast.unparse(node.func)[:60]!r} is not a function that may be "
                             f"called; functions: {', '.join(FUNCTIONS)}")
            name = node.func.id
            if name not in FUNCTIONS:
                raise refuse(f"the function {name!r} is not allowed; functions: "
                             f"{', '.join(FUNCTIONS)}")
            if node.keywords:
                raise refuse(f"{name}() takes no keyword arguments")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise refuse(f"{name}() takes no *arguments")
            try:
                return functions[name](*(build(a) for a in node.args))
            except TypeError:
                raise refuse(f"{name}() with {len(node.args)} argument(s)") from None
        if isinstance(node, ast.Attribute):
            raise refuse(f"attribute access ({ast.unparse(node)[:60]!r}) is not allowed")
        kind = type(node.op if isinstance(node, ast.BinOp | ast.UnaryOp) else node).__name__
        raise refuse(f"{kind} ({ast.unparse(node)[:60]!r}) is not allowed: numbers, names, "
                     "+ - * / ** ^ and the functions " + ", ".join(FUNCTIONS))

    try:
        expr = build(tree.body)
        numbers = [float(n) for n in expr.atoms(sympy.Number)]
    except RecursionError:
        raise refuse("nested too deeply") from None
    except (ArithmeticError, ValueError, TypeError, MemoryError) as err:
        raise refuse(f"cannot be computed ({type(err).__name__}: {err})"[:200]) from None
    if not all(math.isfinite(n) for n in numbers) or expr.has(
            sympy.zoo, sympy.oo, sympy.nan, sympy.I):
        raise refuse("holds a number that is not finite and real (a division by zero, the "
                     "log of 0, the root of a negative number, or one beyond a float's range)")
    return expr


def _finite(value: float, where: str, shown: str) -> float:
    if not math.isfinite(value):
        raise CordsimError(f"{where}{shown} is not a finite number")
    return value


def parse_number(text: Any, *, what: str, formulas: bool = False) -> float:
    """A finite number from a table cell: a number, or text holding one; with ``formulas``
    also arithmetic of numbers (``1/3``), parsed by :func:`parse_formula` with no names
    allowed. A :class:`CordsimError` naming ``what`` otherwise (a formula where a number is
    read says so, with its value)."""
    if isinstance(text, bool):
        raise CordsimError(f"{what}: {text!r} is not a number")
    if isinstance(text, int | float):
        if isinstance(text, float) and math.isnan(text):
            raise CordsimError(f"{what}: empty (a number is needed)")
        return _finite(float(text), f"{what}: ", repr(text))
    if hasattr(text, "item") and not isinstance(text, str):  # a NumPy scalar
        return parse_number(text.item(), what=what)
    if isinstance(text, str):
        try:
            return _finite(float(text), f"{what}: ", repr(text))
        except ValueError:
            pass
    expr = parse_formula(text, (), what=what)
    if not expr.is_number:
        raise CordsimError(f"{what}: {text!r} is not a number")
    try:
        value = _finite(float(expr), f"{what}: ", repr(text))
    except (TypeError, OverflowError):
        raise CordsimError(f"{what}: {text!r} is not a real number") from None
    if not formulas:
        raise CordsimError(f"{what}: {text!r} is a formula; a number is read here (give its "
                           f"value, {value:.12g})")
    return value

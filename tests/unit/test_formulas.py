"""The whitelist parser of formulas in data files: numbers, known names, arithmetic and named
functions become a sympy expression; everything else is refused by name, and nothing is
ever evaluated as Python."""

from __future__ import annotations

import math
import time

import pytest
import sympy

from cordsim.errors import CordsimError
from cordsim.io.formulas import FUNCTIONS, MAX_FORMULA, parse_formula, parse_number

NAMES = {"bbb_score", "vehicle__bbb_score", "sev_lesion", "noiseParameter1_obs"}


@pytest.mark.parametrize(("text", "value"), [
    ("bbb_score - vehicle__bbb_score", 2.0),
    ("2 * bbb_score", 10.0),
    ("bbb_score ** 2", 25.0),
    ("bbb_score ^ 2", 25.0),  # PEtab/SBML power
    ("-bbb_score + +1", -4.0),
    ("log10(sev_lesion)", 3.0),
    ("exp(0) + sqrt(4) + abs(-1) + max(1, 2, 3) + min(bbb_score, 1)", 8.0),
    ("pow(2, 3) + log(exp(1))", 9.0),
    ("pi * 0 + 1e-3", 0.001),
    ("3", 3.0),
])
def test_allowed_formulas_build_the_expression(text, value):
    expr = parse_formula(text, NAMES)
    fn = sympy.lambdify(sorted(NAMES), expr, "numpy")
    got = fn(**{"bbb_score": 5.0, "vehicle__bbb_score": 3.0, "sev_lesion": 1000.0,
                "noiseParameter1_obs": 1.0})
    assert math.isclose(float(got), value, rel_tol=1e-12)


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os').system('touch x')", "is not a function that may be called"),
    ("__import__('os')", "the function '__import__' is not allowed"),
    ("eval('1')", "the function 'eval' is not allowed"),
    ("bbb_score.real", "attribute access"),
    ("().__class__.__bases__[0].__subclasses__()", "is not a function that may be called"),
    ("bbb_score[0]", "Subscript"),
    ("[x for x in (1,)]", "ListComp"),
    ("lambda: 1", "Lambda"),
    ("'text'", "str 'text' is not a number"),
    ("b'x'", "bytes"),
    ("True", "bool True is not a number"),
    ("1j", "complex"),
    ("bbb_score if 1 else 2", "IfExp"),
    ("bbb_score < 2", "Compare"),
    ("bbb_score and 1", "BoolOp"),
    ("bbb_score @ 2", "MatMult"),
    ("bbb_score % 2", "Mod"),
    ("abs(x=1)", "takes no keyword arguments"),
    ("max(*[1])", "takes no *arguments"),
    ("pow(1)", "pow() with 1 argument"),
    ("unknown_state * 2", "unknown name 'unknown_state'"),
    ("bbb_scor", "did you mean 'bbb_score'"),
    ("x = 1", "not a formula"),
    ("1 +", "not a formula"),
    ("", "empty"),
    ("bbb_score\x00", "control character"),
    ("1e999", "1e999 is not a finite number"),
    ("9 ** 9 ** 9", "not finite and real"),
    ("exp(exp(exp(1000)))", "cannot be computed"),
    ("1 / 0", "cannot be computed"),
    ("log(0)", "not finite and real"),
    ("sqrt(-1)", "not finite and real"),
    ("(" * 300 + "1" + ")" * 300, "too many nested parentheses"),
    ("-" * 400 + "1", "terms; at most 500"),
    ("1+" * 400 + "1", "terms; at most 500"),
    ("1" * (MAX_FORMULA + 1), "characters; at most"),
])
def test_anything_else_is_refused_by_name(text, message):
    start = time.monotonic()
    with pytest.raises(CordsimError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("*", r"\*")):
        parse_formula(text, NAMES, what="observable obs")
    assert time.monotonic() - start < 5


def test_the_message_names_where_the_formula_comes_from():
    with pytest.raises(CordsimError, match="^observable obs_x: formula \"eval"):
        parse_formula("eval('1')", NAMES, what="observable obs_x")


def test_the_function_list_is_what_the_parser_knows():
    for name in FUNCTIONS:
        args = "1, 2" if name in ("min", "max", "pow") else "1"
        assert parse_formula(f"{name}({args})", ()).is_number, name


@pytest.mark.parametrize(("text", "value"), [
    (" 1e-3 ", 1e-3), (1e308, 1e308), ("-5", -5.0), (7, 7.0), ("1_000", 1000.0),
])
def test_parse_number_reads_numbers(text, value):
    assert parse_number(text, what="v") == value


@pytest.mark.parametrize(("text", "message"), [
    ("nan", "not a finite number"), ("inf", "not a finite number"),
    (float("nan"), "empty"), ("", "empty"), ("k_x", "unknown name 'k_x'"),
    ("1/3", "is a formula; a number is read here"), (True, "not a number"),
    ("__import__('os')", "is not allowed"),
])
def test_parse_number_refuses_the_rest(text, message):
    with pytest.raises(CordsimError, match=message):
        parse_number(text, what="v")
    if text == "1/3":
        assert parse_number(text, what="v", formulas=True) == pytest.approx(1 / 3)

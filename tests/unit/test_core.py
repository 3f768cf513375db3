"""The framework: math helpers, units, model checks, parameter sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy

import cordsim
from cordsim.core import Model, Output, Param, ParameterSet, State, Submodel
from cordsim.core.mathfn import hill, inhibit
from cordsim.core.units import convert
from cordsim.errors import ModelError, ParameterError, UnitError


# ------------------------------------------------------------------ math and units
def test_hill_values_and_types():
    assert hill(2.0, 2.0, 1) == 0.5
    assert hill(0.0, 1.0, 2) == 0.0
    assert inhibit(0.0, 1.0) == 1.0
    x = sympy.Symbol("x")
    assert sympy.simplify(hill(x, 1, 2) - x**2 / (x**2 + 1)) == 0
    np.testing.assert_allclose(hill(np.array([1.0, 3.0]), 1.0, 1), [0.5, 0.75])


def test_hill_rejects_non_integer_exponent():
    with pytest.raises(ValueError, match="integer"):
        hill(1.0, 1.0, 1.5)


def test_unit_conversion_and_error():
    assert convert(24.0, "hour", "day") == pytest.approx(1.0)
    assert convert(1.0, "cell/uL", "cell/mm^3") == pytest.approx(1.0)
    with pytest.raises(UnitError, match="not compatible"):
        convert(1.0, "pg/mL", "1/day")


# ------------------------------------------------------------------ model checks
class Source(Submodel):
    a = State("a", "pg/mL", initial=1.0)
    k = Param("production", "pg/mL/day")
    d = Param("decay", "1/day")
    flux = Output("flux", "pg/mL/day")

    def outputs(self, t, v, p):
        return {"flux": p.d * v.a}

    def rates(self, t, v, p):
        return {"a": p.k - v.flux}


class Sink(Submodel):
    b = State("b", "pg/mL")
    inputs = ("flux",)

    def rates(self, t, v, p):
        return {"b": v.flux}


def test_toy_model_checks_pass():
    m = Model([Source(), Sink()])
    m.check_structure()
    m.check_units()
    assert m.state_names == ("a", "b")


def test_state_owned_twice():
    class Again(Submodel):
        a = State("a again", "pg/mL")

        def rates(self, t, v, p):
            return {"a": 0 * v.a}

    with pytest.raises(ModelError, match="declared by both source and again"):
        Model([Source(), Sink(), Again()]).check_structure()


def test_unmet_input_named_with_hint():
    class Needy(Submodel):
        c = State("c", "1")
        inputs = ("flx",)

        def rates(self, t, v, p):
            return {"c": 0 * v.c}

    with pytest.raises(ModelError, match="'flx' that no submodel provides.*'flux'"):
        Model([Source(), Needy()]).check_structure()


def test_undeclared_read():
    class Sneaky(Submodel):
        c = State("c", "pg/mL")

        def rates(self, t, v, p):
            return {"c": v.a}

    with pytest.raises(ModelError, match="'a' is not available"):
        Model([Source(), Sneaky()]).check_structure()


def test_unused_parameter_and_missing_rate():
    class Lazy(Submodel):
        c = State("c", "1")
        unused = Param("never read", "1/day")

    with pytest.raises(ModelError) as err:
        Model([Source(), Sink(), Lazy()]).check_structure()
    assert "unused parameter(s): ['unused']" in str(err.value)
    assert "gives no rate for state(s) ['c']" in str(err.value)


def test_rate_with_wrong_dimension():
    class Wrong(Submodel):
        c = State("c", "pg/mL")
        kk = Param("rate", "1/day")

        def rates(self, t, v, p):
            return {"c": p.kk}  # 1/day, not pg/mL/day

    m = Model([Wrong()])
    with pytest.raises(ModelError, match="rate of c .* has dimension"):
        m.check_units()


def test_adding_incompatible_units_is_caught():
    class Mixed(Submodel):
        c = State("c", "pg/mL")
        kk = Param("rate", "1/day")

        def rates(self, t, v, p):
            return {"c": v.c + p.kk}

    with pytest.raises(ModelError, match="unit check failed"):
        Model([Mixed()]).check_units()


def test_unparseable_unit():
    class Bad(Submodel):
        c = State("c", "bananas/day")

        def rates(self, t, v, p):
            return {"c": 0 * v.c}

    with pytest.raises(ModelError, match="cannot parse unit"):
        Model([Bad()]).check_structure()


def test_default_model_checks(model, params):
    model.check(params)  # structure, units, coverage and bounds


# ------------------------------------------------------------------ parameter sets
def test_replace_records_history_and_converts_units(params):
    p2 = params.replace(d_neutrophils="0.05 1/hour")
    assert p2["d_neutrophils"] == pytest.approx(1.2)
    assert p2.history[-1].startswith("d_neutrophils:")
    assert params["d_neutrophils"] != p2["d_neutrophils"]  # immutable original
    assert p2.hash != params.hash


def test_unknown_parameter_suggests_nearest(params):
    with pytest.raises(ParameterError, match="unknown parameter 'd_neutrophil'.*'d_neutrophils'"):
        params.replace(d_neutrophil=1.0)
    with pytest.raises(ParameterError, match="did you mean"):
        params["k_neutrophil_influxx"]


def test_wrong_unit_rejected(params):
    with pytest.raises(UnitError, match="parameter 'd_neutrophils'.*not compatible"):
        params.replace(d_neutrophils="3 pg/mL")
    with pytest.raises(UnitError, match="parameter 'd_neutrophils': cannot parse unit 'bananas'"):
        params.replace(d_neutrophils="3 bananas")


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, "x", None])
def test_negative_or_non_finite_rejected(params, bad):
    with pytest.raises(ParameterError, match="d_neutrophils"):
        params.replace(d_neutrophils=bad)


def test_out_of_bounds_warns(params):
    with pytest.warns(UserWarning, match="outside its plausible bounds"):
        params.replace(d_neutrophils=100.0)


def test_every_parameter_has_provenance(params):
    df = params.to_dataframe()
    assert len(df) == len(cordsim.CordModel().params)
    assert set(df["evidence"]) <= {"measured", "fitted", "derived", "assumed"}
    assert (df["source"].str.len() > 3).all()
    assert ((df["lowerBound"] <= df["nominalValue"])
            & (df["nominalValue"] <= df["upperBound"])).all()
    assert {"parameterId", "parameterScale", "lowerBound", "upperBound", "nominalValue",
            "estimate", "unit"} <= set(df.columns)


def _write(tmp_path, text):
    path = tmp_path / "set.toml"
    path.write_text(text)
    return path


def test_malformed_parameter_file(tmp_path, model):
    with pytest.raises(ParameterError, match="cannot read parameter file"):
        ParameterSet.load(_write(tmp_path, "[meta\nname="), model)


def test_parameter_file_errors_are_named(tmp_path, model):
    text = ('[neutrophils]\n'
            'd_neutrophilz = { value = 1.0, unit = "1/day", bounds = [0.1, 2], source = "x", '
            'evidence = "assumed" }\n'
            'k_neutrophil_influx = { value = 1.0, unit = "pg/mL", bounds = [0.1, 2], '
            'source = "x", evidence = "assumed" }\n'
            'ec50_damps_neutrophil = { value = 0.2, unit = "1", bounds = [0.1, 2], source = "x", '
            'evidence = "guessed" }\n')
    with pytest.raises(ParameterError) as err:
        ParameterSet.load(_write(tmp_path, text), model)
    msg = str(err.value)
    assert "unknown parameter 'd_neutrophilz'" in msg and "'d_neutrophils'" in msg
    assert "k_neutrophil_influx" in msg and "not compatible" in msg
    assert "evidence 'guessed'" in msg


def test_unknown_bundled_set(model):
    with pytest.raises(ParameterError, match="parameter file 'dog' is not a regular file"):
        ParameterSet.load("dog", model)

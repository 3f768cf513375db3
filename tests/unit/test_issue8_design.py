"""Issue 8 (solid ground), design items: pure results, perturbations and one rule of parameter
precedence, parameter roles, State scales, optional extras, the t-based power calculation,
and a property-based test of the scenario loader."""

from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cordsim
from cordsim.core import Model, Param, State, Submodel
from cordsim.design.scenario import scenario_from_dict
from cordsim.design.setup import resolve_parameters
from cordsim.errors import CordsimError, ParameterError, ScenarioError
from cordsim.run.cohort import animals_for_power, varied_parameters


# 13 --------------------------------------------------------------------------------------
def test_issue8_results_are_pure_data_that_round_trip(tmp_path):
    res = cordsim.Simulation(injury="mild").run(days=5, dt=1.0)
    assert {f.name for f in dataclasses.fields(res)} == {
        "time", "data", "units", "descriptions", "provenance", "status", "reported",
        "sensitivity_names", "sensitivity_nominal", "sensitivities"}  # (empty: none asked)
    assert not res.sensitivity_names and not res.sensitivities
    path = res.to_netcdf(tmp_path / "r.nc")
    back = cordsim.SimulationResult.from_netcdf(path)
    np.testing.assert_array_equal(back.time, res.time)
    np.testing.assert_array_equal(back.reported, res.reported)
    assert back.provenance == res.provenance and back.units == res.units
    assert back.summary().equals(res.summary())
    assert back.to_dataframe().equals(res.to_dataframe())
    assert len(res.to_dataframe()) == 6  # the report grid; the solution has more points
    assert res.time.size > 6


def test_issue8_a_result_can_come_from_any_engine():
    model = cordsim.CordModel()
    t = np.array([0.0, 1.0])
    data = {name: np.zeros(2) for name in (*model.state_names, *model.output_names)}
    res = cordsim.SimulationResult.from_arrays(t, data, model=model,
                                               provenance=cordsim.Provenance(model="other"))
    assert res.units["bbb_score"] == "1" and res.summary()["value"].notna().any()


# 14 --------------------------------------------------------------------------------------
def test_issue8_precedence_rule(model):
    base = cordsim.default_parameters()
    layered = resolve_parameters(
        base, model=model, injury=cordsim.Injury("severe"),
        protocol=cordsim.Protocol((cordsim.Dose("sev_hypoxia", "1e9 particle"),)),
        scenario_parameters={"d_neutrophils": 1.0, "cargo_mir216a_5p": 0.01},
        arm_parameters={"d_neutrophils": 1.2},
        perturbations=(cordsim.Perturbation("marco_activity", 0.3),))
    severe = cordsim.data.injury_presets()["severe"]["injury_severity"]
    assert layered["injury_severity"] == severe  # preset over defaults
    assert layered["cargo_mir146a_5p"] == 0.015  # product over defaults
    assert layered["cargo_mir216a_5p"] == 0.01  # scenario over product
    assert layered["d_neutrophils"] == 1.2  # arm over scenario
    assert layered["marco_activity"] == 0.3  # perturbation
    labels = " ".join(layered.history)
    assert "(injury preset 'severe')" in labels and "(arm parameters)" in labels


def test_issue8_values_the_user_set_are_never_overwritten(model):
    user = cordsim.default_parameters().replace(injury_severity=0.62, cargo_mir23b=0.2)
    sim = cordsim.Simulation(parameters=user, injury="severe",
                             protocol=cordsim.Protocol((cordsim.Dose("sev_mir23b",
                                                                     "1e9 particle"),)))
    assert sim.parameters["injury_severity"] == 0.62  # (main: the preset's 0.7)
    assert sim.parameters["cargo_mir23b"] == 0.2  # (main: the product's 0.03)
    assert any("kept the user's 0.62 over injury preset 'severe'" in h
               for h in sim.parameters.history)


def test_issue8_perturbations_are_separate_from_parameters(model):
    with pytest.raises(ParameterError, match="'marco_activity' cannot be set in parameters: "
                                             "use 'perturbations'"):
        resolve_parameters(cordsim.default_parameters(), model=model,
                           injury=cordsim.Injury(), arm_parameters={"marco_activity": 0.3})
    with pytest.raises(ParameterError, match="set by the protocol's doses"):
        resolve_parameters(cordsim.default_parameters(), model=model,
                           injury=cordsim.Injury(), scenario_parameters={"input_sev_plasma": 1})
    with pytest.raises(ScenarioError, match="unknown perturbation 'marco'.*did you mean"):
        cordsim.Perturbation("marco", 0.3)
    sc = scenario_from_dict({"arms": [{"name": "poly-G",
                                       "perturbations": {"marco_activity": 0.3}}]})
    assert sc.arms[0].perturbations == (cordsim.Perturbation("marco_activity", 0.3),)


# 15 --------------------------------------------------------------------------------------
def test_issue8_parameter_roles_decide_what_varies(model, params):
    roles = {name: p.role for name, p in model.params.items()}
    names = set(varied_parameters(params))
    assert names and all(roles[n] == "physiological" for n in names)
    for name, role in (("injury_severity", "injury"), ("cargo_mir23b", "product"),
                       ("input_sev_plasma", "dose_input"), ("marco_activity", "experimental"),
                       ("bbb_max", "structural")):
        assert roles[name] == role and name not in names
    with pytest.raises(ValueError, match="parameter role 'odd'"):
        Param("x", "1", role="odd")


class _Scaled(Submodel):
    big = State("a big state", "1", initial=1.0, scale=1e6)
    k_big = Param("decay", "1/day")

    def rates(self, t, v, p):
        return {"big": -p.k_big * v.big}


def test_issue8_state_scale_is_kept():
    model = Model([_Scaled()])
    assert model.states["big"].scale == 1e6 and model.state_scales[0] == 1e6


# 17 --------------------------------------------------------------------------------------
def test_issue8_power_uses_the_t_distribution():
    assert animals_for_power(1.5) == 9  # (main's normal approximation: 7)
    assert animals_for_power(0.0) == math.inf


def test_issue8_missing_extra_names_it(monkeypatch):
    from cordsim._optional import require

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(CordsimError, match=r"pip install 'cordsim\[cohort\]'"):
        require("pyarrow", "cordsim cohort")


# property-based: any structure gives a clean error or a valid, runnable scenario ----------
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
_value = st.recursive(_scalar, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=8)
_dose = st.fixed_dictionaries({"product": st.sampled_from(["sev_naive", "msc", "nope", 3]),
                               "amount": st.sampled_from(["1e9 particle", "50 ug", "1e6 cell",
                                                          "-1 ug", "9**9 x", 5])},
                              optional={"route": st.sampled_from(["iv", "intrathecal", "x"]),
                                        "schedule": st.sampled_from(["bolus", "daily", "times",
                                                                     "infusion", 1]),
                                        "start": st.one_of(st.floats(-1, 5), _value),
                                        "count": st.one_of(st.integers(-2, 4), _value),
                                        "times": st.one_of(st.lists(st.floats(-1, 4),
                                                                    max_size=3), _value),
                                        "duration": st.one_of(st.floats(-1, 4), _value),
                                        "extra": _value})
_arm = st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.text(max_size=6), _value),
    "doses": st.one_of(st.lists(_dose, max_size=2), _value),
    "parameters": st.one_of(st.dictionaries(st.sampled_from(["d_neutrophils", "k_regrowth",
                                                             "bogus", "marco_activity"]),
                                            st.one_of(st.floats(0, 2), st.text(max_size=8)),
                                            max_size=2), _value),
    "perturbations": st.one_of(st.dictionaries(st.sampled_from(["marco_activity", "x"]),
                                               st.floats(-1, 2), max_size=1), _value),
    "injury": st.one_of(st.sampled_from(["none", "mild", "bad"]), _value)})
_scenario = st.fixed_dictionaries({}, optional={
    "arms": st.one_of(st.lists(_arm, max_size=3), _value),
    "days": st.one_of(st.floats(0.01, 4), _value),
    "dt": st.one_of(st.floats(0.01, 2), _value),
    "injury": st.one_of(st.sampled_from(["moderate", "severe", "x"]), _value),
    "species": st.one_of(st.just("rat"), _value),
    "parameters": st.one_of(st.dictionaries(st.sampled_from(["d_neutrophils", "bogus"]),
                                            st.floats(0, 5), max_size=1), _value),
    "junk": _value})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenario)
def test_scenario_loader_gives_a_clean_error_or_a_valid_run(data):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # out-of-bounds values and cut infusions warn
        try:
            scenario = scenario_from_dict(data)
            result = cordsim.run_scenario(scenario)
        except CordsimError as err:
            assert str(err)  # a message, never a traceback
            return
    assert set(result.arms) == {a.name for a in scenario.arms}
    for res in result.arms.values():
        assert res.time[-1] == pytest.approx(scenario.days)

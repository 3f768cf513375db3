"""Protocols, products, doses and scenario files: parsing, conversion and every bad input."""

from __future__ import annotations

import pytest

from cordsim.data import products
from cordsim.design.dosing import Dose, Protocol, body_weight_kg, parse_amount
from cordsim.design.scenario import load_scenario, scenario_from_dict
from cordsim.errors import ScenarioError


def test_amount_units_and_purity():
    assert parse_amount("1e9 particle", "sev_naive", "rat") == pytest.approx(1e9)
    purity = float(products()["sev_naive"]["purity"].split()[0])
    assert parse_amount("50 ug", "sev_naive", "rat") == pytest.approx(50 * purity)
    assert parse_amount("0.05 mg", "sev_naive", "rat") == pytest.approx(50 * purity)
    assert parse_amount("1e6 cell", "msc", "rat") == pytest.approx(1e6)


def test_per_kg_scales_by_body_weight():
    bw = body_weight_kg("rat")
    assert 0.15 < bw < 0.5
    assert parse_amount("4e6 cell/kg", "msc", "rat") == pytest.approx(4e6 * bw)
    assert parse_amount("100 ug/kg", "sev_naive", "rat") == pytest.approx(
        parse_amount("100 ug", "sev_naive", "rat") * bw)


@pytest.mark.parametrize("amount, message", [
    ("1e9", "has no unit"),
    ("-5 particle", "must be positive"),
    ("0 particle", "must be positive"),
    ("1e9 blorbs", "unknown unit"),
    ("1e9 mL", "dosed in particles or protein mass"),
    ("abc particle", "does not start with a number"),
])
def test_bad_sev_amounts(amount, message):
    with pytest.raises(ScenarioError, match=message):
        Dose("sev_naive", amount, "iv")


def test_msc_needs_cells():
    with pytest.raises(ScenarioError, match="msc is dosed in cells"):
        Dose("msc", "1e9 particle", "iv")


def test_unknown_product_route_schedule_name_the_field():
    with pytest.raises(ScenarioError,
                       match=r"unknown product 'sev_naiv'.*did you mean 'sev_naive'"):
        Dose("sev_naiv", "1e9 particle")
    with pytest.raises(ScenarioError, match=r"unknown route 'intravenous'; allowed: iv"):
        Dose("sev_naive", "1e9 particle", route="intravenous")
    with pytest.raises(ScenarioError,
                       match=r"route 'intranasal' is not modelled for product 'msc'; "
                             r"allowed: iv, intrathecal, intralesional"):
        Dose("msc", "1e6 cell", route="intranasal")
    with pytest.raises(ScenarioError, match=r"unknown schedule 'weekly'"):
        Dose("sev_naive", "1e9 particle", schedule="weekly")


def test_infusion_needs_duration_and_route():
    with pytest.raises(ScenarioError, match="needs a duration"):
        Dose("sev_naive", "1e9 particle", schedule="infusion")
    with pytest.raises(ScenarioError, match="duration must be a positive number of days"):
        Dose("sev_naive", "1e9 particle", schedule="infusion", duration=0)
    with pytest.raises(ScenarioError, match="cannot be infused"):
        Dose("sev_naive", "1e9 particle", route="hydrogel", schedule="infusion", duration=1)


def test_dose_before_injury_is_rejected():
    with pytest.raises(ScenarioError, match="before the injury"):
        Dose("sev_naive", "1e9 particle", start=-1)


def test_schedules_give_events_and_totals():
    daily = Dose("sev_naive", "1e9 particle", schedule="daily", count=3, start=7)
    assert [t for t, _ in daily.events("rat")] == [7.0, 8.0, 9.0]
    assert daily.total("rat") == pytest.approx(3e9)
    times = Dose("sev_naive", "1e9 particle", schedule="times", times=(0, 0.5, 4), start=1)
    assert [t for t, _ in times.events("rat")] == [1.0, 1.5, 5.0]
    inf = Dose("sev_naive", "6e9 particle", schedule="infusion", duration=3, start=2)
    assert inf.events("rat") == []
    assert inf.infusion("rat") == pytest.approx((2.0, 5.0, 2e9))
    assert inf.total("rat") == pytest.approx(6e9)
    with pytest.raises(ScenarioError, match="integer count between 1 and 1000"):
        Dose("sev_naive", "1e9 particle", schedule="daily", count=0)
    with pytest.raises(ScenarioError, match="needs a list of 1-1000 day offsets"):
        Dose("sev_naive", "1e9 particle", schedule="times")


def test_protocol_gives_one_product_and_its_cargo():
    prot = Protocol((Dose("sev_rnase", "1e9 particle"),))
    assert prot.product_parameters()["cargo_mir23b"] == 0.0
    assert Protocol().product_parameters() == {}
    with pytest.raises(ScenarioError, match="one product"):
        Protocol((Dose("sev_naive", "1e9 particle"), Dose("msc", "1e6 cell")))


def test_every_cargo_preset_is_a_known_parameter(params):
    for name, prod in products().items():
        for key in prod["parameters"]:
            assert key in params.values, (name, key)


def test_builtin_default_scenario_loads():
    sc = load_scenario("default")
    assert [a.name for a in sc.arms] == ["vehicle", "IV MSC", "fractionated sEV",
                                         "single sEV bolus"]
    totals = [sum(d.total("rat") for d in a.protocol.doses) for a in sc.arms[2:]]
    assert totals[0] == pytest.approx(totals[1])  # same total dose


@pytest.mark.parametrize("data, message", [
    ({"arms": []}, "arms: List should have at least 1 item"),
    ({"arm": [{"name": "x"}]}, r"arm: unknown key 'arm' \(did you mean 'arms'\?\); allowed: "),
    ({"injury": "medium", "arms": [{"name": "x"}]}, "unknown severity 'medium'"),
    ({"species": "mouse", "arms": [{"name": "x"}]}, "unknown species 'mouse'"),
    ({"days": -3, "arms": [{"name": "x"}]}, r"days: Input should be greater than 0 \(got -3\)"),
    ({"arms": [{"name": "x", "doses": [{"product": "sev_naive"}]}]},
     r"arms\[0\]\.doses\[0\]\.amount: Field required"),
    ({"arms": [{"name": "x", "doses": [{"product": "sev_naive", "amount": "1e9 particle",
                                        "rout": "iv"}]}]}, r"'rout' \(did you mean 'route'\?\)"),
    ({"arms": [{"name": "x", "doses": [{"product": "sev_naive", "amount": "1e9"}]}]},
     r"arm 'x', dose 1: dose amount '1e9' has no unit"),
    ({"arms": [{"name": "x"}, {"name": "x"}]}, "must be unique"),
])
def test_scenario_errors_name_the_field(data, message):
    with pytest.raises(ScenarioError, match=message):
        scenario_from_dict(data, name="test")


def test_scenario_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed\n")
    with pytest.raises(ScenarioError, match="malformed TOML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match=r"no scenario file 'defualt'.*did you mean 'default'"):
        load_scenario("defualt")


@pytest.mark.parametrize(("product", "amount", "unit"), [("sev_naive", "100 kg", "particles"),
                                                         ("msc", "1e10 cell", "cells")])
def test_a_dose_beyond_any_rat_study_is_refused(product, amount, unit):
    """A unit slip ('100 kg' for '100 ug') is a clear error, not a solver failure."""
    with pytest.raises(ScenarioError, match=rf"{unit} per dose, beyond the .* cordsim accepts"
                                            r".*check the unit"):
        Dose(product, amount)

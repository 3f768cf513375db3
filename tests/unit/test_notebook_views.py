"""Notebook fit (issue 11, item 2): compact repr, HTML views and .plot() on results."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import cordsim


@pytest.fixture(scope="module")
def result():
    return cordsim.run_scenario(cordsim.load_scenario("default"))


def test_reprs_are_short_and_html_views_name_the_content(result):
    scenario = cordsim.load_scenario("default")
    params = cordsim.default_parameters("rat")
    for obj in (scenario, params, result, result["IV MSC"]):
        assert len(repr(obj)) < 200
        page = obj._repr_html_()
        assert page.startswith("<table>") and len(page) < 5000
    assert "IV MSC" in scenario._repr_html_() and "fitted" in params._repr_html_()
    assert "bbb_score at day 70" in result["IV MSC"]._repr_html_()


def test_plot_draws_the_difference_from_the_first_arm(result):
    fig = result.plot("bbb_score", difference=True)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["IV MSC", "fractionated sEV", "single sEV bolus"]
    gain = ax.lines[0].get_ydata()
    expected = result["IV MSC"]["bbb_score"] - result["vehicle"]["bbb_score"]
    assert np.allclose(gain, expected)
    assert len(result["vehicle"].plot("bbb_score", "tnf").axes) == 2

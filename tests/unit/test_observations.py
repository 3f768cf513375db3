"""The observation dataset: provenance on every row, and a split by source fixed before fitting."""

from __future__ import annotations

import numpy as np
import pytest

import cordsim.data
from cordsim.evaluation.observations import peak_time


def test_every_row_has_its_provenance():
    df = cordsim.data.observations()
    assert len(df) > 150
    assert (df["source"] != "").all() and (df["evidence"] != "").all()
    assert set(df["set"]) == {"calibration", "validation"}
    assert set(df["use"]) <= {"fit", "check", "record"}


def test_a_source_is_wholly_in_one_set():
    df = cordsim.data.observations()
    sets = df.groupby("source")["set"].nunique()
    assert (sets == 1).all(), list(sets[sets > 1].index)


def test_only_calibration_rows_are_fitted():
    df = cordsim.data.observations()
    assert set(df.loc[df["use"] == "fit", "set"]) == {"calibration"}
    assert (df[(df["set"] == "validation") & (df["use"] == "check")].shape[0]) >= 30


class _Series:
    """The two things peak_time reads from a result: ``time`` and ``result[name]``."""

    def __init__(self, time, **data):
        self.time = np.asarray(time, dtype=float)
        self.data = {k: np.asarray(v, dtype=float) for k, v in data.items()}

    def __getitem__(self, name):
        return self.data[name]


def test_peak_time_is_not_rounded_to_the_output_grid():
    t = np.arange(0.0, 1.0, 1 / 48)  # half-hourly, as in the first day of a run
    true_peak = 0.1146  # 2.75 h: between the 2.5-h and 3-h samples
    pulse = (t / true_peak) * np.exp(1 - t / true_peak)  # transit pulse peaking at true_peak
    res = _Series(t, a=pulse, b=0.5 * pulse)
    assert abs(peak_time(res, "a") - true_peak) < 0.1 / 24  # within 6 minutes
    assert t[int(np.argmax(pulse))] == 0.125  # what the grid alone would say
    assert peak_time(res, "a + b") == pytest.approx(peak_time(res, "a"))
    rising = _Series(t, a=t)  # a maximum at the last sample stays there
    assert peak_time(rising, "a") == t[-1]


def test_peak_time_on_an_uneven_grid_and_flat_or_broken_tops():
    t = np.array([0.0, 0.5, 1.0, 2.0, 3.5, 5.0])  # uneven spacing around the top
    parabola = 10.0 - (t - 1.3) ** 2
    assert peak_time(_Series(t, a=parabola), "a") == pytest.approx(1.3)
    flat = np.array([0.0, 1.0, 3.0, 3.0, 1.0, 0.0])  # top spans the 3rd and 4th samples
    assert peak_time(_Series(t, a=flat), "a") == pytest.approx(1.5)
    broken = np.array([0.0, 1.0, np.nan, 2.0, 1.0, 0.0])  # a NaN never gives a NaN day
    assert np.isfinite(peak_time(_Series(t, a=broken), "a"))

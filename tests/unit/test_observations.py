"""The observation dataset: provenance on every row, and a split by source fixed before fitting."""

from __future__ import annotations

import cordsim.data


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

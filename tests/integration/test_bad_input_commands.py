"""Bad input that slipped through: scenario doses in moles, duplicate dose times, control
characters in names; scan and optimize with a NaN threshold; a negative seed; an unknown
species for a state; runs whose memory exceeds the limit; a Dask peer that answers garbage.
Each gives exit 2 with a message naming the problem (or the documented warning), before any
work and without a traceback."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from cordsim.cli import EXIT_BAD_INPUT, main

BASE = ('days = 14\n[[arms]]\nname = "vehicle"\n[[arms]]\nname = "x"\n'
        'doses = [{ product = "sev_naive", %s, route = "iv", start = 1 }]\n')
MINI = ('name = "mini"\ndays = 14\n[[arms]]\nname = "vehicle"\n[[arms]]\nname = "sEV"\n'
        'doses = [{ product = "sev_naive", amount = "2.4e10 particle", route = "iv", '
        'schedule = "daily", count = 3, start = 7 }]\n')


def _refused(capsys, argv, *words, out=None):
    start = time.monotonic()
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    if out is not None:
        assert not out.exists()
    return time.monotonic() - start


@pytest.mark.parametrize(("dose", "words"), [
    ('amount = "1e-12 mol", schedule = "bolus"',
     ["'1e-12 mol': moles are not a dose unit"]),  # was taken as ~6e11 vesicles
    ('amount = "1 mmol/kg", schedule = "bolus"', ["moles are not a dose unit"]),
    ('amount = "1e9 particle", schedule = "times", times = [1, 1, 1]',
     ["lists day(s) 1 more than once", "3x the amount"]),  # was a silent triple dose
    ('amount = "1e9 particle", schedule = "times", times = [0, 2, 2, 5]',
     ["lists day(s) 2 more than once"]),
])
def test_scenario_doses_that_changed_silently_are_refused(tmp_path, capsys, dose, words):
    scen = tmp_path / "s.toml"
    scen.write_text(BASE % dose)
    _refused(capsys, ["run", str(scen), "--ensemble", "0", "--out", str(tmp_path / "o")],
             "arm 'x', dose 1", *words, out=tmp_path / "o")


@pytest.mark.parametrize(("where", "text"), [
    ("arm", 'name = "x\\u0000y\\nz"'),
    ("arm", 'name = "tab\\there"'),
    ("scenario", 'name = "a\\u001bb"'),
])
def test_control_characters_in_names_are_refused(tmp_path, capsys, where, text):
    """A NUL in an arm name crashed the NetCDF writer after the run, leaving partial files."""
    if where == "arm":
        body = f'days = 3\n[[arms]]\nname = "vehicle"\n[[arms]]\n{text}\n'
    else:
        body = f'{text}\ndays = 3\n[[arms]]\nname = "vehicle"\n'
    scen = tmp_path / "s.toml"
    scen.write_text(body)
    _refused(capsys, ["run", str(scen), "--out", str(tmp_path / "o")], "control character",
             out=tmp_path / "o")


def test_a_description_may_hold_newlines_but_no_nul():
    from cordsim.design.scenario import scenario_from_dict
    from cordsim.errors import ScenarioError

    ok = scenario_from_dict({"description": "line one\nline two", "arms": [{}]})
    assert ok.description.count("\n") == 1
    with pytest.raises(ScenarioError, match="description: control character U\\+0000"):
        scenario_from_dict({"description": "a\x00b", "arms": [{}]})


@pytest.mark.parametrize("command", [
    ["scan", "default", "--arm", "fractionated sEV", "--vary", "dose=1e9,1e10", "--n", "5"],
    ["optimize", "default", "--arm", "fractionated sEV", "--objective", "probability",
     "--trials", "3", "--n", "4"],
])
@pytest.mark.parametrize("threshold", ["nan", "inf", "-inf"])
def test_a_threshold_that_is_not_finite_is_refused(tmp_path, capsys, command, threshold):
    """NaN gave p_gain = 0 everywhere and a 'best' protocol worse than the arm's own."""
    took = _refused(capsys, [*command, f"--threshold={threshold}", "--out",
                             str(tmp_path / "o")], "--threshold must be a finite number",
                    out=tmp_path / "o")
    assert took < 5  # before any run


def test_the_library_refuses_a_nan_threshold_too():
    from cordsim.analysis.optimize import optimize_protocol
    from cordsim.analysis.scan import scan
    from cordsim.errors import ScenarioError

    with pytest.raises(ScenarioError, match="threshold must be a finite number"):
        scan("default", "fractionated sEV", {"dose": [1e9]}, threshold=float("nan"))
    with pytest.raises(ScenarioError, match="threshold must be a finite number"):
        optimize_protocol("default", "fractionated sEV", threshold=float("nan"))


@pytest.mark.parametrize("command", [
    ["sensitivity", "mini.toml", "--n", "2", "--param", "d_tnf", "--param", "d_neutrophils"],
    ["scan", "default", "--arm", "fractionated sEV", "--vary", "dose=1e9"],
    ["optimize", "default", "--arm", "fractionated sEV", "--trials", "2", "--n", "2"],
])
def test_a_negative_seed_is_refused(tmp_path, capsys, monkeypatch, command):
    """sensitivity --seed -1 gave numpy's 'expected non-negative integer' traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mini.toml").write_text(MINI)
    _refused(capsys, [*command, "--seed", "-1", "--out", str(tmp_path / "o")],
             "--seed must be an integer from 0", out=tmp_path / "o")


def test_explain_refuses_an_unknown_species_for_a_state_too(capsys):
    """`explain bbb_score --species mouse` printed the rat model and exited 0."""
    for name in ("bbb_score", "neutrophils", "k_csf_lesion"):
        _refused(capsys, ["explain", name, "--species", "mouse"], "unknown species 'mouse'")
    assert main(["explain", "x" * 100_000]) == EXIT_BAD_INPUT
    assert len(capsys.readouterr().err) < 500  # the name is not echoed whole


# ------------------------------------------------------------------------ memory limits
def test_a_run_whose_memory_exceeds_the_limit_is_refused_before_it_starts(tmp_path, capsys):
    """50 arms x 3650 days every 0.0365 day: inside every count limit, 11 GB and a crash."""
    arms = "".join(f'[[arms]]\nname = "a{i}"\n' for i in range(50))
    scen = tmp_path / "big.toml"
    scen.write_text(f"days = 3650\ndt = 0.0365\n{arms}")
    took = _refused(capsys, ["run", str(scen), "--ensemble", "0", "--out", str(tmp_path / "o")],
                    "50 arm(s) x 100,001 report times", "beyond the limit of",
                    "CORDSIM_MEMORY_LIMIT_GB", "raise dt", out=tmp_path / "o")
    assert took < 10


def test_the_memory_limit_is_set_by_the_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CORDSIM_MEMORY_LIMIT_GB", "0.2")
    _refused(capsys, ["run", "natural-history", "--days", "14", "--out", str(tmp_path / "o")],
             "beyond the limit of 0.2 GB", out=tmp_path / "o")
    monkeypatch.setenv("CORDSIM_MEMORY_LIMIT_GB", "lots")
    _refused(capsys, ["run", "natural-history", "--days", "14", "--out", str(tmp_path / "o")],
             "CORDSIM_MEMORY_LIMIT_GB must be a positive number of GB, got 'lots'")


def test_optimize_checks_memory_and_trials_before_drawing_animals(tmp_path, capsys):
    """--n 1000000 drew a million animals for 45 s and raised MemoryError; --trials
    100000000 was checked only after that."""
    took = _refused(capsys, ["optimize", "default", "--arm", "fractionated sEV", "--n",
                             "1000000", "--trials", "2", "--out", str(tmp_path / "o")],
                    "with 1,000,000 animals would need about", "lower --n",
                    out=tmp_path / "o")
    assert took < 10
    took = _refused(capsys, ["optimize", "default", "--arm", "fractionated sEV", "--n",
                             "1000000", "--trials", "100000000", "--out", str(tmp_path / "o")],
                    "trials must be an integer from 1 to 100,000", out=tmp_path / "o")
    assert took < 10


def test_scan_and_sensitivity_check_memory_before_work(tmp_path, capsys, monkeypatch):
    _refused(capsys, ["scan", "default", "--arm", "fractionated sEV", "--vary", "dose=1e9",
                      "--n", "1000000", "--out", str(tmp_path / "o")],
             "with 1,000,000 animals would need about", out=tmp_path / "o")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mini.toml").write_text(MINI)
    _refused(capsys, ["sensitivity", "mini.toml", "--n", "1000000", "--out",
                      str(tmp_path / "o")], "morris design of", "lower --n",
             out=tmp_path / "o")


# ------------------------------------------------------------------------ Dask scheduler
def test_a_scheduler_address_warns_that_it_must_be_trusted_and_garbage_is_exit_2(tmp_path,
                                                                                 capsys):
    """A peer that answered garbage gave a 3 EiB allocation traceback (audit c43)."""
    pytest.importorskip("distributed")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]

    def answer_garbage():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            try:
                conn.sendall(b"\xff" * 64 + os.urandom(4096))
                time.sleep(0.5)
            except OSError:
                pass
            conn.close()

    threading.Thread(target=answer_garbage, daemon=True).start()
    (tmp_path / "mini.toml").write_text(MINI)
    try:
        _refused(capsys, ["cohort", str(tmp_path / "mini.toml"), "--n", "4", "--scheduler",
                          f"tcp://127.0.0.1:{port}", "--out", str(tmp_path / "co")],
                 "must be trusted: Dask unpickles its messages",
                 "did not answer as a Dask scheduler")
    finally:
        server.close()
    import dask
    from distributed import default_client

    assert dask.config.get("scheduler", None) != "dask.distributed"  # no global left over
    with pytest.raises(ValueError, match="No clients found"):
        default_client()


def _fit_folder(folder, samples):
    """A folder with the shipped parameter set and the given samples.csv text."""
    import shutil

    from cordsim.data import data_path

    shutil.copy(data_path("parameter_sets", "rat.toml"), folder / "rat.toml")
    (folder / "samples.csv").write_text(samples)
    return folder


@pytest.mark.parametrize(("make", "words"), [
    (lambda d: d / "absent", ["not a folder"]),
    (lambda d: d, ["is not a 'cordsim calibrate' output", "rat.toml, samples.csv missing"]),
    (lambda d: _fit_folder(d, "nothing,here\n1,2\n"),
     ["no member with a parameter of cordsim's model"]),
    (lambda d: _fit_folder(d, "k_locomotor_recovery\nabc\n"), ["not a finite number"]),
])
def test_a_parameters_folder_that_is_not_a_calibration_is_refused(tmp_path, capsys, make,
                                                                   words):
    """cordsim run --parameters DIR (issue 21): a folder without a fit is named, before any
    work."""
    folder = tmp_path / "fit"
    folder.mkdir()
    scen = tmp_path / "mini.toml"
    scen.write_text(MINI)
    _refused(capsys, ["run", str(scen), "--parameters", str(make(folder)),
                      "--out", str(tmp_path / "o")], *words, out=tmp_path / "o")


@pytest.mark.parametrize(("argv", "words"), [
    (["--days", "-3"], ["days must be a positive number, got -3.0"]),
    (["--dt", "0"], ["dt must be a positive number, got 0.0"]),
    (["--days", "5"], ["--days 5, arm 'sEV'", "after the last simulated day"]),
    (["--species", "mouse"], ["--species 'mouse'", "is a rat scenario"]),
])
def test_run_flags_on_a_scenario_are_applied_or_refused(tmp_path, capsys, argv, words):
    """Flags that silently did nothing on a scenario (issue 24): --days -3 exited 0."""
    scen = tmp_path / "mini.toml"
    scen.write_text(MINI)
    _refused(capsys, ["run", str(scen), "--ensemble", "0", *argv,
                      "--out", str(tmp_path / "o")], *words, out=tmp_path / "o")


def test_run_severity_and_days_override_a_scenario(tmp_path, capsys):
    import pandas as pd

    scen = tmp_path / "mini.toml"
    scen.write_text(MINI)
    assert main(["run", str(scen), "--ensemble", "0", "--severity", "severe", "--days", "10",
                 "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "days 14 -> 10 (--days)" in out and "injury moderate -> severe (--severity)" in out
    tc = pd.read_csv(tmp_path / "o" / "timecourse.csv")
    assert tc["time_day"].max() == 10
    import xarray as xr

    with xr.open_dataset(tmp_path / "o" / "timecourse.nc", engine="h5netcdf") as ds:
        assert "severe" in ds.attrs.get("provenance_by_arm", "")

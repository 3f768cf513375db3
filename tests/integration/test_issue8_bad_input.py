"""Issue 8 (solid ground): no traceback, silent nonsense or lost data on bad or unusual input.

One test per numbered item of the issue; each failed on main before the change.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import cordsim
from cordsim.cli import EXIT_BAD_INPUT, EXIT_SOLVER_FAILED, main
from cordsim.design.scenario import load_scenario, scenario_from_dict
from cordsim.errors import ScenarioError

SMALL = ('name = "small"\ninjury = "moderate"\ndays = 12\n[[arms]]\nname = "vehicle"\n'
         '[[arms]]\nname = "sEV"\ndoses = [{product = "sev_naive", amount = "2.4e10 particle", '
         'schedule = "daily", count = 3, start = 2}]\n')


def _summary(path):
    df = pd.read_csv(path / "summary.csv")
    return dict(zip(df["metric"], df["value"], strict=True))


# 1 ---------------------------------------------------------------------------------------
def test_issue8_summaries_come_from_the_solution_whatever_dt(tmp_path):
    ref = {}
    for dt in ("0.25", "7", "100"):
        out = tmp_path / dt
        assert main(["run", "natural-history", "--dt", dt, "--out", str(out)]) == 0
        ref[dt] = _summary(out)
        assert len(pd.read_csv(out / "timecourse.csv")) == {"0.25": 281, "7": 11, "100": 2}[dt]
    for dt in ("7", "100"):
        for metric in ("neutrophil_peak", "tnf_peak", "bbb_day28", "bbb_day70",
                       "bscb_permeability_peak", "neutrophil_peak_hour"):
            assert ref[dt][metric] == pytest.approx(ref["0.25"][metric], rel=1e-9), (dt, metric)
    assert ref["7"]["neutrophil_peak"] > 1000  # (main: 7.9 with --dt 7)


# 2, 3 ------------------------------------------------------------------------------------
@pytest.fixture()
def cohort_dir(tmp_path):
    scen = tmp_path / "my.toml"
    scen.write_text(SMALL)
    out = tmp_path / "cohort"
    args = ["cohort", str(scen), "--n", "4", "--chunk", "2", "--workers", "1", "--out", str(out)]
    assert main(args) == 0
    return scen, out, args


def test_issue8_resume_with_an_edited_scenario_is_refused(cohort_dir, capsys):
    scen, out, args = cohort_dir
    scen.write_text(SMALL.replace("2.4e10 particle", "9e10 particle"))
    next(out.glob("animals/chunk-arm01-*.parquet")).unlink()
    assert main(args) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "other inputs (the scenario file changed since)" in err and "new folder" in err


def test_issue8_a_rerun_with_another_chunk_size_counts_each_animal_once(cohort_dir):
    """Chunk size is not part of a cohort's identity, so a rerun with another --chunk is
    accepted; the earlier layout's chunks (and stray copies) are removed, not read twice."""
    scen, out, args = cohort_dir
    stray = out / "animals" / "chunk-arm00-000000000 copy.parquet"
    stray.write_bytes(next(out.glob("animals/chunk-arm00-*.parquet")).read_bytes())
    assert main([a for a in args if a not in ("--chunk", "2")]) == 0  # default chunk size
    trial = pd.read_csv(out / "trial.csv")
    assert (trial["n_arm"] == 4).all() and (trial["n_control"] == 4).all()
    assert not stray.exists() and len(list(out.glob("animals/*.parquet"))) == 2


def test_issue8_damaged_or_foreign_chunks_are_recomputed(cohort_dir):
    from cordsim.run.cohort import read_animals

    scen, out, args = cohort_dir
    good = read_animals(out)
    chunks = sorted(out.glob("animals/chunk-*.parquet"))
    chunks[0].write_bytes(b"")  # zero bytes
    chunks[1].write_bytes(chunks[1].read_bytes()[:100])  # truncated
    chunks[2].write_bytes(chunks[3].read_bytes())  # another chunk's (valid) file
    assert main(args) == 0
    pd.testing.assert_frame_equal(read_animals(out), good)
    assert not list(out.glob("animals/*.tmp*"))


# 4 ---------------------------------------------------------------------------------------
def _scenario(dose: str, days: int = 14) -> dict:
    return {"days": days, "arms": [{"name": "x", "doses": [json.loads(dose)]}]}


def test_issue8_doses_outside_the_simulated_days():
    with pytest.raises(ScenarioError, match="fall after the last simulated day \\(14\\)"):
        scenario_from_dict(_scenario('{"product": "sev_naive", "amount": "1e9 particle", '
                                     '"start": 1000}'))
    with pytest.raises(ScenarioError, match="count: Input should be less than or equal to 1000"):
        scenario_from_dict(_scenario('{"product": "sev_naive", "amount": "1e9 particle", '
                                     '"schedule": "daily", "count": 1000000}'))
    with pytest.raises(ScenarioError, match="13 administration\\(s\\) .* after the last"):
        scenario_from_dict(_scenario('{"product": "sev_naive", "amount": "1e9 particle", '
                                     '"schedule": "daily", "count": 27, "start": 1}'))
    with pytest.warns(UserWarning, match=r"runs to day 1000, past the last simulated day "
                                         r"\(14\): 1.4% of its 1e9 particle is delivered"):
        scenario_from_dict(_scenario('{"product": "sev_naive", "amount": "1e9 particle", '
                                     '"schedule": "infusion", "duration": 1000}'))


def test_issue8_api_refuses_doses_after_the_end():
    prot = cordsim.Protocol((cordsim.Dose("sev_naive", "1e9 particle", start=20),))
    with pytest.raises(ScenarioError, match="after the last simulated day"):
        cordsim.Simulation(protocol=prot).run(days=14)


# 5 ---------------------------------------------------------------------------------------
def test_issue8_solver_failure_keeps_everything_and_names_arm_day_states(tmp_path, capsys):
    scen = tmp_path / "absurd.toml"
    # an absurd amount is refused up front (1e15 particles at most), so an absurd
    # extravasation rate makes the dose overflow instead
    scen.write_text('days = 6\n[[arms]]\nname = "vehicle"\n[[arms]]\nname = "absurd"\n'
                    'doses = [{product = "sev_naive", amount = "1e15 particle", start = 3}]\n'
                    'parameters = {k_lesion_extravasation = 1e300}\n')
    out = tmp_path / "out"
    assert main(["run", str(scen), "--out", str(out)]) == EXIT_SOLVER_FAILED
    err = capsys.readouterr().err
    assert "arm 'absurd': solver failed at day 3 " in err and " in sev_" in err
    tc = pd.read_csv(out / "timecourse.csv")
    assert tc[tc["arm"] == "vehicle"]["time_day"].max() == 6  # the good arm is complete
    assert tc[tc["arm"] == "absurd"]["time_day"].max() == 3  # the failing one up to day 3
    for name in ("summary.csv", "endpoints.csv", "fig_comparison.png"):
        assert (out / name).stat().st_size > 0


def test_issue8_zero_lesion_volume_fails_cleanly(tmp_path, capsys):
    scen = tmp_path / "zero.toml"
    scen.write_text('days = 5\n[parameters]\nlesion_volume = 0\n[[arms]]\nname = "sEV"\n'
                    'doses = [{product = "sev_naive", amount = "1e9 particle", start = 1}]\n')
    code = main(["run", str(scen), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == EXIT_SOLVER_FAILED and "lies outside its plausible bounds" in err
    assert "arm 'sEV': solver failed at day" in err and "ZeroDivisionError" not in err
    assert (tmp_path / "o" / "timecourse.csv").exists()


def test_issue8_a_run_shorter_than_the_summary_windows(tmp_path):
    assert main(["run", "natural-history", "--days", "0.3", "--out", str(tmp_path)]) == 0
    summary = _summary(tmp_path)
    assert np.isnan(summary["m2_fraction_macrophages_peak"])  # its window starts at day 0.5
    assert summary["neutrophil_peak"] > 0


# 6 ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_issue8_killed_cohort_leaves_no_orphan_workers(tmp_path):
    import psutil

    scen = tmp_path / "s.toml"
    scen.write_text(SMALL.replace("days = 12", "days = 70"))
    proc = subprocess.Popen([sys.executable, "-m", "cordsim.cli", "cohort", str(scen),
                             "--n", "400", "--chunk", "20", "--workers", "2", "--out",
                             str(tmp_path / "c")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    animals = tmp_path / "c" / "animals"
    deadline = time.time() + 180
    while time.time() < deadline and not list(animals.glob("chunk-*.parquet")):
        time.sleep(0.1)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "the cohort should run in worker processes"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, [p.pid for p in alive]
    written = len(list(animals.glob("chunk-*.parquet")))
    time.sleep(2)
    assert len(list(animals.glob("chunk-*.parquet"))) == written < 40


# 7 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ('[[arms]]\nname = "x"\ndoses = [{product = "sev_naive", amount = "1e9 particle", '
     'schedule = "times", times = ["a"]}]', r"arms\[0\]\.doses\[0\]\.times\[0\]"),
    ('[[arms]]\nname = "x"\ndoses = [{product = "sev_naive", amount = "1e9 particle", '
     'schedule = "times", times = 5}]', r"arms\[0\]\.doses\[0\]\.times: Input should be a "
                                        r"valid list"),
    ('parameters = 5\n[[arms]]\nname = "x"', r"parameters: Input should be a valid dictionary"),
    ('[[arms]]\nname = "x"\ndoses = 5', r"arms\[0\]\.doses: Input should be a valid list"),
    ('[[arms]]\nname = "x"\nparameters = {d_neutrophils = [1]}',
     r"arms\[0\]\.parameters\.d_neutrophils"),
    ("x = " + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('days = "70"\n[[arms]]\nname = "x"', r"days: Input should be a valid"),
])
def test_issue8_malformed_values_name_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)


# 8 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["run", "natural-history", "--days", "1e9"], "beyond 3650"),
    (["run", "natural-history", "--dt", "1e-6"], "at most 100,000"),
    (["cohort", "default", "--n", "1000000000"], "n must be an integer from 1 to 1,000,000"),
    (["run", "/dev/zero"], "'/dev/zero' is not a scenario file (not a regular file)"),
])
def test_issue8_resource_limits(tmp_path, capsys, argv, message):
    start = time.perf_counter()
    assert main([*argv, "--out", str(tmp_path / "o")]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert time.perf_counter() - start < 30
    assert not (tmp_path / "o").exists()  # a refused run leaves no folder behind


@pytest.mark.parametrize("text, message", [
    ('[[arms]]\nname = "x"\ndoses = [{product = "sev_naive", amount = "1e9 particle", '
     'schedule = "daily", count = 100000000}]', "less than or equal to 1000"),
    (f'[[arms]]\nname = "{"a" * 100_000}"', "at most 100 characters"),
    (f'description = "{"d" * 1_000_000}"\n[[arms]]\nname = "x"', "larger than 1000 kB"),
    (f'description = "{"d" * 10_000}"\n[[arms]]\nname = "x"', "at most 2000 characters"),
    ('[parameters]\nd_neutrophils = "9**9**9 1/day"\n[[arms]]\nname = "x"',
     "cannot parse unit"),
])
def test_issue8_bounded_scenario_values(tmp_path, text, message):
    path = tmp_path / "big.toml"
    path.write_text(text)
    start = time.perf_counter()
    with pytest.raises(cordsim.CordsimError, match=message):
        sc = load_scenario(path)
        cordsim.Simulation(scenario_parameters=sc.parameters)
    assert time.perf_counter() - start < 10


# 9 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("option, message", [
    (["--workers", "-1"], "workers must be an integer from 1 to 256"),
    (["--workers", "0"], "workers must be an integer from 1 to 256"),
    (["--seed", "-1"], "seed must be an integer from 0"),
    (["--scheduler", "garbage"], "scheduler must be 'local' or a Dask scheduler address"),
    (["--cv", "50"], r"cv must lie in [0, 1]"),
    (["--severity-sd", "5"], r"severity_sd must lie in [0, 0.3]"),
    (["--rater-sd", "-1"], r"rater_sd must lie in [0, 5]"),
])
def test_issue8_cohort_options(tmp_path, capsys, option, message):
    assert main(["cohort", "default", "--n", "2", "--out", str(tmp_path / "c"), *option]) == \
        EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


# 10 --------------------------------------------------------------------------------------
DAMAGE = """
import os, sys, glob, pathlib
from cordsim.numerics.cache import cache_dir
kind = sys.argv[1]
root = cache_dir()
if kind == "source":
    f = sorted(root.glob("cordsim_kernel_*.py"))[0]
    f.write_text(f.read_text()[:500])
elif kind == "nbi":
    for f in root.glob("__pycache__/cordsim_kernel_*.nbi"):
        f.write_bytes(b"garbage")
elif kind == "nbc":
    for f in root.glob("__pycache__/cordsim_kernel_*.nbc"):
        f.write_bytes(f.read_bytes()[:100])
"""
RUN = ("import warnings, cordsim\nwarnings.simplefilter('always')\n"
       "r = cordsim.Simulation().run(3)\nprint('BBB', round(r.at('bbb_score', 3), 6))")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["source", "nbi", "nbc"])
def test_issue8_damaged_compile_cache_is_rebuilt(tmp_path, kind):
    env = {**os.environ, "CORDSIM_CACHE_DIR": str(tmp_path)}

    def run(*args):
        return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                              env=env, timeout=600)

    first = run("-c", RUN)
    assert first.returncode == 0, first.stderr
    assert run("-c", DAMAGE, kind).returncode == 0
    second = run("-c", RUN)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout  # same numbers from the rebuilt code
    assert "cordsim: damaged" in second.stderr or "cordsim: unreadable" in second.stderr
    third = run("-c", RUN)  # and the rebuilt cache is trusted again, silently
    assert third.returncode == 0 and "cordsim:" not in third.stderr


# 11 --------------------------------------------------------------------------------------
def test_issue8_a_local_folder_does_not_shadow_a_builtin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()
    assert [a.name for a in load_scenario("default").arms][0] == "vehicle"


def test_issue8_export_to_a_folder_fails_before_exporting(tmp_path, capsys):
    start = time.perf_counter()
    assert main(["export", "sbml", "--out", str(tmp_path)]) == EXIT_BAD_INPUT
    assert "an existing folder" in capsys.readouterr().err
    assert time.perf_counter() - start < 5


def test_issue8_empty_out_version_and_exit_codes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "natural-history", "--out", ""]) == EXIT_BAD_INPUT
    assert "output folder must not be empty" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    shown = capsys.readouterr().out
    assert exit_.value.code == 0 and shown.startswith("cordsim 0.") and "(git " in shown
    assert (EXIT_BAD_INPUT, EXIT_SOLVER_FAILED) == (2, 3)


def test_issue8_refused_run_leaves_no_empty_folder(tmp_path):
    scen = tmp_path / "bad.toml"
    scen.write_text('[[arms]]\nname = "x"\ndoses = [{product = "sev_naive", amount = '
                    '"1e9 particle", start = 100}]\n')
    assert main(["run", str(scen), "--out", str(tmp_path / "deep" / "out")]) == EXIT_BAD_INPUT
    assert not (tmp_path / "deep").exists()


def test_warnings_reach_the_user_as_one_line(tmp_path, capsys):
    scen = tmp_path / "inf.toml"
    scen.write_text('days = 3\n[[arms]]\nname = "x"\ndoses = [{product = "sev_naive", '
                    'amount = "1e9 particle", schedule = "infusion", duration = 6}]\n')
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["run", str(scen), "--out", str(tmp_path / "o")]) == 0
    assert "cordsim: warning: scenario 'inf': arm 'x': infusion of sev_naive runs to day 6" \
        in capsys.readouterr().err


def test_issue8_a_cohort_keeps_an_out_of_bounds_value_and_reports_failed_animals(tmp_path,
                                                                               capsys):
    """A value set outside the plausible bounds is simulated as set in a cohort too (it was
    clipped back to the bound in the animals' draws, silently); animals that cannot be
    simulated are listed, counted on stderr, and an arm with none left exits 3."""
    scen = tmp_path / "absurd.toml"
    scen.write_text('days = 6\n[[arms]]\nname = "vehicle"\n[[arms]]\nname = "absurd"\n'
                    'doses = [{product = "sev_naive", amount = "1e15 particle", start = 3}]\n'
                    'parameters = {k_lesion_extravasation = 1e300}\n')
    out = tmp_path / "cohort"
    assert main(["cohort", str(scen), "--n", "3", "--out", str(out)]) == EXIT_SOLVER_FAILED
    err = capsys.readouterr().err
    assert "3 animal(s) failed to simulate" in err and "solver failed at day 3" in err
    assert "every animal of arm(s) 'absurd' failed" in err
    failed = pd.read_csv(out / "failed_animals.csv")
    assert set(failed["arm"]) == {"absurd"} and len(failed) == 3
    assert len(list((out / "animals").glob("*.parquet"))) == 2  # both arms kept, failed rows too


@pytest.mark.parametrize(("option", "message"), [
    (["--keep", "0"], "keep must be a positive integer"),
    (["--n", "-1"], "n must be an integer from 2"),
    (["--n", "100"], "Sobol needs n a power of 2"),
])
def test_issue8_sensitivity_options_are_checked_before_any_run(tmp_path, capsys, option,
                                                              message):
    """A Sobol run screens with Morris first: its own options are refused before that screen
    runs, and no output folder is left."""
    out = tmp_path / "sens"
    code = main(["sensitivity", "default", "--method", "sobol", *option, "--out", str(out)])
    assert code == EXIT_BAD_INPUT and message in capsys.readouterr().err
    assert not out.exists()


def test_issue8_options_that_would_be_ignored_are_refused(tmp_path, capsys):
    """A count on a one-off schedule, an empty --routes list: refused, not silently ignored;
    a bad --total-dose says it is the whole protocol's budget."""
    scen = tmp_path / "bolus.toml"
    scen.write_text('days = 5\n[[arms]]\nname = "a"\ndoses = [{product = "sev_naive", '
                    'amount = "1e9 particle", schedule = "bolus", count = 3, start = 1}]\n')
    assert main(["run", str(scen), "--out", str(tmp_path / "o")]) == EXIT_BAD_INPUT
    assert "count applies to the 'daily' schedule only" in capsys.readouterr().err
    for option, message in ((["--routes", ""], "--routes must name at least one route"),
                            (["--total-dose", "100 kg"], "--total-dose (the whole protocol")):
        code = main(["optimize", "default", "--arm", "fractionated sEV", *option,
                     "--out", str(tmp_path / "opt")])
        assert code == EXIT_BAD_INPUT and message in capsys.readouterr().err
        assert not (tmp_path / "opt").exists()


BIG = "1" + "0" * 400  # an integer far beyond a float


@pytest.mark.parametrize("text, message", [
    ('[parameters]\nd_neutrophils = "1 1/day*"', "a dangling operator or an unclosed bracket"),
    ('[parameters]\nd_neutrophils = "1 1/(day"', "a dangling operator or an unclosed bracket"),
    (f"[parameters]\nd_neutrophils = {BIG}", "an integer of 401 digits"),
    (f'[[arms]]\nname = "a"\nperturbations = {{marco_activity = {BIG}}}',
     "perturbation 'marco_activity': 401-digit number is too large"),
])
def test_issue8_unreadable_units_and_huge_numbers_are_named(tmp_path, capsys, text, message):
    """pint's parser and float() raised past the checks (a traceback); now a message."""
    path = tmp_path / "bad.toml"
    path.write_text("days = 3\n" + text + ("" if "[[arms]]" in text else
                                           '\n[[arms]]\nname = "a"\n'))
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err

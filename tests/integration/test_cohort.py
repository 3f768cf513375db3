"""Virtual cohorts: reproducible draws, streaming chunks, resume, failures, Dask, trials."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cordsim.errors import ScenarioError
from cordsim.run.cohort import (
    CohortSpec,
    chunk_path,
    draw_animal,
    read_animals,
    run_chunk,
    run_cohort,
    trial,
    varied_parameters,
)


@pytest.fixture(scope="module")
def scen(tmp_path_factory):
    path = tmp_path_factory.mktemp("scen") / "small.toml"
    path.write_text('name = "small"\ninjury = "moderate"\ndays = 28\n[[arms]]\nname = "vehicle"\n'
                    '[[arms]]\nname = "sEV"\ndoses = [{product = "sev_naive", amount = '
                    '"2.4e10 particle", schedule = "daily", count = 3, start = 2}]\n')
    return str(path)


def test_draws_are_per_animal_reproducible_and_within_bounds(params):
    spec = CohortSpec("default", n=10, seed=7, severity_sd=0.05)
    names = varied_parameters(params)
    assert "injury_severity" not in names and "cargo_mir23b" not in names
    assert "d_neutrophils" in names
    a = draw_animal(spec, 0, 3, params, names, 0.5)
    assert a == draw_animal(spec, 0, 3, params, names, 0.5)
    assert a != draw_animal(spec, 0, 4, params, names, 0.5)
    for name in names:
        lo, hi = params.records[name].bounds
        assert lo <= a[name] <= hi
    sev = [draw_animal(spec, 0, i, params, names, 0.5)["injury_severity"] for i in range(200)]
    assert 0.03 < np.std(sev) < 0.07


def test_cohort_streams_chunks_and_resumes(scen, tmp_path):
    spec = CohortSpec(scen, n=6, chunk=3, seed=2)
    out = tmp_path / "c"
    # "kill" after one chunk: only that chunk exists; the rerun computes the rest only.
    first = run_chunk(spec, 0, 0, 3, str(out))
    stamp = chunk_path(out, 0, 0).stat().st_mtime_ns
    run_cohort(spec, out, workers=1)
    assert chunk_path(out, 0, 0).stat().st_mtime_ns == stamp
    df = read_animals(out)
    assert len(df) == 12 and (df["status"] == "ok").all()
    assert df["bbb_observed"].between(0, 21).all()
    assert (df["bbb_observed"] == df["bbb_observed"].round()).all()
    # a fresh uninterrupted run gives the same table
    fresh = tmp_path / "fresh"
    run_cohort(spec, fresh, workers=2)
    pd.testing.assert_frame_equal(df, read_animals(fresh))
    assert first.endswith(".parquet")


def test_failed_animal_is_recorded(scen, tmp_path, monkeypatch):
    from cordsim.run import simulation

    real = simulation.Simulation.solve_batch

    def flaky(self, t_eval, animals):
        out = real(self, t_eval, animals)
        if self.protocol.doses:  # every treated animal fails
            return [simulation.Trajectory(tr.t[:1], tr.y[:, :1], tr.p[:, :1],
                                          "solver failed (test)") for tr in out]
        return out

    monkeypatch.setattr(simulation.Simulation, "solve_batch", flaky)
    spec = CohortSpec(scen, n=2, chunk=2)
    run_cohort(spec, tmp_path, workers=1)
    df = read_animals(tmp_path)
    bad = df[df["status"] == "failed"]
    assert len(bad) == 2 and bad["error"].str.contains("solver failed").all()
    assert "d_neutrophils" in bad["parameters"].iloc[0]


def test_dask_local_cluster_matches_local_run(scen, tmp_path):
    pytest.importorskip("distributed")
    spec = CohortSpec(scen, n=4, chunk=2, seed=5)
    run_cohort(spec, tmp_path / "local", workers=1)
    run_cohort(spec, tmp_path / "dask", scheduler="local")
    pd.testing.assert_frame_equal(read_animals(tmp_path / "local"),
                                  read_animals(tmp_path / "dask"))


def test_trial_effect_and_sample_size():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"arm": ["c"] * 400 + ["t"] * 400, "status": "ok",
                       "bbb_observed": np.r_[rng.normal(10, 2, 400), rng.normal(11, 2, 400)]})
    row = trial(df, "c").iloc[0]
    assert row["ci_low"] < 1.0 < row["ci_high"] and row["ci_low"] > 0.5
    assert 0.35 < row["cohens_d"] < 0.65
    assert 50 < row["n_per_arm_for_power"] < 90  # 64 for d = 0.5 (t test)


def test_cohort_cli(scen, tmp_path, capsys):
    from cordsim.cli import main

    assert main(["cohort", scen, "--n", "3", "--chunk", "3", "--workers", "1",
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "percentiles.csv").exists() and (tmp_path / "trial.csv").exists()
    assert "virtual trial" in capsys.readouterr().out
    assert main(["cohort", scen, "--n", "0", "--out", str(tmp_path)]) == 2


def test_bad_cohort_spec():
    with pytest.raises(ScenarioError, match="n must be an integer from 1 to 1,000,000"):
        CohortSpec("default", n=0)
    with pytest.raises(ScenarioError, match=r"cv must lie in \[0, 1\]"):
        CohortSpec("default", n=3, cv=-1)


@pytest.mark.slow
def test_killed_cohort_resumes_to_the_same_results(scen, tmp_path):
    """Kill `cordsim cohort` mid-run, rerun it, and get what an uninterrupted run gives."""
    import signal
    import subprocess
    import sys
    import time

    cmd = [sys.executable, "-m", "cordsim.cli", "cohort", scen, "--n", "8", "--chunk", "2",
           "--workers", "1", "--seed", "4"]
    proc = subprocess.Popen([*cmd, "--out", str(tmp_path / "killed")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    animals = tmp_path / "killed" / "animals"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(animals.glob("chunk-*.parquet"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(animals.glob("chunk-*.parquet")))
    assert 1 <= done_before < 8  # it really was interrupted
    subprocess.run([*cmd, "--out", str(tmp_path / "killed")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([*cmd, "--out", str(tmp_path / "fresh")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    resumed, fresh = read_animals(tmp_path / "killed"), read_animals(tmp_path / "fresh")
    assert len(resumed) == 16 and not list(animals.glob("*.tmp*"))
    pd.testing.assert_frame_equal(resumed, fresh)

"""Output folders hold one whole run: a run writes into a temporary folder and replaces the
folder in one rename, a second run into a folder in use is refused, a manifest written last
lets `cordsim report` refuse a folder whose files do not belong to one run, and a damaged
folder or an unwritable --out gives exit 2 instead of a traceback."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cordsim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from cordsim.io.outputs import MANIFEST, output_folder, verify_folder, write_manifest


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
            if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "F"
    assert main(["run", "natural-history", "--days", "14", "--out", str(out)]) == EXIT_OK
    return out


@pytest.fixture
def earlier(finished, tmp_path):
    """A finished natural-history run (a copy) in tmp_path/F and its files' hashes."""
    import shutil

    out = tmp_path / "F"
    shutil.copytree(finished, out)
    return out, _hashes(out)


def test_a_run_writes_a_manifest_of_every_file(earlier):
    out, before = earlier
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["command"] == "run"
    assert set(manifest["files"]) == set(before) - {MANIFEST}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == before[name]
    assert verify_folder(out)["files"] == manifest["files"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no lock, no tmp


def test_every_output_folder_says_what_made_it(earlier):
    """provenance.json (issue 24): version, git, model and parameter-set hashes, command."""
    import cordsim
    from cordsim.data import default_parameters

    out, before = earlier
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["command"] == "run" and prov["cordsim_version"] == cordsim.__version__
    assert prov["model_hash"] == cordsim.CordModel().structure_hash
    assert prov["parameter_set_hash"] == default_parameters().hash
    assert prov["git_describe"] and prov["written"] and prov["platform"]
    assert "provenance.json" in json.loads((out / MANIFEST).read_text())["files"]


def test_a_run_that_fails_midway_leaves_the_earlier_run_untouched(earlier, monkeypatch):
    """Files were written in place: a run stopped after its first table left the earlier
    run's figures beside the new run's table (or a truncated file)."""
    import cordsim.io.plotting as plotting

    out, before = earlier

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C (or a kill) after the tables were written

    monkeypatch.setattr(plotting, "write_run_figures", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["run", "default", "--ensemble", "0", "--out", str(out)])
    assert _hashes(out) == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_a_killed_run_leaves_the_earlier_run_byte_identical(earlier):
    """SIGKILL of `cordsim run default --out F` at any moment (audit W01)."""
    out, before = earlier
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from cordsim.cli import main; "
                             "sys.exit(main(sys.argv[1:]))", "run", "default", "--out",
                             str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    tmp = []
    while time.monotonic() < deadline and proc.poll() is None:
        tmp = [p for p in out.parent.glob(".F.cordsim-tmp-*") if any(p.iterdir())]
        if tmp:
            break
        time.sleep(0.05)
    assert tmp, "the run wrote nothing into a temporary folder"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _hashes(out) == before
    assert main(["report", str(out), "--out", str(out.parent / "r.html"),
                 "--no-validation"]) == EXIT_OK
    # the next run into the folder removes the killed run's temporary folder
    assert main(["run", "natural-history", "--days", "7", "--out", str(out)]) == EXIT_OK
    assert not list(out.parent.glob(".F.cordsim-*"))


def test_a_second_run_into_a_folder_in_use_is_refused(earlier, capsys):
    """Two runs into one folder both exited 0 and left a mix (audit W05)."""
    out, before = earlier
    with output_folder(out, command="run") as tmp:  # another command holds the folder
        assert main(["run", "natural-history", "--days", "7", "--out", str(out)]) == \
            EXIT_BAD_INPUT
        assert "is in use by another cordsim command" in capsys.readouterr().err
        assert tmp.exists()
        (tmp / "x.csv").write_text("x\n")
    assert (out / "x.csv").exists()  # the holder's run replaced the folder when it finished
    assert main(["run", "natural-history", "--days", "7", "--out", str(out)]) == EXIT_OK


def test_a_folder_of_someone_elses_files_is_not_replaced(tmp_path, capsys, monkeypatch):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("precious")
    assert main(["run", "natural-history", "--days", "7", "--out", str(mine)]) == \
        EXIT_BAD_INPUT
    assert "holds files no cordsim run wrote (chapter1.tex)" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["chapter1.tex"]
    monkeypatch.chdir(mine)
    for here in (".", str(tmp_path)):
        assert main(["run", "natural-history", "--days", "7", "--out", here]) == \
            EXIT_BAD_INPUT
        assert "is this folder or one above it" in capsys.readouterr().err


def test_a_file_added_to_a_run_folder_is_not_deleted_by_the_next_run(earlier, capsys):
    out, _ = earlier
    (out / "notes.txt").write_text("my notes")
    assert main(["run", "natural-history", "--days", "7", "--out", str(out)]) == \
        EXIT_BAD_INPUT
    assert "holds files no cordsim run wrote (notes.txt)" in capsys.readouterr().err
    (out / "notes.txt").unlink()
    (out / "report.html").write_text("a report made from the run")  # may be replaced
    assert main(["run", "natural-history", "--days", "7", "--out", str(out)]) == EXIT_OK


def test_a_folder_from_an_earlier_cordsim_is_replaced(tmp_path):
    """A run folder written before manifests (its own output names only) is replaced."""
    out = tmp_path / "old"
    out.mkdir()
    for name in ("timecourse.csv", "summary.csv", "fig_comparison.png", "endpoints.csv"):
        (out / name).write_text("old")
    assert main(["run", "natural-history", "--days", "7", "--out", str(out)]) == EXIT_OK
    assert not (out / "endpoints.csv").exists() and (out / MANIFEST).exists()


# ------------------------------------------------------------------------------ report
def _report(folder, out, capsys, *extra):
    code = main(["report", str(folder), "--out", str(out), "--no-validation", *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_report_refuses_a_folder_whose_files_do_not_belong_to_one_run(earlier, tmp_path,
                                                                      capsys):
    """A half-replaced folder gave a report mixing two runs with exit 0 (audit W02)."""
    out, _ = earlier
    (out / "fig_comparison.png").write_bytes(b"\x89PNG from another run")
    code, err = _report(out, tmp_path / "r.html", capsys)
    assert code == EXIT_BAD_INPUT and "not written by the run: fig_comparison.png" in err
    (out / "fig_comparison.png").unlink()
    (out / "summary.csv").write_text("truncated")
    code, err = _report(out, tmp_path / "r.html", capsys)
    assert code == EXIT_BAD_INPUT and "changed since the run: summary.csv" in err
    (out / MANIFEST).unlink()
    code, err = _report(out, tmp_path / "r.html", capsys)
    assert code == EXIT_BAD_INPUT and "has no cordsim manifest" in err
    assert not (tmp_path / "r.html").exists()


def test_report_checks_the_folder_before_the_validation(tmp_path, capsys):
    start = time.monotonic()
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == EXIT_BAD_INPUT
    assert time.monotonic() - start < 5  # the ~10 s validation did not run first
    assert "no timecourse.nc" in capsys.readouterr().err


def _damage_attrs(folder, change):
    import xarray as xr

    nc = folder / "timecourse.nc"
    with xr.open_dataset(nc) as ds:
        ds = ds.load()
    change(ds.attrs)
    nc.unlink()
    ds.to_netcdf(nc, engine="h5netcdf")
    write_manifest(folder, "run")  # as if the run itself had written it


@pytest.fixture(scope="module")
def two_arm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two")
    scen = folder / "two.toml"
    scen.write_text('days = 5\n[[arms]]\nname = "vehicle"\n[[arms]]\nname = "sEV"\n'
                    'doses = [{product = "sev_naive", amount = "1e10 particle", start = 1}]\n')
    assert main(["run", str(scen), "--ensemble", "0", "--out", str(folder / "run")]) == EXIT_OK
    return folder / "run"


@pytest.mark.parametrize(("case", "message"), [
    ("random bytes", "timecourse.nc is not a readable NetCDF file"),
    ("protocols not JSON", "attribute 'protocols' is not JSON"),
    ("protocol without doses", "has no name or no list of doses"),
    ("provenance not JSON", "attribute 'provenance_by_arm' is not JSON"),
])
def test_report_on_a_damaged_run_folder_is_exit_2(two_arm, tmp_path, capsys, case, message):
    """Audit R05-R07: xarray, JSON and KeyError tracebacks."""
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(two_arm, folder)
    if case == "random bytes":
        (folder / "timecourse.nc").write_bytes(os.urandom(5000))
        write_manifest(folder, "run")
    elif case == "protocols not JSON":
        _damage_attrs(folder, lambda a: a.update(protocols="{not json"))
    elif case == "protocol without doses":
        _damage_attrs(folder, lambda a: a.update(protocols=json.dumps(
            [json.dumps({"name": p["name"]}) for p in map(json.loads,
                                                          json.loads(a["protocols"]))])))
    else:
        _damage_attrs(folder, lambda a: a.update(provenance_by_arm="[1, 2"))
    code, err = _report(folder, tmp_path / "r.html", capsys)
    assert code == EXIT_BAD_INPUT and message in err, err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_report_to_a_full_disk_is_exit_2(two_arm, capsys):
    """Audit R08: OSError traceback."""
    code, err = _report(two_arm, "/dev/full", capsys)
    assert code == EXIT_BAD_INPUT and "No space left on device" in err


def test_report_replaces_its_file_in_one_rename(two_arm, tmp_path, capsys):
    target = tmp_path / "real.html"
    target.write_text("keep me")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    code, _ = _report(two_arm, link, capsys)
    assert code == EXIT_OK
    assert target.read_text() == "keep me"  # the link was replaced, not followed
    assert not link.is_symlink() and "cordsim report" in link.read_text()

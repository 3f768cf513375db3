"""The compile cache holds code cordsim runs: a folder (or file) others may write is not used,
generated code that does not run is regenerated, and the temporary cache an unusable cache
falls back to is removed when the process ends."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings

import pytest

from cordsim.numerics import cache
from cordsim.numerics import compile as compiled

FAKE = ("def rhs(t, y, p):\n    return y\n\ndef jac(t, y, p):\n    return y\n\n"
        "def outputs(t, Y, p):\n    return Y\n\ndef initial(p):\n    return p\n")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder of the test's own, and no memory of checked folders."""
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("CORDSIM_CACHE_DIR", str(folder))
    monkeypatch.setattr(cache, "_CHECKED", {})
    monkeypatch.setattr(cache, "_TEMPORARY", {"dir": tmp_path / "private"})
    (tmp_path / "private").mkdir(mode=0o700)
    # regenerating the real model's code takes ~15 s: a stand-in is enough here
    monkeypatch.setattr(compiled, "generate_source", lambda symbolic: (FAKE, 0))
    return folder


def _payload(folder, model, marker):
    """A self-hashed model file whose body creates ``marker`` when it runs (audit K12)."""
    body = f"# jac_nnz=0\nimport os as _o\n_o.system('touch {marker}')\n{FAKE}"
    path = folder / f"model_{model.structure_hash}.py"
    path.write_text(f"# sha256={hashlib.sha256(body.encode()).hexdigest()}\n{body}")
    return path


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_cache_others_may_write_is_not_used(fresh_cache, tmp_path, model, mode):
    marker = tmp_path / "MARK"
    _payload(fresh_cache, model, marker)
    fresh_cache.chmod(mode)
    with pytest.warns(cache.CacheWarning, match="writable by .* it holds code that cordsim runs"):
        fns = compiled._python_functions(model.structure_hash, model)
    assert fns.source == FAKE  # regenerated in the private temporary cache
    assert not marker.exists()
    assert cache.cache_dir() == tmp_path / "private"


def test_a_pycache_others_may_write_is_not_used(fresh_cache, tmp_path):
    """numba's pickled index there runs when loaded (audit K10)."""
    (fresh_cache / "__pycache__").mkdir(mode=0o777)
    os.chmod(fresh_cache / "__pycache__", 0o777)
    with pytest.warns(cache.CacheWarning, match="__pycache__ is writable by"):
        assert cache.cache_dir() == tmp_path / "private"


def test_a_group_writable_file_in_a_private_cache_is_regenerated(fresh_cache, tmp_path, model):
    marker = tmp_path / "MARK"
    path = _payload(fresh_cache, model, marker)
    path.chmod(0o664)
    with pytest.warns(cache.CacheWarning, match="writable by its group"):
        compiled._python_functions(model.structure_hash, model)
    assert not marker.exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="giving a folder to another user needs root")
def test_a_cache_owned_by_another_user_is_not_used(fresh_cache, tmp_path):
    os.chown(fresh_cache, 12345, 12345)
    with pytest.warns(cache.CacheWarning, match="owned by user id 12345"):
        assert cache.cache_dir() == tmp_path / "private"


def test_a_private_cache_is_used_silently(fresh_cache):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.cache_dir() == fresh_cache
    assert cache.unsafe(fresh_cache / "not-yet") is None


def test_self_hashed_code_that_does_not_run_is_regenerated(fresh_cache, model):
    """A model file whose hash line matches a body with a syntax error made every run fail
    with a SyntaxError traceback until the cache was deleted by hand (audit K2)."""
    body = "# jac_nnz=0\ndef broken(:\n"
    path = fresh_cache / f"model_{model.structure_hash}.py"
    path.write_text(f"# sha256={hashlib.sha256(body.encode()).hexdigest()}\n{body}")
    with pytest.warns(cache.CacheWarning, match="does not run .*SyntaxError.*regenerated"):
        fns = compiled._python_functions(model.structure_hash, model)
    assert fns.source == FAKE
    assert "broken" not in path.read_text()


WRITE = ("import sys; from cordsim.numerics.cache import source_module, cache_dir; "
         "print(source_module('cordsim_probe', 'x = 1').parent)")


@pytest.mark.parametrize("kind", ["unwritable", "unsafe"])
def test_the_temporary_cache_is_removed_at_exit(tmp_path, kind):
    """An unusable cache left one cordsim-* temporary folder per run (audit K9)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    if kind == "unwritable":
        (tmp_path / "file").write_text("a file, not a folder")
        folder = tmp_path / "file" / "cache"
    else:
        folder = tmp_path / "shared"
        folder.mkdir()
        folder.chmod(0o777)
    env = {**os.environ, "CORDSIM_CACHE_DIR": str(folder), "TMPDIR": str(temp)}
    proc = subprocess.run([sys.executable, "-c", WRITE], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    used = proc.stdout.strip()
    assert used.startswith(str(temp))  # the private temporary cache was used ...
    assert list(temp.iterdir()) == []  # ... and removed
    if kind == "unsafe":
        assert "writable by" in proc.stderr

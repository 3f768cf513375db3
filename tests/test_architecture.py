"""The package's shape: layers with one-way imports, no cycles, no work at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    """Layers (pyproject.toml [tool.importlinter]) and no cycles between packages."""
    exe = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


SPY = """
import builtins, io, sys
opened = []
real_open = io.open
def spy(file, *args, **kwargs):
    opened.append(str(file))
    return real_open(file, *args, **kwargs)
builtins.open = io.open = spy
import matplotlib
backend = matplotlib.get_backend()
import cordsim, cordsim.io.plotting
print("OPENED", [f for f in opened if not f.endswith((".py", ".pyc"))])
print("BACKEND", backend == matplotlib.get_backend())
"""


def test_import_reads_no_file_and_leaves_matplotlib_alone():
    proc = subprocess.run([sys.executable, "-c", SPY], capture_output=True, text=True,
                          timeout=120, env={"MPLBACKEND": "svg", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
    opened = eval(lines["OPENED"])
    own = [f for f in opened if "/cordsim/" in f or "cordsim" in Path(f).name]
    assert not own, own  # cordsim's data and caches are read on first use, not at import
    assert lines["BACKEND"] == "True"

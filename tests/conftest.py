"""Shared fixtures; `unit`/`integration`/`contract` markers follow the test's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

import cordsim
from cordsim.design.dosing import Dose, Protocol

# The four protocols of the SBML round trip, also used to check the compiled engine
# against SciPy: a test with a ``protocol`` argument runs once for each.
PROTOCOLS = {
    "natural history": Protocol(),
    "IV MSC": Protocol((Dose("msc", "1e6 cell", "iv", start=3),), name="IV MSC"),
    "fractionated sEV": Protocol((Dose("sev_naive", "2.4e10 particle", "iv", "daily", count=3,
                                       start=3),), name="fractionated sEV"),
    "infusion": Protocol((Dose("sev_naive", "5e10 particle", "intrathecal", "infusion",
                               duration=2.5, start=3),), name="infusion"),
}


def pytest_generate_tests(metafunc):
    if "protocol" in metafunc.fixturenames:
        metafunc.parametrize("protocol", list(PROTOCOLS.values()), ids=list(PROTOCOLS))


# Fixtures whose setup takes seconds (a whole run, a server, a browser, a cohort): every test
# that uses one is slow, so that the default run never pays for them.
HEAVY_FIXTURES = frozenset({"default_run", "two_arm_run", "two_arm", "finished", "server",
                            "chromium", "cohort_dir"})
SLOW_TESTS = Path(__file__).with_name("slow_tests.txt")


def slow_test_ids() -> set[str]:
    """The node ids listed in ``slow_tests.txt`` (measured; see its header)."""
    return {line.split(maxsplit=1)[1].strip() for line in SLOW_TESTS.read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def pytest_collection_modifyitems(items):
    slow = slow_test_ids()
    for item in items:
        for kind in ("unit", "integration", "contract"):
            if f"/{kind}/" in str(item.fspath):
                item.add_marker(getattr(pytest.mark, kind))
        if item.nodeid in slow or HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def model():
    return cordsim.CordModel()


@pytest.fixture(scope="session")
def params():
    return cordsim.default_parameters()


@pytest.fixture(scope="session")
def runs():
    """70-day runs of every injury preset with default parameters (shared, read-only)."""
    from cordsim.evaluation.claims import Runs

    return Runs()


@pytest.fixture(scope="session")
def default_run(tmp_path_factory):
    """``cordsim run default`` as a user types it, asking for all three figure formats and
    the report: its folder (shared, read-only)."""
    from cordsim.cli import main

    out = tmp_path_factory.mktemp("default")
    assert main(["run", "default", "--out", str(out), "--format", "png,svg",
                 "--format", "pdf", "--report"]) == 0
    return out

"""Shared fixtures; `unit`/`integration`/`contract` markers follow the test's folder."""

from __future__ import annotations

import pytest

import cordsim


def pytest_collection_modifyitems(items):
    for item in items:
        for kind in ("unit", "integration", "contract"):
            if f"/{kind}/" in str(item.fspath):
                item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture(scope="session")
def model():
    return cordsim.models.CordModel()


@pytest.fixture(scope="session")
def params():
    return cordsim.default_parameters()


@pytest.fixture(scope="session")
def runs():
    """70-day runs of every injury preset with default parameters (shared, read-only)."""
    from cordsim.validation import Runs

    return Runs()

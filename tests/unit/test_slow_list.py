"""The list of slow tests (tests/slow_tests.txt) names tests that exist: a renamed test
would otherwise fall silently into the default run."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import slow_test_ids

ROOT = Path(__file__).resolve().parents[2]


def test_every_listed_slow_test_exists():
    ids = slow_test_ids()
    assert len(ids) > 50
    for node in ids:
        path, _, name = node.partition("::")
        function = re.sub(r"\[.*\]$", "", name)
        source = (ROOT / path).read_text()
        assert re.search(rf"^def {re.escape(function)}\(", source, re.M), node

"""Product records: what a batch of MSC-sEVs is, checked against the minimal information of
MISEV2023 (``data/product_records/misev2023.toml`` says which items, read from which of the
guideline's sections, and why cordsim needs them).

``cordsim products --check FILE`` reads a record (TOML, like
``data/product_records/example_bm_msc_sev.toml``) and reports every item present or missing.
An item is present when its key holds a value that is not empty (a list item needs
``min_items`` entries); a number must be finite and not negative.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

from cordsim.data import data_path
from cordsim.errors import ScenarioError

MAX_RECORD_BYTES = 1_000_000


def misev_items() -> list[dict[str, Any]]:
    """The items a record must carry (``misev2023.toml``)."""
    with open(data_path("product_records", "misev2023.toml"), "rb") as fh:
        return list(tomllib.load(fh)["items"])


def example_record() -> Path:
    """The shipped example record (every item present)."""
    return data_path("product_records", "example_bm_msc_sev.toml")


def load_record(path: str | Path) -> dict[str, Any]:
    """A product record (TOML), or a ScenarioError naming what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"product record {str(path)!r}: no such file")
    if path.stat().st_size > MAX_RECORD_BYTES:
        raise ScenarioError(f"product record {str(path)!r} is larger than "
                            f"{MAX_RECORD_BYTES:,} bytes: not a record")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"product record {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"product record {str(path)!r} is not UTF-8 text") from None


def _lookup(record: dict[str, Any], key: str) -> Any:
    value: Any = record
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _present(value: Any, min_items: int) -> tuple[bool, str]:
    if value is None:
        return False, "missing"
    if isinstance(value, bool):
        return True, str(value)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return False, f"{value!r}: not a finite number"
        return True, f"{value:g}"
    if isinstance(value, str):
        return (bool(value.strip()), value.strip() or "empty")
    if isinstance(value, list):
        items = [str(v).strip() for v in value if str(v).strip()]
        if len(items) < max(min_items, 1):
            return False, f"{len(items)} given, at least {max(min_items, 1)} needed"
        return True, ", ".join(items)
    return False, f"{type(value).__name__}: not a value"


def check_record(record: dict[str, Any]) -> Any:
    """One row per MISEV2023 item: section, item, key, present, value (or why missing)."""
    import pandas as pd

    rows = []
    for item in misev_items():
        value = _lookup(record, item["key"])
        ok, shown = _present(value, int(item.get("min_items", 1)))
        if ok and item.get("number") and (isinstance(value, bool) or not isinstance(
                value, int | float) or value < 0):
            ok, shown = False, f"{value!r}: must be a number of at least 0"
        rows.append({"section": item["section"], "item": item["text"], "key": item["key"],
                     "present": ok, "value": shown})
    return pd.DataFrame(rows)

"""Scenario dicts as TOML text (the standard library reads TOML but does not write it).

Covers what a scenario file holds: strings, numbers, booleans, lists, tables (written inline
below the top level) and a top-level array of tables (``[[arms]]``).

>>> text = dumps({"name": "x", "days": 28, "arms": [{"name": "vehicle"},
...               {"name": "sEV", "doses": [{"product": "sev_naive", "amount": "100 ug"}]}]})
>>> print(text)
name = "x"
days = 28
<BLANKLINE>
[[arms]]
name = "vehicle"
<BLANKLINE>
[[arms]]
name = "sEV"
doses = [{ product = "sev_naive", amount = "100 ug" }]
<BLANKLINE>
>>> import tomllib; tomllib.loads(text)["arms"][1]["doses"][0]["amount"]
'100 ug'
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"TOML keys are strings, got {key!r}")
    return key if _BARE.match(key) else _string(key)


def _string(text: str) -> str:
    # JSON's escapes (\", \\, \n, \uXXXX ...) are valid in TOML basic strings; JSON leaves
    # DEL as it is, which TOML forbids there
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest text that reads back as the same float
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML: {value!r}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def dumps(data: dict[str, Any]) -> str:
    """``data`` as TOML text that :func:`tomllib.loads` reads back as ``data``."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items()
             if not isinstance(v, dict) and not _is_table_array(v)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{_key(k)}]"]
            lines += [f"{_key(kk)} = {_value(vv)}" for kk, vv in v.items()]
    for k, v in data.items():
        if _is_table_array(v):
            for item in v:
                lines += ["", f"[[{_key(k)}]]"]
                lines += [f"{_key(kk)} = {_value(vv)}" for kk, vv in item.items()]
    return "\n".join(lines) + "\n"

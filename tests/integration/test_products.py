"""Product records against MISEV2023 (issue 23, item 3): the shipped example carries every
item; a record that lacks items, or gives a negative count, is told which; a file that is not
a record is refused by name."""

from __future__ import annotations

import pytest

from cordsim.cli import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, main
from cordsim.design.products import check_record, example_record, load_record, misev_items


def test_the_shipped_example_has_every_item(capsys):
    assert main(["products", "--check", str(example_record())]) == EXIT_OK
    out = capsys.readouterr().out
    n = len(misev_items())
    assert f"{n} of {n} MISEV2023 items present" in out and "MISSING" not in out


def test_a_broken_record_lists_what_is_missing(tmp_path, capsys):
    text = example_record().read_text()
    text = text.replace('transmembrane = ["CD9", "CD63", "CD81"]', "transmembrane = []")
    text = text.replace("freeze_thaw_cycles = 0", "freeze_thaw_cycles = -2")
    text = text.replace('method = "differential', 'note = "differential')
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert main(["products", "--check", str(bad)]) == EXIT_CHECK_FAILED
    out = capsys.readouterr().out
    assert ("missing: separation.method, markers.transmembrane, storage.freeze_thaw_cycles"
            in out)
    table = check_record(load_record(bad)).set_index("key")
    assert table.loc["markers.transmembrane", "value"] == "0 given, at least 1 needed"
    assert "must be a number of at least 0" in table.loc["storage.freeze_thaw_cycles", "value"]
    assert table["present"].sum() == len(table) - 3


@pytest.mark.parametrize(("content", "words"), [
    (None, "no such file"),
    ("name = [unclosed", "is not valid TOML"),
    (b"\xff\xfe\x00bad", "is not"),
])
def test_a_file_that_is_not_a_record_is_refused(tmp_path, capsys, content, words):
    path = tmp_path / "r.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert main(["products", "--check", str(path)]) == EXIT_BAD_INPUT
    assert words in capsys.readouterr().err

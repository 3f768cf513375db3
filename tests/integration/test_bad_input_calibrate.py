"""`cordsim calibrate` on hostile or clumsy PEtab problems: a formula never runs as code, and
every malformed table is refused with exit 2 and a message naming the file, line or column
(it gave a traceback, a hang or a silent fit)."""

from __future__ import annotations

import shutil

import pytest

from cordsim.cli import EXIT_BAD_INPUT, main


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    out = tmp_path_factory.mktemp("petab")
    assert main(["petab", "export", "--out", str(out)]) == 0
    return out / "cordsim_rat_calibration.yaml"


def _copy(problem, folder):
    folder.mkdir(exist_ok=True)
    for f in problem.parent.iterdir():
        shutil.copy(f, folder / f.name)
    return folder / problem.name


def _set_cell(path, column, value, row=1, *, rename=None):
    """Set one cell (``row``: 1 = the first data line) or rename a column of a TSV file."""
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    if rename is not None:
        header[header.index(column)] = rename
        lines[0] = "\t".join(header)
    else:
        cells = lines[row].split("\t")
        cells[header.index(column)] = value
        lines[row] = "\t".join(cells)
    path.write_text("\n".join(lines) + "\n")


def _cell(path, column, row=1):
    lines = path.read_text().splitlines()
    return lines[row].split("\t")[lines[0].split("\t").index(column)]


def _calibrate(yaml_path, out, *extra):
    return main(["calibrate", str(yaml_path), "--starts", "1", "--max-nfev", "2",
                 "--ensemble-draws", "200",
                 "--ensemble-steps", "10", "--out", str(out), *extra])


def test_a_formula_in_a_petab_file_never_runs_as_code(problem, tmp_path, capsys):
    """observableFormula went through sympy.sympify, which evaluates Python: the marker
    file appeared. The whitelist parser refuses the call by name."""
    marker = tmp_path / "PWNED"
    yaml_path = _copy(problem, tmp_path / "p")
    first = _cell(yaml_path.parent / "observables.tsv", "observableId")
    _set_cell(yaml_path.parent / "observables.tsv", "observableFormula",
              f"__import__('os').system('touch {marker}')")
    assert _calibrate(yaml_path, tmp_path / "o") == EXIT_BAD_INPUT
    assert not marker.exists()
    err = capsys.readouterr().err
    assert f"observable {first}" in err and "not a function" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("formula", "message"), [
    ("spared_tissue_fraction.__class__", "attribute access"),
    ("[c for c in ().__class__.__bases__]", "ListComp"),
    ("eval('1')", "the function 'eval' is not allowed"),
    ("no_such_state * 2", "unknown name 'no_such_state'"),
    ("lambda: 1", "Lambda"),
])
def test_other_formulas_are_refused_by_name(problem, tmp_path, formula, message):
    from cordsim.analysis.calibration import PetabObjective
    from cordsim.errors import CordsimError

    yaml_path = _copy(problem, tmp_path / "p")
    _set_cell(yaml_path.parent / "observables.tsv", "observableFormula", formula)
    with pytest.raises(CordsimError, match=message):
        PetabObjective(yaml_path)


# (file, column, value, row or None to rename the column to value, words of the message)
CASES = {
    "nan measurement": ("measurements.tsv", "measurement", "nan", 2,
                        "line 3 ({dataset}), column measurement"),
    "empty measurement": ("measurements.tsv", "measurement", "", 2,
                          "column measurement: empty"),
    "infinite measurement": ("measurements.tsv", "measurement", "inf", 2, "not a finite"),
    "1e308 measurement": ("measurements.tsv", "measurement", "1e308", 2, "beyond"),
    "day 1e9": ("measurements.tsv", "time", "1000000000.0", 2, "outside 0 to 3650"),
    "day -5": ("measurements.tsv", "time", "-5.0", 2, "day -5 is outside"),
    "unknown observable": ("measurements.tsv", "observableId", "obs_nope", 2,
                           "unknown observableId 'obs_nope'"),
    "unknown condition": ("measurements.tsv", "simulationConditionId", "no_such_condition",
                          2, "unknown simulationConditionId 'no_such_condition'"),
    "renamed measurement column": ("measurements.tsv", "measurement", "value", None,
                                   "required column(s) measurement missing"),
    "unknown parameterScale": ("parameters.tsv", "parameterScale", "foo", 2,
                               "unknown parameterScale 'foo'"),
    "prior parameters a;b": ("parameters.tsv", "objectivePriorParameters", "a;b", 1,
                             "objectivePriorParameters (mean)"),
    "one prior parameter": ("parameters.tsv", "objectivePriorParameters", "0.69897", 1,
                            "must be two numbers"),
    "lower bound above upper": ("parameters.tsv", "lowerBound", "{above_upper}", 1,
                                "is not below upperBound"),
    "condition value not a number": ("conditions.tsv", "injury_severity", "__import__('os')",
                                     1, "column injury_severity"),
    "noise SD inf": ("measurements.tsv", "noiseParameters", "inf", 1, "noiseParameters"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_tables_are_refused_with_exit_2(problem, tmp_path, capsys, case):
    name, column, value, row, words = CASES[case]
    yaml_path = _copy(problem, tmp_path / "p")
    if value == "{above_upper}":
        value = str(10 * float(_cell(yaml_path.parent / "parameters.tsv", "upperBound", row)))
    if row is None:
        _set_cell(yaml_path.parent / name, column, None, rename=value)
    else:
        _set_cell(yaml_path.parent / name, column, value, row)
    assert _calibrate(yaml_path, tmp_path / "o") == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    words = words.format(dataset=_cell(yaml_path.parent / "measurements.tsv", "datasetId", 2))
    assert words in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_tables_beyond_the_size_limit_are_refused_before_reading(problem, tmp_path, capsys,
                                                                 monkeypatch):
    """A 1,000,000-row measurement table ran for more than 300 s: files are measured first."""
    import cordsim.io.petab_checks as checks

    yaml_path = _copy(problem, tmp_path / "p")
    meas = yaml_path.parent / "measurements.tsv"
    lines = meas.read_text().splitlines()
    meas.write_text("\n".join([lines[0], *lines[1:] * 2000]) + "\n")
    monkeypatch.setattr(checks, "MAX_TABLE_BYTES", 100_000)  # the real limit is 10 MB
    assert _calibrate(yaml_path, tmp_path / "o") == EXIT_BAD_INPUT
    assert "at most 100,000" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr(checks, "MAX_ROWS", 1000)  # and rows
    assert _calibrate(yaml_path, tmp_path / "o") == EXIT_BAD_INPUT
    assert "rows; cordsim calibrate reads at most 1,000" in capsys.readouterr().err


def test_a_negative_seed_is_refused_before_any_work(problem, tmp_path, capsys):
    assert _calibrate(problem, tmp_path / "o", "--seed", "-1") == EXIT_BAD_INPUT
    assert "--seed" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

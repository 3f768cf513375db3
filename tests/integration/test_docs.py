"""`cordsim docs` and `cordsim explain`: documentation generated from the model.

The pages are checked against the model itself, not against the generator: the rate laws
read back from the pages must give the model's own rates, and every parameter's row its
value and source from the parameter set.
"""

from __future__ import annotations

import html
import importlib.util
import itertools
import re

import numpy as np
import pytest
import sympy

import cordsim
from cordsim.cli import EXIT_BAD_INPUT, EXIT_OK, main
from cordsim.design.dosing import ENTRY
from cordsim.io.docs import BBB_READOUT, dose_paths, model_graph


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "model-docs"
    assert main(["docs", "--out", str(out)]) == EXIT_OK
    return out


@pytest.fixture(scope="module")
def pages(site):
    return {p.stem: p.read_text(encoding="utf-8")
            for p in (site / "docs" / "submodels").glob("*.md")}


@pytest.fixture(scope="module")
def laws(model):
    """Each state's rate law and output's expression, outputs read by name (from the model)."""
    syms = {n: sympy.Symbol(n) for n in [*model.states, *model.params, *model.outputs]}
    outs, rates = model.evaluate(sympy.Symbol("t"), syms, syms,
                                 read_outputs={n: syms[n] for n in model.outputs})
    return {**{k: sympy.sympify(v) for k, v in rates.items()},
            **{k: sympy.sympify(v) for k, v in outs.items()}}


def _section(page: str, name: str) -> str:
    """The text of a state's or output's section: from its heading to the next heading."""
    m = re.search(rf"^### `{name}` \{{#{name}\}}\n(.*?)(?=^#|\Z)", page, re.DOTALL | re.MULTILINE)
    assert m, f"no section for {name}"
    return m.group(1)


def _plain_law(section: str) -> str:
    m = re.search(r"```text\n(.*?)\n```", section, re.DOTALL)
    assert m, "no plain-text law"
    return m.group(1)


def test_site_builds_strict(site):
    html_index = (site / "site" / "index.html").read_text()
    assert "cordsim-cord" in html_index
    assert (site / "mkdocs.yml").read_text().startswith("# written by `cordsim docs`")
    for sm in cordsim.CordModel().submodels:
        assert (site / "site" / "submodels" / f"{sm.name}.html").stat().st_size > 0
    # offline: the pages load no script or stylesheet from the network
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", html_index)


def test_every_state_and_output_has_its_law(model, pages, laws):
    assert len(pages) == len(model.submodels)
    for name in [*model.states, *model.outputs]:
        page = pages[model.owner[name].name]
        section = _section(page, name)
        assert '<div class="arithmatex">\\[' in section, name
        if name in model.states:
            assert f"\\frac{{d\\,\\mathrm{{{name.replace('_', chr(92) + '_')}}}}}{{dt}}" \
                in html.unescape(section), name
        names = {n: sympy.Symbol(n) for n in [*model.states, *model.params, *model.outputs]}
        parsed = sympy.sympify(_plain_law(section), locals=names)
        assert sympy.simplify(parsed - laws[name]) == 0, name


def test_laws_on_pages_give_the_models_rates(model, pages, params):
    """Evaluate the pages' laws numerically (outputs in dependency order) and compare with
    the model's own right-hand side at a random state."""
    rng = np.random.default_rng(3)
    names = {n: sympy.Symbol(n) for n in [*model.states, *model.params, *model.outputs]}
    y = {n: float(rng.uniform(0.1, 1.0)) for n in model.states}
    p = {n: float(v) for n, v in params.values.items()}
    outs_model, rates_model = model.evaluate(0.0, y, p)
    page_law = {n: sympy.sympify(_plain_law(_section(pages[model.owner[n].name], n)),
                                 locals=names) for n in [*model.states, *model.outputs]}
    known = {names[k]: v for k, v in {**y, **p}.items()}
    pending = list(model.outputs)
    while pending:
        ready = [o for o in pending
                 if all(s in known for s in page_law[o].free_symbols)]
        assert ready, f"outputs on the pages depend on each other in a cycle: {pending}"
        for o in ready:
            known[names[o]] = float(page_law[o].xreplace(known))
            pending.remove(o)
    for o in model.outputs:
        assert known[names[o]] == pytest.approx(outs_model[o], rel=1e-9, abs=1e-12), o
    for s in model.states:
        assert float(page_law[s].xreplace(known)) == pytest.approx(rates_model[s], rel=1e-9,
                                                               abs=1e-9), s


def test_every_parameter_has_value_source_and_use(model, params, site, laws):
    rows = {}
    for sm in model.submodels:
        text = (site / "site" / "submodels" / f"{sm.name}.html").read_text()
        for row in re.findall(r"<tr>(.*?)</tr>", text, re.DOTALL):
            m = re.search(r'<a id="([^"]+)"></a>', row)
            if m:
                rows[m.group(1)] = (sm.name, row)
    assert set(rows) == set(model.params)
    initial = {n: sympy.sympify(v).free_symbols
               for n, v in model.initial_values({k: sympy.Symbol(k) for k in model.params})
               .items()}
    for name, (owner, row) in rows.items():
        rec = params.records[name]
        assert owner == model.owner[name].name
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]
        assert cells[0] == name
        assert float(cells[1]) == pytest.approx(rec.value, rel=1e-3), name
        assert cells[2] == rec.unit
        assert cells[5] == rec.evidence
        assert " ".join(rec.source.split()) in cells[6], name
        used = {u.strip() for u in cells[8].split(",")} - {"none"}
        sym = sympy.Symbol(name)
        expected = {n for n, law in laws.items() if sym in law.free_symbols}
        expected |= {n for n, free in initial.items() if sym in free}
        assert used == expected, name
        assert used, f"{name} is used in no law"


def test_index_counts_and_graph(model, site):
    index = (site / "docs" / "index.md").read_text()
    assert (f"{len(model.submodels)} submodels, {len(model.states)} states, "
            f"{len(model.outputs)} outputs, {len(model.params)} parameters") in index
    assert "```mermaid" in index
    svg = (site / "docs" / "mechanism.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    mech = (site / "docs" / "mechanism.md").read_text()
    # the adjacency table: one row per state and output; sev_plasma drives sev_extravasation
    row = next(r for r in mech.splitlines() if r.startswith("| [`sev_extravasation`]"))
    assert "`sev_plasma`" in row.split("|")[4]


def test_dose_to_bbb_paths(model, laws):
    graph = model_graph(model)
    entry_states = {state for state, _ in ENTRY.values()}
    paths = dose_paths(graph)
    assert len(paths) == len(ENTRY)
    for entry, path in paths:
        assert path, f"no path from {entry.state} to {BBB_READOUT}"
        assert path[0] == entry.state and path[0] in entry_states
        assert path[-1] == BBB_READOUT and BBB_READOUT in model.outputs
        for a, b in itertools.pairwise(path):
            assert sympy.Symbol(a) in laws[b].free_symbols, (a, b)
    # of the sEV routes, intralesional is the shortest: it starts in the lesion
    steps = {(e.kind, e.route): len(p) for e, p in paths}
    assert steps["sev", "intralesional"] == min(v for k, v in steps.items() if k[0] == "sev")
    assert steps["sev", "iv"] > steps["sev", "intralesional"]


def test_explain_state(capsys, laws):
    assert main(["explain", "sev_lesion"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("sev_lesion: state of sev_pharmacokinetics")
    assert f"d(sev_lesion)/dt = {sympy.sstr(laws['sev_lesion'])}" in out
    assert "depends on states: sev_csf, sev_nasal, sev_depot" in out
    assert "sev_uptake" in out.split("drives:")[1].splitlines()[0]
    paths = [line.strip() for line in out.split("from a dose to bbb_score")[1].splitlines()[1:]]
    assert any(line.endswith("sev_lesion -> sev_uptake -> mir21_5p -> pdcd4_expression -> "
                             "microglia_m2 -> oligodendrocytes_fraction -> functional_substrate"
                             " -> locomotor_function -> bbb_score") for line in paths)
    assert all("sev_lesion" in line for line in paths)


def test_explain_parameter(capsys, params):
    assert main(["explain", "k_csf_lesion"]) == EXIT_OK
    out = capsys.readouterr().out
    rec = params.records["k_csf_lesion"]
    assert out.startswith("k_csf_lesion: parameter of sev_pharmacokinetics")
    assert f"value {rec.value:.4g} {rec.unit}" in out
    assert f"evidence {rec.evidence}" in out
    assert f"source: {rec.source}" in out
    assert "drives: sev_csf, sev_lesion" in out
    assert "k_csf_lesion -> sev_lesion ->" in out and out.rstrip().endswith("bbb_score")
    # a parameter that acts through initial values only still has its path to the BBB
    assert main(["explain", "injury_severity"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "sets the initial value of: " in out and "locomotor_function" in out
    assert out.rstrip().endswith("injury_severity -> locomotor_function -> bbb_score")


def test_explain_unknown_name(capsys):
    assert main(["explain", "sev_lesoin"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "unknown name 'sev_lesoin'" in err
    assert "close matches: sev_lesion" in err


def test_docs_without_mkdocs_says_which_extra(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "mkdocs" else real(name, *a, **k))
    out = tmp_path / "new" / "docs"
    assert main(["docs", "--out", str(out)]) == EXIT_BAD_INPUT
    assert "pip install 'cordsim[docs]'" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_docs_relative_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["docs", "--out", "rel/docs"]) == EXIT_OK
    assert (tmp_path / "rel" / "docs" / "site" / "index.html").exists()


def test_docs_no_build_and_foreign_folder(tmp_path, capsys):
    assert main(["docs", "--out", str(tmp_path / "src"), "--no-build"]) == EXIT_OK
    assert (tmp_path / "src" / "docs" / "index.md").exists()
    assert not (tmp_path / "src" / "site").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mkdocs.yml").write_text("site_name: mine\n")
    assert main(["docs", "--out", str(tmp_path / "other"), "--no-build"]) == EXIT_BAD_INPUT
    assert "not written by 'cordsim docs'" in capsys.readouterr().err
    assert (tmp_path / "other" / "mkdocs.yml").read_text() == "site_name: mine\n"


def test_laws_render_as_mathml_without_scripts(model, site, laws):
    """Each law is presentation MathML in the built pages (browsers render it offline), with
    every name of the law whole."""
    import re

    html_pages = {p.stem: p.read_text(encoding="utf-8")
                  for p in (site / "site" / "submodels").glob("*.html")}
    blocks = [b for page in html_pages.values()
              for b in re.findall(r"<math display=\"block\">.*?</math>", page, flags=re.DOTALL)]
    assert len(blocks) >= len(model.states) + len(model.outputs)
    everything = "".join(blocks)
    for name in ("d_tnf", "tnf_synthesis", "s_tnf_resident", "resident_response"):
        assert f'<mi mathvariant="normal">{name}</mi>' in everything, name

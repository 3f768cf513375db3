"""Model documentation generated from the model: a MkDocs site and ``cordsim explain``.

Everything here is derived from the model's declarations and its symbolic form, never
written by hand: the states and outputs (``State``/``Output`` declarations), the rate laws
(traced to sympy with :meth:`~cordsim.core.model.Model.evaluate`, each law naming the outputs
it reads, as in the SBML export), the parameters (the same :class:`ParameterSet` that
``cordsim params`` lists) and the mechanism graph (which names appear in which law). Doses
enter through :data:`cordsim.design.dosing.ENTRY`; the BBB readout is :data:`BBB_READOUT`.

Examples
--------
>>> graph = model_graph()
>>> "sev_lesion" in graph.driven["sev_plasma"]
False
>>> shortest_path(graph, ["sev_lesion"], "sev_uptake")
['sev_lesion', 'sev_uptake']
"""

from __future__ import annotations

import difflib
import html
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import sympy

from cordsim._version import __version__
from cordsim.core.model import Model
from cordsim.core.parameters import ParameterSet
from cordsim.errors import CordsimError
from cordsim.io.sbml import symbolic_laws

#: the readout that paths from a dose end at (an output of the Locomotion submodel)
BBB_READOUT = "bbb_score"
#: first line of every mkdocs.yml this module writes: it may overwrite only those
MARKER = "# written by `cordsim docs`"


# ---------------------------------------------------------------------------- the graph
@dataclass(frozen=True)
class ModelGraph:
    """The model's own dependencies.

    ``laws``: each state's rate law d(state)/dt and each output's expression, reading other
    outputs by name; ``initial``: each state's initial value; ``drivers[name]``: the states,
    outputs and parameters in its law (in that order); ``driven[name]``: the states and
    outputs whose law contains ``name``; ``initial_of[param]``: states whose initial value
    reads the parameter.
    """

    model: Model
    laws: dict[str, sympy.Expr]
    initial: dict[str, sympy.Expr]
    drivers: dict[str, tuple[str, ...]]
    driven: dict[str, tuple[str, ...]]
    initial_of: dict[str, tuple[str, ...]]

    def kind(self, name: str) -> str:
        """'state', 'output' or 'parameter'."""
        m = self.model
        return ("state" if name in m.states else "output" if name in m.outputs
                else "parameter" if name in m.params else "unknown")


@cache
def _cached_graph(model: Model) -> ModelGraph:
    model.check_structure()
    outs, rates = symbolic_laws(model)
    laws = {n: sympy.sympify(rates[n]) for n in model.state_names}
    laws.update({n: sympy.sympify(outs[n]) for n in model.output_names})
    ps = {n: sympy.Symbol(n) for n in model.param_names}
    initial = {n: sympy.sympify(v) for n, v in model.initial_values(ps).items()}
    order = [*model.state_names, *model.output_names, *model.param_names]
    rank = {n: i for i, n in enumerate(order)}
    drivers = {}
    for name, law in laws.items():
        used = {str(s) for s in law.free_symbols} - {name, "time"}
        drivers[name] = tuple(sorted(used, key=lambda n: rank.get(n, len(rank))))
    driven: dict[str, list[str]] = {n: [] for n in order}
    for name in order:  # in declaration order, so listings and paths are stable
        for d in drivers.get(name, ()):
            driven[d].append(name)
    initial_of: dict[str, list[str]] = {}
    for name, expr in initial.items():
        for s in sorted(str(s) for s in expr.free_symbols):
            initial_of.setdefault(s, []).append(name)
    return ModelGraph(model=model, laws=laws, initial=initial, drivers=drivers,
                      driven={k: tuple(v) for k, v in driven.items()},
                      initial_of={k: tuple(v) for k, v in initial_of.items()})


def model_graph(model: Model | None = None) -> ModelGraph:
    """The dependency graph of ``model`` (default: :func:`cordsim.CordModel`)."""
    if model is None:
        from cordsim.biology import CordModel

        model = CordModel()
    return _cached_graph(model)


def shortest_path(graph: ModelGraph, sources: Iterable[str], target: str) -> list[str] | None:
    """A shortest chain ``source -> ... -> target`` along "appears in the law (or, for a
    parameter, the initial value) of" edges, or None when ``target`` cannot be reached
    (ties broken by declaration order)."""
    sources = list(sources)
    prev: dict[str, str | None] = {s: None for s in sources}
    queue = deque(sources)
    while queue:
        node = queue.popleft()
        if node == target:
            path = [node]
            while prev[path[-1]] is not None:
                path.append(prev[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        for nxt in (*graph.driven.get(node, ()), *graph.initial_of.get(node, ())):
            if nxt not in prev:
                prev[nxt] = node
                queue.append(nxt)
    return None


@dataclass(frozen=True)
class DoseEntry:
    """Where doses of one product kind given by one route enter the model."""

    kind: str
    route: str
    state: str
    infusion_param: str | None

    @property
    def label(self) -> str:
        what = "sEV" if self.kind == "sev" else "MSC"
        how = f"bolus into `{self.state}`" + (f", infusion sets `{self.infusion_param}`"
                                             if self.infusion_param else "")
        return f"{what} {self.route} ({how})"


def dose_entries() -> list[DoseEntry]:
    """Every (product kind, route) of :data:`cordsim.design.dosing.ENTRY`."""
    from cordsim.design.dosing import ENTRY

    return [DoseEntry(kind, route, state, param)
            for (kind, route), (state, param) in ENTRY.items()]


def dose_paths(graph: ModelGraph, *, via: str | None = None, target: str = BBB_READOUT
               ) -> list[tuple[DoseEntry, list[str] | None]]:
    """For each dose entry, a shortest path from its entry state to ``target`` (through
    ``via`` when given; a parameter has no path into it, so then only ``via -> target``)."""
    rows = []
    for entry in dose_entries():
        if via is None or via == entry.state:
            path = shortest_path(graph, [entry.state], target)
        elif graph.kind(via) == "parameter":
            path = shortest_path(graph, [via], target)
        else:
            head = shortest_path(graph, [entry.state], via)
            tail = shortest_path(graph, [via], target)
            path = head + tail[1:] if head and tail else None
        rows.append((entry, path))
    return rows


# ---------------------------------------------------------------------------- formatting
def _latex_name(name: str) -> str:
    return r"\mathrm{" + name.replace("_", r"\_") + "}"


def latex(expr: sympy.Expr) -> str:
    """LaTeX of a law, every name upright and whole (``\\mathrm{k\\_x}``), products dotted."""
    names = {s: _latex_name(str(s)) for s in expr.free_symbols}
    return sympy.latex(expr, symbol_names=names, mul_symbol="dot")


def _number(x: float) -> str:
    return f"{x:.4g}"


def _text(value: Any) -> str:
    """Free text safe in a Markdown table cell (no markup, no pipes, one line)."""
    text = html.escape(" ".join(str(value).split()), quote=False)
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", text)


def mathml(lhs: sympy.Expr, expr: sympy.Expr) -> str:
    """The law ``lhs = expr`` as presentation MathML, which browsers render without any
    script (names whole and upright, as in :func:`latex`)."""
    from sympy.printing.mathml import mathml as to_mathml

    names = sorted(expr.free_symbols | lhs.free_symbols, key=str)
    tokens = {s: sympy.Symbol(f"QQ{i}QQ") for i, s in enumerate(names)}
    text = (to_mathml(lhs.xreplace(tokens), printer="presentation") + "<mo>=</mo>"
            + to_mathml(expr.xreplace(tokens), printer="presentation", mul_symbol="dot"))
    for s, token in tokens.items():
        text = text.replace(f"<mi>{token}</mi>",
                            f'<mi mathvariant="normal">{html.escape(str(s))}</mi>')
    return (f'<div style="overflow-x: auto"><math display="block"><mrow>{text}</mrow></math>'
            "</div>")


def _math_block(lhs: str, expr: sympy.Expr, lhs_expr: sympy.Expr | None = None) -> str:
    """The law as MathML (rendered by the browser, offline), as LaTeX (a MathJax-ready
    ``\\[...\\]`` block, for papers) and as plain sympy text."""
    tex = html.escape(f"{lhs} = {latex(expr)}", quote=False)
    shown = mathml(lhs_expr, expr) + "\n\n" if lhs_expr is not None else ""
    return (f'{shown}<details><summary>LaTeX and plain text</summary>\n\n'
            f'<div class="arithmatex">\\[ {tex} \\]</div>\n\n'
            f"```text\n{sympy.sstr(expr)}\n```\n\n</details>\n")


def _ref(name: str, graph: ModelGraph, base: str = "../submodels/") -> str:
    """A link to where ``name`` is documented (its submodel's page, its anchor), from a page
    that reaches the submodel pages at ``base``."""
    owner = graph.model.owner[name].name
    return f"[`{name}`]({base}{owner}.md#{name})"


def _refs(names: Sequence[str], graph: ModelGraph, *, local: str | None = None,
          base: str = "../submodels/") -> str:
    if not names:
        return "none"
    out = []
    for n in names:
        owner = graph.model.owner[n].name
        out.append(f"[`{n}`](#{n})" if owner == local else
                   f"[`{n}`]({owner}.md#{n})" if local is not None else _ref(n, graph, base))
    return ", ".join(out)


def _submodel_edges(graph: ModelGraph) -> dict[tuple[str, str], list[str]]:
    """(from submodel, to submodel) -> the states and outputs of the first read by the second."""
    owner = graph.model.owner
    edges: dict[tuple[str, str], list[str]] = {}
    for name, used in graph.drivers.items():
        for d in used:
            if graph.kind(d) != "parameter" and owner[d] is not owner[name]:
                key = (owner[d].name, owner[name].name)
                if d not in edges.setdefault(key, []):
                    edges[key].append(d)
    return edges


def _doc(obj: Any) -> str:
    import inspect

    return html.escape(inspect.cleandoc(obj.__doc__ or ""), quote=False)


# ---------------------------------------------------------------------------- pages
def _submodel_page(sm: Any, graph: ModelGraph, ps: ParameterSet) -> str:
    name = sm.name
    lines = [f"# {type(sm).__name__} (`{name}`)", "", _doc(type(sm)), "",
             (f"Defined in `{type(sm).__module__}`. {len(sm.states)} states, "
             f"{len(sm.output_decls)} outputs, {len(sm.params)} parameters."), ""]
    if sm.inputs:
        lines += [f"Reads from other submodels: {_refs(sm.inputs, graph, local=name)}.", ""]
    mod_doc = _doc(sys.modules[type(sm).__module__])
    if mod_doc:
        lines += ["## About the module", "", mod_doc, ""]
    if sm.states:
        lines += ["## States", "", "| state | unit | initial value | description |",
                  "|---|---|---|---|"]
        for s, st in sm.states.items():
            init = graph.initial[s]
            shown = _number(float(init)) if init.is_number else f"`{sympy.sstr(init)}`"
            lines.append(f"| [`{s}`](#{s}) | {_text(st.unit)} | {shown} | "
                         f"{_text(st.description)} |")
        lines.append("")
        for s, st in sm.states.items():
            lines += [f"### `{s}` {{#{s}}}", "", (f"{_text(st.description)} "
                      f"[{_text(st.unit)}]"), "", "Rate law (per day):", "",
                      _math_block(r"\frac{d\," + _latex_name(s) + "}{dt}", graph.laws[s],
                                  sympy.Derivative(sympy.Symbol(s), sympy.Symbol("t")))]
            if not graph.initial[s].is_number:
                lines += ["Initial value:", "",
                          _math_block(_latex_name(s) + "(0)", graph.initial[s],
                                      sympy.Function(s)(0))]
            lines += _uses(s, graph, name)
    if sm.output_decls:
        lines += ["## Outputs", "", "| output | unit | description |", "|---|---|---|"]
        for o, decl in sm.output_decls.items():
            lines.append(f"| [`{o}`](#{o}) | {_text(decl.unit)} | {_text(decl.description)} |")
        lines.append("")
        for o, decl in sm.output_decls.items():
            lines += [f"### `{o}` {{#{o}}}", "",
                      f"{_text(decl.description)} [{_text(decl.unit)}]", "",
                      _math_block(_latex_name(o), graph.laws[o], sympy.Symbol(o))]
            lines += _uses(o, graph, name)
    if sm.params:
        lines += ["## Parameters", "",
                  (f"Values from the parameter set `{_text(ps.name)}` (as listed by "
                  "`cordsim params`), in the unit the rate laws expect."), "",
                  ("| parameter | value | unit | bounds | role | evidence | source | "
                  "description | used in |"), "|---|---|---|---|---|---|---|---|---|"]
        for p, decl in sm.params.items():
            rec = ps.records[p]
            used = [*graph.driven.get(p, ()), *graph.initial_of.get(p, ())]
            src = _text(rec.source) + (f" (note: {_text(rec.note)})" if rec.note else "")
            lines.append(
                f"| <a id=\"{p}\"></a>`{p}` | {_number(rec.value)} | {_text(rec.unit)} | "
                f"{_number(rec.bounds[0])} – {_number(rec.bounds[1])} | {decl.role} | "
                f"{rec.evidence} | {src} | {_text(decl.description)} | "
                f"{_refs(list(dict.fromkeys(used)), graph, local=name)} |")
        lines.append("")
    return "\n".join(lines)


def _uses(name: str, graph: ModelGraph, local: str) -> list[str]:
    used = graph.drivers[name]
    by = {k: [u for u in used if graph.kind(u) == k] for k in ("state", "output", "parameter")}
    return [f"- depends on states: {_refs(by['state'], graph, local=local)}",
            f"- depends on outputs: {_refs(by['output'], graph, local=local)}",
            f"- parameters: {_refs(by['parameter'], graph, local=local)}",
            f"- drives: {_refs(graph.driven[name], graph, local=local)}", ""]


def _mermaid(graph: ModelGraph) -> str:
    edges = _submodel_edges(graph)
    lines = ["```mermaid", "flowchart LR"]
    for sm in graph.model.submodels:
        lines.append(f"    {sm.name}[{type(sm).__name__}]")
    for (a, b), names in edges.items():
        label = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        lines.append(f"    {a} -->|{label}| {b}")
    lines.append("```")
    return "\n".join(lines)


def _draw_graph(graph: ModelGraph, path: Path) -> Path:
    """The submodel graph as an SVG drawn with matplotlib (nodes on a circle)."""
    import math

    import matplotlib
    from matplotlib.figure import Figure

    subs = [sm.name for sm in graph.model.submodels]
    n = len(subs)
    pos = {s: (math.cos(math.pi / 2 - 2 * math.pi * i / n),
               math.sin(math.pi / 2 - 2 * math.pi * i / n)) for i, s in enumerate(subs)}
    with matplotlib.rc_context({"svg.hashsalt": "cordsim-docs", "svg.fonttype": "none"}):
        fig = Figure(figsize=(11, 11))
        ax = fig.add_axes((0.02, 0.02, 0.96, 0.96))
        ax.set_xlim(-1.45, 1.45)
        ax.set_ylim(-1.3, 1.3)
        ax.axis("off")
        for (a, b) in _submodel_edges(graph):
            ax.annotate("", xy=pos[b], xytext=pos[a],
                        arrowprops={"arrowstyle": "-|>", "color": "0.55", "lw": 0.7,
                                    "shrinkA": 16, "shrinkB": 16,
                                    "connectionstyle": "arc3,rad=0.08"})
        for s, (x, y) in pos.items():
            ax.text(x, y, s, ha="center", va="center", fontsize=10,
                    bbox={"boxstyle": "round", "fc": "#e8f0fa", "ec": "#3b6ea8"})
        ax.set_title("What drives what between submodels (arrow: a state or output of the "
                     "first appears in a law of the second)", fontsize=10)
        fig.savefig(path, format="svg", metadata={"Date": None})
    return path


def _index_page(graph: ModelGraph, ps: ParameterSet) -> str:
    m = graph.model
    ev = Counter(r.evidence for r in ps.records.values())
    lines = [f"# {m.name}: model documentation", "",
             (f"Generated by `cordsim docs` (cordsim {__version__}) from the model itself: "
             "declarations, symbolic rate laws and the parameter set. Do not edit; regenerate."),
             "", f"**{len(m.submodels)} submodels, {len(m.states)} states, "
             f"{len(m.outputs)} outputs, {len(m.params)} parameters** (parameter set "
             f"`{_text(ps.name)}`; evidence: "
             + ", ".join(f"{k} {v}" for k, v in sorted(ev.items())) + ").", "",
             ("Equations are LaTeX in `\\[...\\]` blocks (the site loads nothing from the "
             "network, so without a local MathJax they show as LaTeX text) followed by the "
             "same law as plain text."), "",
             "## Submodels", "", "| submodel | states | outputs | parameters | what it is |",
             "|---|---|---|---|---|"]
    for sm in m.submodels:
        first = _doc(type(sm)).split("\n\n")[0].replace("\n", " ")
        lines.append(f"| [{type(sm).__name__}](submodels/{sm.name}.md) | {len(sm.states)} | "
                     f"{len(sm.output_decls)} | {len(sm.params)} | {first} |")
    lines += ["", "## Mechanism graph", "",
              ("Derived from the laws: an arrow from one submodel to another when a state or "
              "output of the first appears in a rate law or output of the second. The "
              "state-level table is on [Mechanism](mechanism.md)."), "",
              "![submodel graph](mechanism.svg)", "",
              "The same graph as Mermaid (rendered on GitHub; here as text):", "",
              _mermaid(graph), "", "## From a dose to the BBB score", "",
              (f"Shortest chains of dependencies from each dose entry to `{BBB_READOUT}` "
              "(`cordsim explain NAME` shows the chains through one name)."), "",
              "| dose | steps | path |", "|---|---|---|"]
    for entry, path in dose_paths(graph):
        shown = " → ".join(f"`{p}`" for p in path) if path else "no path"
        lines.append(f"| {entry.label} | {len(path) - 1 if path else '-'} | {shown} |")
    lines.append("")
    return "\n".join(lines)


def _mechanism_page(graph: ModelGraph) -> str:
    lines = ["# Mechanism: what drives what", "",
             ("For every state and output: the states and outputs in its law (driven by) and "
             "the states and outputs whose laws contain it (drives). Parameters are listed "
             "on the submodel pages. Derived from the symbolic model."), "",
             "| name | kind | submodel | driven by | drives |", "|---|---|---|---|---|"]
    m = graph.model
    for name in [*m.state_names, *m.output_names]:
        by = [d for d in graph.drivers[name] if graph.kind(d) != "parameter"]
        lines.append(f"| {_ref(name, graph, 'submodels/')} | {graph.kind(name)} | "
                     f"{m.owner[name].name} | "
                     f"{_refs(by, graph, base='submodels/')} | "
                     f"{_refs(graph.driven[name], graph, base='submodels/')} |")
    edges = _submodel_edges(graph)
    lines += ["", "## Between submodels", "", "| from | to | through |", "|---|---|---|"]
    for (a, b), names in edges.items():
        lines.append(f"| [{a}](submodels/{a}.md) | [{b}](submodels/{b}.md) | "
                     + ", ".join(f"`{n}`" for n in names) + " |")
    lines.append("")
    return "\n".join(lines)


def _references_page(species: str) -> str:
    from cordsim.data import data_path

    path = data_path("parameter_sets", f"{species}.toml")
    refs = tomllib.loads(path.read_text()).get("references", {})
    lines = ["# References", "", (f"The `[references]` of `parameter_sets/{path.name}`: the "
             "keys that parameter sources cite."), "", "| key | reference |", "|---|---|"]
    lines += [f"| `{k}` | {_text(v)} |" for k, v in refs.items()]
    lines.append("")
    return "\n".join(lines)


def _mkdocs_yml(graph: ModelGraph) -> str:
    nav = "\n".join(f"      - {json.dumps(type(sm).__name__)}: submodels/{sm.name}.md"
                    for sm in graph.model.submodels)
    return f"""{MARKER} from the model; regenerate, do not edit.
site_name: {json.dumps(f"{graph.model.name} model (cordsim {__version__})")}
docs_dir: docs
site_dir: site
use_directory_urls: false
theme:
  name: mkdocs
  highlightjs: false
markdown_extensions:
  - toc
  - tables
  - attr_list
  - fenced_code
validation:
  anchors: warn
  unrecognized_links: warn
nav:
  - Overview: index.md
  - Mechanism: mechanism.md
  - Submodels:
{nav}
  - References: references.md
"""


@dataclass(frozen=True)
class DocsResult:
    """What :func:`write_docs` wrote: the pages, and the built site (None if not built)."""

    out: Path
    pages: tuple[Path, ...]
    site: Path | None


def _check_mkdocs() -> None:
    if importlib.util.find_spec("mkdocs") is None:
        raise CordsimError("building the documentation site needs the optional package "
                           "'mkdocs': pip install 'cordsim[docs]' (or pass --no-build to "
                           "write the Markdown sources only)")


def write_docs(out: str | Path, *, species: str = "rat", build: bool = True,
               model: Model | None = None) -> DocsResult:
    """Write the MkDocs project (``out/mkdocs.yml``, ``out/docs/...``) and, with ``build``,
    run ``mkdocs build --strict`` into ``out/site``.

    Raises :class:`CordsimError` if ``out`` holds an ``mkdocs.yml`` that this function did
    not write, if mkdocs is missing (with ``build``) or if the strict build fails.
    """
    from cordsim.data import default_parameters

    if build:
        _check_mkdocs()
    out = Path(out)
    cfg = out / "mkdocs.yml"
    if cfg.exists() and not cfg.read_text().startswith(MARKER):
        raise CordsimError(f"{str(cfg)!r} exists and was not written by 'cordsim docs'; "
                           "choose another --out folder")
    ps = default_parameters(species)
    graph = model_graph(model)
    docs = out / "docs"
    subdir = docs / "submodels"
    subdir.mkdir(parents=True, exist_ok=True)
    pages = {docs / "index.md": _index_page(graph, ps),
             docs / "mechanism.md": _mechanism_page(graph),
             docs / "references.md": _references_page(species)}
    for sm in graph.model.submodels:
        pages[subdir / f"{sm.name}.md"] = _submodel_page(sm, graph, ps)
    for stale in subdir.glob("*.md"):  # pages of submodels no longer in the model
        if stale not in pages:
            stale.unlink()
    for path, text in pages.items():
        path.write_text(text, encoding="utf-8")
    written = [*pages, _draw_graph(graph, docs / "mechanism.svg")]
    cfg.write_text(_mkdocs_yml(graph), encoding="utf-8")
    written.insert(0, cfg)
    if not build:
        return DocsResult(out, tuple(written), None)
    site = out / "site"
    if site.exists() and not (site / "sitemap.xml").exists() and any(site.iterdir()):
        raise CordsimError(f"{str(site)!r} exists and does not look like a MkDocs site; "
                           "choose another --out folder")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
                           "-f", str(cfg.resolve())], capture_output=True, text=True,
                          timeout=600, check=False)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        shutil.rmtree(site, ignore_errors=True)
        raise CordsimError("mkdocs build --strict failed:\n" + log.strip()[-4000:])
    return DocsResult(out, tuple(written), site)


# ---------------------------------------------------------------------------- explain
def explain(name: str, *, species: str = "rat", model: Model | None = None) -> str:
    """Where a state, parameter or output comes from, what it drives, and the shortest
    chains from each dose entry through it to the BBB score, as text.

    Raises :class:`CordsimError` for an unknown name, suggesting close matches.
    """
    from cordsim.data import check_species, default_parameters

    check_species(species)  # for a state or output too, not only where a parameter is shown
    graph = model_graph(model)
    m = graph.model
    kind = graph.kind(name)
    if kind == "unknown":
        pool = [*m.states, *m.outputs, *m.params]
        close = difflib.get_close_matches(str(name), pool, n=3, cutoff=0.6)
        hint = f"; close matches: {', '.join(close)}" if close else \
            "; see 'cordsim params' and 'cordsim docs' for the names"
        shown = name if len(str(name)) <= 80 else str(name)[:77] + "..."
        raise CordsimError(f"unknown name {shown!r}: not a state, output or parameter of "
                           f"{m.name}{hint}")
    sm = m.owner[name]
    lines = [f"{name}: {kind} of {sm.name} ({type(sm).__name__}, {type(sm).__module__})"]
    if kind == "parameter":
        rec = default_parameters(species).records[name]
        decl = m.params[name]
        lines += [f"  {decl.description}",
                  (f"  value {_number(rec.value)} {rec.unit}; bounds "
                  f"[{_number(rec.bounds[0])}, {_number(rec.bounds[1])}]; role {decl.role}; "
                  f"evidence {rec.evidence}"),
                  f"  source: {rec.source}"]
        if rec.note:
            lines.append(f"  note: {rec.note}")
    else:
        decl = m.states[name] if kind == "state" else m.outputs[name]
        lines.append(f"  {decl.description} [{decl.unit}]")
        if kind == "state":
            init = graph.initial[name]
            lines.append(f"  initial value: {_number(float(init)) if init.is_number else init}")
            lines.append(f"  d({name})/dt = {sympy.sstr(graph.laws[name])}")
        else:
            lines.append(f"  {name} = {sympy.sstr(graph.laws[name])}")
        used = graph.drivers[name]
        for k in ("state", "output", "parameter"):
            names = [u for u in used if graph.kind(u) == k]
            lines.append(f"  depends on {k}s: {', '.join(names) or 'none'}")
    drives = graph.driven.get(name, ())
    lines.append(f"  drives: {', '.join(drives) or 'nothing'}")
    if graph.initial_of.get(name):
        lines.append(f"  sets the initial value of: {', '.join(graph.initial_of[name])}")
    lines.append(f"  from a dose to {BBB_READOUT}"
                 + (f" through {name}:" if name != BBB_READOUT else ":"))
    rows = dose_paths(graph, via=None if name == BBB_READOUT else name)
    if all(path is None for _, path in rows):
        if shortest_path(graph, [name], BBB_READOUT) is None:
            lines.append(f"    none: {name} does not reach {BBB_READOUT}")
        else:
            lines.append(f"    none: no dose reaches {name}")
    seen = set()
    for entry, path in rows:
        if path is None or tuple(path) in seen:
            continue
        seen.add(tuple(path))
        label = "(parameter)" if kind == "parameter" else entry.label.replace("`", "")
        lines.append(f"    {label}: {' -> '.join(path)}")
    return "\n".join(lines)

"""A scenario as a COMBINE archive (OMEX): how models and their simulations travel between
tools (SED-ML runners such as tellurium, BioModels).

``cordsim export omex SCENARIO --out FILE.omex`` writes one zip file with:

* ``model_<k>.xml``: every arm's SBML (:func:`cordsim.io.sbml.export_sbml`: its injury,
  parameters and doses as events);
* ``simulation_<k>.sedml``: per arm, a SED-ML L1V4 document (libsedml) with a uniform time
  course over the scenario's days and dt, one task, and a report of time and the readouts of
  :data:`REPORTED` (the BBB score first);
* ``petab/``: the calibration problem (``cordsim petab export``), when the calibration extra
  is installed;
* ``manifest.xml``: the OMEX manifest naming each file's format.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from cordsim.errors import ScenarioError

REPORTED = ("bbb_score", "bscb_permeability", "m2_fraction_macrophages", "spared_tissue_fraction")
FORMATS = {
    "omex": "http://identifiers.org/combine.specifications/omex",
    "manifest": "http://identifiers.org/combine.specifications/omex-manifest",
    "sbml": "http://identifiers.org/combine.specifications/sbml.level-3.version-2",
    "sedml": "http://identifiers.org/combine.specifications/sed-ml.level-1.version-4",
    "petab": "http://identifiers.org/combine.specifications/petab.version-1",
    "tsv": "http://purl.org/NET/mediatypes/text/tab-separated-values",
    "yaml": "http://purl.org/NET/mediatypes/application/x-yaml",
}


def _sedml(model_file: str, days: float, dt: float, arm: str) -> str:
    """SED-ML L1V4 text: the model, a uniform time course 0..days every dt, one task and a
    report of time and :data:`REPORTED`."""
    from cordsim._optional import require

    require("libsedml", "the COMBINE archive's SED-ML")
    import libsedml

    doc = libsedml.SedDocument(1, 4)
    model = doc.createModel()
    model.setId("model")
    model.setName(arm)
    model.setSource(model_file)
    model.setLanguage("urn:sedml:language:sbml.level-3.version-2")
    sim = doc.createUniformTimeCourse()
    sim.setId("timecourse")
    sim.setInitialTime(0.0)
    sim.setOutputStartTime(0.0)
    sim.setOutputEndTime(float(days))
    sim.setNumberOfSteps(int(round(days / dt)))
    alg = sim.createAlgorithm()
    alg.setKisaoID("KISAO:0000019")  # CVODE (a BDF integrator, as cordsim's engine)
    task = doc.createTask()
    task.setId("task")
    task.setModelReference("model")
    task.setSimulationReference("timecourse")
    report = doc.createReport()
    report.setId("report")
    report.setName(f"{arm}: time and readouts")
    for name in ("time", *REPORTED):
        gen = doc.createDataGenerator()
        gen.setId(f"dg_{name}")
        gen.setName(name)
        var = gen.createVariable()
        var.setId(f"v_{name}")
        var.setTaskReference("task")
        if name == "time":
            var.setSymbol("urn:sedml:symbol:time")
        else:
            var.setTarget(f"/sbml:sbml/sbml:model/sbml:listOfParameters/"
                          f"sbml:parameter[@id='{name}']")
        gen.setMath(libsedml.parseL3Formula(f"v_{name}"))
        ds = report.createDataSet()
        ds.setId(f"ds_{name}")
        ds.setLabel(name)
        ds.setDataReference(f"dg_{name}")
    return libsedml.writeSedMLToString(doc)


def _manifest(entries: list[tuple[str, str]]) -> str:
    rows = [f'  <content location="{loc}" format="{fmt}"'
            + (' master="true"' if loc.endswith(".sedml") and i == 0 else "") + "/>"
            for i, (loc, fmt) in enumerate(entries)]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<omexManifest xmlns="http://identifiers.org/combine.specifications/'
            'omex-manifest">\n'
            f'  <content location="." format="{FORMATS["omex"]}"/>\n'
            f'  <content location="./manifest.xml" format="{FORMATS["manifest"]}"/>\n'
            + "\n".join(rows) + "\n</omexManifest>\n")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "arm"


def export_omex(scenario: Any, out: str | Path, *, petab: bool = True) -> list[str]:
    """Write the COMBINE archive of ``scenario`` (module docstring) to ``out``; returns the
    files it holds."""
    from cordsim.io.sbml import export_sbml
    from cordsim.run.scenarios import arm_simulation

    files: dict[str, bytes] = {}
    entries: list[tuple[str, str]] = []
    sedml_entries: list[tuple[str, str]] = []
    for k, arm in enumerate(scenario.arms, start=1):
        model_file = f"model_{k}_{_slug(arm.name)}.xml"
        files[model_file] = export_sbml(arm_simulation(scenario, arm)).encode()
        entries.append((f"./{model_file}", FORMATS["sbml"]))
        sed_file = f"simulation_{k}_{_slug(arm.name)}.sedml"
        files[sed_file] = _sedml(model_file, scenario.days, scenario.dt, arm.name).encode()
        sedml_entries.append((f"./{sed_file}", FORMATS["sedml"]))
    if petab:
        try:
            from cordsim.io.petab import export_problem
        except ImportError:  # the calibration extra is not installed: no PEtab problem
            petab = False
    if petab:
        with tempfile.TemporaryDirectory() as tmp:
            export_problem(tmp)
            for path in sorted(Path(tmp).iterdir()):
                name = f"petab/{path.name}"
                files[name] = path.read_bytes()
                fmt = {".xml": FORMATS["sbml"], ".tsv": FORMATS["tsv"],
                       ".yaml": FORMATS["petab"]}.get(path.suffix, FORMATS["tsv"])
                entries.append((f"./{name}", fmt))
    manifest = _manifest(sedml_entries + entries)
    out = Path(out)
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.xml", manifest)
            for name, data in files.items():
                zf.writestr(name, data)
    except OSError as exc:
        raise ScenarioError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
    return ["manifest.xml", *files]

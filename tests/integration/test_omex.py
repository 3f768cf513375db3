"""The scenario as a COMBINE archive (issue 24, item 4): libcombine reads it, libsedml finds no
error in any SED-ML, and the archive's simulations, run by libroadrunner as the SED-ML says,
give cordsim's BBB score at day 70 for every arm."""

from __future__ import annotations

import zipfile

import pytest

import cordsim
from cordsim.cli import EXIT_BAD_INPUT, main


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("omex") / "default.omex"
    assert main(["export", "omex", "default", "--out", str(out)]) == 0
    return out


def test_the_archive_reads_and_its_sedml_validates(archive):
    import libcombine
    import libsedml

    combine = libcombine.CombineArchive()
    assert combine.initializeFromArchive(str(archive))
    names = zipfile.ZipFile(archive).namelist()
    listed = {combine.getEntry(i).getLocation().removeprefix("./")
              for i in range(combine.getNumEntries())}
    assert set(names) - {"manifest.xml"} <= listed
    sedml = [n for n in names if n.endswith(".sedml")]
    assert len(sedml) == 4 and sum(n.endswith(".xml") and n.startswith("model_")
                                   for n in names) == 4
    assert any(n.startswith("petab/") and n.endswith(".yaml") for n in names)
    for name in sedml:
        doc = libsedml.readSedMLFromString(zipfile.ZipFile(archive).read(name).decode())
        assert doc.getErrorLog().getNumFailsWithSeverity(libsedml.LIBSEDML_SEV_ERROR) == 0
        assert doc.getSimulation(0).getOutputEndTime() == 70
        assert doc.getOutput(0).getDataSet(1).getLabel() == "bbb_score"


@pytest.mark.slow
def test_a_sedml_run_of_every_arm_gives_cordsims_bbb(archive):
    import libsedml
    import roadrunner

    scenario = cordsim.load_scenario("default")
    result = cordsim.run_scenario(scenario)
    zf = zipfile.ZipFile(archive)
    for k, arm in enumerate(scenario.arms, start=1):
        name = next(n for n in zf.namelist() if n.startswith(f"simulation_{k}_"))
        doc = libsedml.readSedMLFromString(zf.read(name).decode())
        sim, model = doc.getSimulation(0), doc.getModel(0)
        rr = roadrunner.RoadRunner(zf.read(model.getSource()).decode())
        rr.integrator.relative_tolerance = 1e-8
        rr.integrator.absolute_tolerance = 1e-10
        out = rr.simulate(sim.getOutputStartTime(), sim.getOutputEndTime(),
                          sim.getNumberOfSteps() + 1, ["time", "bbb_score"])
        assert out[-1, 0] == pytest.approx(70.0)
        assert out[-1, 1] == pytest.approx(result.arms[arm.name].at("bbb_score", 70.0),
                                           abs=1e-3), arm.name


@pytest.mark.parametrize(("argv", "words"), [
    (["export", "omex", "--out", "x.omex"], "export omex needs a SCENARIO"),
    (["export", "omex", "default", "--arm", "vehicle", "--out", "x.omex"], "no --arm"),
])
def test_omex_export_refuses_what_it_does_not_take(tmp_path, capsys, argv, words):
    argv = [a if a != "x.omex" else str(tmp_path / "x.omex") for a in argv]
    assert main(argv) == EXIT_BAD_INPUT
    assert words in capsys.readouterr().err and not (tmp_path / "x.omex").exists()

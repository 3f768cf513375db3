"""One biological process at a time: directions and balances of each submodel's rate laws.

Each test evaluates the composed model at a realistic injured state (day 7 of a moderate
contusion), changes one input, and checks the direction of the response.
"""

from __future__ import annotations

import pytest

import cordsim


@pytest.fixture(scope="module")
def base(model, params):
    res = cordsim.Simulation(injury="moderate").run(days=7)
    y = {n: float(res[n][-1]) for n in model.state_names}
    p = params.replace(cordsim.Injury("moderate").values()).values
    return y, p


def ev(model, y, p, **changes):
    y2, p2 = dict(y), dict(p)
    for k, v in changes.items():
        (y2 if k in y2 else p2)[k] = v
    return model.evaluate(7.0, y2, p2)


def test_injury_transients_decay(model, base):
    y, p = base
    _, r = ev(model, y, p, ischemia=0.0, excitotoxicity=0.5)
    assert r["excitotoxicity"] < 0
    _, r = ev(model, y, p, ischemia=0.5)
    assert r["ischemia"] < 0 and r["calpain"] > ev(model, y, p, ischemia=0.0)[1]["calpain"]


def test_damps_released_by_dying_tissue(model, base):
    y, p = base
    low = ev(model, y, p, excitotoxicity=0.0)[1]["damps"]
    high = ev(model, y, p, excitotoxicity=1.0)[1]["damps"]
    assert high > low


def test_marco_drives_myelin_uptake(model, base):
    y, p = base
    o1, _ = ev(model, y, p, marco_activity=1.0)
    o2, _ = ev(model, y, p, marco_activity=0.2)
    f = p["f_uptake_marco_independent"]  # other receptors keep their share
    assert o2["myelin_uptake"] == pytest.approx((f + (1 - f) * 0.2) * o1["myelin_uptake"])
    assert o2["myelin_uptake"] < o1["myelin_uptake"]


def test_m2_cells_efferocytose_more(model, base):
    y, p = base
    zero = dict(microglia_m1=0.0, microglia_m2=0.0, macrophages_m1=0.0, macrophages_m2=0.0)
    m1 = ev(model, y, p, **{**zero, "macrophages_m1": 1e4})[0]["efferocytosis"]
    m2 = ev(model, y, p, **{**zero, "macrophages_m2": 1e4})[0]["efferocytosis"]
    assert m2 == pytest.approx(p["f_m2_efferocytosis"] * m1)


def test_intact_barrier_admits_no_leukocytes(model, base):
    y, p = base
    o, _ = ev(model, y, p, tight_junctions=1.0, adherens_junctions=1.0, pericytes=1.0,
              leaky_vessels=0.0)
    assert o["bscb_permeability"] == pytest.approx(1.0)
    assert o["neutrophil_influx"] == 0 and o["monocyte_influx"] == 0


def test_leak_increases_with_junction_loss(model, base):
    y, p = base
    lo = ev(model, y, p, tight_junctions=0.8)[0]["bscb_permeability"]
    hi = ev(model, y, p, tight_junctions=0.3)[0]["bscb_permeability"]
    assert hi > lo > 1


def test_p2ry12_blockade_removes_microglial_seal(model, base):
    y, p = base
    normal = ev(model, y, p)[0]
    blocked = ev(model, y, p, p2ry12_activity=0.0)[0]
    assert normal["microglial_seal"] > 0 and blocked["microglial_seal"] == 0
    assert blocked["bscb_permeability"] > normal["bscb_permeability"]


def test_cytokines_damage_junctions_and_il10_repairs(model, base):
    y, p = base
    calm = ev(model, y, p, tnf=0.0, il1b=0.0)[1]["tight_junctions"]
    inflamed = ev(model, y, p, tnf=500.0, il1b=500.0)[1]["tight_junctions"]
    assert inflamed < calm
    assert ev(model, y, p, il10=200.0)[1]["tight_junctions"] > ev(model, y, p, il10=0.0)[1][
        "tight_junctions"]


def test_polarization_cues(model, base):
    y, p = base
    target = ev(model, y, p)[0]["polarization_target"]
    assert 0 < target < 1
    assert ev(model, y, p, il10=500.0)[0]["polarization_target"] > target
    assert ev(model, y, p, myelin_internalized=2.0)[0]["polarization_target"] < target


def test_switching_conserves_macrophages(model, base):
    """Mass balance: phenotype switching moves cells, never creates them."""
    y, p = base
    o, r = ev(model, y, p)
    total = r["monocytes"] + r["macrophages_m1"] + r["macrophages_m2"]
    expected = (o["monocyte_influx"] - o["macrophage_apoptosis"] - o["macrophage_pyroptosis"])
    assert total == pytest.approx(expected, rel=1e-12)
    # and changing the switching rate changes only the split
    o2, r2 = ev(model, y, p, k_macrophage_switch=3 * p["k_macrophage_switch"])
    total2 = r2["monocytes"] + r2["macrophages_m1"] + r2["macrophages_m2"]
    assert total2 == pytest.approx(total, rel=1e-12)
    assert r2["macrophages_m2"] != pytest.approx(r["macrophages_m2"])


def test_microglia_balance(model, base):
    y, p = base
    o, r = ev(model, y, p)
    total_rate = r["microglia_resting"] + r["microglia_m1"] + r["microglia_m2"]
    active = y["microglia_m1"] + y["microglia_m2"]
    total = active + y["microglia_resting"]
    signal = y["damps"] / (y["damps"] + p["ec50_damps_proliferation"])
    growth = (p["k_microglia_proliferation"] * signal * (1 - total / p["microglia_capacity"])
              * active)
    expected = (growth - o["microglia_apoptosis"] - o["microglia_pyroptosis"]
                - p["d_microglia_excess"] * (y["microglia_resting"] - p["microglia_density"]))
    assert total_rate == pytest.approx(expected, rel=1e-10)


def test_microglia_divide_only_on_the_injury_signal(model, base):
    """Microglial proliferation follows the injury's mitogens (CSF1R-driven): without DAMPs
    the activated microglia only leave (deactivation, death); with more they grow faster."""
    y, p = base
    active = ("microglia_m1", "microglia_m2")
    silent = sum(ev(model, y, p, damps=0.0)[1][k] for k in active)
    strong = sum(ev(model, y, p, damps=1.0)[1][k] for k in active)
    leave = (p["d_microglia_deactivation"] * (y["microglia_m1"] + y["microglia_m2"]))
    assert silent < -0.9 * leave
    assert strong > silent + 0.1 * p["k_microglia_proliferation"] * (
        y["microglia_m1"] + y["microglia_m2"])


def test_t_cells_expand_only_while_the_injury_programme_runs(model, base):
    """T cells grow while the injury's expansion programme runs, never above their
    capacity, and without it return to the intact cord's density."""
    y, p = base
    idle = ev(model, y, p, t_cell_program=0.0, t_cells=10.0)[1]["t_cells"]
    assert idle == pytest.approx(-p["d_t_cells"] * (10.0 - p["t_cells_basal"]))
    running = ev(model, y, p, t_cell_program=0.5, t_cells=10.0)[1]["t_cells"]
    assert running > 0 > idle
    full = ev(model, y, p, t_cell_program=0.5, t_cells=p["t_cell_capacity"])[1]["t_cells"]
    assert full < 0
    sham = cordsim.Simulation(injury="none").run(days=21)
    assert sham["t_cells"].max() == pytest.approx(p["t_cells_basal"], rel=1e-6)


def test_lymph_node_priming_feeds_the_programme(model, base):
    """Antigen presented in the lymph nodes moves into the expansion programme, nothing lost
    on the way; the programme only fades; it starts at zero, so T cells expand after a delay."""
    y, p = base
    r = ev(model, y, p, t_cell_priming=0.3, t_cell_program=0.2)[1]
    assert r["t_cell_priming"] == pytest.approx(-p["k_t_priming"] * 0.3)
    assert r["t_cell_priming"] + r["t_cell_program"] == pytest.approx(
        -p["d_t_program"] * 0.2)
    start = cordsim.Simulation(injury="moderate").run(days=1)
    assert start["t_cell_program"][0] == 0.0 < start["t_cell_program"][-1]


def test_t_cells_speed_graft_rejection(model, base):
    """A graft is primed faster, and so rejected sooner, where T cells are many."""
    y, p = base
    graft = {"msc_graft": 1e6, "graft_immunity": 0.0, "macrophages_m1": 0.0}
    few = ev(model, y, p, **graft, t_cells=p["t_cells_basal"])[1]["graft_immunity"]
    many = ev(model, y, p, **graft, t_cells=p["t_cell_capacity"])[1]["graft_immunity"]
    assert many > 10 * few > 0


def test_nfkb_drives_tnf(model, base):
    y, p = base
    lo = ev(model, y, p, damps=0.0, myelin_internalized=0.0)
    hi = ev(model, y, p, damps=1.0)
    assert hi[0]["nfkb_activity"] > lo[0]["nfkb_activity"]
    assert hi[1]["tnf"] > lo[1]["tnf"]


def test_m2_cells_make_il10_and_trophins(model, base):
    y, p = base
    lo = ev(model, y, p, macrophages_m2=0.0, microglia_m2=0.0)[1]
    hi = ev(model, y, p, macrophages_m2=2e4)[1]
    for name in ("il10", "tgfb", "igf1", "bdnf", "ngf", "polyamines"):
        assert hi[name] > lo[name], name


def test_serum_spillover(model, base):
    y, p = base
    tight = ev(model, y, p, tight_junctions=1.0, adherens_junctions=1.0, pericytes=1.0,
               leaky_vessels=0.0)[1]["serum_tnf"]
    leaky = ev(model, y, p, tight_junctions=0.2)[1]["serum_tnf"]
    assert leaky > tight


def test_timp_inhibits_gelatinases(model, base):
    y, p = base
    assert ev(model, y, p, timp=100.0)[0]["gelatinase_activity"] < ev(
        model, y, p, timp=1.0)[0]["gelatinase_activity"]


def test_tgfb_and_fibrogenic_drive_build_scar(model, base):
    y, p = base
    base_rate = ev(model, y, p, fibroblasts=0.1)[1]["fibroblasts"]
    assert ev(model, y, p, fibroblasts=0.1, tgfb=5000.0)[1]["fibroblasts"] > base_rate
    assert ev(model, y, p, fibroblasts=0.1, fibrogenic_drive=3.0)[1]["fibroblasts"] > base_rate


def test_trophic_support_protects_neurons(model, base):
    y, p = base
    poor = ev(model, y, p, igf1=0.0, bdnf=0.0, ngf=0.0, il10=0.0, tgfb=0.0, excitotoxicity=0.5)
    rich = ev(model, y, p, igf1=1e3, bdnf=1e3, ngf=1e3, il10=1e3, tgfb=1e4, excitotoxicity=0.5)
    assert rich[0]["neuroprotection"] > poor[0]["neuroprotection"]
    assert rich[1]["neurons_fraction"] > poor[1]["neurons_fraction"]  # less negative


def test_scar_and_debris_inhibit_regrowth(model, base):
    y, p = base
    free = ev(model, y, p, scar_cspg=0.0, myelin_debris=0.0)[1]["axon_regrowth"]
    scarred = ev(model, y, p, scar_cspg=0.9, myelin_debris=0.3)[1]["axon_regrowth"]
    assert scarred < free


def test_locomotion(model, base):
    y, p = base
    o, r = ev(model, y, p, locomotor_function=0.5)
    assert o["bbb_score"] == pytest.approx(21 * 0.5)
    blocked = ev(model, y, p, conduction_block=1.0)[1]["locomotor_function"]
    assert blocked < r["locomotor_function"]
    intact = ev(model, y, p, axons_spared=1.0, axon_regrowth=0.0, oligodendrocytes_fraction=1.0)
    assert intact[0]["functional_substrate"] == pytest.approx(1.0)


# ------------------------------------------------------------------ the therapy chain (spec 7b)
def test_delivered_cargo_is_lost_with_the_cells_that_hold_it(model, base):
    """miRNA copies in lesion myeloid cells fall by their own turnover plus the pool's
    per-cell departure rate (death, egress, return of microglia to surveillance)."""
    y, p = base
    o, r = ev(model, y, p, mir146a_5p=1e6)
    assert o["myeloid_departure_rate"] > 0
    expected = -(p["d_mirna"] + o["myeloid_departure_rate"]) * 1e6  # no uptake without sEVs
    assert r["mir146a_5p"] == pytest.approx(expected, rel=1e-9)
    faster = ev(model, y, p, mir146a_5p=1e6, d_macrophages=5 * p["d_macrophages"])
    assert faster[1]["mir146a_5p"] < r["mir146a_5p"]  # quicker turnover, quicker loss


def test_copies_per_cell_are_diluted_by_a_growing_pool(model, base):
    y, p = base
    few = ev(model, y, p, mir146a_5p=1e6)[0]["mirna_copies_per_macrophage"]
    grown = {k: 2 * y[k] for k in ("macrophages_m1", "macrophages_m2", "microglia_m1",
                                   "microglia_m2")}
    many = ev(model, y, p, mir146a_5p=1e6, **grown)[0]["mirna_copies_per_macrophage"]
    assert many == pytest.approx(few / 2, rel=0.02)


def test_the_program_is_diluted_by_cells_that_arrive_without_it(model, base):
    """With no cargo left, the program's share falls by its own fading plus the arrival rate
    of new myeloid cells (recruited monocytes, newly activated microglia)."""
    y, p = base
    o, r = ev(model, y, p, myeloid_program=0.5)
    assert o["myeloid_arrival_rate"] > 0
    expected = -(p["d_program"] + o["myeloid_arrival_rate"]) * 0.5
    assert r["myeloid_program"] == pytest.approx(expected, rel=1e-4)  # smooth max(0, TLR4 - 1)


def test_reprogrammed_cells_repair_the_barrier_and_cut_proteases(model, base):
    y, p = base
    leaky = {"tight_junctions": 0.5, "pericytes": 0.7}
    off = ev(model, y, p, myeloid_program=0.0, **leaky)[1]
    on = ev(model, y, p, myeloid_program=0.8, **leaky)[1]
    assert on["tight_junctions"] > off["tight_junctions"]
    assert on["pericytes"] > off["pericytes"]
    assert on["mmp9"] < off["mmp9"] and on["mmp2"] < off["mmp2"]
    none = ev(model, y, p, myeloid_program=0.8, w_program_barrier=0.0, f_program_mmp=0.0,
              **leaky)[1]
    assert none["tight_junctions"] == pytest.approx(off["tight_junctions"])


def test_a_leaky_barrier_costs_tissue(model, base):
    """Blood-borne mediators entering through the leak add to secondary loss (review 1, 3.4.5)."""
    y, p = base
    sealed = ev(model, y, p, tight_junctions=1.0, adherens_junctions=1.0, pericytes=1.0,
                leaky_vessels=0.0)[0]
    leaky = ev(model, y, p, tight_junctions=0.3)[0]
    assert leaky["leukocyte_entry"] > sealed["leukocyte_entry"]
    assert leaky["neural_death_flux"] > sealed["neural_death_flux"]

"""sEV uptake by primed M2-like cells, and the cargo that reprograms them.

Review Sections 3.2 and 3.4.1-3.4.2, Table 1, Figs. 3-4 [6,11,15,34,45,50,58-61,66-74].
Only primed M2-like macrophages and microglia take sEVs up (CD206, CD36, CD163; TIM4/MerTK;
lipid-raft endocytosis); acidic pH (~6) and debris exposure prime them; M0 and M1 cells do
not [6,11,50]. Part of the uptake goes through class-A scavenger receptors such as MARCO,
which poly-G blocks (Watson 2016: SR-A clears EVs). Uptake per cell saturates.
Internalized vesicles release their miRNAs: each miRNA of Table 1 represses its target
(TLR4, TRAF6, IRF5, Ern1, PDCD4, PELI1) in proportion to the copies delivered per myeloid
cell. A given miRNA is present at far below one copy per vesicle (Chevillet 2014), so the
copies delivered per cell, reported as
``mirna_copies_per_macrophage``, are low; how many copies a cell needs to repress a target
(``ec50_mirna_silencing``) is the model's largest assumption. Cells reprogrammed by the cargo
keep a lasting M2-like program (``myeloid_program``; review Section 3.4: "sustained, not only
induced") that raises their IL-10 and neurotrophin secretion and their M2 cue, and fades as
those cells turn over. Lumped protein/lipid cargo
(e.g. the NRF2 axis of melatonin-preconditioned sEVs [65]) adds a second, RNase-resistant
reprogramming signal.
"""

from __future__ import annotations

from cordsim.core import Output, Param, State, Submodel
from cordsim.core.mathfn import hill, positive, ratio

# miRNA of Table 1 -> the target it represses. One source of truth for the cargo axis.
MIRNA_TARGETS = {
    "mir216a_5p": "tlr4",
    "mir181c": "tlr4",
    "mir23b": "tlr4",
    "mir146a_5p": "traf6",
    "mir125a": "irf5",
    "mir124_3p": "ern1",
    "mir21_5p": "pdcd4",
    "mir21a_5p": "peli1",
}
TARGETS = ("tlr4", "traf6", "irf5", "ern1", "pdcd4", "peli1")


def uptake_priming(m2_like: object, acidity: object, debris: object, p: object) -> object:
    """Uptake capacity of a cell population: only M2-like cells, primed by acid and debris.

    ``acidity`` is a 0-1 signal (pH 7.4 -> 0); ``debris`` the myelin load per phagocyte.
    The same rule serves the lesion and the in-vitro uptake assay.
    """
    return m2_like * (p.f_uptake_unprimed + p.w_uptake_acid * acidity  # type: ignore[attr-defined]
                      + p.w_uptake_debris * hill(debris, p.ec50_debris_uptake, 1))  # type: ignore[attr-defined]


def acidity_signal(ph: object, p: object) -> object:
    """0-1 acid priming signal: 0 at pH 7.4, half-maximal at ``ph_half_uptake``."""
    drop = 7.4 - ph  # type: ignore[operator]
    half = 7.4 - p.ph_half_uptake  # type: ignore[attr-defined]
    return hill(drop, half, 2)


class SEVUptake(Submodel):
    """Lesion pH and saturable sEV uptake by primed M2-like macrophages and microglia."""

    lesion_volume = Param("Lesion volume at the epicenter the sEVs distribute in", "mm^3")
    k_sev_uptake = Param("sEV uptake per primed M2-like cell at low sEV density",
                         "mm^3/cell/day")
    km_sev_uptake = Param("sEV density in the lesion halving uptake per cell (saturation)",
                          "particle/mm^3")
    f_uptake_unprimed = Param("Uptake of an unprimed M2-like cell relative to a fully "
                              "acid- and debris-primed one", "1")
    w_uptake_acid = Param("Weight of acidic-pH priming of uptake", "1")
    w_uptake_debris = Param("Weight of debris-exposure priming of uptake", "1")
    ec50_debris_uptake = Param("Myelin load per phagocyte giving half the debris priming", "1")
    ph_half_uptake = Param("Extracellular pH giving half the acid priming of uptake", "1")
    f_microglia_uptake = Param("sEV uptake of an M2-like microglial cell relative to a "
                               "macrophage", "1")
    f_sev_uptake_scavenger = Param("Share of sEV uptake through class-A scavenger receptors "
                                   "(MARCO; blocked by poly-G)", "1")
    dph_lesion_max = Param("Largest pH drop of the lesion (lactate from ischemia and "
                           "inflammation)", "1")
    ec50_myeloid_acidosis = Param("Activated myeloid density giving half the inflammatory "
                                  "acidosis", "cell/mm^3")

    lesion_ph = Output("Extracellular pH of the lesion", "1")
    sev_uptake = Output("sEVs taken up by lesion macrophages and microglia per day",
                        "particle/day")

    inputs = ("sev_lesion", "macrophages_m1", "macrophages_m2", "microglia_m1", "microglia_m2",
              "ischemia", "myelin_load", "marco_activity")

    def outputs(self, t, v, p):
        myeloid = v.macrophages_m1 + v.macrophages_m2 + v.microglia_m1 + v.microglia_m2
        acid_load = (v.ischemia + hill(myeloid, p.ec50_myeloid_acidosis, 1)) / 2
        ph = 7.4 - p.dph_lesion_max * acid_load
        m2 = v.macrophages_m2 + p.f_microglia_uptake * v.microglia_m2
        primed = uptake_priming(m2, acidity_signal(ph, p), v.myelin_load, p)
        density = v.sev_lesion / p.lesion_volume
        per_cell = p.k_sev_uptake * density / (1 + density / p.km_sev_uptake)
        # Class-A scavenger receptors (MARCO) bind vesicles too; poly-G blocks that share.
        scavenger = 1 - p.f_sev_uptake_scavenger * (1 - p.marco_activity)
        return {"lesion_ph": ph,
                "sev_uptake": per_cell * primed * scavenger * p.lesion_volume}


class MiRNACargo(Submodel):
    """Cargo delivered into lesion myeloid cells and the targets it represses (Table 1)."""

    mir216a_5p = State("miR-216a-5p delivered to lesion myeloid cells", "copy", initial=0.0)
    mir181c = State("miR-181c delivered to lesion myeloid cells", "copy", initial=0.0)
    mir23b = State("miR-23b delivered to lesion myeloid cells", "copy", initial=0.0)
    mir146a_5p = State("miR-146a-5p delivered to lesion myeloid cells", "copy", initial=0.0)
    mir125a = State("miR-125a delivered to lesion myeloid cells", "copy", initial=0.0)
    mir124_3p = State("miR-124-3p delivered to lesion myeloid cells", "copy", initial=0.0)
    mir21_5p = State("miR-21-5p delivered to lesion myeloid cells", "copy", initial=0.0)
    mir21a_5p = State("miR-21a-5p delivered to lesion myeloid cells", "copy", initial=0.0)
    protein_cargo = State("Lumped protein/lipid cargo delivered (sEV-equivalents)", "particle",
                          initial=0.0)
    myeloid_program = State("Share of lesion myeloid cells holding the sEV-induced M2 program "
                            "(0-1)", "1", initial=0.0)

    cargo_mir216a_5p = Param("miR-216a-5p copies per sEV (product cargo)", "copy/particle",
                             role="product")
    cargo_mir181c = Param("miR-181c copies per sEV (product cargo)", "copy/particle",
                          role="product")
    cargo_mir23b = Param("miR-23b copies per sEV (product cargo)", "copy/particle", role="product")
    cargo_mir146a_5p = Param("miR-146a-5p copies per sEV (product cargo)", "copy/particle",
                             role="product")
    cargo_mir125a = Param("miR-125a copies per sEV (product cargo)", "copy/particle",
                          role="product")
    cargo_mir124_3p = Param("miR-124-3p copies per sEV (product cargo)", "copy/particle",
                            role="product")
    cargo_mir21_5p = Param("miR-21-5p copies per sEV (product cargo)", "copy/particle",
                           role="product")
    cargo_mir21a_5p = Param("miR-21a-5p copies per sEV (product cargo)", "copy/particle",
                            role="product")
    cargo_protein = Param("Protein/lipid cargo potency relative to naive MSC-sEVs", "1",
                          role="product")
    d_mirna = Param("Turnover of delivered miRNA (RISC-loaded)", "1/day")
    d_protein_cargo = Param("Turnover of delivered protein/lipid cargo", "1/day")
    ec50_mirna_silencing = Param("miRNA copies per myeloid cell giving half-maximal target "
                                 "repression", "copy/cell")
    f_silencing_max = Param("Largest fractional repression of a target by its miRNAs", "1")
    ec50_protein_cargo = Param("Protein cargo per myeloid cell giving half its effect",
                               "particle/cell")
    f_protein_cargo_max = Param("Largest reprogramming by protein/lipid cargo alone", "1")
    tlr4_overexpression = Param("TLR4 expression relative to wild type (experiments)", "1",
                                role="experimental")
    k_program = Param("Rate at which cargo-reprogrammed cells adopt a lasting M2 program",
                      "1/day")
    d_program = Param("Fading of the sEV-induced program in the cells that hold it", "1/day")
    myeloid_floor = Param("Myeloid density below which per-cell cargo is not resolved",
                          "cell/mm^3", role="structural")

    mirna_copies_per_macrophage = Output("miRNA copies (all Table 1 species) delivered per "
                                         "lesion macrophage or microglial cell", "copy/cell")
    tlr4_expression = Output("TLR4 expression in lesion myeloid cells (1 = untreated)", "1")
    traf6_expression = Output("TRAF6 expression (1 = untreated)", "1")
    irf5_expression = Output("IRF5 expression (1 = untreated)", "1")
    ern1_expression = Output("Ern1 (IRE1alpha) expression (1 = untreated)", "1")
    pdcd4_expression = Output("PDCD4 expression (1 = untreated)", "1")
    peli1_expression = Output("PELI1 expression (1 = untreated)", "1")
    protein_cargo_effect = Output("Reprogramming by protein/lipid cargo (0-1)", "1")
    reprogramming = Output("Mean reprogramming of lesion myeloid cells by sEV cargo (0-1)", "1")
    mir21_fibrosis = Output("miR-21 activity in the lesion (0-1), profibrotic in fibroblasts",
                            "1")

    inputs = ("sev_uptake", "macrophages_m1", "macrophages_m2", "microglia_m1", "microglia_m2",
              "lesion_volume", "myeloid_arrival_rate", "myeloid_departure_rate")

    def outputs(self, t, v, p):
        # Delivered cargo sits in the lesion's activated myeloid cells (the M2-like cells that
        # took it up may switch phenotype later): what a target's expression follows is the
        # mean number of copies per cell of that pool. Cells recruited after a dose arrive
        # without cargo, so the copies per cell fall as the pool grows.
        floor = p.myeloid_floor * p.lesion_volume
        cells = (v.macrophages_m1 + v.macrophages_m2 + v.microglia_m1 + v.microglia_m2) \
            * p.lesion_volume

        def per_cell(copies):
            return ratio(copies, cells, floor)

        silencing = {}
        for target in TARGETS:
            copies = sum(getattr(v, m) for m, tg in MIRNA_TARGETS.items() if tg == target)
            silencing[target] = p.f_silencing_max * hill(per_cell(copies),
                                                          p.ec50_mirna_silencing, 1)
        total = sum(getattr(v, m) for m in MIRNA_TARGETS)
        protein = p.f_protein_cargo_max * hill(per_cell(v.protein_cargo), p.ec50_protein_cargo, 1)
        out = {f"{tg}_expression": 1 - silencing[tg] for tg in TARGETS}
        out["tlr4_expression"] = p.tlr4_overexpression * (1 - silencing["tlr4"])
        return {
            **out,
            "mirna_copies_per_macrophage": per_cell(total),
            "protein_cargo_effect": protein,
            "reprogramming": 1 - (1 - protein) * (1 - sum(silencing.values()) / len(TARGETS)),
            "mir21_fibrosis": hill(per_cell(v.mir21_5p), p.ec50_mirna_silencing, 1),
        }

    def rates(self, t, v, p):
        # Copies are lost with the cells that hold them (death, egress, return of microglia to
        # surveillance) as well as by their own turnover.
        loss = p.d_mirna + v.myeloid_departure_rate
        rates = {m: v.sev_uptake * getattr(p, f"cargo_{m}") - loss * getattr(v, m)
                 for m in MIRNA_TARGETS}
        rates["protein_cargo"] = (v.sev_uptake * p.cargo_protein
                                  - (p.d_protein_cargo + v.myeloid_departure_rate)
                                  * v.protein_cargo)
        # Reprogrammed cells stay M2-like (review 3.4, point 1): the program outlasts the
        # delivered miRNAs. It is induced by the suppression of TLR4/TRAF6-NF-kB signalling
        # (Table 1: miR-216a-5p, miR-181c, miR-23b, miR-146a-5p drive the M1 -> M2 switch);
        # strong TLR4 signalling (TLR4 overexpression) pushes the cells back toward M1 and
        # erases it. It is a share of the pool: cells recruited later arrive without it (they
        # dilute it), and it fades on its own (d_program); cells that hold it die as the others
        # do, which leaves the share unchanged.
        silenced = 1 - v.tlr4_expression / p.tlr4_overexpression * v.traf6_expression
        excess = positive(p.tlr4_overexpression - 1, 1e-6)  # TLR4 overexpression experiments
        rates["myeloid_program"] = (
            p.k_program * (silenced + v.protein_cargo_effect) * (1 - v.myeloid_program)
            - (p.d_program + v.myeloid_arrival_rate + p.k_program * excess)
            * v.myeloid_program)
        return rates

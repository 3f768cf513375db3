"""Neurotrophic support: IGF-1, BDNF, NGF and arginase-1-derived polyamines.

Review Section 3.4.4 [85-91]: M2-like macrophages and microglia secrete IGF-1, BDNF and NGF
and divert L-arginine to polyamines through arginase-1; with IL-10 (PI3K-AKT, JAK-STAT3)
and TGF-beta (Smad) these protect neurons and oligodendrocytes and let neurites cross CSPG.
MSCs at the lesion (grafted, or settled from the CSF) add BDNF and NGF of their own (Crigler
2006, Exp Neurol 198:54: MSCs express BDNF and NGF; Wilkins 2009, Stem Cell Res 3:63: MSC
BDNF supports neuronal survival).
"""

from __future__ import annotations

from cordsim.core import Output, Param, State, Submodel
from cordsim.core.mathfn import hill

PER_CELL = "pg/mL/day/(cell/mm^3)"


class Neurotrophins(Submodel):
    """Neurotrophin levels and the resulting trophic index of the lesion."""

    igf1 = State("IGF-1 in the lesion", "pg/mL", initial=lambda p: p.k_igf1_basal / p.d_igf1)
    bdnf = State("BDNF in the lesion", "pg/mL", initial=lambda p: p.k_bdnf_basal / p.d_bdnf)
    ngf = State("NGF in the lesion", "pg/mL", initial=lambda p: p.k_ngf_basal / p.d_ngf)
    polyamines = State("Polyamines from arginase-1 (putrescine/spermidine), normalized", "1",
                       initial=0.0)

    k_igf1_basal = Param("Basal IGF-1 production (neurons, astrocytes)", "pg/mL/day")
    k_bdnf_basal = Param("Basal BDNF production (neurons, astrocytes)", "pg/mL/day")
    k_ngf_basal = Param("Basal NGF production (astrocytes)", "pg/mL/day")
    s_igf1_m2 = Param("IGF-1 secretion per M2-like cell", PER_CELL)
    s_bdnf_m2 = Param("BDNF secretion per M2-like cell", PER_CELL)
    s_ngf_m2 = Param("NGF secretion per M2-like cell", PER_CELL)
    d_igf1 = Param("IGF-1 clearance rate", "1/day")
    d_bdnf = Param("BDNF clearance rate", "1/day")
    d_ngf = Param("NGF clearance rate", "1/day")
    k_polyamines = Param("Polyamine synthesis per M2-like cell (arginase-1)", "mm^3/cell/day")
    d_polyamines = Param("Polyamine turnover", "1/day")
    ec50_igf1 = Param("IGF-1 giving half-maximal trophic effect", "pg/mL")
    ec50_bdnf = Param("BDNF giving half-maximal trophic effect", "pg/mL")
    ec50_ngf = Param("NGF giving half-maximal trophic effect", "pg/mL")
    ec50_il10_trophic = Param("IL-10 giving half-maximal neuronal STAT3 survival signal",
                              "pg/mL")
    ec50_tgfb_trophic = Param("TGF-beta giving half-maximal Smad survival signal", "pg/mL")
    s_neurotrophin_msc = Param("BDNF and NGF secretion per MSC at the lesion, relative to an "
                               "M2-like cell", "1")
    w_program_trophic = Param("Fold rise of IGF-1, BDNF and NGF secretion in sEV-reprogrammed "
                              "M2-like cells", "1")

    trophic_index = Output("Trophic support index: IGF-1, BDNF, NGF, IL-10, TGF-beta (0-5)", "1")

    inputs = ("microglia_m2", "macrophages_m2", "il10", "tgfb", "myeloid_program", "msc_graft",
              "lesion_volume")

    def outputs(self, t, v, p):
        return {"trophic_index": hill(v.igf1, p.ec50_igf1, 1) + hill(v.bdnf, p.ec50_bdnf, 1)
                + hill(v.ngf, p.ec50_ngf, 1) + hill(v.il10, p.ec50_il10_trophic, 1)
                + hill(v.tgfb, p.ec50_tgfb_trophic, 1)}

    def rates(self, t, v, p):
        m2 = (v.microglia_m2 + v.macrophages_m2) * (1 + p.w_program_trophic * v.myeloid_program)
        msc = p.s_neurotrophin_msc * v.msc_graft / p.lesion_volume  # M2-cell equivalents
        return {
            "igf1": p.k_igf1_basal + p.s_igf1_m2 * m2 - p.d_igf1 * v.igf1,
            "bdnf": p.k_bdnf_basal + p.s_bdnf_m2 * (m2 + msc) - p.d_bdnf * v.bdnf,
            "ngf": p.k_ngf_basal + p.s_ngf_m2 * (m2 + msc) - p.d_ngf * v.ngf,
            "polyamines": p.k_polyamines * (v.microglia_m2 + v.macrophages_m2)
            - p.d_polyamines * v.polyamines,
        }

"""Proteases: MMP-9, MMP-2 and their tissue inhibitors (TIMPs).

Review Sections 2.1, 2.3, 3.1 [24,35,44]: neutrophils and M1-like myeloid cells release
MMP-9 early; macrophages and reactive astrocytes make MMP-2 later; TGF-beta induces TIMPs.
Net protease activity loosens endothelial junctions and detaches pericytes; MMP-9 also damages
axons (MMP-9-null mice recover better, Noble 2002 J Neurosci 22:7526), while MMP-2 serves
wound healing (Hsu 2006 J Neurosci 26:9841) and is not axotoxic in the model.
Calpain activity is part of :class:`~cordsim.biology.injury.PrimaryInjury`.
"""

from __future__ import annotations

from cordsim.core import Output, Param, State, Submodel
from cordsim.core.mathfn import hill, inhibit

PER_CELL = "ng/mL/day/(cell/mm^3)"


class Proteases(Submodel):
    """MMP-9, MMP-2 and TIMP levels and the net gelatinase activity."""

    mmp9 = State("MMP-9 in the lesion", "ng/mL", initial=0.0)
    mmp2 = State("MMP-2 in the lesion", "ng/mL", initial=0.0)
    timp = State("TIMP-1/3 in the lesion", "ng/mL", initial=lambda p: p.k_timp_basal / p.d_timp)

    s_mmp9_neutrophil = Param("MMP-9 release per neutrophil", PER_CELL)
    s_mmp9_m1 = Param("MMP-9 release per M1-like cell at full NF-kB", PER_CELL)
    s_mmp2_macrophage = Param("MMP-2 release per macrophage", PER_CELL)
    s_mmp2_astrocyte = Param("MMP-2 release by fully reactive astrocytes", "ng/mL/day")
    d_mmp9 = Param("MMP-9 clearance rate", "1/day")
    d_mmp2 = Param("MMP-2 clearance rate", "1/day")
    k_timp_basal = Param("Basal TIMP production", "ng/mL/day")
    k_timp_tgfb = Param("Maximal TGF-beta-induced TIMP production", "ng/mL/day")
    ec50_tgfb_timp = Param("TGF-beta giving half-maximal TIMP induction", "pg/mL")
    d_timp = Param("TIMP clearance rate", "1/day")
    ki_timp = Param("TIMP level halving gelatinase activity", "ng/mL")
    f_mmp2_activity = Param("Barrier-damaging activity of MMP-2 relative to MMP-9", "1")
    f_program_mmp = Param("Fall of MMP-2/9 secretion by myeloid cells that hold the sEV-induced "
                          "program (review 3.4.5)", "1")

    gelatinase_activity = Output("Net MMP-2/9 activity after TIMP inhibition", "ng/mL")
    mmp9_activity = Output("MMP-9 activity after TIMP inhibition", "ng/mL")

    inputs = ("neutrophils", "microglia_m1", "macrophages_m1", "macrophages_m2",
              "nfkb_activity", "astrocytes_reactive", "tgfb", "myeloid_program")

    def outputs(self, t, v, p):
        free = inhibit(v.timp, p.ki_timp, 1)
        return {"gelatinase_activity": (v.mmp9 + p.f_mmp2_activity * v.mmp2) * free,
                "mmp9_activity": v.mmp9 * free}

    def rates(self, t, v, p):
        myeloid = 1 - p.f_program_mmp * v.myeloid_program
        return {
            "mmp9": p.s_mmp9_neutrophil * v.neutrophils
            + p.s_mmp9_m1 * v.nfkb_activity * (v.microglia_m1 + v.macrophages_m1) * myeloid
            - p.d_mmp9 * v.mmp9,
            "mmp2": p.s_mmp2_macrophage * (v.macrophages_m1 + v.macrophages_m2) * myeloid
            + p.s_mmp2_astrocyte * v.astrocytes_reactive - p.d_mmp2 * v.mmp2,
            "timp": p.k_timp_basal + p.k_timp_tgfb * hill(v.tgfb, p.ec50_tgfb_timp, 1)
            - p.d_timp * v.timp,
        }

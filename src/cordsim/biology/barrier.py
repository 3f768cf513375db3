"""Blood-spinal cord barrier: junctions, pericytes, leaky new vessels, microglial sealing.

Review Sections 2.3 and 3.4.5, Fig. 1D [2,24,35,36,41,93,94]. Permeability is derived
from tight-junction (ZO-1, occludin, claudin-5) and adherens-junction (N-cadherin)
integrity, pericyte coverage and immature angiogenic vessels [Benton 2008]. TNF-alpha and
IL-1beta (PKCgamma/NF-kB), MMP-2/9 and calpains open junctions; IL-10 (STAT3) and
TGF-beta repair them; activated microglia seal leaky vessels through P2RY12 [94]; the
fibrotic scar entraps microvessels and slows repair [41,42]. The barrier gates the entry
of neutrophils and monocytes (``leukocyte_entry``).

Evidence note: the biphasic permeability curve (peak 1-2 w, dip ~4 w, second rise ~6 w,
incomplete recovery >10 w) is the review's Fig. 1D after Matsushita 2015 [2], shape only;
other models report a single early peak (Popovich 1996 [36]; Tatar 2009, mouse DCE-MRI).
"""

from __future__ import annotations

from cordsim.core import Output, Param, State, Submodel
from cordsim.core.mathfn import hill, inhibit


class BloodSpinalCordBarrier(Submodel):
    """Junction integrity, pericyte coverage, angiogenic vessels and the resulting leak."""

    tight_junctions = State("Tight-junction integrity (ZO-1, occludin, claudin-5; 1 = intact)",
                            "1", initial=lambda p: 1 - p.f_junction_primary * p.injury_severity)
    adherens_junctions = State("Adherens-junction integrity (N-cadherin; 1 = intact)", "1",
                               initial=lambda p: 1 - p.f_junction_primary * p.injury_severity)
    pericytes = State("Pericyte coverage of microvessels (1 = intact)", "1",
                      initial=lambda p: 1 - p.f_pericyte_primary * p.injury_severity)
    leaky_vessels = State("Immature angiogenic microvessels (fraction of intact density)", "1",
                          initial=0.0)

    f_junction_primary = Param("Junctions disrupted by the primary hit per unit severity", "1")
    f_pericyte_primary = Param("Pericytes detached by the primary hit per unit severity", "1")
    k_junction_cytokine = Param("Maximal junction loss by TNF-alpha/IL-1beta", "1/day")
    ec50_tnf_barrier = Param("TNF-alpha giving half-maximal junction loss", "pg/mL")
    ec50_il1b_barrier = Param("IL-1beta giving half-maximal junction loss", "pg/mL")
    k_junction_protease = Param("Maximal junction loss by MMP-2/9", "1/day")
    ec50_mmp_barrier = Param("Gelatinase activity giving half-maximal junction loss", "ng/mL")
    k_junction_calpain = Param("Junction loss per unit calpain activity", "1/day")
    k_adherens_protease = Param("Maximal N-cadherin shedding by MMP-2/9", "1/day")
    k_junction_repair = Param("Junction re-assembly rate without repair cues", "1/day")
    w_il10_repair = Param("Fold gain of junction repair by IL-10 (STAT3)", "1")
    ec50_il10_repair = Param("IL-10 giving half the junction repair gain", "pg/mL")
    w_tgfb_repair = Param("Fold gain of junction repair by TGF-beta", "1")
    ec50_tgfb_repair = Param("TGF-beta giving half the repair gain", "pg/mL")
    ki_scar_repair = Param("Fibrotic scar halving vascular repair (entrapment)", "1")
    k_pericyte_loss = Param("Maximal pericyte detachment by MMP-2/9", "1/day")
    k_pericyte_repair = Param("Pericyte re-coverage rate without TGF-beta", "1/day")
    k_angiogenesis = Param("Maximal formation of leaky angiogenic vessels", "1/day")
    ec50_ischemia_angiogenesis = Param("Ischemia giving half-maximal (VEGF-driven) angiogenesis",
                                       "1")
    k_scar_angiogenesis = Param("Immature vessels sprouting per unit of fibrotic matrix "
                                "deposited (scar vascularization)", "1")
    k_vessel_maturation = Param("Maturation of new vessels at full pericyte coverage", "1/day")
    k_leak_junctions = Param("Permeability excess at total loss of tight junctions", "1")
    k_leak_adherens = Param("Permeability excess at total loss of adherens junctions", "1")
    k_leak_pericytes = Param("Permeability excess at total loss of pericytes", "1")
    k_leak_vessels = Param("Permeability excess per unit of immature vessels", "1")
    f_seal_max = Param("Largest fraction of leak sealed by juxtavascular microglia", "1")
    ec50_microglia_seal = Param("Activated microglia giving half-maximal sealing", "cell/mm^3")
    f_p2ry12_m1 = Param("P2RY12 sealing of an M1-like relative to an M2-like microglial cell",
                        "1")
    p2ry12_activity = Param("Microglial P2RY12 signaling (1 = normal, 0 = blocked)", "1",
                            role="experimental")
    w_program_barrier = Param("Fold rise of junction re-assembly and pericyte re-coverage in a "
                              "lesion whose myeloid cells all hold the sEV-induced program "
                              "(barrier repair, review 3.4.5)", "1")

    microglial_seal = Output("Fraction of vascular leak sealed by microglia (P2RY12)", "1")
    bscb_permeability = Output("BSCB permeability relative to intact cord (1 = intact)", "1")
    leukocyte_entry = Output("Permeability above intact: gates leukocyte and sEV entry", "1")

    inputs = ("tnf", "il1b", "il10", "tgfb", "gelatinase_activity", "calpain",
              "microglia_m1", "microglia_m2", "scar_fibrotic", "ischemia", "injury_severity",
              "fibrotic_deposition", "myeloid_program")

    def outputs(self, t, v, p):
        # P2RY12 is high in M2-like and low in M1-like (LPS-activated) microglia (Haynes 2006)
        sealing = v.microglia_m2 + p.f_p2ry12_m1 * v.microglia_m1
        seal = p.f_seal_max * p.p2ry12_activity * hill(sealing, p.ec50_microglia_seal, 1)
        leak = (p.k_leak_junctions * (1 - v.tight_junctions)
                + p.k_leak_adherens * (1 - v.adherens_junctions)
                + p.k_leak_pericytes * (1 - v.pericytes) + p.k_leak_vessels * v.leaky_vessels)
        excess = leak * (1 - seal)
        return {"microglial_seal": seal, "bscb_permeability": 1 + excess,
                "leukocyte_entry": excess}

    def rates(self, t, v, p):
        cytokine = hill(v.tnf, p.ec50_tnf_barrier, 1) + hill(v.il1b, p.ec50_il1b_barrier, 1)
        protease = hill(v.gelatinase_activity, p.ec50_mmp_barrier, 1)
        # reprogrammed myeloid cells restore junctions and pericyte coverage (review 3.4.5:
        # ZO-1, occludin, claudin-5 and N-cadherin back, pericytes up [6,41,93])
        program = 1 + p.w_program_barrier * v.myeloid_program
        repair_gain = ((1 + p.w_il10_repair * hill(v.il10, p.ec50_il10_repair, 1)
                        + p.w_tgfb_repair * hill(v.tgfb, p.ec50_tgfb_repair, 1))
                       * inhibit(v.scar_fibrotic, p.ki_scar_repair, 1) * program)
        tj_loss = (p.k_junction_cytokine * cytokine + p.k_junction_protease * protease
                   + p.k_junction_calpain * v.calpain)
        aj_loss = p.k_adherens_protease * protease + p.k_junction_calpain * v.calpain
        return {
            "tight_junctions": -tj_loss * v.tight_junctions
            + p.k_junction_repair * repair_gain * v.pericytes * (1 - v.tight_junctions),
            "adherens_junctions": -aj_loss * v.adherens_junctions
            + p.k_junction_repair * repair_gain * v.pericytes * (1 - v.adherens_junctions),
            "pericytes": -p.k_pericyte_loss * protease * v.pericytes
            + p.k_pericyte_repair * (1 + p.w_tgfb_repair * hill(v.tgfb, p.ec50_tgfb_repair, 1))
            * program * (1 - v.pericytes),
            "leaky_vessels": p.k_angiogenesis * hill(v.ischemia, p.ec50_ischemia_angiogenesis, 1)
            + p.k_scar_angiogenesis * v.fibrotic_deposition
            - p.k_vessel_maturation * v.pericytes * v.leaky_vessels,
        }

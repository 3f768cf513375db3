"""Cytokines: TNF-alpha, IL-1beta, IL-6, IL-10, TGF-beta in the lesion; TNF-alpha, IL-6 in serum.

Review Sections 2.1-2.3, 3.4.2. M1-like cells make TNF-alpha, IL-1beta (NLRP3-gated) and
IL-6 in proportion to NF-kB activity; M2-like cells make IL-10 and TGF-beta [89];
neutrophils add TNF-alpha and IL-1beta early; resident cells release a burst of TNF-alpha
in the first hours (their immediate-early response to the hit) and, while in that response,
answer lesion TNF-alpha by transcribing IL-1beta and IL-6 (Pan 2002: blocking the TNF-alpha and IL-1
receptors cut the injury's IL-1beta mRNA, and mice lacking them induced less IL-6; the rat
mRNAs peak in that order, TNF-alpha at 1 h, IL-6 at 3 h, IL-1beta at 6 h, Hayashi 2000; the
IL-1 arm of that loop is not modelled apart); hemorrhage releases platelet TGF-beta;
astrocytes make IL-6 on IL-1beta. Serum levels follow spill-over through the leaky barrier
and a DAMP-driven systemic (splenic) response, which sEVs homing to the spleen dampen [11].
IV products also act through the spleen: splenic macrophages that take up sEVs (or are reached
by MSC secretions) raise circulating IL-10 (Badner 2016, 2018: IV MSCs raise splenic and serum
IL-10 and lower BSCB leak, hemorrhage and lesion volume; the effects are lost after
splenectomy), and serum IL-10 enters the lesion through the leaky barrier.
"""

from __future__ import annotations

from cordsim.core import Output, Param, State, Submodel
from cordsim.core.mathfn import hill

PER_CELL = "pg/mL/day/(cell/mm^3)"


class LesionCytokines(Submodel):
    """Pro- and anti-inflammatory cytokines in lesion tissue."""

    tnf = State("TNF-alpha in the lesion", "pg/mL", initial=0.0)
    il1b = State("IL-1beta in the lesion", "pg/mL", initial=0.0)
    il6 = State("IL-6 in the lesion", "pg/mL", initial=0.0)
    il10 = State("IL-10 in the lesion", "pg/mL", initial=0.0)
    tgfb = State("Active TGF-beta in the lesion", "pg/mL",
                 initial=lambda p: p.tgfb_platelet * p.injury_severity)

    s_tnf_m1 = Param("TNF-alpha secretion per M1-like cell at full NF-kB", PER_CELL)
    s_tnf_neutrophil = Param("TNF-alpha secretion per neutrophil", PER_CELL)
    s_il1b_m1 = Param("IL-1beta secretion per M1-like cell at unit NLRP3 activity", PER_CELL)
    s_il1b_neutrophil = Param("IL-1beta secretion per neutrophil", PER_CELL)
    s_tnf_resident = Param("TNF-alpha release by resident cells at full immediate-early "
                           "response", "pg/mL/day")
    s_il1b_resident = Param("IL-1beta synthesis by resident cells at full immediate-early "
                            "response and full TNF-alpha signalling", "pg/mL/day")
    s_il6_resident = Param("IL-6 synthesis by resident cells at full immediate-early response "
                           "and full TNF-alpha signalling", "pg/mL/day")
    ec50_tnf_glia = Param("Lesion TNF-alpha giving half the resident cells' IL-1beta and "
                          "IL-6 synthesis", "pg/mL")
    k_il1b_pyroptosis = Param("IL-1beta released per pyroptotic cell", "pg/mL/(cell/mm^3)")
    s_il6_m1 = Param("IL-6 secretion per M1-like cell at full NF-kB", PER_CELL)
    k_il6_astrocyte = Param("Maximal IL-6 secretion by astrocytes on IL-1beta", "pg/mL/day")
    ec50_il1b_il6 = Param("IL-1beta giving half-maximal astrocytic IL-6", "pg/mL")
    s_il10_m2 = Param("IL-10 secretion per M2-like cell", PER_CELL)
    w_program_il10 = Param("Fold rise of IL-10 secretion in sEV-reprogrammed myeloid cells", "1")
    k_il10_serum_entry = Param("Serum IL-10 entering the lesion per unit barrier leak", "1/day")
    s_tgfb_m2 = Param("TGF-beta secretion per M2-like cell", PER_CELL)
    s_tgfb_m1 = Param("TGF-beta secretion per M1-like macrophage", PER_CELL)
    tgfb_platelet = Param("Platelet TGF-beta released by hemorrhage per unit severity", "pg/mL")
    d_tnf = Param("TNF-alpha clearance rate in tissue", "1/day")
    d_il1b = Param("IL-1beta clearance rate in tissue", "1/day")
    d_il6 = Param("IL-6 clearance rate in tissue", "1/day")
    d_il10 = Param("IL-10 clearance rate in tissue", "1/day")
    d_tgfb = Param("Active TGF-beta clearance rate in tissue", "1/day")

    tnf_synthesis = Output("TNF-alpha synthesis in the lesion (what its mRNA tracks)",
                           "pg/mL/day")
    il1b_synthesis = Output("IL-1beta synthesis in the lesion (what its mRNA tracks)",
                            "pg/mL/day")
    il6_synthesis = Output("IL-6 synthesis in the lesion (what its mRNA tracks)", "pg/mL/day")
    tgfb_synthesis = Output("TGF-beta synthesis in the lesion (what its mRNA tracks)",
                            "pg/mL/day")

    inputs = ("microglia_m1", "microglia_m2", "macrophages_m1", "macrophages_m2", "neutrophils",
              "nfkb_activity", "nlrp3_activity", "myeloid_pyroptosis", "injury_severity",
              "myeloid_program", "serum_il10", "leukocyte_entry", "resident_response")

    def outputs(self, t, v, p):
        # mRNAs turn over in minutes to an hour, faster than the proteins, so a cytokine's
        # mRNA follows its synthesis rate; the states are the proteins.
        m1 = v.microglia_m1 + v.macrophages_m1
        # resident cells, while in their immediate-early response, answer TNF-alpha
        glia = v.resident_response * hill(v.tnf, p.ec50_tnf_glia, 1)
        return {
            "tnf_synthesis": p.s_tnf_m1 * v.nfkb_activity * m1
            + p.s_tnf_neutrophil * v.neutrophils + p.s_tnf_resident * v.resident_response,
            "il1b_synthesis": p.s_il1b_resident * glia
            + p.s_il1b_m1 * v.nlrp3_activity * m1 + p.s_il1b_neutrophil * v.neutrophils,
            "il6_synthesis": p.s_il6_m1 * v.nfkb_activity * m1
            + p.s_il6_resident * glia
            + p.k_il6_astrocyte * hill(v.il1b, p.ec50_il1b_il6, 1),
            "tgfb_synthesis": p.s_tgfb_m2 * (v.microglia_m2 + v.macrophages_m2)
            + p.s_tgfb_m1 * v.macrophages_m1,
        }

    def rates(self, t, v, p):
        m2 = v.microglia_m2 + v.macrophages_m2
        return {
            "tnf": v.tnf_synthesis - p.d_tnf * v.tnf,
            "il1b": v.il1b_synthesis + p.k_il1b_pyroptosis * v.myeloid_pyroptosis
            - p.d_il1b * v.il1b,
            "il6": v.il6_synthesis - p.d_il6 * v.il6,
            "il10": p.s_il10_m2 * (1 + p.w_program_il10 * v.myeloid_program) * m2
            + p.k_il10_serum_entry * v.leukocyte_entry * v.serum_il10 - p.d_il10 * v.il10,
            "tgfb": v.tgfb_synthesis - p.d_tgfb * v.tgfb,
        }


class SerumCytokines(Submodel):
    """Systemic TNF-alpha and IL-6: basal level, spill-over from the lesion, systemic response."""

    serum_tnf = State("Serum TNF-alpha", "pg/mL",
                      initial=lambda p: p.k_serum_tnf_basal / p.d_serum_tnf)
    serum_il6 = State("Serum IL-6", "pg/mL",
                      initial=lambda p: p.k_serum_il6_basal / p.d_serum_il6)
    serum_il10 = State("Serum IL-10", "pg/mL",
                       initial=lambda p: p.k_serum_il10_basal / p.d_serum_il10)

    k_serum_tnf_basal = Param("Basal TNF-alpha input to serum", "pg/mL/day")
    k_serum_il6_basal = Param("Basal IL-6 input to serum", "pg/mL/day")
    d_serum_tnf = Param("Serum TNF-alpha clearance rate", "1/day")
    d_serum_il6 = Param("Serum IL-6 clearance rate", "1/day")
    k_spillover = Param("Lesion-to-serum spill-over per unit barrier leak", "1/day")
    k_systemic_tnf = Param("Maximal systemic (splenic) TNF-alpha response to DAMPs", "pg/mL/day")
    k_systemic_il6 = Param("Maximal systemic (hepatic/splenic) IL-6 response to DAMPs",
                           "pg/mL/day")
    ec50_damps_systemic = Param("DAMP level giving half the systemic response", "1")

    k_serum_il10_basal = Param("Basal IL-10 input to serum", "pg/mL/day")
    d_serum_il10 = Param("Serum IL-10 clearance rate", "1/day")
    k_splenic_il10 = Param("Largest IL-10 release into serum by sEV-reprogrammed splenic "
                           "macrophages", "pg/mL/day")

    systemic_inflammation = Output("Systemic inflammatory drive from the lesion (0-1)", "1")
    splenic_reprogramming = Output("Share of splenic macrophages reprogrammed by sEVs (0-1)", "1")

    f_splenic_suppression = Param("Largest fall of the systemic response when splenic "
                                  "macrophages are reprogrammed by sEVs", "1")
    ec50_sev_spleen = Param("sEVs in the spleen giving half the splenic suppression",
                            "particle")

    inputs = ("tnf", "il6", "damps", "leukocyte_entry", "sev_spleen")

    def outputs(self, t, v, p):
        # sEVs home to the spleen (Lankford 2018) and calm its monocytes/macrophages [11].
        splenic = hill(v.sev_spleen, p.ec50_sev_spleen, 1)
        return {"systemic_inflammation": (1 - p.f_splenic_suppression * splenic)
                * hill(v.damps * v.leukocyte_entry, p.ec50_damps_systemic, 1),
                "splenic_reprogramming": splenic}

    def rates(self, t, v, p):
        spill = p.k_spillover * v.leukocyte_entry
        return {
            "serum_tnf": p.k_serum_tnf_basal + spill * v.tnf
            + p.k_systemic_tnf * v.systemic_inflammation - p.d_serum_tnf * v.serum_tnf,
            "serum_il6": p.k_serum_il6_basal + spill * v.il6
            + p.k_systemic_il6 * v.systemic_inflammation - p.d_serum_il6 * v.serum_il6,
            "serum_il10": p.k_serum_il10_basal + p.k_splenic_il10 * v.splenic_reprogramming
            - p.d_serum_il10 * v.serum_il10,
        }

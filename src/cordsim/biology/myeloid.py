"""Myeloid cells: neutrophils, resident microglia and monocyte-derived macrophages.

Review Section 2.2 and Fig. 1B-C [9,28-32]. Microglia are activated within minutes to
hours; neutrophils surge over 24-48 h; monocytes infiltrate from ~24 h and macrophages
dominate the lesion by day 3-7. Microglia and macrophages each sit on an M1-like <-> M2-like
activation continuum: every population is split into its M1-like and M2-like parts with
reversible switching toward a cue-dependent target, so the M2 fraction is the population's
mean position on the axis. Myeloid cells die by NLRP3-driven pyroptosis and by apoptosis.
"""

from __future__ import annotations

from cordsim.core import Output, Param, State, Submodel
from cordsim.core.mathfn import hill, inhibit, ratio, scale_odds


class Neutrophils(Submodel):
    """Neutrophil entry through the leaky barrier on CXC-chemokine cues, then apoptosis."""

    neutrophils = State("Neutrophils in the lesion", "cell/mm^3", initial=0.0)

    k_neutrophil_influx = Param("Maximal neutrophil entry per unit barrier leak",
                                "cell/mm^3/day")
    ec50_damps_neutrophil = Param("DAMP level giving half-maximal neutrophil chemotaxis", "1")
    ec50_il1b_neutrophil = Param("IL-1beta giving half-maximal neutrophil chemotaxis", "pg/mL")
    d_neutrophils = Param("Neutrophil apoptosis rate in the lesion", "1/day")

    neutrophil_influx = Output("Neutrophils entering the lesion per day", "cell/mm^3/day")
    neutrophil_apoptosis = Output("Neutrophils dying by apoptosis per day", "cell/mm^3/day")

    inputs = ("leukocyte_entry", "damps", "il1b")

    def outputs(self, t, v, p):
        chemo = (hill(v.damps, p.ec50_damps_neutrophil, 2)
                 + hill(v.il1b, p.ec50_il1b_neutrophil, 2))
        return {
            "neutrophil_influx": p.k_neutrophil_influx * v.leukocyte_entry * chemo,
            "neutrophil_apoptosis": p.d_neutrophils * v.neutrophils,
        }

    def rates(self, t, v, p):
        return {"neutrophils": v.neutrophil_influx - v.neutrophil_apoptosis}


class MyeloidSignaling(Submodel):
    """Intracellular hubs shared by microglia and macrophages: NF-kB, NLRP3, polarization cue.

    TLR4 ligands (DAMPs, myelin lipids) drive NF-kB [25]; DAMPs and myelin loading prime
    the NLRP3 inflammasome; the polarization target weighs M1 cues (TNF, DAMPs, myelin
    loading per phagocyte, i.e. foam cells [9]) against M2 cues (IL-10, TGF-beta,
    efferocytosis [81]). Myelin loading is per phagocyte: as macrophage numbers fall while
    their lipid is processed slowly, each cell's load rises and it turns pro-inflammatory.
    """

    f_nfkb_tonic = Param("NF-kB activity of M1-like cells without TLR4 ligands", "1")
    ec50_damps_tlr4 = Param("DAMP level giving half-maximal TLR4 signaling", "1")
    w_myelin_tlr4 = Param("Weight of myelin loading relative to DAMPs in TLR4 signaling", "1")
    ec50_load_tlr4 = Param("Myelin load per phagocyte giving half-maximal TLR4/CD36 signaling",
                           "1")
    ec50_damps_nlrp3 = Param("DAMP level giving half-maximal NLRP3 priming", "1")
    ec50_load_nlrp3 = Param("Myelin load per phagocyte giving half-maximal NLRP3 activation "
                            "(cholesterol crystals)", "1")
    phagocyte_reference = Param("Phagocyte density defining unit myelin load per cell",
                                "cell/mm^3", role="structural")
    w_m1_basal = Param("Basal M1-like cue (unstimulated bias)", "1")
    w_m2_basal = Param("Basal M2-like cue (unstimulated bias)", "1")
    w_m1_tnf = Param("Weight of TNF-alpha as an M1 cue", "1")
    ec50_tnf_m1 = Param("TNF-alpha giving half the M1 cue", "pg/mL")
    w_m1_damps = Param("Weight of DAMPs (TLR4) as an M1 cue", "1")
    w_m1_myelin = Param("Weight of myelin loading (foam cells) as an M1 cue", "1")
    ec50_load_m1 = Param("Myelin load per phagocyte giving half the foam-cell M1 cue", "1")
    w_m2_il10 = Param("Weight of IL-10 as an M2 cue", "1")
    ec50_il10_m2 = Param("IL-10 giving half the M2 cue", "pg/mL")
    w_m2_tgfb = Param("Weight of TGF-beta as an M2 cue", "1")
    ec50_tgfb_m2 = Param("TGF-beta giving half the M2 cue", "pg/mL")
    w_m2_efferocytosis = Param("Weight of efferocytosis as an M2 cue", "1")
    w_m2_program = Param("Weight of the sEV-induced program as an M2 cue", "1")
    ec50_efferocytosis_m2 = Param("Efferocytosis rate giving half the M2 cue", "cell/mm^3/day")

    myelin_load = Output("Internalized myelin per phagocyte (relative to the reference density)",
                         "1")
    nfkb_activity = Output("NF-kB activity of M1-like myeloid cells (tonic to 1)", "1")
    nlrp3_activity = Output("NLRP3 inflammasome activity (0-2)", "1")
    polarization_target = Output("M2-like fraction myeloid cells relax toward (0-1)", "1")

    inputs = ("damps", "myelin_internalized", "tnf", "il10", "tgfb", "efferocytosis",
              "macrophages_m1", "macrophages_m2", "microglia_m1", "microglia_m2",
              "tlr4_expression", "traf6_expression", "irf5_expression", "ern1_expression",
              "pdcd4_expression", "peli1_expression", "protein_cargo_effect", "myeloid_program")

    def outputs(self, t, v, p):
        phagocytes = (v.macrophages_m1 + v.macrophages_m2 + v.microglia_m1 + v.microglia_m2
                      + 0.01 * p.phagocyte_reference)
        load = v.myelin_internalized * p.phagocyte_reference / phagocytes
        ligands = ((hill(v.damps, p.ec50_damps_tlr4, 1)
                    + p.w_myelin_tlr4 * hill(load, p.ec50_load_tlr4, 2)) / (1 + p.w_myelin_tlr4))
        # sEV cargo (Table 1): fewer receptors/adaptors scale the odds of pathway activation.
        tlr4 = scale_odds(ligands, v.tlr4_expression * v.traf6_expression)
        tlr_cue = v.tlr4_expression * v.traf6_expression * (
            p.w_m1_damps * hill(v.damps, p.ec50_damps_tlr4, 1)
            + p.w_m1_myelin * hill(load, p.ec50_load_m1, 4))
        m1 = ((p.w_m1_basal + p.w_m1_tnf * hill(v.tnf, p.ec50_tnf_m1, 1) + tlr_cue)
              * v.irf5_expression * v.ern1_expression * v.pdcd4_expression
              * (1 - v.protein_cargo_effect))
        m2 = (p.w_m2_basal + p.w_m2_il10 * hill(v.il10, p.ec50_il10_m2, 1)
              + p.w_m2_tgfb * hill(v.tgfb, p.ec50_tgfb_m2, 1)
              + p.w_m2_efferocytosis * hill(v.efferocytosis, p.ec50_efferocytosis_m2, 1)
              + p.w_m2_program * v.myeloid_program)
        return {
            "myelin_load": load,
            "nfkb_activity": (p.f_nfkb_tonic + (1 - p.f_nfkb_tonic) * tlr4)
            * (1 - v.protein_cargo_effect),
            "nlrp3_activity": (hill(v.damps, p.ec50_damps_nlrp3, 1)
                               + hill(load, p.ec50_load_nlrp3, 2))
            * v.traf6_expression * v.peli1_expression,
            "polarization_target": m2 / (m1 + m2),
        }


class Microglia(Submodel):
    """Resident microglia: surveillant -> activated (M1-like / M2-like), proliferation, death."""

    microglia_resting = State("Surveillant microglia", "cell/mm^3",
                              initial=lambda p: p.microglia_density)
    microglia_m1 = State("Activated M1-like microglia", "cell/mm^3", initial=0.0)
    microglia_m2 = State("Activated M2-like microglia", "cell/mm^3", initial=0.0)

    microglia_density = Param("Microglial density of intact cord", "cell/mm^3")
    k_microglia_activation = Param("Maximal activation rate of surveillant microglia", "1/day")
    ec50_damps_microglia = Param("DAMP level giving half-maximal microglial activation", "1")
    k_microglia_proliferation = Param("Proliferation rate of activated microglia at full "
                                      "injury signal", "1/day")
    ec50_damps_proliferation = Param("DAMP level giving half the largest microglial "
                                     "proliferation (the injury's CSF1-type mitogen)", "1")
    microglia_capacity = Param("Microglial density at which proliferation stops", "cell/mm^3")
    d_microglia_deactivation = Param("Return of activated microglia to surveillance", "1/day")
    d_microglia_excess = Param("Removal of surplus surveillant microglia", "1/day")
    k_microglia_switch = Param("Phenotype switching rate of activated microglia", "1/day")
    k_pyroptosis = Param("Pyroptosis rate of M1-like myeloid cells at unit NLRP3 activity",
                         "1/day")
    d_myeloid_apoptosis = Param("Apoptosis rate of activated myeloid cells", "1/day")

    microglia_activated = Output("Activated microglia (M1-like + M2-like)", "cell/mm^3")
    m2_fraction_microglia = Output("M2-like fraction of activated microglia", "1")
    microglia_pyroptosis = Output("Microglia dying by pyroptosis per day", "cell/mm^3/day")
    microglia_apoptosis = Output("Activated microglia dying by apoptosis per day",
                                 "cell/mm^3/day")
    microglia_activation = Output("Surveillant microglia entering the activated pool per day",
                                  "cell/mm^3/day")
    microglia_departure = Output("Activated microglia leaving the pool per day (return to "
                                 "surveillance, apoptosis, pyroptosis)", "cell/mm^3/day")

    inputs = ("damps", "polarization_target", "nlrp3_activity", "pdcd4_expression")

    def outputs(self, t, v, p):
        active = v.microglia_m1 + v.microglia_m2
        pyroptosis = p.k_pyroptosis * v.nlrp3_activity * v.microglia_m1
        apoptosis = p.d_myeloid_apoptosis * v.pdcd4_expression * active
        return {
            "microglia_activated": active,
            "m2_fraction_microglia": ratio(v.microglia_m2, active, 1e-3 * p.microglia_density),
            "microglia_pyroptosis": pyroptosis,
            "microglia_apoptosis": apoptosis,
            "microglia_activation": p.k_microglia_activation
            * hill(v.damps, p.ec50_damps_microglia, 1) * v.microglia_resting,
            "microglia_departure": p.d_microglia_deactivation * active + apoptosis + pyroptosis,
        }

    def rates(self, t, v, p):
        phi = v.polarization_target
        total = v.microglia_resting + v.microglia_activated
        activation = v.microglia_activation
        # microglia divide while the injury's mitogens last (CSF1R blockade stops it, Gerber
        # 2018; they proliferate through the first week, Bellver-Landete 2019), up to a ceiling
        growth = (p.k_microglia_proliferation * hill(v.damps, p.ec50_damps_proliferation, 1)
                  * (1 - total / p.microglia_capacity))
        switch = p.k_microglia_switch * (phi * v.microglia_m1 - (1 - phi) * v.microglia_m2)
        leave = p.d_microglia_deactivation + p.d_myeloid_apoptosis * v.pdcd4_expression
        return {
            "microglia_resting": p.d_microglia_deactivation * v.microglia_activated - activation
            - p.d_microglia_excess * (v.microglia_resting - p.microglia_density),
            "microglia_m1": (1 - phi) * activation + (growth - leave) * v.microglia_m1 - switch
            - v.microglia_pyroptosis,
            "microglia_m2": phi * activation + (growth - leave) * v.microglia_m2 + switch,
        }


class Macrophages(Submodel):
    """Monocyte entry on CCL2-type cues, differentiation, M1-like <-> M2-like switching, death."""

    monocytes = State("Newly entered monocytes (not yet differentiated)", "cell/mm^3",
                      initial=0.0)
    macrophages_m1 = State("M1-like monocyte-derived macrophages", "cell/mm^3", initial=0.0)
    macrophages_m2 = State("M2-like monocyte-derived macrophages", "cell/mm^3", initial=0.0)

    k_monocyte_influx = Param("Maximal monocyte entry per unit barrier leak", "cell/mm^3/day")
    ec50_damps_monocyte = Param("DAMP level giving half-maximal CCL2-driven recruitment", "1")
    ec50_tnf_monocyte = Param("TNF-alpha giving half-maximal CCL2-driven recruitment", "pg/mL")
    ec50_il1b_monocyte = Param("IL-1beta giving half-maximal CCL2-driven recruitment", "pg/mL")
    km_macrophage_crowding = Param("Lesion macrophage density halving further monocyte entry",
                                   "cell/mm^3")
    k_monocyte_differentiation = Param("Monocyte-to-macrophage differentiation rate", "1/day")
    k_macrophage_switch = Param("Phenotype switching rate of macrophages", "1/day")
    d_macrophages = Param("Macrophage turnover (apoptosis and egress)", "1/day")
    macrophage_floor = Param("Density below which the M2 fraction is not resolved", "cell/mm^3",
                             role="structural")

    macrophages = Output("Monocyte-derived macrophages (M1-like + M2-like)", "cell/mm^3")
    m2_fraction_macrophages = Output("M2-like fraction of macrophages", "1")
    monocyte_influx = Output("Monocytes entering the lesion per day", "cell/mm^3/day")
    macrophage_pyroptosis = Output("Macrophages dying by pyroptosis per day", "cell/mm^3/day")
    macrophage_apoptosis = Output("Macrophages dying by apoptosis per day", "cell/mm^3/day")
    myeloid_pyroptosis = Output("Microglia and macrophages dying by pyroptosis per day",
                                "cell/mm^3/day")
    myeloid_apoptosis = Output("Microglia and macrophages dying by apoptosis per day",
                               "cell/mm^3/day")
    myeloid_arrival_rate = Output("New cells joining the lesion's activated myeloid pool "
                                  "(differentiated monocytes, newly activated microglia), per "
                                  "cell of the pool", "1/day")
    myeloid_departure_rate = Output("Cells leaving the lesion's activated myeloid pool (death, "
                                    "egress, return to surveillance), per cell of the pool",
                                    "1/day")

    macrophage_depletion = Param("Fraction of monocyte entry blocked (clodronate depletion "
                                 "experiments; 0 = none)", "1", role="experimental")
    f_macrophage_apoptosis = Param("Share of macrophage turnover that is apoptosis (PDCD4-"
                                   "dependent) rather than egress", "1")

    inputs = ("leukocyte_entry", "damps", "tnf", "il1b", "polarization_target", "nlrp3_activity",
              "microglia_pyroptosis", "microglia_apoptosis", "k_pyroptosis", "pdcd4_expression",
              "microglia_activated", "microglia_activation", "microglia_departure",
              "myeloid_floor")

    def outputs(self, t, v, p):
        total = v.macrophages_m1 + v.macrophages_m2
        chemo = (hill(v.damps, p.ec50_damps_monocyte, 1) + hill(v.tnf, p.ec50_tnf_monocyte, 1)
                 + hill(v.il1b, p.ec50_il1b_monocyte, 1))
        pyro = p.k_pyroptosis * v.nlrp3_activity * v.macrophages_m1
        apo = p.d_macrophages * p.f_macrophage_apoptosis * v.pdcd4_expression * total
        turnover = p.d_macrophages * (1 - p.f_macrophage_apoptosis
                                      + p.f_macrophage_apoptosis * v.pdcd4_expression)
        pool = total + v.microglia_activated + p.myeloid_floor
        return {
            "myeloid_arrival_rate": (p.k_monocyte_differentiation * v.monocytes
                                     + v.microglia_activation) / pool,
            "myeloid_departure_rate": (turnover * total + pyro + v.microglia_departure) / pool,
            "macrophages": total,
            "m2_fraction_macrophages": ratio(v.macrophages_m2, total, p.macrophage_floor),
            "monocyte_influx": p.k_monocyte_influx * v.leukocyte_entry * chemo
            * inhibit(total + v.monocytes, p.km_macrophage_crowding, 1)
            * (1 - p.macrophage_depletion),
            "macrophage_pyroptosis": pyro,
            "macrophage_apoptosis": apo,
            "myeloid_pyroptosis": pyro + v.microglia_pyroptosis,
            "myeloid_apoptosis": apo + v.microglia_apoptosis,
        }

    def rates(self, t, v, p):
        phi = v.polarization_target
        differentiation = p.k_monocyte_differentiation * v.monocytes
        switch = p.k_macrophage_switch * (phi * v.macrophages_m1 - (1 - phi) * v.macrophages_m2)
        turnover = p.d_macrophages * (1 - p.f_macrophage_apoptosis
                                      + p.f_macrophage_apoptosis * v.pdcd4_expression)
        return {
            "monocytes": v.monocyte_influx - differentiation,
            "macrophages_m1": (1 - phi) * differentiation - switch
            - turnover * v.macrophages_m1 - v.macrophage_pyroptosis,
            "macrophages_m2": phi * differentiation + switch - turnover * v.macrophages_m2,
        }

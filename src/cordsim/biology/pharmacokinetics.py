"""Pharmacokinetics of MSCs and their small extracellular vesicles (sEVs).

Review Sections 3.1, 3.3 and 4.3, Fig. 2 [2,6,50,57,98]. Intravenous MSCs (15-30 um) are
trapped in the lung microvasculature, survive 2-3 days while secreting sEVs, and never
engraft at the lesion (Lee 2009; Eggenhofer 2012). MSCs grafted into the lesion
(intralesional/intraspinal) or injected into the CSF (intrathecal; they settle on the cord
at the lesion, Ohta 2004, Satake 2004) secrete sEVs and neurotrophins where they sit, with
no lung trap, and die there: a basal loss, a kill by the acute lesion's neutrophils
(oxidative burst, proteases) and rejection by a host immune response that the graft primes,
faster where injury-primed T cells (their IFN-gamma makes allogeneic MSCs immunogenic, Ankrum
2014) or M1-like (antigen-presenting) macrophages are already many (Nandoe Tewarie 2009:
7 days after grafting 32% survive an acute graft, 52% a 3-day delayed one, 9% 7- or 21-day
delayed ones; close to none by day 28, "indicating rejection"). sEVs in plasma are cleared
within minutes into liver, spleen, lung and kidney (Takahashi 2013; Kang 2021); a small
fraction extravasates into the lesion through the disrupted BSCB, so intact cord accumulates
none (Lankford 2018). Other routes enter elsewhere: intrathecal into CSF, intranasal into
the nasal mucosa, intralesional straight into the lesion, a hydrogel into a depot at the
lesion that releases them slowly. Engineered targeting multiplies lesion homing.

Every particle is accounted for: ``sev_input_total`` integrates all inputs (boluses are
added to it at dose times by the simulation), and every compartment, including
``sev_degraded``, sums to it.
"""

from __future__ import annotations

from cordsim.core import Output, Param, State, Submodel
from cordsim.core.mathfn import hill

SEV_COMPARTMENTS = (
    "sev_plasma", "sev_liver", "sev_spleen", "sev_lung", "sev_kidney", "sev_csf", "sev_nasal",
    "sev_depot", "sev_lesion", "sev_internalized", "sev_degraded",
)


class MSCPharmacokinetics(Submodel):
    """IV MSCs trapped in the lungs: survival and sEV secretion; nothing reaches the cord."""

    msc_lung = State("MSCs trapped in the lung microvasculature", "cell", initial=0.0)
    msc_csf = State("MSCs in the CSF after an intrathecal injection, not yet settled",
                    "cell", initial=0.0)
    msc_graft = State("MSCs at the lesion: grafted into it or settled on it from the CSF",
                      "cell", initial=0.0)
    msc_cleared = State("MSCs that died or were cleared (cumulative)", "cell", initial=0.0)
    msc_input_total = State("MSCs given so far (cumulative)", "cell", initial=0.0)
    graft_immunity = State("Host immune response against grafted MSCs (0 none, 1 full)", "1",
                           initial=0.0)

    input_msc_lung = Param("MSC infusion rate into the lungs (set by the protocol)", "cell/day",
                           role="dose_input")
    input_msc_csf = Param("MSC infusion rate into the CSF (set by the protocol)", "cell/day",
                          role="dose_input")
    input_msc_lesion = Param("MSC infusion rate into the lesion (set by the protocol)",
                             "cell/day", role="dose_input")
    d_msc_lung = Param("Loss rate of lung-trapped MSCs", "1/day")
    s_sev_msc = Param("sEVs secreted per MSC per day", "particle/cell/day")
    k_msc_csf_settle = Param("Rate at which intrathecal MSCs settle on the cord at the lesion",
                             "1/day")
    d_msc_csf = Param("Loss of intrathecal MSCs with the CSF flow (never settling)", "1/day")
    d_graft_basal = Param("Basal death rate of MSCs at the lesion (anoikis, hypoxia)", "1/day")
    k_graft_neutrophils = Param("Death rate of MSCs at the lesion per neutrophil density "
                                "(oxidative burst, proteases of the acute lesion)",
                                "mm^3/cell/day")
    k_graft_sensitization = Param("Largest rate at which a graft primes the host immune "
                                  "response", "1/day")
    ec50_m1_sensitization = Param("M1-like macrophage density giving half the largest "
                                  "priming (antigen presentation)", "cell/mm^3")
    ec50_t_sensitization = Param("Lesion T-cell density giving half the largest priming "
                                 "(IFN-gamma makes the graft immunogenic)", "cell/mm^3")
    d_graft_rejection = Param("Death rate of grafted MSCs at a full host immune response",
                              "1/day")
    graft_presence = Param("Graft size below which it primes the host less", "cell",
                           role="structural")

    msc_sev_secretion = Output("sEVs secreted into plasma by lung MSCs per day", "particle/day")
    graft_sev_secretion = Output("sEVs secreted into the lesion by MSCs at the lesion per day",
                                 "particle/day")
    csf_msc_sev_secretion = Output("sEVs secreted into the CSF by intrathecal MSCs per day",
                                   "particle/day")
    graft_death_rate = Output("Death rate of MSCs at the lesion", "1/day")

    inputs = ("neutrophils", "macrophages_m1", "t_cells")

    def outputs(self, t, v, p):
        return {"msc_sev_secretion": p.s_sev_msc * v.msc_lung,
                "graft_sev_secretion": p.s_sev_msc * v.msc_graft,
                "csf_msc_sev_secretion": p.s_sev_msc * v.msc_csf,
                "graft_death_rate": p.d_graft_basal + p.k_graft_neutrophils * v.neutrophils
                + p.d_graft_rejection * v.graft_immunity}

    def rates(self, t, v, p):
        graft_death = v.graft_death_rate * v.msc_graft
        settle = p.k_msc_csf_settle * v.msc_csf
        csf_loss = p.d_msc_csf * v.msc_csf
        # either signal primes: T cells (IFN-gamma) or antigen-presenting M1-like macrophages
        milieu = 1 - ((1 - hill(v.t_cells, p.ec50_t_sensitization, 1))
                      * (1 - hill(v.macrophages_m1, p.ec50_m1_sensitization, 1)))
        priming = (p.k_graft_sensitization * milieu
                   * hill(v.msc_graft, p.graft_presence, 1))
        return {
            "msc_lung": p.input_msc_lung - p.d_msc_lung * v.msc_lung,
            "msc_csf": p.input_msc_csf - settle - csf_loss,
            "msc_graft": p.input_msc_lesion + settle - graft_death,
            "msc_cleared": p.d_msc_lung * v.msc_lung + csf_loss + graft_death,
            "msc_input_total": p.input_msc_lung + p.input_msc_csf + p.input_msc_lesion,
            "graft_immunity": priming * (1 - v.graft_immunity),
        }


class SEVPharmacokinetics(Submodel):
    """sEV compartments: plasma, organs, CSF, nasal mucosa, hydrogel depot, lesion, cells."""

    sev_plasma = State("sEVs in plasma", "particle", initial=0.0)
    sev_liver = State("sEVs taken up in liver", "particle", initial=0.0)
    sev_spleen = State("sEVs taken up in spleen", "particle", initial=0.0)
    sev_lung = State("sEVs taken up in lung", "particle", initial=0.0)
    sev_kidney = State("sEVs taken up in kidney", "particle", initial=0.0)
    sev_csf = State("sEVs in cerebrospinal fluid (intrathecal route)", "particle", initial=0.0)
    sev_nasal = State("sEVs in the nasal mucosa (intranasal route)", "particle", initial=0.0)
    sev_depot = State("sEVs held in a hydrogel depot at the lesion", "particle", initial=0.0)
    sev_lesion = State("Free sEVs in the lesion", "particle", initial=0.0)
    sev_internalized = State("sEVs inside lesion macrophages and microglia", "particle",
                             initial=0.0)
    sev_degraded = State("sEVs degraded or eliminated (cumulative)", "particle", initial=0.0)
    sev_input_total = State("sEVs given or secreted so far (cumulative)", "particle",
                            initial=0.0)

    input_sev_plasma = Param("sEV infusion rate into plasma (set by the protocol)",
                             "particle/day", role="dose_input")
    input_sev_csf = Param("sEV infusion rate into CSF (set by the protocol)", "particle/day",
                          role="dose_input")
    input_sev_nasal = Param("sEV delivery rate to the nasal mucosa (set by the protocol)",
                            "particle/day", role="dose_input")
    input_sev_lesion = Param("sEV infusion rate into the lesion (set by the protocol)",
                             "particle/day", role="dose_input")
    k_plasma_liver = Param("Plasma-to-liver sEV clearance", "1/day")
    k_plasma_spleen = Param("Plasma-to-spleen sEV clearance", "1/day")
    k_plasma_lung = Param("Plasma-to-lung sEV clearance", "1/day")
    k_plasma_kidney = Param("Plasma-to-kidney sEV clearance", "1/day")
    d_sev_organ = Param("Degradation of sEVs taken up in organs", "1/day")
    k_lesion_extravasation = Param("sEV extravasation into the lesion per unit barrier leak",
                                   "1/day")
    homing_factor = Param("Lesion homing relative to a native sEV (engineered targeting)", "1",
                          role="product")
    k_csf_lesion = Param("CSF-to-lesion sEV transfer", "1/day")
    k_csf_drainage = Param("CSF drainage of sEVs into blood", "1/day")
    k_nasal_cord = Param("Nose-to-cord sEV transfer (olfactory/trigeminal path)", "1/day")
    k_nasal_plasma = Param("Nasal mucosa-to-plasma sEV absorption", "1/day")
    d_sev_nasal = Param("Mucociliary clearance of nasal sEVs", "1/day")
    k_depot_release = Param("sEV release from a hydrogel depot", "1/day")
    k_lesion_washout = Param("sEV washout from the lesion into blood", "1/day")
    d_sev_lesion = Param("Degradation of free sEVs in the lesion", "1/day")
    d_sev_internalized = Param("Endolysosomal processing of internalized sEVs", "1/day")

    sev_extravasation = Output("sEVs entering the lesion from plasma per day", "particle/day")
    sev_total = Output("All sEVs in every compartment, degraded included", "particle")

    inputs = ("leukocyte_entry", "sev_uptake", "msc_sev_secretion", "graft_sev_secretion",
              "csf_msc_sev_secretion")

    def outputs(self, t, v, p):
        total = (v.sev_plasma + v.sev_liver + v.sev_spleen + v.sev_lung + v.sev_kidney
                 + v.sev_csf + v.sev_nasal + v.sev_depot + v.sev_lesion + v.sev_internalized
                 + v.sev_degraded)
        return {
            "sev_extravasation": p.k_lesion_extravasation * p.homing_factor * v.leukocyte_entry
            * v.sev_plasma,
            "sev_total": total,
        }

    def rates(self, t, v, p):
        to_liver = p.k_plasma_liver * v.sev_plasma
        to_spleen = p.k_plasma_spleen * v.sev_plasma
        to_lung = p.k_plasma_lung * v.sev_plasma
        to_kidney = p.k_plasma_kidney * v.sev_plasma
        csf_to_lesion = p.k_csf_lesion * v.sev_csf
        csf_drain = p.k_csf_drainage * v.sev_csf
        nasal_to_cord = p.k_nasal_cord * v.sev_nasal
        nasal_to_plasma = p.k_nasal_plasma * v.sev_nasal
        release = p.k_depot_release * v.sev_depot
        washout = p.k_lesion_washout * v.sev_lesion
        organs = v.sev_liver + v.sev_spleen + v.sev_lung + v.sev_kidney
        return {
            "sev_plasma": p.input_sev_plasma + v.msc_sev_secretion + csf_drain + nasal_to_plasma
            + washout - to_liver - to_spleen - to_lung - to_kidney - v.sev_extravasation,
            "sev_liver": to_liver - p.d_sev_organ * v.sev_liver,
            "sev_spleen": to_spleen - p.d_sev_organ * v.sev_spleen,
            "sev_lung": to_lung - p.d_sev_organ * v.sev_lung,
            "sev_kidney": to_kidney - p.d_sev_organ * v.sev_kidney,
            "sev_csf": p.input_sev_csf + v.csf_msc_sev_secretion - csf_to_lesion - csf_drain,
            "sev_nasal": p.input_sev_nasal - nasal_to_cord - nasal_to_plasma
            - p.d_sev_nasal * v.sev_nasal,
            "sev_depot": -release,
            "sev_lesion": p.input_sev_lesion + v.graft_sev_secretion + v.sev_extravasation
            + csf_to_lesion + nasal_to_cord + release - washout - v.sev_uptake
            - p.d_sev_lesion * v.sev_lesion,
            "sev_internalized": v.sev_uptake - p.d_sev_internalized * v.sev_internalized,
            "sev_degraded": p.d_sev_organ * organs + p.d_sev_nasal * v.sev_nasal
            + p.d_sev_lesion * v.sev_lesion + p.d_sev_internalized * v.sev_internalized,
            "sev_input_total": p.input_sev_plasma + p.input_sev_csf + p.input_sev_nasal
            + p.input_sev_lesion + v.msc_sev_secretion + v.graft_sev_secretion
            + v.csf_msc_sev_secretion,
        }

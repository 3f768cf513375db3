"""Neural tissue: neurons, oligodendrocytes, axons (spared, degenerating, regrowing).

Review Sections 2.1 and 3.4.4 [19-26,85-91]; M2-like microglia and macrophages drive
oligodendrocyte differentiation and remyelination (Miron 2013, Nat Neurosci 16:1211,
activin-A). The primary hit destroys part of each; the secondary cascade keeps killing
neurons and oligodendrocytes over hours to weeks (excitotoxicity, ischemia, TNF-alpha,
IL-1beta, calpains, and blood-borne mediators entering through the leaky barrier), opposed by
the trophic index (IGF-1, BDNF, NGF, IL-10, TGF-beta).
M1-like macrophages in contact with the dystrophic ends of spared axons at the lesion border
make them retract (axonal dieback; Horn 2008, J Neurosci 28:9330; Busch 2009, J Neurosci
29:9967; Kigerl 2009: M1 cells are neurotoxic, M2 cells support axon growth) until those
ends stabilize over weeks: the dieback pool empties, so tissue loss settles. Damaged axons
undergo Wallerian degeneration and release myelin debris over weeks. Regrowth is driven by
lost axons and trophic support, helped by polyamines and inhibited by CSPG scar and myelin
debris.
"""

from __future__ import annotations

from cordsim.core import Output, Param, State, Submodel
from cordsim.core.mathfn import hill, inhibit


class NeuralTissue(Submodel):
    """Neuron and oligodendrocyte survival, axon degeneration and regrowth, tissue sparing."""

    neurons_fraction = State("Surviving neurons at the epicenter (1 = intact)", "1",
                             initial=lambda p: 1 - p.f_neurons_primary * p.injury_severity)
    oligodendrocytes_fraction = State("Surviving oligodendrocytes at the epicenter (1 = intact)",
                                      "1", initial=lambda p: 1 - p.f_oligodendrocytes_primary
                                      * p.injury_severity)
    axons_spared = State("Spared, conducting axons at the epicenter (1 = intact)", "1",
                         initial=lambda p: 1 - p.f_axons_primary * p.injury_severity)
    axons_degenerating = State("Axons undergoing Wallerian degeneration (fraction of intact)",
                               "1", initial=lambda p: p.f_axons_primary * p.injury_severity)
    axon_regrowth = State("Axon regrowth and sprouting index (fraction of intact axons)", "1",
                          initial=0.0)
    axons_dystrophic = State("Spared axons with dystrophic ends at the lesion border, exposed "
                             "to macrophage-induced dieback (fraction of intact)", "1",
                             initial=lambda p: p.f_axons_dystrophic * p.injury_severity
                             * (1 - p.f_axons_primary * p.injury_severity))

    f_neurons_primary = Param("Neurons destroyed by the primary hit per unit severity", "1")
    f_oligodendrocytes_primary = Param("Oligodendrocytes destroyed by the primary hit per unit "
                                       "severity", "1")
    f_axons_primary = Param("Axons severed by the primary hit per unit severity", "1")
    k_neuron_excitotoxicity = Param("Neuron death rate per unit excitotoxic stress", "1/day")
    k_neuron_ischemia = Param("Neuron death rate per unit ischemia", "1/day")
    k_neuron_cytokine = Param("Maximal neuron death rate by TNF-alpha/IL-1beta", "1/day")
    k_neuron_calpain = Param("Neuron death rate per unit calpain activity", "1/day")
    k_oligo_excitotoxicity = Param("Oligodendrocyte death rate per unit excitotoxic stress",
                                   "1/day")
    k_oligo_cytokine = Param("Maximal oligodendrocyte apoptosis rate by TNF-alpha/IL-1beta",
                             "1/day")
    k_oligo_calpain = Param("Oligodendrocyte death rate per unit calpain activity", "1/day")
    k_oligo_wallerian = Param("Oligodendrocyte apoptosis along degenerating tracts", "1/day")
    ec50_tnf_toxicity = Param("TNF-alpha giving half-maximal cytotoxicity", "pg/mL")
    ec50_il1b_toxicity = Param("IL-1beta giving half-maximal cytotoxicity", "pg/mL")
    k_axon_secondary = Param("Maximal secondary axon loss by cytokines and proteases", "1/day")
    ec50_mmp_axon = Param("MMP-9 activity giving half-maximal axon damage", "ng/mL")
    k_axon_calpain = Param("Axon loss per unit calpain activity", "1/day")
    k_axon_dieback = Param("Largest dieback rate of dystrophic axons in contact with M1-like "
                           "macrophages", "1/day")
    f_axons_dystrophic = Param("Share of spared axons left with dystrophic ends, per unit "
                               "severity", "1")
    k_dystrophic_stabilization = Param("Stabilization of dystrophic axon ends (no longer "
                                       "retracting)", "1/day")
    ec50_dieback_m1 = Param("M1-like macrophage density giving half-maximal axon dieback",
                            "cell/mm^3")
    f_protection_max = Param("Largest fraction of secondary death prevented by trophic support",
                             "1")
    ec50_trophic_protection = Param("Trophic index giving half-maximal protection", "1")
    k_opc_replacement = Param("Oligodendrocyte replacement from OPCs", "1/day")
    ki_debris_opc = Param("Myelin debris halving OPC differentiation", "1")
    w_m2_remyelination = Param("Fold rise of OPC differentiation driven by M2-like myeloid cells "
                               "(activin-A)", "1")
    ec50_m2_remyelination = Param("M2-like myeloid density giving half the remyelination drive",
                                  "cell/mm^3")
    k_wallerian = Param("Breakdown rate of degenerating axons into myelin debris", "1/day")
    f_myelin_per_axon = Param("Myelin debris released per degenerated axon fraction", "1")
    k_regrowth = Param("Maximal axon regrowth rate", "1/day")
    w_polyamine_regrowth = Param("Regrowth gain by polyamines (cAMP-like)", "1")
    ki_cspg_regrowth = Param("CSPG scar halving regrowth", "1")
    ki_debris_regrowth = Param("Myelin debris halving regrowth", "1")
    d_regrowth = Param("Retraction of unstable sprouts", "1/day")
    f_gray_matter = Param("Gray-matter share of the epicenter cross-section", "1")
    k_leak_injury = Param("Largest secondary loss rate of neurons, oligodendrocytes and axons "
                          "from blood-borne mediators entering through the leaky barrier "
                          "(edema, fibrinogen, thrombin, heme)", "1/day")
    ec50_leak_injury = Param("Barrier leak (permeability above intact) giving half that loss",
                             "1")

    neural_death_flux = Output("Neural tissue dying per day (neurons + oligodendrocytes)", "1/day")
    oligodendrocyte_death_flux = Output("Oligodendrocytes dying per day (fraction of intact)",
                                        "1/day")
    wallerian_myelin_flux = Output("Myelin debris released by Wallerian degeneration per day",
                                   "1/day")
    neuroprotection = Output("Fraction of secondary death prevented by trophic support", "1")
    spared_tissue_fraction = Output("Spared tissue at the epicenter (gray + white matter)", "1")
    lesion_volume_fraction = Output("Lesion (lost tissue and cavity) fraction of the epicenter",
                                    "1")

    inputs = ("excitotoxicity", "ischemia", "calpain", "tnf", "il1b", "mmp9_activity",
              "trophic_index", "polyamines", "scar_cspg", "myelin_debris", "injury_severity",
              "macrophages_m2", "microglia_m2", "macrophages_m1", "leukocyte_entry")

    def _cytotoxic(self, v, p):
        return hill(v.tnf, p.ec50_tnf_toxicity, 1) + hill(v.il1b, p.ec50_il1b_toxicity, 1)

    def _leak(self, v, p):
        # the leaky barrier lets blood-borne mediators in (review 1 and 3.4.5: "BSCB breakdown
        # exposes the injured cord to blood-borne mediators ... exacerbating tissue loss")
        return p.k_leak_injury * hill(v.leukocyte_entry, p.ec50_leak_injury, 1)

    def outputs(self, t, v, p):
        protection = p.f_protection_max * hill(v.trophic_index, p.ec50_trophic_protection, 1)
        cyto = self._cytotoxic(v, p)
        leak = self._leak(v, p)
        neuron_loss = (p.k_neuron_excitotoxicity * v.excitotoxicity
                       + p.k_neuron_ischemia * v.ischemia + p.k_neuron_cytokine * cyto
                       + p.k_neuron_calpain * v.calpain + leak) * (1 - protection) \
            * v.neurons_fraction
        oligo_loss = (p.k_oligo_excitotoxicity * v.excitotoxicity + p.k_oligo_cytokine * cyto
                      + p.k_oligo_calpain * v.calpain
                      + p.k_oligo_wallerian * v.axons_degenerating + leak) * (1 - protection) \
            * v.oligodendrocytes_fraction
        spared = (p.f_gray_matter * v.neurons_fraction
                  + (1 - p.f_gray_matter) * v.axons_spared)
        return {
            "neural_death_flux": neuron_loss + oligo_loss,
            "oligodendrocyte_death_flux": oligo_loss,
            "wallerian_myelin_flux": p.f_myelin_per_axon * p.k_wallerian * v.axons_degenerating,
            "neuroprotection": protection,
            "spared_tissue_fraction": spared,
            "lesion_volume_fraction": 1 - spared,
        }

    def rates(self, t, v, p):
        protection = v.neuroprotection
        cyto = self._cytotoxic(v, p)
        axon_loss = (p.k_axon_secondary * (cyto / 2 + hill(v.mmp9_activity,
                                                            p.ec50_mmp_axon, 1))
                     + p.k_axon_calpain * v.calpain + self._leak(v, p)) * (1 - protection) \
            * v.axons_spared
        dieback = (p.k_axon_dieback * hill(v.macrophages_m1, p.ec50_dieback_m1, 1)
                   * (1 - protection) * v.axons_dystrophic)
        neuron_loss = v.neural_death_flux - v.oligodendrocyte_death_flux
        growth = (p.k_regrowth * (1 - v.axons_spared)
                  * hill(v.trophic_index * (1 + p.w_polyamine_regrowth * v.polyamines),
                         p.ec50_trophic_protection, 1)
                  * inhibit(v.scar_cspg, p.ki_cspg_regrowth, 1)
                  * inhibit(v.myelin_debris, p.ki_debris_regrowth, 1))
        return {
            "neurons_fraction": -neuron_loss,
            "oligodendrocytes_fraction": -v.oligodendrocyte_death_flux
            + p.k_opc_replacement * (1 - v.oligodendrocytes_fraction)
            * inhibit(v.myelin_debris, p.ki_debris_opc, 1)
            * (1 + p.w_m2_remyelination * hill(v.macrophages_m2 + v.microglia_m2,
                                                p.ec50_m2_remyelination, 1)),
            "axons_spared": -axon_loss - dieback,
            "axons_degenerating": axon_loss + dieback - p.k_wallerian * v.axons_degenerating,
            "axons_dystrophic": -dieback - p.k_dystrophic_stabilization * v.axons_dystrophic
            - axon_loss * v.axons_dystrophic / (v.axons_spared + 1e-9),
            "axon_regrowth": growth - p.d_regrowth * v.axon_regrowth,
        }


class Locomotion(Submodel):
    """Spinal shock (conduction block) and locomotor recovery; the BBB score (0-21, rat).

    The BBB plateau follows spared white matter [Basso 1996]; recovery unfolds over weeks.
    """

    conduction_block = State("Acute conduction block (spinal shock, edema; 1 = complete)", "1",
                             initial=lambda p: hill(p.injury_severity, p.ec50_shock_severity, 2))
    locomotor_function = State("Hindlimb locomotor function (1 = intact)", "1",
                               initial=lambda p: 1 - hill(p.injury_severity,
                                                          p.ec50_shock_severity, 2))

    ec50_shock_severity = Param("Severity giving half-complete spinal shock", "1")
    d_conduction_block = Param("Recovery rate of conduction block", "1/day")
    k_locomotor_recovery = Param("Rate of locomotor recovery toward its substrate-limited "
                                 "plateau", "1/day")
    f_myelination_conduction = Param("Share of axonal conduction that needs oligodendrocytes",
                                     "1")
    w_regrowth_function = Param("Functional weight of regrown axons relative to spared ones", "1")
    ec50_function_substrate = Param("Effective axon fraction giving half-maximal function", "1")
    bbb_max = Param("Maximal BBB score (intact rat)", "1", role="structural")

    functional_substrate = Output("Locomotor capacity allowed by the spared circuitry (0-1)", "1")
    bbb_score = Output("Basso-Beattie-Bresnahan locomotor score (0-21)", "1")

    inputs = ("axons_spared", "axon_regrowth", "oligodendrocytes_fraction", "injury_severity")

    def outputs(self, t, v, p):
        effective = (v.axons_spared * (1 - p.f_myelination_conduction
                                       + p.f_myelination_conduction
                                       * v.oligodendrocytes_fraction)
                     + p.w_regrowth_function * v.axon_regrowth)
        k = p.ec50_function_substrate
        return {"functional_substrate": hill(effective, k, 2) * (1 + k**2),
                "bbb_score": p.bbb_max * v.locomotor_function}

    def rates(self, t, v, p):
        target = v.functional_substrate * (1 - v.conduction_block)
        return {
            "conduction_block": -p.d_conduction_block * v.conduction_block,
            "locomotor_function": p.k_locomotor_recovery * (target - v.locomotor_function),
        }

"""Debris: myelin debris, myelin inside phagocytes, apoptotic cells, and their clearance."""

from __future__ import annotations

from cordsim.core import Output, Param, State, Submodel
from cordsim.core.mathfn import hill


class Debris(Submodel):
    """Myelin debris, myelin held inside phagocytes, and apoptotic cells; their clearance.

    Microglia clear early, macrophages later; M2-like cells efferocytose more [81];
    MARCO mediates myelin uptake [16]. Myelin taken up is processed slowly, so lipid-laden
    (foamy) phagocytes accumulate over weeks [9]; a phagocyte that dies by pyroptosis (lytic)
    spills its myelin back into the lesion, where it is taken up again.
    """

    myelin_debris = State("Extracellular myelin debris (fraction of intact myelin)", "1",
                          initial=lambda p: p.f_myelin_primary * p.injury_severity)
    myelin_internalized = State("Myelin held inside phagocytes (fraction of intact myelin)", "1",
                                initial=0.0)
    apoptotic_cells = State("Uncleared apoptotic cells", "cell/mm^3", initial=0.0)

    f_myelin_primary = Param("Myelin fragmented by the primary hit per unit severity", "1")
    k_myelin_phagocytosis = Param("Myelin uptake per macrophage at saturating debris",
                                  "mm^3/cell/day")
    f_microglia_myelin = Param("Myelin uptake of a microglial cell relative to a macrophage", "1")
    km_myelin = Param("Myelin debris giving half-maximal uptake", "1")
    marco_activity = Param("MARCO scavenger-receptor activity (1 = untreated lesion; 0 = "
                           "blocked by poly-G)", "1", role="experimental")
    f_uptake_marco_independent = Param("Share of myelin uptake through receptors other than "
                                       "MARCO (CD36, TREM2, complement receptor 3)", "1")
    w_marco_reprogramming = Param("Fold rise of MARCO-mediated uptake in fully sEV-reprogrammed "
                                  "phagocytes", "1")
    d_myelin_processing = Param("Processing of internalized myelin (lipid efflux)", "1/day")
    k_efferocytosis = Param("Apoptotic cells engulfed per M1-like phagocyte per day", "1/day")
    f_m2_efferocytosis = Param("Efferocytic capacity of M2-like relative to M1-like cells", "1")
    km_apoptotic = Param("Apoptotic cell density giving half-maximal efferocytosis",
                         "cell/mm^3")
    d_secondary_necrosis = Param("Secondary necrosis of uncleared apoptotic cells", "1/day")
    oligodendrocyte_density = Param("Oligodendrocyte density of intact cord", "cell/mm^3")

    myelin_uptake = Output("Myelin debris phagocytosed per day (fraction of intact myelin)",
                           "1/day")
    efferocytosis = Output("Apoptotic cells engulfed per day", "cell/mm^3/day")
    secondary_necrosis = Output("Apoptotic cells turning necrotic per day", "cell/mm^3/day")

    inputs = ("microglia_m1", "microglia_m2", "macrophages_m1", "macrophages_m2",
              "oligodendrocyte_death_flux", "wallerian_myelin_flux", "neutrophil_apoptosis",
              "myeloid_apoptosis", "injury_severity", "reprogramming", "myeloid_pyroptosis",
              "phagocyte_reference")

    def outputs(self, t, v, p):
        microglia = v.microglia_m1 + v.microglia_m2
        phagocytes = v.macrophages_m1 + v.macrophages_m2 + p.f_microglia_myelin * microglia
        effero_cap = (v.microglia_m1 + v.macrophages_m1
                      + p.f_m2_efferocytosis * (v.microglia_m2 + v.macrophages_m2))
        return {
            "myelin_uptake": p.k_myelin_phagocytosis * phagocytes
            * (p.f_uptake_marco_independent + (1 - p.f_uptake_marco_independent)
               * p.marco_activity * (1 + p.w_marco_reprogramming * v.reprogramming))
            * hill(v.myelin_debris, p.km_myelin),
            "efferocytosis": p.k_efferocytosis * effero_cap * hill(v.apoptotic_cells,
                                                                   p.km_apoptotic),
            "secondary_necrosis": p.d_secondary_necrosis * v.apoptotic_cells,
        }

    def rates(self, t, v, p):
        phagocytes = (v.microglia_m1 + v.microglia_m2 + v.macrophages_m1 + v.macrophages_m2
                      + 0.01 * p.phagocyte_reference)
        release = v.myelin_internalized * v.myeloid_pyroptosis / phagocytes  # lytic spill
        return {
            "myelin_debris": v.oligodendrocyte_death_flux + v.wallerian_myelin_flux
            + release - v.myelin_uptake,
            "myelin_internalized": v.myelin_uptake - release
            - p.d_myelin_processing * v.myelin_internalized,
            "apoptotic_cells": v.neutrophil_apoptosis + v.myeloid_apoptosis
            + p.oligodendrocyte_density * v.oligodendrocyte_death_flux
            - v.efferocytosis - v.secondary_necrosis,
        }

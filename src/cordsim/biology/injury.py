"""Primary injury and the acute secondary cascade: ischemia, excitotoxicity, DAMPs, calpains.

Review Section 2.1 [19-25]: the mechanical insult at t = 0 (its size set by
``injury_severity``; compression adds an ischemic load) causes hemorrhage and ischemia,
glutamate excitotoxicity with Ca2+ overload (calpain activation) over hours, and releases
damage-associated molecular patterns (DAMPs) that keep being released by secondary death.
The hit also sets off an immediate-early response of the resident cells (microglia,
astrocytes, neurons): they transcribe TNF-alpha within minutes, before any leukocyte arrives,
and, while the response lasts, IL-1beta and IL-6 on that TNF-alpha (Pineau & Lacroix 2007;
Pan 2002; rat lesion cytokine mRNAs peak 1-6 h after contusion, TNF-alpha first, and are
back to normal by 12-24 h, see the observation dataset). It is a transit pulse: the stress
of the hit (``resident_trigger``) passes into the response with one rate, so the response
rises, peaks at 1/rate and fades.
"""

from __future__ import annotations

from cordsim.core import Param, State, Submodel


class PrimaryInjury(Submodel):
    """Ischemia/edema, excitotoxic-oxidative stress, DAMPs and calpain activity."""

    ischemia = State("Ischemia and edema load at the epicenter (1 = maximal)", "1",
                     initial=lambda p: p.f_ischemia_contusion * p.injury_severity
                     + p.compression_ischemia)
    excitotoxicity = State("Glutamate/ROS excitotoxic stress (1 = right after a severity-1 hit)",
                           "1", initial=lambda p: p.injury_severity)
    damps = State("Extracellular DAMP level (1 = right after a severity-1 hit)", "1",
                  initial=lambda p: p.f_damps_primary * p.injury_severity)
    calpain = State("Calpain activity above intact cord (normalized)", "1", initial=0.0)
    resident_trigger = State("Stress of the hit not yet turned into the resident cells' "
                             "immediate-early response (1 = severity-1 hit)", "1",
                             initial=lambda p: p.injury_severity)
    resident_response = State("Immediate-early cytokine response of resident cells "
                              "(1 = severity-1 hit)", "1", initial=0.0)

    injury_severity = Param("Primary injury severity (0 sham, 1 maximal contusion)", "1",
                            role="injury")
    compression_ischemia = Param("Extra ischemic load of a sustained compression", "1",
                                 role="injury")
    f_ischemia_contusion = Param("Ischemia per unit contusion severity", "1")
    d_ischemia = Param("Resolution rate of ischemia and edema", "1/day")
    k_excitotoxicity = Param("Excitotoxic stress generated per unit ischemia", "1/day")
    d_excitotoxicity = Param("Clearance of glutamate and ROS", "1/day")
    f_damps_primary = Param("DAMPs released by primary necrosis per unit severity", "1")
    k_damps_neural = Param("DAMPs released per fraction of neural tissue dying", "1")
    k_damps_myeloid = Param("DAMPs released per pyroptotic or necrotic cell", "mm^3/cell")
    d_damps = Param("DAMP degradation and clearance rate", "1/day")
    k_calpain = Param("Calpain activation by ischemia and excitotoxicity", "1/day")
    d_calpain = Param("Calpain inactivation (calpastatin, turnover)", "1/day")
    d_resident_response = Param("Rate of the resident cells' immediate-early response (it "
                                "peaks at 1/rate after the hit)", "1/day")

    inputs = ("neural_death_flux", "myeloid_pyroptosis", "secondary_necrosis")

    def rates(self, t, v, p):
        release = (p.k_damps_neural * v.neural_death_flux
                   + p.k_damps_myeloid * (v.myeloid_pyroptosis + v.secondary_necrosis))
        return {
            "ischemia": -p.d_ischemia * v.ischemia,
            "excitotoxicity": p.k_excitotoxicity * v.ischemia
            - p.d_excitotoxicity * v.excitotoxicity,
            "damps": release - p.d_damps * v.damps,
            "calpain": p.k_calpain * (v.excitotoxicity + v.ischemia) - p.d_calpain * v.calpain,
            "resident_trigger": -p.d_resident_response * v.resident_trigger,
            "resident_response": p.d_resident_response
            * (v.resident_trigger - v.resident_response),
        }

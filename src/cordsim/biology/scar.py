"""Scar: reactive astrocytes and CSPG (glial scar); perivascular fibroblasts and fibrotic scar.

Review Section 2.3 [37-42]: macrophages instruct reactive astrocytes and perivascular
fibroblasts, chiefly through TGF-beta, to deposit CSPG-rich glial scar and
collagen/fibronectin fibrotic scar; hematogenous macrophages drive the fibrotic scar [37].
The scar inhibits axon regrowth and entraps microvessels [41,42]; new, immature vessels
sprout into the forming fibrotic core (Soderblom 2013; Zhu 2015), the model's source of the
late (second) rise of BSCB permeability.
"""

from __future__ import annotations

from cordsim.core import Output, Param, State, Submodel
from cordsim.core.mathfn import hill


class Scar(Submodel):
    """Astroglial and fibrotic scar deposition and slow remodeling."""

    astrocytes_reactive = State("Reactive astrocyte fraction at the lesion border", "1",
                                initial=0.0)
    scar_cspg = State("Astroglial CSPG scar (1 = maximal)", "1", initial=0.0)
    fibroblasts = State("Perivascular fibroblast expansion (1 = maximal)", "1", initial=0.0)
    scar_fibrotic = State("Fibrotic collagen/fibronectin scar (1 = maximal)", "1", initial=0.0)

    k_astrocyte_activation = Param("Maximal astrocyte activation rate", "1/day")
    ec50_il1b_astrocyte = Param("IL-1beta giving half-maximal astrocyte activation", "pg/mL")
    ec50_tgfb_astrocyte = Param("TGF-beta giving half-maximal astrocyte activation", "pg/mL")
    d_astrocytes = Param("Return of reactive astrocytes toward quiescence", "1/day")
    k_cspg = Param("CSPG deposition rate by reactive astrocytes", "1/day")
    d_cspg = Param("CSPG degradation rate", "1/day")
    k_fibroblast = Param("Maximal fibroblast expansion rate", "1/day")
    ec50_tgfb_fibroblast = Param("TGF-beta giving half-maximal fibroblast activation", "pg/mL")
    ec50_macrophages_fibroblast = Param("Macrophage density giving half-maximal fibroblast "
                                        "recruitment", "cell/mm^3")
    d_fibroblasts = Param("Fibroblast regression rate", "1/day")
    k_fibrotic = Param("Collagen/fibronectin deposition rate by fibroblasts", "1/day")
    d_fibrotic = Param("Fibrotic matrix turnover", "1/day")
    fibrogenic_drive = Param("Fibrogenic signaling in fibroblasts (1 = untreated lesion)", "1",
                             role="experimental")

    w_mir21_fibrosis = Param("Fold rise of fibrogenic drive at saturating miR-21 delivery", "1")

    fibrotic_deposition = Output("Fibrotic matrix deposited per day", "1/day")

    inputs = ("il1b", "tgfb", "macrophages", "mir21_fibrosis")

    def outputs(self, t, v, p):
        return {"fibrotic_deposition": p.k_fibrotic * v.fibroblasts * (1 - v.scar_fibrotic)}

    def rates(self, t, v, p):
        activation = hill(v.il1b, p.ec50_il1b_astrocyte, 1) + hill(v.tgfb, p.ec50_tgfb_astrocyte, 1)
        fib_drive = (p.fibrogenic_drive * (1 + p.w_mir21_fibrosis * v.mir21_fibrosis)
                     * hill(v.tgfb, p.ec50_tgfb_fibroblast, 1)
                     * hill(v.macrophages, p.ec50_macrophages_fibroblast, 1))
        return {
            "astrocytes_reactive": p.k_astrocyte_activation * activation
            * (1 - v.astrocytes_reactive) - p.d_astrocytes * v.astrocytes_reactive,
            "scar_cspg": p.k_cspg * v.astrocytes_reactive * (1 - v.scar_cspg)
            - p.d_cspg * v.scar_cspg,
            "fibroblasts": p.k_fibroblast * fib_drive * (1 - v.fibroblasts)
            - p.d_fibroblasts * v.fibroblasts,
            "scar_fibrotic": v.fibrotic_deposition - p.d_fibrotic * v.scar_fibrotic,
        }

"""The cordsim model: the injured rat spinal cord (spec Sections 1-4) and MSC/sEV therapy (5-7).

One model serves natural history and therapy: with no dose every therapy state stays at
zero and every target expression at 1, so the untreated lesion is exactly the natural
history.
"""

from __future__ import annotations

from functools import cache

from cordsim.biology.barrier import BloodSpinalCordBarrier
from cordsim.biology.cargo import MiRNACargo, SEVUptake
from cordsim.biology.cytokines import LesionCytokines, SerumCytokines
from cordsim.biology.debris import Debris
from cordsim.biology.injury import PrimaryInjury
from cordsim.biology.lymphocytes import Lymphocytes
from cordsim.biology.myeloid import Macrophages, Microglia, MyeloidSignaling, Neutrophils
from cordsim.biology.pharmacokinetics import MSCPharmacokinetics, SEVPharmacokinetics
from cordsim.biology.proteases import Proteases
from cordsim.biology.scar import Scar
from cordsim.biology.tissue import Locomotion, NeuralTissue
from cordsim.biology.trophic import Neurotrophins
from cordsim.core import Model, Submodel


def natural_history_submodels() -> list[Submodel]:
    """The submodels of the untreated lesion, in pipeline order."""
    return [
        PrimaryInjury(), Debris(), Neutrophils(), MyeloidSignaling(), Microglia(),
        Macrophages(), Lymphocytes(), LesionCytokines(), SerumCytokines(), Neurotrophins(),
        Proteases(), BloodSpinalCordBarrier(), Scar(), NeuralTissue(), Locomotion(),
    ]


def therapy_submodels() -> list[Submodel]:
    """MSC/sEV pharmacokinetics, uptake and cargo signalling."""
    return [MSCPharmacokinetics(), SEVPharmacokinetics(), SEVUptake(), MiRNACargo()]


@cache
def CordModel() -> Model:
    """The composed model (cached: the model is immutable)."""
    return Model(natural_history_submodels() + therapy_submodels(), name="cordsim-cord")

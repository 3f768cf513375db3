"""The cordsim model: the injured rat spinal cord (spec Sections 1-4) and MSC/sEV therapy (5-7).

One model serves natural history and therapy: with no dose every therapy state stays at
zero and every target expression at 1, so the untreated lesion is exactly the natural
history.
"""

from __future__ import annotations

from functools import cache

from cordsim.core import Model, Submodel
from cordsim.submodels.barrier import BloodSpinalCordBarrier
from cordsim.submodels.cargo import MiRNACargo, SEVUptake
from cordsim.submodels.cytokines import LesionCytokines, SerumCytokines
from cordsim.submodels.debris import Debris
from cordsim.submodels.injury import PrimaryInjury
from cordsim.submodels.myeloid import Macrophages, Microglia, MyeloidSignaling, Neutrophils
from cordsim.submodels.pharmacokinetics import MSCPharmacokinetics, SEVPharmacokinetics
from cordsim.submodels.proteases import Proteases
from cordsim.submodels.scar import Scar
from cordsim.submodels.tissue import Locomotion, NeuralTissue
from cordsim.submodels.trophic import Neurotrophins


def natural_history_submodels() -> list[Submodel]:
    """The submodels of the untreated lesion, in pipeline order."""
    return [
        PrimaryInjury(), Debris(), Neutrophils(), MyeloidSignaling(), Microglia(),
        Macrophages(), LesionCytokines(), SerumCytokines(), Neurotrophins(), Proteases(),
        BloodSpinalCordBarrier(), Scar(), NeuralTissue(), Locomotion(),
    ]


def therapy_submodels() -> list[Submodel]:
    """MSC/sEV pharmacokinetics, uptake and cargo signalling."""
    return [MSCPharmacokinetics(), SEVPharmacokinetics(), SEVUptake(), MiRNACargo()]


@cache
def CordModel() -> Model:  # noqa: N802 - reads as a model class at call sites
    """The composed model (cached: the model is immutable)."""
    return Model(natural_history_submodels() + therapy_submodels(), name="cordsim-cord")

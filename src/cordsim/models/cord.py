"""The default cordsim model: the injured rat spinal cord without treatment (spec Sections 1-4)."""

from __future__ import annotations

from functools import cache

from cordsim.core import Model, Submodel
from cordsim.submodels.barrier import BloodSpinalCordBarrier
from cordsim.submodels.cytokines import LesionCytokines, SerumCytokines
from cordsim.submodels.debris import Debris
from cordsim.submodels.injury import PrimaryInjury
from cordsim.submodels.myeloid import Macrophages, Microglia, MyeloidSignaling, Neutrophils
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


@cache
def CordModel() -> Model:  # noqa: N802 - reads as a model class at call sites
    """The composed natural-history model (cached: the model is immutable)."""
    return Model(natural_history_submodels(), name="cordsim-natural-history")

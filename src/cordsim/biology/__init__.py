"""The biology: one submodel per topic (spec Sections 1-7) and the composed cord model."""

from cordsim.biology.cord import CordModel, natural_history_submodels, therapy_submodels

__all__ = ["CordModel", "natural_history_submodels", "therapy_submodels"]

"""Composed models."""

from cordsim.models.cord import CordModel, natural_history_submodels

__all__ = ["CordModel", "natural_history_submodels"]

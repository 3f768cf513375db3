"""Framework only, no biology: submodels, model assembly, parameters, units, code generation."""

from cordsim.core.model import Model, SymbolicModel
from cordsim.core.parameters import ParameterSet, ParamRecord
from cordsim.core.submodel import Output, Param, State, Submodel, Values

__all__ = ["Model", "Output", "Param", "ParamRecord", "ParameterSet", "State", "Submodel",
           "SymbolicModel", "Values"]

"""Analyses on top of the model: calibration to data (PEtab), uncertainty and ensembles."""

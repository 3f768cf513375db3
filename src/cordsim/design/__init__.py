"""What is done to the animals: the injury, doses of a product, perturbations, scenarios."""

from cordsim.design.dosing import Dose, Protocol
from cordsim.design.injury import Injury
from cordsim.design.perturbations import Perturbation
from cordsim.design.scenario import Arm, Scenario, load_scenario, scenario_from_dict

__all__ = ["Arm", "Dose", "Injury", "Perturbation", "Protocol", "Scenario", "load_scenario",
           "scenario_from_dict"]

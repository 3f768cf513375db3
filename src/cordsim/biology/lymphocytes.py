"""T lymphocytes: the adaptive response the injury primes, and what it does here.

T cells reach the injured rat cord after the myeloid cells: they peak around day 9
(Hellenbrand 2021 review, J Neuroinflammation 18:284, Fig. 5; Popovich 1997 saw the maximum
between days 3 and 7). The injury exposes CNS antigens and primes T cells, which then run a
clonal-expansion programme: a few precursors divide every 6-12 h for about a week and
contract afterwards (Kaech & Ahmed 2001, recalled). Here CNS antigen from the hit (the
injury's size) is presented in the draining lymph nodes (a first-order delay of about a day)
and starts the programme, which fades at a fitted rate (slower than a textbook week); the
lesion's T cells grow logistically from a basal density while it is strong and return to
that density as it fades. A more severe injury starts a stronger programme (earlier, higher
peak). The rates are fitted to a calibration window around Hellenbrand 2021's day 9
together with graft survival (``tools/fit_graft_survival.py``; the resulting time course is
in the README). The lymph-node delay is an assumed mechanism (general immunology), its rate
fitted.

In cordsim T cells act only on grafted MSCs: their IFN-gamma makes allogeneic MSCs
immunogenic (MSCs are immune evasive, not immune privileged; Ankrum 2014 Nat Biotechnol
32:252), so a graft placed when T cells are many is rejected faster (Nandoe Tewarie 2009:
7-day-delayed grafts survive less than 3-day ones). Their own damage to the host cord and
their part in recovery are not modelled.
"""

from __future__ import annotations

from cordsim.core import Param, State, Submodel


class Lymphocytes(Submodel):
    """Injury-primed T cells in the lesion: priming, a clonal-expansion programme, contraction."""

    t_cell_priming = State("CNS antigen from the hit awaiting presentation to T cells in the "
                           "draining lymph nodes (the injury's size at the hit)", "1",
                           initial=lambda p: p.injury_severity)
    t_cell_program = State("Clonal-expansion programme of primed T cells (fading)", "1",
                           initial=0.0)
    t_cells = State("T lymphocytes in the lesion", "cell/mm^3",
                    initial=lambda p: p.t_cells_basal)

    t_cells_basal = Param("T-cell density in the intact cord", "cell/mm^3")
    t_cell_capacity = Param("Largest T-cell density the expansion reaches", "cell/mm^3")
    k_t_priming = Param("Rate at which antigen presentation starts the expansion programme",
                        "1/day")
    k_t_expansion = Param("T-cell per-capita growth rate per unit programme", "1/day")
    d_t_program = Param("Fading rate of the expansion programme", "1/day")
    d_t_cells = Param("Return of lesion T cells toward the basal density (death, egress)",
                      "1/day")

    inputs = ("injury_severity",)

    def rates(self, t, v, p):
        presented = p.k_t_priming * v.t_cell_priming
        growth = (p.k_t_expansion * v.t_cell_program * v.t_cells
                  * (1 - v.t_cells / p.t_cell_capacity))
        return {
            "t_cell_priming": -presented,
            "t_cell_program": presented - p.d_t_program * v.t_cell_program,
            "t_cells": growth - p.d_t_cells * (v.t_cells - p.t_cells_basal),
        }

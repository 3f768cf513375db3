"""Which mechanism does the work: each arm's BBB gain with one reparative program knocked out.

Review Section 3.4 lists five things reprogrammed myeloid cells do (spec 7). Each is a term of
the model that only the sEV-induced program (``myeloid_program``) or the cargo drives; turning
that term off and running the arm again shows how much of the arm's gain over vehicle it
carries. The shares need not add up to 1: the programs act on each other (barrier repair
lowers the entry of monocytes, which changes the lesion the other programs work in), and what
no single knock-out removes is the direct effect of the delivered miRNAs on their targets
(TLR4, TRAF6, IRF5, Ern1, PDCD4, PELI1), shown in the row with every program off.

Examples
--------
>>> sorted(PROGRAMS)[:2]
['M2 polarization', 'barrier repair']
"""

from __future__ import annotations

from typing import Any

from cordsim.core import ParameterSet

# program -> the parameters that carry it (set to 0 to knock it out)
PROGRAMS: dict[str, dict[str, float]] = {
    "M2 polarization": {"w_m2_program": 0.0},
    "cytokine shift": {"w_program_il10": 0.0},
    "phagocytosis": {"w_marco_reprogramming": 0.0},
    "neuroprotection": {"w_program_trophic": 0.0},
    "barrier repair": {"w_program_barrier": 0.0, "f_program_mmp": 0.0},
}
ALL_OFF = "all five off"
ACUTE_ARM = {"name": "sEV 100 ug at 3 h", "doses": [{"product": "sev_naive",
                                                      "amount": "100 ug", "route": "iv",
                                                      "schedule": "bolus", "start": 0.125}]}


def attribution_scenario() -> Any:
    """The default scenario's arms plus one 100 ug IV sEV dose at 3 h (the pooled studies'
    typical design)."""
    import tomllib

    from cordsim.data import builtin_scenarios
    from cordsim.design.scenario import scenario_from_dict

    spec = tomllib.loads(builtin_scenarios()["default"].read_text())
    spec["arms"] = [*spec["arms"], ACUTE_ARM]
    spec.pop("name", None)
    return scenario_from_dict(spec, name="attribution")


def program_attribution(parameters: ParameterSet | None = None, *, day: float = 42.0,
                        scenario: Any = None) -> Any:
    """One row per treated arm and knock-out: the arm's BBB gain over the first (vehicle) arm
    at ``day`` with every program, without one, and the share of the gain that program
    carries (1 - gain without / gain with)."""
    import pandas as pd

    from cordsim.data import default_parameters
    from cordsim.run.scenarios import run_scenario

    base = parameters or default_parameters()
    scen = scenario or attribution_scenario()
    knockouts = {"": {}, **PROGRAMS,
                 ALL_OFF: {k: v for change in PROGRAMS.values() for k, v in change.items()}}
    gains: dict[str, dict[str, float]] = {}
    for label, change in knockouts.items():
        res = run_scenario(scen, parameters=base.replace(change) if change else base)
        control, *treated = list(res.arms)
        gains[label] = {arm: res[arm].at("bbb_score", day) - res[control].at("bbb_score", day)
                        for arm in treated}
    rows = []
    for arm, full in gains[""].items():
        for label in knockouts:
            if not label:
                continue
            without = gains[label][arm]
            rows.append({"arm": arm, "program": label, "day": day, "gain": full,
                         "gain_without": without,
                         "share_of_gain": (full - without) / full if abs(full) > 1e-9 else 0.0})
    return pd.DataFrame(rows)


def attribution_text(table: Any) -> str:
    """The attribution table as aligned text: arms as columns, programs as rows."""
    wide = table.pivot(index="program", columns="arm", values="share_of_gain")
    order = [*PROGRAMS, ALL_OFF]
    wide = wide.loc[[p for p in order if p in wide.index]]
    gains = table.groupby("arm")["gain"].first()
    day = float(table["day"].iloc[0])
    lines = [f"Share of each arm's BBB gain over vehicle at day {day:g} that a program carries "
             "(knocked out, rerun):", ""]
    head = f"{'program':<18}" + "".join(f"{a[:18]:>20}" for a in wide.columns)
    lines += [head, f"{'gain (BBB points)':<18}" + "".join(f"{gains[a]:>+20.2f}"
                                                          for a in wide.columns)]
    for program, row in wide.iterrows():
        lines.append(f"{program:<18}" + "".join(f"{100 * v:>19.0f}%" for v in row))
    return "\n".join(lines)

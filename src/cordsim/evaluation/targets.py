"""The spec's must-show lines with a size (sections 1-4, 7 and 7b), as numbers with a range.

One table, read two ways: ``cordsim validate`` checks each line (pass when the value lies in
its range) and ``cordsim calibrate`` keeps the fit inside the ranges (a hinge residual, zero
inside, ``(distance outside) / scale`` beyond), so that the fit cannot trade a line the spec
settled from the weight of the rat evidence for a few summary numbers that say little about it.

Each target reads runs of a few standard conditions (:data:`CONDITIONS`: the three contusion
presets untreated, and the arms of the therapy chain), simulated for one parameter vector.

Examples
--------
>>> sorted(CONDITIONS)[:3]
['depleted', 'depleted_fractionated_d7', 'fractionated_d7']
>>> len(TARGETS) > 20
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cordsim.design.dosing import Dose, Protocol

DAYS = 70.0
# A target missed by its scale costs as much as this many SDs of a data row: the spec's lines
# act as near-hard constraints, which a few summary numbers cannot outweigh.
TARGET_WEIGHT = 10.0
# How far inside each edge the calibration aims, in units of a target's scale.
FIT_MARGIN = 0.05
# the fractionated arm: three daily IV doses of 2.4e10 sEVs from day 7 (spec 4, Nakazaki 2021)
FRACTIONATED = Protocol((Dose("sev_naive", "2.4e10 particle", "iv", schedule="daily", count=3,
                              start=7),))
# condition -> (injury preset, protocol)
CONDITIONS: dict[str, tuple[str, Protocol]] = {
    "mild": ("mild", Protocol()),
    "moderate": ("moderate", Protocol()),
    "severe": ("severe", Protocol()),
    "msc_d7": ("moderate", Protocol((Dose("msc", "1e6 cell", "iv", start=7),))),
    "fractionated_d7": ("moderate", FRACTIONATED),
    "sev_3h": ("moderate", Protocol((Dose("sev_naive", "100 ug", "iv", start=0.125),))),
    # the review's experiments on the fractionated arm (evaluation.experiments)
    "fractionated_d7_no_barrier": ("moderate", FRACTIONATED),
    "rnase_d7": ("moderate", Protocol((Dose("sev_rnase", "2.4e10 particle", "iv",
                                            schedule="daily", count=3, start=7),))),
    "depleted": ("moderate", Protocol()),
    "depleted_fractionated_d7": ("moderate", FRACTIONATED),
}
# values a condition alone takes: the barrier program knocked out (analysis.attribution),
# macrophages depleted by clodronate liposomes (the experiment's perturbation)
CONDITION_VALUES: dict[str, dict[str, float]] = {
    "fractionated_d7_no_barrier": {"w_program_barrier": 0.0, "f_program_mmp": 0.0},
    "depleted": {"macrophage_depletion": 0.9},
    "depleted_fractionated_d7": {"macrophage_depletion": 0.9},
}


class Series:
    """The runs of one parameter vector: name -> (time, states and outputs), on a common
    grid (every 30 min on day 1, 0.1 day to day 7, 0.25 day after)."""

    def __init__(self, data: Mapping[str, Mapping[str, np.ndarray]], time: np.ndarray) -> None:
        self.data, self.time = data, time

    def __call__(self, condition: str, name: str) -> np.ndarray:
        return np.asarray(self.data[condition][name])

    def at(self, condition: str, name: str, day: float) -> float:
        return float(np.interp(day, self.time, self(condition, name)))

    def mean(self, condition: str, name: str, start: float, end: float,
             series: np.ndarray | None = None) -> float:
        y = self(condition, name) if series is None else series
        mask = (self.time >= start) & (self.time <= end)
        return float(np.trapezoid(y[mask], self.time[mask]) / (end - start))


def _peak(s: Series, c: str, name: str, start: float = 0.0) -> tuple[float, float]:
    y, t = s(c, name), s.time
    mask = t >= start
    i = int(np.argmax(y[mask]))
    return float(t[mask][i]), float(y[mask][i])


def m1_like(s: Series, c: str) -> np.ndarray:
    """M1-like cells: macrophages and activated microglia times their M1 share."""
    return (s(c, "macrophages") * (1 - s(c, "m2_fraction_macrophages"))
            + s(c, "microglia_activated") * (1 - s(c, "m2_fraction_microglia")))


def myeloid_m2(s: Series, c: str) -> np.ndarray:
    """M2-like share of the lesion's myeloid cells (macrophages and activated microglia)."""
    cells = s(c, "macrophages") + s(c, "microglia_activated")
    m2 = (s(c, "macrophages") * s(c, "m2_fraction_macrophages")
          + s(c, "microglia_activated") * s(c, "m2_fraction_microglia"))
    return m2 / np.maximum(cells, 1.0)


def _excess_share(s: Series, day: float) -> float:
    _, pk = _peak(s, "moderate", "bscb_permeability", 0.25)
    return (s.at("moderate", "bscb_permeability", day) - 1) / (pk - 1)


def _plateau(s: Series) -> float:
    _, pk = _peak(s, "moderate", "bscb_permeability", 0.25)
    return (s.mean("moderate", "bscb_permeability", 28, DAYS) - 1) / (pk - 1)


def _share_of_peak(name: str, day: float) -> Callable[[Series], float]:
    def value(s: Series) -> float:
        return s.at("moderate", name, day) / _peak(s, "moderate", name)[1]
    return value


def _max_after(series: Callable[[Series, str], np.ndarray], start: float,
               end: float = DAYS) -> Callable[[Series], float]:
    def value(s: Series) -> float:
        mask = (s.time >= start) & (s.time <= end)
        return float(np.max(series(s, "moderate")[mask]))
    return value


def _m2_early_excess(series: Callable[[Series, str], np.ndarray]) -> Callable[[Series], float]:
    """How far the M2 share before day 3 rises above its maximum at days 3-7 (<= 0: it peaks
    at days 3-7)."""
    def value(s: Series) -> float:
        y, t = series(s, "moderate"), s.time
        return float(np.max(y[(t >= 0.5) & (t < 3)]) - np.max(y[(t >= 3) & (t <= 7)]))
    return value


def _macrophage_m2(s: Series, c: str) -> np.ndarray:
    return s(c, "m2_fraction_macrophages")


def _m1_peak_day(s: Series) -> float:
    y = m1_like(s, "moderate")
    return float(s.time[int(np.argmax(y))])


def _m1_14_over_7(s: Series) -> float:
    y = m1_like(s, "moderate")
    return float(np.interp(14, s.time, y) / np.interp(7, s.time, y))


def _m1_late(s: Series) -> float:
    y = m1_like(s, "moderate")
    return s.mean("moderate", "", 28, DAYS, series=y) / float(np.max(y))


def _leak_cut(arm: str) -> Callable[[Series], float]:
    def value(s: Series) -> float:
        def excess(c: str) -> float:
            return s.mean(c, "bscb_permeability", 14, 42) - 1
        return 1 - excess(arm) / excess("moderate")
    return value


def _m1_cut_early_dose(s: Series) -> float:
    def mean(c: str) -> float:
        return s.mean(c, "", 7, 28, series=m1_like(s, c))
    return 1 - mean("sev_3h") / mean("moderate")


def _cargo_left(s: Series) -> float:
    y = s("sev_3h", "mirna_copies_per_macrophage")
    return s.at("sev_3h", "mirna_copies_per_macrophage", 21) / float(np.max(y))


def _neutrophil_share_12h(s: Series) -> float:
    n = s.at("moderate", "neutrophils", 0.5)
    return n / (n + s.at("moderate", "macrophages", 0.5) + s.at("moderate", "monocytes", 0.5))


@dataclass(frozen=True)
class Target:
    """A must-show line with a size: its value from the runs must lie in [lo, hi]; ``scale``
    is how far outside counts as one SD in the calibration."""

    name: str
    text: str
    source: str
    value: Callable[[Series], float]
    lo: float
    hi: float
    scale: float
    conditions: tuple[str, ...] = ("moderate",)

    def residual(self, s: Series, *, margin: float = 0.0) -> float:
        """0 inside the range; beyond it, the distance over ``scale`` times
        :data:`TARGET_WEIGHT` (a near-hard constraint in the calibration). ``margin`` (in
        units of ``scale``, at most a quarter of the range) moves both edges inward: the
        calibration asks for :data:`FIT_MARGIN` so that its optimum, which settles on an
        edge, lands inside the range rather than a rounding error outside it."""
        v = self.value(s)
        if not np.isfinite(v):
            return 1e3
        inset = min(margin * self.scale, 0.25 * (self.hi - self.lo))
        lo, hi = self.lo + inset, self.hi - inset
        miss = (lo - v) if v < lo else ((v - hi) if v > hi else 0.0)
        return TARGET_WEIGHT * miss / self.scale

    def passes(self, s: Series) -> bool:
        return self.residual(s) == 0.0


INF = float("inf")
TARGETS: tuple[Target, ...] = (
    # spec 2: cells
    Target("neutrophil_peak_day", "neutrophils peak at 12-48 h", "Carlson 1998; spec 2",
           lambda s: _peak(s, "moderate", "neutrophils")[0], 0.5, 2.0, 0.25),
    Target("neutrophil_share_12h", "neutrophils are > 90% of infiltrating cells at 12 h",
           "Stirling & Yong 2008", _neutrophil_share_12h, 0.9, 1.0, 0.01),
    Target("microglia_6h", "> 25% of microglia activated at 6 h", "R[10,28]",
           lambda s: s.at("moderate", "microglia_activated", 0.25)
           / s.at("moderate", "microglia_resting", 0.0), 0.25, INF, 0.03),
    Target("microglia_lead_day3", "activated microglia outnumber macrophages at day 3",
           "Greenhalgh & David 2014 (mouse); Popovich 1997",
           lambda s: s.at("moderate", "microglia_activated", 3)
           / s.at("moderate", "macrophages", 3), 1.0, INF, 0.05),
    Target("macrophages_lead_day14", "macrophages outnumber activated microglia at day 14",
           "Greenhalgh & David 2014 (mouse); spec 2: macrophages dominate the lesion core",
           lambda s: s.at("moderate", "macrophages", 14)
           / s.at("moderate", "microglia_activated", 14), 1.0, INF, 0.05),
    Target("macrophage_m2_max", "macrophage M2-like share at most 0.5", "Kigerl 2009; spec 2",
           _max_after(_macrophage_m2, 0.5), 0.0, 0.5, 0.03),
    Target("macrophage_m2_late", "macrophage M2-like share at most 0.3 after day 14",
           "Kigerl 2009; spec 2", _max_after(_macrophage_m2, 14), 0.0, 0.3, 0.03),
    Target("macrophage_m2_peak_days_3_7", "macrophage M2-like share highest at days 3-7",
           "Kigerl 2009; spec 2", _m2_early_excess(_macrophage_m2), -INF, 0.0, 0.03),
    Target("myeloid_m2_max", "lesion myeloid M2-like share at most 0.5", "spec 2",
           _max_after(myeloid_m2, 0.5), 0.0, 0.5, 0.03),
    Target("myeloid_m2_late", "lesion myeloid M2-like share at most 0.3 after day 14",
           "spec 2", _max_after(myeloid_m2, 14), 0.0, 0.3, 0.03),
    Target("m1_peak_day", "M1-like activity peaks at days 5-10", "Popovich 1997; spec 2",
           _m1_peak_day, 5.0, 10.0, 1.0),
    Target("m1_day14_over_day7", "M1-like activity at day 14 at most 0.8 x day 7",
           "Kisucka 2021; spec 2", _m1_14_over_7, 0.0, 0.8, 0.05),
    Target("m1_late_share", "M1-like activity at 30-60% of its peak over days 28-70",
           "spec 2", _m1_late, 0.3, 0.6, 0.05),
    # spec 3: cytokines (lesion protein)
    Target("tnf_peak_hours", "TNF-alpha peaks at 1-8 h", "Wang 1996; spec 3",
           lambda s: 24 * _peak(s, "moderate", "tnf")[0], 1.0, 8.0, 1.0),
    Target("il1b_peak_hours", "IL-1beta peaks at 1-8 h", "Wang 1997; spec 3",
           lambda s: 24 * _peak(s, "moderate", "il1b")[0], 1.0, 8.0, 1.0),
    Target("tnf_1h", "TNF-alpha expressed within the first hour (> 5% of peak)",
           "Pineau & Lacroix 2007", _share_of_peak("tnf", 1 / 24), 0.05, INF, 0.01),
    Target("il1b_1h", "IL-1beta expressed within the first hour (> 5% of peak)",
           "Pineau & Lacroix 2007", _share_of_peak("il1b", 1 / 24), 0.05, INF, 0.01),
    Target("tnf_day1", "TNF-alpha at day 1: 10-50% of peak", "spec 3",
           _share_of_peak("tnf", 1), 0.1, 0.5, 0.03),
    Target("il1b_day1", "IL-1beta at day 1: 10-50% of peak", "spec 3",
           _share_of_peak("il1b", 1), 0.1, 0.5, 0.03),
    Target("tnf_day3", "TNF-alpha at day 3: 5-20% of peak", "Wang 1996; Lee 2000; spec 3",
           _share_of_peak("tnf", 3), 0.05, 0.2, 0.02),
    Target("il1b_day3", "IL-1beta at day 3: 5-20% of peak", "Wang 1997; spec 3",
           _share_of_peak("il1b", 3), 0.05, 0.2, 0.02),
    Target("il1b_day7", "IL-1beta at day 7: at least 5% of peak", "Wang 1997; spec 3",
           _share_of_peak("il1b", 7), 0.05, INF, 0.01),
    Target("tnf_day21", "TNF-alpha near sham by day 21 (at most 10% of peak)", "spec 3",
           _share_of_peak("tnf", 21), 0.0, 0.1, 0.02),
    Target("il1b_day21", "IL-1beta near sham by day 21 (at most 10% of peak)", "spec 3",
           _share_of_peak("il1b", 21), 0.0, 0.1, 0.02),
    # spec 4: barrier
    Target("bscb_peak_day", "BSCB leak largest at days 0.5-3", "Popovich 1996; spec 4",
           lambda s: _peak(s, "moderate", "bscb_permeability", 0.25)[0], 0.5, 3.0, 0.5),
    Target("bscb_day7", "leak excess at day 7 at most half the peak excess", "spec 4",
           lambda s: _excess_share(s, 7), 0.0, 0.5, 0.05),
    Target("bscb_day14", "leak excess at day 14 at most a quarter of the peak excess",
           "spec 4", lambda s: _excess_share(s, 14), 0.0, 0.25, 0.03),
    Target("bscb_plateau", "leak excess over days 28-70 at 10-20% of the peak excess",
           "spec 4; R[2]", lambda s: _plateau(s), 0.1, 0.2, 0.02),
    Target("bscb_day70", "leak not sealed at day 70 (> 1.05 x intact)", "spec 4; R[2]",
           lambda s: s.at("moderate", "bscb_permeability", DAYS), 1.05, INF, 0.02),
    # spec 1: locomotion
    Target("bbb_day42_mild", "BBB at 6 weeks, mild contusion: 15-18", "spec 1",
           lambda s: s.at("mild", "bbb_score", 42), 15.0, 18.0, 0.5, ("mild",)),
    Target("bbb_day42_moderate", "BBB at 6 weeks, moderate contusion: 10-13", "spec 1",
           lambda s: s.at("moderate", "bbb_score", 42), 10.0, 13.0, 0.5),
    Target("bbb_day42_severe", "BBB at 6 weeks, severe contusion: 4-8", "spec 1",
           lambda s: s.at("severe", "bbb_score", 42), 4.0, 8.0, 0.5, ("severe",)),
    Target("bbb_day1", "BBB near 0-2 on day 1 (mild contusion, the highest)", "Basso 1995",
           lambda s: s.at("mild", "bbb_score", 1), 0.0, 2.5, 0.3, ("mild",)),
    Target("bbb_settles", "BBB changes < 3% from day 56 to 70", "spec 7b; Basso 1995",
           lambda s: abs(s.at("moderate", "bbb_score", 70) / s.at("moderate", "bbb_score", 56)
                         - 1), 0.0, 0.03, 0.01),
    Target("sparing_settles", "spared tissue changes < 3% from day 56 to 70", "spec 7b",
           lambda s: abs(s.at("moderate", "spared_tissue_fraction", 70)
                         / s.at("moderate", "spared_tissue_fraction", 56) - 1), 0.0, 0.03, 0.01),
    # spec 4 and 7b: the therapy chain
    Target("barrier_repair_msc", "IV MSC 1e6 at day 7 lowers the day 14-42 leak excess by "
           ">= 25%", "spec 4 (Matsushita 2015; Nakazaki 2021)", _leak_cut("msc_d7"), 0.25, INF,
           0.03, ("moderate", "msc_d7")),
    Target("barrier_repair_fractionated", "three daily IV sEV doses from day 7 lower the day "
           "14-42 leak excess by >= 25%", "spec 4 (Nakazaki 2021)",
           _leak_cut("fractionated_d7"), 0.25, INF, 0.03, ("moderate", "fractionated_d7")),
    Target("early_dose_m1_cut", "one 100 ug IV dose at 3 h lowers M1-like cells over days "
           "7-28 by at most 80%", "spec 7b: cargo is diluted and lost with its cells",
           _m1_cut_early_dose, 0.0, 0.8, 0.03, ("moderate", "sev_3h")),
    Target("early_dose_cargo_day21", "after one dose at 3 h, miRNA copies per cell at day 21 "
           "at most 25% of their peak", "spec 7b", _cargo_left, 0.0, 0.25, 0.03,
           ("sev_3h",)),
    # spec 4 and the review's experiments (3.4, R[47]; macrophages are the conduit)
    Target("barrier_repair_share", "barrier repair carries >= 10% of the fractionated arm's "
           "BBB gain at day 42 (its program knocked out, rerun)", "spec 4",
           lambda s: 1 - _ratio(s, ("fractionated_d7_no_barrier", "moderate"),
                                ("fractionated_d7", "moderate"), 42), 0.1, INF, 0.03,
           ("moderate", "fractionated_d7", "fractionated_d7_no_barrier")),
    Target("rnase_share", "RNase-treated sEVs keep < 50% of the BBB gain at day 70",
           "R[47]; review 3.4", lambda s: _ratio(s, ("rnase_d7", "moderate"),
                                                 ("fractionated_d7", "moderate"), 70),
           -INF, 0.5, 0.05,
           ("moderate", "fractionated_d7", "rnase_d7")),
    Target("depletion_share", "macrophage depletion leaves < 50% of the sEV BBB gain at day 70",
           "review 3.4: macrophages are the conduit", lambda s:
           _ratio(s, ("depleted_fractionated_d7", "depleted"), ("fractionated_d7", "moderate"),
                  70), -INF, 0.5, 0.05,
           ("moderate", "fractionated_d7", "depleted", "depleted_fractionated_d7")),
)


def _gain(s: Series, arm: str, control: str, day: float) -> float:
    """BBB points the arm gains over its control at ``day``."""
    return s.at(arm, "bbb_score", day) - s.at(control, "bbb_score", day)


def _ratio(s: Series, arm: tuple[str, str], reference: tuple[str, str], day: float) -> float:
    """One gain over another; NaN (the target fails) unless the reference gains more than a
    quarter of a BBB point, as the review's experiments require (evaluation.experiments)."""
    ref = _gain(s, *reference, day)
    return _gain(s, *arm, day) / ref if ref > 0.25 else float("nan")


def run_conditions(values: Sequence[Mapping[str, float]], names: Sequence[str] | None = None,
                   *, parameters: Any = None,
                   condition_values: Mapping[str, Mapping[str, float]] | None = None
                   ) -> list[Series]:
    """Simulate every condition for each parameter vector (``values``: cordsim parameter
    values, declared units) in one kernel call per condition; a failed run gives NaNs.
    ``condition_values``: values that one condition alone takes (e.g. its severity)."""
    from cordsim.run.simulation import Simulation, analysis_times

    names = list(names or CONDITIONS)
    t = analysis_times(DAYS)
    per: list[dict[str, dict[str, np.ndarray]]] = [{} for _ in values]
    for c in names:
        injury, protocol = CONDITIONS[c]
        sim = Simulation(parameters=parameters, injury=injury, protocol=protocol)
        t_eval = np.unique(np.concatenate([t, sim._dose_times(DAYS)]))
        extra = {**CONDITION_VALUES.get(c, {}), **(condition_values or {}).get(c, {})}
        trajs = sim.solve_batch(t_eval, [{**v, **extra} for v in values])
        for k, traj in enumerate(trajs):
            if not traj.ok:
                nan = np.full(t.size, np.nan)
                per[k][c] = {n: nan for n in (*sim.model.state_names,
                                              *sim.model.output_names)}
                continue
            with np.errstate(all="ignore"):
                outs = np.asarray(sim.compiled.outputs(traj.t, traj.y, traj.p))
            keep = np.isin(traj.t, t)
            per[k][c] = {**{n: traj.y[i][keep] for i, n in enumerate(sim.model.state_names)},
                         **{n: outs[i][keep] for i, n in enumerate(sim.model.output_names)}}
    return [Series(p, t) for p in per]


def target_values(series: Series) -> dict[str, float]:
    """Every target's value for one run of the conditions."""
    out = {}
    for target in TARGETS:
        try:
            out[target.name] = float(target.value(series))
        except (ValueError, ZeroDivisionError, FloatingPointError):
            out[target.name] = float("nan")
    return out

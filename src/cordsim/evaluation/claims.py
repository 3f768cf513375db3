"""The natural-history claims: every 'must show' of spec Sections 1-4 and the literature
targets the model covers, as pass/fail checks with their sources (``data/observations/``
holds the targets and their provenance)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from functools import cached_property

import numpy as np

from cordsim.core import ParameterSet
from cordsim.data import default_parameters
from cordsim.evaluation.checks import Check, Claim
from cordsim.run.results import SimulationResult
from cordsim.run.simulation import Simulation

SEVERITIES = ("none", "mild", "moderate", "severe", "compression")


class Runs:
    """70-day runs of every injury preset with one parameter set, computed on demand."""

    def __init__(self, parameters: ParameterSet | None = None, days: float = 70.0) -> None:
        self.parameters = parameters or default_parameters()
        self.days = days
        self._cache: dict[str, SimulationResult] = {}

    def __getitem__(self, severity: str) -> SimulationResult:
        if severity not in self._cache:
            sim = Simulation(parameters=self.parameters, injury=severity)
            self._cache[severity] = sim.run(days=self.days, dt=0.25)
        return self._cache[severity]

    @cached_property
    def moderate(self) -> SimulationResult:
        return self["moderate"]

    @cached_property
    def targets(self) -> Any:
        """The standard conditions of the spec targets (:mod:`cordsim.evaluation.targets`)."""
        from cordsim.evaluation.targets import run_conditions

        return run_conditions([{}], parameters=self.parameters)[0]


def _fmt(x: float) -> str:
    return f"{x:.3g}"


# --------------------------------------------------------------------------- checks
def _neutrophil_decline(r: Runs) -> Check:
    _, pk = r.moderate.peak("neutrophils")
    f10 = r.moderate.at("neutrophils", 10) / pk
    return Check(f"day 10 = {100 * f10:.0f}% of peak", f10 < 0.35)


def _macrophage_dominance(r: Runs) -> Check:
    m = r.moderate
    over = np.flatnonzero((m["macrophages"] > m["neutrophils"]) & (m.time > 0.25))
    first = float(m.time[over[0]]) if over.size else float("inf")
    after = bool(np.all((m["macrophages"] >= m["neutrophils"])[m.time >= max(first, 7.0)]))
    return Check(f"outnumber from day {first:.1f}; dominate after: {after}", first <= 7 and after)


def _macrophages_first_weeks(r: Runs) -> Check:
    m = r.moderate
    t, pk = m.peak("macrophages")
    end = float(m["macrophages"][-1])
    return Check(f"peak day {t:.0f}; day 70 = {100 * end / pk:.0f}% of peak",
                 t <= 28 and end < 0.9 * pk and end > 0.1 * pk)


def _perm_incomplete(r: Runs) -> Check:
    v = float(r.moderate["bscb_permeability"][-1])
    return Check(f"{v:.2f}x intact at day 70", v > 1.05)


def _perm_immediate(r: Runs) -> Check:
    v0 = float(r.moderate["bscb_permeability"][0])
    v1 = r.moderate.at("bscb_permeability", 1)
    return Check(f"{v0:.2f}x at injury, {v1:.2f}x at day 1", v0 > 1.3 and v1 > 1.3)


def _bbb_order(r: Runs) -> Check:
    vals = [float(r[s]["bbb_score"][-1]) for s in ("mild", "moderate", "severe")]
    return Check("mild {:.1f} > moderate {:.1f} > severe {:.1f}".format(*vals),
                 vals[0] > vals[1] > vals[2])


def _bbb_plateau(r: Runs) -> Check:
    m = r.moderate
    change = float(m["bbb_score"][-1]) - m.at("bbb_score", 49)
    return Check(f"change day 49-70 = {change:+.2f} points", abs(change) < 1.5)


def _sparing_severity(r: Runs) -> Check:
    sev = ("mild", "moderate", "severe")
    # white matter: the spared, conducting axons at the epicentre (Basso 1996 measured %WM)
    spared = [float(r[s]["axons_spared"][-1]) for s in sev]
    bbb = [float(r[s]["bbb_score"][-1]) for s in sev]
    same_order = np.array_equal(np.argsort(spared), np.argsort(bbb))
    return Check("spared axons {:.2f} > {:.2f} > {:.2f}; BBB follows: {}".format(*spared,
                                                                            same_order),
                 spared[0] > spared[1] > spared[2] and same_order)


def _proinflammatory_acute(r: Runs) -> Check:
    m = r.moderate
    t_tnf, pk = m.peak("tnf")
    t_il10, _ = m.peak("il10")
    late = m.at("tnf", 28) / pk
    return Check(f"TNF peak day {t_tnf:.2f}, IL-10 peak day {t_il10:.1f}, TNF day 28 = "
                 f"{100 * late:.0f}% of peak", t_tnf < t_il10 and late < 0.5)


def _il6_severity(r: Runs) -> Check:
    pk = [r[s].peak("il6")[1] for s in ("mild", "moderate", "severe")]
    return Check("mild {:.0f} < moderate {:.0f} < severe {:.0f} pg/mL".format(*pk),
                 pk[0] < pk[1] < pk[2])


def _serum_rise(r: Runs) -> Check:
    m = r.moderate
    f_tnf = m.peak("serum_tnf")[1] / float(m["serum_tnf"][0])
    f_il6 = m.peak("serum_il6")[1] / float(m["serum_il6"][0])
    return Check(f"TNF x{f_tnf:.2f}, IL-6 x{f_il6:.2f} over baseline", f_tnf > 1.1 and f_il6 > 1.1)


def _debris_persists(r: Runs) -> Check:
    m = r.moderate
    total = m["myelin_debris"] + m["myelin_internalized"]
    _, pk = float(m.time[int(np.argmax(total))]), float(np.max(total))
    f42 = float(np.interp(42, m.time, total)) / pk
    return Check(f"myelin (free + in phagocytes) at day 42 = {100 * f42:.0f}% of peak",
                 f42 > 0.1)


def _secondary_expansion(r: Runs) -> Check:
    m = r.moderate
    early = m.at("spared_tissue_fraction", 0.25)
    late = m.at("spared_tissue_fraction", 28)
    return Check(f"spared tissue {early:.2f} at 6 h -> {late:.2f} at day 28",
                 late < early - 0.05)


def _oligo_delayed(r: Runs) -> Check:
    m = r.moderate
    d1, d21 = m.at("oligodendrocytes_fraction", 1), m.at("oligodendrocytes_fraction", 21)
    return Check(f"{d1:.2f} at day 1 -> {d21:.2f} at day 21", d21 < d1 - 0.02)


def _scar(r: Runs) -> Check:
    m = r.moderate
    c1, c28 = m.at("scar_cspg", 1), m.at("scar_cspg", 28)
    f1, f28 = m.at("scar_fibrotic", 1), m.at("scar_fibrotic", 28)
    return Check(f"CSPG {c1:.2f} -> {c28:.2f}; fibrotic {f1:.2f} -> {f28:.2f} (day 1 -> 28)",
                 c28 > 0.2 and f28 > 0.1 and c1 < 0.1 and f1 < 0.1)


def _myeloid_death(r: Runs) -> Check:
    m = r.moderate
    pyro = float(np.trapezoid(m["myeloid_pyroptosis"], m.time))
    apo = float(np.trapezoid(m["myeloid_apoptosis"], m.time))
    return Check(f"pyroptotic {pyro:.3g}, apoptotic {apo:.3g} cells/mm³ over 70 d",
                 pyro > 0 and apo > 0)


def _sham(r: Runs) -> Check:
    s = r["none"]
    worst = 0.0
    for name, values in s.data.items():
        ref = max(abs(float(values[0])), 1e-9)
        worst = max(worst, float(np.max(np.abs(values - values[0]))) / ref)
    return Check(f"largest relative drift {worst:.1e}", worst < 1e-6)


def _nonnegative(r: Runs) -> Check:
    worst = min(float(np.min(r[s][n])) for s in SEVERITIES for n in r.moderate.data)
    return Check(f"smallest value {worst:.2g}", worst > -1e-6)


def _compression(r: Runs) -> Check:
    c, mild = float(r["compression"]["bbb_score"][-1]), float(r["mild"]["bbb_score"][-1])
    return Check(f"compression {c:.1f} vs mild {mild:.1f}", 0 < c < mild)


def _target_claim(target: Any) -> Claim:
    def check(r: Runs) -> Check:
        value = target.value(r.targets)
        return Check(f"{value:.3g}", bool(target.lo <= value <= target.hi))

    lo = "" if not np.isfinite(target.lo) else f"{target.lo:g}"
    hi = "" if not np.isfinite(target.hi) else f"{target.hi:g}"
    return Claim(f"target:{target.name}", target.text, target.source,
                 f"in [{lo or '-inf'}, {hi or 'inf'}]", check)


def _fitted_on_bounds(r: Runs) -> Check:
    from cordsim.core.parameters import at_bound

    fitted = [rec for rec in r.parameters.records.values() if rec.evidence == "fitted"]
    on = [rec.name for rec in fitted if at_bound(rec)]
    share = len(on) / max(1, len(fitted))
    return Check(f"{len(on)} of {len(fitted)} ({100 * share:.0f}%): {', '.join(on) or 'none'}",
                 share <= 0.05)


def target_claims() -> tuple[Claim, ...]:
    """One claim per spec target (:data:`cordsim.evaluation.targets.TARGETS`)."""
    from cordsim.evaluation.targets import TARGETS

    return tuple(_target_claim(t) for t in TARGETS)


CLAIMS: tuple[Claim, ...] = (
    Claim("neutrophil_decline", "Neutrophils decline gradually over the next 7-10 days",
          "Hellenbrand2021 (R[29]) Fig 4", "day 10 < 35% of peak", _neutrophil_decline),
    Claim("macrophage_dominance", "Macrophages outnumber neutrophils by day 3-7 and dominate after",
          "R[28]; spec 2", "cross by day 7, dominate after", _macrophage_dominance),
    Claim("macrophages_first_weeks", "Phagocytic macrophages are maximal within 4 weeks, then "
          "decline but persist", "Kwiecien2020 (rat, 16 w)",
          "peak <= day 28; day 70 10-90% of peak",
          _macrophages_first_weeks),
    Claim("myeloid_death", "Myeloid cells die by NLRP3 pyroptosis and apoptosis",
          "R[66,73,74]; spec 2", "both fluxes > 0", _myeloid_death),
    Claim("bscb_immediate", "The BSCB is disrupted at once (hemorrhage) and leaky at day 1",
          "R[20]; Tatar 2009 (mouse DCE-MRI, day 1)", "> 1.3x at 0 h and day 1", _perm_immediate),
    Claim("bscb_incomplete", "Recovery of the BSCB is incomplete beyond 10 weeks", "R[2], Fig. 1D",
          "> 1.05x intact at day 70", _perm_incomplete),
    Claim("proinflammatory_acute", "TNF-alpha high acutely then falls; anti-inflammatory "
          "cytokines rise later", "Kwiecien2020 (rat)", "TNF peak before IL-10 peak; day 28 < 50%",
          _proinflammatory_acute),
    Claim("il6_severity", "Lesion IL-6 scales with injury severity", "Stammers 2012 (rat)",
          "mild < moderate < severe", _il6_severity),
    Claim("serum_cytokines", "Serum TNF-alpha and IL-6 rise after SCI", "R[11]",
          "> 1.1x baseline", _serum_rise),
    Claim("debris_persists", "Myelin debris (free and in phagocytes) persists for weeks",
          "Greenhalgh & David 2014; Kwiecien2020", "> 10% of peak at day 42", _debris_persists),
    Claim("secondary_injury", "Secondary injury expands tissue loss over days to weeks",
          "R[1,19-26]", "spared tissue falls > 0.05 from 6 h to day 28", _secondary_expansion),
    Claim("oligodendrocyte_delayed", "Oligodendrocyte loss continues for days to weeks",
          "R[21]", "day 21 below day 1 by > 0.02", _oligo_delayed),
    Claim("scar_forms", "Astroglial (CSPG) and fibrotic scar form over weeks", "R[26,37-40]",
          "day 1 < 0.1; day 28 CSPG > 0.2, fibrotic > 0.1", _scar),
    Claim("bbb_order", "BBB plateau is ordered by severity", "Basso1996",
          "mild > moderate > severe", _bbb_order),
    Claim("bbb_plateau", "Locomotor recovery plateaus by 6-9 weeks", "Basso1995",
          "|change day 49-70| < 1.5", _bbb_plateau),
    Claim("sparing_bbb", "White matter sparing falls with severity and BBB follows sparing",
          "Basso1996", "same order", _sparing_severity),
    Claim("compression", "A compression injury impairs locomotion more than a mild contusion",
          "spec 1 presets; Kisucka 2021 (compression)", "0 < compression < mild", _compression),
    Claim("fitted_within_bounds", "Fitted parameters are not parked on their bounds",
          "the rat-data issue", "<= 5% of fitted parameters at a bound", _fitted_on_bounds),
    Claim("sham_homeostasis", "Without injury every variable stays at homeostasis for 70 days",
          "spec invariant", "relative drift < 1e-6", _sham),
    Claim("non_negative", "No state becomes negative", "spec invariant", "min > -1e-6",
          _nonnegative),
) + target_claims()

"""The natural-history claims: every 'must show' of spec Sections 1-4 and the literature
targets the model covers, as pass/fail checks with their sources (``data/literature_targets.csv``
holds the targets and their provenance)."""

from __future__ import annotations

from collections.abc import Callable
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


def _fmt(x: float) -> str:
    return f"{x:.3g}"


# --------------------------------------------------------------------------- checks
def _neutrophil_peak(r: Runs) -> Check:
    t, _ = r.moderate.peak("neutrophils")
    return Check(f"peak at {24 * t:.0f} h", 12 <= 24 * t <= 48)


def _neutrophil_decline(r: Runs) -> Check:
    _, pk = r.moderate.peak("neutrophils")
    f10 = r.moderate.at("neutrophils", 10) / pk
    return Check(f"day 10 = {100 * f10:.0f}% of peak", f10 < 0.35)


def _neutrophil_share(r: Runs) -> Check:
    m = r.moderate
    share = m.at("neutrophils", 0.5) / (m.at("neutrophils", 0.5) + m.at("macrophages", 0.5)
                                         + m.at("monocytes", 0.5))
    return Check(f"{100 * share:.0f}% at 12 h", share > 0.9)


def _microglia_hours(r: Runs) -> Check:
    m = r.moderate
    frac = m.at("microglia_activated", 0.25) / r.parameters["microglia_density"]
    return Check(f"{100 * frac:.0f}% of resting density activated at 6 h", frac > 0.25)


def _macrophage_dominance(r: Runs) -> Check:
    m = r.moderate
    over = np.flatnonzero((m["macrophages"] > m["neutrophils"]) & (m.time > 0.25))
    first = float(m.time[over[0]]) if over.size else float("inf")
    after = bool(np.all((m["macrophages"] >= m["neutrophils"])[m.time >= max(first, 7.0)]))
    return Check(f"outnumber from day {first:.1f}; dominate after: {after}", first <= 7 and after)


def _microglia_then_macrophages(r: Runs) -> Check:
    m = r.moderate
    d3 = m.at("microglia_activated", 3) / m.at("macrophages", 3)
    d14 = m.at("macrophages", 14) / m.at("microglia_activated", 14)
    return Check(f"microglia/macrophages day 3 = {d3:.2g}; macrophages/microglia day 14 = "
                 f"{d14:.2g}", d3 > 1 and d14 > 1)


def _macrophages_first_weeks(r: Runs) -> Check:
    m = r.moderate
    t, pk = m.peak("macrophages")
    end = float(m["macrophages"][-1])
    return Check(f"peak day {t:.0f}; day 70 = {100 * end / pk:.0f}% of peak",
                 t <= 28 and end < 0.9 * pk and end > 0.1 * pk)


M2_MAX, M2_LATE_MAX = 0.5, 0.3  # spec 2: a transient minority (Kigerl 2009)


def _m2_minority(share: Callable[[SimulationResult], np.ndarray]) -> Callable[[Runs], Check]:
    def check(r: Runs) -> Check:
        m = r.moderate
        y = share(m)
        after = m.time >= 0.5  # the first macrophages of the first hours are too few to count
        top = float(np.max(y[after]))
        t_top = float(m.time[after][int(np.argmax(y[after]))])
        late = float(np.max(y[m.time >= 14]))
        return Check(f"max {top:.2f} at day {t_top:.1f}; max after day 14 = {late:.2f}",
                     top <= M2_MAX and 3 <= t_top <= 7 and late <= M2_LATE_MAX)
    return check


def _macrophage_m2(m: SimulationResult) -> np.ndarray:
    return m["m2_fraction_macrophages"]


def _myeloid_m2(m: SimulationResult) -> np.ndarray:
    cells = m["macrophages"] + m["microglia_activated"]
    m2 = (m["macrophages"] * m["m2_fraction_macrophages"]
          + m["microglia_activated"] * m["m2_fraction_microglia"])
    return m2 / np.maximum(cells, 1.0)


def m1_activity(m: SimulationResult) -> np.ndarray:
    """M1-like cells of the lesion: macrophages and activated microglia times their M1 share
    (absolute M1-like activity, spec 2)."""
    return (m["macrophages"] * (1 - m["m2_fraction_macrophages"])
            + m["microglia_activated"] * (1 - m["m2_fraction_microglia"]))


def _m1_course(r: Runs) -> Check:
    m = r.moderate
    y = m1_activity(m)
    i = int(np.argmax(y))
    t_pk, pk = float(m.time[i]), float(y[i])
    d7, d14 = (float(np.interp(d, m.time, y)) for d in (7, 14))
    late = float(np.mean(y[m.time >= 28])) / pk
    return Check(f"peak day {t_pk:.1f}; day 14 = {d14 / d7:.2f} x day 7; days 28-70 = "
                 f"{100 * late:.0f}% of peak",
                 5 <= t_pk <= 10 and d14 <= 0.8 * d7 and 0.3 <= late <= 0.6)


def _perm_peak(r: Runs) -> Check:
    m = r.moderate
    t, v = m.peak("bscb_permeability", start=0.25)
    return Check(f"highest at day {t:.1f} ({v:.2f}x intact)", 0.5 <= t <= 3)


def _perm_resolution(r: Runs) -> Check:
    m = r.moderate
    _, pk = m.peak("bscb_permeability", start=0.25)
    e7, e14 = ((m.at("bscb_permeability", d) - 1) / (pk - 1) for d in (7, 14))
    return Check(f"excess at day 7 = {100 * e7:.0f}%, day 14 = {100 * e14:.0f}% of the peak "
                 "excess", e7 <= 0.5 and e14 <= 0.25)


def _perm_plateau(r: Runs) -> Check:
    m = r.moderate
    _, pk = m.peak("bscb_permeability", start=0.25)
    late = float(np.mean(m["bscb_permeability"][m.time >= 28]) - 1) / (pk - 1)
    return Check(f"days 28-70 = {100 * late:.0f}% of the peak excess", 0.1 <= late <= 0.2)


def _perm_incomplete(r: Runs) -> Check:
    v = float(r.moderate["bscb_permeability"][-1])
    return Check(f"{v:.2f}x intact at day 70", v > 1.05)


def _perm_immediate(r: Runs) -> Check:
    v0 = float(r.moderate["bscb_permeability"][0])
    v1 = r.moderate.at("bscb_permeability", 1)
    return Check(f"{v0:.2f}x at injury, {v1:.2f}x at day 1", v0 > 1.3 and v1 > 1.3)


def _bbb_day1(r: Runs) -> Check:
    vals = {s: r[s].at("bbb_score", 1) for s in SEVERITIES if s != "none"}
    return Check(", ".join(f"{s} {v:.1f}" for s, v in vals.items()),
                 all(v <= 2.5 for v in vals.values()))


def _bbb_order(r: Runs) -> Check:
    vals = [float(r[s]["bbb_score"][-1]) for s in ("mild", "moderate", "severe")]
    return Check("mild {:.1f} > moderate {:.1f} > severe {:.1f}".format(*vals),
                 vals[0] > vals[1] > vals[2])


def _bbb_plateau(r: Runs) -> Check:
    m = r.moderate
    change = float(m["bbb_score"][-1]) - m.at("bbb_score", 49)
    return Check(f"change day 49-70 = {change:+.2f} points", abs(change) < 1.5)


def _late_settling(r: Runs) -> Check:
    m = r.moderate
    changes = {name: abs(m.at(name, 70) / m.at(name, 56) - 1)
               for name in ("bbb_score", "spared_tissue_fraction")}
    return Check("; ".join(f"{n} {100 * c:.1f}%" for n, c in changes.items()),
                 max(changes.values()) < 0.03)


def _sparing_severity(r: Runs) -> Check:
    sev = ("mild", "moderate", "severe")
    # white matter: the spared, conducting axons at the epicentre (Basso 1996 measured %WM)
    spared = [float(r[s]["axons_spared"][-1]) for s in sev]
    bbb = [float(r[s]["bbb_score"][-1]) for s in sev]
    same_order = np.array_equal(np.argsort(spared), np.argsort(bbb))
    return Check("spared axons {:.2f} > {:.2f} > {:.2f}; BBB follows: {}".format(*spared,
                                                                            same_order),
                 spared[0] > spared[1] > spared[2] and same_order)


def _cytokine_onset(r: Runs) -> Check:
    m = r.moderate
    ok = []
    txt = []
    for name in ("tnf", "il1b"):
        _, pk = m.peak(name)
        f = m.at(name, 1 / 24) / pk
        ok.append(f > 0.05)
        txt.append(f"{name} at 1 h = {100 * f:.0f}% of peak")
    return Check("; ".join(txt), all(ok))


def _proinflammatory_acute(r: Runs) -> Check:
    m = r.moderate
    t_tnf, pk = m.peak("tnf")
    t_il10, _ = m.peak("il10")
    late = m.at("tnf", 28) / pk
    return Check(f"TNF peak day {t_tnf:.2f}, IL-10 peak day {t_il10:.1f}, TNF day 28 = "
                 f"{100 * late:.0f}% of peak", t_tnf < t_il10 and late < 0.5)


def _cytokine_course(r: Runs) -> Check:
    m = r.moderate
    shares = {}
    for name in ("tnf", "il1b"):
        t_pk, pk = m.peak(name)
        shares[name] = (24 * t_pk, *(m.at(name, d) / pk for d in (1, 3, 7, 21)))
    tnf, il1b = shares["tnf"], shares["il1b"]
    ok = (all(1 <= s_[0] <= 8 for s_ in shares.values())
          and all(0.1 <= s_[1] <= 0.5 for s_ in shares.values())
          and all(0.05 <= s_[2] <= 0.2 for s_ in shares.values())
          and il1b[3] >= 0.05 and all(s_[4] <= 0.1 for s_ in shares.values()))
    return Check("; ".join(f"{n}: peak {s_[0]:.0f} h, day 1/3/7/21 = "
                           f"{100 * s_[1]:.0f}/{100 * s_[2]:.0f}/{100 * s_[3]:.0f}/"
                           f"{100 * s_[4]:.0f}% of peak" for n, s_ in shares.items()), ok)


BBB_6WK = {"mild": (15, 18), "moderate": (10, 13), "severe": (4, 8)}  # spec 1 presets


def _bbb_presets(r: Runs) -> Check:
    vals = {s: r[s].at("bbb_score", 42) for s in BBB_6WK}
    return Check(", ".join(f"{s} {v:.1f}" for s, v in vals.items()),
                 all(lo <= vals[s] <= hi for s, (lo, hi) in BBB_6WK.items()))


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


CLAIMS: tuple[Claim, ...] = (
    Claim("neutrophil_peak", "Neutrophils surge over the first 24-48 h, then decline",
          "R[28,29]; Carlson1998 (rat T10 contusion, MPO peak 24 h)", "peak 12-48 h",
          _neutrophil_peak),
    Claim("neutrophil_decline", "Neutrophils decline gradually over the next 7-10 days",
          "Hellenbrand2021 (R[29]) Fig 4", "day 10 < 35% of peak", _neutrophil_decline),
    Claim("neutrophil_share_12h", "Neutrophils are >90% of infiltrating cells at 12 h",
          "Stirling & Yong 2008; Pineau 2010 (secondary)", "> 90%", _neutrophil_share),
    Claim("microglia_hours", "Microglia shift from surveillant to activated within hours",
          "R[10,28]", "> 25% activated at 6 h", _microglia_hours),
    Claim("macrophage_dominance", "Macrophages outnumber neutrophils by day 3-7 and dominate after",
          "R[28]; spec 2", "cross by day 7, dominate after", _macrophage_dominance),
    Claim("microglia_then_macrophages", "Microglia are the main phagocytes at 3 d; infiltrating "
          "macrophages dominate thereafter", "Greenhalgh & David 2014 (mouse)",
          "microglia > macrophages day 3; reverse day 14", _microglia_then_macrophages),
    Claim("macrophages_first_weeks", "Phagocytic macrophages are maximal within 4 weeks, then "
          "decline but persist", "Kwiecien2020 (rat, 16 w)",
          "peak <= day 28; day 70 10-90% of peak",
          _macrophages_first_weeks),
    Claim("m2_minority_macrophages", "The M2-like share of macrophages is a transient "
          "minority: at most 0.5, highest at days 3-7, at most 0.3 after day 14",
          "Kigerl2009 (R[86]: 'smaller and transient'); spec 2", "max <= 0.5 at days 3-7; "
          "<= 0.3 after day 14", _m2_minority(_macrophage_m2)),
    Claim("m2_minority_myeloid", "The M2-like share of lesion myeloid cells (microglia and "
          "macrophages) is a transient minority", "R[30]; Kigerl2009; spec 2",
          "max <= 0.5 at days 3-7; <= 0.3 after day 14", _m2_minority(_myeloid_m2)),
    Claim("m1_activity_course", "Absolute M1-like activity peaks at days 5-10, is >= 20% lower "
          "at day 14 than at day 7 and stays at 30-60% of its peak", "Kisucka 2021; Popovich "
          "1997; spec 2", "peak day 5-10; day 14 <= 0.8 x day 7; days 28-70 30-60% of peak",
          _m1_course),
    Claim("myeloid_death", "Myeloid cells die by NLRP3 pyroptosis and apoptosis",
          "R[66,73,74]; spec 2", "both fluxes > 0", _myeloid_death),
    Claim("bscb_immediate", "The BSCB is disrupted at once (hemorrhage) and leaky at day 1",
          "R[20]; Tatar 2009 (mouse DCE-MRI, day 1)", "> 1.3x at 0 h and day 1", _perm_immediate),
    Claim("bscb_peak", "BSCB leak is largest at days 0.5-3", "Popovich 1996 (R[36]); Noble & "
          "Wrathall 1989; Bilgen 2002; Zhao 2006; Tatar 2009; spec 4", "highest at day 0.5-3",
          _perm_peak),
    Claim("bscb_resolution", "Most of the leak resolves within two weeks", "spec 4 (rat tracer "
          "studies)", "excess day 7 <= 50%, day 14 <= 25% of the peak excess",
          _perm_resolution),
    Claim("bscb_plateau", "A low leak plateau persists to day 70", "spec 4; R[2]",
          "days 28-70 at 10-20% of the peak excess", _perm_plateau),
    Claim("bscb_incomplete", "Recovery of the BSCB is incomplete beyond 10 weeks", "R[2], Fig. 1D",
          "> 1.05x intact at day 70", _perm_incomplete),
    Claim("cytokine_onset", "IL-1beta and TNF-alpha are expressed within the first hour",
          "Pineau & Lacroix 2007 (mouse)", "> 5% of peak at 1 h", _cytokine_onset),
    Claim("proinflammatory_acute", "TNF-alpha high acutely then falls; anti-inflammatory "
          "cytokines rise later", "Kwiecien2020 (rat)", "TNF peak before IL-10 peak; day 28 < 50%",
          _proinflammatory_acute),
    Claim("cytokine_course", "Lesion TNF-alpha and IL-1beta protein peak at 1-8 h, are 10-50% "
          "of peak at day 1 and 5-20% at day 3, IL-1beta >= 5% at day 7, near sham by day 21",
          "Wang 1996; Wang 1997; Lee 2000; spec 3", "as stated (day 21 <= 10%)",
          _cytokine_course),
    Claim("bbb_presets", "BBB at 6 weeks by preset: mild 15-18, moderate 10-13, severe 4-8",
          "spec 1 (MASCIS/NYU; Basso1996)", "in range", _bbb_presets),
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
    Claim("bbb_day1", "BBB score is near 0-2 on day 1 after contusion", "Basso1995",
          "<= 2.5 for every injury", _bbb_day1),
    Claim("bbb_order", "BBB plateau is ordered by severity", "Basso1996",
          "mild > moderate > severe", _bbb_order),
    Claim("bbb_plateau", "Locomotor recovery plateaus by 6-9 weeks", "Basso1995",
          "|change day 49-70| < 1.5", _bbb_plateau),
    Claim("late_settling", "Late readouts settle (BBB, spared tissue)", "spec 7b; Basso1995",
          "BBB and spared tissue change < 3% from day 56 to 70", _late_settling),
    Claim("sparing_bbb", "White matter sparing falls with severity and BBB follows sparing",
          "Basso1996", "same order", _sparing_severity),
    Claim("compression", "A compression injury impairs locomotion more than a mild contusion",
          "spec 1 presets; Kisucka 2021 (compression)", "0 < compression < mild", _compression),
    Claim("sham_homeostasis", "Without injury every variable stays at homeostasis for 70 days",
          "spec invariant", "relative drift < 1e-6", _sham),
    Claim("non_negative", "No state becomes negative", "spec invariant", "min > -1e-6",
          _nonnegative),
)

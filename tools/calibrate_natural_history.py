"""Calibrate the untreated model to the spec's 'must show' behaviours (CMA-ES, log space).

This is how the 'fitted' values in parameter_sets/rat.toml were obtained. It is a
developer tool, not part of the package or of CI: it needs the optional ``cma`` package.

    .venv/bin/pip install cma
    .venv/bin/python tools/calibrate_natural_history.py --minutes 10 [--write]

The objective is a sum of squared, normalized violations of the acceptance targets
(neutrophil peak 12-48 h, macrophage dominance by day 3-7, transient M2 then M1 bias,
biphasic BSCB permeability, BBB plateau by severity); ``cordsim validate`` checks the
same behaviours with hard pass/fail thresholds.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import cordsim  # noqa: E402

FREE = [
    "k_neutrophil_influx", "d_neutrophils", "ec50_damps_neutrophil", "k_monocyte_influx",
    "km_macrophage_crowding", "d_macrophages", "k_monocyte_differentiation",
    "ec50_tnf_monocyte", "ec50_il1b_monocyte", "ec50_damps_monocyte", "s_tnf_m1", "s_il1b_m1",
    "f_nfkb_tonic", "w_myelin_tlr4", "ec50_load_tlr4", "ec50_load_nlrp3", "w_m1_myelin",
    "ec50_load_m1", "w_m2_efferocytosis", "w_m2_il10", "w_m2_tgfb", "w_m1_tnf",
    "k_junction_cytokine", "k_junction_protease", "k_junction_repair", "k_angiogenesis",
    "k_vessel_maturation", "k_leak_vessels", "k_leak_junctions", "s_mmp2_macrophage",
    "s_mmp2_astrocyte", "k_myelin_phagocytosis", "d_myelin_processing", "k_wallerian",
    "f_axons_primary", "k_axon_secondary", "ec50_function_substrate", "f_seal_max",
    "ec50_microglia_seal", "k_pericyte_repair", "k_pericyte_loss", "k_microglia_proliferation",
    "microglia_capacity", "d_microglia_deactivation", "k_macrophage_switch", "w_m1_damps",
    "w_m2_basal", "k_efferocytosis", "s_tgfb_m2", "s_il10_m2", "k_neuron_cytokine",
    "k_oligo_cytokine", "k_regrowth", "ec50_damps_microglia", "d_damps", "k_damps_neural",
    "ec50_il1b_neutrophil", "k_microglia_activation", "ec50_il10_m2", "ec50_tgfb_m2",
    "w_m1_basal", "d_microglia_excess", "d_myelin_processing", "f_microglia_myelin",
    "k_pyroptosis", "k_damps_myeloid", "ec50_damps_nlrp3", "k_scar_angiogenesis",
    "k_fibrotic", "k_fibroblast", "d_fibroblasts", "ec50_tgfb_fibroblast",
    "ec50_macrophages_fibroblast", "d_fibrotic",
]


def _hinge(x: float, lo: float, hi: float, scale: float) -> float:
    if x < lo:
        return ((lo - x) / scale) ** 2
    if x > hi:
        return ((x - hi) / scale) ** 2
    return 0.0


def objective_terms(params: cordsim.ParameterSet) -> dict[str, float]:
    """Penalty terms (0 when a target is met)."""
    terms: dict[str, float] = {}
    runs = {}
    for sev in ("mild", "moderate", "severe"):
        res = cordsim.Simulation(parameters=params, injury=sev).run(days=70, throw=False)
        if not res.ok or not all(np.all(np.isfinite(v)) for v in res.data.values()):
            return {"failed": 1e6}
        runs[sev] = res
    r = runs["moderate"]
    tn, npk = r.peak("neutrophils")
    terms["neutrophil_peak_time"] = _hinge(tn, 0.5, 1.5, 0.25)
    terms["neutrophil_decline"] = (_hinge(r.at("neutrophils", 7) / npk, 0, 0.3, 0.1)
                                   + _hinge(r.at("neutrophils", 14) / npk, 0, 0.1, 0.05)
                                   + _hinge(float(r["neutrophils"][-1]) / npk, 0, 0.1, 0.05))
    dens = params["microglia_density"]
    terms["microglia_hours"] = _hinge(r.at("microglia_activated", 0.25) / dens, 0.3, 99, 0.1)
    mac, neu = r["macrophages"], r["neutrophils"]
    terms["mac_dominance"] = (_hinge(r.at("macrophages", 4) / max(r.at("neutrophils", 4), 1), 1.2,
                                     1e9, 0.3)
                              + _hinge(float(np.min((mac / np.maximum(neu, 1))[r.time >= 7])),
                                       3, 1e9, 1.0))
    m2 = r["m2_fraction_macrophages"]
    early = float(np.max(m2[(r.time >= 1) & (r.time <= 10)]))
    late = float(np.mean(m2[r.time >= 28]))
    terms["m2_transient"] = _hinge(early, 0.5, 1, 0.05) + _hinge(late, 0, 0.3, 0.05)
    terms["m2_microglia"] = 0.3 * _hinge(float(np.mean(r["m2_fraction_microglia"][r.time >= 28])),
                                         0, 0.35, 0.05)
    perm = r["bscb_permeability"]
    tpk, ppk = r.peak("bscb_permeability")
    tdip, pdip = r.trough("bscb_permeability", start=14, end=42)
    t2, p2 = r.peak("bscb_permeability", start=28, end=56)
    excess = ppk - 1
    terms["perm_peak"] = _hinge(tpk, 7, 14, 1.5)
    terms["perm_dip"] = _hinge(tdip, 21, 35, 2) + _hinge((ppk - pdip) / excess, 0.15, 1, 0.05)
    terms["perm_second"] = (_hinge(t2, 36, 49, 2) + _hinge((p2 - pdip) / excess, 0.1, 1, 0.03)
                            + _hinge((ppk - p2) / excess, 0.05, 1, 0.03))
    terms["perm_end"] = _hinge(float(perm[-1]) - 1, 0.2 * excess, 0.8 * excess, 0.1 * excess)
    terms["perm_excess"] = _hinge(excess, 1.0, 4.0, 0.5)
    for sev, (lo, hi) in {"mild": (13.5, 16.5), "moderate": (9.5, 11.5), "severe": (5.5, 7.5)}.items():
        rr = runs[sev]
        terms[f"bbb_{sev}"] = (_hinge(float(rr["bbb_score"][-1]), lo, hi, 0.5)
                               + _hinge(rr.at("bbb_score", 1), 0, 2, 0.5)
                               + _hinge(abs(float(rr["bbb_score"][-1]) - rr.at("bbb_score", 56)),
                                        0, 1.0, 0.3))
    terms["neutrophil_magnitude"] = _hinge(math.log10(npk), math.log10(3e3), math.log10(3e4),
                                           0.1)
    share = r.at("neutrophils", 0.5) / (r.at("neutrophils", 0.5) + r.at("macrophages", 0.5)
                                        + r.at("monocytes", 0.5))
    terms["neutrophil_share"] = _hinge(share, 0.92, 1, 0.02)
    terms["microglia_then_macrophages"] = (
        _hinge(r.at("microglia_activated", 3) / r.at("macrophages", 3), 1.1, 1e9, 0.1)
        + _hinge(r.at("macrophages", 14) / r.at("microglia_activated", 14), 1.2, 1e9, 0.1))
    tmac, macpk = r.peak("macrophages")
    terms["macrophage_course"] = (_hinge(tmac, 0, 28, 2)
                                  + _hinge(float(mac[-1]) / macpk, 0.15, 0.85, 0.05))
    terms["junctions_floor"] = (_hinge(float(np.min(r["tight_junctions"])), 0.15, 1, 0.03)
                                + _hinge(float(np.min(r["pericytes"])), 0.2, 1, 0.03))
    ttnf, tnfpk = r.peak("tnf")
    terms["tnf_late"] = _hinge(r.at("tnf", 28) / tnfpk, 0, 0.45, 0.05)
    terms["tnf_acute"] = _hinge(ttnf, 0, 1.0, 0.25) + _hinge(r.at("tnf", 14) / tnfpk, 0, 0.5, 0.1)
    til1b, il1bpk = r.peak("il1b")
    terms["il1b_acute"] = _hinge(til1b, 0, 1.5, 0.25) + _hinge(r.at("il1b", 14) / il1bpk, 0, 0.6,
                                                               0.1)
    terms["il10_late"] = _hinge(r.peak("il10")[0] - ttnf, 1.0, 1e9, 0.5)
    # R[1,19-26]: secondary injury goes on for weeks (axonal loss after the first week)
    terms["secondary_weeks"] = _hinge(r.at("axons_spared", 7) - r.at("axons_spared", 42),
                                      0.06, 1, 0.02)
    return terms


def _loss(x: np.ndarray) -> float:
    base = cordsim.default_parameters()
    values = {}
    for name, xi in zip(FREE, x, strict=True):
        lo, hi = base.records[name].bounds
        values[name] = 10 ** float(np.clip(xi, math.log10(lo), math.log10(hi)))
    try:
        terms = objective_terms(base.replace(values))
    except Exception:  # noqa: BLE001 - a failed candidate is just a bad one
        return 1e6
    return float(sum(terms.values()))


def write_values(values: dict[str, float]) -> None:
    """Write fitted values into rat.toml in place."""
    from cordsim.analysis.calibration import write_parameter_set

    path = ROOT / "src" / "cordsim" / "data" / "parameter_sets" / "rat.toml"
    write_parameter_set(values, path, path, note="fitted by tools/calibrate_natural_history.py")


def main() -> None:
    import warnings

    import cma

    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--sigma", type=float, default=0.3)
    args = ap.parse_args()
    base = cordsim.default_parameters()
    x0 = [math.log10(base[n]) for n in FREE]
    start = _loss(np.array(x0))
    print("start loss", start)
    print({k: round(v, 3) for k, v in objective_terms(base).items() if v})
    es = cma.CMAEvolutionStrategy(x0, args.sigma, {"seed": 1, "verbose": -9})
    t_end = time.time() + 60 * args.minutes
    best = (start, x0)  # never return something worse than the start
    with Pool(2) as pool:
        while time.time() < t_end and not es.stop():
            xs = es.ask()
            fs = pool.map(_loss, xs)
            es.tell(xs, fs)
            i = int(np.argmin(fs))
            if fs[i] < best[0]:
                best = (fs[i], xs[i])
                print(f"{time.strftime('%H:%M:%S')} best {best[0]:.4f}", flush=True)
            if best[0] < 1e-3:
                break
    values = {}
    for name, xi in zip(FREE, best[1], strict=True):
        lo, hi = base.records[name].bounds
        values[name] = 10 ** float(np.clip(xi, math.log10(lo), math.log10(hi)))
    fitted = base.replace(values)
    print({k: round(v, 4) for k, v in objective_terms(fitted).items() if v})
    print({k: float(f"{v:.4g}") for k, v in values.items()})
    if args.write:
        write_values(values)


if __name__ == "__main__":
    main()

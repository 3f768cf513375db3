"""The start of the calibration: natural-history values that meet the spec's must-show lines.

``cordsim calibrate`` fits the model to the rat dataset by one likelihood; its priors are
centred on the values this tool finds. It moves the natural-history parameters listed in a
file (one name per line) by least squares on the spec targets of
:mod:`cordsim.evaluation.targets` (zero inside each range), plus one line the calibration
cannot evaluate cheaply: barrier repair carries a visible share of the fractionated sEV arm's
BBB gain (spec 4). Severity presets are moved too (``sev_mild``, ``sev_severe``: the
injury_severity of those presets). A developer tool, not part of the package or of CI::

    .venv/bin/python tools/natural_history_start.py NAMES.txt --minutes 20 [--write]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import cordsim  # noqa: E402
from cordsim.evaluation.targets import TARGETS, run_conditions  # noqa: E402

BARRIER_SHARE_MIN = 0.10  # of the fractionated arm's BBB gain at day 42
PRESETS = {"sev_mild": "mild", "sev_severe": "severe"}


def residuals(values: dict[str, float]) -> np.ndarray:
    values = dict(values)
    sev = {PRESETS[k]: {"injury_severity": values.pop(k)} for k in list(values) if k in PRESETS}
    series = run_conditions([values], condition_values=sev)[0]
    res = [t.residual(series) for t in TARGETS]
    knocked = run_conditions([{**values, "w_program_barrier": 0.0, "f_program_mmp": 0.0}],
                             ["moderate", "fractionated_d7"])[0]
    gain = series.at("fractionated_d7", "bbb_score", 42) - series.at("moderate", "bbb_score", 42)
    gain_off = (knocked.at("fractionated_d7", "bbb_score", 42)
                - knocked.at("moderate", "bbb_score", 42))
    share = 1 - gain_off / gain if gain > 1e-6 else 0.0
    res.append(max(0.0, BARRIER_SHARE_MIN - share) / 0.02)
    r = np.array(res, dtype=float)
    r[~np.isfinite(r)] = 1e3
    return r


def main() -> None:
    from scipy.optimize import least_squares

    ap = argparse.ArgumentParser()
    ap.add_argument("names")
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--out", default="natural_history_start.json")
    ap.add_argument("--write", action="store_true", help="write the values into rat.toml and "
                    "the presets into injury_presets.toml")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    names = [ln.split()[0] for ln in Path(args.names).read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    ps = cordsim.default_parameters()
    presets = cordsim.data.injury_presets()
    bounds, start = {}, {}
    for n in names:
        if n in PRESETS:
            start[n] = float(presets[PRESETS[n]]["injury_severity"])
            bounds[n] = (0.15, 0.45) if n == "sev_mild" else (0.55, 0.95)
        else:
            start[n], bounds[n] = ps[n], ps.records[n].bounds
    lo = np.log10([max(bounds[n][0], start[n] * 1e-3) for n in names])
    hi = np.log10([bounds[n][1] for n in names])
    x0 = np.clip(np.log10([start[n] for n in names]), lo + 1e-9, hi - 1e-9)
    t0, best = time.time(), [math.inf, x0]

    def f(x: np.ndarray) -> np.ndarray:
        r = residuals({n: 10 ** v for n, v in zip(names, x, strict=True)})
        cost = float(r @ r)
        if cost < best[0]:
            best[0], best[1] = cost, x.copy()
            Path(args.out).write_text(json.dumps({n: 10 ** v for n, v in zip(
                names, x, strict=True)}, indent=1))
        if time.time() - t0 > 60 * args.minutes:
            raise TimeoutError
        return r

    try:
        least_squares(f, x0, bounds=(lo, hi), diff_step=1e-3)
    except TimeoutError:
        pass
    values = {n: 10 ** v for n, v in zip(names, best[1], strict=True)}
    print(f"cost {best[0]:.4g}; still outside: "
          f"{[t.name for t, r in zip(TARGETS, residuals(values)) if r]}")
    if args.write:
        from cordsim.analysis.calibration import write_parameter_set
        from cordsim.data import data_path

        write_parameter_set({k: v for k, v in values.items() if k not in PRESETS},
                            data_path("parameter_sets", "rat.toml"),
                            data_path("parameter_sets", "rat.toml"),
                            note="start of the calibration: tools/natural_history_start.py",
                            evidence=None)
        text = data_path("injury_presets.toml").read_text()
        for key, preset in PRESETS.items():
            if key in values:
                old = f"injury_severity = {presets[preset]['injury_severity']}"
                text = text.replace(old, f"injury_severity = {values[key]:.3f}", 1)
        data_path("injury_presets.toml").write_text(text)


if __name__ == "__main__":
    main()

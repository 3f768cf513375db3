"""Command line: ``cordsim run``, ``experiment``, ``cohort``, ``export``, ``products``,
``params``, ``validate``, ``serve`` (the web app).

``main(argv)`` returns an exit code, so it can be tested without a subprocess:

====  =================================================================================
code  meaning
====  =================================================================================
0     done
1     a check failed (``validate``, ``experiment run``) or an export has libsbml errors
2     bad input: the message names the argument, key or value and what is allowed;
      nothing was computed and no output folder was left behind
3     the solver failed: the message names the arm, the day and the states; every result
      computed before the failure was written
====  =================================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from pathlib import Path

from cordsim._version import __version__
from cordsim.errors import CordsimError, ScenarioError, SimulationError
from cordsim.io.outputs import output_file, output_folder, published

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_SOLVER_FAILED = 0, 1, 2, 3


def _print_written(paths: list[Path]) -> None:
    print("wrote: " + ", ".join(str(p) for p in paths))


def _natural_history_outputs(result, out: Path,  # type: ignore[no-untyped-def]
                             formats: tuple[str, ...] = ("png",)) -> list[Path]:
    from cordsim.io.plotting import natural_history_figure, outcomes_figure, save_figure
    from cordsim.io.writers import write_result

    written = write_result(result, out)
    if result.time.size > 1:
        written += save_figure(natural_history_figure(result), out / "fig_natural_history.png",
                               formats)
        written += save_figure(outcomes_figure({result.provenance.injury_severity_preset:
                                                result}), out / "fig_outcomes.png", formats)
    return written


def _cmd_run(args: argparse.Namespace) -> int:
    from cordsim.io.plotting import figure_formats

    args.format = figure_formats(args.format)  # refuse a bad format before any work
    posterior = None
    if args.parameters is not None:
        from cordsim.run.ensemble import Posterior

        posterior = Posterior.load(args.parameters)  # refused before any work
    if args.ensemble is not None:
        from cordsim.data import ensemble_members

        members = posterior.members if posterior else ensemble_members
        if args.ensemble < 0:
            raise ScenarioError(f"--ensemble must be 0 (no ensemble) or a number of members "
                                f"from 1 to {len(members())}, got {args.ensemble}")
        if args.ensemble:
            members(args.ensemble)  # refuse a bad size before any work
    if args.scenario != "natural-history":
        return _run_scenario_file(args, posterior)
    from cordsim.io.writers import remove_stale_outputs
    from cordsim.run.simulation import Simulation, _check_days

    from cordsim.design.scenario import Arm, Scenario
    from cordsim.io.writers import RUN_OUTPUTS
    from cordsim.run.resources import check_run

    args.severity = args.severity or "moderate"
    args.days = 70.0 if args.days is None else args.days
    args.dt = 0.5 if args.dt is None else args.dt
    args.species = args.species or "rat"
    _check_days(args.days, args.dt)
    sim = Simulation(injury=args.severity, species=args.species,
                     parameters=posterior.parameters if posterior else None)
    one = Scenario("natural-history", (Arm(sim.injury.severity),), injury=sim.injury,
                   days=float(args.days), dt=float(args.dt))
    check_run(one, args.ensemble or 0)  # memory, before any work
    with output_folder(args.out, command="run", known=RUN_OUTPUTS) as out:
        try:
            result, code = sim.run(days=args.days, dt=args.dt), EXIT_OK
        except SimulationError as exc:
            result, code = exc.partial, EXIT_SOLVER_FAILED
            print(f"cordsim: solver failure: {exc}", file=sys.stderr)
        written = _natural_history_outputs(result, out, args.format)
        if args.ensemble:
            from cordsim.io.scenario_outputs import write_ensemble

            written += write_ensemble(one, args.ensemble, out, args.format,
                                      target=args.predict, posterior=posterior)[2]
        remove_stale_outputs(out, written)  # an earlier run's files in this folder
        if args.report:
            written.append(_report(out, out / "report.html", label=args.out))
    written = published(written, out, args.out)
    if args.json:
        import json

        print(json.dumps({"injury": sim.injury.description, "days": args.days,
                          "species": args.species,
                          "summary": json.loads(result.summary().to_json(orient="records")),
                          "written": [str(p) for p in written]}, indent=1))
        return code
    print(f"{sim.injury.description}, {args.days:g} days, species {args.species}")
    print(result.summary().query("metric.str.startswith('bbb_day') or "
                                 "metric.str.startswith('bscb_permeability_peak') or "
                                 "metric.str.startswith('neutrophil_peak')",
                                 engine="python").to_string(index=False))
    _print_written(written)
    return code


def _report(run_dir: Path, out: Path, *, validation: bool = True, label: str | None = None
            ) -> Path:
    """The report of ``run_dir``; ``label``: the run being written (``cordsim run --report``:
    ``run_dir`` is its temporary folder, not yet published with a manifest)."""
    from cordsim.data import default_parameters
    from cordsim.io.report import check_run_folder, write_report

    if label is None:
        check_run_folder(run_dir)  # a folder of one whole run, before the validation
    table = None
    if validation:
        from cordsim.evaluation.validate import validate

        table = validate()
    return write_report(run_dir, out, validation=table, parameters=default_parameters("rat"),
                        label=label)


def _cmd_report(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.is_dir() or not str(args.out).strip():
        raise ScenarioError(f"--out must be an HTML file, got {args.out!r}")
    if not out.parent.exists():
        raise ScenarioError(f"folder {str(out.parent)!r} does not exist")
    from cordsim.io.report import check_run_folder, folder_command, write_folder_report

    folder = Path(args.run_dir)
    command = folder_command(folder) if folder.is_dir() else None
    if command not in (None, "run", "experiment"):  # a cohort, scan, ... folder
        with output_file(out) as tmp:
            write_folder_report(folder, tmp)
        print(f"wrote {out} (one self-contained HTML file)")
        return EXIT_OK
    check_run_folder(args.run_dir)  # every check before the (seconds-long) validation
    with output_file(out) as tmp:
        _report(Path(args.run_dir), tmp, validation=not args.no_validation)
    print(f"wrote {out} (one self-contained HTML file)")
    return EXIT_OK


def _print_endpoints(res) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    with pd.option_context("display.width", 250, "display.max_columns", 20,
                           "display.float_format", "{:.3g}".format):
        print(res.endpoints().T.to_string())


def _print_headline(path: Path) -> None:
    """The headline endpoints of a run (``endpoints.csv``), transposed: median and band."""
    import pandas as pd

    df = pd.read_csv(path, index_col="arm")
    point = str(df.pop("point").iloc[0])
    with pd.option_context("display.width", 250, "display.max_columns", 20,
                           "display.float_format", "{:.3g}".format):
        print(f"endpoints: {point}")
        print(df.T.to_string())


def _scenario_overrides(scenario, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """``scenario`` with the ``--severity``, ``--days`` and ``--dt`` the user gave (each says
    what it changed), checked before any work; ``--species`` must be the scenario's own."""
    from dataclasses import replace

    from cordsim.run.simulation import Simulation, _check_days

    changed = []
    if args.species is not None and args.species != scenario.species:
        raise ScenarioError(f"--species {args.species!r}: scenario {scenario.name!r} is a "
                            f"{scenario.species} scenario (set 'species' in the scenario file)")
    days = scenario.days if args.days is None else args.days
    dt = scenario.dt if args.dt is None else args.dt
    _check_days(days, dt)
    if args.days is not None:
        changed.append(f"days {scenario.days:g} -> {days:g} (--days)")
    if args.dt is not None:
        changed.append(f"dt {scenario.dt:g} -> {dt:g} (--dt)")
    injury = scenario.injury
    if args.severity is not None:
        own = [a.name for a in scenario.arms if a.injury is not None]
        if own:
            raise ScenarioError(f"--severity: arm(s) {own} of scenario {scenario.name!r} set "
                                "their own injury; change it in the scenario file")
        injury = Simulation(injury=args.severity).injury
        changed.append(f"injury {scenario.injury.severity} -> {injury.severity} "
                       "(--severity)")
    for arm in scenario.arms:
        for dose in arm.protocol.doses:
            try:
                dose.check_within(days)
            except ScenarioError as exc:
                raise ScenarioError(f"--days {days:g}, arm {arm.name!r}: {exc}") from None
    return replace(scenario, days=float(days), dt=float(dt), injury=injury), changed


def _run_scenario_file(args: argparse.Namespace, posterior: object = None) -> int:
    from cordsim.design.scenario import load_scenario
    from cordsim.io.scenario_outputs import check_scenario_run, run_and_write
    from cordsim.io.writers import RUN_OUTPUTS

    scenario, changed = _scenario_overrides(load_scenario(args.scenario), args)
    check_scenario_run(scenario, args.ensemble)  # memory, before any work
    with output_folder(args.out, command="run", known=RUN_OUTPUTS) as out:
        # the same code path as the web app (cordsim serve): same numbers, same files
        res, written, failure = run_and_write(scenario, out, progress=not args.quiet,
                                              ensemble=args.ensemble, formats=args.format,
                                              point=args.point, target=args.predict,
                                              posterior=posterior)
        code = EXIT_OK
        if failure is not None:
            code = EXIT_SOLVER_FAILED
            print(f"cordsim: solver failure: {failure}", file=sys.stderr)
        if args.report:
            written.append(_report(out, out / "report.html", label=args.out))
    written = published(written, out, args.out)
    if args.json:
        import json

        import pandas as pd

        table = pd.read_csv(Path(args.out) / "endpoints.csv")
        print(json.dumps({"scenario": scenario.name, "changed": changed,
                          "endpoints": json.loads(table.to_json(orient="records")),
                          "written": [str(p) for p in written]}, indent=1))
        return code
    print(f"{scenario.name}: {scenario.description}")
    if changed:
        print("changed from the scenario file: " + "; ".join(changed))
    _print_headline(Path(args.out) / "endpoints.csv")
    _print_written(written)
    return code


def _cmd_experiment(args: argparse.Namespace) -> int:
    from cordsim.evaluation.experiments import experiment_names, experiments, run_experiment

    if args.action == "list":
        for exp in experiments().values():
            print(f"{exp.name:22s} {exp.claim} [{exp.source}]")
        print(f"{'uptake-assay':22s} In-vitro uptake: M0/M1/M2 x pH 7.4/6 x debris [R[6,11]]")
        return EXIT_OK
    if not args.name:
        raise ScenarioError("experiment run needs a NAME (see 'cordsim experiment list')")
    if args.name not in experiment_names():
        run_experiment(args.name)  # raises the error naming the allowed experiments
    folder = args.out if args.out is not None else f"results/experiments/{args.name}"
    from cordsim.io.writers import RUN_OUTPUTS

    # an empty --out is refused, not the default; a folder written before manifests existed
    # (its own output names only) is replaced
    with output_folder(folder, command="experiment",
                       known=(*RUN_OUTPUTS, "check.csv", "uptake_assay.csv")) as tmp:
        res, check = run_experiment(args.name, tmp, progress=True)
    out = Path(folder)
    if hasattr(res, "endpoints"):
        _print_endpoints(res)
    else:
        print(res.to_string(index=False))
    print(f"expected:  {check.expected}\nsimulated: {check.simulated}\n"
          f"result:    {'PASS' if check.passed else 'FAIL'}\nwrote into {out}")
    return EXIT_OK if check.passed else EXIT_CHECK_FAILED


def _export_omex(args: argparse.Namespace, out: Path) -> int:
    """``cordsim export omex SCENARIO --out FILE.omex``: every arm's SBML and SED-ML, the
    PEtab problem and the manifest in one COMBINE archive."""
    from cordsim.design.scenario import load_scenario
    from cordsim.io.omex import export_omex

    if not args.scenario:
        raise ScenarioError("export omex needs a SCENARIO (e.g. default)")
    if args.arm or args.severity is not None:
        raise ScenarioError("export omex writes every arm of the scenario as it is: no --arm "
                            "or --severity")
    scenario = load_scenario(args.scenario)
    with output_file(out) as tmp:
        names = export_omex(scenario, tmp)
    print(f"wrote {out} (COMBINE archive: {len(scenario.arms)} SBML models and SED-ML "
          f"simulations, {sum(n.startswith('petab/') for n in names)} PEtab files, "
          "manifest.xml)")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from cordsim.io.sbml import check_sbml, export_sbml
    from cordsim.run.scenarios import arm_simulation
    from cordsim.run.simulation import Simulation

    out = Path(args.out)
    if not args.out.strip() or out.is_dir() or args.out.endswith(("/", "\\")):
        raise ScenarioError(f"--out must name a file to write (e.g. model.xml), got "
                            f"{args.out!r}{' (an existing folder)' if out.is_dir() else ''}")
    if args.format == "omex":
        return _export_omex(args, out)
    if args.scenario:
        from cordsim.design.scenario import load_scenario

        if args.severity is not None:
            raise ScenarioError("--severity sets the injury of an export without a scenario; "
                                "a scenario's injury is in its file")

        scenario = load_scenario(args.scenario)
        arm = scenario.arm(args.arm) if args.arm else scenario.arms[0]
        sim = arm_simulation(scenario, arm)
    else:
        if args.arm:
            raise ScenarioError("--arm needs a SCENARIO")
        sim = Simulation(injury=args.severity or "moderate")
    text = export_sbml(sim)
    with output_file(out) as tmp:  # replaced in one rename; a symlink is not followed
        tmp.write_text(text)
    errors = check_sbml(text)
    print(f"wrote {out} (SBML L3V2, {len(sim.model.state_names)} rate rules, "
          f"{len(sim.protocol.doses)} dose line(s)); libsbml errors: {len(errors)}")
    for e in errors:
        print(f"  {e}", file=sys.stderr)
    return EXIT_CHECK_FAILED if errors else EXIT_OK


def _cmd_cohort(args: argparse.Namespace) -> int:
    import pandas as pd

    from cordsim.design.scenario import load_scenario
    from cordsim.run.cohort import (
        CohortSpec,
        check_scheduler,
        check_workers,
        run_cohort,
        summarize,
    )

    scenario = load_scenario(args.scenario)
    spec = CohortSpec(scenario=args.scenario, n=args.n, seed=args.seed, cv=args.cv,
                      severity_sd=args.severity_sd, rater_sd=args.rater_sd, chunk=args.chunk,
                      endpoints=tuple(args.endpoint or ()))
    check_workers(args.workers)
    check_scheduler(args.scheduler)
    # resumable: written in place (a rerun resumes), locked against a second command
    with output_folder(args.out, command="cohort", resume=True) as out:
        run_cohort(spec, out, workers=args.workers, scheduler=args.scheduler, progress=True)
        pct, tri, failed = summarize(out, scenario, spec)
    out = Path(args.out)
    if len(failed):
        print(f"cordsim: {len(failed)} animal(s) failed to simulate and are left out of the "
              f"percentiles and the trial; failed_animals.csv names them with the solver's "
              f"message (first: {failed['error'].iloc[0]})", file=sys.stderr)
        lost = [arm for arm, k in failed.groupby("arm", sort=False).size().items()
                if k >= args.n]
        if lost:
            print(f"cordsim: every animal of arm(s) {', '.join(map(repr, lost))} failed: "
                  f"nothing to summarize for them (the animals that ran are kept in {out})",
                  file=sys.stderr)
            return EXIT_SOLVER_FAILED
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.3g}".format):
        med = pct.xs(0.5, level="quantile")
        print(f"{scenario.name}: {args.n} animals per arm; medians:")
        print(med.to_string())
        if tri is not None:
            print("\nvirtual trial (bbb_observed: observed BBB at the last day):")
            print(tri[["arm", "endpoint", "difference", "ci_low", "ci_high", "cohens_d",
                       "n_per_arm_for_power"]].to_string(index=False))
            pred = tri.dropna(subset=["assurance"]) if "assurance" in tri else tri.iloc[:0]
            if len(pred):
                print("\nnext study (posterior predictive of the BBB gain, a new study's "
                      "effect and severity drawn):")
                print(pred[["arm", "gain_median", "gain_q05", "gain_q95", "sd_between_animals",
                            "power_at_median", "assurance", "n_per_arm_80_power_at_median",
                            "n_per_arm_80_assurance"]].to_string(index=False))
    print(f"wrote {out}/animals/*.parquet, percentiles.csv"
          + (", trial.csv" if tri is not None else "")
          + (", failed_animals.csv" if len(failed) else ""))
    return EXIT_OK


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    import json

    from cordsim.analysis.sensitivity import (
        arm_index,
        effects_over_time,
        factors_of,
        model_evaluator,
        run_sensitivity,
    )
    from cordsim.design.scenario import load_scenario
    from cordsim.io.plotting import plot_effects_over_time, plot_sensitivity
    from cordsim.run.cohort import check_scheduler, check_workers
    from cordsim.run.endpoints import Endpoint, parse_endpoints
    from cordsim.run.scenarios import arm_simulation

    scenario = load_scenario(args.scenario)
    arm = scenario.arms[arm_index(scenario, args.arm)]
    endpoints = parse_endpoints(args.endpoint or [f"bbb_score@{scenario.days:g}"])
    sim = arm_simulation(scenario, arm)
    readouts = [*sim.model.output_names, *sim.model.state_names]
    for ep in endpoints:
        ep.check(readouts, scenario.days)
    fold = None if args.fold == "bounds" else _number(args.fold, "--fold")
    factors = factors_of(sim.parameters, sim.model, names=args.param, fold=fold)
    check_workers(args.workers)
    check_scheduler(args.scheduler)
    evaluate = model_evaluator(args.scenario, arm.name, [e.text for e in endpoints],
                               effect=args.effect, workers=args.workers,
                               scheduler=args.scheduler, progress=not args.quiet)
    what = f"{arm.name} minus {scenario.arms[0].name}" if args.effect else arm.name
    with output_folder(args.out, command="sensitivity", resume=True) as out:  # resumable
        n = args.n if args.n is not None else (10 if args.method == "morris" else 256)
        result = run_sensitivity(args.method, factors, evaluate, n=n, out=out,
                                 seed=args.seed, keep=args.keep)
        (out / "figures").mkdir(exist_ok=True)
        written = [out / args.method / "indices.csv"]
        for res in filter(None, (result.screening, result)):
            written.append(plot_sensitivity(
                res.tables, res.method, out / "figures" / f"{res.method}.png",
                title=f"{res.method} sensitivity of {what} ({scenario.name}), "
                      f"{res.summary['runs']} parameter sets"))
        first = Endpoint.parse(next(iter(result.tables)))
        top = result.tables[first.text]["parameter"].head(3).tolist()
        by_name = {f.name: f for f in result.factors}
        curves = effects_over_time(args.scenario, arm.name, first.readout,
                                   [by_name[n] for n in top], effect=args.effect)
        written.append(plot_effects_over_time(
            curves, first.readout, out / "figures" / "top_parameters_over_time.png",
            title=f"{first.readout} of {what}: top {args.method} parameters at their "
                  "low, middle and high values"))
    for endpoint, table in result.tables.items():
        info = result.summary["endpoints"][endpoint]
        cols = ["parameter", "mu_star", "mu_star_conf"] if args.method == "morris" else \
            ["parameter", "S1", "S1_conf", "ST", "ST_conf"]
        print(f"{endpoint} ({what}); failed runs: {info['failed_runs']}")
        print(table[cols].head(10).to_string(index=False, float_format="{:.3g}".format))
        if args.method == "sobol":
            print(f"sum of first-order indices: {info['sum_S1']:.3f} "
                  f"(+/- {info['sum_S1_conf']:.3f})")
    runs = result.summary["runs"] + (result.screening.summary["runs"] if result.screening
                                     else 0)
    print(f"{runs} parameter sets x {2 if args.effect else 1} arm(s); "
          f"summary: {json.dumps({k: result.summary[k] for k in ('runs', 'seconds')})}")
    _print_written(written)
    return EXIT_OK


def _cmd_scan(args: argparse.Namespace) -> int:
    import pandas as pd

    from cordsim.analysis.scan import parse_vary, scan
    from cordsim.io.plotting import plot_scan

    settings = dict(parse_vary(v) for v in args.vary)
    if len(settings) != len(args.vary):
        raise ScenarioError("--vary: each setting once")
    with output_folder(args.out, command="scan",
                       known=("scan.csv", "scan.nc", "figures")) as tmp:
        ds = scan(args.scenario, args.arm, settings, endpoint=args.endpoint, n=args.n,
                  seed=args.seed, threshold=args.threshold, progress=not args.quiet)
        table = ds.to_dataframe().reset_index()
        table.to_csv(tmp / "scan.csv", index=False, float_format="%.6g")
        ds.to_netcdf(tmp / "scan.nc")
        (tmp / "figures").mkdir(exist_ok=True)
        figs = [plot_scan(ds, tmp / "figures" / "scan_gain.png")]
    out = Path(args.out)
    figs = published(figs, tmp, out)
    with pd.option_context("display.width", 200, "display.max_columns", 12,
                           "display.float_format", "{:.3g}".format):
        print(f"{ds.attrs['endpoint']}: {ds.attrs['arm']} minus {ds.attrs['control']} "
              f"({ds.attrs['point']}; {ds.attrs['runs']} runs)")
        cols = [c for c in ("gain", "gain_q05", "gain_q95", "gain_ci_low", "gain_ci_high",
                            "p_gain", "failed") if c in table]
        print(table[[*settings, *cols]].to_string(index=False))
    _print_written([out / "scan.csv", out / "scan.nc", *figs])
    return EXIT_OK


def _cmd_optimize(args: argparse.Namespace) -> int:
    import pandas as pd

    from cordsim.analysis.optimize import Constraints, optimize_protocol
    from cordsim.design.dosing import parse_amount
    from cordsim.design.scenario import load_scenario
    from cordsim.io.plotting import plot_pareto

    scenario = load_scenario(args.scenario)
    arm = scenario.arm(args.arm)
    budget = None
    if args.total_dose is not None:
        if not arm.protocol.doses:
            raise ScenarioError(f"arm {arm.name!r} gives no product")
        try:
            budget = parse_amount(args.total_dose, arm.protocol.doses[0].product,
                                  scenario.species)
        except ScenarioError as exc:  # the amount is the budget of the whole protocol
            raise ScenarioError(f"--total-dose (the whole protocol's budget): {exc}") from None
    routes = None
    if args.routes is not None:
        routes = tuple(r.strip() for r in args.routes.split(",") if r.strip())
        if not routes:
            raise ScenarioError("--routes must name at least one route, e.g. iv,intrathecal")
    constraints = Constraints(total_dose=budget, max_injections=args.max_injections,
                              earliest=args.earliest, latest=args.latest,
                              infusion=not args.no_infusion, routes=routes)
    with output_folder(args.out, command="optimize",
                       known=("trials.csv", "pareto.csv", "summary.json", "figures")) as out:
        result = optimize_protocol(args.scenario, args.arm, constraints=constraints,
                                   objective=args.objective, threshold=args.threshold,
                                   endpoint=args.endpoint, n=args.n, trials=args.trials,
                                   seed=args.seed, progress=not args.quiet)
        written = result.write(out)
        (out / "figures").mkdir(exist_ok=True)
        written.append(plot_pareto(result.trials, result.pareto, result.summary,
                                   out / "figures" / "pareto.png"))
    written = published(written, out, args.out)
    s = result.summary
    own, best, diff = s["own"], s["best"], s["best_minus_own"]
    print(f"{s['endpoint']}, {s['arm']} minus {s['control']}, {s['point']}, "
          f"{s['trials']} trials ({s['runs']} runs), objective: {s['objective']}")

    def band(r: dict, sign: str = "") -> str:
        if "gain_q05" in r:
            return f"90% band {r['gain_q05']:{sign}.2f} to {r['gain_q95']:{sign}.2f}"
        return f"95% CI {r['gain_ci_low']:{sign}.2f} to {r['gain_ci_high']:{sign}.2f}"

    print(f"own protocol:  gain {own['gain']:.2f} ({band(own)}), total dose "
          f"{own['total_dose']:.3g} {s['dose_unit']}")
    print(f"best protocol: gain {best['gain']:.2f} ({band(best)}), total dose "
          f"{best['total_dose']:.3g} {s['dose_unit']}: {best['protocol']}")
    print(f"best minus own: {diff['gain']:+.2f} ({band(diff, '+')}), paired")
    with pd.option_context("display.width", 200, "display.float_format", "{:.3g}".format):
        cols = [c for c in ("total_dose", "gain", "route", "start", "count", "interval",
                            "duration") if c in result.pareto]
        print("dose-gain Pareto front:")
        print(result.pareto[cols].to_string(index=False))
    _print_written(written)
    return EXIT_OK


def _cmd_grafts(args: argparse.Namespace) -> int:
    import pandas as pd

    from cordsim.analysis.grafts import (
        graft_observations,
        model_at,
        residuals,
        survival_curves,
    )
    from cordsim.io.plotting import plot_graft_survival
    from cordsim.run.simulation import Simulation

    obs = graft_observations()
    days = sorted(obs["graft_day"].unique())
    with output_folder(args.out, command="grafts", known=("graft_*",)) as out:
        curves = pd.concat([survival_curves(days, route=r) for r in ("intralesional",
                                                                       "intrathecal")],
                           ignore_index=True)
        curves.to_csv(out / "graft_survival.csv", index=False, float_format="%.5g")
        lesion = curves[curves["route"] == "intralesional"]
        table = obs.assign(model=model_at(lesion, obs), log_residual=residuals(lesion, obs))
        table.to_csv(out / "graft_fit.csv", index=False, float_format="%.4g")
        lesion_cells = Simulation(injury="moderate").run(days=60.0, dt=0.25).to_dataframe()
        fig = plot_graft_survival(curves, obs, out / "graft_survival.png",
                                  milieu=lesion_cells)
    print("intralesional MSC grafts (1e6 cells), surviving fraction: model vs Nandoe Tewarie "
          "2009 ('upper': stated close to 0)")
    print(table[["graft_day", "days_after_graft", "kind", "value", "model"]].to_string(
        index=False, float_format="{:.3g}".format))
    _print_written(published([out / "graft_survival.csv", out / "graft_fit.csv", fig], out,
                             args.out))
    return EXIT_OK


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ScenarioError(f"{name} must be a number or 'bounds', got {text!r}") from None


def _cmd_petab(args: argparse.Namespace) -> int:
    from cordsim.io.petab import export_problem, lint

    with output_folder(args.out, command="petab export",
                       known=("model.xml", "*.tsv", "*.yaml")) as out:
        path = export_problem(out)
    path = published([path], out, args.out)[0]
    ok = lint(path)
    print(f"wrote {path} (PEtab v1: model.xml, conditions, observables, measurements, "
          f"parameters); petab linter: {'no errors' if ok else 'ERRORS (see above)'}")
    return EXIT_OK if ok else EXIT_CHECK_FAILED


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from cordsim.analysis.calibration import calibrate

    problem = Path(args.problem)
    if not problem.is_file():
        raise ScenarioError(f"no PEtab problem file {args.problem!r} (write one with "
                            "'cordsim petab export --out DIR')")
    for name, value, lo, hi in (("--starts", args.starts, 1, 1000),
                                ("--max-nfev", args.max_nfev, 1, 100_000),
                                ("--workers", args.workers, 1, 256),
                                ("--samples", args.samples, 0, 1_000_000),
                                ("--ensemble-steps", 10 if args.ensemble_steps is None
                                 else args.ensemble_steps, 10, 100_000),
                                ("--ensemble-draws", 200 if args.ensemble_draws is None
                                 else args.ensemble_draws, 200, 100_000)):
        if not lo <= value <= hi:
            raise ScenarioError(f"{name} must be an integer from {lo} to {hi}, got {value}")
    if args.start is not None and not Path(args.start).is_file():
        raise ScenarioError(f"no start file {args.start!r} (a calibration's estimates.csv)")
    with output_folder(args.out, command="calibrate",
                       known=("*.csv", "*.json", "rat.toml", "fig_*.png", "mcmc_*")) as tmp:
        result = calibrate(problem, tmp, n_starts=args.starts, seed=args.seed,
                           max_nfev=args.max_nfev, workers=args.workers, progress=True,
                           samples=args.samples, ensemble=args.ensemble,
                           ensemble_steps=args.ensemble_steps,
                           ensemble_draws=args.ensemble_draws,
                           spec_targets=not args.no_spec_targets, gradient=args.gradient,
                           start=args.start, ensemble_vary=args.ensemble_vary)
    out = args.out
    best = result.starts["objective"].iloc[0]
    print(f"{len(result.starts)} starts in {result.seconds:.0f} s; best objective {best:.4g}")
    for name, value in result.values.items():
        print(f"  {name:28s} {value:.4g}")
    print(f"wrote {out}: estimates.csv, fit.csv, starts.csv, rat.toml, samples.csv (ensemble), "
          "ensemble.json, summary.json, figures")
    return EXIT_OK


def _cmd_products(args: argparse.Namespace) -> int:
    from cordsim.data import products

    if args.check is not None:
        return _check_product_record(args.check)
    if args.json:
        import json

        print(json.dumps(products(), indent=1))
        return EXIT_OK
    for name, prod in products().items():
        extra = f", purity {prod['purity']}" if "purity" in prod else ""
        print(f"{name:14s} {prod['kind']:5s} routes {'/'.join(prod['routes'])}{extra}\n"
              f"{'':14s} {prod['description']} [{prod['source']}]")
        if prod["parameters"]:
            print(f"{'':14s} sets {prod['parameters']}")
    return EXIT_OK


def _check_product_record(path: str) -> int:
    """``cordsim products --check FILE``: every MISEV2023 item present or missing; exit 1
    when one is missing."""
    import textwrap

    from cordsim.design.products import check_record, load_record

    table = check_record(load_record(path))
    for section, part in table.groupby("section", sort=False):
        print(section)
        for r in part.itertuples(index=False):
            mark = "present" if r.present else "MISSING"
            print("  " + textwrap.shorten(f"{mark:8} {r.key}: {r.value}", width=116,
                                         placeholder="..."))
            if not r.present:
                print(textwrap.indent(textwrap.fill(r.item, 100), " " * 11))
    missing = int((~table["present"]).sum())
    print(f"{len(table) - missing} of {len(table)} MISEV2023 items present"
          + (f"; missing: {', '.join(table.loc[~table['present'], 'key'])}" if missing else ""))
    return EXIT_OK if not missing else EXIT_CHECK_FAILED


def _cmd_params(args: argparse.Namespace) -> int:
    import pandas as pd

    from cordsim.biology import CordModel
    from cordsim.data import default_parameters

    df = default_parameters(args.species).to_dataframe()
    roles = {name: p.role for name, p in CordModel().params.items()}
    df.insert(2, "role", df["parameterId"].map(roles))
    if args.csv and args.json:
        raise ScenarioError("--csv or --json, not both")
    if args.csv:
        df.to_csv(sys.stdout, index=False)
        return EXIT_OK
    if args.json:
        import json

        print(json.dumps(json.loads(df.to_json(orient="records")), indent=1))
        return EXIT_OK
    cols = ["parameterId", "nominalValue", "unit", "lowerBound", "upperBound", "role",
            "evidence", "source"]
    if args.wide:
        with pd.option_context("display.max_rows", None, "display.max_colwidth", 70,
                               "display.width", 250):
            print(df[cols].to_string(index=False))
    else:
        _print_params_narrow(df)
    counts = df["evidence"].value_counts().to_dict()
    print(f"\n{len(df)} parameters; evidence: {counts}")
    return EXIT_OK


PARAMS_WIDTH = 120  # columns of the default `cordsim params` table


def _print_params_narrow(df) -> None:  # type: ignore[no-untyped-def]
    """Name, value, unit, bounds, evidence and the source cut to fit :data:`PARAMS_WIDTH`
    columns (``--wide``: everything)."""
    import textwrap

    def short(text: object, width: int) -> str:
        return textwrap.shorten(str(text), width=width, placeholder="...") if width > 3 else ""

    head = f"{'parameter':30} {'value':>9} {'unit':14} {'bounds':19} {'evidence':10} source"
    print(head)
    for r in df.itertuples(index=False):
        bounds = f"{r.lowerBound:.3g}-{r.upperBound:.3g}"
        line = (f"{short(r.parameterId, 30):30} {r.nominalValue:>9.3g} {short(r.unit, 14):14} "
                f"{short(bounds, 19):19} {short(r.evidence, 10):10} ")
        print(line + short(r.source, PARAMS_WIDTH - len(line)))


def _cmd_data(args: argparse.Namespace) -> int:
    from cordsim.data import dataset, is_quantitative, studies

    if args.studies:
        table = studies()
        if args.set:
            table = table[table["set"] == args.set]
        if args.csv:
            table.to_csv(sys.stdout, index=False)
        else:
            print(table[["study", "design", "species", "set", "device"]].to_string(
                index=False, max_colwidth=50))
        return EXIT_OK
    df = dataset()
    if args.set:
        df = df[df["set"] == args.set]
    if args.species:
        df = df[df["species"] == args.species]
    if args.csv:
        df.to_csv(sys.stdout, index=False)
        return EXIT_OK
    quant = df[[is_quantitative(r) for _, r in df.iterrows()]]
    print(df[["obs_id", "study", "set", "condition", "observable", "time_day", "value",
              "unit", "kind", "use"]].to_string(index=False, max_colwidth=28))
    print(f"\n{len(df)} rows from {df['study'].nunique()} studies; quantitative "
          f"{len(quant)} rows from {quant['study'].nunique()} studies (with a spread "
          f"{int((quant['spread_type'] != 'none').sum())}, with n "
          f"{int((quant['n'] != '').sum())}); checks by kind: "
          f"{df[df['kind'] != 'quantitative']['kind'].value_counts().to_dict()}; by set: "
          f"{df['set'].value_counts().to_dict()}; fitted rows: "
          f"{int(((df['use'] == 'fit') & (df['set'] == 'calibration')).sum())}")
    return EXIT_OK


def _cmd_docs(args: argparse.Namespace) -> int:
    from cordsim.io.docs import write_docs

    # in place (its own check refuses a folder of someone else's MkDocs project), locked
    with output_folder(args.out, command="docs", resume=True) as out:
        res = write_docs(out, species=args.species, build=not args.no_build)
    pages = [p for p in res.pages if p.suffix == ".md"]
    print(f"wrote {out / 'mkdocs.yml'} and {len(pages)} pages in {out / 'docs'}")
    print(f"built {res.site / 'index.html'} (mkdocs build --strict)" if res.site else
          f"not built; build with: python -m mkdocs build --strict -f {out / 'mkdocs.yml'}")
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace) -> int:
    from cordsim.io.docs import explain

    print(explain(args.name, species=args.species))
    if args.name == "bbb_score":
        from cordsim.analysis.attribution import attribution_text, program_attribution

        print()
        print(attribution_text(program_attribution()))
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    import pandas as pd

    from cordsim.data import ensemble_members
    from cordsim.evaluation.validate import validate, validate_ensemble

    # every option checked, and the output folders made, before the (seconds-long) validation
    if args.ensemble < 0:
        raise ScenarioError(f"--ensemble must be 0 (none) or a number of members, got "
                            f"{args.ensemble}")
    if args.ensemble:
        ensemble_members(args.ensemble)  # refuses more members than ship
    csv = None
    if args.csv is not None:
        csv = Path(args.csv)
        if not args.csv.strip() or csv.is_dir():
            raise ScenarioError(f"--csv must name a file, got {args.csv!r}")
    if args.predictive:
        if args.ensemble or args.out is not None:
            raise ScenarioError("--predictive takes --csv (and --quiet) only, not --ensemble "
                                "or --out")
        return _validate_predictive(csv, quiet=args.quiet)
    with contextlib.ExitStack() as folders:
        csv_tmp = folders.enter_context(output_file(csv)) if csv is not None else None
        out = folders.enter_context(output_folder(args.out, command="validate",
                                                 known=("validation.csv",))) \
            if args.out is not None else None
        table = validate(progress=not args.quiet)
        counts = None
        if args.ensemble:
            rate, counts = validate_ensemble(args.ensemble, progress=not args.quiet)
            table["ensemble_pass"] = rate.to_numpy()
        if csv_tmp is not None:
            table.to_csv(csv_tmp, index=False)
        if out is not None:
            table.to_csv(out / "validation.csv", index=False)
    with pd.option_context("display.max_colwidth", 60, "display.width", 250,
                           "display.max_rows", None):
        shown = table.assign(result=table["pass"].map({True: "PASS", False: "FAIL"}))
        print(shown[["set", "claim", "source", "expected", "simulated", "result"]]
              .to_string(index=False))
    for name, part in table.groupby("set", sort=False):
        n_pass = int(part["pass"].sum())
        print(f"{name}: {n_pass} of {len(part)} pass ({100 * n_pass / len(part):.0f}%)")
    if counts is not None:
        print(f"over {len(counts)} members of the posterior ensemble (passes per member: "
              "mean, 5-95%):")
        for name in counts.columns:
            n_rows = int((table["set"] == name).sum())
            lo, hi = counts[name].quantile([0.05, 0.95])
            print(f"  {name}: {counts[name].mean():.1f} of {n_rows} ({lo:.0f}-{hi:.0f}); "
                  f"rows failing for every member: "
                  f"{int(((table['set'] == name) & (table['ensemble_pass'] == 0)).sum())}")
    # The claims, experiments and invariants are what the model is built to: one failing is a
    # regression. Observations (of either set) are data, some of them in conflict with each
    # other: they are reported, not enforced.
    built_to = table[(table["set"] == "calibration") & (table["kind"] != "observation")]
    return EXIT_CHECK_FAILED if not built_to["pass"].all() else EXIT_OK


def _validate_predictive(csv: Path | None, *, quiet: bool) -> int:
    """``cordsim validate --predictive``: the held-out rows predicted; exit 1 when the
    coverage of the 90% intervals is outside 80-97%, the median BBB interval is wider than 5
    points, or a null predicts the held-out rows better."""
    import pandas as pd

    from cordsim.evaluation.predictive import COVERAGE_RANGE, predictive_validation

    with contextlib.ExitStack() as files:
        tmp = files.enter_context(output_file(csv)) if csv is not None else None
        table, summary = predictive_validation(progress=not quiet)
        if tmp is not None:
            table.to_csv(tmp, index=False, float_format="%.6g")
    with pd.option_context("display.width", 250, "display.max_rows", None,
                           "display.float_format", "{:.3g}".format):
        print(table[["obs_id", "study", "observable", "condition", "time_day", "observed",
                     "lo90", "hi90", "inside", "lpd", "lpd_no_therapy", "lpd_empirical"]]
              .to_string(index=False))
    lo, hi = COVERAGE_RANGE
    lpd = summary["lpd"]
    bbb = table.loc[table["observable"].str.contains("bbb"), "width"]
    width = float(bbb.median()) if len(bbb) else float("nan")
    print(f"held-out rows: {summary['rows']} from {summary['studies']} studies; coverage of "
          f"the 90% intervals {summary['coverage']:.0%} (aim {lo:.0%}-{hi:.0%}); median "
          f"width of the BBB intervals {width:.2f} points (aim <= 5)")
    print("median 90% interval width per observable: " + ", ".join(
        f"{k} {v:.3g}" for k, v in summary["median_width"].items()))
    print(f"log predictive density over the {summary['compared_rows']} rows all three "
          f"predict: cordsim {lpd['cordsim']:.2f}, no therapy {lpd['no_therapy']:.2f}, "
          f"empirical {lpd['empirical']:.2f}")
    passed = (lo <= summary["coverage"] <= hi and width <= 5
              and lpd["cordsim"] > max(lpd["no_therapy"], lpd["empirical"]))
    if csv is not None:
        print(f"wrote {csv}")
    return EXIT_OK if passed else EXIT_CHECK_FAILED


def _cmd_serve(args: argparse.Namespace) -> int:
    from cordsim._optional import require

    require("fastapi", "the web app (cordsim serve)")
    require("uvicorn", "the web app (cordsim serve)")
    from cordsim.app.server import serve

    return serve(args.host, args.port)


class _Version(argparse.Action):
    """``--version``: the package version and ``git describe`` of the source tree (computed
    only when asked)."""

    def __init__(self, option_strings, dest, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        from cordsim.io.outputs import git_describe

        print(f"cordsim {__version__} (git {git_describe()})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from cordsim.data import SPECIES, injury_presets
    from cordsim.io.scenario_outputs import DEFAULT_ENSEMBLE

    parser = argparse.ArgumentParser(prog="cordsim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_Version,
                        help="cordsim's version and the git commit it runs from")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario and write tables and figures")
    run.add_argument("scenario", help="natural-history, a scenario file (TOML) or a built-in "
                     "scenario name (default)")
    run.add_argument("--species", default=None, help=f"species ({', '.join(SPECIES)}); a "
                     "scenario's own species only")
    run.add_argument("--severity", default=None,
                     help=f"injury preset ({', '.join(injury_presets())}); natural-history: "
                     "default moderate; a scenario: replaces its injury")
    run.add_argument("--days", type=float, default=None,
                     help="days to simulate (natural-history: default 70; a scenario: "
                     "replaces its days)")
    run.add_argument("--dt", type=float, default=None,
                     help="output interval in days (natural-history: default 0.5; a "
                     "scenario: replaces its dt)")
    run.add_argument("--out", default="results/natural-history", help="output folder")
    run.add_argument("--ensemble", type=int, default=None, metavar="N",
                     help="run N members of the fitted ensemble: the posterior predictive "
                     "median and 90%% band (endpoints.csv, ensemble.csv, fig_ensemble, the "
                     f"lines and bands of fig_comparison); default {DEFAULT_ENSEMBLE} for a "
                     "scenario, none for natural-history; 0: none (the mode only)")
    run.add_argument("--point", choices=("median", "mode"), default="median",
                     help="what endpoints.csv, the table and the figures' lines report: the "
                     "posterior predictive median with its 90%% band (default), or the best "
                     "fit (mode: a diagnostic, not a forecast)")
    run.add_argument("--predict", choices=("known-severity", "new-study"),
                     default="known-severity",
                     help="the predictive target: a study of the scenario's injury "
                     "(default), or a new study (its injury severity drawn too)")
    run.add_argument("--parameters", default=None, metavar="DIR",
                     help="a folder written by 'cordsim calibrate' (rat.toml, samples.csv): "
                     "run on its fit and ensemble instead of the shipped ones")
    run.add_argument("--format", action="append", default=None, metavar="FMT",
                     help="figure format: png, svg or pdf, repeated or comma-separated "
                     "(--format png,svg,pdf); every figure is written in each (default png)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true",
                     help="print the endpoints (natural-history: the summary) and the "
                     "files written as JSON instead of a table")
    run.add_argument("--report", action="store_true",
                     help="also write report.html (self-contained, with validation status)")
    run.set_defaults(func=_cmd_run)

    rep = sub.add_parser("report", help="one self-contained HTML file from a run, cohort, "
                         "scan, optimize, sensitivity or calibrate folder")
    rep.add_argument("run_dir", help="folder written by 'cordsim run' (or cohort, scan, "
                     "optimize, sensitivity, calibrate)")
    rep.add_argument("--out", required=True, help="HTML file to write")
    rep.add_argument("--no-validation", action="store_true",
                     help="leave out the validation status (saves ~5 s)")
    rep.set_defaults(func=_cmd_report)

    exp = sub.add_parser("experiment", help="the review's experiments: list, run NAME")
    exp.add_argument("action", choices=("list", "run"))
    exp.add_argument("name", nargs="?", help="experiment name (see list)")
    exp.add_argument("--out", default=None, help="output folder (results/experiments/NAME)")
    exp.set_defaults(func=_cmd_experiment)

    exp_ = sub.add_parser("export", help="export the model as SBML (doses as events), or a "
                          "scenario as a COMBINE archive (SBML, SED-ML, PEtab)")
    exp_.add_argument("format", choices=("sbml", "omex"))
    exp_.add_argument("scenario", nargs="?", help="scenario file or built-in name (default: "
                      "untreated natural history)")
    exp_.add_argument("--arm", default=None, help="arm of the scenario (default: the first)")
    exp_.add_argument("--severity", default=None,
                      help="injury without a scenario (default moderate)")
    exp_.add_argument("--out", required=True, help="file to write (model.xml, scenario.omex)")
    exp_.set_defaults(func=_cmd_export)

    coh = sub.add_parser("cohort", help="virtual cohort and trial of a scenario (resumable)")
    coh.add_argument("scenario", help="scenario file or built-in name")
    coh.add_argument("--n", type=int, required=True, help="animals per arm (1-1,000,000)")
    coh.add_argument("--out", required=True, help="output folder (rerun to resume)")
    coh.add_argument("--seed", type=int, default=1, help="random seed (>= 0)")
    coh.add_argument("--cv", type=float, default=None,
                     help="physiological parameter CV (log-normal, 0-1; default: fitted)")
    coh.add_argument("--severity-sd", type=float, default=None,
                     help="injury severity SD (0-0.3 on the 0-1 scale; default: fitted)")
    coh.add_argument("--rater-sd", type=float, default=None,
                     help="BBB observer SD (points; default: Basso 1996)")
    coh.add_argument("--chunk", type=int, default=50, help="animals per Parquet chunk")
    coh.add_argument("--endpoint", action="append", default=None, metavar="READOUT@WHEN",
                     help="extra endpoint, repeatable: READOUT@DAY (bbb_score@21), "
                          "READOUT@peak, @tpeak, @auc or @auc:FROM-TO; each gets a column "
                          "and a trial row")
    coh.add_argument("--workers", type=int, default=None, help="local processes (default: "
                     "all cores)")
    coh.add_argument("--scheduler", default=None,
                     help="Dask: 'local' for a LocalCluster or a scheduler address tcp://...")
    coh.set_defaults(func=_cmd_cohort)

    sen = sub.add_parser("sensitivity", help="global sensitivity (SALib Morris / Sobol) of "
                         "endpoints of one arm or of its treatment effect")
    sen.add_argument("scenario", help="scenario file or built-in name")
    sen.add_argument("--method", choices=("morris", "sobol"), default="morris")
    sen.add_argument("--n", type=int, default=None,
                     help="Morris trajectories (default 10) or Sobol base samples, a power of "
                          "2 (default 256)")
    sen.add_argument("--arm", default=None, help="arm (default: the last arm)")
    sen.add_argument("--effect", action="store_true",
                     help="analyze the treatment effect: the arm minus the first arm")
    sen.add_argument("--endpoint", action="append", default=None, metavar="READOUT@WHEN",
                     help="endpoint, repeatable (default: bbb_score at the last day)")
    sen.add_argument("--param", action="append", default=None, metavar="NAME",
                     help="parameter to vary, repeatable (default: every parameter that "
                          "varies between animals)")
    sen.add_argument("--fold", default="2", help="vary each parameter over value x/÷ FOLD "
                     "within its bounds (default 2), or 'bounds' for its whole plausible range")
    sen.add_argument("--keep", type=int, default=12,
                     help="Sobol: parameters kept from Morris screening (default 12)")
    sen.add_argument("--seed", type=int, default=1, help="seed of the design (1)")
    sen.add_argument("--out", required=True, help="output folder (rerun to resume)")
    sen.add_argument("--workers", type=int, default=None, help="local processes (all cores)")
    sen.add_argument("--scheduler", default=None,
                     help="'local' (Dask LocalCluster) or a Dask scheduler address")
    sen.add_argument("--quiet", action="store_true", help="no progress bar")
    sen.set_defaults(func=_cmd_sensitivity)

    sca = sub.add_parser("scan", help="an endpoint over a grid of dose, timing, "
                         "fractionation, route or product of one arm")
    sca.add_argument("scenario", help="scenario file or built-in name")
    sca.add_argument("--arm", required=True, help="the treated arm whose protocol is varied")
    sca.add_argument("--vary", action="append", required=True, metavar="SETTING=VALUES",
                     help="repeatable: dose=1e9..1e12:log:7 (in the arm's dose unit), "
                          "start=0..28:8, count=1,3,5, interval=1,2, duration=0,1,3, "
                          "route=iv,intrathecal, product=sev_naive,sev_hypoxia")
    sca.add_argument("--endpoint", default=None, metavar="READOUT@WHEN",
                     help="endpoint (default: bbb_score at the last day)")
    sca.add_argument("--n", type=int, default=None,
                     help="virtual animals per grid point at the best fit (default: the "
                     "posterior predictive over 50 members of the fitted ensemble)")
    sca.add_argument("--seed", type=int, default=1, help="seed of the animals (1)")
    sca.add_argument("--threshold", type=float, default=1.0,
                     help="gain counted in p_gain, endpoint units (default 1 BBB point)")
    sca.add_argument("--out", required=True, help="output folder")
    sca.add_argument("--quiet", action="store_true", help="no progress bar")
    sca.set_defaults(func=_cmd_scan)

    opt = sub.add_parser("optimize", help="search the dose, timing, fractionation, infusion "
                         "and route of one arm (Optuna TPE) within constraints")
    opt.add_argument("scenario", help="scenario file or built-in name")
    opt.add_argument("--arm", required=True, help="the treated arm to optimise")
    opt.add_argument("--objective", choices=("mean", "probability"), default="mean",
                     help="mean gain over the cohort, or the share of animals gaining at "
                          "least --threshold")
    opt.add_argument("--threshold", type=float, default=1.0,
                     help="gain that counts for --objective probability (1 BBB point)")
    opt.add_argument("--endpoint", default=None, metavar="READOUT@WHEN",
                     help="endpoint (default: bbb_score at the last day)")
    opt.add_argument("--total-dose", default=None,
                     help="largest total dose with a unit, e.g. '7.2e10 particle', '100 ug', "
                          "'1e6 cell' (default: the arm's own total)")
    opt.add_argument("--max-injections", type=int, default=5, help="(5)")
    opt.add_argument("--earliest", type=float, default=0.0, help="first allowed day (0)")
    opt.add_argument("--latest", type=float, default=None,
                     help="last allowed start day (default 28)")
    opt.add_argument("--routes", default=None,
                     help="allowed routes, comma-separated (default: the arm's own route)")
    opt.add_argument("--no-infusion", action="store_true", help="injections only")
    opt.add_argument("--n", type=int, default=None,
                     help="virtual animals per protocol at the best fit (default: the "
                     "posterior predictive over 50 members of the fitted ensemble)")
    opt.add_argument("--trials", type=int, default=60, help="protocols tried (60)")
    opt.add_argument("--seed", type=int, default=1, help="seed of animals and search (1)")
    opt.add_argument("--out", required=True, help="output folder")
    opt.add_argument("--quiet", action="store_true", help="no progress bar")
    opt.set_defaults(func=_cmd_optimize)

    gra = sub.add_parser("grafts", help="MSC graft survival after intralesional and "
                         "intrathecal grafts against the published counts")
    gra.add_argument("--out", required=True, help="output folder")
    gra.set_defaults(func=_cmd_grafts)

    pet = sub.add_parser("petab", help="the calibration problem as PEtab v1 files")
    pet.add_argument("action", choices=("export",))
    pet.add_argument("--out", required=True, help="output folder")
    pet.set_defaults(func=_cmd_petab)

    cal = sub.add_parser("calibrate", help="fit a PEtab problem on cordsim's model "
                         "(multi-start, pyPESTO)")
    cal.add_argument("problem", help="PEtab problem YAML (e.g. from 'cordsim petab export')")
    cal.add_argument("--out", required=True, help="output folder")
    cal.add_argument("--starts", type=int, default=8, help="optimizer starts (8)")
    cal.add_argument("--seed", type=int, default=0, help="seed of the random starts (0)")
    cal.add_argument("--max-nfev", type=int, default=100,
                     help="residual evaluations per start (100)")
    cal.add_argument("--workers", type=int, default=1, help="processes for the starts (1)")
    cal.add_argument("--samples", type=int, default=0,
                     help="also run an adaptive-Metropolis chain of this length (0: none)")
    cal.add_argument("--ensemble", choices=["laplace", "emcee"], default="laplace",
                     help="how the 200-member ensemble is drawn: importance-resampled "
                     "draws of a widened Laplace approximation (laplace, minutes) or emcee's "
                     "ensemble sampler (emcee, hours on the shipped problem)")
    cal.add_argument("--gradient", choices=("exact", "fd"), default="exact",
                     help="the optimizer's Jacobian: exact (forward sensitivities, default) "
                     "or fd (forward differences)")
    cal.add_argument("--ensemble-steps", type=int, default=None,
                     help="emcee steps per walker (default 10000)")
    cal.add_argument("--ensemble-draws", type=int, default=None,
                     help="Laplace draws to resample the ensemble from (default 2000)")
    cal.add_argument("--no-spec-targets", action="store_true",
                     help="fit the data and priors alone, without the spec's must-show lines "
                     "(evaluation.targets) as constraints")
    cal.add_argument("--ensemble-vary", choices=("therapy", "all"), default="therapy",
                     help="what the Laplace ensemble varies: the therapy's parameters, the "
                     "natural history at its fit (therapy, default), or every estimated one")
    cal.add_argument("--start", metavar="ESTIMATES_CSV", default=None,
                     help="first start from a previous fit's estimates.csv (to refine or "
                     "resume a fit; the other starts stay random)")
    cal.set_defaults(func=_cmd_calibrate)

    prod = sub.add_parser("products", help="list therapy products, routes and cargo; check "
                          "a product record against MISEV2023")
    prod.add_argument("--check", default=None, metavar="FILE",
                      help="a product record (TOML, like data/product_records/"
                      "example_bm_msc_sev.toml): report each MISEV2023 item present or "
                      "missing (exit 1 when one is missing)")
    prod.add_argument("--json", action="store_true", help="the products as JSON")
    prod.set_defaults(func=_cmd_products)

    params = sub.add_parser("params", help="list every parameter with unit, bounds and source")
    params.add_argument("--species", default="rat")
    params.add_argument("--csv", action="store_true", help="write CSV to standard output")
    params.add_argument("--json", action="store_true",
                        help="write JSON (one object per parameter) to standard output")
    params.add_argument("--wide", action="store_true",
                        help="every column in full (default: fits 120 columns)")
    params.set_defaults(func=_cmd_params)

    dat = sub.add_parser("data", help="the literature dataset: every number and check with "
                         "its study, set, assay, spread, n, unit and address")
    dat.add_argument("--csv", action="store_true", help="write the whole table as CSV to "
                     "standard output")
    dat.add_argument("--studies", action="store_true", help="one row per study or pooled "
                     "source (with its set) instead of one per number")
    dat.add_argument("--set", choices=["calibration", "validation"], default=None,
                     help="only this set")
    dat.add_argument("--species", default=None, help="only this species' rows (rat, mouse)")
    dat.set_defaults(func=_cmd_data)

    doc = sub.add_parser("docs", help="model documentation from the model: a MkDocs site with "
                         "states, rate laws (LaTeX), parameters and the mechanism graph")
    doc.add_argument("--out", required=True, help="folder for mkdocs.yml, docs/ and site/")
    doc.add_argument("--species", default="rat", help="parameter set shown (rat)")
    doc.add_argument("--no-build", action="store_true", help="write the Markdown sources "
                     "only; by default 'mkdocs build --strict' builds DIR/site")
    doc.set_defaults(func=_cmd_docs)

    expl = sub.add_parser("explain", help="where a state, parameter or output comes from, "
                          "what it drives, and its path from a dose to the BBB score")
    expl.add_argument("name", help="a state, parameter or output (see 'cordsim docs')")
    expl.add_argument("--species", default="rat", help="parameter set shown (rat)")
    expl.set_defaults(func=_cmd_explain)

    val = sub.add_parser("validate", help="check the model against the literature "
                         "(calibration and validation sets)")
    val.add_argument("--csv", default=None, help="write the table (one row per claim or "
                     "observation) to this CSV file")
    val.add_argument("--out", default=None, help="also write validation.csv into this folder")
    val.add_argument("--quiet", action="store_true", help="no progress bar")
    val.add_argument("--ensemble", type=int, default=0, metavar="N",
                     help="also validate N members of the posterior ensemble: each row's "
                     "pass rate (column ensemble_pass) and the passes per member (0: none)")
    val.add_argument("--predictive", action="store_true",
                     help="validation by prediction instead: every numeric row of the "
                     "held-out studies as a 90%% interval and a log predictive density, "
                     "against two nulls (no therapy; an empirical model); --csv gets one row "
                     "per held-out number")
    val.set_defaults(func=_cmd_validate)

    srv = sub.add_parser("serve", help="local web app: build, run and compare scenarios in "
                         "the browser (needs the 'app' extra)")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    srv.add_argument("--port", type=int, default=8000, help="port (8000)")
    srv.set_defaults(func=_cmd_serve)
    return parser


MAX_SEED = 2**32 - 1  # numpy's legacy seeding (Optuna) takes at most 32 bits


def _check_common_options(args: argparse.Namespace) -> None:
    """Options several commands share, checked before any work: a seed numpy accepts, a
    finite threshold (NaN made every probability 0 and a 'best' protocol worse than the
    arm's own)."""
    seed = getattr(args, "seed", None)
    largest = 2**63 - 1 if args.command == "cohort" else MAX_SEED
    if seed is not None and not 0 <= seed <= largest:
        raise ScenarioError(f"--seed must be an integer from 0 to {largest:,}, got {seed}")
    threshold = getattr(args, "threshold", None)
    if threshold is not None and not math.isfinite(threshold):
        raise ScenarioError(f"--threshold must be a finite number (a gain in the endpoint's "
                            f"units), got {threshold}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cordsim`` command; returns the exit code (see the module
    docstring)."""
    import warnings

    args = build_parser().parse_args(argv)

    shown: list[str] = []

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        text = str(message)
        # the run repeats what loading the scenario said with its place ("scenario 'x': arm
        # 'y': ..."): say it once
        if not any(earlier.endswith(text) for earlier in shown):
            shown.append(text)
            print(f"cordsim: warning: {text}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", UserWarning)  # shown once each, never raised
            warnings.showwarning = show
            _check_common_options(args)
            return int(args.func(args))
    except SimulationError as exc:
        print(f"cordsim: solver failure: {exc}", file=sys.stderr)
        return EXIT_SOLVER_FAILED
    except CordsimError as exc:
        print(f"cordsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader stopped early (`cordsim params | head`): not an error
        with contextlib.suppress(OSError):  # keep Python's exit flush from failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

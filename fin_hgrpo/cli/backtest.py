"""``fin-hgrpo backtest``, ``sweep`` and ``report``: walk-forward runs and their pages."""

from __future__ import annotations

import argparse

from fin_hgrpo.cli.options import Options, executor, seed_list


def register(commands, options: Options) -> None:
    backtest = commands.add_parser("backtest",
                                   parents=[options.common, options.scaling, options.board],
                                   help="walk-forward backtest of strategies and agents")
    backtest.add_argument("spec", help="backtest spec, e.g. backtests/default.toml")
    backtest.add_argument("--quick", action="store_true",
                          help="fewer folds and training steps (the spec's [quick] table)")
    backtest.add_argument("--no-tearsheets", action="store_true",
                          help="skip the quantstats tearsheets")
    backtest.add_argument("--seeds", type=seed_list,
                          help="the agents' seeds instead of the spec's: 0-4 or 0,3,7")
    backtest.add_argument("--universes", type=int, metavar="N",
                          help="run on N random universes of the env's tickers and report "
                               "the distribution across them (the spec's [universes])")
    backtest.add_argument("--size", type=int, metavar="K",
                          help="tickers in each random universe (default: the spec's, 10)")
    backtest.set_defaults(run=run_backtest)

    sweep = commands.add_parser("sweep", parents=[options.common, options.scaling,
                                                  options.board],
                                help="an Optuna study (TPE, CMA-ES, random or grid) over an "
                                     "agent's hyperparameters, pruned and resumable")
    sweep.add_argument("spec", help="sweep spec, e.g. backtests/sweep_hgrpo.toml")
    sweep.add_argument("--storage", help="the study's database, any URL Optuna takes (e.g. "
                                         "postgresql://user@host/db) for several machines "
                                         "on one study (default: OUT/study.log)")
    sweep.add_argument("--study", help="the study's name in the storage (default: the "
                                       "spec's name)")
    sweep.set_defaults(run=run_sweep)

    report = commands.add_parser("report", parents=[options.common],
                                 help="rebuild a backtest's report.html from its CSVs")
    report.add_argument("folder", help="a backtest result folder")
    report.add_argument("--tearsheets", action="store_true",
                        help="rebuild the quantstats tearsheets and risk reports too")
    report.set_defaults(run=rebuild_report)


def run_backtest(args: argparse.Namespace) -> int:
    from fin_hgrpo.backtest import BacktestSpec, run_backtest, save_backtest
    from fin_hgrpo.io import check_replaceable
    from fin_hgrpo.provenance import build_manifest
    from fin_hgrpo.risk import write_risk_reports
    from fin_hgrpo.walkforward.checkpoints import finished_tasks

    spec = BacktestSpec.load(args.spec)
    if args.seeds is not None:
        spec = spec.model_copy(update={"seeds": args.seeds})
    if args.universes is not None or args.size is not None or spec.universes is not None:
        return _run_universes(spec, args)
    out = args.out or f"backtests/results/{spec.name}" + ("-quick" if args.quick else "")
    tearsheets = spec.tearsheets and not args.no_tearsheets
    check_replaceable(out, "run.json")  # before any work, not after it
    with finished_tasks(out) as checkpoint:
        result = run_backtest(spec, quick=args.quick, workers=args.workers,
                              executor=executor(args), checkpoint=checkpoint,
                              tensorboard=args.tensorboard)
        manifest = build_manifest("backtest", command=args.argv,
                                  files=[args.spec, *spec.files()],
                                  data_sha256=result.info["data_sha256"], seeds=spec.seeds)
        save_backtest(result, out, tearsheets=tearsheets, manifest=manifest,
                      extras=[write_risk_reports] if tearsheets else [])
    columns = ["cagr", "volatility", "sharpe", "sharpe_seed_std", "max_drawdown", "turnover",
               "sharpe_vs_baseline", *(["active_share"] if "active_share" in result.metrics
                                       else [])]
    shown = result.metrics[columns].sort_values("sharpe", ascending=False)
    print(shown.to_string(float_format="{:.3f}".format))
    for warning in result.info.get("data_warnings", []):
        print(f"warning: {warning}")
    for error in result.errors:
        print(f"failed: {error.splitlines()[0]} (traceback in {out}/errors.txt)")
    print(f"report: {out}/report.html ({result.info['seconds']:.0f} s)")
    return 0


def _run_universes(spec, args: argparse.Namespace) -> int:
    from fin_hgrpo.backtest import run_backtest
    from fin_hgrpo.studies.universes import run_universes
    from fin_hgrpo.walkforward.config import UniversesSpec

    drawn = spec.universes or UniversesSpec()
    count = drawn.count if args.universes is None else args.universes
    size = drawn.size if args.size is None else args.size
    # a spec made for many universes keeps its name; another one's run is set apart
    out = args.out or f"backtests/results/{spec.name}" + (
        "" if spec.universes is not None else "_universes") + ("-quick" if args.quick else "")
    summary = run_universes(
        spec, out, lambda one: run_backtest(one, quick=args.quick, workers=args.workers,
                                            executor=executor(args), progress=False),
        count=count, size=size, seed=drawn.seed)
    print(summary.to_string(float_format="{:+.3f}".format))
    print(f"report: {out}/report.html")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    from fin_hgrpo.backtest import BacktestSpec
    from fin_hgrpo.io import check_replaceable
    from fin_hgrpo.provenance import build_manifest
    from fin_hgrpo.studies.optuna_study import STUDY_FILE
    from fin_hgrpo.studies.sweep import SweepSpec, run_sweep, save_sweep
    from fin_hgrpo.walkforward.checkpoints import finished_tasks

    spec = SweepSpec.load(args.spec)
    out = args.out or f"backtests/results/{spec.name}"
    check_replaceable(out, ("trials.csv", STUDY_FILE))  # before any work, not after it
    with finished_tasks(out) as checkpoint:
        result = run_sweep(spec, out, storage=args.storage, study_name=args.study,
                           executor=executor(args), workers=args.workers,
                           checkpoint=checkpoint, tensorboard=args.tensorboard)
        files = [args.spec, spec.backtest, *BacktestSpec.load(spec.backtest).files(), spec.agent]
        manifest = build_manifest("sweep", command=args.argv, files=files,
                                  data_sha256=result.summary["data_sha256"], seeds=spec.seeds)
        save_sweep(result, out, manifest=manifest)
    print(result.trials.drop(columns="error").head(10).to_string(
        index=False, float_format="{:.4g}".format))
    summary = result.summary
    if "winner" in summary:
        print(f"winner: trial {summary['winner']}, validation Sharpe "
              f"{summary['winner_val_sharpe']:.2f}, deflated Sharpe "
              f"{summary['winner_dsr']:.2f} given {summary['trials']} trials")
    if "overfitting_pbo" in summary:
        coarse = " (fewer than 10 trials: coarse)" if summary["overfitting_coarse"] else ""
        print(f"probability that the best in sample is overfit (PBO, "
              f"{summary['overfitting_blocks']} blocks): {summary['overfitting_pbo']:.2f}"
              f"{coarse}")
    print(f"trials: {out}/trials.csv ({summary['seconds']:.0f} s)")
    return 0


def rebuild_report(args: argparse.Namespace) -> int:
    from fin_hgrpo.backtest import write_report, write_tearsheets
    from fin_hgrpo.risk import write_risk_reports

    if args.tearsheets:
        write_tearsheets(args.folder)
        write_risk_reports(args.folder)
    print(f"report: {write_report(args.folder)}")
    return 0

"""The ``fin-hgrpo`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from fin_hgrpo.errors import FinHgrpoError, SpecError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; bad input prints one line and exits 2 (a traceback with --debug)."""
    args = _parser().parse_args(argv)
    from fin_hgrpo.provenance import running_command

    try:
        with running_command(list(sys.argv[1:] if argv is None else argv)):
            return args.run(args)
    except FinHgrpoError as exc:
        if args.debug:
            raise
        print(f"fin-hgrpo: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped early, e.g. head
        sys.stderr.close()
        return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    scaling = argparse.ArgumentParser(add_help=False)
    scaling.add_argument("--workers", type=int, help="processes, or CPUs of a local Ray "
                                                     "(default: the spec's, or the cores)")
    scaling.add_argument("--executor", choices=("local", "ray"),
                         help="a process pool here (default) or Ray tasks")
    scaling.add_argument("--ray-address", help="a running Ray cluster, e.g. HEAD:6379 or "
                                               "ray://HEAD:10001 (implies --executor ray)")
    scaling.add_argument("--out", help="result folder (default backtests/results/<name>)")
    board = argparse.ArgumentParser(add_help=False)
    board.add_argument("--tensorboard", metavar="DIR",
                       help="also log every training metric for TensorBoard into DIR")

    parser = argparse.ArgumentParser(prog="fin-hgrpo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", parents=[common],
                               help="write a workspace: the default specs and data folder")
    init.add_argument("folder", help="the workspace to create or complete, e.g. . or study")
    init.add_argument("--force", action="store_true",
                      help="overwrite files already there with the defaults")
    init.set_defaults(run=_init)

    data = commands.add_parser("data", help="fetch and inspect market data")
    data_commands = data.add_subparsers(dest="data_command", required=True)

    fetch = data_commands.add_parser("fetch", parents=[common],
                                     help="download prices with yfinance into the cache")
    fetch.add_argument("tickers", nargs="+", metavar="TICKER")
    fetch.add_argument("--start", required=True, help="first date (inclusive)")
    fetch.add_argument("--end", help="last date (exclusive, as in yfinance); default today")
    fetch.add_argument("--interval", default="1d")
    fetch.add_argument("--cache-dir", default="data/cache")
    fetch.set_defaults(run=_data_fetch)

    info = data_commands.add_parser("info", parents=[common], help="summarise a data source")
    info.add_argument("source", help="sample | csv:PATH | parquet:PATH | "
                                     "yfinance:T1,T2[@START[:END]] | synthetic:KIND")
    info.add_argument("--json", action="store_true", help="print a JSON object")
    info.add_argument("--align", choices=("inner", "ffill", "strict"), default="inner",
                      help="missing prices: keep shared dates, forward-fill, or fail")
    info.add_argument("--ffill-limit", type=int, default=5, help="longest gap to fill (days)")
    info.add_argument("--cache-dir", default="data/cache")
    info.add_argument("--offline", action="store_true", help="yfinance: use the cache only")
    info.set_defaults(run=_data_info)

    train = commands.add_parser("train", parents=[common, board],
                                help="train a PPO, GRPO or Hybrid GRPO agent on an env spec")
    train.add_argument("spec", nargs="?", help="agent spec, e.g. strategies/hgrpo.toml")
    train.add_argument("--env", help="env spec, e.g. envs/default.toml")
    train.add_argument("--steps", type=int, help="market states to visit in all "
                                                  "(default: 100 iterations)")
    train.add_argument("--seed", type=int)
    train.add_argument("--seeds", type=_seed_list,
                       help="train one member per seed as one population: 0-7 or 0,3,7")
    train.add_argument("--out", help="run directory (default runs/<spec>-<env>-s<seed>, "
                                     "-s<first>-<last> for --seeds)")
    train.add_argument("--device", choices=("cpu", "cuda"))
    train.add_argument("--resume", metavar="DIR", help="continue a run from its checkpoint")
    train.set_defaults(run=_train)

    backtest = commands.add_parser("backtest", parents=[common, scaling, board],
                                   help="walk-forward backtest of strategies and agents")
    backtest.add_argument("spec", help="backtest spec, e.g. backtests/default.toml")
    backtest.add_argument("--quick", action="store_true",
                          help="fewer folds and training steps (the spec's [quick] table)")
    backtest.add_argument("--no-tearsheets", action="store_true",
                          help="skip the quantstats tearsheets")
    backtest.add_argument("--seeds", type=_seed_list,
                          help="the agents' seeds instead of the spec's: 0-4 or 0,3,7")
    backtest.set_defaults(run=_backtest)

    sweep = commands.add_parser("sweep", parents=[common, scaling, board],
                                help="grid or random search over an agent's hyperparameters")
    sweep.add_argument("spec", help="sweep spec, e.g. backtests/sweep_hgrpo.toml")
    sweep.set_defaults(run=_sweep)

    risk = commands.add_parser("risk", parents=[common],
                               help="a risk report for a backtest strategy or a weights or "
                                    "returns file")
    risk.add_argument("source", help="RESULTS_DIR:STRATEGY, weights.csv (dates x tickers) "
                                     "or returns.csv")
    risk.add_argument("--env", help="env spec whose data prices a weights or returns file")
    risk.add_argument("--out", help="report folder (default RESULTS_DIR/risk/<run>, or "
                                    "risk/<file name>)")
    risk.add_argument("--lookback", type=int, default=252,
                      help="days behind the ex-ante figures (default 252)")
    risk.add_argument("--var-level", type=float, default=0.99,
                      help="confidence of the VaR backtest (default 0.99)")
    risk.add_argument("--window", action="append", metavar="NAME=START:END",
                      help="a crisis window instead of the defaults (repeatable), e.g. "
                           "'2011 downgrade=2011-07-22:2011-10-03'")
    risk.set_defaults(run=_risk)

    weights = commands.add_parser("weights", parents=[common],
                                  help="a backtest strategy's target weights at a close, "
                                       "and the trades to reach them")
    weights.add_argument("folder", help="a backtest result folder")
    weights.add_argument("--strategy", help="a run (ppo_seed1, ppo_ensemble, equal_weight); "
                                            "an agent's name means its ensemble (default: "
                                            "the spec's first strategy)")
    weights.add_argument("--asof", help="the last close on or before this date (default: "
                                        "the data's last)")
    weights.add_argument("--holdings", help="a ticker,weight CSV (cash as the row cash) to "
                                            "trade from (default: the strategy's own)")
    weights.add_argument("--wealth", type=float, default=1.0,
                         help="portfolio value for notionals and shares (default 1)")
    weights.add_argument("--out", help="where weights.csv, trades.csv and weights.json go "
                                       "(default FOLDER/targets/<run>-<date>)")
    weights.set_defaults(run=_weights)

    verify = commands.add_parser("verify", parents=[common],
                                 help="re-run a run from its manifest and compare the results")
    verify.add_argument("folder", help="a backtest, train or sweep folder with manifest.json")
    verify.set_defaults(run=_verify)

    report = commands.add_parser("report", parents=[common],
                                 help="rebuild a backtest's report.html from its CSVs")
    report.add_argument("folder", help="a backtest result folder")
    report.add_argument("--tearsheets", action="store_true",
                        help="rebuild the quantstats tearsheets and risk reports too")
    report.set_defaults(run=_report)
    return parser


def _init(args: argparse.Namespace) -> int:
    from fin_hgrpo.workspace import init_workspace, template_files

    written = init_workspace(args.folder, force=args.force)
    kept = len(template_files()) - len(written)
    for path in written:
        print(f"wrote {path}")
    if kept:
        print(f"kept {kept} file(s) already there (--force overwrites them)")
    enter = "" if Path(args.folder).resolve() == Path.cwd() else f"cd {args.folder} && "
    print(f"workspace: {args.folder}; try: {enter}fin-hgrpo backtest "
          "backtests/default.toml --quick")
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    from fin_hgrpo.data import fetch_yfinance

    frames, report = fetch_yfinance(args.tickers, args.start, args.end, args.interval,
                                    args.cache_dir)
    for line in report.lines():
        print(line)
    print(f"cache: {args.cache_dir}")
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from fin_hgrpo.data import load_source

    panel = load_source(args.source, align=args.align, ffill_limit=args.ffill_limit,
                        cache_dir=args.cache_dir, offline=args.offline)
    report = panel.report
    summary = {
        "source": panel.source,
        "assets": list(panel.tickers),
        "n_assets": panel.n_assets,
        "n_rows": len(panel),
        "periods_per_year": panel.periods_per_year,
        "start": str(panel.dates[0].date()),
        "end": str(panel.dates[-1].date()),
        "fields": list(panel.fields),
        "signals": [] if panel.signals is None else list(panel.signals.columns),
        "align": report.policy,
        "filled": report.filled,
        "dropped": report.n_dropped,
        "notes": list(report.notes),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    returns = panel.returns("log")
    periods = panel.periods_per_year
    annual_vol = returns.std() * periods**0.5
    print(f"source     {summary['source']}")
    print(f"assets     {summary['n_assets']}: {', '.join(summary['assets'])}")
    print(f"dates      {summary['start']} .. {summary['end']} ({summary['n_rows']} rows, "
          f"{periods} a year)")
    print(f"fields     {', '.join(summary['fields'])}")
    if summary["signals"]:
        print(f"signals    {', '.join(summary['signals'])}")
    print(f"alignment  {report.summary()}")
    print("\nper asset: annualised log growth and volatility")
    for ticker in panel.tickers:
        growth = returns[ticker].mean() * periods
        print(f"  {ticker:<8} growth {growth:+7.2%}   volatility {annual_vol[ticker]:6.2%}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fin_hgrpo.algos import load_agent_config
    from fin_hgrpo.algos.runs import start_population, start_run, train
    from fin_hgrpo.envs import EnvSpec
    from fin_hgrpo.provenance import build_manifest, panel_sha256, write_manifest

    if args.resume:
        run = Path(args.resume)
    else:
        if not args.spec or not args.env:
            raise SpecError("train needs an agent spec and --env ENV_SPEC (or --resume DIR)")
        if args.seeds is not None and args.seed is not None:
            raise SpecError("give --seed or --seeds, not both")
        stem = f"runs/{Path(args.spec).stem}-{Path(args.env).stem}"
        if args.seeds is not None:
            out = args.out or f"{stem}-s{args.seeds[0]}-{args.seeds[-1]}"
            run = start_population(args.spec, args.env, out, seeds=args.seeds,
                                   states=args.steps, device=args.device)
        else:
            out = args.out or stem + ("" if args.seed is None else f"-s{args.seed}")
            run = start_run(args.spec, args.env, out, states=args.steps, seed=args.seed,
                            device=args.device)
        env = EnvSpec.load(args.env)
        seeds = args.seeds or [load_agent_config(args.spec).seed if args.seed is None
                               else args.seed]
        write_manifest(run, build_manifest(
            "train", files=[args.spec, args.env, *env.files()],
            data_sha256=panel_sha256(env.load_panel()), seeds=seeds))
    trained = train(run, tensorboard=args.tensorboard)
    for agent in trained if isinstance(trained, list) else [trained]:
        last = agent.history[-1]
        print(f"{run} (seed {agent.config.seed}): {agent.iteration} iterations, "
              f"{agent.states_seen} states, {agent.actions_scored} actions scored; last mean "
              f"log growth {last['mean_log_growth']:.2e}/day")
    return 0


def _seed_list(text: str) -> list[int]:
    """``0-4`` (inclusive) or ``0,3,7``."""
    try:
        if "-" in text:
            first, last = (int(v) for v in text.split("-"))
            seeds = list(range(first, last + 1))
        else:
            seeds = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are 0-4 or 0,3,7, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct and at least one: {text!r}")
    return seeds


def _executor(args: argparse.Namespace):
    """The executor the options ask for, or None for the spec's own."""
    from fin_hgrpo.backtest.executors import make_executor

    if args.workers is not None and args.workers < 1:
        raise SpecError(f"--workers must be >= 1, got {args.workers}")
    if not (args.executor or args.ray_address):
        return None
    return make_executor(args.executor or "ray", workers=args.workers,
                         ray_address=args.ray_address)


def _backtest(args: argparse.Namespace) -> int:
    from fin_hgrpo.backtest import BacktestSpec, run_backtest, save_backtest
    from fin_hgrpo.backtest.checkpoints import finished_tasks
    from fin_hgrpo.provenance import build_manifest

    spec = BacktestSpec.load(args.spec)
    if args.seeds is not None:
        spec = spec.model_copy(update={"seeds": args.seeds})
    out = args.out or f"backtests/results/{spec.name}" + ("-quick" if args.quick else "")
    with finished_tasks(out) as checkpoint:
        result = run_backtest(spec, quick=args.quick, workers=args.workers,
                              executor=_executor(args), checkpoint=checkpoint,
                              tensorboard=args.tensorboard)
        manifest = build_manifest("backtest", files=[args.spec, *spec.files()],
                                  data_sha256=result.info["data_sha256"], seeds=spec.seeds)
        save_backtest(result, out, tearsheets=spec.tearsheets and not args.no_tearsheets,
                      manifest=manifest)
    shown = result.metrics[["cagr", "volatility", "sharpe", "sharpe_seed_std", "max_drawdown",
                            "turnover", "sharpe_vs_baseline"]
                           + (["active_share"] if "active_share" in result.metrics else [])]
    print(shown.sort_values("sharpe", ascending=False).to_string(float_format="{:.3f}".format))
    for warning in result.info.get("data_warnings", []):
        print(f"warning: {warning}")
    for error in result.errors:
        print(f"failed: {error.splitlines()[0]} (traceback in {out}/errors.txt)")
    print(f"report: {out}/report.html ({result.info['seconds']:.0f} s)")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from fin_hgrpo.backtest import BacktestSpec
    from fin_hgrpo.backtest.checkpoints import finished_tasks
    from fin_hgrpo.backtest.sweep import SweepSpec, run_sweep, save_sweep
    from fin_hgrpo.provenance import build_manifest

    spec = SweepSpec.load(args.spec)
    out = args.out or f"backtests/results/{spec.name}"
    with finished_tasks(out) as checkpoint:
        result = run_sweep(spec, executor=_executor(args), workers=args.workers,
                           checkpoint=checkpoint, tensorboard=args.tensorboard)
        files = [args.spec, spec.backtest, *BacktestSpec.load(spec.backtest).files(), spec.agent]
        manifest = build_manifest("sweep", files=files,
                                  data_sha256=result.summary["data_sha256"], seeds=spec.seeds)
        save_sweep(result, out, manifest=manifest)
    print(result.trials.drop(columns="error").head(10).to_string(
        index=False, float_format="{:.4g}".format))
    summary = result.summary
    if "winner" in summary:
        print(f"winner: trial {summary['winner']}, validation Sharpe "
              f"{summary['winner_val_sharpe']:.2f}, deflated Sharpe "
              f"{summary['winner_dsr']:.2f} given {summary['trials']} trials")
    print(f"trials: {out}/trials.csv ({summary['seconds']:.0f} s)")
    return 0


def _risk(args: argparse.Namespace) -> int:
    from fin_hgrpo.risk import analyse, load_portfolio, write_risk_report

    if not 0.5 < args.var_level < 1:
        raise SpecError(f"--var-level must be between 0.5 and 1, got {args.var_level}")
    if args.lookback < 20:
        raise SpecError(f"--lookback must be at least 20 days, got {args.lookback}")
    windows = dict(_window(text) for text in args.window) if args.window else None
    portfolio = load_portfolio(args.source, args.env)
    analysis = analyse(portfolio, lookback=args.lookback, windows=windows,
                       var_level=args.var_level)
    folder, _, _ = args.source.rpartition(":")
    out = args.out or (Path(folder) / "risk" / portfolio.name if folder and Path(folder).is_dir()
                       else Path("risk") / portfolio.name)
    from fin_hgrpo.risk.report import headline

    for line in headline(analysis):
        print(line)
    print(f"report: {write_risk_report(analysis, out)}")
    return 0


def _window(text: str) -> tuple[str, tuple[str, str]]:
    """``NAME=START:END`` as a crisis window."""
    name, _, span = text.rpartition("=")
    first, _, last = span.partition(":")
    if not name or not first or not last:
        raise SpecError(f"--window {text!r}: use NAME=START:END, e.g. "
                        "'2011 downgrade=2011-07-22:2011-10-03'")
    return name, (first, last)


def _weights(args: argparse.Namespace) -> int:
    from fin_hgrpo.backtest.targets import read_holdings, target_weights, write_targets

    if args.wealth <= 0:
        raise SpecError(f"--wealth must be > 0, got {args.wealth}")
    holdings = read_holdings(args.holdings) if args.holdings else None
    targets = target_weights(args.folder, args.strategy, asof=args.asof, holdings=holdings,
                             wealth=args.wealth)
    out = args.out or Path(args.folder) / "targets" / f"{targets.strategy}-{targets.date.date()}"
    trades = targets.trades()
    print(f"{targets.strategy}: target weights at the close of {targets.date.date()}")
    shown = trades[(trades["to_weight"] > 0) | (trades["trade_weight"].abs() > 0)]
    print(shown.to_string(float_format="{:.4f}".format))
    print(f"turnover {trades['trade_weight'].drop('cash').abs().sum() / 2:.4f} of wealth "
          f"{targets.wealth:g}, cost {trades['cost'].sum():.4f} at {targets.cost_bps:g} bps")
    print(f"written: {write_targets(targets, out)}/weights.csv, trades.csv, weights.json")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from fin_hgrpo.verify import verify

    result = verify(args.folder)
    for line in result.lines():
        print(line)
    print("verified: identical" if result.identical else "verified: the results differ")
    return 0 if result.identical else 1


def _report(args: argparse.Namespace) -> int:
    from fin_hgrpo.backtest import write_report, write_tearsheets

    if args.tearsheets:
        from fin_hgrpo.risk.report import write_risk_reports

        write_tearsheets(args.folder)
        write_risk_reports(args.folder)
    print(f"report: {write_report(args.folder)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

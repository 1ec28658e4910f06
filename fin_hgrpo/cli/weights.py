"""``fin-hgrpo weights``: a backtest strategy's target weights at a close, and the trades
that reach them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fin_hgrpo.cli.options import Options, date_text
from fin_hgrpo.errors import SpecError
from fin_hgrpo.io import check_replaceable


def register(commands, options: Options) -> None:
    weights = commands.add_parser("weights", parents=[options.common],
                                  help="a backtest strategy's target weights at a close, "
                                       "and the trades to reach them")
    weights.add_argument("folder", help="a backtest result folder")
    weights.add_argument("--strategy", help="a run (ppo_seed1, ppo_ensemble, equal_weight); "
                                            "an agent's name means its ensemble (default: "
                                            "the spec's first strategy)")
    weights.add_argument("--asof", type=date_text,
                         help="the last close on or before this date (default: the data's "
                              "last)")
    weights.add_argument("--holdings", help="a ticker,weight CSV (cash as the row cash) to "
                                            "trade from (default: the strategy's own)")
    weights.add_argument("--wealth", type=float, default=1.0,
                         help="portfolio value for notionals and shares (default 1)")
    weights.add_argument("--out", help="where weights.csv, trades.csv and weights.json go "
                                       "(default FOLDER/targets/<run>-<date>)")
    weights.add_argument("--spec", action="append", default=[],
                         help="a backtest spec holding a custom strategy's code (repeatable); "
                              "its code must be what the backtest ran: a results folder "
                              "never chooses code to run")
    weights.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fin_hgrpo.deploy.targets import (
        read_holdings,
        target_weights,
        targets_folder,
        write_targets,
    )

    if not args.wealth > 0 or args.wealth == float("inf"):  # nan and inf too
        raise SpecError(f"--wealth must be > 0, got {args.wealth}")
    if args.out:
        check_replaceable(args.out, "weights.json")  # before any work, not after it
    holdings = read_holdings(args.holdings) if args.holdings else None
    targets = target_weights(args.folder, args.strategy, asof=args.asof, holdings=holdings,
                             wealth=args.wealth, specs=args.spec)
    out = Path(args.out) if args.out else targets_folder(args.folder, targets)
    trades = targets.trades()
    print(f"{targets.strategy}: target weights at the close of {targets.date.date()}")
    shown = trades[(trades["to_weight"] != 0) | (trades["trade_weight"].abs() > 0)]
    print(shown.to_string(float_format="{:.4f}".format))
    summary = targets.to_dict()
    print(f"turnover {summary['turnover']:.4f} of wealth {targets.wealth:g}, cost "
          f"{summary['total_cost']:.4f} at {_bps(targets.cost_bps)} bps")
    for warning in targets.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(f"written: {write_targets(targets, out)}/weights.csv, trades.csv, weights.json")
    return 0


def _bps(costs) -> str:
    low, high = costs.min(), costs.max()
    return f"{low:g}" if low == high else f"{low:.3g}..{high:.3g}"

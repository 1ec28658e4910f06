"""``fin-hgrpo risk``: a risk report for a backtest's strategy or a weights or returns
file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from fin_hgrpo.cli.options import Options
from fin_hgrpo.errors import SpecError
from fin_hgrpo.io import check_replaceable


def register(commands, options: Options) -> None:
    risk = commands.add_parser("risk", parents=[options.common],
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
    risk.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fin_hgrpo.risk import analyse, load_portfolio, write_risk_report
    from fin_hgrpo.risk.report import headline
    from fin_hgrpo.trust import inside

    if not 0.5 < args.var_level < 1:
        raise SpecError(f"--var-level must be between 0.5 and 1, got {args.var_level}")
    if args.lookback < 20:
        raise SpecError(f"--lookback must be at least 20 days, got {args.lookback}")
    windows = dict(_window(text) for text in args.window) if args.window else None
    if args.out:
        check_replaceable(args.out, "var_backtest.csv")  # before any work, not after it
    portfolio = load_portfolio(args.source, args.env)
    analysis = analyse(portfolio, lookback=args.lookback, windows=windows,
                       var_level=args.var_level)
    folder, _, _ = args.source.rpartition(":")
    out = args.out or (inside(folder, "risk", portfolio.name) if folder and Path(folder).is_dir()
                       else Path("risk") / portfolio.name)
    for line in headline(analysis):
        print(line)
    print(f"report: {write_risk_report(analysis, out)}")
    return 0


def _window(text: str) -> tuple[str, tuple[str, str]]:
    """``NAME=START:END`` as a crisis window."""
    name, _, span = text.rpartition("=")
    first, _, last = span.partition(":")
    usage = "use NAME=START:END, e.g. '2011 downgrade=2011-07-22:2011-10-03'"
    if not name or not first or not last:
        raise SpecError(f"--window {text!r}: {usage}")
    try:
        start, end = pd.Timestamp(first), pd.Timestamp(last)
    except ValueError:
        raise SpecError(f"--window {text!r}: {first} or {last} is not a date; {usage}") from None
    if start >= end:
        raise SpecError(f"--window {text!r}: {first} is not before {last}")
    return name, (first, last)

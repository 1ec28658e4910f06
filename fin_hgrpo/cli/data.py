"""``fin-hgrpo data fetch`` and ``fin-hgrpo data info``: download and inspect prices."""

from __future__ import annotations

import argparse
import json

from fin_hgrpo.cli.options import Options, date_text, days

MIN_ANNUALISED_ROWS = 20  # fewer: an annualised figure of a few returns is noise


def register(commands, options: Options) -> None:
    data = commands.add_parser("data", help="fetch and inspect market data")
    data_commands = data.add_subparsers(dest="data_command", required=True)

    fetch = data_commands.add_parser("fetch", parents=[options.common],
                                     help="download prices with yfinance into the cache")
    fetch.add_argument("tickers", nargs="+", metavar="TICKER")
    fetch.add_argument("--start", required=True, type=date_text, help="first date (inclusive)")
    fetch.add_argument("--end", type=date_text,
                       help="last date (exclusive, as in yfinance); default today")
    fetch.add_argument("--interval", default="1d")
    fetch.add_argument("--cache-dir", default="data/cache")
    fetch.set_defaults(run=fetch_prices)

    info = data_commands.add_parser("info", parents=[options.common],
                                    help="summarise a data source")
    info.add_argument("source", help="sample | csv:PATH | parquet:PATH | "
                                     "yfinance:T1,T2[@START[:END]] | synthetic:KIND")
    info.add_argument("--json", action="store_true", help="print a JSON object")
    info.add_argument("--align", choices=("inner", "ffill", "strict", "listed"),
                      default="inner",
                      help="missing prices: keep shared dates, forward-fill, fail, or a "
                           "point-in-time universe (each ticker from its listing to its "
                           "delisting)")
    info.add_argument("--start", type=date_text, help="first date (inclusive)")
    info.add_argument("--end", type=date_text, help="last date (inclusive)")
    info.add_argument("--ffill-limit", type=days, default=5, help="longest gap to fill (days)")
    info.add_argument("--cache-dir", default="data/cache")
    info.add_argument("--offline", action="store_true", help="yfinance: use the cache only")
    info.set_defaults(run=describe)


def fetch_prices(args: argparse.Namespace) -> int:
    from fin_hgrpo.data import fetch_yfinance

    _, report = fetch_yfinance(args.tickers, args.start, args.end, args.interval,
                               args.cache_dir)
    for line in report.lines():
        print(line)
    print(f"cache: {args.cache_dir}")
    return 0


def describe(args: argparse.Namespace) -> int:
    from fin_hgrpo.data import load_source

    panel = load_source(args.source, start=args.start, end=args.end, align=args.align,
                        ffill_limit=args.ffill_limit, cache_dir=args.cache_dir,
                        offline=args.offline)
    summary = _summary(panel)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    _print_summary(panel, summary)
    return 0


def _summary(panel) -> dict:
    """What ``data info --json`` prints: the panel's shape, dates and alignment, and
    price moves to check (``validation.suspicious_moves``)."""
    from fin_hgrpo.data.validation import suspicious_moves

    report = panel.report
    return {
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
        "listing": listing(panel) if report.policy == "listed" else None,
        "warnings": suspicious_moves(panel.prices),
    }


def listing(panel) -> dict[str, dict]:
    """Per ticker of a point-in-time panel: the first and last days it has a price, the
    days it can be traded and is halted (a gap inside its listing: the last price held,
    no trade), and whether it delists before the panel ends (a holding is then settled
    into cash at its last price times 1 + delisting_return, set in the env spec)."""
    prices, tradable = panel.prices, panel.tradable
    out = {}
    for ticker in panel.tickers:
        listed = prices[ticker].notna()
        first, last = listed.idxmax(), listed[::-1].idxmax()
        out[ticker] = {"first": str(first.date()), "last": str(last.date()),
                       "tradable_days": int(tradable[ticker].sum()),
                       "halted_days": int((listed & ~tradable[ticker]).sum()),
                       "delisted": bool(last < panel.dates[-1])}
    return out


def _print_summary(panel, summary: dict) -> None:
    """The summary for a reader, with each asset's annualised growth and volatility."""
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
    print(f"alignment  {panel.report.summary()}")
    for warning in summary["warnings"]:
        print(f"WARNING    check the prices: {warning}")
    if summary["listing"] is not None:
        print("\npoint in time: the days each ticker has prices, is tradable and is halted")
        for ticker, row in summary["listing"].items():
            end = f"{row['last']} (delisted)" if row["delisted"] else "the end"
            print(f"  {ticker:<8} prices {row['first']} .. {end}; tradable "
                  f"{row['tradable_days']} days, halted {row['halted_days']}")
        if any(row["delisted"] for row in summary["listing"].values()):
            print("  a delisted holding is settled into cash at its last price times "
                  "1 + delisting_return (0 unless the env spec's [data] sets it)")
    if len(panel) < MIN_ANNUALISED_ROWS:
        print(f"\nper asset: {len(panel)} rows are too few to annualise a growth or a "
              f"volatility (at least {MIN_ANNUALISED_ROWS})")
        return
    print("\nper asset: annualised log growth and volatility")
    for ticker in panel.tickers:
        growth = returns[ticker].mean() * periods
        print(f"  {ticker:<8} growth {growth:+7.2%}   volatility {annual_vol[ticker]:6.2%}")

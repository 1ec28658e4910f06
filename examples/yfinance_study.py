"""A walk-forward study on prices from Yahoo Finance that runs offline from the cache.

The first run downloads what the cache (``data/cache``, one parquet file per ticker,
adjustment-safe) lacks; ``--offline`` never touches the network and fails naming the
tickers the cache cannot serve, so a study can be rerun anywhere the cache travels. The
study writes its env spec (``envs/yfinance_study.toml``, reusable with ``fin-hgrpo
backtest``), then backtests the classical strategies on it. Run it in a workspace::

    python examples/yfinance_study.py                      # downloads, then caches
    python examples/yfinance_study.py --offline            # the cache only
    python examples/yfinance_study.py --tickers AAPL MSFT NVDA --start 2012-01-01
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fin_hgrpo.backtest import BacktestSpec, run_backtest, save_backtest
from fin_hgrpo.data import fetch_yfinance
from fin_hgrpo.io import atomic_write_text

ENV_SPEC = """# written by examples/yfinance_study.py
features = [
    {{ name = "log_return" }},
    {{ name = "momentum", window = 20 }},
    {{ name = "volatility", window = 20 }},
]
window = 20

[data]
source = "yfinance:{tickers}@{start}:{end}"
cache_dir = "{cache_dir}"
offline = {offline}

[costs]
bps = 10.0
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", nargs="+",
                        default=["AAPL", "AMZN", "JPM", "WMT", "XOM", "PFE", "T", "GE"])
    parser.add_argument("--start", default="2015-01-01")
    parser.add_argument("--end", default="2024-11-30", help="exclusive, as in yfinance")
    parser.add_argument("--cache-dir", default="data/cache")
    parser.add_argument("--offline", action="store_true", help="use the cache only")
    parser.add_argument("--out", default="backtests/results/yfinance_study")
    parser.add_argument("--workers", type=int, help="processes for the backtest (the cores)")
    args = parser.parse_args()

    # 1. bring the cache up to date (or, offline, check that it covers the request)
    _, report = fetch_yfinance(args.tickers, args.start, args.end, cache_dir=args.cache_dir,
                               offline=args.offline)
    print("\n".join(report.lines()))

    # 2. an env spec on those prices, kept for later runs
    env = Path("envs/yfinance_study.toml")
    atomic_write_text(env, ENV_SPEC.format(
        tickers=",".join(args.tickers), start=args.start, end=args.end,
        cache_dir=args.cache_dir, offline=str(args.offline).lower()))
    print(f"env spec: {env}")

    # 3. walk-forward: three years of fitting, one year out of sample, 10 bps costs
    spec = BacktestSpec.model_validate({
        "name": "yfinance_study", "env": str(env), "benchmark": None, "tearsheets": False,
        "walk_forward": {"train_days": "3y", "test_days": "1y"},
        "strategies": [{"kind": "equal_weight"}, {"kind": "inverse_volatility"},
                       {"kind": "min_variance", "rebalance": "weekly"},
                       {"kind": "momentum", "top_k": 3, "rebalance": "monthly"}],
    })
    spec.check_files("yfinance_study")
    result = run_backtest(spec, workers=args.workers, progress=False)
    print(result.metrics[["sharpe", "cagr", "max_drawdown", "turnover"]].round(2).to_string())
    print(f"report: {save_backtest(result, args.out, tearsheets=False) / 'report.html'}")


if __name__ == "__main__":
    main()

"""Market data: loaders, the aligned MarketPanel, validation, causal features, synthetic markets."""

from fin_hgrpo.data.features import DEFAULT_FEATURES, Features, FeatureSpec, compute_features
from fin_hgrpo.data.files import load_csv, load_parquet
from fin_hgrpo.data.panel import CASH, MarketPanel
from fin_hgrpo.data.sample import BENCHMARK_TICKER, SAMPLE_TICKERS, load_sample
from fin_hgrpo.data.sources import load_source
from fin_hgrpo.data.synthetic import SyntheticMarket, growth_optimal, synthetic_market
from fin_hgrpo.data.validation import AlignmentReport
from fin_hgrpo.data.yahoo import FetchReport, fetch_yfinance, load_yfinance

__all__ = [
    "BENCHMARK_TICKER",
    "CASH",
    "DEFAULT_FEATURES",
    "SAMPLE_TICKERS",
    "AlignmentReport",
    "FeatureSpec",
    "Features",
    "FetchReport",
    "MarketPanel",
    "SyntheticMarket",
    "compute_features",
    "fetch_yfinance",
    "growth_optimal",
    "load_csv",
    "load_parquet",
    "load_sample",
    "load_source",
    "load_yfinance",
    "synthetic_market",
]

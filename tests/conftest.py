"""Shared test helpers: tiny hand-made panels."""

import pandas as pd
import pytest


@pytest.fixture
def wide_prices() -> pd.DataFrame:
    """Two tickers over five days, prices chosen to make returns easy to check by hand."""
    dates = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"])
    return pd.DataFrame(
        {"AAA": [100.0, 110.0, 99.0, 99.0, 108.9], "BBB": [50.0, 50.0, 55.0, 44.0, 44.0]},
        index=pd.DatetimeIndex(dates, name="date"),
    )

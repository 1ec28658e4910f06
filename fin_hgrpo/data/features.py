"""Causal features: each value at day t is computed from prices up to day t only.

A feature is named by a small spec, ``{name = "volatility", window = 20}``:

- ``log_return``: log(p_t / p_{t-1}) (window unused);
- ``momentum``: log(p_t / p_{t-w});
- ``ema_return``: the exponentially weighted mean of the daily log returns, half-life
  w days (a short-horizon return smoothed: it moves by a fraction of each day's
  return, where ``log_return`` moves by all of it);
- ``volatility``: sample standard deviation of the last w daily log returns (w >= 2);
- ``ma_ratio``: log(p_t / mean(p_{t-w+1}, ..., p_t));
- ``signal``: the panel's observable signals, the same for every asset (window unused).

Values are raw (daily units); leading rows without enough history are NaN and
``Features.warmup`` says how many there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fin_hgrpo.data.panel import MarketPanel
from fin_hgrpo.errors import DataError

FeatureName = Literal["log_return", "momentum", "ema_return", "volatility", "ma_ratio",
                      "signal"]


class FeatureSpec(BaseModel):
    """One feature: its name and its look-back window in trading days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: FeatureName
    window: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _window_fits(self) -> FeatureSpec:
        if self.name == "volatility" and self.window < 2:
            raise ValueError("volatility needs window >= 2")
        return self

    @property
    def label(self) -> str:
        return self.name if self.name in ("log_return", "signal") else f"{self.name}_{self.window}"


DEFAULT_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec(name="log_return"),
    FeatureSpec(name="momentum", window=20),
    FeatureSpec(name="volatility", window=20),
    FeatureSpec(name="ma_ratio", window=50),
)


@dataclass(frozen=True)
class Features:
    """Feature values as a (dates, tickers, features) array, NaN during warm-up."""

    values: np.ndarray
    dates: pd.DatetimeIndex
    tickers: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def warmup(self) -> int:
        """Leading rows with any missing value (too little history)."""
        complete = np.isfinite(self.values).all(axis=(1, 2))
        return int(np.argmax(complete)) if complete.any() else len(complete)

    def to_frame(self) -> pd.DataFrame:
        """Dates x (feature, ticker) columns."""
        columns = pd.MultiIndex.from_product([self.names, self.tickers],
                                             names=["feature", "ticker"])
        flat = self.values.transpose(0, 2, 1).reshape(len(self.dates), -1)
        return pd.DataFrame(flat, index=self.dates, columns=columns)


def compute_features(
    panel: MarketPanel,
    specs: Iterable[FeatureSpec | Mapping] = DEFAULT_FEATURES,
) -> Features:
    """Compute the chosen features for every date and ticker of the panel."""
    specs = [FeatureSpec.model_validate(s) if not isinstance(s, FeatureSpec) else s
             for s in specs]
    if not specs:
        raise DataError("features: the spec selects no feature")
    log_prices = np.log(panel.prices)
    daily = log_prices.diff()
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for spec in specs:
        if spec.name == "signal":
            signals = panel.signals
            if signals is None:
                raise DataError(f"features: {panel.source} has no signals for feature 'signal'")
            for column in signals.columns:
                blocks.append(np.repeat(signals[[column]].to_numpy(), panel.n_assets, axis=1))
                names.append(f"signal:{column}" if len(signals.columns) > 1 else "signal")
            continue
        if spec.name == "log_return":
            frame = daily
        elif spec.name == "momentum":
            frame = log_prices - log_prices.shift(spec.window)
        elif spec.name == "ema_return":
            frame = daily.ewm(halflife=spec.window, min_periods=spec.window).mean()
        elif spec.name == "volatility":
            frame = daily.rolling(spec.window).std(ddof=1)
        else:  # ma_ratio
            frame = log_prices - np.log(panel.prices.rolling(spec.window).mean())
        blocks.append(frame.to_numpy(dtype=np.float64))
        names.append(spec.label)
    if len(set(names)) != len(names):
        raise DataError(f"features: the spec names a feature twice: {names}")
    return Features(np.stack(blocks, axis=-1), panel.dates, panel.tickers, tuple(names))

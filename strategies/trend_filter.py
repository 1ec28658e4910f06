"""An example of a user's own strategy: equal weights on the assets trading above their
moving average, the rest of the portfolio in cash.

Use it from a backtest spec:

    [[strategies]]
    kind = "custom"
    path = "strategies/trend_filter.py:TrendFilter"
    params = { window = 200 }
"""

import numpy as np

from fin_hgrpo.strategies import Decision, Strategy


class TrendFilter(Strategy):
    name = "trend_filter"

    def __init__(self, window: int = 200) -> None:
        self.window = window

    def weights(self, decision: Decision) -> np.ndarray:
        prices = decision.prices.iloc[-self.window:]
        above = (prices.iloc[-1] > prices.mean()).to_numpy()
        weights = np.zeros(len(above) + 1)
        weights[:-1][above] = 1.0 / len(above)
        weights[-1] = 1.0 - weights[:-1].sum()
        return weights

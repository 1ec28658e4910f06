"""Predict, then optimise: the standard alternative to reinforcement learning.

A model learns each asset's return over the next ``horizon`` bars from the features
the agents observe (the env's, at the decision's close, scaled as the agents see
them), pooled over the assets and the days of the training window and nothing after
it. Targets are demeaned across the assets each day: a fully invested portfolio can
only act on which assets will do better than the others. Two models: ``ridge`` (a
ridge regression whose penalty is chosen by time-ordered cross-validation inside the
training window, with a gap of ``horizon`` days between the folds) and ``gbm`` (a
small gradient-boosted tree ensemble, scikit-learn's histogram boosting, fixed
settings).

At each rebalance the forecasts feed a cost-aware mean-variance rule (skfolio's
``MeanRisk``, maximum utility): maximise ``f . w - risk_aversion * horizon * w' C w
- c . |w - w_held|``, long-only and fully invested, ``C`` the Ledoit-Wolf covariance
of the last ``lookback`` days of returns and ``c`` the env's proportional cost per
asset: a trade is made only where the forecast gain pays for it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from skfolio.moments import LedoitWolf
from skfolio.optimization import MeanRisk, ObjectiveFunction
from skfolio.prior import EmpiricalPrior
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import TimeSeriesSplit

from fin_hgrpo.allocation import equal_weights, recent_returns, solved
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.strategies.base import Decision, Strategy

Model = Literal["ridge", "gbm"]
RIDGE_PENALTIES = np.logspace(-2, 4, 13)
CV_FOLDS = 5


def forecast_model(model: Model, *, gap: int):
    """An unfitted regressor of the kind ``model`` names; ``gap``: the rows between a
    ridge's cross-validation folds (the forward returns' overlap)."""
    if model == "ridge":
        return RidgeCV(alphas=RIDGE_PENALTIES, cv=TimeSeriesSplit(n_splits=CV_FOLDS, gap=gap))
    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.05, max_depth=3,
                                         min_samples_leaf=200, l2_regularization=1.0,
                                         early_stopping=False, random_state=0)


class ForecastStrategy(Strategy):
    """Forecast each asset's next ``horizon`` bars, then allocate by cost-aware mean
    variance (the module's rule)."""

    def __init__(self, env: EnvSpec, model: Model = "ridge", horizon: int = 5,
                 risk_aversion: float = 5.0, lookback: int = 252) -> None:
        self.env, self.model, self.horizon = env, model, horizon
        self.risk_aversion, self.lookback = risk_aversion, lookback
        self.name = f"forecast_{model}"
        self.regressor = None

    def fit(self, train: MarketPanel) -> None:
        """Learn the forecasts from ``train``'s features and forward returns."""
        features, targets = self.training_rows(train)
        self.regressor = forecast_model(self.model, gap=self.horizon * train.n_assets)
        self.regressor.fit(features, targets)

    def training_rows(self, train: MarketPanel) -> tuple[np.ndarray, np.ndarray]:
        """Features (rows, F) and demeaned forward returns (rows,): one row per day and
        tradable asset whose next ``horizon`` bars lie inside ``train``, in time order."""
        sim = self.env.build_sim(train)
        features = sim.features.numpy(force=True)  # (T, A, F), as the agents see them
        prices = train.price_array()
        ahead = np.full_like(prices, np.nan)
        ahead[:-self.horizon] = prices[self.horizon:] / prices[:-self.horizon] - 1.0
        days = np.arange(sim.first_decision, len(prices) - self.horizon)
        usable = sim.tradable.numpy(force=True)[days] & np.isfinite(ahead[days])
        demeaned = ahead[days] - np.nanmean(np.where(usable, ahead[days], np.nan), axis=1,
                                            keepdims=True)
        if usable.sum() < 10 * features.shape[-1]:
            raise ValueError(f"{self.name}: {int(usable.sum())} training rows are too few to "
                             f"fit {features.shape[-1]} features")
        return features[days][usable], demeaned[usable]

    def forecasts(self, decision: Decision) -> np.ndarray:
        """Each asset's forecast return over the next ``horizon`` bars, less the
        forecasts' mean (A,)."""
        window, _ = decision.observation()
        today = window[0, -1].numpy(force=True)  # (A, F): the decision's close
        return self.regressor.predict(today)

    def weights(self, decision: Decision) -> np.ndarray:
        returns = recent_returns(decision.prices, self.lookback).to_numpy()
        usable = decision.tradable & np.isfinite(returns).all(axis=0)
        if len(returns) < 2 or usable.sum() < 2:
            return equal_weights(len(usable), decision.tradable)
        forecast = self.forecasts(decision)[usable]
        costs = np.broadcast_to(np.asarray(self.env.costs.bps, dtype=float) / 1e4,
                                usable.shape)[usable]
        optimiser = MeanRisk(objective_function=ObjectiveFunction.MAXIMIZE_UTILITY,
                             risk_aversion=self.risk_aversion * self.horizon,
                             prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf()),
                             overwrite_expected_return=lambda w: forecast @ w,
                             transaction_costs=costs,
                             previous_weights=decision.holdings[:-1][usable])
        weights = np.zeros(len(usable) + 1)
        weights[:-1][usable] = solved(optimiser, returns[:, usable])[:-1]
        return weights

"""Every figure of a risk report, computed once from a ``Portfolio``: where the risk
comes from now, what named crises and shocks would do, whether the VaR holds, and what
was realised."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fin_hgrpo.data import CASH
from fin_hgrpo.errors import DataError
from fin_hgrpo.measures import performance
from fin_hgrpo.risk.contributions import (
    beta,
    concentration,
    covariance,
    shortfall_contributions,
    volatility_contributions,
)
from fin_hgrpo.risk.sources import Portfolio
from fin_hgrpo.risk.stress import WINDOWS, equal_weights, historical_stress, hypothetical_shocks
from fin_hgrpo.risk.var_backtest import exceedances, rolling_var, var_backtest

LOOKBACK = 252  # days of returns behind the ex-ante figures
VAR_LEVEL, VAR_WINDOW = 0.99, 250
ROLLING_VOL = 63


@dataclass
class RiskAnalysis:
    """The tables of a risk report; ``summary`` holds its headline numbers."""

    portfolio: Portfolio
    summary: dict
    contributions: pd.DataFrame | None
    stress: pd.DataFrame | None
    shocks: pd.DataFrame | None
    var_tests: pd.DataFrame
    var_path: pd.DataFrame
    realised: pd.DataFrame
    paths: pd.DataFrame  # drawdown and rolling volatility by date
    notes: list[str] = field(default_factory=list)


def analyse(portfolio: Portfolio, *, lookback: int = LOOKBACK,
            windows: dict[str, tuple[str, str]] | None = None,
            var_level: float = VAR_LEVEL, var_window: int = VAR_WINDOW) -> RiskAnalysis:
    """Compute the report's tables for ``portfolio`` at its last date."""
    returns, periods = portfolio.returns, portfolio.periods
    notes: list[str] = []
    summary: dict = {"portfolio": portfolio.name, "source": portfolio.source,
                     "periods_per_year": periods, "start": str(returns.index[0].date()),
                     "end": str(returns.index[-1].date()), "lookback_days": lookback,
                     "var_level": var_level, "var_window": var_window}
    contributions = stress = shocks = None
    if portfolio.weights is not None and portfolio.prices is not None:
        contributions, ex_ante = _ex_ante(portfolio, lookback)
        summary |= ex_ante
        weights = portfolio.weights.iloc[-1]
        comparisons = {"1/N": equal_weights(list(portfolio.prices.columns))}
        prices = portfolio.prices
        if portfolio.benchmark_prices is not None:
            name = portfolio.benchmark_name or "benchmark"
            comparisons[name] = pd.Series({name: 1.0})
            prices = prices.join(portfolio.benchmark_prices.rename(name), how="left")
        stress = historical_stress(weights, prices, comparisons, windows or WINDOWS)
        shocks = hypothetical_shocks(weights)
    else:
        notes.append("a returns file holds no weights: the ex-ante decomposition, the "
                     "crises and the shocks need them")
    if len(returns) <= var_window:
        notes.append(f"{len(returns)} days of returns: the VaR backtest needs more than "
                     f"{var_window}")
    var_tests = var_backtest(returns, var_level, var_window)
    var_path = pd.DataFrame({"return": returns} | {
        f"var_{method}": rolling_var(returns, var_level, var_window, method)
        for method in ("historical", "parametric")})
    for method in ("historical", "parametric"):
        var_path[f"exceedance_{method}"] = exceedances(returns, var_path[f"var_{method}"]) \
            .reindex(var_path.index, fill_value=False)
    realised = performance.summarize(returns.to_frame(portfolio.name), periods=periods,
                                 benchmark=portfolio.benchmark)
    wealth = (1 + returns).cumprod()
    paths = pd.DataFrame({"drawdown": wealth / wealth.cummax().clip(lower=1.0) - 1.0,
                          "rolling_volatility": returns.rolling(ROLLING_VOL).std()
                          * np.sqrt(periods)})
    return RiskAnalysis(portfolio, summary, contributions, stress, shocks, var_tests,
                        var_path, realised, paths, notes)


def _ex_ante(portfolio: Portfolio, lookback: int) -> tuple[pd.DataFrame, dict]:
    weights = portfolio.weights.iloc[-1]
    asof = portfolio.weights.index[-1]
    scenarios = portfolio.prices.loc[:asof].pct_change().iloc[1:].tail(lookback)
    held = [t for t in scenarios.columns if weights.get(t, 0.0) > 0]
    scenarios = scenarios.dropna(axis=1, how="any")
    lost = sorted(set(held) - set(scenarios.columns))
    if lost:
        raise DataError(f"{portfolio.source}: no prices over the last {lookback} days for "
                        f"held {lost}")
    cov = covariance(scenarios)
    vol = volatility_contributions(weights, cov, portfolio.periods)
    shortfall = shortfall_contributions(weights, scenarios)
    table = pd.DataFrame({"weight": weights, "volatility_contribution": vol,
                          "volatility_share": vol / vol.sum(),
                          "cvar_contribution": shortfall,
                          "cvar_share": shortfall / shortfall.sum()}).rename_axis("ticker")
    table = table.sort_values("volatility_contribution", ascending=False)
    held_weights = weights.reindex([*scenarios.columns, CASH]).fillna(0.0)
    summary = {"asof": str(asof.date()), "volatility": float(vol.sum()),
               "cvar_95_daily": float(shortfall.sum()),
               "concentration": concentration(held_weights)}
    if portfolio.benchmark is not None:
        summary["beta"] = beta(held_weights, scenarios, portfolio.benchmark)
    return table, summary

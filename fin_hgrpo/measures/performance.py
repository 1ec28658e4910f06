"""Risk metrics of daily net returns, one function each, with quantstats' definitions.

Where quantstats defines the same quantity the formula here is its formula and the tests
check agreement to 1e-8: ``cagr`` (years = bars / ``periods``), ``volatility``,
``sharpe``, ``sortino`` (downside deviation over all
days), ``max_drawdown`` (from a starting wealth of 1), ``calmar``, ``skew``,
``kurtosis`` (excess), ``cvar_95`` (quantstats' historical method), ``hit_rate``
(quantstats' ``win_rate``: share of positive days among non-zero ones), ``beta`` and
``alpha`` (``greeks``), ``psr`` (``probabilistic_sharpe_ratio`` against 0).
``information_ratio`` is quantstats' annualised by sqrt(periods). ``var_95`` is the
historical 5% quantile (quantstats' own VaR is parametric). The deflated Sharpe ratio
follows Bailey and Lopez de Prado (2014); the interval on a Sharpe difference is in
``inference``.

Sharpe, Sortino, PSR and DSR are measured on returns in excess of the cash rate ``rf``
(per period, as the env's ``cash_rate``; or a series of them by date, a dated cash
rate's, matched to the returns' dates): riskless carry is not a premium. quantstats
takes an annual rate; given ``(1 + rf) ** periods - 1`` it agrees.

``periods``: bars per year, 252 for exchange days by default; a panel says its own
(``MarketPanel.periods_per_year``: 52 for weekly bars, 365 for crypto, ...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

PERIODS = 252
EULER_GAMMA = 0.5772156649015329
CashRate = float | pd.Series  # cash's return per bar: one, or one per date


def cash_on(dates: pd.Index, rf: CashRate) -> float | np.ndarray:
    """Cash's return on each of ``dates`` (a dated rate must cover every one)."""
    if not isinstance(rf, pd.Series):
        return rf
    rate = rf.reindex(dates)
    if rate.isna().any():
        missing = dates[rate.isna().to_numpy()][0]
        raise ValueError(f"the cash rate has no value on {missing:%Y-%m-%d}, a date the "
                         "returns have")
    return rate.to_numpy()


def excess(returns: pd.Series | pd.DataFrame, rf: CashRate) -> pd.Series | pd.DataFrame:
    """The returns less cash's return over the same bars."""
    rate = cash_on(returns.index, rf)
    return returns.sub(rate, axis=0) if np.ndim(rate) else returns - rate


def cagr(returns: pd.Series, periods: int = PERIODS) -> float:
    """Compound annual growth rate, a year being ``periods`` bars."""
    wealth = float(np.prod(1.0 + returns.to_numpy()))
    return wealth ** (periods / len(returns)) - 1.0 if wealth > 0 else float("nan")


def volatility(returns: pd.Series, periods: int = PERIODS) -> float:
    return float(returns.std(ddof=1) * np.sqrt(periods))


def sharpe(returns: pd.Series, annualize: bool = True, rf: CashRate = 0.0,
           periods: int = PERIODS) -> float:
    """Mean over standard deviation of the returns in excess of ``rf`` (NaN if flat)."""
    above = excess(returns, rf)
    ratio = _ratio(above.mean(), above.std(ddof=1))
    return ratio * np.sqrt(periods) if annualize else ratio


def rolling_sharpe(returns: pd.Series | pd.DataFrame, window: int, rf: CashRate = 0.0,
                   periods: int = PERIODS) -> pd.Series | pd.DataFrame:
    """Sharpe over each ``window`` consecutive bars ending at each bar (NaN before a
    whole window), annualised, in excess of ``rf``."""
    rolling = excess(returns, rf).rolling(window)
    return rolling.mean() / rolling.std() * np.sqrt(periods)


def sortino(returns: pd.Series, rf: CashRate = 0.0, periods: int = PERIODS) -> float:
    values = excess(returns, rf).to_numpy()
    downside = np.sqrt(np.sum(values[values < 0] ** 2) / len(values))
    return _ratio(values.mean(), downside) * np.sqrt(periods)


def drawdown(returns: pd.Series) -> pd.Series:
    """Wealth below its running peak (<= 0), the peak including the starting wealth 1."""
    wealth = (1.0 + returns).cumprod()
    return wealth / np.maximum(wealth.cummax(), 1.0) - 1.0


def max_drawdown(returns: pd.Series) -> float:
    return float(min(drawdown(returns).min(), 0.0))


def max_drawdown_days(returns: pd.Series) -> int:
    """Longest run of trading days spent below a previous peak."""
    under = (drawdown(returns) < 0).to_numpy()
    longest = current = 0
    for below in under:
        current = current + 1 if below else 0
        longest = max(longest, current)
    return longest


def calmar(returns: pd.Series, periods: int = PERIODS) -> float:
    return _ratio(cagr(returns, periods), abs(max_drawdown(returns)))


def var_95(returns: pd.Series) -> float:
    """Historical value at risk: the 5% quantile of daily returns (a loss is negative)."""
    return float(returns.quantile(0.05))


def cvar_95(returns: pd.Series) -> float:
    """Expected shortfall: the mean of the days at or below ``var_95``."""
    return float(returns[returns <= var_95(returns)].mean())


def hit_rate(returns: pd.Series) -> float:
    moved = returns[returns != 0]
    return float((moved > 0).sum() / len(moved)) if len(moved) else float("nan")


def greeks(returns: pd.Series, benchmark: pd.Series,
           periods: int = PERIODS) -> tuple[float, float]:
    """Beta to the benchmark and annualised alpha (mean excess over beta times its mean)."""
    cov = np.cov(returns.to_numpy(), benchmark.to_numpy())
    beta = _ratio(cov[0, 1], cov[1, 1])
    return beta, float((returns.mean() - beta * benchmark.mean()) * periods)


def information_ratio(returns: pd.Series, benchmark: pd.Series,
                      periods: int = PERIODS) -> float:
    """Mean active return over tracking error, annualised."""
    active = returns - benchmark
    return _ratio(active.mean(), active.std(ddof=1)) * np.sqrt(periods)


def psr(returns: pd.Series, threshold: float = 0.0, rf: CashRate = 0.0) -> float:
    """Probabilistic Sharpe ratio: P(true daily Sharpe > ``threshold``), given skew and
    kurtosis of the sample (Bailey and Lopez de Prado, 2012)."""
    above = excess(returns, rf)
    sr = sharpe(above, annualize=False)
    skewness, kurt = above.skew(), above.kurtosis() + 3.0
    sigma = np.sqrt((1.0 - skewness * sr + (kurt - 1.0) / 4.0 * sr**2) / (len(returns) - 1))
    return float(stats.norm.cdf((sr - threshold) / sigma))


def expected_max_sharpe(daily_sharpes: np.ndarray, n_trials: int | None = None) -> float:
    """The daily Sharpe the best of N independent tries reaches by luck alone.

    sqrt(V[SR]) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e))), g Euler's constant;
    0 for a single try. V[SR] is the variance of the finite ``daily_sharpes`` (a flat
    series has none); N is ``n_trials`` when given (every configuration tried, shown or
    not), else the number of finite Sharpes.
    """
    finite = np.asarray(daily_sharpes, dtype=float)
    finite = finite[np.isfinite(finite)]
    n = len(finite) if n_trials is None else n_trials
    if n < 2 or len(finite) < 2:
        return 0.0
    spread = np.std(finite, ddof=1)
    return float(spread * ((1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / n)
                           + EULER_GAMMA * stats.norm.ppf(1 - 1 / (n * np.e))))


def dsr(returns: pd.Series, daily_sharpes: np.ndarray, n_trials: int | None = None,
        rf: CashRate = 0.0) -> float:
    """Deflated Sharpe ratio: the PSR against the best Sharpe expected from all the
    strategies tried (``daily_sharpes``, one per try; ``n_trials`` of them if given)
    by luck alone."""
    return psr(returns, threshold=expected_max_sharpe(daily_sharpes, n_trials), rf=rf)


def active_share(weights: pd.DataFrame, base: pd.DataFrame) -> float:
    """How far a portfolio departs from a base: half the sum of |w - w_base| over the
    assets and cash, averaged over the days both hold (0: the base; 1: nothing shared).
    A ticker only one of them trades counts as held at zero by the other."""
    dates = weights.index.intersection(base.index)
    if dates.empty:
        return float("nan")
    columns = weights.columns.union(base.columns, sort=False)
    gap = weights.loc[dates].reindex(columns=columns, fill_value=0.0) - \
        base.loc[dates].reindex(columns=columns, fill_value=0.0)
    return float(0.5 * gap.abs().sum(axis=1).mean())


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator != 0 else float("nan")


def summarize(returns: pd.DataFrame, *, turnover: pd.DataFrame | None = None,
              benchmark: pd.Series | None = None, rf: CashRate = 0.0,
              trial_sharpes: np.ndarray | None = None,
              n_trials: int | None = None, periods: int = PERIODS) -> pd.DataFrame:
    """One row of metrics per column of ``returns`` (daily net returns).

    ``turnover``: daily one-way turnover per column (its annualised mean is reported);
    ``benchmark``: the returns beta, alpha and the information ratio refer to; ``rf``:
    the cash rate per day (or per date). The deflated Sharpe ratio counts ``trial_sharpes`` (daily,
    one per strategy tried; default: one per column) as the tries, ``n_trials`` of them
    if given. A column with gaps (a strategy that failed in a fold) is measured on the
    days it has. ``periods``: bars per year.
    """
    if trial_sharpes is None:
        trial_sharpes = np.array([sharpe(returns[c].dropna(), annualize=False, rf=rf)
                                  for c in returns])
    rows = {}
    for name in returns:
        r = returns[name].dropna()
        row = {
            "cagr": cagr(r, periods), "volatility": volatility(r, periods),
            "sharpe": sharpe(r, rf=rf, periods=periods),
            "sortino": sortino(r, rf=rf, periods=periods), "calmar": calmar(r, periods),
            "max_drawdown": max_drawdown(r),
            "max_drawdown_days": max_drawdown_days(r), "var_95": var_95(r),
            "cvar_95": cvar_95(r), "skew": float(r.skew()), "kurtosis": float(r.kurtosis()),
            "hit_rate": hit_rate(r),
            "turnover": float(turnover[name].mean() * periods)
            if turnover is not None and name in turnover else float("nan"),
        }
        if benchmark is not None:
            both = pd.concat([r, benchmark], axis=1, join="inner").dropna()
            beta, alpha = greeks(both.iloc[:, 0], both.iloc[:, 1], periods)
            row |= {"beta": beta, "alpha": alpha,
                    "information_ratio": information_ratio(both.iloc[:, 0], both.iloc[:, 1],
                                                           periods)}
        row |= {"psr": psr(r, rf=rf), "dsr": dsr(r, trial_sharpes, n_trials, rf=rf)}
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("strategy")

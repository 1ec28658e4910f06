"""Whether the value at risk holds: rolling one-day VaR forecasts over a realised path,
their exceedances, and the two standard tests.

Each day's forecast uses only the ``window`` returns before it: the historical VaR is
their loss quantile, the parametric VaR the normal quantile of their mean and standard
deviation. An exceedance is a day whose return is below minus its forecast. Kupiec's
proportion-of-failures test asks whether the exceedances are as frequent as the level
says; Christoffersen's test asks whether they are independent (no clusters). Both are
likelihood ratios, chi-squared with one degree of freedom under the null.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import xlogy
from scipy.stats import chi2, norm

Method = Literal["historical", "parametric"]


def rolling_var(returns: pd.Series, level: float = 0.99, window: int = 250,
                method: Method = "historical") -> pd.Series:
    """Each day's VaR forecast (a loss, > 0) from the ``window`` returns before it; NaN
    until ``window`` returns exist."""
    past = returns.shift(1).rolling(window, min_periods=window)
    if method == "historical":
        return -past.quantile(1.0 - level)
    if method == "parametric":
        return -(past.mean() + norm.ppf(1.0 - level) * past.std())
    raise ValueError(f"method must be historical or parametric, got {method!r}")


def exceedances(returns: pd.Series, var: pd.Series) -> pd.Series:
    """True on the days with a forecast whose return fell below minus the VaR."""
    both = pd.concat([returns, var], axis=1, join="inner").dropna()
    return (both.iloc[:, 0] < -both.iloc[:, 1]).rename("exceedance")


def kupiec(days: int, failures: int, level: float) -> tuple[float, float]:
    """Kupiec's proportion-of-failures likelihood ratio and its p-value: ``failures``
    exceedances in ``days`` against the expected rate ``1 - level``."""
    p, x, n = 1.0 - level, failures, days
    rate = x / n
    null = xlogy(n - x, 1.0 - p) + xlogy(x, p)
    fitted = xlogy(n - x, 1.0 - rate) + xlogy(x, rate)
    ratio = float(-2.0 * (null - fitted))
    return ratio, float(chi2.sf(ratio, 1))


def christoffersen(hits: pd.Series | np.ndarray) -> tuple[float, float]:
    """Christoffersen's independence likelihood ratio and its p-value, from the
    transitions between days with and without an exceedance."""
    h = np.asarray(hits, bool).astype(int)
    before, after = h[:-1], h[1:]
    n00 = int(((before == 0) & (after == 0)).sum())
    n01 = int(((before == 0) & (after == 1)).sum())
    n10 = int(((before == 1) & (after == 0)).sum())
    n11 = int(((before == 1) & (after == 1)).sum())
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    null = xlogy(n00 + n10, 1.0 - pi) + xlogy(n01 + n11, pi)
    fitted = (xlogy(n00, 1.0 - pi01) + xlogy(n01, pi01) + xlogy(n10, 1.0 - pi11)
              + xlogy(n11, pi11))
    ratio = float(-2.0 * (null - fitted))
    return ratio, float(chi2.sf(ratio, 1))


def var_backtest(returns: pd.Series, level: float = 0.99, window: int = 250) -> pd.DataFrame:
    """One row per method: days forecast, exceedances against the expected count, and
    both tests' statistics and p-values."""
    rows = []
    for method in ("historical", "parametric"):
        hits = exceedances(returns, rolling_var(returns, level, window, method))
        n, x = len(hits), int(hits.sum())
        if n == 0:
            rows.append({"method": method, "days": 0})
            continue
        lr_pof, p_pof = kupiec(n, x, level)
        lr_ind, p_ind = christoffersen(hits)
        rows.append({"method": method, "level": level, "days": n, "exceedances": x,
                     "expected": n * (1.0 - level), "rate": x / n,
                     "kupiec_lr": lr_pof, "kupiec_p": p_pof,
                     "christoffersen_lr": lr_ind, "christoffersen_p": p_ind})
    return pd.DataFrame(rows)

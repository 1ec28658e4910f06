"""How many bars make a year, read from a panel's own dates.

Every annualised figure (CAGR, volatility, Sharpe, turnover per year) needs it, and 252
is right only for daily bars of an exchange: crypto trades 365 days, weekly bars are 52
a year, monthly 12, and intraday bars are bars per session times sessions per year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KNOWN = (252, 365, 52, 12, 4, 1)  # exchange days, calendar days, weeks, months, quarters
_SNAP = 0.06  # an estimate within 6% of a known frequency is that frequency
DEFAULT = 252


def periods_per_year(dates: pd.DatetimeIndex) -> int:
    """Bars per year of ``dates``: one of 252, 365, 52, 12, 4, 1 when the spacing says so
    (holidays and a short history are within tolerance), otherwise the measured rate;
    intraday bars count the median bars per session times 252 sessions (365 when the
    dates include weekends). Fewer than three dates: 252."""
    if len(dates) < 3:
        return DEFAULT
    days = dates.normalize()
    weekends = bool((dates.day_of_week >= 5).any())
    if days.has_duplicates:  # several bars a day: intraday
        per_session = float(np.median(pd.Series(1, index=days).groupby(level=0).size()))
        return int(round(per_session * (365 if weekends else DEFAULT)))
    span_years = (dates[-1] - dates[0]).days / 365.25
    rate = (len(dates) - 1) / span_years
    for known in KNOWN:
        if abs(rate / known - 1.0) <= _SNAP:
            return known
    return max(1, int(round(rate)))

"""Risk reports for any portfolio: where its risk comes from, what a crisis would do,
and whether its VaR holds (``fin-hgrpo risk``)."""

from fin_hgrpo.risk.analysis import RiskAnalysis, analyse
from fin_hgrpo.risk.report import write_risk_report
from fin_hgrpo.risk.sources import Portfolio, load_portfolio

__all__ = ["Portfolio", "RiskAnalysis", "analyse", "load_portfolio", "write_risk_report"]

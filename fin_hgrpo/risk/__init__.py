"""Risk reports for any portfolio: where its risk comes from, what a crisis would do,
and whether its VaR holds (``fin-hgrpo risk``). Reads a backtest's result folder by its
files, never the backtest code."""

from fin_hgrpo.risk.analysis import RiskAnalysis, analyse
from fin_hgrpo.risk.report import write_risk_report, write_risk_reports
from fin_hgrpo.risk.sources import Portfolio, load_portfolio

__all__ = ["Portfolio", "RiskAnalysis", "analyse", "load_portfolio", "write_risk_report",
           "write_risk_reports"]

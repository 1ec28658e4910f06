"""The risk report: one self-contained HTML page (figures inlined) and its CSVs.

Written for the person a portfolio is handed to. It opens with where the risk comes
from today, then what known crises and plain shocks would do, whether the VaR can be
believed, and what was realised.
"""

from __future__ import annotations

import html
import json
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from fin_hgrpo.errors import FinHgrpoError
from fin_hgrpo.io import atomic_directory
from fin_hgrpo.reports.html import CSS, image, numbers_table, png
from fin_hgrpo.risk.analysis import RiskAnalysis, analyse
from fin_hgrpo.risk.sources import load_portfolio
from fin_hgrpo.trust import check_name, inside

SHOWN_WEIGHT = 1e-4  # holdings below a basis point are left to contributions.csv
MIN_VAR_DAYS = 100  # forecasts a VaR backtest needs before its verdict is worth a line
REALISED = {"cagr": "CAGR", "volatility": "Volatility", "sharpe": "Sharpe",
            "max_drawdown": "Max drawdown", "max_drawdown_days": "Longest drawdown (days)",
            "var_95": "VaR 95% (1 day)", "cvar_95": "CVaR 95% (1 day)", "beta": "Beta"}


def write_risk_report(analysis: RiskAnalysis, out: str | Path) -> Path:
    """``report.html`` and the CSVs behind it in ``out``, as one folder written
    atomically."""
    with atomic_directory(out, "var_backtest.csv") as staging:
        if analysis.contributions is not None:
            analysis.contributions.to_csv(staging / "contributions.csv")
            analysis.stress.to_csv(staging / "stress.csv", index=False)
            analysis.shocks.to_csv(staging / "shocks.csv", index=False)
        analysis.var_tests.to_csv(staging / "var_backtest.csv", index=False)
        analysis.var_path.to_csv(staging / "var_forecasts.csv")
        analysis.realised.to_csv(staging / "realised.csv")
        analysis.paths.to_csv(staging / "paths.csv")
        (staging / "summary.json").write_text(json.dumps(analysis.summary, indent=2) + "\n")
        (staging / "report.html").write_text(page(analysis))
    return Path(out) / "report.html"


def write_risk_reports(folder: str | Path, shown_as: str | Path | None = None) -> list[Path]:
    """A risk report per strategy of a backtest's results, in ``folder/risk/<run>``;
    ``shown_as``: the folder's name in the reports (a staging folder's is temporary)."""
    folder = Path(folder)
    strategies = pd.read_csv(folder / "metrics.csv", index_col=0).index
    written = []
    for strategy in strategies:
        check_name(strategy, f"{folder}/metrics.csv")
        try:
            portfolio = replace(load_portfolio(f"{folder}:{strategy}"),
                                source=f"{shown_as or folder}:{strategy}")
            if portfolio.name.endswith("_ensemble") and portfolio.name != strategy:
                continue  # an agent's ensemble has a row of its own
            analysis = analyse(portfolio)
        except FinHgrpoError as exc:  # the backtest's own results stand without it
            warnings.warn(f"no risk report for {strategy}: {exc}", stacklevel=2)
            continue
        written.append(write_risk_report(analysis, inside(folder, "risk", portfolio.name)))
    return written


def page(a: RiskAnalysis) -> str:
    s = a.summary
    title = f"Risk report: {a.portfolio.name}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p class='note'>Source {html.escape(s['source'])}; returns "
             f"{s['start']} .. {s['end']}, {s['periods_per_year']} bars a year. "
             + (f"Ex-ante figures at the close of {s['asof']}, from the last "
                f"{s['lookback_days']} days." if "asof" in s else "") + "</p>"]
    parts += [f"<p class='warning'>{html.escape(n)}</p>" for n in a.notes]
    parts.append(f"<div class='verdict'><ul>{''.join(f'<li>{x}</li>' for x in headline(a))}"
                 "</ul></div>")
    if a.contributions is not None:
        parts += ["<h2>Where the risk comes from</h2>", _contributions_table(a),
                  _image(_contributions_figure(a), "risk contributions"),
                  "<p class='note'>Euler allocation: each asset's contribution is its weight "
                  "times the measure's sensitivity to it, so the contributions add up to the "
                  "measure. Volatility from a Ledoit-Wolf shrunk covariance of daily returns, "
                  "annualised; expected shortfall (CVaR) at 95% over the same days, one day, "
                  "historical.</p>",
                  "<h2>What a crisis would do</h2>", _stress_table(a),
                  _image(_stress_figure(a), "stress losses"), _shocks_table(a),
                  "<p class='note'>Today's weights bought at the close before each window and "
                  "held untraded through it, beside 1/N and the benchmark. A window the data "
                  "does not cover for every holding is marked as such.</p>"]
    parts += ["<h2>Whether the VaR holds</h2>", _var_table(a),
              _image(_var_figure(a), "returns against the VaR"),
              f"<p class='note'>Each day's one-day VaR at {s['var_level']:.0%} is forecast "
              f"from the {s['var_window']} returns before it: historical (their quantile) "
              "and parametric (normal, their mean and deviation). Kupiec's test asks if the "
              "exceedances are as frequent as the level says, Christoffersen's if they are "
              "independent; a p-value under 0.05 rejects the model.</p>",
              "<h2>Realised</h2>", _realised_table(a), _image(_paths_figure(a), "drawdown"),
              "</body></html>"]
    return "\n".join(parts)


def headline(a: RiskAnalysis) -> list[str]:
    """The report's first sentences, written from the numbers."""
    s, lines = a.summary, []
    if "volatility" in s:
        c = s["concentration"]
        top = a.contributions.iloc[0]
        lines.append(f"Ex-ante volatility {s['volatility']:.1%} a year; one-day 95% expected "
                     f"shortfall {s['cvar_95_daily']:.2%}. The largest source is "
                     f"{html.escape(str(top.name))} ({top['volatility_share']:.0%} of the "
                     f"volatility at {top['weight']:.0%} of the weight).")
        lines.append(f"{c['effective_assets']:.1f} effective assets (Herfindahl "
                     f"{c['herfindahl']:.3f}), {c['cash']:.0%} in cash"
                     + (f"; beta {s['beta']:.2f} to the benchmark." if "beta" in s else "."))
        covered = a.stress[(a.stress["portfolio"] == "portfolio") & a.stress["covered"]]
        if len(covered):
            worst = covered.loc[covered["loss"].idxmin()]
            lines.append(f"Worst named crisis in the data: {html.escape(worst['window'])}, "
                         f"{worst['loss']:.1%} (worst day {worst['worst_day']:.1%}).")
    for row in a.var_tests.to_dict("records"):
        if row.get("days", 0) < MIN_VAR_DAYS:
            lines.append(f"{row['method'].capitalize()} VaR: {row.get('days', 0)} days of "
                         f"forecasts, too few to judge (at least {MIN_VAR_DAYS}).")
            continue
        verdict = "rejected" if min(row["kupiec_p"], row["christoffersen_p"]) < 0.05 \
            else "not rejected"
        lines.append(f"{row['method'].capitalize()} VaR at {row['level']:.0%}: "
                     f"{row['exceedances']} exceedances in {row['days']} days against "
                     f"{row['expected']:.1f} expected (Kupiec p = {row['kupiec_p']:.2f}, "
                     f"Christoffersen p = {row['christoffersen_p']:.2f}): {verdict}.")
    return lines


def _contributions_table(a: RiskAnalysis) -> str:
    shown = a.contributions[a.contributions["weight"] > SHOWN_WEIGHT]
    return numbers_table(shown, {"weight": ".1%", "volatility_contribution": ".2%",
                          "volatility_share": ".0%", "cvar_contribution": ".3%",
                          "cvar_share": ".0%"})


def _stress_table(a: RiskAnalysis) -> str:
    frame = a.stress.copy()
    frame["covered"] = [("yes" if ok else f"no: {why}") for ok, why in
                        zip(frame["covered"], frame.get("why", [""] * len(frame)), strict=True)]
    return numbers_table(frame, {"window": "s", "portfolio": "s", "covered": "s", "from": "s",
                          "to": "s", "loss": ".1%", "worst_day": ".1%",
                          "max_drawdown": ".1%"}, index=False)


def _shocks_table(a: RiskAnalysis) -> str:
    return numbers_table(a.shocks, {"shock": "s", "loss": ".1%"}, index=False)


def _var_table(a: RiskAnalysis) -> str:
    if "exceedances" not in a.var_tests:
        return "<p class='note'>Too few days for a VaR backtest.</p>"
    return numbers_table(a.var_tests, {"method": "s", "days": "d", "exceedances": "d",
                                "expected": ".1f", "kupiec_lr": ".2f", "kupiec_p": ".3f",
                                "christoffersen_lr": ".2f", "christoffersen_p": ".3f"},
                  index=False)


def _realised_table(a: RiskAnalysis) -> str:
    columns = [c for c in REALISED if c in a.realised]
    frame = a.realised[columns].rename(columns=REALISED)
    formats = {REALISED[c]: ".2f" if c in ("sharpe", "beta") else
               "d" if c == "max_drawdown_days" else ".2%" for c in columns}
    return numbers_table(frame, formats)


def _contributions_figure(a: RiskAnalysis):
    top = a.contributions[a.contributions["weight"] > SHOWN_WEIGHT].head(15).iloc[::-1]
    fig = Figure(figsize=(11, 0.32 * len(top) + 1.4))
    ax = fig.subplots()
    y = range(len(top))
    ax.barh([i + 0.2 for i in y], top["volatility_share"], 0.4, label="share of volatility")
    ax.barh([i - 0.2 for i in y], top["cvar_share"], 0.4, label="share of 95% CVaR")
    ax.barh([i + 0.2 for i in y], top["weight"], 0.4, fill=False, edgecolor="#444",
            label="weight")
    ax.set_yticks(list(y), top.index)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(loc="lower right")
    ax.set_title("Where the risk comes from (largest 15)")
    fig.tight_layout()
    return fig


def _stress_figure(a: RiskAnalysis):
    covered = a.stress[a.stress["covered"]]
    fig = Figure(figsize=(11, 3.6))
    ax = fig.subplots()
    if len(covered):
        table = covered.pivot(index="window", columns="portfolio", values="loss")
        table[[c for c in ["portfolio", *table.columns.drop("portfolio")]
               if c in table]].plot.barh(ax=ax)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title("Loss through each named window (held untraded)")
    ax.set_ylabel("")
    fig.tight_layout()
    return fig


def _var_figure(a: RiskAnalysis):
    path = a.var_path
    fig = Figure(figsize=(11, 3.8))
    ax = fig.subplots()
    ax.plot(path.index, path["return"], lw=0.5, color="#888", label="daily return")
    for method, color in (("historical", "#c0392b"), ("parametric", "#2471a3")):
        ax.plot(path.index, -path[f"var_{method}"], lw=1, color=color,
                label=f"-VaR, {method}")
        hits = path[path[f"exceedance_{method}"]]
        ax.scatter(hits.index, hits["return"], s=12, color=color, zorder=3)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(loc="upper left", ncol=3, fontsize=8)
    ax.set_title(f"Returns against the one-day VaR at {a.summary['var_level']:.0%} "
                 "(dots: exceedances)")
    fig.tight_layout()
    return fig


def _paths_figure(a: RiskAnalysis):
    fig = Figure(figsize=(11, 5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.fill_between(a.paths.index, a.paths["drawdown"], 0, color="#c0392b", alpha=0.4)
    top.set_title("Drawdown")
    bottom.plot(a.paths.index, a.paths["rolling_volatility"], color="#2471a3")
    bottom.set_title("Rolling volatility (63 days, annualised)")
    for ax in (top, bottom):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    fig.tight_layout()
    return fig


def _image(fig: Figure, alt: str) -> str:
    return image(png(fig), alt)

"""The HTML of a backtest report: a verdict, the summary, the figures, the folds.

One self-contained page (figures inlined as PNG), readable at 1,200 px: the summary
shows the columns a reader needs and leaves the rest to ``metrics.csv``.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from fin_hgrpo.measures.performance import PERIODS
from fin_hgrpo.reports.book import book_section, ruins
from fin_hgrpo.reports.html import CSS, image, image_grid
from fin_hgrpo.reports.regimes import REGIMES, WINDOW, market_regimes, regime_differences
from fin_hgrpo.walkforward.results import BacktestResult

SUMMARY_COLUMNS = ["Seeds", "CAGR", "Volatility", "Sharpe (seeds: mean ± std, min..max)",
                   "Max drawdown", "Turnover / yr", "Active share",
                   "Sharpe − baseline [95% CI]"]


def page(result: BacktestResult, images: dict[str, bytes], folder: Path) -> str:
    """The whole report: what was run, the data's warnings, the verdict, the summary,
    the figures, the folds, links to tearsheets and risk reports, and the errors."""
    title = f"Backtest {result.info.get('name', folder.name)}"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _what_ran(result),
        *[f"<p class='warning'>Data: {html.escape(w)}{'' if w.endswith(('?', '.')) else '.'}"
          "</p>" for w in result.info.get("data_warnings", [])],
        "<h2>Verdict</h2>", verdict(result),
        "<h2>Summary</h2>", _summary_note(result.info), summary_table(result),
        *_figures(result, images),
        *regime_section(result),
        *book_section(result, images),
        "<h2>Per fold: test-window Sharpe</h2>",
        "<p class='note'>The mean over seeds for agents; <em>failed</em> where a "
        "strategy failed in that fold (errors below). A shrunk agent shows the share of "
        "its agent's tilt it kept in the fold (κ, the mean over its runs; 0 holds the "
        "base) or the active share it was capped at.</p>", folds_table(result),
        *selection_section(result),
        *cv_section(result),
        *_links(folder),
    ]
    if result.errors:
        parts.append("<h2>Errors</h2><p class='note'>These strategies failed in a fold; "
                     "their metrics cover the other folds only.</p>")
        parts += [f"<pre>{html.escape(e)}</pre>" for e in result.errors]
    parts.append("</body></html>")
    return "\n".join(parts)


def _what_ran(result: BacktestResult) -> str:
    info, returns = result.info, result.returns
    period = f"{returns.index[0].date()} .. {returns.index[-1].date()}" if len(returns) else ""
    seeds = info.get("seeds") or []
    text = {key: html.escape(str(info.get(key)))
            for key in ("rebalance", "env", "benchmark", "baseline", "seconds")}
    return (
        f"<p class='note'>Out of sample {period}: {_count(info.get('folds'), 'walk-forward fold')}"
        f" whose test windows form one continuous investment (entered from cash once), rebalanced "
        f"{text['rebalance']} unless a strategy says otherwise, env spec "
        f"{text['env']}; every figure is net of transaction costs. "
        + (f"Agents trained with {_count(len(seeds), 'seed')} "
           f"({html.escape(', '.join(map(str, seeds)))}). " if result.agents() else "")
        + f"Benchmark: {text['benchmark']}; significance against {text['baseline']}. "
        f"Run time {text['seconds']} s.</p>")


def _cash_rate(rate: float | str) -> str:
    return f"dated, by day: {html.escape(rate)}" if isinstance(rate, str) else f"{rate:g} a day"


def _summary_note(info: dict) -> str:
    return (
        "<p class='note'>Sorted by Sharpe. An agent's figures are the means over its seeds "
        "of each seed's figure (one seed is what would be deployed); "
        "<code>_ensemble</code> rows hold the average of the seeds' targets, a strategy "
        "of its own. Sharpe: annualised, in excess of the cash rate "
        f"({_cash_rate(info.get('cash_rate', 0.0))}). Turnover: one-way (the share of the "
        "portfolio bought, which equals the share sold), per year. Active share: how far "
        "the weights held depart from the baseline's, half the sum of |w − w<sub>baseline"
        "</sub>|, averaged over the days (0: the baseline itself). Sharpe − baseline: "
        f"{html.escape(str(info.get('significance', 'bootstrap')))}, on the days every seed "
        "and the baseline have; an interval containing 0 is no evidence of a difference. "
        "Every other metric (Sortino, Calmar, VaR, CVaR, beta, alpha, PSR, DSR, ...) is in "
        "<code>metrics.csv</code>, per seed in <code>seeds.csv</code>.</p>")


def _figures(result: BacktestResult, images: dict[str, bytes]) -> list[str]:
    sections = [("equity", "Wealth"), ("seed_sharpes", "Sharpe ratio by seed"),
                ("significance", f"Sharpe against {html.escape(str(result.info.get('baseline')))}"),
                ("drawdowns", "Drawdowns"), ("rolling_sharpe", "Rolling Sharpe"),
                ("training", "Agents' training curves (per fold)")]
    parts = []
    for key, heading in sections:
        if key in images:
            parts += [f"<h2>{heading}</h2>", image(images[key], heading)]
    weights = image_grid(images, "weights_")
    return parts + (["<h2>Weights over time</h2>", *weights] if weights else [])


def _links(folder: Path) -> list[str]:
    """Links to the tearsheets and risk reports written beside the page."""
    parts = []
    tearsheets = sorted((folder / "tearsheets").glob("*.html"))
    if tearsheets:
        links = ", ".join(f"<a href='tearsheets/{p.name}'>{p.stem}</a>" for p in tearsheets)
        parts.append(f"<h2>Tearsheets (quantstats)</h2><p>{links}</p>")
    risk = sorted((folder / "risk").glob("*/report.html"))
    if risk:
        links = ", ".join(f"<a href='risk/{p.parent.name}/report.html'>{p.parent.name}</a>"
                          for p in risk)
        parts.append("<h2>Risk reports</h2><p class='note'>Where each strategy's risk comes "
                     "from at its last weights (an agent's: its ensemble, else its first "
                     "seed, at the last fold's weights), what named crises would do, and "
                     f"whether its VaR holds.</p><p>{links}</p>")
    return parts


def verdict(result: BacktestResult) -> str:
    """A few sentences from the numbers: who differs from the baseline at 95% and by
    how much, how the agents' seeds spread, and what failed."""
    table, baseline = result.metrics, result.info.get("baseline")
    items = []
    if baseline is not None and "sharpe_vs_baseline_low" in table:
        others = table.drop(index=baseline, errors="ignore")
        low, high = others["sharpe_vs_baseline_low"], others["sharpe_vs_baseline_high"]
        better, worse = others[low > 0], others[high < 0]
        base = f"{baseline} (Sharpe {table.loc[baseline, 'sharpe']:.2f})"
        for label, group in (("better than", better), ("worse than", worse)):
            for name, row in group.sort_values("sharpe_vs_baseline").iterrows():
                items.append(f"<b>{html.escape(name)}</b> is {label} {base} at 95%: Sharpe "
                             f"{row['sharpe_vs_baseline']:+.2f} "
                             f"[{row['sharpe_vs_baseline_low']:+.2f}, "
                             f"{row['sharpe_vs_baseline_high']:+.2f}].")
        rest = len(others) - len(better) - len(worse)
        if not len(better) and not len(worse):
            items.append(f"No strategy's Sharpe differs from {base} at 95%.")
        elif rest:
            items.append(f"The other {rest} strategies' intervals contain 0: no evidence "
                         f"that they differ from {baseline}.")
    base_turnover = table.loc[baseline, "turnover"] if baseline in table.index else np.nan
    for name in result.agents():
        row = table.loc[name]
        runs = int(row["seeds"])
        spread = (f"its {runs} seeds' Sharpe ratios range from {row['sharpe_seed_min']:.2f} to "
                  f"{row['sharpe_seed_max']:.2f} (mean {row['sharpe_seed_mean']:.2f}, std "
                  f"{row['sharpe_seed_std']:.2f})" if runs > 1 else
                  f"one run, Sharpe {row['sharpe']:.2f}")
        trade = (f"; it turns over {row['turnover']:.0f}x a year against {baseline}'s "
                 f"{base_turnover:.1f}x" if np.isfinite(base_turnover) else "")
        if np.isfinite(row.get("active_share", np.nan)):
            trade += f", and departs from {baseline} by an active share of " \
                f"{row['active_share']:.0%}"
        items.append(f"<b>{html.escape(name)}</b>: {spread}{trade}.{_harm(row, baseline)}")
    for run, day in ruins(result).items():
        items.append(f"<b>{html.escape(run)}</b> was ruined on {day.date()}: it lost all "
                     "its wealth.")
    failed = result.folds[result.folds["error"].fillna("") != ""]
    if len(failed):
        names = ", ".join(sorted(set(failed["strategy"])))
        items.append(f"{len(failed)} fold run(s) failed ({html.escape(names)}): see Errors.")
    return "<div class='verdict'><ul>" + "".join(f"<li>{i}</li>" for i in items) + \
        "</ul></div>"


def _harm(row: pd.Series, baseline: str | None) -> str:
    """An agent's harm against the baseline, in words (``measures.harm``)."""
    parts = []
    worst = row.get("worst_3y_vs_baseline", np.nan)
    if np.isfinite(worst):
        parts.append(f"over its worst 3 years its Sharpe was {abs(worst):.2f} "
                     f"{'below' if worst < 0 else 'above'} {baseline}'s")
    beaten = row.get("folds_beaten", np.nan)
    if np.isfinite(beaten):
        parts.append(f"it beat {baseline} in {beaten:.0%} of the test folds")
    below = row.get("seeds_below_baseline", np.nan)
    if np.isfinite(below):
        seeds = int(row["seeds"])
        parts.append(f"{round(below * seeds)} of its {seeds} runs' Sharpe ratios are below "
                     f"{baseline}'s" if seeds > 1 else
                     f"its Sharpe ratio is {'' if below else 'not '}below {baseline}'s")
    return f" Harm: {'; '.join(parts)}." if parts else ""


def summary_table(result: BacktestResult) -> str:
    table = result.metrics.sort_values("sharpe", ascending=False)
    trained = set(result.agents())
    labels = candidate_labels(result)
    rows = []
    for name, row in table.iterrows():
        seeds = int(row["seeds"])
        sharpe = (f"{row['sharpe']:.2f} ± {row['sharpe_seed_std']:.2f} "
                  f"({row['sharpe_seed_min']:.2f}..{row['sharpe_seed_max']:.2f})"
                  if seeds > 1 else f"{row['sharpe']:.2f}")
        if name == result.info.get("baseline"):
            versus = "baseline"
        elif np.isfinite(row.get("sharpe_vs_baseline_low", np.nan)):
            versus = (f"{row['sharpe_vs_baseline']:+.2f} [{row['sharpe_vs_baseline_low']:+.2f}, "
                      f"{row['sharpe_vs_baseline_high']:+.2f}]")
        else:
            versus = ""
        cells = [str(seeds), _pct(row["cagr"]), _pct(row["volatility"]), sharpe,
                 _pct(row["max_drawdown"]), f"{row['turnover']:.1f}",
                 _pct(row.get("active_share", np.nan)), versus]
        css = " class='agent'" if name in trained else ""
        label = html.escape(name) + (f"<br><small>{html.escape(labels[name])}</small>"
                                     if name in labels else "")
        rows.append(f"<tr{css}><td>{label}</td>"
                    + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["Strategy", *SUMMARY_COLUMNS])
    return (f"<table class='numbers summary'><thead><tr>{head}</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def regime_section(result: BacktestResult) -> list[str]:
    """Each strategy's Sharpe difference against the baseline in bull, sideways and
    bear markets (``reports.regimes``); nothing without a baseline."""
    baseline, benchmark = result.info.get("baseline"), result.info.get("benchmark")
    if baseline is None:
        return []
    market = benchmark if benchmark in result.returns else baseline
    labels = market_regimes(result.returns[market].dropna())
    runs = {s: result.runs(s) for s in result.metrics.sort_values(
        "sharpe", ascending=False).index if s != baseline}
    if not runs or labels.isna().all():
        return []
    table = regime_differences(result.returns, runs, baseline, labels, rf=result.rf,
                               periods=result.info.get("periods_per_year", PERIODS))
    counts = labels.value_counts()
    head = ["Strategy", *[f"{r} ({counts.get(r, 0)} days)" for r in REGIMES]]
    rows = [[strategy, *[_signed_interval(row["difference"], row["low"], row["high"])
                         for _, row in group.set_index("regime").loc[list(REGIMES)].iterrows()]]
            for strategy, group in table.groupby("strategy", sort=False)]
    note = (f"Sharpe − {baseline} on the days of each market regime, with the interval "
            f"of the summary's test on those days. A day is bull (bear) where "
            f"{market}'s log return over the {WINDOW} bars before it exceeds half "
            f"(falls below minus half) its standard deviation over them, sideways "
            f"between; the first {WINDOW} test days have no label. The days of a regime "
            "are not contiguous, so the intervals are approximate.")
    return [f"<h2>Against {html.escape(baseline)} by market regime</h2>",
            f"<p class='note'>{html.escape(note)}</p>", _table(head, rows, "numbers regimes")]


def candidate_labels(result: BacktestResult) -> dict[str, str]:
    """A selection candidate's hyperparameters as a label (``trade_rate=0.25``)."""
    candidates = result.selection.get("candidates")
    if candidates is None:
        return {}
    keys = [c for c in candidates.columns if c not in ("strategy", "candidate")]
    return {str(r["candidate"]): ", ".join(f"{k}={r[k]}" for k in keys if pd.notna(r[k]))
            for _, r in candidates.iterrows()}


def folds_table(result: BacktestResult) -> str:
    """One row per fold, one column per strategy: the mean test Sharpe of its runs that
    finished; ``failed`` where every run failed, ``(k/n failed)`` where some did."""
    folds = result.folds
    strategies = list(dict.fromkeys(folds["strategy"]))
    rows = []
    for fold, part in folds.groupby("fold", sort=True):
        first = part.iloc[0]
        cells = [f"<td>{fold}</td><td>{first['test_start']} .. {first['test_end']}</td>"]
        for name in strategies:
            runs = part[part["strategy"] == name]
            failed = int((runs["error"].fillna("") != "").sum())
            if failed == len(runs) and failed:
                cells.append("<td class='failed'>failed</td>")
                continue
            text = f"{runs['sharpe'].mean():.2f}" if len(runs) else ""
            text += _kept(runs)
            if failed:
                text += f" ({failed}/{len(runs)} failed)"
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    # names may break after an underscore, so that ten or more strategies fit the page
    head = "".join(f"<th>{html.escape(c).replace('_', '_<wbr>')}</th>"
                   for c in ["Fold", "Test window", *strategies])
    return (f"<table class='numbers folds'><thead><tr>{head}</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def selection_section(result: BacktestResult) -> list[str]:
    """Where an agent selects among candidates: the candidates, how well each rule
    foresaw the folds, whether the best candidate beats the baseline, and each rule's
    choice in each fold (``selection/``)."""
    if not result.selection:
        return []
    tables = result.selection
    parts = ["<h2>Selection: rules judged out of sample</h2>",
             "<p class='note'>Each rule picks one candidate per fold from what was known "
             "before the fold's test start; its returns are its choices' test returns "
             "(strategies <em>&lt;agent&gt;_select_&lt;rule&gt;</em> above), a switch "
             "charged as a trade. Foresight: the rank correlation across candidates of "
             "a rule's score and the fold's out-of-sample Sharpe (mean over folds, 95% "
             "interval; it needs three candidates or more), and the regret against the "
             "best candidate in hindsight.</p>"]
    candidates = tables["candidates"]
    keys = [c for c in candidates.columns if c not in ("strategy", "candidate")]
    parts += ["<h3>Candidates</h3>", _table(
        ["Candidate", *keys],
        [[r["candidate"], *(r[k] for k in keys)] for _, r in candidates.iterrows()])]
    parts += ["<h3>Foresight per rule</h3>", _table(
        ["Agent", "Rule", "Rank correlation [95% CI]", "Regret (Sharpe)", "Beat the median",
         "Picked the best", "Switches"],
        [[r["strategy"], r["rule"],
          _interval(r["spearman_mean"], r["spearman_low"], r["spearman_high"]),
          _number(r["regret_mean"]), _pct(r["beats_median"]), _pct(r["picked_best"]),
          r["switches"]] for _, r in tables["foresight"].iterrows()])]
    spa = tables.get("spa")
    if spa is not None and not spa.empty:
        parts += _subsection(
            "Does the best candidate beat the baseline?",
            "Every candidate's every seed is a model; Hansen's SPA asks whether the best "
            "of them has a higher mean daily return than the baseline once all were tried "
            "(a small p-value: it does), and Romano-Wolf's StepM names those that do "
            "(arch.bootstrap, stationary bootstrap).",
            ["Agent", "Runs tried", "Days", "SPA p-value",
             "Better than the baseline (StepM, 5%)"],
            [[r["strategy"], r["models"], r["days"], f"{r['spa_p']:.3f}",
              r["stepm_better"] if pd.notna(r["stepm_better"]) else "none"]
             for _, r in spa.iterrows()])
    overfit = tables.get("pbo")
    if overfit is not None and not overfit.empty:
        parts += _subsection(
            "Is the best candidate in sample overfit?",
            "The probability of backtest overfitting (CSCV): the test days cut into "
            "blocks, and over every way of calling half of them in sample, the share where "
            "the in-sample best candidate ranks at or below the median on the other half "
            "(about 0.5: luck; near 0: a real winner). With fewer than 10 candidates the "
            "ranks are coarse.",
            ["Agent", "Candidates", "Days", "Blocks", "PBO", "P(winner loses out of sample)"],
            [[r["strategy"], r["configurations"], r["days"], r["blocks"], f"{r['pbo']:.2f}",
              f"{r['probability_of_loss']:.2f}"] for _, r in overfit.iterrows()])
    parts += ["<h3>Choices per fold</h3>", _table(
        ["Agent", "Fold", "Rule", "Choice", "Scored by", "Its test Sharpe",
         "Best in hindsight", "Regret"],
        [[r["strategy"], r["fold"], r["rule"], r["choice"], r["basis"],
          _number(r["oos_sharpe"]), r["best"], _number(r["regret"])]
         for _, r in tables["choices"].iterrows()])]
    return parts


def cv_section(result: BacktestResult) -> list[str]:
    """With ``[cv]``: each strategy's distribution of path Sharpe ratios over the CPCV
    paths (and seeds), beside the walk-forward above, and the layout (``cv/``)."""
    if not result.cv:
        return []
    tables = result.cv
    groups, splits = tables["groups"], tables["splits"]
    paths = len(tables["paths"])
    note = (f"Combinatorial purged cross-validation: the decision days cut into "
            f"{len(groups)} groups ({groups['start'].iloc[0]} .. {groups['end'].iloc[-1]}), "
            f"{len(splits)} training combinations, {paths} paths that each test every group "
            "once with one split's model per group, holding what the previous group ended "
            "with (a change of model is charged as a trade). Agents train on each split's "
            "training segments only. Walk-forward stays the headline; this is the spread "
            "of outcomes beside it. P(below baseline): the share of paths (and seeds) "
            "where the strategy's Sharpe is below the baseline's on the same path.")
    return ["<h2>CPCV: Sharpe over paths</h2>", f"<p class='note'>{html.escape(note)}</p>",
            _table(["Strategy", "Paths", "Runs", "Sharpe mean", "Std", "5%", "Median", "95%",
                    "P(Sharpe < 0)", "P(below baseline)", "Turnover"],
                   [[r["strategy"], int(r["paths"]), int(r["runs"]), _number(r["sharpe_mean"]),
                     _number(r["sharpe_std"]), _number(r["sharpe_p05"]),
                     _number(r["sharpe_median"]), _number(r["sharpe_p95"]),
                     _pct(r["p_sharpe_below_0"]), _pct(r["p_below_baseline"]),
                     _number(r["turnover"])] for _, r in tables["metrics"].iterrows()]),
            "<h3>Groups</h3>", _table(["Group", "Start", "End", "Days"],
                                      groups[["group", "start", "end", "days"]].values.tolist())]


def _kept(runs: pd.DataFrame) -> str:
    """A shrunk twin's mean kappa or cap in a fold, as the folds table shows it."""
    for key, symbol in (("kappa", "κ"), ("cap", "cap")):
        values = runs[key].dropna() if key in runs else pd.Series(dtype=float)
        if len(values):
            return f" <small>{symbol} {values.mean():.2f}</small>"
    return ""


def _subsection(heading: str, note: str, head: list[str],
                rows: list[list[object]]) -> list[str]:
    """A heading, a note on how to read what follows, and its table."""
    return [f"<h3>{html.escape(heading)}</h3>", f"<p class='note'>{html.escape(note)}</p>",
            _table(head, rows)]


def _table(head: list[str], rows: list[list[object]], css: str = "numbers") -> str:
    """A table of numbers, every cell escaped."""
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) +
                    "</tr>" for row in rows)
    names = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return (f"<table class='{css}'><thead><tr>{names}</tr></thead><tbody>{cells}"
            "</tbody></table>")


def _number(value: object) -> str:
    return f"{value:.2f}" if pd.notna(value) else ""


def _interval(value: object, low: object, high: object) -> str:
    """``value [low, high]``, the value alone without bounds, nothing without a value."""
    if pd.isna(value):
        return ""
    if pd.isna(low) or pd.isna(high):
        return _number(value)
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _signed_interval(value: float, low: float, high: float) -> str:
    """``+0.12 [-0.30, +0.55]`` as the summary writes a difference; nothing without one."""
    return "" if pd.isna(value) else f"{value:+.2f} [{low:+.2f}, {high:+.2f}]"


def _count(n: object, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _pct(value: float) -> str:
    return f"{value:.1%}" if pd.notna(value) else ""

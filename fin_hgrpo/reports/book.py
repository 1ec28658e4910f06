"""What a long-short book's report adds: its exposures, what it paid and whether it
survived.

Read from the result files alone: exposures from ``weights/<run>.csv`` (the assets'
signed weights: gross is the sum of their sizes, net their sum, long and short the
two sides), costs from ``costs/<run>.csv`` (trading, of which impact, borrow and
financing, each a share of the day's wealth, summed over a year; days capped), ruin
from ``returns.csv`` (a day that lost the whole book is a return of exactly -1).
"""

from __future__ import annotations

import html

import pandas as pd
from matplotlib.figure import Figure

from fin_hgrpo.data import CASH
from fin_hgrpo.measures.performance import PERIODS
from fin_hgrpo.reports.html import image_grid, numbers_table
from fin_hgrpo.walkforward.results import BacktestResult

EXPOSURES = ("gross", "net", "long", "short")


def exposures(weights: pd.DataFrame) -> pd.DataFrame:
    """Gross, net, long and short exposure of the assets' weights on each day."""
    assets = weights.drop(columns=CASH, errors="ignore")
    long, short = assets.clip(lower=0).sum(axis=1), (-assets).clip(lower=0).sum(axis=1)
    return pd.DataFrame({"gross": long + short, "net": long - short, "long": long,
                         "short": short})


def ruins(result: BacktestResult) -> dict[str, pd.Timestamp]:
    """The runs that lost all their wealth, and the day they did."""
    lost = result.returns == -1.0
    return {run: lost.index[lost[run].to_numpy()][0] for run in lost if lost[run].any()}


def book_table(result: BacktestResult) -> pd.DataFrame:
    """Per strategy, over its runs: mean exposures, what trading (the spread, and market
    impact where it is modelled), borrowing and financing cost a year (shares of
    wealth), the days a year a participation cap did not fill, and the runs ruined."""
    periods = result.info.get("periods_per_year", PERIODS)
    lost = ruins(result)
    rows = {}
    for name in result.metrics.index:
        runs = [run for run in result.runs(name) if run in result.costs]
        if not runs:
            continue
        shown = pd.concat([exposures(result.weights[run]) for run in runs]).mean()
        costs = pd.concat([result.costs[run] for run in runs])
        if "impact" in costs:
            costs["trading"] -= costs["impact"]  # the spread's part
        paid = costs.mean() * periods
        rows[name] = {**shown.to_dict(), **{f"{k}_a_year": v for k, v in paid.items()},
                      "ruined": sum(run in lost for run in runs), "runs": len(runs)}
    return pd.DataFrame.from_dict(rows, orient="index")


def exposure_figure(name: str, weights: pd.DataFrame):
    """One run's gross, long, short and net exposure over time."""
    frame = exposures(weights)
    fig = Figure(figsize=(5.4, 2.9))
    ax = fig.subplots()
    for column, style in (("gross", "-"), ("long", "-"), ("short", "-"), ("net", "--")):
        ax.plot(frame.index, frame[column], style, linewidth=1.1, label=column)
    ax.axhline(0, color="0.6", linewidth=0.6)
    ax.set_title(name, fontsize=10)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def book_section(result: BacktestResult, images: dict[str, bytes]) -> list[str]:
    """The report's section on the book: a table of exposures and costs, the runs
    ruined, and each strategy's exposure over time."""
    table = book_table(result)
    if table.empty:
        return []
    shown = table[list(EXPOSURES)].copy()
    paid = [k for k in ("trading", "impact", "borrow", "financing") if f"{k}_a_year" in table]
    for kind in paid:
        shown[f"{kind} a year"] = table[f"{kind}_a_year"]
    formats = dict.fromkeys(EXPOSURES, ".2f") | {f"{k} a year": ".2%" for k in paid}
    if "capped_a_year" in table:
        shown["capped days a year"] = table["capped_a_year"]
        formats["capped days a year"] = ".1f"
    shown["ruined"] = [f"{int(r['ruined'])} of {int(r['runs'])} runs"
                       for _, r in table.iterrows()]
    formats["ruined"] = ""
    parts = ["<h2>The book: exposure and what it cost</h2>",
             "<p class='note'>Mean exposures of the assets' weights over the test days "
             "(gross: the sum of their sizes; net: their sum; cash holds the rest, below "
             "zero when the book borrows). Costs a year as shares of wealth: trading (the "
             "spread; impact, where modelled, beside it), the fee to borrow what was short, "
             "and the spread paid on borrowed cash. Capped days: rebalances a participation "
             "cap did not fill in full. Ruined: runs that lost all their wealth; each is "
             "closed from that day.</p>",
             numbers_table(shown.rename_axis("strategy"), formats)]
    parts += [f"<p class='warning'><b>{html.escape(run)}</b> was ruined on {day.date()}: "
              f"it lost all its wealth, and held nothing after.</p>"
              for run, day in ruins(result).items()]
    return parts + image_grid(images, "exposure_")


def signed(weights: pd.DataFrame) -> bool:
    """Whether a run's weights ever go below zero (a short, or borrowed cash)."""
    return bool((weights.to_numpy() < 0).any())

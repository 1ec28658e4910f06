"""The report of a backtest: plots, one self-contained HTML page, quantstats tearsheets.

Everything here reads the result files (``BacktestResult.read``), so ``fin-hgrpo
report DIR`` rebuilds the page from the CSVs alone. The page opens with a verdict
written from the numbers, then a summary narrow enough to read (the rest of the metrics
stay in ``metrics.csv`` and ``seeds.csv``). In the charts the agents (with the band of
their seeds), the baseline, the benchmark and the best classical strategy stand out;
the other strategies recede in grey.
"""

from __future__ import annotations

import dataclasses
import html
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps, font_manager, ticker
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from fin_hgrpo.io import atomic_write, atomic_write_text
from fin_hgrpo.measures.performance import PERIODS, drawdown, rolling_sharpe
from fin_hgrpo.reports.backtest_page import page
from fin_hgrpo.reports.book import exposure_figure, signed
from fin_hgrpo.reports.html import png
from fin_hgrpo.trust import inside
from fin_hgrpo.walkforward.results import BacktestResult

_FAINT = "0.72"  # the grey of the strategies that recede
LEGEND_FOLDS = 8  # more folds than this are coloured on a scale, not named in a legend
FOLD_COLOURS = colormaps["viridis"]
_AGENT_COLOURS = ["tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                  "tab:olive", "tab:cyan"]


def write_report(folder: str | Path) -> Path:
    """Plots under ``plots/`` and ``report.html``, from the result files in ``folder``."""
    folder = Path(folder)
    result = BacktestResult.read(folder)
    figures = {name: draw(result) for name, draw in _FIGURES.items()}
    figures |= {f"weights_{run}": _weights_figure(label, result.weights[run])
                for run, label in _weights_shown(result).items()}
    figures |= {f"exposure_{run}": exposure_figure(label, result.weights[run])
                for run, label in _weights_shown(result).items()
                if run in result.costs and signed(result.weights[run])}
    images = {}
    for name, fig in figures.items():
        if fig is None:
            continue
        images[name] = png(fig)
        atomic_write(folder / "plots" / f"{name}.png",
                     lambda tmp, data=images[name]: tmp.write_bytes(data))
    return atomic_write_text(folder / "report.html", page(result, images, folder))


def write_tearsheets(folder: str | Path) -> list[Path]:
    """A quantstats tearsheet per strategy, against the benchmark when there is one."""
    import matplotlib.pyplot as plt  # quantstats draws through pyplot: its figures are closed
    import quantstats as qs

    _alias_missing_fonts()
    folder = Path(folder)
    result = BacktestResult.read(folder)
    benchmark = result.info.get("benchmark")
    periods = result.info.get("periods_per_year", PERIODS)
    written = []
    for name in result.returns:
        returns = result.returns[name].dropna()
        bench = None if benchmark in (None, name) else result.returns[benchmark].loc[
            returns.index]
        path = inside(folder, "tearsheets", f"{name}.html")  # names checked on reading too
        path.parent.mkdir(exist_ok=True)
        with warnings.catch_warnings():
            # quantstats labels its yearly-returns axis without fixing the ticks first;
            # the labels it draws are right (one bar per year), so this one is noise
            warnings.filterwarnings("ignore", message="set_ticklabels", category=UserWarning)
            atomic_write(path, lambda tmp, r=returns, b=bench, n=name: qs.reports.html(
                r, benchmark=b, output=str(tmp), title=html.escape(n), strategy_title=n,
                benchmark_title=benchmark, periods_per_year=periods))
        plt.close("all")
        written.append(path)
    return written


def _alias_missing_fonts() -> None:
    """quantstats draws every label in Arial; where Arial is not installed, let the name
    resolve to matplotlib's bundled DejaVu Sans instead of failing on each label."""
    manager = font_manager.fontManager
    if any(entry.name == "Arial" for entry in manager.ttflist):
        return
    manager.ttflist.extend(dataclasses.replace(entry, name="Arial")
                           for entry in list(manager.ttflist) if entry.name == "DejaVu Sans")


# ---- figures --------------------------------------------------------------------------------
def _styles(result: BacktestResult) -> dict[str, dict]:
    """How each strategy is drawn: agents in colour and thick, the baseline black and
    the benchmark grey (dashed), the best other classical strategy green, the rest faint."""
    info, table = result.info, result.metrics
    trained = result.agents()
    styles = {name: {"color": _FAINT, "linewidth": 0.9, "zorder": 1} for name in table.index}
    classical = [n for n in table.sort_values("sharpe", ascending=False).index
                 if n not in trained and n not in (info.get("baseline"), info.get("benchmark"))]
    if classical:
        styles[classical[0]] = {"color": "tab:green", "linewidth": 1.8, "zorder": 3}
    for i, name in enumerate(trained):
        styles[name] = {"color": _AGENT_COLOURS[i % len(_AGENT_COLOURS)], "linewidth": 2.0,
                        "zorder": 4}
    for key, colour in (("baseline", "black"), ("benchmark", "0.45")):
        if info.get(key) in styles:
            styles[info[key]] = {"color": colour, "linewidth": 1.6, "linestyle": "--",
                                 "zorder": 2}
    return styles


def _by_strategy(result: BacktestResult, per_run) -> dict[str, pd.DataFrame]:
    """``per_run(series)`` of each run, as one frame (dates x runs) per strategy."""
    return {name: pd.concat({run: per_run(result.returns[run]) for run in result.runs(name)},
                            axis=1)
            for name in result.metrics.index if result.runs(name)}


def _lines(result: BacktestResult, frames: dict[str, pd.DataFrame], title: str, ylabel: str,
           log: bool = False, band: bool = True):
    """One line per strategy (the median of its seeds, with their range shaded); a
    strategy with failed folds says that they are drawn as held in cash."""
    styles = _styles(result)
    fig = Figure(figsize=(12.5, 4.8))
    ax = fig.subplots()
    for name, frame in frames.items():
        style = styles[name]
        seeds = frame.shape[1]
        notes = [] if seeds == 1 else [f"median of {seeds} seeds, range shaded"]
        if result.returns[result.runs(name)].isna().to_numpy().any():
            notes.append("failed folds as cash")
        label = f"{name} ({'; '.join(notes)})" if notes else name
        ax.plot(frame.index, frame.median(axis=1), label=label, **style)
        if band and seeds > 1:
            ax.fill_between(frame.index, frame.min(axis=1), frame.max(axis=1),
                            color=style["color"], alpha=0.18, linewidth=0)
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def _equity(result: BacktestResult):
    frames = _by_strategy(result, lambda r: (1 + r.fillna(0.0)).cumprod())
    return _lines(result, frames, "Wealth out of sample, net of costs (log scale)", "wealth",
                  log=True)


def _drawdowns(result: BacktestResult):
    frames = _by_strategy(result, lambda r: drawdown(r.fillna(0.0)))
    return _lines(result, frames, "Drawdown from the running peak", "drawdown", band=False)


def _rolling_sharpe(result: BacktestResult):
    """Sharpe over the last half year of bars, annualised."""
    periods = result.info.get("periods_per_year", PERIODS)
    bars = max(2, periods // 2)

    frames = _by_strategy(result, lambda r: rolling_sharpe(r, bars, result.rf, periods))
    return _lines(result, frames, f"Rolling Sharpe ratio (half a year: {bars} bars)",
                  "Sharpe", band=False)


def _seed_sharpes(result: BacktestResult):
    """Each strategy's Sharpe ratio per seed: one dot per run, a bar at the mean."""
    table = result.metrics.sort_values("sharpe")
    styles = _styles(result)
    fig = Figure(figsize=(9, 0.36 * len(table) + 1.3))
    ax = fig.subplots()
    for row, name in enumerate(table.index):
        values = result.seeds.loc[result.runs(name), "sharpe"]
        colour = styles[name]["color"]
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
        ax.scatter(values, row + np.asarray(jitter), s=22, color=colour, zorder=3)
        ax.plot([table.loc[name, "sharpe"]] * 2, [row - 0.3, row + 0.3], color=colour,
                linewidth=2)
    ax.set_yticks(range(len(table)), table.index)
    ax.set_xlabel("Sharpe ratio out of sample (one dot per seed; bar: the mean)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def _significance(result: BacktestResult):
    table = result.metrics
    if "sharpe_vs_baseline" not in table:
        return None
    table = table.drop(index=result.info.get("baseline"), errors="ignore")
    table = table.dropna(subset=["sharpe_vs_baseline_low"]).sort_values("sharpe_vs_baseline")
    if table.empty:
        return None
    styles = _styles(result)
    fig = Figure(figsize=(9, 0.36 * len(table) + 1.3))
    ax = fig.subplots()
    for row, name in enumerate(table.index):
        colour = "0.45" if styles[name]["color"] == _FAINT else styles[name]["color"]
        ax.hlines(row, table.loc[name, "sharpe_vs_baseline_low"],
                  table.loc[name, "sharpe_vs_baseline_high"], linewidth=2.2, color=colour,
                  alpha=0.7)
        ax.plot(table.loc[name, "sharpe_vs_baseline"], row, "o", color=colour)
    ax.axvline(0.0, color="grey", linewidth=1)
    ax.set_yticks(range(len(table)), table.index)
    ax.set_xlabel(f"Sharpe minus {result.info.get('baseline')}'s (95% interval; seeds and "
                  "days resampled)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def _training(result: BacktestResult):
    """Per agent and fold, the mean over seeds of the training log growth."""
    owner = result.seeds["strategy"].to_dict()
    curves: dict[str, dict[str, list[pd.Series]]] = {}
    for key, log in result.training.items():
        run, fold = key.rsplit("_fold", 1)
        if "mean_log_growth" in log and run in owner:
            series = log.set_index("states")["mean_log_growth"].rolling(10, min_periods=1)
            curves.setdefault(owner[run], {}).setdefault(fold, []).append(series.mean())
    if not curves:
        return None
    n_folds = max(int(fold) for folds in curves.values() for fold in folds) + 1
    many = n_folds > LEGEND_FOLDS  # coloured first to last on a scale, not named
    fig = Figure(figsize=(4.2 * len(curves), 3.4))
    axes = fig.subplots(1, len(curves), squeeze=False)
    for ax, (agent, folds) in zip(axes[0], curves.items(), strict=True):
        for fold, seeds in sorted(folds.items(), key=lambda item: int(item[0])):
            mean = pd.concat(seeds, axis=1).mean(axis=1)
            colour = FOLD_COLOURS(int(fold) / max(n_folds - 1, 1)) if many else None
            ax.plot(mean.index, mean, label=f"fold {fold}", linewidth=1.2, color=colour)
        ax.set_title(f"{agent} (mean of {max(len(s) for s in folds.values())} seeds)",
                     fontsize=10)
        ax.set_xlabel("market states visited")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean log growth per day (training)")
    fig.tight_layout()
    if many:
        scale = ScalarMappable(Normalize(0, n_folds - 1), FOLD_COLOURS)
        bar = fig.colorbar(scale, ax=list(axes[0]), fraction=0.02, pad=0.01)
        bar.ax.set_title("fold", fontsize=8)
    else:
        axes[0][0].legend(fontsize=7, frameon=False)
    return fig


def _weights_shown(result: BacktestResult) -> dict[str, str]:
    """The run whose weights each strategy shows (an agent's first seed), and its label."""
    shown = {}
    for name in result.metrics.index:
        runs = [r for r in result.runs(name) if r in result.weights]
        if runs:
            seed = result.seeds.loc[runs[0], "seed"]
            shown[runs[0]] = name if pd.isna(seed) else f"{name} (seed {int(seed)})"
    return shown


def _weights_figure(name: str, weights: pd.DataFrame, top: int = 8):
    mean = weights.drop(columns="cash", errors="ignore").mean().sort_values(ascending=False)
    shown = list(mean.index[:top])
    frame = weights[shown].copy()
    rest = [c for c in weights if c not in shown and c != "cash"]
    if rest:
        frame["other"] = weights[rest].sum(axis=1)
    if "cash" in weights:
        frame["cash"] = weights["cash"]
    fig = Figure(figsize=(5.4, 2.9))
    ax = fig.subplots()
    if signed(frame):  # a long-short book: the long side stacked up, the short side down
        colours = [f"C{i % 10}" for i in range(frame.shape[1])]
        values = frame.T.to_numpy()
        ax.stackplot(frame.index, values.clip(min=0), labels=frame.columns, colors=colours,
                     linewidth=0)
        ax.stackplot(frame.index, values.clip(max=0), colors=colours, linewidth=0)
        ax.axhline(0, color="0.3", linewidth=0.6)
    else:
        ax.stackplot(frame.index, frame.T.to_numpy(), labels=frame.columns, linewidth=0)
        ax.set_ylim(0, 1)
    ax.set_title(name, fontsize=10)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


_FIGURES = {"equity": _equity, "seed_sharpes": _seed_sharpes, "significance": _significance,
            "drawdowns": _drawdowns, "rolling_sharpe": _rolling_sharpe, "training": _training}

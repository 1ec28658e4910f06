"""The report of a backtest: plots, one self-contained HTML page, quantstats tearsheets.

Everything here reads the result files (``results.read_results``), so ``fin-hgrpo
report DIR`` rebuilds the page from the CSVs alone.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from fin_hgrpo.backtest.metrics import PERIODS, drawdown  # noqa: E402
from fin_hgrpo.backtest.results import BacktestResult, read_results  # noqa: E402
from fin_hgrpo.io import atomic_write, atomic_write_text  # noqa: E402

AGENTS = ("hybrid_grpo", "ppo", "grpo")
ROLLING_DAYS = 126
_PERCENT = {"cagr", "volatility", "max_drawdown", "var_95", "cvar_95", "alpha", "hit_rate"}


def write_report(folder: str | Path) -> Path:
    """Plots under ``plots/`` and ``report.html``, from the result files in ``folder``."""
    folder = Path(folder)
    result = read_results(folder)
    figures = {name: draw(result) for name, draw in _FIGURES.items()}
    figures |= {f"weights_{name}": _weights_figure(name, frame)
                for name, frame in result.weights.items()}
    images = {}
    for name, fig in figures.items():
        if fig is None:
            continue
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
        images[name] = buffer.getvalue()
        atomic_write(folder / "plots" / f"{name}.png",
                     lambda tmp, data=images[name]: tmp.write_bytes(data))
    return atomic_write_text(folder / "report.html", _page(result, images, folder))


def write_tearsheets(folder: str | Path) -> list[Path]:
    """A quantstats tearsheet per strategy, against the benchmark when there is one."""
    import quantstats as qs

    _alias_missing_fonts()
    folder = Path(folder)
    result = read_results(folder)
    benchmark = result.info.get("benchmark")
    written = []
    for name in result.returns:
        returns = result.returns[name].dropna()
        bench = None if benchmark in (None, name) else result.returns[benchmark].loc[
            returns.index]
        path = folder / "tearsheets" / f"{name}.html"
        path.parent.mkdir(exist_ok=True)
        with warnings.catch_warnings():
            # quantstats labels its yearly-returns axis without fixing the ticks first;
            # the labels it draws are right (one bar per year), so this one is noise
            warnings.filterwarnings("ignore", message="set_ticklabels", category=UserWarning)
            atomic_write(path, lambda tmp, r=returns, b=bench, n=name: qs.reports.html(
                r, benchmark=b, output=str(tmp), title=n, strategy_title=n,
                benchmark_title=benchmark))
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
def _style(name: str) -> dict:
    if name in AGENTS or name.split("_seed")[0] in AGENTS:
        return {"linewidth": 2.0}
    if name in ("equal_weight", "benchmark"):
        return {"linewidth": 1.6, "linestyle": "--"}
    return {"linewidth": 1.0, "alpha": 0.8}


def _lines(frame: pd.DataFrame, title: str, ylabel: str, log: bool = False):
    fig, ax = plt.subplots(figsize=(11, 4.2))
    for name in frame:
        ax.plot(frame.index, frame[name], label=name, **_style(name))
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


def _equity(result: BacktestResult):
    wealth = (1 + result.returns.fillna(0.0)).cumprod()
    return _lines(wealth, "Wealth out of sample, net of costs (log scale)", "wealth", log=True)


def _drawdowns(result: BacktestResult):
    frame = result.returns.apply(lambda r: drawdown(r.fillna(0.0)))
    return _lines(frame, "Drawdown from the running peak", "drawdown")


def _rolling_sharpe(result: BacktestResult):
    r = result.returns
    rolling = r.rolling(ROLLING_DAYS).mean() / r.rolling(ROLLING_DAYS).std() * np.sqrt(PERIODS)
    return _lines(rolling, f"Rolling Sharpe ratio ({ROLLING_DAYS} days)", "Sharpe")


def _significance(result: BacktestResult):
    table = result.metrics
    if "sharpe_vs_baseline" not in table:
        return None
    table = table.drop(index=result.info.get("baseline"), errors="ignore")
    table = table.sort_values("sharpe_vs_baseline")
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(table) + 1.2))
    rows = np.arange(len(table))
    ax.hlines(rows, table["sharpe_vs_baseline_low"], table["sharpe_vs_baseline_high"],
              linewidth=2, alpha=0.6)
    ax.plot(table["sharpe_vs_baseline"], rows, "o")
    ax.axvline(0.0, color="grey", linewidth=1)
    ax.set_yticks(range(len(table)), table.index)
    ax.set_xlabel(f"Sharpe minus {result.info.get('baseline')}'s (95% block-bootstrap interval)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def _training(result: BacktestResult):
    if not result.training:
        return None
    agents = sorted({key.rsplit("_fold", 1)[0] for key in result.training})
    fig, axes = plt.subplots(1, len(agents), figsize=(4.2 * len(agents), 3.4), squeeze=False)
    for ax, agent in zip(axes[0], agents, strict=True):
        for key, log in result.training.items():
            if key.rsplit("_fold", 1)[0] == agent and "mean_log_growth" in log:
                smooth = log["mean_log_growth"].rolling(10, min_periods=1).mean()
                ax.plot(log["states"], smooth, label=f"fold {key.rsplit('_fold', 1)[1]}")
        ax.set_title(agent)
        ax.set_xlabel("market states visited")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean log growth per day (training)")
    axes[0][0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def _weights_figure(name: str, weights: pd.DataFrame, top: int = 8):
    mean = weights.drop(columns="cash", errors="ignore").mean().sort_values(ascending=False)
    shown = list(mean.index[:top])
    frame = weights[shown].copy()
    rest = [c for c in weights if c not in shown and c != "cash"]
    if rest:
        frame["other"] = weights[rest].sum(axis=1)
    if "cash" in weights:
        frame["cash"] = weights["cash"]
    fig, ax = plt.subplots(figsize=(5.4, 2.9))
    ax.stackplot(frame.index, frame.T.to_numpy(), labels=frame.columns, linewidth=0)
    ax.set_ylim(0, 1)
    ax.set_title(name, fontsize=10)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


_FIGURES = {"equity": _equity, "drawdowns": _drawdowns, "rolling_sharpe": _rolling_sharpe,
            "significance": _significance, "training": _training}


# ---- the page -------------------------------------------------------------------------------
def _image(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _metrics_table(table: pd.DataFrame) -> str:
    shown = table.copy()
    for column in shown:
        if column in _PERCENT:
            shown[column] = shown[column].map(lambda v: f"{v:.2%}" if pd.notna(v) else "")
        elif column == "max_drawdown_days":
            shown[column] = shown[column].map(lambda v: f"{v:.0f}")
        elif column.startswith("sharpe_vs_baseline"):
            continue
        else:
            shown[column] = shown[column].map(lambda v: f"{v:.2f}" if pd.notna(v) else "")
    if "sharpe_vs_baseline" in table:
        shown["sharpe_vs_baseline"] = [
            f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]" for d, lo, hi in
            table[["sharpe_vs_baseline", "sharpe_vs_baseline_low",
                   "sharpe_vs_baseline_high"]].to_numpy()]
        shown = shown.drop(columns=["sharpe_vs_baseline_low", "sharpe_vs_baseline_high"])
    order = table["sharpe"].sort_values(ascending=False).index
    return shown.loc[order].to_html(classes="numbers", border=0)


def _folds_table(folds: pd.DataFrame) -> str:
    folds = folds.assign(test=folds["test_start"].astype(str) + " .. " + folds["test_end"])
    pivot = folds.pivot_table(index=["fold", "test"], columns="strategy", values="sharpe",
                              aggfunc="mean", dropna=False)
    return pivot.to_html(float_format=lambda v: f"{v:.2f}", na_rep="failed", border=0,
                         classes="numbers")


_CSS = """body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;
color:#222}h1{font-weight:600}h2{margin-top:34px;border-bottom:1px solid #ddd}
table.numbers{border-collapse:collapse;font-size:12px}table.numbers td,table.numbers th{
padding:3px 7px;text-align:right;border-bottom:1px solid #eee}img{max-width:100%}
.grid{display:flex;flex-wrap:wrap;gap:6px}.grid img{width:49%}pre{background:#f6f6f6;
padding:8px;font-size:11px;overflow-x:auto}.note{color:#555;font-size:13px}"""


def _page(result: BacktestResult, images: dict[str, bytes], folder: Path) -> str:
    info = result.info
    returns = result.returns
    title = f"Backtest {info.get('name', folder.name)}"
    period = f"{returns.index[0].date()} .. {returns.index[-1].date()}" if len(returns) else ""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>Out-of-sample {period}, {info.get('folds')} walk-forward folds, "
        f"rebalanced {info.get('rebalance')}, env spec {html.escape(str(info.get('env')))}; "
        f"every figure is net of transaction costs. Benchmark: {info.get('benchmark')}; "
        f"significance against {info.get('baseline')}. Run time {info.get('seconds')} s.</p>",
        "<h2>Summary</h2>",
        "<p class='note'>Sorted by Sharpe (annualised, risk-free rate 0). psr: probability "
        "that the true Sharpe is above 0; dsr: the same against the best Sharpe that this "
        "many strategies would reach by luck. sharpe_vs_baseline: the difference with a "
        "95% block-bootstrap interval; an interval containing 0 is no evidence of a "
        "difference. turnover: one-way, per year.</p>",
        _metrics_table(result.metrics),
    ]
    sections = [("equity", "Wealth"), ("drawdowns", "Drawdowns"),
                ("rolling_sharpe", "Rolling Sharpe"),
                ("significance", f"Sharpe against {info.get('baseline')}"),
                ("training", "Agents' training curves (per fold)")]
    for key, heading in sections:
        if key in images:
            parts += [f"<h2>{heading}</h2>", _image(images[key], heading)]
    weights = [k for k in images if k.startswith("weights_")]
    if weights:
        parts.append("<h2>Weights over time</h2><div class='grid'>")
        parts += [_image(images[k], k) for k in weights]
        parts.append("</div>")
    parts += ["<h2>Per fold: test-window Sharpe</h2>", _folds_table(result.folds)]
    tearsheets = sorted((folder / "tearsheets").glob("*.html"))
    if tearsheets:
        links = ", ".join(f"<a href='tearsheets/{p.name}'>{p.stem}</a>" for p in tearsheets)
        parts.append(f"<h2>Tearsheets (quantstats)</h2><p>{links}</p>")
    if result.errors:
        parts.append("<h2>Errors</h2><p class='note'>These strategies failed in a fold; "
                     "their metrics cover the other folds only.</p>")
        parts += [f"<pre>{html.escape(e)}</pre>" for e in result.errors]
    parts.append("</body></html>")
    return "\n".join(parts)

"""A sweep's report: ``report.html`` with what the winner is worth once the search is
paid for (its DSR counting every trial, the PBO of the trials), the ranked trials, and
Optuna's own views of the study: the optimisation history, each parameter's importance
(fANOVA) and the parallel coordinates of the trials (``optuna.visualization.matplotlib``).
"""

from __future__ import annotations

import html
import warnings

import optuna
import pandas as pd
from matplotlib import pyplot as plt

from fin_hgrpo.reports.html import CSS, image, numbers_table, png

SHOWN_TRIALS = 20
PLOTS = {  # file name: (heading, Optuna's matplotlib plot)
    "history": ("Optimisation history", "plot_optimization_history"),
    "importances": ("Parameter importances (fANOVA)", "plot_param_importances"),
    "parallel": ("Parallel coordinates", "plot_parallel_coordinate"),
}


def study_plots(study: optuna.Study) -> dict[str, bytes]:
    """Each of ``PLOTS`` as a PNG; one that a study cannot show (importances need two
    finished trials that differ) is left out."""
    from optuna.visualization import matplotlib as views

    images = {}
    for name, (_, plot) in PLOTS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib views experimental
            try:
                axes = getattr(views, plot)(study, target_name="validation Sharpe")
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(9, 4.5)
        figure.tight_layout()
        images[name] = png(figure)
        plt.close(figure)
    return images


def page(summary: dict, trials: pd.DataFrame, images: dict[str, bytes]) -> str:
    """The whole report."""
    title = f"Sweep {summary['name']}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p class='note'>{html.escape(_what_ran(summary))}</p>",
             "<h2>Verdict</h2>", f"<div class='verdict'><ul>{_verdict(summary)}</ul></div>",
             f"<h2>Trials (the best {min(SHOWN_TRIALS, len(trials))} of {len(trials)})</h2>",
             numbers_table(trials.head(SHOWN_TRIALS).set_index("trial"), _formats(trials))]
    for name, (heading, _) in PLOTS.items():
        if name in images:
            parts += [f"<h2>{html.escape(heading)}</h2>", image(images[name], heading)]
    parts.append("</body></html>")
    return "\n".join(parts)


def _what_ran(summary: dict) -> str:
    return (f"Study {summary.get('study')}: {summary['trials']} trials, each with seeds "
            f"{summary['seeds']}, judged on {len(summary['search_folds'])} search folds; "
            f"{len(summary['held_out'])} fold(s) held out and never seen. Validation Sharpe: "
            "the mean over seeds of each seed's Sharpe on its stitched test returns. "
            f"Run time {summary['seconds']} s.")


def _verdict(summary: dict) -> str:
    if "winner" not in summary:
        return "<li>No trial finished with every seed: no winner.</li>"
    lines = [f"Trial {summary['winner']} has the best validation Sharpe, "
             f"{summary['winner_val_sharpe']:.2f}; its deflated Sharpe ratio, counting all "
             f"{summary['trials']} trials as tries, is {summary['winner_dsr']:.2f} (PSR "
             f"{summary['winner_psr']:.2f})."]
    if "overfitting_pbo" in summary:
        lines.append(f"The probability that the best in sample is overfit (PBO, "
                     f"{summary['overfitting_blocks']} blocks) is "
                     f"{summary['overfitting_pbo']:.2f}.")
    return "".join(f"<li>{html.escape(line)}</li>" for line in lines)


def _formats(trials: pd.DataFrame) -> dict[str, str]:
    numbers = {"val_sharpe": ".3f", "val_sharpe_std": ".3f", "val_cagr": ".1%",
               "val_max_drawdown": ".1%", "seeds_done": "d"}
    return {c: numbers.get(c, ".4g" if pd.api.types.is_float_dtype(trials[c]) else "")
            for c in trials.columns if c != "trial"}

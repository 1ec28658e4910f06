"""A backtest's figures per run and per strategy: every metric of every run
(``seeds.csv``), one row per strategy (``metrics.csv``) with its seeds' spread, its
active share and its Sharpe difference against the baseline with an interval."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fin_hgrpo.measures import harm, performance
from fin_hgrpo.measures.inference import MIN_DAYS, sharpe_difference
from fin_hgrpo.measures.performance import CashRate


def strategy_metrics(returns: pd.DataFrame, turnover: pd.DataFrame, runs: pd.DataFrame,
                     info: dict, weights: dict[str, pd.DataFrame] | None = None, *,
                     rf: CashRate = 0.0, folds: pd.DataFrame | None = None,
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every metric per run (``seeds.csv``) and per strategy (``metrics.csv``).

    A strategy's figure is the mean over its runs (seeds) of the run's figure: one seed
    is what would be deployed, and a mean of seeds' returns would be an ensemble, which
    flatters. The DSR counts each strategy once (its seeds' mean daily Sharpe) unless
    ``dsr_trials`` says how many configurations were tried. ``sharpe_vs_baseline`` is
    the mean seed Sharpe minus the baseline's on the days both have, with an interval
    whose bootstrap resamples seeds together with blocks of days (``inference``).
    ``active_share`` is each run's mean daily departure from the baseline's weights
    (``weights``: each run's weights held). Excess returns are over ``rf``.

    Harm against the baseline (``measures.harm``): ``worst_3y_vs_baseline``, each run's
    worst Sharpe difference over 3 years of test days; ``folds_beaten``, the share of
    test folds in which its Sharpe was the higher (``folds``: ``folds.csv``'s rows);
    per strategy, ``seeds_below_baseline``, the share of its runs whose Sharpe is below
    the baseline's.
    """
    periods = info.get("periods_per_year", performance.PERIODS)
    benchmark, baseline = info.get("benchmark"), info.get("baseline")
    groups = {s: list(runs.index[runs["strategy"] == s]) for s in dict.fromkeys(runs["strategy"])}
    daily = pd.Series({c: performance.sharpe(returns[c].dropna(), annualize=False, rf=rf)
                       for c in returns})
    trials = np.array([daily[cols].mean() for cols in groups.values()])
    per_run = performance.summarize(returns, turnover=turnover, rf=rf, trial_sharpes=trials,
                                benchmark=None if benchmark is None else returns[benchmark],
                                n_trials=info.get("dsr_trials"), periods=periods)
    if weights is not None and baseline is not None and baseline in weights:
        per_run["active_share"] = [performance.active_share(weights[c], weights[baseline])
                                   if c in weights else np.nan for c in per_run.index]
    if baseline is not None:
        per_run["worst_3y_vs_baseline"] = [
            harm.worst_rolling_shortfall(returns[c], returns[baseline], rf=rf, periods=periods)
            for c in per_run.index]
        if folds is not None:
            by_fold = folds.pivot_table(index="fold", columns="run", values="sharpe",
                                        dropna=False)
            per_run["folds_beaten"] = [
                harm.share_beaten(by_fold[c], by_fold[baseline]) if c in by_fold else np.nan
                for c in per_run.index]
    rows = {}
    for strategy, cols in groups.items():
        part = per_run.loc[cols]
        sharpes = part["sharpe"]
        row = part.mean(skipna=True).to_dict() | {
            "seeds": len(cols), "sharpe_seed_mean": sharpes.mean(),
            "sharpe_seed_std": sharpes.std(ddof=1) if len(cols) > 1 else 0.0,
            "sharpe_seed_min": sharpes.min(), "sharpe_seed_max": sharpes.max()}
        if baseline is not None:
            row |= _against_baseline(returns[cols], returns[baseline], rf, periods)
            row["seeds_below_baseline"] = float((sharpes < per_run.loc[baseline, "sharpe"])
                                                .mean())
        rows[strategy] = row
    per_run = runs.join(per_run).rename_axis("run")
    return per_run, pd.DataFrame.from_dict(rows, orient="index").rename_axis("strategy")


def _against_baseline(runs: pd.DataFrame, baseline: pd.Series, rf: CashRate,
                      periods: int) -> dict:
    both = pd.concat([runs, baseline.rename("__baseline__")], axis=1).dropna()
    if len(both) < MIN_DAYS:
        return {"sharpe_vs_baseline": np.nan, "sharpe_vs_baseline_low": np.nan,
                "sharpe_vs_baseline_high": np.nan}
    interval = sharpe_difference(both.iloc[:, :-1], both.iloc[:, -1], rf=rf, periods=periods)
    return {"sharpe_vs_baseline": interval.difference, "sharpe_vs_baseline_low": interval.low,
            "sharpe_vs_baseline_high": interval.high}

"""Selection rules judged out of sample: a rule is a strategy.

An agent strategy with ``select`` trains every candidate configuration (a grid over its
agent spec's keys) on every fold, as runs ``<name>_c<k>``. At each fold a rule picks
one candidate using only what was known before that fold's test start, and the picked
candidate's test returns are the rule's (``<name>_select_<rule>``), so the rule has a
record like any strategy: its metrics, its interval against 1/N, its report.

Rules:

- ``holdout``: the best score on the fold's own validation days (the last
  ``validation_days`` of its training window): the log growth of the networks the fit
  kept (``keep = "best"``: the best validation; ``"last"``: the last; ``"ema"``: the
  mean of the validations).
- ``past_folds:M``: the best out-of-sample Sharpe over the M folds before (stitched
  test returns of each seed, then the mean over seeds); ``past_folds:all``: every fold
  before. No extra training: every candidate runs on every fold. Where no fold lies
  before (the first), it falls back to ``holdout`` (or to the first candidate when
  there are no validation days), and ``choices.csv`` says so.
- ``inner_wf:J``: the best Sharpe over the last J of the fold's inner walk-forward
  folds (``walkforward.inner_folds``: expanding folds inside its training window, each
  testing ``validation_days`` days), every candidate trained on each: J more trainings
  a fold, run as tasks beside the others; their results stay inside the selection.

A score is the mean over seeds of each seed's score, and the same candidate is chosen
for every seed. A candidate whose fit failed in a fold cannot be chosen there.
Switching candidates between folds is charged: the rule held the previous choice's
portfolio, so it trades from there to the new choice's at the env's costs, on the
fold's first day (``switching``: the simulator's own cost of that trade).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from scipy import stats

from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import EnvSpec, PortfolioSim
from fin_hgrpo.envs.trading import Position
from fin_hgrpo.measures import performance
from fin_hgrpo.measures.multiple import best_against_baseline
from fin_hgrpo.measures.overfitting import pbo_of_runs
from fin_hgrpo.strategies.config import (
    SELECTION_RULE,
    AgentStrategySpec,
    SelectSpec,
    candidate_names,
    default_name,
)
from fin_hgrpo.walkforward.config import BacktestSpec
from fin_hgrpo.walkforward.results import BacktestResult, FoldResult
from fin_hgrpo.walkforward.splits import Fold

# the (cost, turnover) of trading from one position to another at their date
Switching = Callable[[Position, Position], tuple[float, float]]


@dataclass(frozen=True)
class Rule:
    """A selection rule: ``holdout``, ``past_folds`` over ``folds`` (None: all), or
    ``inner_wf`` over ``folds`` inner walk-forward folds."""

    kind: str
    folds: int | None = None

    @classmethod
    def parse(cls, text: str) -> Rule:
        match = re.fullmatch(SELECTION_RULE, text)
        if match is None:
            raise ValueError(f"{text!r} is not a rule (holdout, past_folds:M, past_folds:all, "
                             "inner_wf:J)")
        if text == "holdout":
            return cls("holdout")
        if match[2] is not None:
            return cls("inner_wf", int(match[2]))
        return cls("past_folds", None if match[1] == "all" else int(match[1]))

    @property
    def name(self) -> str:
        """The rule in a strategy's name: holdout, past_folds_2, past_folds_all,
        inner_wf_2."""
        if self.kind == "holdout":
            return "holdout"
        return f"{self.kind}_{'all' if self.folds is None else self.folds}"


@dataclass
class Selection:
    """The rules' runs (fold results like any strategy's), ``choices`` (one row per
    fold and rule), ``foresight`` (one row per rule) and ``candidates`` (one row per
    candidate: its hyperparameters)."""

    results: list[FoldResult]
    choices: pd.DataFrame
    foresight: pd.DataFrame
    candidates: pd.DataFrame


def selected_name(strategy: str, rule: Rule) -> str:
    """The strategy a rule's runs are: ``<agent>_select_<rule>``."""
    return f"{strategy}_select_{rule.name}"


def select(strategy: AgentStrategySpec, seeds: list[int], folds: list[Fold],
           results: list[FoldResult], switching: Switching, *, rf: performance.CashRate = 0.0,
           periods: int = performance.PERIODS,
           inner: list[tuple[int, FoldResult]] = ()) -> Selection:
    """Apply each of ``strategy``'s rules at every fold to its candidates' ``results``
    (``inner``: the inner walk-forward's results, each with its outer fold's index)."""
    spec: SelectSpec = strategy.select
    name = default_name(strategy)
    points = spec.points()
    runs = {(r.strategy, r.seed, r.fold): r for r in results}
    cand = candidate_names(strategy)
    outcome = np.stack([  # (candidates, folds)
        _seed_mean_sharpe(lambda c, seed, f=fold: [runs.get((c, seed, f.index))], cand, seeds,
                          rf, periods) for fold in folds], axis=1)
    holdout = _holdout_scores(runs, cand, seeds, folds, strategy)  # (k, folds)
    nested = _inner_runs(inner, cand)
    failed = np.array([[any(_failed(runs.get((c, s, f.index))) for s in seeds)
                        for f in folds] for c in cand])
    rows, selected = [], []
    for rule_text in spec.rules:
        rule = Rule.parse(rule_text)
        column = selected_name(name, rule)
        previous: int | None = None
        for j, fold in enumerate(folds):
            scores, basis = _scores(rule, j, runs, nested, cand, seeds, folds, holdout, rf,
                                    periods)
            eligible = np.where(failed[:, j], np.nan, scores)
            choice = _argmax(eligible)
            if choice is None:  # every candidate failed its fit
                choice = int(np.argmax(~failed[:, j])) if (~failed[:, j]).any() else 0
            paid = []
            for seed in seeds:
                run = runs.get((cand[choice], seed, fold.index))
                before = None if previous is None else runs.get((cand[previous], seed,
                                                                 fold.index))
                made, cost = _as_rule(run, column, seed, fold.index, before, switching)
                selected.append(made)
                paid.append(cost)
            rows.append(_choice_row(fold, rule, basis, choice, scores, outcome[:, j],
                                    previous, float(np.mean(paid)), points))
            previous = choice
    choices = pd.DataFrame(rows)
    return Selection(selected, choices, _foresight(choices),
                     pd.DataFrame([{"candidate": c, **p} for c, p in zip(cand, points,
                                                                          strict=True)]))


def _failed(run: FoldResult | None) -> bool:
    return run is None or run.error is not None or run.daily is None


def _argmax(scores: np.ndarray) -> int | None:
    """The best finite score's index (the first among ties), or None."""
    if not np.isfinite(scores).any():
        return None
    return int(np.nanargmax(np.where(np.isfinite(scores), scores, np.nan)))


def _seed_mean_sharpe(parts_of: Callable[[str, int], list | None], cand: list[str],
                      seeds: list[int], rf: performance.CashRate, periods: int) -> np.ndarray:
    """Each candidate's mean over seeds of the Sharpe ratio of its fold results
    ``parts_of(candidate, seed)`` stitched in order; a seed whose parts are missing
    (None) or include a failed fit is left out, and NaN where every seed is."""
    out = np.full(len(cand), np.nan)
    for i, c in enumerate(cand):
        values = []
        for seed in seeds:
            parts = parts_of(c, seed)
            if parts is None or any(_failed(p) for p in parts):
                continue
            stitched = pd.concat([p.daily["net_return"] for p in parts])
            values.append(performance.sharpe(stitched, rf=rf, periods=periods))
        if values:
            out[i] = np.mean(values)
    return out


def _holdout_scores(runs: dict, cand: list[str], seeds: list[int], folds: list[Fold],
                    strategy: AgentStrategySpec) -> np.ndarray:
    """Each candidate's seed-mean validation log growth of the networks it kept."""
    out = np.full((len(cand), len(folds)), np.nan)
    for i, c in enumerate(cand):
        for j, fold in enumerate(folds):
            values = []
            for seed in seeds:
                run = runs.get((c, seed, fold.index))
                log = None if run is None or run.training is None else run.training
                if log is None or "validation_log_growth" not in log:
                    continue
                scores = log["validation_log_growth"].dropna()
                if scores.empty:
                    continue
                values.append(scores.max() if strategy.keep == "best" else
                              scores.iloc[-1] if strategy.keep == "last" else scores.mean())
            if values:
                out[i, j] = np.mean(values)
    return out


def _inner_runs(inner: list[tuple[int, FoldResult]],
                cand: list[str]) -> dict[tuple[str, int, int], list[FoldResult]]:
    """The inner walk-forward's results by (candidate, seed, outer fold), in inner-fold
    order."""
    found: dict[tuple[str, int, int], list[FoldResult]] = {}
    for outer, r in sorted(inner, key=lambda pair: (pair[0], pair[1].fold)):
        if r.strategy in cand:
            found.setdefault((r.strategy, r.seed, outer), []).append(r)
    return found


def _scores(rule: Rule, j: int, runs: dict, nested: dict, cand: list[str], seeds: list[int],
            folds: list[Fold], holdout: np.ndarray, rf: performance.CashRate,
            periods: int) -> tuple[np.ndarray, str]:
    """The rule's score of every candidate before fold ``j``'s test, and its basis."""
    if rule.kind == "inner_wf":  # the last rule.folds inner folds of this fold's window

        def inner(c: str, seed: int) -> list | None:
            parts = nested.get((c, seed, folds[j].index), [])[-rule.folds:]
            return parts if len(parts) == rule.folds else None

        return (_seed_mean_sharpe(inner, cand, seeds, rf, periods),
                f"inner walk-forward Sharpe, {rule.folds} folds")
    if rule.kind == "past_folds" and j > 0:
        first = 0 if rule.folds is None else max(0, j - rule.folds)
        past = folds[first:j]
        scores = _seed_mean_sharpe(lambda c, seed: [runs.get((c, seed, f.index)) for f in past],
                                   cand, seeds, rf, periods)
        return scores, f"out-of-sample Sharpe, folds {past[0].index}..{past[-1].index}"
    fallback = "" if rule.kind == "holdout" else " (no fold before)"
    if np.isfinite(holdout[:, j]).any():
        return holdout[:, j], "validation log growth" + fallback
    return np.where(np.arange(len(cand)) == 0, 0.0, -np.inf), "first candidate" + (
        fallback or " (no validation days)")


def _as_rule(run: FoldResult | None, column: str, seed: int, fold: int,
             before: FoldResult | None, switching: Switching) -> tuple[FoldResult, float]:
    """The chosen candidate's fold result as the rule's run, charged for the switch
    from the portfolio the rule held (``before``: the previous choice's run of this
    fold, whose start is what the rule carried in); and the switch's cost."""
    if run is None:
        return FoldResult(column, f"{column}_seed{seed}", fold, seed, None, None, None,
                          "the chosen candidate has no run", 0.0), 0.0
    made = replace(run, strategy=column, column=f"{column}_seed{seed}", training=None)
    if before is None or before is run or _failed(run) or before.start is None \
            or run.start is None:
        return made, 0.0
    cost, turnover = switching(before.start, run.start)
    if cost == 0.0 and turnover == 0.0:
        return replace(made, start=before.start), 0.0
    daily = run.daily.copy()
    first = daily.index[0]
    daily.loc[first, "net_return"] = (1.0 - cost) * (1.0 + daily.loc[first, "net_return"]) - 1
    daily.loc[first, "turnover"] += turnover
    daily.loc[first, "cost"] += cost
    return replace(made, daily=daily, start=before.start), cost


def _choice_row(fold: Fold, rule: Rule, basis: str, choice: int, scores: np.ndarray,
                outcome: np.ndarray, previous: int | None, cost: float,
                points: list[dict]) -> dict:
    finite = np.isfinite(outcome)
    best = int(np.nanargmax(outcome)) if finite.any() else None
    both = finite & np.isfinite(scores)
    rho = stats.spearmanr(scores[both], outcome[both]).statistic \
        if both.sum() > 2 and np.ptp(scores[both]) > 0 and np.ptp(outcome[both]) > 0 \
        else np.nan
    rank = int((outcome[finite] > outcome[choice]).sum() + 1) if finite[choice] else None
    return {
        "fold": fold.index, "test_start": fold.test_start.date(), "rule": rule.name,
        "basis": basis, "choice": f"c{choice}", "hyperparameters": json.dumps(points[choice]),
        "score": scores[choice], "oos_sharpe": outcome[choice],
        "best": None if best is None else f"c{best}",
        "best_sharpe": np.nan if best is None else outcome[best],
        "regret": np.nan if best is None else outcome[best] - outcome[choice],
        "rank": rank, "candidates": int(finite.sum()),
        "beats_median": bool(outcome[choice] > np.nanmedian(outcome)) if finite[choice]
        else None,
        "spearman": rho, "switched": previous is not None and previous != choice,
        "switch_cost": cost,
    }


def _foresight(choices: pd.DataFrame) -> pd.DataFrame:
    """Per rule, how well its scores foresaw the folds' outcomes: the mean rank
    correlation of score and out-of-sample Sharpe across candidates with a 95% interval
    over folds (Student's t, clipped to [-1, 1]), the mean regret, and how often its
    choice beat the median candidate or was the best."""
    rows = []
    for rule, part in choices.groupby("rule", sort=False):
        rho = part["spearman"].dropna()
        half = (stats.t.ppf(0.975, len(rho) - 1) * rho.std(ddof=1) / np.sqrt(len(rho))
                if len(rho) > 1 else np.nan)
        rows.append({
            "rule": rule, "folds": len(part), "spearman_mean": rho.mean(),
            "spearman_low": np.clip(rho.mean() - half, -1.0, 1.0),
            "spearman_high": np.clip(rho.mean() + half, -1.0, 1.0),
            "regret_mean": part["regret"].mean(), "oos_sharpe_mean": part["oos_sharpe"].mean(),
            "best_sharpe_mean": part["best_sharpe"].mean(),
            "beats_median": part["beats_median"].dropna().astype(float).mean(),
            "picked_best": float((part["choice"] == part["best"]).mean()),
            "switches": int(part["switched"].sum()),
        })
    return pd.DataFrame(rows)


def switching_on(env: EnvSpec, panel: MarketPanel) -> Switching:
    """The simulator's cost and turnover of trading from one position to another at
    their (common) date, on ``panel`` with ``env``'s costs (the simulator is built at
    the first switch)."""
    built: list[PortfolioSim] = []

    def switch(held: Position, wanted: Position) -> tuple[float, float]:
        if np.array_equal(held.weights, wanted.weights):
            return 0.0, 0.0
        if not built:
            built.append(env.build_sim(panel))
        sim = built[0]
        t = torch.tensor([sim.day(held.date)], device=sim.device)
        w_prev = torch.as_tensor(held.weights, dtype=sim.dtype, device=sim.device)[None]
        target = torch.as_tensor(wanted.weights, dtype=sim.dtype, device=sim.device)
        scored = sim.score(t, w_prev, target[None, None])
        return float(scored.cost[0, 0]), float(scored.turnover[0, 0])

    return switch


def select_all(spec: BacktestSpec, folds: list[Fold], results: list[FoldResult],
               switching: Switching, *, rf: performance.CashRate, periods: int,
               inner: list[tuple[int, FoldResult]] = ()) -> Selection | None:
    """Every agent strategy's selection (``select``), gathered into one (``strategy``
    names the agent in each table); None when no strategy selects."""
    found = [(default_name(s), select(s, list(spec.seeds), folds, results, switching,
                                      rf=rf, periods=periods, inner=inner))
             for s in spec.strategies if isinstance(s, AgentStrategySpec) and s.select]
    if not found:
        return None

    def joined(table: str) -> pd.DataFrame:
        return pd.concat([getattr(sel, table).assign(strategy=name).set_index("strategy")
                          .reset_index() for name, sel in found], ignore_index=True)

    return Selection([r for _, sel in found for r in sel.results], joined("choices"),
                     joined("foresight"), joined("candidates"))


def best_candidates(result: BacktestResult, spec: BacktestSpec) -> pd.DataFrame:
    """Per selecting agent, whether the best of its candidates' runs (every candidate
    and seed, each a model) beats the baseline on mean daily return once all of them
    are paid for: Hansen's SPA p-values and the runs Romano-Wolf's StepM finds better
    (``measures.multiple``). Empty without a baseline."""
    baseline = result.info.get("baseline")
    rows = []
    for strategy in spec.strategies:
        if baseline is None or not isinstance(strategy, AgentStrategySpec) or \
                strategy.select is None:
            continue
        name = default_name(strategy)
        runs = [run for c in candidate_names(strategy) for run in result.runs(c)]
        found = best_against_baseline(result.returns[runs], result.returns[baseline])
        rows.append({"strategy": name, "baseline": baseline, "models": found.models,
                     "days": found.days, "block": found.block, "spa_p": found.p_consistent,
                     "spa_p_lower": found.p_lower, "spa_p_upper": found.p_upper,
                     "stepm_size": found.size, "stepm_better": ";".join(found.superior)})
    return pd.DataFrame(rows)


def candidate_overfitting(result: BacktestResult, spec: BacktestSpec,
                          blocks: int = 16) -> pd.DataFrame:
    """Per selecting agent, the probability that the candidate best in sample is overfit
    (PBO by CSCV over its candidates, each scored by the mean over seeds of its seeds'
    Sharpe ratios; ``measures.overfitting``), on the days every candidate run has."""
    rows = []
    for strategy in spec.strategies:
        if not isinstance(strategy, AgentStrategySpec) or strategy.select is None:
            continue
        columns = [[f"{c}_seed{s}" for s in spec.seeds] for c in candidate_names(strategy)]
        if not {c for group in columns for c in group} <= set(result.returns.columns):
            continue  # a candidate run failed everywhere: nothing to rank it by
        found = pbo_of_runs(result.returns, columns, blocks=blocks,
                            rf=result.rf)
        if found is not None:
            rows.append({"strategy": default_name(strategy), "days": found[1]}
                        | found[0].summary())
    return pd.DataFrame(rows)


__all__ = ["Rule", "Selection", "Switching", "best_candidates", "candidate_overfitting",
           "select", "select_all", "selected_name", "switching_on"]

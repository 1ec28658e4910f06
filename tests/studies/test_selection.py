"""Selection rules as strategies: causal choices, charged switches, a record like any
strategy's."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.backtest import BacktestResult, BacktestSpec
from fin_hgrpo.cli import main
from fin_hgrpo.envs.trading import Position
from fin_hgrpo.errors import SpecError
from fin_hgrpo.strategies.config import AgentStrategySpec
from fin_hgrpo.studies.selection import Rule, select
from fin_hgrpo.walkforward.results import FoldResult
from fin_hgrpo.walkforward.splits import Fold

SELECTING = """
name = "tiny_select"
env = "envs/tiny.toml"
seeds = [0, 1]
tearsheets = false
[walk_forward]
train_days = 200
test_days = 120
embargo_days = 2
max_folds = 3
[[strategies]]
kind = "agent"
spec = "strategies/hgrpo_tiny.toml"
steps = 128
validation_days = 40
validate_every = 2
[strategies.select]
space = { trade_rate = [1.0, 0.25] }
rules = ["holdout", "past_folds:1", "past_folds:all", "inner_wf:2"]
[[strategies]]
kind = "equal_weight"
[[strategies]]
kind = "benchmark"
ticker = "S1"
"""


@pytest.fixture(scope="module")
def selecting(session_workspace) -> BacktestResult:
    """One backtest whose agent chooses between two trade rates by three rules."""
    Path("backtests/tiny_select.toml").write_text(SELECTING)
    out = session_workspace / "backtests" / "results" / "tiny_select"
    assert main(["backtest", "backtests/tiny_select.toml", "--workers", "1",
                 "--out", str(out)]) == 0
    return BacktestResult.read(out)


def test_every_candidate_and_every_rule_is_a_strategy_with_a_record(selecting):
    metrics = selecting.metrics
    for name in ("hybrid_grpo_c0", "hybrid_grpo_c1", "hybrid_grpo_select_holdout",
                 "hybrid_grpo_select_past_folds_1", "hybrid_grpo_select_past_folds_all",
                 "hybrid_grpo_select_inner_wf_2"):
        assert name in metrics.index
        assert metrics.loc[name, "seeds"] == 2
        assert np.isfinite(metrics.loc[name, "sharpe_vs_baseline_low"])
    assert "hybrid_grpo" not in metrics.index  # the candidates replace the spec as written
    # the DSR counts 2 candidates, each chosen among by 4 rules, and the 2 others
    assert selecting.info["dsr_trials"] == 2 + 2 * (1 + 4)
    first_test = pd.Timestamp(selecting.folds["test_start"].min())
    assert selecting.returns.index.min() > first_test  # inner folds' returns stay inside


def test_a_rules_returns_are_its_choices_test_returns(selecting):
    choices = selecting.selection["choices"]
    assert len(choices) == 3 * 4  # folds x rules
    assert set(choices["choice"]) <= {"c0", "c1"}
    returns, folds = selecting.returns, selecting.folds.drop_duplicates("fold")
    for _, row in choices.iterrows():
        fold = folds[folds["fold"] == row["fold"]].iloc[0]
        start, end = pd.Timestamp(fold["test_start"]), pd.Timestamp(fold["test_end"])
        days = returns.index[(returns.index > start) & (returns.index <= end)][1:]
        rule = f"hybrid_grpo_select_{row['rule']}_seed0"
        chosen = f"hybrid_grpo_{row['choice']}_seed0"
        # after the first day (where a switch is charged) the rule earns the choice's
        pd.testing.assert_series_equal(returns.loc[days, rule], returns.loc[days, chosen],
                                       check_names=False)
    past = choices[choices["rule"] == "past_folds_1"]
    assert past.iloc[0]["basis"] == "validation log growth (no fold before)"
    assert past.iloc[1]["basis"] == "out-of-sample Sharpe, folds 1..1" or \
        past.iloc[1]["basis"].startswith("out-of-sample Sharpe, folds")


def test_the_best_candidates_are_tested_against_1_over_n_once_all_are_paid_for(selecting):
    spa = selecting.selection["spa"].iloc[0]
    assert (spa["strategy"], spa["baseline"], spa["models"]) == ("hybrid_grpo",
                                                                  "equal_weight", 4)
    assert 0 <= spa["spa_p"] <= 1 and spa["spa_p_lower"] <= spa["spa_p_upper"]


def test_the_candidates_probability_of_overfitting_is_reported(selecting):
    overfit = selecting.selection["pbo"].iloc[0]
    assert (overfit["strategy"], overfit["configurations"], overfit["blocks"]) == (
        "hybrid_grpo", 2, 16)
    assert 0 <= overfit["pbo"] <= 1 and overfit["coarse"]


def test_the_foresight_table_has_a_row_per_rule(selecting):
    foresight = selecting.selection["foresight"]
    assert list(foresight["rule"]) == ["holdout", "past_folds_1", "past_folds_all",
                                       "inner_wf_2"]
    assert (foresight["folds"] == 3).all()
    assert ((foresight["regret_mean"] >= 0) | foresight["regret_mean"].isna()).all()
    # two candidates have no rank correlation, and so no interval for one
    assert foresight[["spearman_mean", "spearman_low", "spearman_high"]].isna().all().all()
    candidates = selecting.selection["candidates"]
    assert list(candidates["trade_rate"]) == [1.0, 0.25]
    assert json.loads(selecting.selection["choices"]["hyperparameters"][0])["trade_rate"] in \
        (1.0, 0.25)


# ---- the rules on made-up fold results: what a rule may know, and what it pays -------

SPEC = AgentStrategySpec(kind="agent", spec="strategies/hgrpo_tiny.toml", name="agent",
                         validation_days=10, select={
                             "space": {"trade_rate": [1.0, 0.5, 0.25]},
                             "rules": ["holdout", "past_folds:1", "past_folds:all"]})
DAYS = 40


def _folds(n: int = 5) -> list[Fold]:
    days = pd.bdate_range("2020-01-01", periods=(n + 1) * DAYS + 1)
    return [Fold(k, days[0], days[k * DAYS], days[(k + 1) * DAYS - 1] if k else days[0],
                 days[(k + 2) * DAYS - 1]) for k in range(n)]


def _results(folds, drift: np.ndarray, validation: np.ndarray, seeds=(0, 1),
             noise_seed: int = 0) -> list[FoldResult]:
    """Candidate k earns ``drift[k, j]`` a day plus noise in fold j; its fits scored
    ``validation[k, j]``; each run starts the fold holding its own portfolio."""
    rng = np.random.default_rng(noise_seed)
    out = []
    for j, fold in enumerate(folds):
        index = pd.bdate_range(fold.test_start, periods=DAYS + 1)[1:]
        for k in range(drift.shape[0]):
            for seed in seeds:
                daily = pd.DataFrame({"net_return": drift[k, j] + 0.002 * rng.standard_normal(DAYS),
                                      "turnover": 0.1, "cost": 0.0}, index=index)
                weights = pd.DataFrame([[0.5, 0.5, 0.0]], index=index, columns=["A", "B", "cash"])
                held = np.array([0.2 + 0.2 * k, 0.8 - 0.2 * k, 0.0])
                out.append(FoldResult(
                    f"agent_c{k}", f"agent_c{k}_seed{seed}", fold.index, seed, daily, weights,
                    pd.DataFrame({"validation_log_growth": [validation[k, j] - 1,
                                                            validation[k, j]]}),
                    None, 0.0, start=Position(fold.test_start, held)))
    return out


def _no_cost(held, wanted):
    return 0.0, 0.0


def test_past_folds_picks_the_candidate_that_did_best_before_and_holdout_the_best_fit():
    folds = _folds()
    drift = np.array([[0.000] * 5, [0.002] * 5, [0.001] * 5])
    validation = np.array([[3.0] * 5, [1.0] * 5, [2.0] * 5])  # the fits rank c0 first
    made = select(SPEC, [0, 1], folds, _results(folds, drift, validation), _no_cost)
    choices = made.choices.set_index(["rule", "fold"])["choice"]
    assert (choices["holdout"] == "c0").all()
    assert list(choices["past_folds_1"]) == ["c0", "c1", "c1", "c1", "c1"]  # fold 0: holdout's
    rho = made.choices.set_index(["rule", "fold"])["spearman"]
    assert list(rho["past_folds_all"]) == pytest.approx([-1, 1, 1, 1, 1])  # fold 0: holdout's
    foresight = made.foresight.set_index("rule")
    assert foresight.loc["past_folds_all", "spearman_mean"] == pytest.approx(0.6)
    assert foresight.loc["holdout", "spearman_mean"] == pytest.approx(-1.0)
    assert foresight.loc["holdout", "regret_mean"] > foresight.loc["past_folds_1",
                                                                   "regret_mean"]


def test_no_choice_depends_on_returns_after_its_folds_test_start():
    folds = _folds()
    rng = np.random.default_rng(1)
    drift, validation = rng.normal(0, 0.002, (3, 5)), rng.normal(0, 1, (3, 5))
    before = select(SPEC, [0, 1], folds, _results(folds, drift, validation), _no_cost)
    for k in range(len(folds)):
        changed = drift.copy()
        changed[:, k:] = rng.normal(0, 0.01, (3, len(folds) - k))  # fold k's test on
        later = validation.copy()
        later[:, k + 1:] = rng.normal(0, 1, (3, len(folds) - k - 1))  # fits after fold k
        after = select(SPEC, [0, 1], folds, _results(folds, changed, later), _no_cost)
        upto = before.choices["fold"] <= folds[k].index
        pd.testing.assert_series_equal(before.choices.loc[upto, "choice"],
                                       after.choices.loc[upto, "choice"])


def test_a_switch_is_charged_the_simulators_cost_of_trading_to_the_new_choice(
        session_workspace):
    from fin_hgrpo.envs import EnvSpec
    from fin_hgrpo.studies.selection import switching_on

    env = EnvSpec.load("envs/tiny.toml")  # 10 bps
    panel = env.load_panel()
    days = panel.dates[300:300 + 5 * DAYS + 1]
    folds = [Fold(k, panel.dates[0], days[k * DAYS], days[k * DAYS + 1], days[(k + 1) * DAYS])
             for k in range(5)]
    drift = np.array([[0.002, 0.0, 0.0, 0.0, 0.0], [0.0, 0.002, 0.002, 0.002, 0.002],
                      [0.0] * 5])
    results = _results(folds, drift, np.zeros((3, 5)))
    results = [r if r.start is None else
               FoldResult(**{**r.__dict__, "start": Position(r.start.date, np.append(
                   r.start.weights[:2] * 0.5, [0.0, 0.5]))}) for r in results]
    switch = switching_on(env, panel)
    made = select(SPEC.model_copy(update={"select": SPEC.select.model_copy(
        update={"rules": ["past_folds:1"]})}), [0, 1], folds, results, switch)
    assert list(made.choices["choice"]) == ["c0", "c0", "c1", "c1", "c1"]
    fold = folds[2]
    held = {k: r.start.weights for r in results if r.fold == fold.index and r.seed == 0
            for k in [r.strategy]}
    expected = 10 / 1e4 * np.abs(held["agent_c1"][:3] - held["agent_c0"][:3]).sum()
    assert expected > 0 and made.choices["switch_cost"].iloc[2] == pytest.approx(expected)
    rule = next(r for r in made.results if r.fold == fold.index and r.seed == 0)
    chosen = next(r for r in results if r.fold == fold.index and r.seed == 0
                  and r.strategy == "agent_c1")
    first = chosen.daily.index[0]
    assert rule.daily.loc[first, "net_return"] == pytest.approx(
        (1 - expected) * (1 + chosen.daily.loc[first, "net_return"]) - 1)
    assert rule.start.weights.tolist() == held["agent_c0"].tolist()  # what the rule carried
    pd.testing.assert_series_equal(rule.daily["net_return"].iloc[1:],
                                   chosen.daily["net_return"].iloc[1:])


@pytest.mark.parametrize("change, message", [
    ({"rules": ["past_folds:0"]}, "'past_folds:0' is not a rule"),
    ({"rules": ["holdout", "holdout"]}, "rules repeat"),
    ({"space": {"trade_rate": [1.0]}}, "at least two candidates"),
    # reliability.md N58: repeated candidates, the seed as a choice, a 1,000-point grid
    ({"space": {"trade_rate": [0.5, 0.5]}}, "space.trade_rate: values repeat"),
    ({"space": {"seed": [1, 2]}}, "space.seed: seeds are not a hyperparameter"),
    ({"space": {k: list(range(1, 11)) for k in ("hidden", "n_steps", "epochs")}},
     "a grid of 1000 points, at most 256"),
])
def test_a_bad_selection_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        AgentStrategySpec(kind="agent", spec="x.toml", validation_days=10,
                          select={"space": {"trade_rate": [1.0, 0.5]}, "rules": ["holdout"]}
                          | change)


def test_a_selecting_backtest_with_an_unknown_key_or_no_validation_days_is_refused(
        session_workspace):
    path = Path("backtests/bad_select.toml")
    path.write_text(SELECTING.replace("trade_rate = [1.0, 0.25]", "trade_rat = [1.0, 0.25]"))
    with pytest.raises(SpecError, match=r"key strategies.0.select.space.trade_rat: not a hyper"):
        BacktestSpec.load(path)
    path.write_text(SELECTING.replace("validation_days = 40", "validation_days = 0"))
    with pytest.raises(SpecError, match="holdout scores windows of the validation days"):
        BacktestSpec.load(path)
    path.write_text(SELECTING.replace("validate_every = 2", "validate_every = 2\nensemble = true"))
    with pytest.raises(SpecError, match="an ensemble of which candidate"):
        BacktestSpec.load(path)


def test_rules_read_as_written():
    assert Rule.parse("past_folds:3") == Rule("past_folds", 3)
    assert Rule.parse("past_folds:all").name == "past_folds_all"
    with pytest.raises(ValueError):
        Rule.parse("inner")


def test_the_report_shows_the_candidates_the_rules_foresight_and_each_choice(
        selecting, session_workspace):
    page = (session_workspace / "backtests" / "results" / "tiny_select" /
            "report.html").read_text()
    assert "hybrid_grpo_c1<br><small>trade_rate=0.25</small>" in page  # the summary's label
    section = page.split("Selection: rules judged out of sample")[1]
    assert "hybrid_grpo_c1</td><td>0.25" in section
    assert "past_folds_all" in section and "Rank correlation [95% CI]" in section
    assert section.count("validation log growth") == 5  # holdout's 3 folds, 2 fallbacks
    assert section.count("validation log growth (no fold before)") == 2
    assert "Does the best candidate beat the baseline?" in section
    assert "Is the best candidate in sample overfit?" in section


def test_a_rule_gives_target_weights_as_its_last_choice(selecting, session_workspace, tmp_path):
    folder = session_workspace / "backtests" / "results" / "tiny_select"
    assert main(["weights", str(folder), "--strategy", "hybrid_grpo_select_past_folds_1",
                 "--out", str(tmp_path)]) == 0
    targets = json.loads((tmp_path / "weights.json").read_text())
    assert targets["strategy"] == "hybrid_grpo_select_past_folds_1_seed0"
    assert sum(targets["weights"].values()) == pytest.approx(1.0)


def test_inner_folds_lie_inside_the_training_window_and_expand():
    from fin_hgrpo.walkforward.splits import inner_folds

    dates = pd.bdate_range("2020-01-01", periods=400)
    outer = Fold(3, dates[50], dates[349], dates[355], dates[399])
    inner = inner_folds(outer, dates, 2, 60, embargo=5)
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in inner] == [
        (dates[50], dates[224], dates[230], dates[289]),
        (dates[50], dates[284], dates[290], dates[349])]  # the last test ends with training
    with pytest.raises(SpecError, match="3 inner folds of 80 test days leave 55 training"):
        inner_folds(outer, dates, 3, 80, embargo=5)


def test_inner_wf_picks_the_best_on_the_inner_folds_of_each_fold():
    folds = _folds(3)
    spec = SPEC.model_copy(update={"select": SPEC.select.model_copy(
        update={"rules": ["inner_wf:1", "inner_wf:2"]})})
    # inside fold j's window, candidate j % 3 does best on the last inner fold, and
    # candidate 2 on the one before
    inner = []
    for fold in folds:
        drift = np.zeros((3, 2))
        drift[2, 0], drift[fold.index % 3, 1] = 0.01, 0.003
        inner_fold = _folds(2)
        inner += [(fold.index, r) for r in _results(inner_fold, drift, np.zeros((3, 2)))]
    made = select(spec, [0, 1], folds, _results(folds, np.zeros((3, 3)), np.zeros((3, 3))),
                  _no_cost, inner=inner)
    choices = made.choices.set_index(["rule", "fold"])["choice"]
    assert list(choices["inner_wf_1"]) == ["c0", "c1", "c2"]
    assert list(choices["inner_wf_2"]) == ["c2", "c2", "c2"]
    assert made.choices["basis"].iloc[0] == "inner walk-forward Sharpe, 1 folds"


def test_a_selecting_backtest_verifies_identical(selecting, session_workspace, capsys):
    folder = session_workspace / "backtests" / "results" / "tiny_select"
    assert main(["verify", str(folder)]) == 0
    assert "verified: identical" in capsys.readouterr().out

"""Shrunk twins in a backtest: each keeps the share of its agent's tilt that the raw
run's past test folds earned against the base, holds the base without a past, and
never reads a day after the decision it makes."""

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from fin_hgrpo.backtest import BacktestSpec, run_backtest
from fin_hgrpo.reports.backtest import write_report
from fin_hgrpo.strategies.shrinkage import MIN_DAYS, shrunk_name, skill_kappa
from fin_hgrpo.walkforward import shrunk as shrunk_module
from tests.conftest import prices_and_perturbed
from tests.walkforward.test_warm_start import _spec

SEEDS = ("hybrid_grpo_seed0", "hybrid_grpo_seed1")


def _shrinking(folder, prices, **keys) -> BacktestSpec:
    data = _spec(folder, prices).model_dump()
    data["strategies"][0] |= {"ensemble": True, "shrink": "skill"} | keys
    return BacktestSpec.model_validate(data)


@pytest.fixture(scope="module")
def half_kept(tmp_path_factory):
    """A backtest whose twins keep half the tilt once a past exists, and every active
    record kappa was computed from."""
    folder = tmp_path_factory.mktemp("shrink")
    prices, _ = prices_and_perturbed(500, 400, 0)
    seen = []

    def half(active, base=None):
        seen.append((np.asarray(active).copy(), np.asarray(base).copy()))
        return 0.0 if len(active) < MIN_DAYS else 0.5

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shrunk_module, "skill_kappa", half)
        result = run_backtest(_shrinking(folder, prices), workers=1, progress=False)
    return result, seen


def test_twins_are_named_after_their_runs():
    assert shrunk_name("hgrpo", "hgrpo_seed3") == ("hgrpo_shrunk", "hgrpo_shrunk_seed3")
    assert shrunk_name("hgrpo_ensemble", "hgrpo_ensemble") == ("hgrpo_shrunk_ensemble",) * 2


def test_a_twin_without_a_past_holds_the_base(half_kept):
    result, _ = half_kept
    first = result.folds[result.folds["fold"] == 0]
    days = result.returns.index[result.returns.index <= pd.Timestamp(first["test_end"].iloc[0])]
    for run in ("hybrid_grpo_shrunk_seed0", "hybrid_grpo_shrunk_ensemble"):
        np.testing.assert_array_equal(result.returns.loc[days, run],
                                      result.returns.loc[days, "equal_weight"])
    assert (first.loc[first["strategy"] == "hybrid_grpo_shrunk", "kappa"] == 0.0).all()


def test_kappa_comes_from_the_raw_runs_past_test_folds_and_the_bases(half_kept):
    result, seen = half_kept
    folds = result.folds.drop_duplicates("fold").set_index("fold")
    base = result.returns["equal_weight"]
    expected = []
    for _, row in folds.iterrows():  # the order twins are set in: fold, then column
        # a return is dated by the close it ends at: the last before a fold's first
        # decision ends at that decision's close
        past = result.returns.index <= pd.Timestamp(row["test_start"])
        for run in (*SEEDS, "hybrid_grpo_ensemble"):
            expected.append(((result.returns[run] - base)[past].dropna().to_numpy(),
                             base[past].dropna().to_numpy()))  # cash earns nothing here
    assert len(seen) == len(expected)
    for (active, market), (wanted, wanted_market) in zip(seen, expected, strict=True):
        np.testing.assert_array_equal(active, wanted)
        np.testing.assert_array_equal(market, wanted_market)
    twins = result.folds[result.folds["strategy"] == "hybrid_grpo_shrunk"]
    assert (twins.loc[twins["fold"] > 0, "kappa"] == 0.5).all()
    assert result.folds.loc[result.folds["strategy"] == "hybrid_grpo", "kappa"].isna().all()


def test_a_half_kept_tilt_departs_from_the_base_less_than_the_raw_run(half_kept):
    result, _ = half_kept
    shares = result.seeds["active_share"]
    for seed in (0, 1):
        raw, twin = shares[f"hybrid_grpo_seed{seed}"], shares[f"hybrid_grpo_shrunk_seed{seed}"]
        assert 0.0 < twin < raw
    assert {"hybrid_grpo_shrunk", "hybrid_grpo_shrunk_ensemble"} <= set(result.agents())


def test_the_real_kappa_of_a_run_without_skill_is_zero(half_kept):
    result, seen = half_kept
    assert [skill_kappa(*record) for record in seen[:3]] == [0.0] * 3


def test_twins_never_read_a_day_after_their_decision(tmp_path):
    t = 330  # inside the third fold's test window
    prices, changed = prices_and_perturbed(500, t, 3)
    weights = []
    for name, panel in (("a", prices), ("b", changed)):
        (tmp_path / name).mkdir()
        result = run_backtest(_shrinking(tmp_path / name, panel), workers=1, progress=False)
        weights.append({run: frame for run, frame in result.weights.items()
                         if "_shrunk" in run})
    day = prices.index[t]
    for run, frame in weights[0].items():
        pd.testing.assert_frame_equal(frame.loc[:day], weights[1][run].loc[:day])


def test_a_capped_twin_chooses_a_cap_from_the_list_and_holds_the_base_first(tmp_path):
    prices, _ = prices_and_perturbed(500, 400, 0)
    result = run_backtest(_shrinking(tmp_path, prices, shrink="cap", caps=[0.0, 0.02, 0.5]),
                          workers=1, progress=False)
    twins = result.folds[result.folds["strategy"] == "hybrid_grpo_shrunk"]
    assert set(twins["cap"]) <= {0.0, 0.02, 0.5}
    assert (twins.loc[twins["fold"] == 0, "cap"] == 0.0).all()
    assert twins["kappa"].isna().all()
    shares = result.seeds["active_share"]
    assert shares["hybrid_grpo_shrunk_seed0"] <= 0.5 + 1e-9


@pytest.mark.parametrize("keys, message", [
    ({"shrink": "cap", "caps": [0.1, 0.2]}, "include 0"),
    ({"shrink": "cap", "caps": [0.0, 1.5]}, "lie in"),
    ({"shrink": "sometimes"}, "shrink"),
])
def test_bad_shrink_keys_are_refused(tmp_path, keys, message):
    prices, _ = prices_and_perturbed(300, 200, 0)
    with pytest.raises(ValidationError, match=message):
        _shrinking(tmp_path, prices, **keys)


def test_a_selecting_agent_cannot_also_shrink(tmp_path):
    prices, _ = prices_and_perturbed(300, 200, 0)
    data = _spec(tmp_path, prices).model_dump()
    data["strategies"][0] |= {"shrink": "skill", "select": {"space": {"tilt_scale": [0.1, 0.2]},
                                                            "rules": ["past_folds:all"]}}
    with pytest.raises(ValidationError, match="select and shrink"):
        BacktestSpec.model_validate(data)


def test_the_report_shows_each_folds_kappa_and_the_twins_harm(half_kept, tmp_path):
    result, _ = half_kept
    result.write(tmp_path)
    page = write_report(tmp_path).read_text()
    folds = pd.read_csv(tmp_path / "folds.csv")
    assert set(folds.loc[folds["strategy"] == "hybrid_grpo_shrunk", "kappa"]) == {0.0, 0.5}
    assert page.count("κ 0.50") == 2 * (folds["fold"].nunique() - 1)  # twins and ensemble
    assert "<b>hybrid_grpo_shrunk</b>: its 2 seeds' Sharpe ratios" in page
    assert "Harm:" in page

"""The long-short baselines: what they hold, that they keep the book, and that none
looks ahead."""

import numpy as np
import pandas as pd
import pytest
import torch

from fin_hgrpo.backtest import run_strategy
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import Book, PortfolioSim
from fin_hgrpo.errors import StrategyError
from fin_hgrpo.measures.covariance import ledoit_wolf
from fin_hgrpo.strategies import (
    Cash,
    Decision,
    EqualWeight,
    LongShortMinVariance,
    LongShortMomentum,
    LongShortTangency,
    Strategy,
)
from tests.conftest import prices_and_perturbed

BOOK = Book.of(3, min_weight=-0.6, max_weight=1.0, net=(-0.2, 1.0), gross_max=1.5)


def _sim(prices: pd.DataFrame, book: Book = BOOK) -> PortfolioSim:
    return PortfolioSim(MarketPanel(prices), features=[{"name": "log_return"}], window=5,
                        book=book, borrow_bps_year=100.0)


@pytest.mark.parametrize("make", [
    Cash, lambda: LongShortMomentum(40, 5, 1, 0.5, 0.5),
    lambda: LongShortMinVariance(60, 1.5), lambda: LongShortTangency(60, 1.2),
], ids=["cash", "long_short_momentum", "long_short_min_variance", "long_short_tangency"])
def test_no_long_short_strategy_looks_ahead(make):
    """Changing every price after day t leaves every decision up to t unchanged."""
    t = 260
    prices, changed = prices_and_perturbed(400, t, seed=12)
    strategy = make()
    before = run_strategy(strategy, _sim(prices), 160, 398, "weekly").weights
    after = run_strategy(strategy, _sim(changed), 160, 398, "weekly").weights
    cut = prices.index[t]
    pd.testing.assert_frame_equal(before.loc[:cut], after.loc[:cut], check_exact=True)
    if strategy.name != "cash":
        assert not before.loc[cut:].iloc[1:].equals(after.loc[cut:].iloc[1:])
    if strategy.name in ("long_short_momentum", "long_short_tangency"):
        assert (before.drop(columns="cash").to_numpy() < 0).any()  # it does short


def _decision(returns: np.ndarray, book: Book | None = None) -> Decision:
    prices = pd.DataFrame(np.cumprod(1 + returns, axis=0),
                          index=pd.bdate_range("2020-01-01", periods=len(returns)),
                          columns=[f"X{i}" for i in range(returns.shape[1])])
    return Decision(prices.index[-1], prices, np.r_[np.zeros(returns.shape[1]), 1.0],
                    lambda: None, book=book)


def test_long_short_momentum_is_long_the_winners_and_short_the_losers():
    returns = np.zeros((130, 4))
    returns[:100] = [0.002, -0.001, 0.003, 0.0]
    dollar_neutral = LongShortMomentum(126, 29, 1, 0.5, 0.5).weights(_decision(returns))
    assert dollar_neutral.tolist() == [0.0, -0.5, 0.5, 0.0, 1.0]
    one_thirty = LongShortMomentum(126, 29, 2, 1.3, 0.3).weights(_decision(returns))
    assert one_thirty.tolist() == pytest.approx([0.65, -0.15, 0.65, -0.15, 0.0])


def test_long_short_min_variance_is_the_global_minimum_scaled_to_its_gross():
    rng = np.random.default_rng(3)
    returns = rng.standard_normal((253, 4)) * [0.01, 0.02, 0.015, 0.03]
    w = LongShortMinVariance(252, 1.4).weights(_decision(returns))
    cov = ledoit_wolf(_decision(returns).returns(252).to_numpy())
    direction = np.linalg.solve(cov, np.ones(4))
    assert np.abs(w[:-1]).sum() == pytest.approx(1.4)
    assert w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w[:-1] / w[:-1].sum(), direction / direction.sum(), rtol=1e-10)


def test_a_signed_portfolio_is_moved_within_the_book_it_trades_in():
    rng = np.random.default_rng(5)
    returns = rng.normal([0.002, -0.002, 0.001], 0.01, (253, 3))
    book = Book.of(3, min_weight=-0.1, max_weight=0.5, net=(0.0, 0.0), gross_max=0.6)
    w = LongShortTangency(252, 3.0).weights(_decision(returns, book))
    assert book.violation(w[:-1]) is None
    assert w.sum() == pytest.approx(1.0)


class _Levered(Strategy):
    name = "levered"

    def weights(self, decision: Decision) -> np.ndarray:
        return np.array([0.9, 0.6, -0.6, 0.1])


def test_a_target_beyond_the_book_is_refused_naming_strategy_date_and_limit():
    prices, _ = prices_and_perturbed(200, 199, seed=1)
    with pytest.raises(StrategyError, match=r"strategy 'levered' on \d{4}-\d\d-\d\d: gross "
                                            r"exposure 2\.1 is above 1\.5"):
        run_strategy(_Levered(), _sim(prices), 100, 150)
    # a long-only strategy inside the book's limits runs unchanged
    run = run_strategy(EqualWeight(), _sim(prices), 100, 150)
    assert run.weights.iloc[0].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0.0])
    assert list(run.daily.columns) == ["net_return", "turnover", "cost", "borrow",
                                       "financing"]
    assert torch.isfinite(torch.tensor(run.daily.to_numpy())).all()

"""A point-in-time universe in the simulator: listings, halts and delistings."""

import numpy as np
import pandas as pd
import pytest
import torch

from fin_hgrpo.backtest import run_strategy
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import EnvSpec, PortfolioEnv, PortfolioSim
from fin_hgrpo.strategies import BuyAndHold, EqualWeight, Strategy


def _universe(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A: flat; B lists on day 100; C collapses 90% over days 150-155 and delists after
    day 160 (its last price)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-01", periods=n).rename("date")
    a = np.full(n, 100.0)
    b = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    b[:100] = np.nan
    c = 20 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    c[150:156] = c[149] * np.geomspace(0.7, 0.1, 6)
    c[156:161] = c[155]
    c[161:] = np.nan
    return pd.DataFrame({"A": a, "B": b, "C": c}, index=dates)


def _sim(frame: pd.DataFrame, **kwargs) -> PortfolioSim:
    panel = MarketPanel.from_frame(frame, align="listed")
    return PortfolioSim(panel, features=[{"name": "log_return"}], window=1,
                        normalize_features=False, cost_bps=0.0, **kwargs)


@pytest.mark.parametrize("delisting_return", [0.0, -1.0])
def test_a_collapse_and_delisting_lose_what_was_held_and_nothing_more(delisting_return):
    sim = _sim(_universe(), delisting_return=delisting_return, tradable_feature=True)
    run = run_strategy(EqualWeight(), sim, 120, 250)
    weights, returns = run.weights, run.daily["net_return"]
    # C is held until its last price (day 160), then settled into cash at that price
    # times (1 + delisting return); from then on 1/N runs over A and B
    held_c = weights.loc[sim.dates[160], "C"]
    assert held_c == pytest.approx(1 / 3)
    b_return = sim.panel.prices["B"].iloc[161] / sim.panel.prices["B"].iloc[160] - 1
    assert returns.loc[sim.dates[161]] == pytest.approx(
        weights.loc[sim.dates[160], "B"] * b_return + held_c * delisting_return, abs=1e-12)
    after = weights.loc[sim.dates[161]:]
    assert (after["C"] == 0).all()
    np.testing.assert_allclose(after[["A", "B"]].to_numpy(), 0.5)
    # what is gone is gone: the wealth path after the delisting is A and B's alone
    later = sim.panel.prices.loc[sim.dates[162]:sim.dates[251], ["A", "B"]].pct_change()
    np.testing.assert_allclose(returns.loc[sim.dates[163]:], later.iloc[1:].mean(axis=1),
                               atol=1e-12)


def test_an_asset_enters_when_it_lists_and_its_features_are_ready():
    sim = _sim(_universe())
    run = run_strategy(EqualWeight(), sim, 50, 140)
    weights = run.weights
    assert (weights.loc[:sim.dates[100], "B"] == 0).all()  # first price, no return yet
    assert weights.loc[sim.dates[101], "B"] == pytest.approx(1 / 3)
    assert (weights.loc[:sim.dates[100], ["A", "C"]].to_numpy() == 0.5).all()


def test_nothing_is_ever_put_on_an_untradable_asset():
    """Agents cannot put weight where the universe has none: every candidate is
    restricted in the batched scoring, whatever it asks for."""
    sim = _sim(_universe())
    t = torch.arange(sim.first_decision, sim.last_decision + 1)
    candidates = torch.softmax(torch.randn(len(t), 8, 4, dtype=torch.float64), -1)
    w_prev = torch.softmax(torch.randn(len(t), 4, dtype=torch.float64), -1)
    w_prev[:, :3] = torch.where(sim.listed[t], w_prev[:, :3], 0.0)
    w_prev /= w_prev.sum(-1, keepdim=True)
    settled, restricted = sim.restrict(t, w_prev, candidates)
    untradable = ~sim.tradable[t]
    halted = sim.listed[t] & untradable
    moved = restricted[..., :3] - settled[:, None, :3]
    assert torch.all(moved.abs()[untradable[:, None, :].expand_as(moved)] < 1e-12)
    assert torch.all(restricted[..., :3][~sim.listed[t][:, None, :].expand_as(moved)] == 0)
    torch.testing.assert_close(restricted.sum(-1), torch.ones(len(t), 8, dtype=torch.float64))
    assert torch.all(restricted >= 0) and halted.any() is not None
    scored = sim.score(t, w_prev, candidates)
    assert torch.isfinite(scored.net_return).all()


def test_the_mask_does_not_look_ahead():
    """Changing every price after day t, a delisting included, changes nothing a
    decision at t can see: observations and the tradable mask up to t."""
    frame = _universe()
    later = frame.copy()
    t = 130
    later.iloc[t + 1:] *= 1.5
    later.iloc[t + 5:, 1] = np.nan  # B delists soon after t in the other history
    one, two = _sim(frame, tradable_feature=True), _sim(later, tradable_feature=True)
    days = torch.arange(one.first_decision, t + 1)
    torch.testing.assert_close(one.observe(days), two.observe(days))
    assert torch.equal(one.tradable[: t + 1], two.tradable[: t + 1])


def test_engine_and_env_agree_under_the_mask():
    frame = _universe()
    spec = EnvSpec.model_validate({
        "features": [{"name": "log_return"}], "window": 1, "normalize_features": False,
        "costs": {"bps": 10.0}, "constraints": {"action_transform": "normalize"},
        "data": {"align": "listed"}})
    panel = MarketPanel.from_frame(frame, align="listed")
    run = run_strategy(BuyAndHold(), spec.build_sim(panel), 90, 250)
    env = PortfolioEnv(spec.build_sim(panel), horizon=10_000, random_start=False,
                       observation="dict")
    env.reset(options={"start": panel.dates[90]})
    wealth = []
    for target in run.weights.to_numpy():
        _, _, _, _, info = env.step(target)
        wealth.append(info["wealth"])
    np.testing.assert_allclose(run.wealth.to_numpy(), wealth, rtol=0, atol=1e-9)


class _AllInC(Strategy):
    name = "all_in_c"

    def weights(self, decision):
        return np.array([0.0, 0.0, 1.0, 0.0])


def test_a_target_on_a_delisted_asset_goes_to_cash():
    sim = _sim(_universe())
    run = run_strategy(_AllInC(), sim, 155, 200)
    assert run.weights.loc[sim.dates[161]:, "cash"].eq(1.0).all()
    assert run.daily["cost"].sum() == 0.0  # cost_bps 0 here; the settlement is no trade


def test_a_universe_follows_its_members_buying_on_entry_and_selling_on_exit(tmp_path):
    """A membership file (ticker,start,end) makes a universe follow an index: a ticker is
    bought while a member and sold, at the usual cost, when it leaves."""
    frame = _universe().assign(B=lambda f: f["A"] * 0.5 + 10)  # B lists from day 0 here
    frame["C"] = 20.0
    dates = frame.index
    (tmp_path / "members.csv").write_text(
        f"ticker,start,end\nA,{dates[0].date()},\nB,{dates[100].date()},\n"
        f"C,{dates[0].date()},{dates[149].date()}\n")
    spec = EnvSpec.model_validate({
        "features": [{"name": "log_return"}], "window": 1, "normalize_features": False,
        "costs": {"bps": 10.0},
        "data": {"align": "listed", "membership": str(tmp_path / "members.csv")}})
    panel = MarketPanel.from_frame(frame, align="listed")
    sim = spec.build_sim(panel)
    run = run_strategy(EqualWeight(), sim, 50, 250)
    w = run.weights
    np.testing.assert_allclose(w.loc[dates[99], ["A", "B", "C"]], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(w.loc[dates[100], ["A", "B", "C"]], [1 / 3] * 3, atol=1e-12)
    np.testing.assert_allclose(w.loc[dates[150], ["A", "B", "C"]], [0.5, 0.5, 0.0])
    # leaving is a sale like any other: it is charged
    assert run.daily.loc[dates[151], "cost"] > 0
    assert sim.observe(torch.tensor([150]))[0, 0, 2, -1] == 0.0  # C: no longer tradable


def test_membership_needs_a_listed_universe_and_names_bad_rows(tmp_path):
    from fin_hgrpo.data.membership import load_membership
    from fin_hgrpo.errors import DataError, SpecError

    (tmp_path / "env.toml").write_text('[data]\nmembership = "m.csv"\n')
    with pytest.raises(SpecError, match=r'env.toml: key data: .*membership needs align = '
                                        r'"listed"'):
        EnvSpec.load(tmp_path / "env.toml")
    (tmp_path / "m.csv").write_text("ticker,start,end\nA,2020-01-01,2019-01-01\n")
    dates = pd.bdate_range("2019-01-01", periods=5)
    with pytest.raises(DataError, match=r"m.csv, line 2: A ends \(2019-01-01\) before"):
        load_membership(tmp_path / "m.csv", dates, ["A"])
    (tmp_path / "m.csv").write_text("ticker,start,end\nZZZ,2019-01-01,\n")
    with pytest.raises(DataError, match=r"tickers \['ZZZ'\] are not in the universe"):
        load_membership(tmp_path / "m.csv", dates, ["A"])


def test_a_backtest_from_a_start_before_a_listing_trades_it_once_listed_and_ready(tmp_path):
    """Issue 34: an env spec with an explicit start on a ragged file (a name that lists
    later, one that delists) is a point-in-time universe: 1/N buys the late name only
    once it is listed and its features are ready, and never holds the delisted one
    after its last price."""
    from fin_hgrpo.backtest import BacktestSpec, run_backtest

    frame = _universe(n=500, seed=4)
    frame.to_csv(tmp_path / "ragged.csv")
    env = tmp_path / "ragged.toml"
    env.write_text(f'window = 5\nfeatures = [{{ name = "log_return" }}, '
                   f'{{ name = "momentum", window = 10 }}]\n[data]\n'
                   f'source = "csv:{tmp_path / "ragged.csv"}"\nalign = "listed"\n'
                   f'start = {frame.index[0].date()}\n')
    spec = BacktestSpec.model_validate({
        "name": "ragged", "env": str(env), "benchmark": None, "tearsheets": False,
        "walk_forward": {"train_days": 60, "test_days": 60, "embargo_days": 0},
        "strategies": [{"kind": "equal_weight"}]})
    weights = run_backtest(spec, workers=1, progress=False).weights["equal_weight"]
    listed = frame.notna()
    for ticker in frame.columns:
        first = listed[ticker].idxmax()
        last = listed[ticker][::-1].idxmax()
        held = weights[ticker] > 0
        ready = frame.index[frame.index.get_loc(first) + 10]  # momentum's 10 days behind it
        assert not held[held.index < ready].any(), ticker
        assert not held[held.index > last].any(), ticker
        if ready < weights.index[-1] and last > weights.index[-1]:
            assert held[held.index >= max(ready, weights.index[0])].all(), ticker


def test_a_short_in_a_ticker_that_collapses_and_delists_gains_and_is_settled_in_cash():
    """A book short C through its collapse earns the fall; at the delisting the short is
    closed into cash at the last price, and nothing of C is held after."""
    from fin_hgrpo.envs import Book

    book = Book.of(3, min_weight=-0.5, max_weight=1.0, net=(-0.5, 1.0), gross_max=1.5)
    sim = _sim(_universe(), book=book)
    first = sim.day(pd.Timestamp("2015-07-01"))  # C listed and tradable, before its fall
    held = torch.tensor([[0.5, 0.0, -0.5, 1.0]], dtype=torch.float64)
    wealth = 1.0
    for t in range(first, 170):
        scored = sim.score(torch.tensor([t]), held, held[:, None])
        wealth *= 1 + scored.net_return.item()
        held = scored.holdings[:, 0]
    prices = _universe()
    fall = prices["C"].iloc[160] / prices["C"].iloc[first]  # C's path while short
    assert wealth == pytest.approx(1.0 + 0.5 * (1 - fall), rel=1e-12)  # A is flat
    assert held[0, 2].item() == 0.0 and held.sum().item() == pytest.approx(1.0)

"""A long-short book's accounting, checked against a share-and-dollar ledger and
closed forms."""

import numpy as np
import pandas as pd
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import Book, EnvSpec, Episodes, PortfolioEnv, PortfolioSim, Reward
from fin_hgrpo.envs.trading import simulate
from fin_hgrpo.errors import DataError, SpecError

FEATURES = [{"name": "log_return"}]


def _sim(prices: pd.DataFrame, book: Book, **kwargs) -> PortfolioSim:
    return PortfolioSim(MarketPanel(prices), features=FEATURES, window=2,
                        normalize_features=False, book=book, **kwargs)


def _prices(days: int, n: int, seed: int = 0, vol: float = 0.02) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = 100 * np.exp(np.cumsum(rng.normal(0, vol, (days, n)), axis=0))
    return pd.DataFrame(values, index=pd.bdate_range("2021-01-01", periods=days),
                        columns=[f"X{i}" for i in range(n)])


def _ledger(prices: pd.DataFrame, targets: np.ndarray, first: int, *, cost: np.ndarray,
            borrow: np.ndarray, cash_rate: float, spread: float) -> np.ndarray:
    """Wealth in dollars of a book that trades to ``targets`` (days, A+1) at each close
    from ``first``: shares and a cash balance, fees paid in dollars."""
    p = prices.to_numpy()
    years = np.diff(prices.index.to_numpy()).astype("timedelta64[s]").astype(float) / (365 * 86400)
    shares, cash, wealth = np.zeros(p.shape[1]), 1.0, [1.0]
    for k, target in enumerate(targets):
        t = first + k
        value = shares @ p[t] + cash
        held = shares * p[t] / value
        fee = value * (cost * np.abs(target[:-1] - held)).sum()
        after = value - fee
        shares = target[:-1] * after / p[t]
        cash = after - shares @ p[t]
        carry = (np.maximum(-shares * p[t], 0) * borrow).sum() * years[t] + \
            max(-cash, 0) * spread * years[t]
        cash = cash * (1 + cash_rate) - carry
        wealth.append(shares @ p[t + 1] + cash)
    return np.array(wealth)


def test_an_independent_ledger_reproduces_the_wealth_of_random_long_short_days():
    prices = _prices(520, 5, seed=1)
    book = Book.of(5, min_weight=-0.8, max_weight=1.2, net=(-0.5, 1.5), gross_max=2.5)
    cost = np.array([5, 10, 20, 2, 50]) / 1e4
    borrow = np.array([30, 300, 50, 1000, 0]) / 1e4
    cash_rate, spread = 0.0001, 0.02
    sim = _sim(prices, book, cost_bps=cost * 1e4, cash_rate=cash_rate,
               borrow_bps_year=borrow * 1e4, financing_spread_bps_year=spread * 1e4)
    rng = np.random.default_rng(2)
    first, last = sim.first_decision, sim.first_decision + 499
    raw = torch.tensor(rng.normal(0, 1, (last - first + 1, 5)))
    targets = torch.cat([book.project(raw), torch.zeros(len(raw), 1)], 1)
    targets[:, -1] = 1 - targets[:, :-1].sum(1)
    assert (targets[:, :-1] < 0).any(1).float().mean() > 0.9  # nearly every day shorts
    assert (targets[:, -1] < 0).any()  # and some days borrow cash
    start = torch.zeros(1, 6, dtype=torch.float64)
    start[0, -1] = 1.0
    path = simulate(lambda t, held: targets[t - first][None], sim, first, last, "daily", start)
    wealth = np.r_[1.0, np.cumprod(1 + path.net_return[0].numpy())]
    expected = _ledger(prices, targets.numpy(), first, cost=cost, borrow=borrow,
                       cash_rate=cash_rate, spread=spread)
    np.testing.assert_allclose(wealth, expected, rtol=1e-10)
    assert path.borrow[0].min() >= 0 and path.borrow[0].sum() > 0
    assert path.financing[0].sum() > 0


def test_a_dollar_neutral_pair_on_identical_series_earns_cash_less_borrow_and_costs():
    days = 300
    prices = pd.DataFrame({"A": np.full(days, 50.0), "B": np.full(days, 50.0)},
                          index=pd.bdate_range("2022-01-03", periods=days))
    book = Book.of(2, min_weight=-1.0, max_weight=1.0, net=(0.0, 0.0), gross_max=1.0)
    r, fee, cost = 0.0001, 0.01, 0.001  # a day's cash rate, borrow a year, cost per trade
    sim = _sim(prices, book, cost_bps=cost * 1e4, cash_rate=r, borrow_bps_year=fee * 1e4)
    first, last = sim.first_decision, sim.last_decision
    pair = torch.tensor([[0.5, -0.5, 1.0]], dtype=torch.float64)
    start = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
    path = simulate(lambda t, held: pair if t == first else held, sim, first, last, "daily",
                    start)  # bought once, then held
    years = sim.accrual[first:last + 1].numpy()
    n = len(years)
    # cash (1 - entry cost) grows at r; each day's fee is on the short's value, which
    # stays at half the entry wealth
    expected = (1 - cost) * ((1 + r) ** n - 0.5 * fee * (years * (1 + r) ** np.arange(n - 1, -1,
                                                                                     -1)).sum())
    assert np.prod(1 + path.net_return[0].numpy()) == pytest.approx(expected, rel=1e-12)


def test_a_year_short_accrues_the_borrow_fee_exactly():
    dates = pd.date_range("2023-01-02", "2024-01-02", freq="D")  # 365 days of accrual
    prices = pd.DataFrame({"A": 20.0, "B": 20.0}, index=dates)
    book = Book.of(2, min_weight=-1.0, max_weight=1.0, net=(-1.0, 1.0), gross_max=1.0)
    sim = _sim(prices, book, cost_bps=0.0, borrow_bps_year=[250.0, 0.0])
    first = sim.first_decision
    short = torch.tensor([[-1.0, 0.0, 2.0]], dtype=torch.float64)
    held = short.clone()
    wealth = 1.0
    for t in range(first, len(dates) - 1):  # hold the short to the last close
        scored = sim.score(torch.tensor([t]), held, short[:, None] if t == first else held[:, None])
        wealth *= 1 + scored.net_return.item()
        held = scored.holdings[:, 0]
    accrued_years = (dates[-1] - dates[first]).days / 365
    assert wealth == pytest.approx(1.0 - 0.025 * accrued_years, rel=1e-12)


def test_a_short_that_gains_150_percent_in_a_day_ruins_the_book_with_finite_numbers():
    prices = pd.DataFrame({"A": [10.0] * 5 + [25.0, 30.0, 20.0], "B": 10.0},
                          index=pd.bdate_range("2024-01-01", periods=8))
    book = Book.of(2, min_weight=-1.0, max_weight=1.0, net=(-1.0, 1.0), gross_max=1.0)
    sim = _sim(prices, book, cost_bps=10.0)
    t = 4  # from the close of day 4 to day 5, A gains 150%
    scored = sim.score(torch.tensor([t]), torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64),
                       torch.tensor([[[-1.0, 0.0, 2.0], [-0.5, 0.0, 1.5]]], dtype=torch.float64))
    assert scored.ruined[0].tolist() == [True, False]
    assert scored.net_return[0, 0].item() == -1.0
    assert torch.isfinite(scored.log_return).all()
    assert scored.holdings[0, 0].tolist() == [0.0, 0.0, 1.0]
    # in an episode, ruin terminates it; in a run, the book is closed after it
    episodes = Episodes(sim, Reward(), 1, horizon=10, random_start=False)
    episodes.t[:] = t
    step = episodes.step(torch.tensor([[-1.0, 0.0, 2.0]], dtype=torch.float64))
    assert step.terminated.tolist() == [True] and step.truncated.tolist() == [False]
    assert episodes.wealth.item() == 0.0
    start = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
    path = simulate(lambda day, held: torch.tensor([[-1.0, 0.0, 2.0]], dtype=torch.float64),
                    sim, 3, 6, "daily", start)
    assert path.ruin.tolist() == [1]
    assert path.net_return[0, 2:].tolist() == [0.0, 0.0]
    assert path.end[0].tolist() == [0.0, 0.0, 1.0]


def test_scoring_n_candidates_equals_n_single_steps_with_shorts_carry_impact_and_caps():
    prices = _prices(60, 4, seed=3)
    book = Book.of(4, min_weight=-0.5, max_weight=1.0, net=(-0.2, 1.3), gross_max=2.0)
    sim = PortfolioSim(_with_volume(prices), features=FEATURES, window=2, book=book,
                       cost_bps=[5.0, 10.0, 0.0, 30.0], min_cost_bps=1.0,
                       borrow_bps_year=100.0, financing_spread_bps_year=150.0,
                       cash_rate=0.0002, impact=1.0, aum=3e7, max_participation=0.1)
    rng = np.random.default_rng(4)
    t = torch.tensor([10, 20, 30])
    w_prev = sim.constrain(torch.tensor(rng.normal(0, 1, (3, 5))))
    candidates = sim.constrain(torch.tensor(rng.normal(0, 1, (3, 6, 5))))
    together = sim.score(t, w_prev, candidates)
    for i in range(6):
        alone = sim.score(t, w_prev, candidates[:, i:i + 1])
        for a, b in zip(together, alone, strict=True):
            torch.testing.assert_close(a[:, i:i + 1], b, atol=1e-14, rtol=0)


def test_the_long_short_env_passes_the_gymnasium_checker_and_trades_signed_weights():
    spec = EnvSpec.model_validate({
        "data": {"source": "synthetic:iid", "n_assets": 4, "n_days": 300},
        "constraints": {"long_short": True, "min_weight": -0.3, "max_weight": 0.6,
                        "net": [0.0, 0.0], "gross_max": 1.0},
        "costs": {"borrow_bps_year": 50.0},
    })
    env = PortfolioEnv.from_spec(spec, horizon=20)
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([1.0, -1.0, 0.5, -0.5, 0.0], dtype=np.float32))
    assets = info["weights"][:4]
    assert assets.sum() == pytest.approx(0.0, abs=1e-12)
    assert np.abs(assets).sum() == pytest.approx(1.0, abs=1e-12)
    assert (assets < 0).any()
    assert env.observation_space.contains(env.step(np.zeros(5, np.float32))[0])


def test_long_only_specs_are_unchanged_and_book_keys_need_long_short():
    long_only = EnvSpec.model_validate({"data": {"source": "synthetic:iid"}}).build_sim()
    assert long_only.book is None and not long_only.long_short
    for constraints in ({"min_weight": -0.1}, {"gross_max": 1.5}, {"max_weight": 1.5}):
        with pytest.raises(ValueError, match="long_short"):
            EnvSpec.model_validate({"constraints": constraints})
    with pytest.raises(ValueError, match="long_short"):
        EnvSpec.model_validate({"costs": {"borrow_bps_year": 50}})
    with pytest.raises(ValueError, match="net"):
        EnvSpec.model_validate({"constraints": {"long_short": True}})


def test_a_book_names_tickers_it_cannot_find_and_reads_bounds_and_fees_per_ticker():
    spec = EnvSpec.model_validate({
        "data": {"source": "synthetic:iid", "n_assets": 3},
        "constraints": {"long_short": True, "min_weight": -0.2, "net": [1, 1],
                        "gross_max": 1.4, "shortable": ["S0", "S1"],
                        "bounds": {"S1": [-0.4, 0.5]}},
        "costs": {"borrow_bps_year": {"S1": 400.0, "default": 40.0}},
    })
    panel = spec.load_panel()
    tickers = list(panel.tickers)
    sim = spec.build_sim()
    assert sim.book.lower.tolist() == [-0.2, -0.4, 0.0]
    assert sim.book.upper.tolist() == [1.0, 0.5, 1.0]
    assert (sim.borrow_rate[0] * 1e4).tolist() == pytest.approx([40.0, 400.0, 40.0])
    assert tickers == ["S0", "S1", "S2"]
    bad = spec.model_copy(update={"constraints": spec.constraints.model_copy(
        update={"shortable": ["ZZZ"]})})
    with pytest.raises(SpecError, match="constraints.shortable: ZZZ"):
        bad.build_sim()


def _with_volume(prices: pd.DataFrame, seed: int = 7) -> MarketPanel:
    rng = np.random.default_rng(seed)
    volume = pd.DataFrame(rng.uniform(1e5, 1e6, prices.shape), index=prices.index,
                          columns=prices.columns)
    return MarketPanel(prices, fields={"volume": volume})


def _impact_inputs(panel: MarketPanel, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Each day's volatility and mean dollar volume over the last ``days``, by loops."""
    p, v = panel.prices.to_numpy(), panel.field("volume").to_numpy()
    sigma, dollars = np.zeros_like(p), np.zeros_like(p)
    for t in range(len(p)):
        window = slice(max(0, t - days + 1), t + 1)
        dollars[t] = (p[window] * v[window]).mean(0)
        # returns of the days in the window (the first day's has no day before it)
        r = p[max(1, t - days + 1):t + 1] / p[max(0, t - days):t] - 1 if t > 0 else \
            np.zeros((0, p.shape[1]))
        sigma[t] = r.std(0, ddof=1) if len(r) >= 2 else 0.0
    return sigma, dollars


def test_the_ledger_reproduces_the_wealth_with_square_root_impact_on():
    prices = _prices(220, 4, seed=5)
    panel = _with_volume(prices)
    book = Book.of(4, min_weight=-0.8, max_weight=1.2, net=(-0.5, 1.5), gross_max=2.5)
    aum, b, days = 5e7, 0.8, 21
    sim = PortfolioSim(panel, features=FEATURES, window=2, normalize_features=False,
                       book=book, cost_bps=5.0, borrow_bps_year=80.0, impact=b, aum=aum,
                       impact_days=days)
    sigma, dollars = _impact_inputs(panel, days)
    rng = np.random.default_rng(6)
    first, last = sim.first_decision, sim.first_decision + 199
    targets = sim.constrain(torch.tensor(rng.normal(0, 1, (last - first + 1, 5))))
    start = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    path = simulate(lambda t, held: targets[t - first][None], sim, first, last, "daily", start)
    p = prices.to_numpy()
    years = np.diff(prices.index.to_numpy()).astype("timedelta64[s]").astype(float) / (365 * 86400)
    shares, cash, wealth = np.zeros(4), 1.0, [1.0]
    for k, target in enumerate(targets.numpy()):
        t = first + k
        value = shares @ p[t] + cash
        trade = np.abs(target[:-1] - shares * p[t] / value)
        fee = value * (5e-4 * trade + b * sigma[t] * trade ** 1.5 * np.sqrt(aum / dollars[t])
                       ).sum()
        after = value - fee
        shares = target[:-1] * after / p[t]
        cash = after - shares @ p[t] - (np.maximum(-shares * p[t], 0) * 0.008).sum() * years[t]
        wealth.append(shares @ p[t + 1] + cash)
    np.testing.assert_allclose(np.r_[1.0, np.cumprod(1 + path.net_return[0].numpy())],
                               wealth, rtol=1e-10)
    assert path.impact[0].sum() > 0 and (path.impact[0] <= path.cost[0]).all()


def test_impact_per_unit_grows_with_the_square_root_of_the_books_size():
    panel = _with_volume(_prices(120, 3, seed=8))
    held = torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    target = torch.tensor([[[0.5, 0.3, 0.2, 0.0]]], dtype=torch.float64)
    impacts = [PortfolioSim(panel, features=FEATURES, window=2, cost_bps=0.0, impact=1.0,
                            aum=aum).score(torch.tensor([80]), held, target).impact.item()
               for aum in (1e7, 2e7)]
    assert impacts[1] / impacts[0] == pytest.approx(np.sqrt(2), rel=1e-12)


def test_a_participation_cap_fills_each_trade_up_to_its_share_of_dollar_volume():
    prices = _prices(120, 3, seed=9)
    panel = _with_volume(prices)
    aum, rho, t = 5e8, 0.05, 80
    sim = PortfolioSim(panel, features=FEATURES, window=2, cost_bps=0.0, aum=aum,
                       max_participation=rho, impact_days=21)
    _, dollars = _impact_inputs(panel, 21)
    cap = rho * dollars[t] / aum
    assert (cap < 0.5).all()  # the book is large against the names' volume
    held = torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    wanted = torch.tensor([[0.5, 0.3, 0.2, 0.0]], dtype=torch.float64)
    scored = sim.score(torch.tensor([t]), held, wanted[:, None])
    filled = scored.turnover  # from cash: the one-way turnover is what was bought
    assert filled.item() == pytest.approx(np.minimum(wanted[0, :3].numpy(), cap).sum())
    assert sim.capped(torch.tensor([t]), held, wanted).tolist() == [True]
    # a long-only switch: what it sells is capped, and what it buys too, and at most
    # what the sale and the cash held pay for (cash never goes below zero)
    for cash_held in (0.1, 0.0):
        switch_from = torch.tensor([[0.9 - cash_held, 0.0, 0.1, cash_held]],
                                   dtype=torch.float64)
        switch_to = torch.tensor([[[0.0, 0.9 - cash_held, 0.1, cash_held]]],
                                 dtype=torch.float64)
        after = sim.fill(torch.tensor([t]), switch_from, switch_to)[0, 0].numpy()
        sold = min(0.9 - cash_held, cap[0])
        bought = min(0.9 - cash_held, cap[1], sold + cash_held)
        assert after.tolist() == pytest.approx([0.9 - cash_held - sold, bought, 0.1,
                                                cash_held + sold - bought], abs=1e-12)
        assert after[-1] >= 0


def test_costs_that_need_volume_are_refused_without_it_naming_what_is_missing():
    prices = _prices(60, 2)
    with pytest.raises(DataError, match="need volume, and this panel has only adj_close"):
        PortfolioSim(MarketPanel(prices), features=FEATURES, window=2, impact=1.0, aum=1e6)
    silent = pd.DataFrame({"X0": 1e5, "X1": 0.0}, index=prices.index)
    with pytest.raises(DataError, match="no volume for ticker X1"):
        PortfolioSim(MarketPanel(prices, fields={"volume": silent}), features=FEATURES,
                     window=2, max_participation=0.1, aum=1e6)
    with pytest.raises(ValueError, match="need aum"):
        EnvSpec.model_validate({"costs": {"impact": 1.0}})


def test_a_dated_borrow_file_charges_each_day_the_fee_then_in_effect(tmp_path):
    dates = pd.date_range("2023-01-02", "2024-01-02", freq="D")
    prices = pd.DataFrame({"A": 20.0, "B": 20.0}, index=dates)
    fees = tmp_path / "borrow.csv"
    fees.write_text("date,A,default\n2022-12-01,100,5\n2023-07-01,900,5\n")
    spec = EnvSpec.model_validate({
        "features": FEATURES, "window": 2, "normalize_features": False,
        "costs": {"bps": 0.0, "borrow_bps_year": str(fees)},
        "constraints": {"long_short": True, "min_weight": -1.0, "net": [-1.0, 1.0],
                        "gross_max": 1.0}})
    assert str(fees) in spec.files()
    sim = spec.build_sim(MarketPanel(prices))
    first = sim.first_decision
    short = torch.tensor([[-1.0, 0.0, 2.0]], dtype=torch.float64)
    held, wealth = short, 1.0
    for t in range(first, len(dates) - 1):
        scored = sim.score(torch.tensor([t]), held, held[:, None])
        wealth *= 1 + scored.net_return.item()
        held = scored.holdings[:, 0]
    before = (pd.Timestamp("2023-07-01") - dates[first]).days / 365
    after = (dates[-1] - pd.Timestamp("2023-07-01")).days / 365
    assert wealth == pytest.approx(1.0 - 0.01 * before - 0.09 * after, rel=1e-12)
    assert (sim.borrow_rate[:, 1] * 1e4).unique().tolist() == pytest.approx([5.0])
    for text, message in (("date,A,B\n2023-03-01,1,1\n", "start on 2023-03-01, after"),
                          ("date,A\n2022-12-01,100\n", "no fee for ticker B"),
                          ("date,A,ZZ,default\n2022-12-01,1,1,1\n", r"\['ZZ'\] are not"),
                          ("date,A,default\n2022-12-01,-1,1\n", "A on 2022-12-01 is not")):
        fees.write_text(text)
        with pytest.raises(DataError, match=message):
            spec.build_sim(MarketPanel(prices))


def test_a_dated_shortable_file_closes_shorts_outside_its_spells(tmp_path):
    prices = _prices(120, 3, seed=10)
    spells = tmp_path / "shortable.csv"
    spells.write_text(f"ticker,start,end\nX0,{prices.index[0].date()},{prices.index[59].date()}\n"
                      f"X1,{prices.index[0].date()},\n")
    spec = EnvSpec.model_validate({
        "features": FEATURES, "window": 2, "normalize_features": False,
        "costs": {"bps": 10.0},
        "constraints": {"long_short": True, "min_weight": -0.5, "net": [0.0, 1.0],
                        "gross_max": 1.5, "shortable": str(spells)}})
    assert str(spells) in spec.files()
    sim = spec.build_sim(MarketPanel(prices))
    assert sim.book.lower.tolist() == [-0.5, -0.5, -0.5]  # bounds: any day; spells: each day
    held = torch.tensor([[-0.3, -0.2, 0.5, 1.0]], dtype=torch.float64)
    target = held[:, None]
    inside = sim.score(torch.tensor([40]), held, target)
    assert inside.holdings[0, 0, 0] < 0 and inside.cost.item() == 0.0
    outside = sim.score(torch.tensor([80]), held, target)  # X0's spell has ended: bought back
    assert outside.holdings[0, 0, 0].item() == 0.0 and outside.holdings[0, 0, 1] < 0
    assert outside.cost.item() == pytest.approx(0.3 * 10 / 1e4)
    assert (sim.restrict(torch.tensor([80]), held, target)[1][0, 0, -1]).item() == \
        pytest.approx(0.7)  # buying X0 back comes out of cash
    spells.write_text("ticker,start,end\nZZZ,2020-01-01,\n")
    with pytest.raises(DataError, match=r"tickers \['ZZZ'\] are not in the universe"):
        spec.build_sim(MarketPanel(prices))

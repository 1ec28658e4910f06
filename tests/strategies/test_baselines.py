import numpy as np
import pandas as pd
import pytest

from fin_hgrpo.algos import HybridGRPOConfig
from fin_hgrpo.backtest import run_strategy
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.envs import EnvSpec, PortfolioSim
from fin_hgrpo.measures.covariance import ledoit_wolf
from fin_hgrpo.strategies import (
    Benchmark,
    BuyAndHold,
    Decision,
    EqualRiskContribution,
    EqualWeight,
    HierarchicalRiskParity,
    InverseVolatility,
    MaxSharpe,
    MinVariance,
    Momentum,
)
from fin_hgrpo.strategies.config import load_strategy_class
from fin_hgrpo.strategies.forecast import ForecastStrategy
from fin_hgrpo.strategies.rl import RLStrategy, Validation
from tests.conftest import prices_and_perturbed

FEATURES = [{"name": "log_return"}, {"name": "volatility", "window": 10}]


def _sim(prices: pd.DataFrame) -> PortfolioSim:
    return PortfolioSim(MarketPanel(prices), features=FEATURES, window=5)


def _forecast_strategy(prices: pd.DataFrame, model: str = "ridge") -> ForecastStrategy:
    strategy = ForecastStrategy(EnvSpec.model_validate({"features": FEATURES, "window": 5}),
                                model, horizon=3, lookback=60)
    strategy.fit(MarketPanel(prices.iloc[:150]))
    return strategy


def _rl_strategy(prices: pd.DataFrame) -> RLStrategy:
    spec = EnvSpec.model_validate({"features": FEATURES, "window": 5})
    strategy = RLStrategy(HybridGRPOConfig(hidden=8, n_envs=4, n_steps=4, group_size=4,
                                           epochs=1), spec, steps=64)
    strategy.fit(MarketPanel(prices.iloc[:150]))
    return strategy


STRATEGIES = {
    "equal_weight": EqualWeight, "buy_and_hold": BuyAndHold,
    "benchmark": lambda: Benchmark("B"), "inverse_volatility": lambda: InverseVolatility(20),
    "min_variance": lambda: MinVariance(60), "max_sharpe": lambda: MaxSharpe(60),
    "hrp": lambda: HierarchicalRiskParity(60), "risk_parity": lambda: EqualRiskContribution(60),
    "momentum": lambda: Momentum(40, 5, 2),
    "user_trend_filter": lambda: load_strategy_class("strategies/trend_filter.py:TrendFilter")(50),
    "rl_agent": "rl", "forecast_ridge": "forecast_ridge", "forecast_gbm": "forecast_gbm",
}
# the optimisers decide by the same code whatever the calendar: one of them daily suffices
WEEKLY_ONLY = {"max_sharpe", "hrp", "risk_parity", "forecast_gbm"}


@pytest.mark.parametrize(("make", "rebalance"), [
    pytest.param(make, rebalance, id=f"{rebalance}-{name}")
    for rebalance in ("daily", "weekly") for name, make in STRATEGIES.items()
    if not (rebalance == "daily" and name in WEEKLY_ONLY)])
def test_no_strategy_looks_ahead(make, rebalance):
    """Changing every price after day t leaves every decision up to t unchanged."""
    t = 260
    prices, changed = prices_and_perturbed(400, t, seed=11)
    strategy = _rl_strategy(prices) if make == "rl" else \
        _forecast_strategy(prices, make.removeprefix("forecast_")) \
        if isinstance(make, str) else make()
    before = run_strategy(strategy, _sim(prices), 200, 320, rebalance).weights
    after = run_strategy(strategy, _sim(changed), 200, 320, rebalance).weights
    cut = prices.index[t]
    pd.testing.assert_frame_equal(before.loc[:cut], after.loc[:cut], check_exact=True)
    # ... while later holdings do change (so the test can tell), except where they
    # cannot: one asset held, or 1/N restored every day
    if strategy.name == "benchmark" or (strategy.name, rebalance) == ("equal_weight", "daily"):
        return
    assert not before.loc[cut:].iloc[1:].equals(after.loc[cut:].iloc[1:])


def _decision(returns: np.ndarray) -> Decision:
    prices = pd.DataFrame(np.cumprod(1 + returns, axis=0),
                          index=pd.bdate_range("2020-01-01", periods=len(returns)),
                          columns=[f"X{i}" for i in range(returns.shape[1])])
    holdings = np.r_[np.zeros(returns.shape[1]), 1.0]
    return Decision(prices.index[-1], prices, holdings, lambda: None)


def test_min_variance_matches_an_independent_solver_within_its_tolerance():
    """skfolio's interior-point solution against SciPy's SLSQP at a 1e-15 tolerance:
    the same variance to 1e-6 relative, the same weights to 1e-3."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    returns = rng.standard_normal((253, 6)) * np.array([0.01, 0.02, 0.015, 0.03, 0.01, 0.02])
    w = MinVariance(252).weights(_decision(returns))[:-1]
    cov = ledoit_wolf(_decision(returns).returns(252).to_numpy())
    reference = minimize(lambda x: x @ cov @ x, np.full(6, 1 / 6), jac=lambda x: 2 * cov @ x,
                         method="SLSQP", bounds=[(0, 1)] * 6,
                         constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
                         options={"ftol": 1e-15, "maxiter": 500}).x
    assert w @ cov @ w == pytest.approx(reference @ cov @ reference, rel=1e-6)
    np.testing.assert_allclose(w, reference, atol=1e-3)
    assert w.sum() == pytest.approx(1.0)


def test_max_sharpe_beats_every_random_portfolio():
    rng = np.random.default_rng(2)
    returns = rng.normal([0.001, 0.0005, 0.0002, -0.0001], 0.01, size=(253, 4))
    decision = _decision(returns)
    w = MaxSharpe(252).weights(decision)[:-1]
    data = decision.returns(252).to_numpy()
    mean, cov = data.mean(0), ledoit_wolf(data)

    def ratio(x):
        return mean @ x / np.sqrt(x @ cov @ x)

    others = rng.dirichlet(np.ones(4), 20_000)
    assert ratio(w) >= max(ratio(x) for x in others) - 1e-9


def test_max_sharpe_holds_cash_when_nothing_is_expected_to_grow():
    returns = -np.abs(np.random.default_rng(3).normal(0.001, 0.001, (253, 3)))
    assert MaxSharpe(252).weights(_decision(returns)).tolist() == [0.0, 0.0, 0.0, 1.0]


def test_risk_parity_gives_every_asset_the_same_share_of_the_variance():
    rng = np.random.default_rng(5)
    mix = rng.normal(0, 1, (5, 5)) * 0.3 + np.eye(5)
    returns = rng.standard_normal((253, 5)) @ mix * [0.01, 0.02, 0.015, 0.03, 0.01]
    decision = _decision(returns)
    w = EqualRiskContribution(252).weights(decision)[:-1]
    cov = ledoit_wolf(decision.returns(252).to_numpy())
    shares = w * (cov @ w) / (w @ cov @ w)
    np.testing.assert_allclose(shares, 0.2, rtol=1e-3)  # the solver's tolerance
    assert w.sum() == pytest.approx(1.0) and (w > 0).all()


def test_hierarchical_risk_parity_of_uncorrelated_assets_is_inverse_variance():
    """Without correlation every bisection splits by the halves' inverse variance, so
    the weights are 1 / variance, whatever the clustering."""
    rng = np.random.default_rng(6)
    basis, _ = np.linalg.qr(rng.standard_normal((252, 6)) - 0.0)
    centred = basis - basis.mean(0)
    basis, _ = np.linalg.qr(centred)  # orthogonal and (nearly) mean-zero columns
    returns = (basis - basis.mean(0)) * [0.5, 1.0, 1.5, 2.0, 2.5, 3.0] * 0.2
    prices = np.cumprod(1 + np.vstack([np.zeros(6), returns]), axis=0)
    decision = _decision(np.vstack([np.zeros(6), returns]))
    data = decision.returns(252).to_numpy()
    w = HierarchicalRiskParity(252).weights(decision)[:-1]
    variance = np.diag(ledoit_wolf(data))
    assert prices.shape[0] == 253
    np.testing.assert_allclose(w, (1 / variance) / (1 / variance).sum(), rtol=1e-3)


def test_momentum_holds_the_past_winners_equally():
    returns = np.zeros((130, 4))
    returns[:100] = [0.002, -0.001, 0.003, 0.0]  # the formation period
    returns[100:] = [-0.01, 0.01, -0.01, 0.0]  # the skipped month reverses
    w = Momentum(lookback=126, skip=29, top_k=2).weights(_decision(returns))
    assert w.tolist() == [0.5, 0.0, 0.5, 0.0, 0.0]


def test_inverse_volatility_weights():
    rng = np.random.default_rng(4)
    returns = rng.standard_normal((64, 2)) * [0.01, 0.02]
    decision = _decision(returns)
    vol = decision.returns(63).std()
    w = InverseVolatility(63).weights(decision)
    assert w[0] / w[1] == pytest.approx(vol.iloc[1] / vol.iloc[0])


def _distance(a: dict, b: dict) -> float:
    return sum(float((a[k] - b[k]).abs().sum()) for k in a)


def test_a_warm_started_agent_begins_where_the_last_fold_ended():
    prices, _ = prices_and_perturbed(400, 300, seed=5)
    spec = EnvSpec.model_validate({"features": FEATURES, "window": 5})
    config = HybridGRPOConfig(hidden=8, n_envs=4, n_steps=4, group_size=4, epochs=1)
    trained = {}
    for warm in (True, False):
        strategy = RLStrategy(config, spec, steps=512, warm_start=warm)
        strategy.fit(MarketPanel(prices.iloc[:200]))
        before = {k: v.clone() for k, v in strategy.agent.policy.state_dict().items()}
        # a learning rate too small to move anything: the second fit ends where it began
        strategy.config = config.model_copy(update={"learning_rate": 1e-12})
        strategy.fit(MarketPanel(prices.iloc[100:300]))
        trained[warm] = _distance(strategy.agent.policy.state_dict(), before)
    assert trained[True] < 1e-6 < trained[False]


def test_early_stopping_keeps_the_networks_that_did_best_on_held_out_days():
    prices, _ = prices_and_perturbed(300, 299, seed=6)
    spec = EnvSpec.model_validate({"features": FEATURES, "window": 5})
    config = HybridGRPOConfig(hidden=8, n_envs=4, n_steps=4, group_size=4, epochs=1)
    strategy = RLStrategy(config, spec, steps=16 * 12, validation_days=40, validate_every=3)
    train = MarketPanel(prices)
    strategy.fit(train)
    assert strategy.agent.sim.dates[-1] == train.dates[-41]  # never trained on them
    log = strategy.training_log
    judged = log.dropna(subset=["validation_log_growth"])
    assert judged["iteration"].tolist() == [3, 6, 9, 12]
    kept = Validation(spec, train, 40, 0.0, "hgrpo").scores([strategy.agent])[0]
    assert kept == pytest.approx(judged["validation_log_growth"].max(), abs=1e-12)


def test_members_on_one_window_are_judged_in_one_engine_run_as_each_would_be_alone():
    prices, _ = prices_and_perturbed(300, 299, seed=6)
    spec = EnvSpec.model_validate({"features": FEATURES, "window": 5, "costs": {"bps": 10}})
    train = MarketPanel(prices)
    config = HybridGRPOConfig(hidden=8, n_envs=4, n_steps=4, group_size=4, epochs=1)
    strategies = [RLStrategy(config.model_copy(update={"seed": seed}), spec, steps=64)
                  for seed in range(3)]
    for strategy in strategies:
        strategy.fit(MarketPanel(prices.iloc[:250]))
    validation = Validation(spec, train, 40, 0.02, "hgrpo")
    together = validation.scores([s.agent for s in strategies])
    sim = spec.build_sim(train)
    alone = [np.log1p(run_strategy(s, sim, sim.last_decision - 39, sim.last_decision,
                                   min_trade=0.02).daily["net_return"]).sum()
             for s in strategies]
    assert together == pytest.approx(alone, abs=1e-12)
    assert len(set(together)) == 3


def test_a_broken_custom_strategy_or_params_is_a_spec_error_naming_the_file(tmp_path):
    from fin_hgrpo.errors import SpecError
    from fin_hgrpo.strategies.config import CustomSpec, build_strategy

    broken = tmp_path / "broken.py"
    broken.write_text("def oops(:\n")
    with pytest.raises(SpecError, match=r"broken.py: the strategy module fails to import: "
                                        r"SyntaxError"):
        load_strategy_class(f"{broken}:Broken")
    good = tmp_path / "good.py"
    good.write_text("from fin_hgrpo.strategies import EqualWeight as Good\n")
    spec = CustomSpec(kind="custom", path=f"{good}:Good", params={"nope": 1})
    with pytest.raises(SpecError, match=r"good.py:Good: params \{'nope': 1\} do not build it"):
        build_strategy(spec, EnvSpec())


def test_a_momentum_skip_as_long_as_its_lookback_is_refused():
    from pydantic import ValidationError

    from fin_hgrpo.strategies.config import MomentumSpec

    with pytest.raises(ValidationError, match=r"skip \(21\) must be shorter than lookback"):
        MomentumSpec(kind="momentum", lookback=21, skip=21)

import warnings

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from fin_hgrpo.measures import performance

TOL = 1e-8


@pytest.fixture(scope="module")
def pair() -> tuple[pd.Series, pd.Series]:
    """A fat-tailed strategy and a correlated benchmark over 3 years of business days."""
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2020-01-01", periods=756)
    bench = 0.0004 + 0.011 * rng.standard_t(4, 756) / np.sqrt(2)
    strat = 0.0002 + 0.8 * bench + 0.006 * rng.standard_normal(756)
    strat[::50] = 0.0  # some flat days, as a strategy out of the market has
    return pd.Series(strat, dates, name="s"), pd.Series(bench, dates, name="b")


@pytest.mark.parametrize("ours, theirs", [
    (performance.cagr, qs.stats.cagr),
    (performance.volatility, qs.stats.volatility),
    (performance.sharpe, qs.stats.sharpe),
    (performance.sortino, qs.stats.sortino),
    (performance.max_drawdown, qs.stats.max_drawdown),
    (performance.calmar, qs.stats.calmar),
    (lambda r: float(r.skew()), qs.stats.skew),
    (lambda r: float(r.kurtosis()), qs.stats.kurtosis),
    (performance.hit_rate, qs.stats.win_rate),
    (performance.psr, qs.stats.probabilistic_sharpe_ratio),
    (performance.cvar_95, lambda r: qs.stats.cvar(r, method="historical")),
])
def test_single_series_metrics_agree_with_quantstats(pair, ours, theirs):
    strategy, _ = pair
    assert ours(strategy) == pytest.approx(float(theirs(strategy)), rel=TOL, abs=TOL)


def test_benchmark_relative_metrics_agree_with_quantstats(pair):
    strategy, bench = pair
    beta, alpha = performance.greeks(strategy, bench)
    expected = qs.stats.greeks(strategy, bench)
    assert beta == pytest.approx(expected["beta"], rel=TOL)
    assert alpha == pytest.approx(expected["alpha"], rel=TOL)
    assert performance.information_ratio(strategy, bench) == pytest.approx(
        qs.stats.information_ratio(strategy, bench) * np.sqrt(252), rel=TOL)


def test_hand_computed_drawdown_and_tail():
    r = pd.Series([0.10, -0.50, 0.20, 0.50, 0.10, -0.01])
    # wealth 1.1, .55, .66, .99, 1.089, 1.07811: peak 1.1, trough .55 -> -50%
    assert performance.max_drawdown(r) == pytest.approx(-0.5)
    assert performance.max_drawdown_days(r) == 5  # below 1.1 from day 2 to the end
    assert performance.max_drawdown_days(pd.Series([0.01, 0.02])) == 0
    # a first-day loss is a drawdown from the starting wealth
    assert performance.max_drawdown(pd.Series([-0.1, 0.05])) == pytest.approx(-0.1)
    values = pd.Series(np.arange(1, 101) / 100.0 - 0.5)  # -0.49 .. 0.50
    assert performance.var_95(values) == pytest.approx(np.quantile(values, 0.05))
    assert performance.cvar_95(values) == pytest.approx(values.iloc[:5].mean())


def test_active_share_by_hand():
    dates = pd.bdate_range("2024-01-01", periods=3)
    base = pd.DataFrame([[0.5, 0.5, 0.0]] * 3, index=dates, columns=["A", "B", "cash"])
    held = pd.DataFrame([[0.5, 0.5, 0.0], [0.7, 0.3, 0.0], [0.0, 0.0, 1.0]], index=dates,
                        columns=["A", "B", "cash"])
    # days: 0, 0.2, 1 -> mean 0.4
    assert performance.active_share(held, base) == pytest.approx(0.4)
    assert performance.active_share(held.iloc[1:2], base) == pytest.approx(0.2)
    # another universe (a benchmark's single ticker): what one lacks, it holds at zero
    spy = pd.DataFrame([[1.0, 0.0]] * 3, index=dates, columns=["SPY", "cash"])
    assert performance.active_share(spy, base) == pytest.approx(1.0)


def test_deflated_sharpe_counts_the_tries():
    rng = np.random.default_rng(1)
    r = pd.Series(0.0008 + 0.01 * rng.standard_normal(1000))
    one = performance.dsr(r, np.array([performance.sharpe(r, annualize=False)]))
    assert one == pytest.approx(performance.psr(r))  # one try: nothing to deflate
    sharpes = rng.normal(0.0, 0.03, size=50)
    threshold = performance.expected_max_sharpe(sharpes)
    # Bailey and Lopez de Prado's approximation, computed from scratch
    from scipy.stats import norm
    spread = sharpes.std(ddof=1)
    expected = spread * ((1 - np.euler_gamma) * norm.ppf(1 - 1 / 50)
                         + np.euler_gamma * norm.ppf(1 - 1 / (50 * np.e)))
    assert threshold == pytest.approx(expected)
    assert performance.dsr(r, sharpes) < performance.psr(r)
    assert performance.dsr(r, sharpes) == pytest.approx(performance.psr(r, threshold))


def test_summary_table(pair):
    strategy, bench = pair
    frame = pd.DataFrame({"s": strategy, "benchmark": bench})
    turnover = pd.DataFrame({"s": 0.01, "benchmark": 0.0}, index=frame.index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = performance.summarize(frame, turnover=turnover, benchmark=bench)
    assert list(table.index) == ["s", "benchmark"]
    assert table.loc["s", "turnover"] == pytest.approx(2.52)
    assert table.loc["benchmark", "beta"] == pytest.approx(1.0)
    for column in ("cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown",
                   "var_95", "cvar_95", "turnover", "psr", "dsr"):
        assert column in table


def test_excess_sharpe_and_sortino_agree_with_quantstats_given_the_same_cash_rate(pair):
    strategy, _ = pair
    daily_rf = 0.0001  # the env's cash_rate is daily; quantstats takes an annual rate
    annual = (1 + daily_rf) ** 252 - 1
    assert performance.sharpe(strategy, rf=daily_rf) == pytest.approx(
        float(qs.stats.sharpe(strategy, rf=annual, periods=252)), rel=TOL)
    assert performance.sortino(strategy, rf=daily_rf) == pytest.approx(
        float(qs.stats.sortino(strategy, rf=annual, periods=252)), rel=TOL)
    assert performance.sharpe(strategy, rf=daily_rf) < performance.sharpe(strategy)


def test_cash_has_no_excess_sharpe_when_it_earns_the_cash_rate():
    cash = pd.Series(np.full(300, 0.0001))
    noise = pd.Series(0.0001 + 1e-4 * np.random.default_rng(0).standard_normal(300))
    # riskless carry is not a premium: excess mean 0, the Sharpe is not inflated
    assert performance.sharpe(noise, rf=0.0001) == pytest.approx(
        performance.sharpe(noise - 0.0001), rel=1e-12)
    assert np.isnan(performance.sharpe(cash, rf=0.0001))


def test_a_dated_cash_rate_is_subtracted_date_by_date_in_every_excess_measure():
    from fin_hgrpo.measures.inference import sharpe_difference
    from fin_hgrpo.measures.overfitting import pbo_of_runs

    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2020-01-01", periods=400)
    runs = pd.DataFrame(rng.normal(4e-4, 1e-2, (400, 4)), index=dates, columns=list("abcd"))
    rate = pd.Series(np.linspace(0.0, 2e-4, 500), index=pd.bdate_range("2019-12-01",
                                                                       periods=500))
    above = runs.sub(rate.reindex(dates), axis=0)
    r = runs["a"]
    assert performance.sharpe(r, rf=rate) == pytest.approx(performance.sharpe(above["a"]),
                                                           rel=1e-12)
    assert performance.sortino(r, rf=rate) == pytest.approx(performance.sortino(above["a"]),
                                                            rel=1e-12)
    assert performance.psr(r, rf=rate) == pytest.approx(performance.psr(above["a"]), rel=1e-12)
    dated = sharpe_difference(runs[["a", "b"]], runs["c"], rf=rate)
    by_hand = sharpe_difference(above[["a", "b"]], above["c"])
    assert (dated.difference, dated.low, dated.high) == pytest.approx(
        (by_hand.difference, by_hand.low, by_hand.high), rel=1e-12)
    found, _ = pbo_of_runs(runs, [["a"], ["b"], ["c"], ["d"]], blocks=8, rf=rate)
    expected, _ = pbo_of_runs(above, [["a"], ["b"], ["c"], ["d"]], blocks=8)
    np.testing.assert_allclose(found.logits, expected.logits, rtol=1e-12)
    with pytest.raises(ValueError, match="no value on 2019-11-29"):
        performance.sharpe(pd.Series([0.01, 0.02], index=pd.to_datetime(
            ["2019-11-29", "2019-12-02"])), rf=rate)


def test_deflated_sharpe_ignores_degenerate_trials_and_takes_an_explicit_count():
    rng = np.random.default_rng(2)
    a = pd.Series(0.0006 + 0.01 * rng.standard_normal(800))
    b = pd.Series(0.0002 + 0.01 * rng.standard_normal(800))
    cash = pd.Series(np.zeros(800))
    sharpes = np.array([performance.sharpe(x, annualize=False) for x in (a, b, cash)])
    assert np.isnan(sharpes[-1])
    assert performance.dsr(a, sharpes) == pytest.approx(performance.dsr(a, sharpes[:2]))
    # an explicit number of trials: 50 tries with the observed spread deflate more than 2
    assert performance.dsr(a, sharpes, n_trials=50) < performance.dsr(a, sharpes)
    assert performance.expected_max_sharpe(sharpes[:2], n_trials=1) == 0.0

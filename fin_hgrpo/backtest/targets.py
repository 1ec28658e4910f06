"""Target weights for tomorrow: what a backtest's strategy holds after a close, and the
trades that get there.

A backtest keeps in ``deploy/`` what each run needs to act: the last fold's windows,
the holdings that fold's test began from, and an agent's trained networks (each seed;
an ensemble is its seeds). ``target_weights`` rebuilds the strategy: an agent gets its
networks back, and a classical strategy is fitted again on the same training window
(the same prices give the same fitted state). It then replays the engine from the last
fold's first test day, with the same rebalancing and no-trade band, up to the close
asked for. Inside the test window this is the backtest itself, and its weights come
out again exactly (tested). After the window, the strategy goes on acting on the new
closes, as it would have done in use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import TypeAdapter

from fin_hgrpo.algos import agent_config, make_agent
from fin_hgrpo.backtest.engine import (
    Position,
    ask,
    rebalance_days,
    run_strategy,
    starting_holdings,
    traded_target,
)
from fin_hgrpo.backtest.runner import one_thread
from fin_hgrpo.data import MarketPanel
from fin_hgrpo.data.synthetic import CASH
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.errors import DataError, FinHgrpoError, SpecError
from fin_hgrpo.io import atomic_write, atomic_write_text
from fin_hgrpo.strategies import Strategy
from fin_hgrpo.strategies.config import StrategySpec, build_strategy
from fin_hgrpo.strategies.ensemble import SeedEnsemble
from fin_hgrpo.strategies.rl import RLStrategy

# what the networks read: an env spec that changes any of these is another model
MODEL_KEYS = ("features", "window", "normalize_features", "feature_scaling",
              "feature_halflife", "constraints")
HOLDINGS_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Targets:
    """``weights``: the target at the close of ``date`` (tickers, then cash);
    ``holdings``: the portfolio before trading; ``prices``: that close's adjusted
    prices; trades are sized for ``wealth`` at ``cost_bps``."""

    strategy: str
    date: pd.Timestamp
    weights: pd.Series
    holdings: pd.Series
    prices: pd.Series
    wealth: float
    cost_bps: float

    def trades(self) -> pd.DataFrame:
        """One row per ticker (and cash): weights before and after, the trade as a
        weight, a notional and a number of shares, and its cost."""
        trade = self.weights - self.holdings
        notional = trade * self.wealth
        shares = notional / self.prices.reindex(trade.index)
        cost = notional.abs() * self.cost_bps / 1e4
        cost[CASH] = 0.0
        return pd.DataFrame({"from_weight": self.holdings, "to_weight": self.weights,
                             "trade_weight": trade, "notional": notional, "shares": shares,
                             "cost": cost}).rename_axis("ticker")

    def to_dict(self) -> dict:
        trades = self.trades()
        return {"strategy": self.strategy, "date": str(self.date.date()),
                "wealth": self.wealth, "cost_bps": self.cost_bps,
                "weights": self.weights.to_dict(), "holdings": self.holdings.to_dict(),
                "total_cost": float(trades["cost"].sum()),
                "turnover": float(trades["trade_weight"].drop(CASH).abs().sum() / 2)}


def target_weights(folder: str | Path, strategy: str | None = None, *,
                   asof: object = None, holdings: pd.Series | None = None,
                   wealth: float = 1.0) -> Targets:
    """The target weights of ``strategy`` (a run: ``equal_weight``, ``ppo_seed1``,
    ``ppo_ensemble``; an agent's name means its ensemble, else its first seed; default:
    the spec's first strategy) at the last close on or before ``asof`` (default: the
    data's last), trading from ``holdings`` (default: the holdings the replayed strategy
    has then), with prices from the data the backtest's env spec names now.

    One thread for torch and BLAS, as in the backtest's tasks: the same sums in the
    same order, so the backtest's own weights come out bit for bit."""
    with one_thread():
        return _target_weights(Path(folder), strategy, asof, holdings, wealth)


def _target_weights(folder: Path, strategy: str | None, asof: object,
                    holdings: pd.Series | None, wealth: float) -> Targets:
    state = _state(folder)
    run = _run_name(state, strategy, folder)
    entry = state["runs"][run]
    env = _env(state, folder)
    fold = {k: pd.Timestamp(v) for k, v in state["fold"].items() if k != "index"}
    spec = state["strategies"][_owner(state, entry)]
    built = _rebuild(state, run, env)
    panel = _panel(env, built.universe, entry["tickers"], state["periods_per_year"], folder)
    date = _close(panel, asof, fold["test_start"])
    trained_on = panel.slice(fold["train_start"], fold["train_end"])
    if _agents(built):
        _load_networks(built, state, folder, env, trained_on)
    else:
        built.fit(trained_on)  # the same window and prices: the same fitted state
    sim = env.build_sim(panel.slice(fold["train_start"], date))
    first, t = sim.day(fold["test_start"]), sim.day(date)
    start = None if entry["start"] is None else Position(
        pd.Timestamp(entry["start"]["date"]), np.asarray(entry["start"]["weights"]))
    if t > first:
        replay = run_strategy(built, sim, first, t - 1, spec["rebalance"], start=start,
                              min_trade=spec["min_trade"])
        held = torch.as_tensor(replay.end.weights, dtype=sim.dtype)[None]
    else:
        held = starting_holdings(sim, first, start)
    if holdings is not None:
        given = _aligned(holdings, panel.tickers).to_numpy(dtype=np.float64, copy=True)
        held = torch.as_tensor(given, dtype=sim.dtype)[None]
    due = rebalance_days(sim.dates[first:t + 1], spec["rebalance"])[-1]
    target = traded_target(sim, t, held, ask(built, sim, t, held), spec["min_trade"]) \
        if due else held
    columns = [*panel.tickers, CASH]
    return Targets(run, date, pd.Series(target[0].numpy(force=True), index=columns),
                   pd.Series(held[0].numpy(force=True), index=columns),
                   panel.prices.loc[date], float(wealth), env.costs.bps)


def read_holdings(path: str | Path) -> pd.Series:
    """A holdings file: ``ticker,weight`` rows (cash as the row ``cash``), summing to 1."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read holdings ({exc})") from None
    if list(table.columns[:2]) != ["ticker", "weight"]:
        raise DataError(f"{path}: holdings need the columns ticker,weight; got "
                        f"{','.join(map(str, table.columns))}")
    weights = table.set_index("ticker")["weight"].astype(float)
    if weights.index.duplicated().any():
        raise DataError(f"{path}: ticker {weights.index[weights.index.duplicated()][0]} "
                        "appears twice")
    if (weights < 0).any() or abs(weights.sum() - 1.0) > HOLDINGS_TOLERANCE:
        raise DataError(f"{path}: weights must be >= 0 and sum to 1 (sum {weights.sum():.6g})")
    return weights


def write_targets(targets: Targets, out: str | Path) -> Path:
    """``weights.csv`` (``ticker,weight``, cash as ``cash``), ``trades.csv`` and
    ``weights.json`` in ``out``, each written atomically."""
    out = Path(out)
    weights = targets.weights.rename("weight").rename_axis("ticker").reset_index()
    atomic_write(out / "weights.csv", lambda tmp: weights.to_csv(tmp, index=False))
    atomic_write(out / "trades.csv", lambda tmp: targets.trades().to_csv(tmp))
    atomic_write_text(out / "weights.json", json.dumps(targets.to_dict(), indent=2) + "\n")
    return out


def _state(folder: Path) -> dict:
    path = folder / "deploy" / "state.json"
    if not path.is_file():
        raise FinHgrpoError(f"{folder}: no deploy/state.json (a backtest keeps what its "
                            "strategies need to act from this version on; run it again)")
    return json.loads(path.read_text())


def _run_name(state: dict, wanted: str | None, folder: Path) -> str:
    runs = state["runs"]
    name = wanted or next(iter(state["strategies"]))
    if name in runs:
        return name
    for candidate in (f"{name}_ensemble", *sorted(r for r in runs if r.startswith(f"{name}_seed")
                                                  and runs[r]["strategy"] == name)):
        if candidate in runs:
            return candidate
    raise SpecError(f"{folder}: no strategy {name!r} finished the last fold; choose from "
                    f"{', '.join(runs)}")


def _env(state: dict, folder: Path) -> EnvSpec:
    """The env spec as it is now (its data may reach further), refused if it changed
    what the strategies read."""
    recorded = EnvSpec.model_validate(state["env_spec"])
    if not Path(state["env"]).is_file():
        return recorded
    current = EnvSpec.load(state["env"])
    for key in MODEL_KEYS:
        if getattr(current, key) != getattr(recorded, key):
            raise SpecError(f"{state['env']}: key {key} differs from the one {folder} was "
                            f"trained with ({getattr(recorded, key)!r}); its strategies "
                            "would read other inputs")
    return current


def _owner(state: dict, entry: dict) -> str:
    """The strategy a run belongs to (an ensemble's run is named after its agent)."""
    name = entry["strategy"]
    return name if name in state["strategies"] else name.removesuffix("_ensemble")


def _rebuild(state: dict, run: str, env: EnvSpec) -> Strategy:
    """The run's strategy, unfitted (an agent's networks are loaded separately)."""
    entry = state["runs"][run]
    owner = _owner(state, entry)
    if entry["model"] is not None:
        return RLStrategy(agent_config(entry["model"]["config"]), env, steps=1, name=owner)
    if run.endswith("_ensemble"):
        seeds = [r for r, e in state["runs"].items()
                 if e["strategy"] == owner and e["model"] is not None]
        return SeedEnsemble([_rebuild(state, r, env) for r in seeds], name=run)
    spec = TypeAdapter(StrategySpec).validate_python(state["strategies"][owner]["spec"])
    return build_strategy(spec, env)


def _load_networks(strategy: Strategy, state: dict, folder: Path, env: EnvSpec,
                   trained_on: MarketPanel) -> None:
    """Give each agent of ``strategy`` the networks its seed trained in the last fold."""
    files = {e["model"]["config"]["seed"]: folder / "deploy" / e["model"]["networks"]
             for e in state["runs"].values()
             if e["model"] is not None and e["strategy"] == _agents(strategy)[0].name}
    sim = env.build_sim(trained_on, dtype=torch.float32)
    for agent in _agents(strategy):
        agent.agent = make_agent(sim, agent.config, env.build_reward())
        saved = torch.load(files[agent.config.seed], weights_only=True)
        agent.agent.policy.load_state_dict(saved["policy"])
        if agent.agent.value is not None and "value" in saved:
            agent.agent.value.load_state_dict(saved["value"])


def _panel(env: EnvSpec, universe: list[str] | None, tickers: list[str], periods: int,
           folder: Path) -> MarketPanel:
    """The data the env spec names now, for the tickers the run traded; refused if the
    tickers or the calendar differ from what the run was trained on."""
    panel = env.load_panel()
    if universe and not set(universe) <= set(panel.tickers):
        panel = env.load_tickers(universe)
    if universe:
        panel = panel.select(list(universe))
    if list(panel.tickers) != list(tickers):
        raise DataError(f"{env.data.source}: the data holds tickers {list(panel.tickers)}; "
                        f"{folder} was trained on {tickers}")
    if env.periods(panel) != periods:
        raise DataError(f"{env.data.source}: {env.periods(panel)} bars a year, "
                        f"{folder} was trained on {periods}")
    return panel


def _agents(strategy: Strategy) -> list[RLStrategy]:
    if isinstance(strategy, SeedEnsemble):
        return [m for m in strategy.members if isinstance(m, RLStrategy)]
    return [strategy] if isinstance(strategy, RLStrategy) else []


def _close(panel: MarketPanel, asof: object, test_start: pd.Timestamp) -> pd.Timestamp:
    """The last close on or before ``asof`` (the data's last by default)."""
    dates = panel.dates
    if asof is None:
        date = dates[-1]
    else:
        wanted = pd.Timestamp(asof)
        if wanted < dates[0]:
            raise DataError(f"--asof {wanted.date()} is before the data ({dates[0].date()})")
        date = dates[dates.searchsorted(wanted, side="right") - 1]
    if date < test_start:
        raise DataError(f"--asof {date.date()} is before the last fold's test window "
                        f"({test_start.date()} on): its strategies were trained later")
    return date


def _aligned(holdings: pd.Series, tickers: list[str]) -> pd.Series:
    unknown = sorted(set(holdings.index) - {*tickers, CASH})
    if unknown:
        raise DataError(f"holdings name tickers the strategy does not trade: {unknown}")
    return holdings.reindex([*tickers, CASH], fill_value=0.0)

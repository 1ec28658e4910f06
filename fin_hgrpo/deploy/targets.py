"""Target weights for tomorrow: what a backtest's strategy holds after a close, and the
trades that get there.

A backtest keeps in ``deploy/`` (``walkforward.deploy_state.DeployState``) what each run needs
to act: the last fold's windows, the holdings that fold's test began from, and an
agent's trained networks (each seed; an ensemble is its seeds). ``target_weights``
rebuilds the strategy: an agent gets its networks back, and a classical strategy is
fitted again on the same training window (the same prices give the same fitted state).
It then replays the engine from the last fold's first test day, with the same
rebalancing and no-trade band, up to the close asked for. Inside the test window this
is the backtest itself, and its weights come out again exactly (tested). After the
window, the strategy goes on acting on the new closes, as it would have done in use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fin_hgrpo.algos import Agent
from fin_hgrpo.config import load_spec
from fin_hgrpo.data import CASH, MarketPanel
from fin_hgrpo.data.calendar import rebalance_days, to_date
from fin_hgrpo.envs import EnvSpec
from fin_hgrpo.envs.trading import starting_holdings, traded_target
from fin_hgrpo.errors import DataError, FinHgrpoError, SpecError
from fin_hgrpo.io import atomic_write, atomic_write_text, check_replaceable
from fin_hgrpo.provenance import file_sha256, panel_sha256
from fin_hgrpo.strategies import Strategy
from fin_hgrpo.strategies.config import CustomSpec, build_strategy
from fin_hgrpo.strategies.ensemble import SeedEnsemble
from fin_hgrpo.strategies.rl import RLStrategy
from fin_hgrpo.strategies.shrinkage import ShrunkAgent, Tilt
from fin_hgrpo.threads import one_thread
from fin_hgrpo.trust import check_data_file, inside
from fin_hgrpo.walkforward.config import BacktestSpec
from fin_hgrpo.walkforward.deploy_state import DeployState, Rules
from fin_hgrpo.walkforward.engine import ask, run_strategy

# what the networks read: an env spec that changes any of these is another model
MODEL_KEYS = ("features", "window", "normalize_features", "feature_scaling",
              "feature_halflife", "constraints")
HOLDINGS_TOLERANCE = 1e-6


@dataclass(frozen=True)
class TargetWeights:
    """``weights``: the target at the close of ``date`` (tickers, then cash);
    ``holdings``: the portfolio before trading; ``prices``: that close's adjusted
    prices; trades are sized for ``wealth`` at ``cost_bps`` (each ticker's proportional
    cost that day: an estimated spread makes it differ by ticker and day)."""

    strategy: str
    date: pd.Timestamp
    weights: pd.Series
    holdings: pd.Series
    prices: pd.Series
    wealth: float
    cost_bps: pd.Series
    warnings: tuple[str, ...] = ()  # what a reader must know before trading on them

    def trades(self) -> pd.DataFrame:
        """One row per ticker (and cash): weights before and after, the trade as a
        weight, a notional and a number of shares, and its cost."""
        trade = self.weights - self.holdings
        notional = trade * self.wealth
        shares = notional / self.prices.reindex(trade.index)
        cost = notional.abs() * self.cost_bps.reindex(trade.index, fill_value=0.0) / 1e4
        return pd.DataFrame({"from_weight": self.holdings, "to_weight": self.weights,
                             "trade_weight": trade, "notional": notional, "shares": shares,
                             "cost": cost}).rename_axis("ticker")

    def to_dict(self) -> dict:
        trades = self.trades()
        return {"strategy": self.strategy, "date": str(self.date.date()),
                "wealth": self.wealth, "cost_bps": self.cost_bps.to_dict(),
                "weights": self.weights.to_dict(), "holdings": self.holdings.to_dict(),
                "warnings": list(self.warnings), "total_cost": float(trades["cost"].sum()),
                "turnover": float(trades["trade_weight"].drop(CASH).abs().sum() / 2)}


def target_weights(folder: str | Path, strategy: str | None = None, *,
                   asof: object = None, holdings: pd.Series | None = None,
                   wealth: float = 1.0, specs: Sequence[str | Path] = ()) -> TargetWeights:
    """The target weights of ``strategy`` (a run: ``equal_weight``, ``ppo_seed1``,
    ``ppo_ensemble``; an agent's name means its ensemble, else its first seed; default:
    the spec's first strategy) at the last close on or before ``asof`` (default: the
    data's last), trading from ``holdings`` (default: the holdings the replayed strategy
    has then), with prices from the data the backtest's env spec names now. A custom
    strategy's code comes from one of ``specs`` (backtest specs the user names), never
    from the folder: its sha256 must be the one the backtest ran.

    One thread for torch and BLAS, as in the backtest's tasks: the same sums in the
    same order, so the backtest's own weights come out bit for bit."""
    with one_thread():
        return _target_weights(Path(folder), strategy, asof, holdings, wealth, specs)


def _target_weights(folder: Path, strategy: str | None, asof: object,
                    holdings: pd.Series | None, wealth: float,
                    specs: Sequence[str | Path]) -> TargetWeights:
    state = DeployState.read(folder)
    run = _run_name(state, strategy, folder)
    entry = state.runs[run]
    env = _env(state, folder)
    fold = state.fold.timestamps()
    rules = state.strategies[_owner(state, run)]
    trained = _trained_seeds(state, entry.shrunk_from or run)
    classical = None if trained else build_strategy(_buildable(rules, run, specs, folder), env)
    base = env.load_panel()
    panel = _panel(env, base, classical.universe if classical else None, entry.tickers,
                   state.periods_per_year, folder)
    date = _close(panel, asof, fold["test_start"])
    trained_on = panel.slice(fold["train_start"], fold["train_end"])
    if classical is not None:
        built = classical
        built.fit(trained_on)  # the same window and prices: the same fitted state
    else:
        built = _agent_strategy(state, entry.shrunk_from or run, trained, env, folder,
                                trained_on)
        if entry.shrunk_from is not None:  # the twin keeps its last fold's tilt
            agent = built.members[0] if isinstance(built, SeedEnsemble) else built
            built = ShrunkAgent(built, agent.config.base, Tilt(
                kappa=1.0 if entry.kappa is None else entry.kappa, cap=entry.cap), run)
    reference = classical is not None and bool(classical.universe)  # held as in the run
    held_in = env.for_reference() if reference else env
    sim = held_in.build_sim(panel.slice(fold["train_start"], date))
    first, t = sim.day(fold["test_start"]), sim.day(date)
    start = None if entry.start is None else entry.start.position()
    if t > first:
        replay = run_strategy(built, sim, first, t - 1, rules.rebalance, start=start,
                              min_trade=rules.min_trade)
        held = torch.as_tensor(replay.end.weights, dtype=sim.dtype)[None]
    else:
        held = starting_holdings(sim, first, start)
    if holdings is not None:
        short = holdings[holdings < 0]
        if len(short) and not env.constraints.long_short:
            raise DataError(f"holdings: {short.index[0]} is short ({short.iloc[0]:g}), and "
                            "the backtest's env is long-only")
        gross, limit = holdings.drop(CASH, errors="ignore").abs().sum(), env.constraints.gross_max
        if limit is not None and gross > limit + HOLDINGS_TOLERANCE:
            raise DataError(f"holdings: gross exposure {gross:g} of wealth is beyond the "
                            f"book's gross_max {limit:g}: weights are shares of wealth")
        given = _aligned(holdings, panel.tickers).to_numpy(dtype=np.float64, copy=True)
        held = torch.as_tensor(given, dtype=sim.dtype)[None]
    due = rebalance_days(sim.dates[first:t + 1], rules.rebalance)[-1]
    target = traded_target(sim, t, held, ask(built, sim, t, held), rules.min_trade) \
        if due else held
    columns = [*panel.tickers, CASH]
    return TargetWeights(run, date, pd.Series(target[0].numpy(force=True), index=columns),
                         pd.Series(held[0].numpy(force=True), index=columns),
                         panel.prices.loc[date], float(wealth),
                         pd.Series(sim.cost_rate[t].numpy(force=True) * 1e4,
                                   index=list(panel.tickers)),
                         _changed_prices(state, env, base, fold))


def read_holdings(path: str | Path) -> pd.Series:
    """A holdings file: ``ticker,weight`` rows (cash as the row ``cash``), summing to 1
    (a weight below zero, a short, is checked against the env by ``target_weights``)."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read holdings ({exc})") from None
    if list(table.columns[:2]) != ["ticker", "weight"]:
        raise DataError(f"{path}: holdings need the columns ticker,weight; got "
                        f"{','.join(map(str, table.columns))}")
    weights = pd.to_numeric(table.set_index("ticker")["weight"], errors="coerce")
    _check_finite(weights, str(path))
    if weights.index.duplicated().any():
        raise DataError(f"{path}: ticker {weights.index[weights.index.duplicated()][0]} "
                        "appears twice")
    if abs(weights.sum() - 1.0) > HOLDINGS_TOLERANCE:
        raise DataError(f"{path}: weights must sum to 1 (sum {weights.sum():.6g})")
    return weights


def targets_folder(folder: str | Path, targets: TargetWeights) -> Path:
    """Where ``weights`` writes by default: ``FOLDER/targets/<run>-<date>``, refused if a
    symlink leads it out of the results folder."""
    return inside(folder, "targets", f"{targets.strategy}-{targets.date.date()}")


def write_targets(targets: TargetWeights, out: str | Path) -> Path:
    """``weights.csv`` (``ticker,weight``, cash as ``cash``), ``trades.csv`` and
    ``weights.json`` in ``out``, each written atomically; ``out`` must be new, empty or
    targets written before."""
    out = Path(out)
    check_replaceable(out, "weights.json")
    weights = targets.weights.rename("weight").rename_axis("ticker").reset_index()
    atomic_write(out / "weights.csv", lambda tmp: weights.to_csv(tmp, index=False))
    atomic_write(out / "trades.csv", lambda tmp: targets.trades().to_csv(tmp))
    atomic_write_text(out / "weights.json", json.dumps(targets.to_dict(), indent=2) + "\n")
    return out


def _run_name(state: DeployState, wanted: str | None, folder: Path) -> str:
    runs = state.runs
    name = wanted or next(iter(state.strategies))
    if name in runs:
        return name
    seeds = sorted(r for r in runs if r.startswith(f"{name}_seed") and runs[r].strategy == name)
    for candidate in (f"{name}_ensemble", *seeds):
        if candidate in runs:
            return candidate
    raise SpecError(f"{folder}: no strategy {name!r} finished the last fold; choose from "
                    f"{', '.join(runs)}")


def _buildable(rules: Rules, run: str, specs: Sequence[str | Path], folder: Path):
    """A classical strategy's spec; a custom one's comes from a spec the user named whose
    code is, by class, params and sha256, what the backtest ran (the folder's recorded
    path is compared, never imported)."""
    recorded = rules.spec
    if not isinstance(recorded, CustomSpec):
        return recorded
    for name in specs:
        for spec in load_spec(name, BacktestSpec).strategies:
            if isinstance(spec, CustomSpec) and spec.class_name == recorded.class_name \
                    and spec.params == recorded.params \
                    and file_sha256(spec.module) == rules.code_sha256:
                return spec
    if not specs:
        raise FinHgrpoError(f"{folder}: {run} runs custom code (recorded as {recorded.path}); "
                            "a results folder never chooses code to run: name the backtest "
                            f"spec that holds it, fin-hgrpo weights {folder} --spec SPEC")
    raise SpecError(f"{folder}: no strategy of {', '.join(map(str, specs))} is {run}'s code as "
                    f"the backtest ran it (class {recorded.class_name}, params {recorded.params}, "
                    f"sha256 {(rules.code_sha256 or 'not recorded')[:12]} of "
                    f"{recorded.module}): the code or "
                    "its params changed since, or the spec is another")


def _env(state: DeployState, folder: Path) -> EnvSpec:
    """The env spec as it is now (its data may reach further), refused if it changed
    what the strategies read. The env spec file the folder names is read from the
    workspace, never from a results folder; without it, the data files the folder's
    recorded spec names are held to the same rule (the workspace's own spec names
    its data where the user chose)."""
    recorded = state.env_spec
    if not Path(state.env).is_file():
        for name in recorded.files():
            check_data_file(name, f"{folder}/deploy/state.json's env spec")
        return recorded
    check_data_file(state.env, f"{folder}/deploy/state.json")
    current = EnvSpec.load(state.env)
    for key in MODEL_KEYS:
        if getattr(current, key) != getattr(recorded, key):
            raise SpecError(f"{state.env}: key {key} differs from the one {folder} was "
                            f"trained with ({getattr(recorded, key)!r}); its strategies "
                            "would read other inputs")
    return current


def _owner(state: DeployState, run: str) -> str:
    """The strategy a run belongs to (an ensemble's run is named after its agent)."""
    name = state.runs[run].strategy
    return name if name in state.strategies else name.removesuffix("_ensemble")


def _trained_seeds(state: DeployState, run: str) -> list[str]:
    """The agent runs whose networks act as ``run``: itself, an ensemble's seeds, or
    none for a classical strategy."""
    if state.runs[run].agent_file is not None:
        return [run]
    if not run.endswith("_ensemble"):
        return []
    owner = _owner(state, run)
    return [r for r, e in state.runs.items() if e.strategy == owner and e.agent_file]


def _agent_strategy(state: DeployState, run: str, seeds: list[str], env: EnvSpec,
                    folder: Path, trained_on: MarketPanel) -> Strategy:
    """The agent (or ensemble of seeds) with the networks the last fold trained."""
    sim = env.build_sim(trained_on, dtype=torch.float32)
    members = []
    for seed_run in seeds:
        agent = Agent.load(state.agent_path(folder, seed_run), sim, env.build_reward())
        member = RLStrategy(agent.config, env, steps=1, name=_owner(state, run))
        member.agent = agent
        members.append(member)
    return members[0] if seeds == [run] else SeedEnsemble(members, name=run)


def _panel(env: EnvSpec, panel: MarketPanel, universe: list[str] | None, tickers: list[str],
           periods: int, folder: Path) -> MarketPanel:
    """The data the env spec names now (``panel``), for the tickers the run traded;
    refused if the tickers or the calendar differ from what the run was trained on."""
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


def _changed_prices(state: DeployState, env: EnvSpec, base: MarketPanel,
                    fold: dict[str, pd.Timestamp]) -> tuple[str, ...]:
    """A warning when the env's prices (``base``) over the last fold's windows differ
    from those the backtest read (a corrected or re-adjusted file, another source): the
    replay then departs from the backtest's weights."""
    window = base.slice(fold["train_start"], fold["test_end"])
    if state.prices_sha256 is None or panel_sha256(window) == state.prices_sha256:
        return ()
    return (f"{env.data.source}: the prices of {fold['train_start'].date()} .. "
            f"{fold['test_end'].date()} differ from those the backtest read (a corrected or "
            "re-adjusted file, or another source): the strategy replays on other data than "
            "it was backtested on, and its weights may differ from the backtest's",)


def _close(panel: MarketPanel, asof: object, test_start: pd.Timestamp) -> pd.Timestamp:
    """The last close on or before ``asof`` (the data's last by default)."""
    dates = panel.dates
    if asof is None:
        date = dates[-1]
    else:
        wanted = to_date(asof, "--asof")
        if wanted < dates[0]:
            raise DataError(f"--asof {wanted.date()} is before the data ({dates[0].date()})")
        date = dates[dates.searchsorted(wanted, side="right") - 1]
    if date < test_start:
        raise DataError(f"--asof {date.date()} is before the last fold's test window "
                        f"({test_start.date()} on): its strategies were trained later")
    return date


def _check_finite(weights: pd.Series, source: str) -> None:
    """A blank or non-numeric weight is an error, not a weight of 0 that a sum skips."""
    bad = weights[~np.isfinite(weights.to_numpy(dtype=float))]
    if len(bad):
        raise DataError(f"{source}: ticker {bad.index[0]} has no weight (blank, NaN or not a "
                        "number)")


def _aligned(holdings: pd.Series, tickers: list[str]) -> pd.Series:
    _check_finite(pd.to_numeric(holdings, errors="coerce"), "holdings")
    unknown = sorted(set(holdings.index) - {*tickers, CASH})
    if unknown:
        raise DataError(f"holdings name tickers the strategy does not trade: {unknown}")
    return holdings.reindex([*tickers, CASH], fill_value=0.0)

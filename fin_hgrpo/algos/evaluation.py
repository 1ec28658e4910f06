"""Run a trained agent along a path and score it against a synthetic market's optimum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from fin_hgrpo.algos.bases import base_tensor, base_weights
from fin_hgrpo.algos.core import Agent
from fin_hgrpo.data import CASH, SyntheticMarket
from fin_hgrpo.envs import Episodes, PortfolioSim, Reward


@torch.no_grad()
def allocation_path(agent: Agent, sim: PortfolioSim, start: object = None) -> pd.DataFrame:
    """The agent's deterministic target weights at every decision day from ``start`` on.

    One episode, all in cash at first, trading at ``sim``'s costs; ``sim`` may hold more
    history than the agent trained on (features are causal, so nothing leaks).
    """
    first = sim.first_decision if start is None else max(sim.first_decision, sim.day(start))
    episodes = Episodes(sim, Reward(), 1, horizon=len(sim.dates), random_start=False)
    episodes.reset(np.random.default_rng(0), start=first)
    table = base_tensor(sim, agent.config.base)
    table = None if table is None else table.to(agent.device, torch.float32)
    rows = []
    for _ in range(first, sim.last_decision + 1):
        features, holdings = (x.to(agent.device, torch.float32) for x in episodes.observe())
        base = base_weights(agent.config.base, table, episodes.t.to(agent.device), holdings)
        weights = agent.predict(features, holdings, base=base)
        rows.append(weights[0].to(sim.dtype))
        episodes.step(rows[-1][None])
    columns = [*sim.panel.tickers, CASH]
    return pd.DataFrame(torch.stack(rows).numpy(force=True), columns=columns,
                        index=sim.dates[first:sim.last_decision + 1])


def skill(agent: Agent, market: SyntheticMarket, sim: PortfolioSim, start: object) -> float:
    """(growth - 1/N's) / (oracle's - 1/N's) of the agent's weights from ``start`` on."""
    return market.skill(allocation_path(agent, sim, start))

"""The update: the clipped-ratio losses as pure functions, and the one loop of epochs
and minibatches that a lone agent and a population both step through.

The loop owns what must be the same for both: each epoch's shuffled order of the states
(drawn from each member's own NumPy stream), the minibatches, the statistics recorded
and the early stop of a member whose approximate KL passed ``target_kl``. How a
minibatch is stepped (one agent's optimiser, or one batched step of many members) is
the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from fin_hgrpo.algos.config import AgentConfig

STATS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "ref_kl")

# one minibatch: the rows (K, size) of each member's states, and which members still
# update (it may stop one, e.g. on non-finite gradients); returns each recorded
# statistic's K values
MinibatchStep = Callable[[torch.Tensor, list[bool]], dict[str, list[float]]]


def normalized(advantages: torch.Tensor) -> torch.Tensor:
    """Advantages standardised over the minibatch (left alone when there is one)."""
    if advantages.numel() <= 1:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def clipped_policy_loss(ratio: torch.Tensor, advantages: torch.Tensor,
                        clip: float) -> torch.Tensor:
    """PPO's pessimistic clipped surrogate, to minimise."""
    return -torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages).mean()


def value_loss(values: torch.Tensor, returns: torch.Tensor, old_values: torch.Tensor,
               clip: float | None) -> torch.Tensor:
    """Half the squared error of V against its targets; with ``clip``, the larger of it
    and the error of V kept within ``clip`` of its value at collection."""
    unclipped = (values - returns) ** 2
    if clip is None:
        return 0.5 * unclipped.mean()
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    return 0.5 * torch.max(unclipped, (clipped - returns) ** 2).mean()


def reference_kl(log_probs: torch.Tensor, reference_log_probs: torch.Tensor) -> torch.Tensor:
    """The k3 estimate of KL(pi || reference) from samples of pi (GRPO's penalty)."""
    log_ratio = reference_log_probs - log_probs
    return (log_ratio.exp() - log_ratio - 1).mean()


def ratio_diagnostics(ratio: torch.Tensor, log_ratio: torch.Tensor,
                      clip: float) -> dict[str, torch.Tensor]:
    """The approximate KL from the sampling policy and the share of clipped ratios."""
    with torch.no_grad():
        return {"approx_kl": ((ratio - 1) - log_ratio).mean(),
                "clip_fraction": ((ratio - 1).abs() > clip).float().mean()}


def update_epochs(config: AgentConfig, n_states: int, rngs: Sequence[np.random.Generator],
                  updating: list[bool], step: MinibatchStep,
                  device: torch.device) -> list[dict[str, list[float]]]:
    """``config.epochs`` passes over ``n_states`` states in ``config.minibatches``
    shuffled minibatches for each of K members (``rngs``: their streams; ``updating``:
    which of them take part, changed in place as members stop). Returns each member's
    statistics, one value per minibatch it was stepped in."""
    size = max(1, n_states // config.minibatches)
    stats: list[dict[str, list[float]]] = [{name: [] for name in STATS} for _ in rngs]
    for _ in range(config.epochs):
        if not any(updating):
            break
        orders = torch.stack([torch.as_tensor(rng.permutation(n_states)) if live
                              else torch.arange(n_states)
                              for rng, live in zip(rngs, updating, strict=True)]).to(device)
        for lo in range(0, n_states, size):
            recorded = step(orders[:, lo:lo + size], updating)
            for k, live in enumerate(updating):
                if live:
                    for name, values in recorded.items():
                        stats[k][name].append(values[k])
        if config.target_kl is not None:
            for k, live in enumerate(updating):
                if live and np.mean(stats[k]["approx_kl"][-config.minibatches:]) \
                        > config.target_kl:
                    updating[k] = False
    return stats


def update_metrics(stats: dict[str, list[float]], entropy_coef: float,
                   returns: torch.Tensor | None,
                   old_values: torch.Tensor | None) -> dict[str, float]:
    """An update's diagnostics: each minibatch statistic's mean, the entropy coefficient,
    and how much of the value targets' variance the critic explained (with a critic)."""
    metrics = {name: float(np.mean(v)) if v else float("nan") for name, v in stats.items()}
    metrics["entropy_coef"] = entropy_coef
    if returns is not None:
        variance = float(returns.var())
        metrics["explained_variance"] = float("nan") if variance == 0 else \
            1.0 - float((returns - old_values).var()) / variance
    return metrics

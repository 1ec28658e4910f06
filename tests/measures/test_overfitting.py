"""PBO by CSCV: known answers on noise, a planted edge, an adversarial family, and a
case small enough to work by hand."""

import numpy as np
import pytest

from fin_hgrpo.errors import SpecError
from fin_hgrpo.measures.overfitting import dominance, pbo


def test_a_case_worked_by_hand():
    # two blocks of two days; the in-sample winner of each half is judged on the other
    returns = np.array([[0.01, 0.00, -0.01],
                        [0.03, 0.02, 0.01],
                        [-0.01, 0.01, 0.00],
                        [0.01, 0.03, 0.04]])
    found = pbo(returns, blocks=2)
    # first half in sample: c0 wins (Sharpe 1.41) and ranks 1 of 3 after (0 vs 1.41, 0.71);
    # second half: c1 wins (1.41) and ranks 2 of 3 after (0.71 vs 1.41, 0): w = 1/4, 2/4
    assert found.halvings == 2
    assert found.logits == pytest.approx([np.log(1 / 3), 0.0])
    assert found.pbo == 1.0  # a logit of 0 (the median) counts as overfit
    assert found.oos_scores == pytest.approx([0.0, 0.01 / np.sqrt(2e-4)])
    assert found.probability_of_loss == 0.0


def test_on_noise_pbo_is_near_one_half():
    values = [pbo(np.random.default_rng(seed).normal(0, 0.01, (2000, 50)), blocks=16).pbo
              for seed in range(4)]
    assert 0.35 <= np.mean(values) <= 0.65


def test_a_planted_edge_is_not_overfit():
    returns = np.random.default_rng(0).normal(0, 0.01, (2000, 50))
    returns[:, 7] += 0.002
    found = pbo(returns, blocks=16)
    assert found.pbo < 0.05 and found.probability_of_loss == 0.0


def test_in_sample_success_that_foretells_failure_is_overfit():
    rng = np.random.default_rng(0)
    returns = rng.normal(0, 0.001, (1600, 20))
    blocks = np.array_split(np.arange(1600), 16)
    for k in range(20):  # each does well on a random half of the blocks, badly on the rest
        good = rng.permutation(16)[:8]
        for b, days in enumerate(blocks):
            returns[days, k] += 0.003 if b in good else -0.003
    found = pbo(returns, blocks=16)
    assert found.pbo > 0.9 and found.degradation_slope < 0


def test_the_order_of_the_configurations_does_not_matter_and_seeds_are_averaged():
    rng = np.random.default_rng(3)
    returns = rng.normal(0, 0.01, (400, 6, 3))
    found = pbo(returns, blocks=8)
    shuffled = pbo(returns[:, rng.permutation(6)], blocks=8)
    assert found.pbo == shuffled.pbo
    assert found.logits == pytest.approx(shuffled.logits)
    one_seed = pbo(returns[:, :, :1], blocks=8)
    assert one_seed.pbo == pbo(returns[:, :, 0], blocks=8).pbo


@pytest.mark.parametrize("shape, blocks, message", [
    ((100, 1), 4, "at least two configurations"),
    ((100, 3), 3, "even"),
    ((10, 3), 16, "too few"),
])
def test_bad_input_is_refused(shape, blocks, message):
    with pytest.raises(ValueError, match=message):
        pbo(np.zeros(shape), blocks=blocks)


def test_stochastic_dominance_of_the_winners_out_of_sample():
    """A planted edge: the in-sample winners' out-of-sample Sharpe dominates every
    configuration's (first order, so second order too). The adversarial family: it is
    dominated, F_winners above F_all somewhere."""
    rng = np.random.default_rng(0)
    edge = rng.normal(0, 0.01, (2000, 20))
    edge[:, 3] += 0.002
    found = pbo(edge, blocks=8)
    assert found.dominance_first <= 0 and found.dominance_second <= 0
    days = 1600
    flip = np.where(np.arange(days) < days // 2, 1.0, -1.0)
    adverse = rng.normal(0, 0.01, (days, 20)) + 0.002 * flip[:, None] * np.linspace(-1, 1, 20)
    against = pbo(adverse, blocks=2)
    assert against.dominance_first > 0.5


def test_dominance_by_hand():
    first, second = dominance(np.array([1.0, 2.0]), np.array([0.0, 1.0, 2.0, 3.0]))
    # F_chosen - F_every on 0, 1, 2, 3: -1/4, 1/2 - 1/2, 1 - 3/4, 0 -> max 1/4
    assert first == pytest.approx(0.25)
    # integral from 0: 0, -1/4, -1/4, 0 -> max 0 (second order holds)
    assert second == pytest.approx(0.0)


@pytest.mark.parametrize("blocks", [7, 0, -4, 22, 30, 100_000])  # reliability.md N52, N53
def test_blocks_beyond_what_can_be_enumerated_are_refused_at_once(blocks):
    with pytest.raises(SpecError, match=f"blocks must be even, 2 to 20 .*got {blocks}"):
        pbo(np.zeros((400, 3)), blocks=blocks)

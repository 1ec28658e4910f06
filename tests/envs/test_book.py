import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from fin_hgrpo.envs import Book
from fin_hgrpo.errors import DataError


def _random_book(rng: np.random.Generator, n: int) -> Book:
    lower = -rng.uniform(0, 0.6, n) * (rng.random(n) < 0.7)
    upper = rng.uniform(0.1, 1.2, n)
    net_min = max(rng.uniform(-0.5, 1.0), lower.sum())
    net_max = min(max(net_min + rng.uniform(0, 0.6) * (rng.random() < 0.6), net_min),
                  upper.sum())
    net_min = min(net_min, net_max)
    least = 0.0 if net_min <= 0 <= net_max else min(abs(net_min), abs(net_max))
    return Book(lower, upper, net_min, net_max, least + rng.uniform(0.05, 2.0))


def _brute_force(book: Book, v: np.ndarray) -> np.ndarray:
    """The projection by a general solver: w = p - q with p, q >= 0, sum(p + q) the gross."""
    n = len(v)

    def distance(x):
        return 0.5 * ((x[:n] - x[n:] - v) ** 2).sum()

    def net(x):
        return (x[:n] - x[n:]).sum()

    limits = [{"type": "ineq", "fun": lambda x: net(x) - book.net_min},
              {"type": "ineq", "fun": lambda x: book.net_max - net(x)},
              {"type": "ineq", "fun": lambda x: book.gross_max - x.sum()},
              {"type": "ineq", "fun": lambda x: x[:n] - x[n:] - book.lower},
              {"type": "ineq", "fun": lambda x: book.upper - x[:n] + x[n:]}]
    starts = np.random.default_rng(0).uniform(0, 0.1, (3, 2 * n))
    best = min((minimize(distance, x0, constraints=limits, bounds=[(0, None)] * (2 * n),
                         method="SLSQP", options={"ftol": 1e-15, "maxiter": 500})
                for x0 in starts), key=lambda r: r.fun)
    return best.x[:n] - best.x[n:]


def test_the_projection_matches_a_general_solver():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n = int(rng.integers(2, 5))
        book = _random_book(rng, n)
        v = rng.normal(0, 1, n)
        w = book.project(torch.tensor(v[None]))[0].numpy()
        assert book.violation(w) is None
        np.testing.assert_allclose(w, _brute_force(book, v), atol=1e-6)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(2, 12), scale=st.floats(0.01, 5.0))
def test_the_projection_is_feasible_idempotent_and_nearest(seed, n, scale):
    """Within the limits; projecting again changes nothing; and no point within the
    limits makes an obtuse angle with v - w (the projection's characterisation)."""
    rng = np.random.default_rng(seed)
    book = _random_book(rng, n)
    v = torch.tensor(rng.normal(0, scale, (8, n)))
    w = book.project(v)
    for row in w.numpy():
        assert book.violation(row) is None
    torch.testing.assert_close(book.project(w), w, atol=1e-12, rtol=0)
    others = book.project(torch.tensor(rng.normal(0, 2, (64, n))))  # points within
    angles = ((v[:, None] - w[:, None]) * (others[None] - w[:, None])).sum(-1)
    assert angles.max() <= 1e-9


def test_weights_within_the_limits_are_left_alone():
    book = Book.of(4, min_weight=-0.3, max_weight=0.6, net=(1.0, 1.0), gross_max=1.6)
    w = torch.tensor([[0.6, 0.5, 0.2, -0.3]], dtype=torch.float64)
    assert torch.equal(book.project(w), w)


def test_a_130_30_book_is_projected_onto_its_gross_and_net():
    book = Book.of(3, min_weight=-1.0, max_weight=2.0, net=(1.0, 1.0), gross_max=1.6)
    w = book.project(torch.tensor([[2.0, 0.5, -1.0]], dtype=torch.float64))[0]
    assert w.sum().item() == pytest.approx(1.0, abs=1e-12)
    assert w.abs().sum().item() == pytest.approx(1.6, abs=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_weight": 0.1, "max_weight": 1.0, "net": (1, 1), "gross_max": 1}, "hold 0"),
    ({"min_weight": -0.1, "max_weight": 0.2, "net": (1, 1), "gross_max": 2}, "cannot be reached"),
    ({"min_weight": -1, "max_weight": 1, "net": (1, 0.5), "gross_max": 2}, "above net_max"),
    ({"min_weight": -1, "max_weight": 1, "net": (1, 1), "gross_max": 0.5}, "below the net"),
])
def test_impossible_limits_are_refused(kwargs, message):
    with pytest.raises(DataError, match=message):
        Book.of(3, **kwargs)


def test_a_violation_names_the_limit():
    book = Book.of(3, min_weight=-0.2, max_weight=0.8, net=(0.0, 0.0), gross_max=0.7)
    assert "lower bound" in book.violation(np.array([0.3, 0.0, -0.3]))
    assert "net exposure" in book.violation(np.array([0.3, 0.0, 0.0]))
    assert "gross exposure" in book.violation(np.array([0.4, -0.2, -0.2]))
    assert book.violation(np.array([0.3, -0.15, -0.15])) is None

"""The limits of a long-short or leveraged book, and the exact projection onto them.

A book holds signed weights on the assets; cash is what is left, ``1 - sum(w)``: it
holds the proceeds of the shorts and goes below zero when the book borrows to hold
more than its wealth. The limits are linear:

    lower_i <= w_i <= upper_i          per asset (lower_i = 0 for what cannot be shorted)
    net_min <= sum_i w_i <= net_max    net exposure (1 and 1 with gross 1.6 is 130/30)
    sum_i |w_i| <= gross_max           gross exposure (leverage)

A 130/30 book is ``net = [1, 1], gross_max = 1.6``; a market-neutral one
``net = [0, 0]``; a long book levered 1.5x ``lower = 0, net = [1.5, 1.5]``.

``Book.project`` is the Euclidean projection onto these limits, row by row, exact to
rounding. With multipliers tau for the net limits and lambda >= 0 for the gross one,
the minimiser of 1/2 |w - v|^2 is w_i = clip(S_lambda(v_i - tau), lower_i, upper_i),
S the soft threshold (the bounds hold 0, so the clip and the threshold commute). For a
given lambda the net sum is piecewise linear and non-increasing in tau: tau is read
exactly off its breakpoints. The gross sum at that tau is non-increasing in lambda,
which is found by bisection to machine precision when the gross limit binds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fin_hgrpo.errors import DataError

FEASIBILITY_TOLERANCE = 1e-6  # a target beyond the limits by more than this is refused
_BISECTIONS = 64  # steps of each search for the gross multiplier (each ends sooner)


@dataclass(frozen=True, eq=False)
class Book:
    """Per-asset bounds (A,) and net and gross limits on the assets' weights."""

    lower: np.ndarray
    upper: np.ndarray
    net_min: float
    net_max: float
    gross_max: float

    def __post_init__(self) -> None:
        lower, upper = (np.asarray(x, dtype=float) for x in (self.lower, self.upper))
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        if lower.shape != upper.shape or lower.ndim != 1:
            raise DataError(f"a book needs one lower and one upper bound per asset, got "
                            f"shapes {lower.shape} and {upper.shape}")
        if (lower > 0).any() or (upper < 0).any():
            raise DataError("each asset's bounds must hold 0 (lower <= 0 <= upper)")
        if self.net_min > self.net_max:
            raise DataError(f"net_min {self.net_min} is above net_max {self.net_max}")
        if self.net_max < lower.sum() or self.net_min > upper.sum():
            raise DataError(f"net exposure {self.net_min}..{self.net_max} cannot be reached "
                            f"within the bounds ({lower.sum():g}..{upper.sum():g})")
        least_gross = 0.0 if self.net_min <= 0 <= self.net_max else \
            min(abs(self.net_min), abs(self.net_max))
        if self.gross_max < least_gross:
            raise DataError(f"gross_max {self.gross_max} is below the net exposure "
                            f"{self.net_min}..{self.net_max} it must hold")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Book) and np.array_equal(self.lower, other.lower) and \
            np.array_equal(self.upper, other.upper) and (self.net_min, self.net_max,
                                                          self.gross_max) == \
            (other.net_min, other.net_max, other.gross_max)

    __hash__ = None

    @classmethod
    def of(cls, n_assets: int, *, min_weight: float | Sequence[float],
           max_weight: float | Sequence[float], net: tuple[float, float],
           gross_max: float) -> Book:
        """A book over ``n_assets`` from one bound for all assets or one per asset."""
        return cls(np.broadcast_to(np.asarray(min_weight, dtype=float), (n_assets,)).copy(),
                   np.broadcast_to(np.asarray(max_weight, dtype=float), (n_assets,)).copy(),
                   float(net[0]), float(net[1]), float(gross_max))

    def sides(self) -> tuple[float, float]:
        """The long and short sides of a book at its gross limit and the middle of its
        net range: (1.3, 0.3) for 130/30, (0.5, 0.5) for a neutral book of gross 1."""
        net = (self.net_min + self.net_max) / 2
        return (self.gross_max + net) / 2, (self.gross_max - net) / 2

    def violation(self, assets: np.ndarray) -> str | None:
        """What limit the asset weights (A,) break by more than the tolerance, or None."""
        tol = FEASIBILITY_TOLERANCE
        below, above = self.lower - assets, assets - self.upper
        if below.max() > tol:
            i = int(below.argmax())
            return f"asset {i} weight {assets[i]:.6g} is below its lower bound {self.lower[i]:g}"
        if above.max() > tol:
            i = int(above.argmax())
            return f"asset {i} weight {assets[i]:.6g} is above its upper bound {self.upper[i]:g}"
        net, gross = assets.sum(), np.abs(assets).sum()
        if not self.net_min - tol <= net <= self.net_max + tol:
            return f"net exposure {net:.6g} is outside {self.net_min:g}..{self.net_max:g}"
        if gross > self.gross_max + tol:
            return f"gross exposure {gross:.6g} is above {self.gross_max:g}"
        return None

    def within(self, weights: torch.Tensor) -> torch.Tensor:
        """Weights (..., A+1), the assets then cash, with the assets projected onto the
        limits and cash what is left."""
        return with_cash(self.project(weights[..., :-1]))

    def project(self, values: torch.Tensor) -> torch.Tensor:
        """The nearest asset weights (..., A) within the limits, in Euclidean distance;
        rows already within them are returned as they are."""
        lower = torch.as_tensor(self.lower, dtype=values.dtype, device=values.device)
        upper = torch.as_tensor(self.upper, dtype=values.dtype, device=values.device)
        shape = values.shape
        rows = values.reshape(-1, shape[-1])
        net = rows.sum(-1)
        outside = ((rows < lower) | (rows > upper)).any(-1) | (net < self.net_min) | \
            (net > self.net_max) | (rows.abs().sum(-1) > self.gross_max)
        if not outside.any():
            return values
        projected = rows.clone()
        projected[outside] = self._projected(rows[outside], lower, upper)
        return projected.reshape(shape)

    def _projected(self, rows: torch.Tensor, lower: torch.Tensor,
                   upper: torch.Tensor) -> torch.Tensor:
        """The projection of rows outside the limits: lambda = 0 unless the gross limit
        binds, else the root of gross(lambda) = gross_max, a piecewise-linear decreasing
        function, by regula falsi (Illinois), which ends exact on its last linear piece."""
        zero = rows.new_zeros(len(rows), 1)
        projected = self._at(rows, zero, lower, upper)
        over = projected.abs().sum(-1) > self.gross_max
        if not over.any():
            return projected
        rows = rows[over]

        def excess(lam: torch.Tensor) -> torch.Tensor:
            return self._at(rows, lam, lower, upper).abs().sum(-1, keepdim=True) - self.gross_max

        lo = zero[over]
        f_lo = projected[over].abs().sum(-1, keepdim=True) - self.gross_max  # excess(0)
        hi = rows.abs().amax(-1, keepdim=True) + 1.0
        f_hi = excess(hi)
        for _ in range(_BISECTIONS):  # a multiplier that brings every row within the limit
            if not (f_hi > 0).any():
                break
            hi = torch.where(f_hi > 0, hi * 2, hi)
            f_hi = excess(hi)
        tolerance = 64 * torch.finfo(rows.dtype).eps * max(self.gross_max, 1.0)
        moved_lo = torch.zeros_like(lo, dtype=torch.bool)  # which end the last step moved
        moved_hi = torch.zeros_like(moved_lo)
        for _ in range(_BISECTIONS):
            drop = f_lo - f_hi
            mid = torch.where(drop > 0, lo + f_lo / drop.clamp(min=1e-300) * (hi - lo),
                              (lo + hi) / 2).clamp(min=lo, max=hi)
            f_mid = excess(mid)
            if (f_mid.abs() <= tolerance).all():
                hi = mid
                break
            above = f_mid > 0  # still too gross: mid is the new low end
            # Illinois: an end kept twice in a row has its value halved, so it moves too
            f_hi = torch.where(above & moved_lo, f_hi / 2, f_hi)
            f_lo = torch.where(~above & moved_hi, f_lo / 2, f_lo)
            lo, f_lo = torch.where(above, mid, lo), torch.where(above, f_mid, f_lo)
            hi, f_hi = torch.where(above, hi, mid), torch.where(above, f_hi, f_mid)
            moved_lo, moved_hi = above, ~above
        projected[over] = self._at(rows, hi, lower, upper)  # within the limit, to rounding
        return projected

    def _at(self, rows: torch.Tensor, lam: torch.Tensor, lower: torch.Tensor,
            upper: torch.Tensor) -> torch.Tensor:
        """The minimiser for the gross multipliers ``lam`` (R, 1): the net limits hold."""
        return _shrunk(rows - _net_shift(rows, lam, lower, upper, self.net_min, self.net_max),
                       lam, lower, upper)


def with_cash(assets: torch.Tensor) -> torch.Tensor:
    """Asset weights (..., A) and cash, ``1 - sum``, as the last entry."""
    return torch.cat([assets, 1.0 - assets.sum(-1, keepdim=True)], -1)


def _shrunk(shifted: torch.Tensor, lam: torch.Tensor, lower: torch.Tensor,
            upper: torch.Tensor) -> torch.Tensor:
    """clip(S_lam(shifted), lower, upper): soft-thresholded, then bounded."""
    soft = shifted.sign() * (shifted.abs() - lam).clamp(min=0.0)
    return torch.minimum(torch.maximum(soft, lower), upper)


def _net_shift(rows: torch.Tensor, lam: torch.Tensor, lower: torch.Tensor,
               upper: torch.Tensor, net_min: float, net_max: float) -> torch.Tensor:
    """The tau (R, 1) that brings each row's net sum within the limits, exactly: 0 if
    it is already, else where the piecewise-linear sum crosses the nearer limit.

    Each term clip(S_lam(v - tau), lower, upper) is upper for small tau, then falls with
    slope -1 from tau = v - lam - upper to v - lam, is 0 to v + lam, falls again to
    v + lam - lower and is lower after: the sum's slopes change by -1, +1, -1, +1 at
    those points, so its values at all of them follow from one sort and two cumsums."""
    net = _shrunk(rows, lam, lower, upper).sum(-1, keepdim=True)
    target = net.clamp(min=net_min, max=net_max)
    points = torch.cat([rows - lam - upper, rows - lam, rows + lam, rows + lam - lower], -1)
    steps = rows.new_tensor([-1.0, 1.0, -1.0, 1.0]).repeat_interleave(rows.shape[-1])
    points, order = points.sort(-1)
    slopes = steps.expand_as(points).gather(-1, order).cumsum(-1)  # after each point
    rises = (slopes[:, :-1] * points.diff(dim=-1)).cumsum(-1)
    sums = torch.cat([torch.zeros_like(rises[:, :1]), rises], -1) + upper.sum()
    # the last point whose sum is still >= the target, and the segment after it
    k = ((sums >= target).sum(-1, keepdim=True) - 1).clamp(0, points.shape[-1] - 2)
    left, right = points.gather(-1, k), points.gather(-1, k + 1)
    at_left, at_right = sums.gather(-1, k), sums.gather(-1, k + 1)
    drop = at_left - at_right
    tau = left + torch.where(drop > 0, (at_left - target) / drop.clamp(min=1e-300), 0.0) * \
        (right - left)
    return torch.where(net == target, 0.0, tau)

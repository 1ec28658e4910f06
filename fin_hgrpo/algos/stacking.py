"""Members' tensors stacked for batched products.

A population stacks each of its members' tensors on a leading axis, (K, *shape), and
runs one member's computation over the stacks with ``torch.func.vmap``. A weight matrix
is stacked transposed, (K, in, out), and handed to its layer as a transposed view: a
batched product then reads it as it lies in memory, where stacks in ``nn.Linear``'s own
(K, out, in) layout cost a transposing copy in every forward and backward.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def stacked(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The members' values of one tensor as one (K, *shape) stack, matrices laid out
    (K, in, out)."""
    return torch.stack([member_layout(tensor) for tensor in tensors])


def member_layout(tensor: torch.Tensor) -> torch.Tensor:
    """A matrix with its axes swapped (a view), anything else as it is: a stack's slice
    as its layer reads it, and a layer's matrix as a stack holds it."""
    return tensor.mT if tensor.dim() == 2 else tensor

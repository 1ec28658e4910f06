"""Agent files: everything ``torch.save`` writes for an agent, read back with
``weights_only=True`` (tensors, numbers and strings only: loading one runs no code).

One format serves every use: a training run's ``checkpoint.pt`` (with the training
state, to resume exactly) and a backtest's deployed networks (without it). Files are
written atomically, under a fixed archive name, so the bytes depend on the state alone.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from fin_hgrpo.errors import SpecError
from fin_hgrpo.io import atomic_write


def write_state(state: dict, target: str | Path | BinaryIO) -> None:
    """``state`` into a file (atomically) or an open binary stream."""
    buffer = io.BytesIO()  # a fixed archive name inside the file, not the temp file's
    torch.save(state, buffer)
    if isinstance(target, str | Path):
        atomic_write(target, lambda tmp: tmp.write_bytes(buffer.getvalue()))
    else:
        target.write(buffer.getvalue())


def read_state(source: str | Path | BinaryIO, device: str | torch.device = "cpu") -> dict:
    """A state ``write_state`` wrote; a file that is not one is refused by name."""
    try:
        return torch.load(source, weights_only=True, map_location=device)
    except (OSError, RuntimeError, ValueError) as error:  # pickle errors are RuntimeErrors
        raise SpecError(f"{_name(source)}: not an agent file this version can read "
                        f"({error})") from None


def numpy_state(rng: np.random.Generator) -> dict:
    """The PCG64 state as strings and ints, so that ``weights_only`` loading accepts it."""
    state = rng.bit_generator.state
    return {"state": str(state["state"]["state"]), "inc": str(state["state"]["inc"]),
            "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}


def numpy_generator(saved: dict) -> np.random.Generator:
    """The generator ``numpy_state`` saved, continuing where it was."""
    rng = np.random.default_rng()
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int(saved["state"]), "inc": int(saved["inc"])},
        "has_uint32": saved["has_uint32"], "uinteger": saved["uinteger"],
    }
    return rng


def _name(source: str | Path | BinaryIO) -> str:
    return str(source) if isinstance(source, str | Path) else "agent state"

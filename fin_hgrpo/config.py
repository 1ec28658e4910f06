"""Reading spec files: TOML parsed by the standard library, validated by pydantic models.

Every error names the file and the key at fault, and what was expected there.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from fin_hgrpo.errors import SpecError

Model = TypeVar("Model", bound=BaseModel)


def load_spec(path: str | Path, model: type[Model]) -> Model:
    """Parse and validate a TOML spec file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    return validate_spec(data, model, str(path))


def validate_spec(data: dict, model: type[Model], source: str) -> Model:
    """Validate a parsed spec; the first problem becomes one line naming key and expectation.
    A non-finite number (TOML's ``nan``, ``inf``) is refused wherever it stands."""
    for key, value in _numbers(data):
        if not math.isfinite(value):
            raise SpecError(f"{source}: key {key}: {value} is not a finite number")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        given = problem.get("input")
        shown = "" if isinstance(given, dict) or problem["type"] == "missing" else \
            f" (got {given!r})"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SpecError(f"{source}: key {key}: {problem['msg']}{shown}{more}") from None


def _numbers(data: object, key: str = "") -> list[tuple[str, float]]:
    """Every float in a parsed spec, with its dotted key."""
    if isinstance(data, float):
        return [(key or "(top level)", data)]
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return []
    return [found for k, v in items for found in _numbers(v, f"{key}.{k}" if key else str(k))]

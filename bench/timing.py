"""Time spent in wrapped functions, summed per stage: what the profiling scripts
(``profile_population.py``, ``main_job.py``) report."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable


class Clock:
    """Seconds per stage; a stage timed inside another is taken out of the outer one."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._inner: list[float] = []

    def wrap(self, owner: object, name: str, stage: str | Callable[..., str]) -> None:
        """Time every call of ``owner.name`` as ``stage`` (or as ``stage(*args)``)."""
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            self._inner.append(0.0)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                inner = self._inner.pop()
                self.seconds[stage(*args) if callable(stage) else stage] += spent - inner
                if self._inner:
                    self._inner[-1] += spent

        setattr(owner, name, timed)

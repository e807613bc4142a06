"""Capped exponential backoff with jitter (pure: the random source is injected)."""

from __future__ import annotations

import random


class Backoff:
    """1 s, 2 s, 4 s … up to `cap`, each drawn from [d/2, d] so a fleet of Pis
    that lost Nomad together does not come back in lock-step."""

    def __init__(self, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None):
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()
        self._attempt = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.base * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 32)  # 2**32 s is past any cap
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0

"""GCRA (the generic cell rate algorithm), in-process: exact, one float per active key.

A quota of `rate` requests per `period` with a `burst` spends one emission interval
T = period / rate per request. A key's state is its theoretical arrival time (TAT); a request
at `now` is admitted when TAT - now <= (burst - 1) * T, and then moves TAT to max(TAT, now) + T.
Unlike fixed windows there is no boundary to exploit: over any span D at most
burst + D / T requests pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

PERIOD_SECONDS = 60.0
# The key table is swept of idle keys whenever it has doubled since the last sweep.
_FIRST_SWEEP_AT = 1024


@dataclass(frozen=True, slots=True)
class Quota:
    """`rate` requests a minute, `burst` of them at once."""

    rate: int
    burst: int
    interval: float = field(init=False, repr=False, compare=False)  # T, seconds
    tolerance: float = field(init=False, repr=False, compare=False)  # (burst - 1) * T

    def __post_init__(self) -> None:
        # Computed once: they are read on every request.
        object.__setattr__(self, "interval", PERIOD_SECONDS / self.rate)
        object.__setattr__(self, "tolerance", (self.burst - 1) * self.interval)


class Decision(NamedTuple):  # a tuple: made on every request, cheaper than a dataclass
    allowed: bool
    remaining: int  # requests that would pass right now, after this one
    reset_seconds: float  # until the key is back to a full burst
    retry_after_seconds: float  # until the next request may pass (0 when allowed)


def decide(quota: Quota, tat: float, now: float) -> tuple[Decision, float]:
    """The decision for one request and the key's new TAT (unchanged when refused)."""
    tat = max(tat, now)
    debt = tat - now
    if debt > quota.tolerance:
        retry = debt - quota.tolerance
        return Decision(False, 0, debt, retry), tat
    new_tat = tat + quota.interval
    capacity = quota.tolerance + quota.interval
    remaining = math.floor((capacity - (new_tat - now)) / quota.interval + 1e-9)
    return Decision(True, remaining, new_tat - now, 0.0), new_tat


class LocalStore:
    """GCRA state of one process. `clock` is injectable so tests can be exact."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._sweep_at = _FIRST_SWEEP_AT

    def check(self, key: str, quota: Quota) -> Decision:
        now = self._clock()
        decision, tat = decide(quota, self._tats.get(key, now), now)
        if decision.allowed:
            self._tats[key] = tat
            if len(self._tats) >= self._sweep_at:
                self._sweep(now)
        return decision

    def _sweep(self, now: float) -> None:
        """Forget keys whose TAT has passed: for them, no state and old state decide alike."""
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        self._sweep_at = max(_FIRST_SWEEP_AT, 2 * len(self._tats))

    def __len__(self) -> int:
        return len(self._tats)

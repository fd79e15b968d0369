"""A bounded LRU of tokens already verified, so a repeat costs a dict lookup."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class TokenCache(Generic[V]):
    """At most `max_entries` entries; each dies at its own deadline (the token's `exp`,
    capped by `ttl_seconds` from insertion). The least recently used goes first when full.

    Keys are the token strings themselves: equality is exact, and the memory bound is
    `max_entries` times the largest accepted token.
    """

    __slots__ = ("_entries", "_max_entries", "_ttl", "hits")

    def __init__(self, *, max_entries: int, ttl_seconds: float) -> None:
        if max_entries < 0 or ttl_seconds < 0:
            raise ValueError("cache size and TTL must not be negative")
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self.hits = 0  # read by the metrics sampler

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float) -> V | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if now >= entry[0]:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        self.hits += 1
        return entry[1]

    def put(self, token: str, value: V, *, expires_at: float, now: float) -> None:
        deadline = min(expires_at, now + self._ttl)
        if deadline <= now or self._max_entries == 0:
            return
        entries = self._entries
        entries[token] = (deadline, value)
        entries.move_to_end(token)
        while len(entries) > self._max_entries:
            entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

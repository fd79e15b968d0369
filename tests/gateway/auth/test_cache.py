"""The verified-token cache: bounded, and never serving a token past its exp or the TTL."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.auth.cache import TokenCache
from gateway.auth.errors import AuthError
from tests.gateway.auth.conftest import secret_source
from tests.gateway.auth.tokens import claims, hs256


def test_a_flood_of_distinct_tokens_stays_within_the_bound() -> None:
    cache: TokenCache[int] = TokenCache(max_entries=10_000, ttl_seconds=300)

    for i in range(20_000):
        cache.put(f"token-{i}", i, expires_at=2000.0, now=1000.0)

    assert len(cache) == 10_000
    assert cache.get("token-0", 1000.0) is None  # the oldest went first
    assert cache.get("token-19999", 1000.0) == 19_999


def test_the_least_recently_used_is_evicted_first() -> None:
    cache: TokenCache[str] = TokenCache(max_entries=2, ttl_seconds=300)
    cache.put("a", "A", expires_at=2000.0, now=1000.0)
    cache.put("b", "B", expires_at=2000.0, now=1000.0)

    assert cache.get("a", 1001.0) == "A"
    cache.put("c", "C", expires_at=2000.0, now=1001.0)

    assert cache.get("b", 1001.0) is None
    assert cache.get("a", 1001.0) == "A"


def test_an_entry_dies_with_the_tokens_exp() -> None:
    cache: TokenCache[str] = TokenCache(max_entries=10, ttl_seconds=300)
    cache.put("t", "v", expires_at=1060.0, now=1000.0)

    assert cache.get("t", 1059.9) == "v"
    assert cache.get("t", 1060.0) is None
    assert len(cache) == 0


def test_an_entry_dies_after_the_ttl_even_if_the_token_lives_on() -> None:
    cache: TokenCache[str] = TokenCache(max_entries=10, ttl_seconds=30)
    cache.put("t", "v", expires_at=5000.0, now=1000.0)

    assert cache.get("t", 1029.0) == "v"
    assert cache.get("t", 1030.0) is None


def test_already_expired_and_disabled_caches_store_nothing() -> None:
    cache: TokenCache[str] = TokenCache(max_entries=10, ttl_seconds=30)
    cache.put("late", "v", expires_at=999.0, now=1000.0)
    disabled: TokenCache[str] = TokenCache(max_entries=0, ttl_seconds=30)
    disabled.put("t", "v", expires_at=5000.0, now=1000.0)

    assert len(cache) == 0
    assert len(disabled) == 0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_verifier_does_not_serve_a_cached_token_past_its_exp(
    make_verifier: Any,
) -> None:
    clock = Clock(2_000_000_000.0)
    verifier = await make_verifier(secret=secret_source(), clock=clock, leeway_seconds=0)
    token = hs256(claims("alice", now=clock.now, ttl=60))
    assert (await verifier.verify(token)).user_id == "alice"

    clock.now += 59
    assert (await verifier.verify(token)).user_id == "alice"
    clock.now += 1
    with pytest.raises(AuthError) as refused:
        await verifier.verify(token)
    assert refused.value.reason == "expired"


async def test_the_verifier_cache_is_bounded(make_verifier: Any) -> None:
    verifier = await make_verifier(secret=secret_source(), cache_max_entries=100)

    for i in range(250):
        await verifier.verify(hs256(claims(f"user-{i}")))

    assert len(verifier._cache) == 100

"""GCRA in one process, on an injected clock: exact counts, no window boundary to exploit."""

from __future__ import annotations

import pytest

from gateway.ratelimit.gcra import LocalStore, Quota


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def flood(store: LocalStore, clock: Clock, quota: Quota, *, seconds: float, step: float) -> int:
    """Requests admitted when one arrives every `step` seconds for `seconds`."""
    admitted = 0
    for tick in range(round(seconds / step)):
        clock.now = 1000.0 + tick * step
        admitted += store.check("k", quota).allowed
    return admitted


def test_a_burst_passes_then_one_request_per_interval() -> None:
    clock = Clock()
    store = LocalStore(clock)
    quota = Quota(rate=60, burst=3)  # one a second
    assert [store.check("k", quota).allowed for _ in range(4)] == [True, True, True, False]
    clock.now += 0.999
    assert not store.check("k", quota).allowed
    clock.now += 0.001
    assert store.check("k", quota).allowed
    assert not store.check("k", quota).allowed


@pytest.mark.parametrize(("rate", "burst"), [(60, 1), (60, 10), (600, 100), (7, 2)])
def test_any_span_admits_burst_plus_span_over_interval(rate: int, burst: int) -> None:
    clock = Clock()
    quota = Quota(rate=rate, burst=burst)
    admitted = flood(LocalStore(clock), clock, quota, seconds=180, step=quota.interval / 8)
    # The burst at once, then one every interval: the last arrival (180 s - step) is just
    # short of the 3 * rate-th interval, so exactly burst + 3 * rate - 1 in three minutes.
    assert admitted == burst + 3 * rate - 1


def test_no_double_rate_across_a_minute_boundary() -> None:
    """A fixed window lets 2x through around its edge; GCRA does not."""
    clock = Clock()
    store = LocalStore(clock)
    quota = Quota(rate=60, burst=1)
    clock.now = 1059.9
    assert store.check("k", quota).allowed
    clock.now = 1060.0  # a new "minute"
    assert not store.check("k", quota).allowed


def test_refusal_says_when_to_retry_and_spends_nothing() -> None:
    clock = Clock()
    store = LocalStore(clock)
    quota = Quota(rate=6, burst=2)  # one every 10 s
    first = store.check("k", quota)
    assert (first.allowed, first.remaining, first.reset_seconds) == (True, 1, 10.0)
    second = store.check("k", quota)
    assert (second.allowed, second.remaining, second.reset_seconds) == (True, 0, 20.0)
    clock.now += 4
    refused = store.check("k", quota)
    assert not refused.allowed
    assert refused.retry_after_seconds == pytest.approx(6.0)
    assert refused.reset_seconds == pytest.approx(16.0)
    clock.now += 6
    assert store.check("k", quota).allowed  # the refusal did not push the TAT


def test_keys_are_independent() -> None:
    clock = Clock()
    store = LocalStore(clock)
    quota = Quota(rate=1, burst=1)
    assert store.check("alice", quota).allowed
    assert not store.check("alice", quota).allowed
    assert store.check("bob", quota).allowed


def test_idle_keys_are_forgotten() -> None:
    clock = Clock()
    store = LocalStore(clock)
    quota = Quota(rate=60, burst=1)
    for index in range(3000):
        store.check(f"client-{index}", quota)
    assert len(store) >= 1024
    clock.now += 2  # every TAT has passed
    for index in range(2048):
        store.check(f"other-{index}", quota)
    assert len(store) < 3000

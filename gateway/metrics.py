"""The gateway's Prometheus metrics, served on a listener of their own (never the public port).

Per request, one counter and one or two histograms are updated from the access line's fields,
through label children bound once per label set. Rare events (JWKS fetches, verifications,
reloads) update their metrics where they happen; levels (requests in flight, cache entries,
keys held) are sampled once a second. With `--workers N`, the workers write to
`PROMETHEUS_MULTIPROC_DIR` and the parent serves the sum (`gateway/workers.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence, Sized
from typing import Any, Protocol

import structlog
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from gateway.request_stats import RequestStats, StatsCollector, WorkerFilesCollector
from service_plumbing.drain import InFlight

log = structlog.get_logger("gateway")
# `*_created` samples double a scrape's size and no query here needs them.
disable_created_metrics()  # type: ignore[no-untyped-call]

METRICS_PORT_ENV = "GATEWAY_METRICS_PORT"
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_METRICS_PORT = 9464
SAMPLE_SECONDS = 1.0
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_FAST_SECONDS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)

UPSTREAM_ERRORS = Counter("gateway_upstream_errors_total", "Upstream failures, by kind.", ("kind",))
IN_FLIGHT = Gauge(
    "gateway_requests_in_flight", "Requests being handled.", multiprocess_mode="livesum"
)
TOKEN_CACHE_HITS = Counter("gateway_token_cache_hits_total", "Tokens found verified in the cache.")
TOKEN_CACHE_MISSES = Counter(
    "gateway_token_cache_misses_total", "Tokens verified because the cache had none."
)
TOKEN_CACHE_ENTRIES = Gauge(
    "gateway_token_cache_entries", "Verified tokens held.", multiprocess_mode="livesum"
)
VERIFICATION_DURATION = Histogram(
    "gateway_token_verification_duration_seconds",
    "Time to check a token's signature and claims, by algorithm.",
    ("algorithm",),
    buckets=_FAST_SECONDS,
)
JWKS_FETCHES = Counter(
    "gateway_jwks_fetches_total", "JWKS fetches, by source and outcome.", ("source", "outcome")
)
JWKS_KEYS = Gauge(
    "gateway_jwks_keys", "Keys held, by source.", ("source",), multiprocess_mode="livemin"
)
JWKS_AGE = Gauge(
    "gateway_jwks_seconds_since_last_success",
    "Seconds since the last good fetch of the source (+Inf before the first).",
    ("source",),
    multiprocess_mode="livemax",
)
JWKS_UNKNOWN_KID_REFETCHES = Counter(
    "gateway_jwks_unknown_kid_refetches_total",
    "Fetches caused by a token naming a kid the source did not hold.",
    ("source",),
)
STALE_KEY_VERIFICATIONS = Counter(
    "gateway_jwks_stale_key_verifications_total",
    "Tokens verified with a source's keys while its last fetch had failed.",
    ("source",),
)
CONFIG_RELOADS = Counter(
    "gateway_config_reloads_total", "SIGHUP reloads of gateway.yaml, by result.", ("result",)
)


# Requests, request and upstream durations: plain numbers, exported by a collector
# (`gateway/request_stats.py`); the label values are bounded (route names, known methods,
# status classes, reason codes).
REQUEST_STATS = RequestStats()
REGISTRY.register(StatsCollector(REQUEST_STATS))
_STATUS_CLASSES = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")


def count_request(line: Mapping[str, Any]) -> None:
    """Counts one request from its access line."""
    method = line["method"]
    status_class = _STATUS_CLASSES[line["status"] // 100]
    key = (
        line.get("route", "unrouted"),  # a 404, or a CORS preflight
        method if method in _METHODS else "other",
        status_class,
        line.get("auth", "none"),
    )
    upstream_ms = line.get("upstream_ms")
    REQUEST_STATS.count(
        key, line["duration_ms"] / 1000, None if upstream_ms is None else upstream_ms / 1000
    )
    if status_class == "5xx" or "upstream_error" in line:
        _count_upstream_error(line)


def _count_upstream_error(line: Mapping[str, Any]) -> None:
    kind = line.get("upstream_error") or line.get("reason")
    if kind in ("upstream_timeout", "upstream_unavailable", "broken_response"):
        UPSTREAM_ERRORS.labels(kind.removeprefix("upstream_")).inc()


class _CacheLevels(Protocol):
    @property
    def hits(self) -> int: ...
    def __len__(self) -> int: ...


class _KeySourceLevels(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def keys(self) -> Sized: ...
    @property
    def last_success(self) -> float | None: ...


class VerifierLevels(Protocol):
    """What the sampler reads of the token verifier (`gateway.auth` imports this module)."""

    @property
    def cache(self) -> _CacheLevels: ...
    @property
    def jwks_sources(self) -> Sequence[_KeySourceLevels]: ...


class LevelSampler:
    """Sets the level gauges from the live objects, once a second."""

    def __init__(self, inflight: InFlight) -> None:
        self._inflight = inflight
        self._multiprocess_dir = os.environ.get(MULTIPROC_DIR_ENV)
        self._cache_hits_seen: tuple[object, int] = (None, 0)

    def sample(self, verifier: VerifierLevels) -> None:
        if self._multiprocess_dir is not None:
            REQUEST_STATS.write(self._multiprocess_dir)
        IN_FLIGHT.set(self._inflight.count)
        cache = verifier.cache
        TOKEN_CACHE_ENTRIES.set(len(cache))
        seen_cache, seen_hits = self._cache_hits_seen
        hits = cache.hits
        TOKEN_CACHE_HITS.inc(hits - seen_hits if seen_cache is cache else hits)
        self._cache_hits_seen = (cache, hits)
        now = time.monotonic()
        for source in verifier.jwks_sources:
            JWKS_KEYS.labels(source.name).set(len(source.keys))
            last = source.last_success
            JWKS_AGE.labels(source.name).set(float("inf") if last is None else now - last)

    async def sample_forever(self, current_verifier: Callable[[], VerifierLevels]) -> None:
        while True:
            self.sample(current_verifier())
            await asyncio.sleep(SAMPLE_SECONDS)


def metrics_listen(host: str, public_port: int, env: Mapping[str, str]) -> tuple[str, int] | None:
    """Host and port of the metrics listener: the gateway's host, GATEWAY_METRICS_PORT
    (default 9464; 0 turns it off). Never the public port."""
    text = env.get(METRICS_PORT_ENV, "").strip()
    port = int(text) if text.isdigit() else -1 if text else DEFAULT_METRICS_PORT
    if not 0 <= port <= 65535:
        raise ValueError(f"{METRICS_PORT_ENV}: expected a port number")
    if port == public_port:
        raise ValueError(f"{METRICS_PORT_ENV}: must differ from the gateway's port")
    return (host, port) if port else None


def start_metrics_listener(host: str, port: int, *, multiprocess_dir: str | None = None) -> None:
    """Serve /metrics from a thread; the sum of every worker's files with `multiprocess_dir`.
    A port that cannot be bound is one error line: the gateway serves on without metrics."""
    registry = REGISTRY
    if multiprocess_dir is not None:
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=multiprocess_dir
        )
        registry.register(WorkerFilesCollector(multiprocess_dir))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        log.error("metrics_listener_failed", host=host, port=port, error=error.strerror)
        return
    log.info("metrics_listening", host=host, port=port, path="/metrics")


def worker_exited(pid: int, multiprocess_dir: str) -> None:
    """Drop a dead worker's live gauges from the sum."""
    with contextlib.suppress(OSError):
        prometheus_multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
            pid, path=multiprocess_dir
        )

"""One JWKS key source: fetched at start, refreshed in the background, re-fetched on demand."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import Callable

import aiohttp
import structlog

from gateway import metrics
from gateway.auth.keys import JwksError, KeySet, parse_jwks
from gateway.auth.settings import JwksKeySource

MAX_DOCUMENT_BYTES = 1 << 20
# Floors that keep a misconfigured interval from turning the refresh loop into a busy loop.
_MIN_RETRY_DELAY = 1.0
_MIN_REFRESH_DELAY = 0.05
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|[,\s])(?:no-cache|no-store)(?:$|[,\s=])", re.IGNORECASE)

log = structlog.get_logger("gateway.auth")


def cache_max_age(cache_control: str | None) -> float | None:
    """Seconds a JWKS response may be reused per its Cache-Control, or None if it says nothing."""
    if not cache_control:
        return None
    if _NO_CACHE.search(cache_control):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None


class JwksSource:
    """Keys of one configured JWKS, remote (`url`) or on disk (`file`).

    Every fetch goes through one shared task, so concurrent callers (the refresh loop and any
    number of requests naming an unknown `kid`) cause a single request. A failed fetch, or a
    document without a usable key, leaves the keys already held in place.
    """

    def __init__(
        self,
        settings: JwksKeySource,
        *,
        session: aiohttp.ClientSession,
        monotonic: Callable[[], float],
        on_keys_removed: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.algorithms = frozenset[str](settings.algorithms)
        self.keys = KeySet()
        self._session = session
        self._monotonic = monotonic
        self._on_keys_removed = on_keys_removed
        self._inflight: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._last_fetch_started = -math.inf
        self.last_fetch_ok = False
        self.last_success: float | None = None  # monotonic time of the last good fetch
        self._max_age: float | None = None

    @property
    def ready(self) -> bool:
        return len(self.keys) > 0

    async def start(self) -> None:
        await self.fetch()
        self._refresher = asyncio.create_task(self._refresh_forever(), name=f"jwks:{self.name}")

    async def close(self) -> None:
        for task in (self._refresher, self._inflight):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._refresher = self._inflight = None

    async def refetch_for_unknown_kid(self) -> None:
        """Re-fetch, unless one is under way (then share it) or one started too recently."""
        if self._inflight is None:
            elapsed = self._monotonic() - self._last_fetch_started
            if elapsed < self.settings.unknown_kid_refetch_interval_seconds:
                return
            metrics.JWKS_UNKNOWN_KID_REFETCHES.labels(self.name).inc()
        await self.fetch()

    async def fetch(self) -> None:
        """Fetch now, or join the fetch already under way. Never raises a fetch error."""
        if self._inflight is None:
            self._last_fetch_started = self._monotonic()
            self._inflight = asyncio.create_task(self._fetch_once())
            self._inflight.add_done_callback(self._forget_inflight)
        # A request that gives up must not cancel the fetch the others are waiting on.
        await asyncio.shield(self._inflight)

    def next_refresh_delay(self) -> float:
        """Seconds until the next background fetch, from the last outcome and Cache-Control."""
        s = self.settings
        if not self.last_fetch_ok:
            retry = s.min_refresh_interval_seconds
            if not self.ready:
                retry = min(retry, s.unknown_kid_refetch_interval_seconds)
            return max(retry, _MIN_RETRY_DELAY)
        wanted = s.refresh_interval_seconds if self._max_age is None else self._max_age
        bounded = min(max(wanted, s.min_refresh_interval_seconds), s.max_refresh_interval_seconds)
        return max(bounded, _MIN_REFRESH_DELAY)

    def _forget_inflight(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.next_refresh_delay())
            await self.fetch()

    async def _fetch_once(self) -> None:
        try:
            document, max_age = await self._load()
            keys, skipped = parse_jwks(document, self.algorithms)
        except Exception as error:  # whatever went wrong, the keys already held stay
            self.last_fetch_ok = False
            metrics.JWKS_FETCHES.labels(self.name, "error").inc()
            log.warning(
                "jwks_fetch_failed",
                source=self.name,
                error=type(error).__name__,
                detail=str(error)[:200],
            )
            return
        for line in skipped:
            log.warning("jwks_key_skipped", source=self.name, detail=line)
        removed = self.keys.withdrawn_from(keys)
        self.keys, self._max_age, self.last_fetch_ok = keys, max_age, True
        self.last_success = self._monotonic()
        metrics.JWKS_FETCHES.labels(self.name, "ok").inc()
        if removed:
            self._on_keys_removed()

    async def _load(self) -> tuple[bytes, float | None]:
        if self.settings.file is not None:
            return await asyncio.to_thread(self.settings.file.read_bytes), None
        timeout = aiohttp.ClientTimeout(total=self.settings.fetch_timeout_seconds)
        url = str(self.settings.url)
        async with self._session.get(url, timeout=timeout, headers=_ACCEPT_JSON) as response:
            if response.status != 200:
                raise JwksError(f"the JWKS endpoint answered HTTP {response.status}")
            body = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise JwksError("the JWKS document is too large")
            return bytes(body), cache_max_age(response.headers.get("Cache-Control"))


# Asked for explicitly: the gateway's shared session may not decompress bodies.
_ACCEPT_JSON = {"Accept": "application/json", "Accept-Encoding": "identity"}

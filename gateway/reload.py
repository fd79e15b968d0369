"""SIGHUP: re-read gateway.yaml and swap the whole request pipeline without dropping a request.

Every request goes through `LiveHandler`, which hands it to the current `Generation` (one
config's pipeline and the resources it owns: HTTP sessions, key sources, CORS). A reload builds
a new generation beside the running one, swaps it in with one assignment, and closes the old
one once the requests already on it have finished (each generation's request context counts
them in its `ActiveRequests`: no extra coroutine around every request). A file that fails
validation changes nothing and is logged once, each problem by its YAML path.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from gateway.auth.verifier import TokenVerifier
from gateway.config import ConfigError, GatewaySettings
from service_plumbing.handlers import RawHandler

log = structlog.get_logger("gateway")

# Settings a running server cannot take over: they are bound when it starts listening.
_RESTART_ONLY = ("listen", "limits.max_header_bytes", "limits.max_request_line_bytes")


class ActiveRequests:
    """One generation's requests in flight, counted by its request context."""

    __slots__ = ("_idle", "count")

    def __init__(self) -> None:
        self.count = 0
        self._idle: asyncio.Event | None = None  # only once the generation is retiring

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0 and self._idle is not None:
            self._idle.set()

    async def finished(self) -> None:
        """Returns once no request is in flight."""
        if self.count:
            self._idle = asyncio.Event()
            await self._idle.wait()


@dataclass(eq=False)
class Generation:
    """One configuration's request handler, and how to close what it opened."""

    settings: GatewaySettings
    handler: RawHandler
    close: Callable[[], Awaitable[None]]
    verifier: TokenVerifier
    active: ActiveRequests


OpenGeneration = Callable[[GatewaySettings], Awaitable[Generation]]
# Reads and validates gateway.yaml again (raises `ConfigError`).
SettingsReader = Callable[[], GatewaySettings]


class LiveHandler:
    """The server's one handler: the current generation's, counted so an old one can wait."""

    __slots__ = ("_retiring", "current")

    def __init__(self, first: Generation) -> None:
        self.current = first
        self._retiring: set[asyncio.Task[None]] = set()

    def __call__(self, request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        # Not a coroutine: the server awaits the current generation's handler directly.
        return self.current.handler(request)

    def swap(self, new: Generation) -> None:
        """Send new requests to `new`; close the old generation when its requests are done."""
        old, self.current = self.current, new
        task = asyncio.create_task(_retire(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        """At shutdown (after the drain): close the current generation and any retiring."""
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await self.current.close()


async def _retire(old: Generation) -> None:
    await old.active.finished()
    await old.close()


class Reloader:
    """Builds a generation from a freshly read file and swaps it in; one reload at a time."""

    def __init__(
        self,
        live: LiveHandler,
        *,
        read_settings: SettingsReader,
        open_generation: OpenGeneration,
        on_result: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._live = live
        self._read_settings = read_settings
        self._open = open_generation
        self._on_result = on_result
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task[bool]] = set()

    def reload_on_sighup(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._start_reload)

    def _start_reload(self) -> None:
        task = asyncio.create_task(self.reload())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def reload(self) -> bool:
        async with self._lock:
            try:
                settings = self._read_settings()
            except ConfigError as error:
                log.error("config_reload_failed", problems=error.problems, kept="running config")
                self._on_result("invalid")
                return False
            try:
                generation = await self._open(settings)
            except Exception as error:  # e.g. a key source that cannot start
                log.error("config_reload_failed", error_type=type(error).__name__)
                self._on_result("error")
                return False
            needs_restart = restart_only_changes(self._live.current.settings, settings)
            self._live.swap(generation)
            log.info("config_reloaded", routes=len(settings.routes), needs_restart=needs_restart)
            self._on_result("ok")
            return True


def restart_only_changes(old: GatewaySettings, new: GatewaySettings) -> list[str]:
    """The YAML paths of changed settings that take effect only at the next start."""
    changed = []
    for path in _RESTART_ONLY:
        before, after = old, new
        for name in path.split("."):
            before, after = getattr(before, name), getattr(after, name)
        if before != after:
            changed.append(path)
    return changed

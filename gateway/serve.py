"""Run one gateway process through aiohttp's public low-level `web.ServerRunner`: SIGTERM and
SIGINT drain (`service_plumbing/drain.py`) before exiting, SIGHUP reloads gateway.yaml
(`gateway/reload.py`); `--workers N` is `gateway/workers.py`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import structlog
from aiohttp import web

from gateway.app import HANDLER, INFLIGHT, create_app, reloader
from gateway.config import GatewaySettings
from gateway.reload import SettingsReader
from gateway.slow_clients import GatewayServer
from service_plumbing.drain import drain
from service_plumbing.handlers import RawHandler
from service_plumbing.http_server import app_started
from service_plumbing.server_log import server_logger

log = structlog.get_logger("gateway")


def gateway_runner(handler: RawHandler, settings: GatewaySettings) -> web.ServerRunner:
    """aiohttp's public low-level server around the app's one handler: no router, no per-request
    `web.Request` mapping, no response signals (about 10 % of the gateway's instructions per
    request); each connection bounds the time a request head may take (`slow_clients.py`)."""
    options = runner_options(settings)
    shutdown_timeout = options.pop("shutdown_timeout")
    server = GatewayServer(handler, head_timeout=settings.limits.head_timeout_seconds, **options)
    return web.ServerRunner(server, shutdown_timeout=shutdown_timeout)


@contextlib.asynccontextmanager
async def started(app: web.Application) -> AsyncIterator[RawHandler]:
    """The app's startup and cleanup (its resources) around serving it, run by aiohttp's
    `AppRunner` (`service_plumbing.http_server.app_started`); yields the one request handler."""
    async with app_started(app):
        yield app[HANDLER]


def run(
    settings: GatewaySettings, *, reuse_port: bool = False, reread: SettingsReader | None = None
) -> None:
    main = serve(settings, reuse_port=reuse_port, reread=reread)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        asyncio.run(main)
    else:
        uvloop.run(main)


def runner_options(settings: GatewaySettings) -> dict[str, Any]:
    """`AppRunner` keyword arguments: parser limits above aiohttp's 8190-byte default, so a
    long Authorization header reaches the pipeline and gets the contract's JSON 401."""
    limits = settings.limits
    return {
        "access_log": None,  # the request context writes the one access line
        # Parser errors: one line, never the quoted header bytes.
        "logger": server_logger("gateway"),
        "max_field_size": limits.max_header_bytes,
        "max_line_size": limits.max_request_line_bytes,
        "max_headers": limits.max_headers,
        # Bodies are forwarded as the client sent them: decoding one would send decoded
        # bytes under the client's Content-Encoding (the backend decodes, within its limit).
        "auto_decompress": False,
        "shutdown_timeout": 1.0,  # in-flight requests are drained before cleanup
    }


async def serve(
    settings: GatewaySettings, *, reuse_port: bool = False, reread: SettingsReader | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    app = create_app(settings)
    async with started(app) as handler:
        runner = gateway_runner(handler, settings)
        await runner.setup()
        site = web.TCPSite(
            runner, settings.listen.host, settings.listen.port, reuse_port=reuse_port or None
        )
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        if reread is not None:
            reloader(app, reread).reload_on_sighup()
        log.info("listening", host=settings.listen.host, port=settings.listen.port, pid=os.getpid())
        await stop.wait()
        await drain(
            runner, site, app[INFLIGHT], grace=settings.shutdown_grace_seconds, service="gateway"
        )

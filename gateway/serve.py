"""Run the gateway: one process, or N sharing the port; SIGTERM drains (`service_plumbing/drain.py`)
before exiting. Served through aiohttp's public low-level `web.ServerRunner`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog
from aiohttp import web

from gateway.app import HANDLER, INFLIGHT, create_app
from gateway.config import GatewaySettings
from gateway.slow_clients import GatewayServer
from service_plumbing.drain import drain
from service_plumbing.handlers import RawHandler
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
    """The app's startup and cleanup (its resources) around serving it, as `AppRunner` runs
    them; yields the one request handler."""
    app.on_startup.freeze()
    await app.startup()
    app.freeze()
    try:
        yield app[HANDLER]
    finally:
        await app.cleanup()


def run(settings: GatewaySettings, *, reuse_port: bool = False) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        asyncio.run(serve(settings, reuse_port=reuse_port))
    else:
        uvloop.run(serve(settings, reuse_port=reuse_port))


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


async def serve(settings: GatewaySettings, *, reuse_port: bool = False) -> None:
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
        log.info("listening", host=settings.listen.host, port=settings.listen.port, pid=os.getpid())
        await stop.wait()
        await drain(
            runner, site, app[INFLIGHT], grace=settings.shutdown_grace_seconds, service="gateway"
        )


def run_workers(argv: Sequence[str], workers: int) -> int:
    """N copies of this command (each with `--worker`) sharing the port via SO_REUSEPORT."""
    command = [sys.executable, "-m", "gateway", *argv, "--worker"]
    children = [subprocess.Popen(command) for _ in range(workers)]  # noqa: S603

    def forward(signum: int, _: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    failed = [code if code > 0 else 128 - code for code in codes if code != 0]
    return failed[0] if failed else 0

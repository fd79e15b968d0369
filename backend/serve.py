"""Run the backend; SIGTERM drains requests in flight before the database is closed; SIGHUP
is logged and ignored (the backend reads its environment only at start)."""

from __future__ import annotations

import asyncio
import os
import signal

import structlog
from aiohttp import web

from backend.app import INFLIGHT, SERVER_OPTIONS, create_app
from backend.config import BackendSettings
from backend.metrics import start_metrics_listener
from service_plumbing.drain import drain
from service_plumbing.http_server import app_server_runner, app_started
from service_plumbing.server_log import server_logger

log = structlog.get_logger("backend")
SHUTDOWN_GRACE_SECONDS = 10.0


class CannotListen(Exception):
    """The listening socket could not be opened (e.g. the port is taken); says where and why."""


def run(settings: BackendSettings) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))


async def serve(settings: BackendSettings) -> None:
    app = create_app(settings)
    async with app_started(app) as app_server:  # the database is open inside
        runner = app_server_runner(
            app_server,
            service="backend",
            shutdown_timeout=1.0,
            access_log=None,
            logger=server_logger("backend"),
            **settings.parser_limits.server_options(),
            **SERVER_OPTIONS,
        )
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            # uvloop's strerror repeats the address; the errno's own words do not.
            reason = os.strerror(error.errno) if error.errno else type(error).__name__
            message = f"cannot listen on {settings.host}:{settings.port}: {reason}"
            raise CannotListen(message) from None
        await serve_until_stopped(runner, site, app, settings)


async def serve_until_stopped(
    runner: web.ServerRunner, site: web.TCPSite, app: web.Application, settings: BackendSettings
) -> None:
    log.info("listening", host=settings.host, port=settings.port)
    start_metrics_listener(settings.host, settings.port, os.environ)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Configured by environment only: nothing to re-read, and HUP must not kill it.
    loop.add_signal_handler(signal.SIGHUP, log.info, "sighup_ignored")
    await stop.wait()
    await drain(runner, site, app[INFLIGHT], grace=SHUTDOWN_GRACE_SECONDS, service="backend")
    # Closing the loop would restore the default action, and a repeated TERM arriving while the
    # process exits would turn its clean exit 0 into death by signal: the stop is under way.
    loop.remove_signal_handler(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

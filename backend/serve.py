"""Run the backend; SIGTERM drains requests in flight before the database is closed.

aiohttp's `AppRunner.cleanup()` closes connections before waiting for requests, which loses a
request whose body is still arriving. So shutdown here is: stop listening, answer with
`Connection: close` from then on, wait (bounded) for requests in flight, then clean up.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
from aiohttp import web

from backend.app import INFLIGHT, create_app
from backend.config import BackendSettings

log = structlog.get_logger("backend")
SHUTDOWN_GRACE_SECONDS = 10.0


def run(settings: BackendSettings) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))


async def serve(settings: BackendSettings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    log.info("listening", host=settings.host, port=settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await drain(runner, site, app, SHUTDOWN_GRACE_SECONDS)


async def drain(
    runner: web.AppRunner, site: web.BaseSite, app: web.Application, grace: float
) -> None:
    """Stop accepting, let requests in flight finish (at most `grace` seconds), clean up."""
    await site.stop()
    inflight = app[INFLIGHT]
    # Connections stay open: aiohttp drops bytes arriving on a closing connection, which would
    # lose a body still on its way.
    inflight.draining = True
    log.info("draining", in_flight=inflight.count, grace_seconds=grace)
    if not await inflight.wait_idle(grace):
        log.warning("grace_expired", in_flight=inflight.count)
    await runner.cleanup()
    log.info("stopped")

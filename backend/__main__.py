"""`python -m backend`: configured by the environment only."""

from __future__ import annotations

import asyncio
import os
import sys

from aiohttp import web

from backend.app import create_app
from backend.config import BackendSettings, ConfigError
from gateway.logs import configure_logging


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def main() -> int:
    try:
        settings = BackendSettings.from_env(os.environ)
    except ConfigError as error:
        print(f"backend: refusing to start: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    print(f"backend: listening on http://{settings.host}:{settings.port}", file=sys.stderr)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        shutdown_timeout=10,
        loop=_event_loop(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

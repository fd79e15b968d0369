"""The shapes of an aiohttp handler, shared by middlewares that wrap one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Also for aiohttp's low-level server, which makes a BaseRequest (no app, no match info).
RawHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

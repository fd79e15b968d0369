"""The backend's app factory: middlewares, routes, and the database in `cleanup_ctx`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from backend.config import BackendSettings
from backend.db import open_database
from backend.health import READINESS, Readiness, healthz, readyz
from backend.metrics import metrics_middleware
from backend.tasks import DATABASE, add_routes
from backend.tracing import backend_spans, trace_queries, tracing_middleware
from backend.trust import trust_middleware
from service_plumbing.drain import InFlight, inflight_middleware
from service_plumbing.request_context import request_context_middleware

SETTINGS = web.AppKey("settings", BackendSettings)
INFLIGHT = web.AppKey("inflight", InFlight)
# What the server running `create_app` must be given: bodies reach the handlers as sent, and
# `backend.request_body` decodes them within the size limit.
SERVER_OPTIONS: dict[str, Any] = {"auto_decompress": False}


async def _database(app: web.Application) -> AsyncIterator[None]:
    database = await open_database(app[SETTINGS])
    app[DATABASE] = database
    app[READINESS] = Readiness(database)
    spans = backend_spans()
    if spans is not None:
        trace_queries(database.engine, spans)
    yield
    await database.engine.dispose()
    if spans is not None:
        await asyncio.to_thread(spans.flush)


def create_app(settings: BackendSettings) -> web.Application:
    """The Spec-1 Todo API; all but `/healthz` and `/readyz` need the gateway's signed identity."""
    inflight = InFlight()
    app = web.Application(
        middlewares=[
            metrics_middleware,  # outermost: it sees every final answer
            inflight_middleware(inflight),
            request_context_middleware(service="backend"),
            tracing_middleware(backend_spans()),
            trust_middleware(
                secrets=settings.identity_secrets,
                max_age_seconds=settings.identity_max_age_seconds,
            ),
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[INFLIGHT] = inflight
    app.cleanup_ctx.append(_database)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    add_routes(app)
    return app

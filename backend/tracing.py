"""W3C trace context in the backend: the trace id of the gateway's `traceparent` (or a new one)
in the access line; with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a `backend request` span
continuing it and a `database query` span per statement, exported over OTLP/HTTP."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from service_plumbing.handlers import Handler
from service_plumbing.request_context import EXCHANGE
from service_plumbing.tracing import TRACEPARENT, Spans, TraceIds, continued_trace_id, process_spans

_ids = TraceIds()
_SPAN_KEY = "backend.database_span"


def tracing_middleware(spans: Spans | None) -> Any:
    """Inside the request context: sets the access line's `trace_id`, and the span."""

    @web.middleware
    async def trace_context(request: web.Request, handler: Handler) -> web.StreamResponse:
        fields = request[EXCHANGE].fields
        if spans is None:
            incoming = continued_trace_id(request.headers.get(TRACEPARENT))
            fields["trace_id"] = incoming or _ids.take(32)
            return await handler(request)
        with spans.server_span("backend request", request.headers) as span:
            fields["trace_id"] = format(span.get_span_context().trace_id, "032x")
            span.set_attribute("http.request.method", request.method)
            response = await handler(request)
            span.set_attribute("http.response.status_code", response.status)
            return response

    return trace_context


def trace_queries(engine: AsyncEngine, spans: Spans) -> None:
    """A `database query` span around every statement the engine runs."""

    def before(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        span = spans.tracer.start_span("database query")
        span.set_attribute("db.statement", statement.split(None, 1)[0].upper())  # the verb only
        conn.info[_SPAN_KEY] = span

    def after(conn: Any, *_: Any) -> None:
        span = conn.info.pop(_SPAN_KEY, None)
        if span is not None:
            span.end()

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    event.listen(engine.sync_engine, "handle_error", lambda context: after(context.connection))


def backend_spans(env: Mapping[str, str] = os.environ) -> Spans | None:
    return process_spans("backend", env)

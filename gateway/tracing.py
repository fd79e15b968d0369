"""W3C trace context through the gateway, and OpenTelemetry spans when an OTLP endpoint is set.

Always: a valid `traceparent` from the client is continued (its trace id is in the access
line, and the backend receives it with `tracestate`); otherwise a new trace is started and the
backend receives its `traceparent`. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the gateway also
records spans (request, token verification, upstream call) and exports them over OTLP/HTTP;
without it, no OpenTelemetry object is created at all.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from gateway.auth.verifier import TokenVerifier, VerifiedToken
from gateway.forward.http1.pool import LateHeaders
from gateway.forward.proxy import Proxy
from gateway.request_context import Exchange
from service_plumbing.tracing import (
    TRACEPARENT,
    TRACESTATE,
    Spans,
    TraceIds,
    continued_trace_id,
)

_ids = TraceIds()


class TracingProxy(Proxy):
    """The proxy, carrying trace context to the upstream (no spans: tracing is off)."""

    def forward(
        self,
        request: web.BaseRequest,
        upstream: str,
        target: str,
        headers: list[tuple[str, str]],
        context: Exchange,
        late_headers: LateHeaders | None = None,
    ) -> Awaitable[web.StreamResponse]:
        incoming = request.headers.get(TRACEPARENT)
        trace_id = None if incoming is None else continued_trace_id(incoming)
        if trace_id is None:  # start a trace; a malformed one and its tracestate go
            ids = _ids.take(48)
            trace_id = ids[:32]
            if incoming is not None:
                headers = [h for h in headers if h[0].lower() not in (TRACEPARENT, TRACESTATE)]
            headers.append((TRACEPARENT, f"00-{trace_id}-{ids[32:]}-00"))
        context.fields["trace_id"] = trace_id
        return super().forward(request, upstream, target, headers, context, late_headers)


def add_trace_id(request: web.BaseRequest, line: dict[str, Any], spans: Spans | None) -> None:
    """For a line the proxy did not handle (an answer from the gateway itself)."""
    trace_id = spans.current_trace_id() if spans is not None else None
    line["trace_id"] = (
        trace_id or continued_trace_id(request.headers.get(TRACEPARENT)) or _ids.take(32)
    )


class SpanningProxy(Proxy):
    """The proxy with an `upstream call` span whose context the upstream receives."""

    def __init__(self, *args: Any, spans: Spans, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._spans = spans

    async def forward(
        self,
        request: web.BaseRequest,
        upstream: str,
        target: str,
        headers: list[tuple[str, str]],
        context: Exchange,
        late_headers: LateHeaders | None = None,
    ) -> web.StreamResponse:
        from opentelemetry.trace import SpanKind

        tracer = self._spans.tracer
        with tracer.start_as_current_span("upstream call", kind=SpanKind.CLIENT) as span:
            span.set_attribute("gateway.upstream", upstream)
            kept = [h for h in headers if h[0].lower() not in (TRACEPARENT, TRACESTATE)]
            kept += self._spans.inject().items()
            context.fields["trace_id"] = format(span.get_span_context().trace_id, "032x")
            return await super().forward(request, upstream, target, kept, context, late_headers)


class SpanningVerifier(TokenVerifier):
    """The verifier with a `token verification` span around each real verification."""

    def __init__(self, *args: Any, spans: Spans, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._spans = spans

    async def verify(self, token: str) -> VerifiedToken:
        with self._spans.tracer.start_as_current_span("token verification"):
            return await super().verify(token)

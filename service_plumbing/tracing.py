"""W3C trace context and OpenTelemetry spans, shared by both services.

The ids and the `traceparent` check are always in use (a few string operations a request).
`Spans` exists only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: without it no OpenTelemetry
object is created, and the SDK is not even imported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from service_plumbing.handlers import RawHandler

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
# Version 00 (and the 00 layout of later versions); all-zero ids are invalid (W3C 3.2.2).
_TRACEPARENT = re.compile(r"([0-9a-e][0-9a-f])-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class TraceIds:
    """Random trace (32 hex) and span (16 hex) ids, drawn from the OS in batches."""

    __slots__ = ("_digits", "_next")

    def __init__(self) -> None:
        self._digits = ""
        self._next = 0

    def take(self, length: int) -> str:
        at = self._next
        if at + length > len(self._digits):
            self._digits, at = os.urandom(4096).hex(), 0
        self._next = at + length
        return self._digits[at : at + length]


def continued_trace_id(value: str | None) -> str | None:
    """The trace id of a valid incoming `traceparent`, else None."""
    if value is None:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or match.group(2) == _ZERO_TRACE or match.group(3) == _ZERO_SPAN:
        return None
    if match.group(1) == "00" and len(value.strip()) != 55:
        return None
    return match.group(2)


class Spans:
    """OpenTelemetry spans exported over OTLP/HTTP (created only when an endpoint is set)."""

    def __init__(self, service: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer(service)
        self.propagator = TraceContextTextMapPropagator()

    @contextmanager
    def server_span(self, name: str, headers: Mapping[str, str]) -> Iterator[Any]:
        """A span continuing the caller's `traceparent` (or starting a trace)."""
        from opentelemetry.trace import SpanKind

        parent = self.propagator.extract(headers)
        with self.tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER) as span:
            yield span

    def wrap(self, handler: RawHandler) -> RawHandler:
        """`handler` inside a `gateway request` span."""

        async def traced(request: web.BaseRequest) -> web.StreamResponse:
            with self.server_span("gateway request", request.headers) as span:
                span.set_attribute("http.request.method", request.method)
                response = await handler(request)
                span.set_attribute("http.response.status_code", response.status)
                return response

        return traced

    @staticmethod
    def current_trace_id() -> str | None:
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        return format(context.trace_id, "032x") if context.is_valid else None

    def inject(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        self.propagator.inject(carrier)
        return carrier

    def flush(self) -> None:
        """Export what is still batched (at exit the SDK also shuts down on its own)."""
        self.provider.force_flush()


_process_spans: dict[str, Spans | None] = {}


def process_spans(service: str, env: Mapping[str, str] = os.environ) -> Spans | None:
    """This process's spans, created at the first call: None without an OTLP endpoint."""
    if service not in _process_spans:
        _process_spans[service] = Spans(service) if env.get(ENDPOINT_ENV) else None
    return _process_spans[service]

"""Tracing across both services: a client's traceparent is continued through the gateway to the
backend, both access lines carry its trace id, and with OTEL_EXPORTER_OTLP_ENDPOINT set the
spans arrive at a real OTLP/HTTP receiver (started here on loopback, its protobuf decoded)."""

from __future__ import annotations

import asyncio
import os
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.integration.keys import SecretIssuer
from tests.integration.processes import Stack

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


class Receiver:
    """An OTLP/HTTP trace receiver in a thread of its own: POST /v1/traces, protobuf body."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    async def _receive(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for resource_spans in export.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope_spans in resource_spans.scope_spans:
                self.spans += [
                    {
                        "service": service,
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent": span.parent_span_id.hex(),
                    }
                    for span in scope_spans.spans
                ]
        return web.Response(content_type="application/x-protobuf")

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/traces", self._receive)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        self.url = str(server.make_url("")).rstrip("/")
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await server.close()

    def __enter__(self) -> Receiver:
        self._thread.start()
        assert self._ready.wait(30)
        return self

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def started_stack(workdir: Path, **env: str) -> tuple[Stack, SecretIssuer]:
    issuer = SecretIssuer()
    stack = Stack(workdir, database_url=f"sqlite:///{workdir / 'todo.db'}", auth_env=issuer.env)
    for service in (stack.gateway, stack.backend):
        service.env.update(env)
    stack.start()
    return stack, issuer


def get(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback http://
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        status: int = response.status
    return status


def access_lines(path: Path, request_id: str) -> list[dict[str, Any]]:
    lines = [orjson.loads(raw) for raw in path.read_bytes().splitlines() if raw.startswith(b"{")]
    return [line for line in lines if line.get("request_id") == request_id]


def test_spans_of_both_services_arrive_with_one_trace(tmp_path: Path, receiver: Receiver) -> None:
    stack, issuer = started_stack(
        tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_BSP_SCHEDULE_DELAY="100"
    )
    try:
        headers = {
            "Authorization": f"Bearer {issuer.token('alice')}",
            "traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01",
            "X-Request-ID": "traced-1",
        }
        assert get(f"{stack.gateway_url}/api/alice/tasks", headers) == 200
    finally:
        stack.stop()  # flushes the batched spans
    spans = {(span["service"], span["name"]): span for span in receiver.spans}
    request = spans["gateway", "gateway request"]
    verification = spans["gateway", "token verification"]
    upstream = spans["gateway", "upstream call"]
    backend = spans["backend", "backend request"]
    query = spans["backend", "database query"]
    assert request["parent"] == CLIENT_SPAN
    assert verification["parent"] == upstream["parent"] == request["span_id"]
    assert backend["parent"] == upstream["span_id"]
    assert query["parent"] == backend["span_id"]
    for span in (request, verification, upstream, backend, query):
        assert span["trace_id"] == TRACE_ID
    for log in (stack.gateway.log, stack.backend.log):
        (line,) = access_lines(log, "traced-1")
        assert line["trace_id"] == TRACE_ID


def test_without_an_endpoint_a_trace_starts_and_reaches_the_backend(tmp_path: Path) -> None:
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in os.environ
    stack, issuer = started_stack(tmp_path)
    try:
        headers = {"Authorization": f"Bearer {issuer.token('bob')}", "X-Request-ID": "new-1"}
        assert get(f"{stack.gateway_url}/api/bob/tasks", headers) == 200
        continued = {**headers, "X-Request-ID": "continued-1"}
        continued["traceparent"] = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
        assert get(f"{stack.gateway_url}/api/bob/tasks", continued) == 200
        broken = {**headers, "X-Request-ID": "broken-1", "traceparent": "00-zz-1-01"}
        assert get(f"{stack.gateway_url}/api/bob/tasks", broken) == 200
    finally:
        stack.stop()
    for request_id in ("new-1", "continued-1", "broken-1"):
        (gateway,) = access_lines(stack.gateway.log, request_id)
        (backend,) = access_lines(stack.backend.log, request_id)
        assert len(gateway["trace_id"]) == 32
        assert gateway["trace_id"] == backend["trace_id"]
    assert access_lines(stack.gateway.log, "continued-1")[0]["trace_id"] == TRACE_ID

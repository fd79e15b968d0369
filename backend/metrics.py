"""The backend's Prometheus metrics, on a listener of their own (BACKEND_METRICS_PORT, default
9465): requests by route and status, duration, signature refusals by reason, database errors.

One middleware, outside the request context, sees every final answer; the route label is the
route's template (`/api/{user_id}/tasks`), never the raw path.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import structlog
from aiohttp import web
from prometheus_client import Counter, Histogram, disable_created_metrics, start_http_server

from service_plumbing.handlers import Handler
from service_plumbing.request_context import EXCHANGE

METRICS_PORT_ENV = "BACKEND_METRICS_PORT"
DEFAULT_METRICS_PORT = 9465
_UNMATCHED = "unmatched"
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

log = structlog.get_logger("backend")
disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` samples

REQUESTS = Counter(
    "backend_requests_total", "Requests answered, by route and status.", ("route", "status")
)
REQUEST_DURATION = Histogram(
    "backend_request_duration_seconds", "Time to answer a request.", ("route",), buckets=_SECONDS
)
SIGNATURE_REFUSALS = Counter(
    "backend_signature_refusals_total",
    "Requests refused for their signed identity, by reason.",
    ("reason",),
)
DATABASE_ERRORS = Counter(
    "backend_database_errors_total", "Requests answered 503 because the database failed."
)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else _UNMATCHED
    REQUESTS.labels(route, str(response.status)).inc()
    REQUEST_DURATION.labels(route).observe(time.perf_counter() - started)
    if response.status in (401, 503):
        exchange = request.get(EXCHANGE)
        reason = exchange.fields.get("reason") if exchange is not None else None
        if response.status == 401 and reason is not None:
            SIGNATURE_REFUSALS.labels(reason).inc()
        elif reason == "database":
            DATABASE_ERRORS.inc()
    return response


def start_metrics_listener(host: str, public_port: int, env: Mapping[str, str]) -> None:
    """Serve /metrics from a thread on BACKEND_METRICS_PORT (default 9465; 0 turns it off).
    A bad value or a port that cannot be bound is one error line; the backend serves on."""
    text = env.get(METRICS_PORT_ENV, "").strip()
    port = int(text) if text.isdigit() else -1 if text else DEFAULT_METRICS_PORT
    if port == 0:
        return
    if not 0 < port <= 65535 or port == public_port:
        log.error("metrics_listener_failed", error=f"{METRICS_PORT_ENV}: not a usable port")
        return
    try:
        start_http_server(port, addr=host)
    except OSError as error:
        log.error("metrics_listener_failed", host=host, port=port, error=error.strerror)
        return
    log.info("metrics_listening", host=host, port=port, path="/metrics")

"""The gateway's app factory: `create_app(settings)` wires the pipeline and its resources."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import hdrs, web
from yarl import URL

from gateway.auth.verifier import TokenVerifier
from gateway.config import GatewaySettings
from gateway.cors import Cors
from gateway.forward.proxy import upstream_client
from gateway.health import Health
from gateway.metrics import CONFIG_RELOADS, LevelSampler, count_request
from gateway.pipeline import Gateway
from gateway.ratelimit.limiter import RateLimiter, apply_headers
from gateway.reload import ActiveRequests, Generation, LiveHandler, Reloader, SettingsReader
from gateway.request_context import BeforeSend, LineObserver, with_request_context
from gateway.routing.policy import Policy
from gateway.signature import IdentitySigner
from gateway.tracing import SpanningProxy, SpanningVerifier, TracingProxy, add_trace_id
from service_plumbing.access_fields import AccessFields
from service_plumbing.drain import InFlight
from service_plumbing.handlers import RawHandler
from service_plumbing.tracing import Spans, process_spans

SETTINGS = web.AppKey("settings", GatewaySettings)
INFLIGHT = web.AppKey("inflight", InFlight)
LIVE = web.AppKey("live", LiveHandler)
# The one request handler (request context around the pipeline), built at startup.
HANDLER: web.AppKey[RawHandler] = web.AppKey("handler")


def create_app(settings: GatewaySettings) -> web.Application:
    """The whole gateway as an aiohttp app; resources open on startup, close on cleanup.

    `serve.gateway_runner` hands every request straight to `app[HANDLER]`; under a plain
    `AppRunner` (or `aiohttp_client(app)`) the catch-all route below does the same.
    """
    # No middleware: the request context wraps the one handler directly, which spares
    # aiohttp's per-middleware wrappers on every request (the catch-all resource below means
    # the router never raises a 404/405 a middleware would have to convert).
    app = web.Application()
    app[SETTINGS] = settings
    app[INFLIGHT] = InFlight()
    app.cleanup_ctx.append(_resources)

    async def via_router(request: web.Request) -> web.StreamResponse:
        return await request.app[HANDLER](request)

    every_path = _EveryPath()
    # The proxy answers `Expect` itself, once the request is authorised and small enough.
    every_path.add_route("*", via_router, expect_handler=_expect_answered_later)
    app.router.register_resource(every_path)
    return app


async def _expect_answered_later(_: web.Request) -> None:
    return None


class _EveryPath(web.Resource):
    """Matches every request target, `*` included, without a regular expression: the
    policy does the routing. Indexed under `/`, which the router's lookup always reaches."""

    def __init__(self) -> None:
        super().__init__(name=None)

    @property
    def canonical(self) -> str:
        return "/"

    def add_prefix(self, prefix: str) -> None:
        raise NotImplementedError("the gateway's catch-all cannot be mounted under a prefix")

    def _match(self, path: str) -> dict[str, str]:
        return {}

    def raw_match(self, path: str) -> bool:
        return False

    def get_info(self) -> Any:
        return {"path": "/"}

    def url_for(self, **_: str) -> URL:
        return URL.build(path="/")


async def _resources(app: web.Application) -> AsyncIterator[None]:
    live = LiveHandler(await open_generation(app[SETTINGS], app[INFLIGHT]))
    app[LIVE] = live
    handler: RawHandler = live.__call__
    app[HANDLER] = handler
    sampler = LevelSampler(app[INFLIGHT])
    sampling = asyncio.create_task(sampler.sample_forever(lambda: live.current.verifier))
    try:
        yield
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
        sampler.sample(live.current.verifier)  # the last second's numbers reach the parent
        await live.close()
        spans = process_spans("gateway")
        if spans is not None:
            await asyncio.to_thread(spans.flush)


def _access_line_observer(settings: GatewaySettings, spans: Spans | None) -> LineObserver:
    fields = AccessFields("gateway", settings.trusted_proxies)

    def observe(
        request: web.BaseRequest, response: web.StreamResponse, line: dict[str, Any]
    ) -> None:
        fields.add(request, response, line)
        if "trace_id" not in line:  # answered by the gateway itself
            add_trace_id(request, line, spans)
        count_request(line)

    return observe


def reloader(app: web.Application, reread: SettingsReader) -> Reloader:
    """Reloads `app`'s pipeline from `reread()` (gateway.yaml read again)."""
    inflight = app[INFLIGHT]

    async def open_next(settings: GatewaySettings) -> Generation:
        return await open_generation(settings, inflight)

    def count(result: str) -> None:
        CONFIG_RELOADS.labels(result).inc()

    return Reloader(app[LIVE], read_settings=reread, open_generation=open_next, on_result=count)


async def open_generation(settings: GatewaySettings, inflight: InFlight) -> Generation:
    """One configuration's pipeline and the resources it owns (see `gateway/reload.py`)."""
    session = client_session(settings)
    fast = upstream_client(settings)
    spans = process_spans("gateway")
    verifier = (
        TokenVerifier(settings.auth, session=session)
        if spans is None
        else SpanningVerifier(settings.auth, session=session, spans=spans)
    )
    cors = Cors(settings.cors)

    def finish_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
        """Every response, streamed or not, right before its headers go."""
        response.headers[hdrs.SERVER] = "gateway"  # not aiohttp's (or the upstream's) banner
        cors.apply(request, response)

    policy = Policy(settings.routes, settings.rate_limits)
    limiter = RateLimiter(settings.rate_limits, trusted_proxies=settings.trusted_proxies)
    before_send = _with_limit_headers(finish_headers, any(route.limit for route in policy.routes))

    async def close() -> None:
        await limiter.close()
        await verifier.close()
        fast.close()
        await session.close()

    try:
        await verifier.start()
    except BaseException:
        await close()
        raise
    gateway = Gateway(
        policy=policy,
        verifier=verifier,
        proxy=(
            TracingProxy(settings, fast)
            if spans is None
            else SpanningProxy(settings, fast, spans=spans)
        ),
        cors=cors,
        health=Health(settings, session, verifier),
        signer=IdentitySigner(settings.identity_secret),
        max_token_bytes=settings.auth.max_token_bytes,
        limiter=limiter,
    )
    active = ActiveRequests()
    handler = with_request_context(
        gateway.handle,
        service="gateway",
        before_send=before_send,
        inflight=inflight,
        active=active,
        observe=_access_line_observer(settings, spans),
    )
    if spans is not None:
        handler = spans.wrap(handler)
    return Generation(settings, handler, close, verifier, active)


def client_session(settings: GatewaySettings) -> aiohttp.ClientSession:
    """The session for the gateway's own calls (JWKS, readiness): keep-alive, no cookie jar."""
    connector = aiohttp.TCPConnector(
        limit=settings.pool.max_connections,
        keepalive_timeout=settings.pool.keepalive_timeout_seconds,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent",),
        timeout=aiohttp.ClientTimeout(total=None),
    )


def _with_limit_headers(finish: BeforeSend, limited: bool) -> BeforeSend:
    """`finish`, preceded by the RateLimit fields when some route is limited (only then:
    with limits off this costs nothing)."""
    if not limited:
        return finish

    def both(request: web.BaseRequest, response: web.StreamResponse) -> None:
        apply_headers(request, response)
        finish(request, response)

    return both

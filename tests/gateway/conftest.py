"""A real gateway (`create_app`, served by the production `gateway_runner`) in front of a real
recording upstream on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.app import create_app
from gateway.config import GatewaySettings, load_settings
from gateway.request_context import RawHandler
from gateway.serve import gateway_runner, started
from tests.gateway.raw_upstream import RawUpstream, Script
from tests.gateway.tls import Certificate, make_certificate

DEFAULT_YAML = Path(__file__).resolve().parents[2] / "gateway.yaml"
TOKEN_SECRET = "test-token-secret-" + "t" * 32
IDENTITY_SECRET = "test-identity-secret-" + "i" * 32


def make_token(
    sub: str = "alice", *, ttl: int = 300, secret: str = TOKEN_SECRET, **claims: Any
) -> str:
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + ttl, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def bearer(sub: str = "alice", **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(sub, **kwargs)}"}


def gateway_env(**extra: str) -> dict[str, str]:
    return {
        "BETTER_AUTH_SECRET": TOKEN_SECRET,
        "GATEWAY_IDENTITY_SECRET": IDENTITY_SECRET,
        **extra,
    }


def default_config() -> dict[str, Any]:
    loaded = yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def settings_for(config: dict[str, Any], env: dict[str, str]) -> GatewaySettings:
    return load_settings(yaml.safe_dump(config), env)


@dataclass
class Seen:
    method: str
    raw_path: str
    headers: CIMultiDictProxy[str]
    body_bytes: int
    body_sha256: str


@dataclass
class Recorder:
    """What the upstream received, in order."""

    seen: list[Seen] = field(default_factory=list)
    slow_release: asyncio.Event = field(default_factory=asyncio.Event)
    # "METHOD path" of every request the upstream began handling (before reading its body).
    started: list[str] = field(default_factory=list)
    _started: asyncio.Event = field(default_factory=asyncio.Event)

    def paths(self) -> list[str]:
        return [item.raw_path for item in self.seen]

    def begin(self, request: web.Request) -> None:
        self.started.append(f"{request.method} {request.raw_path}")
        self._started.set()

    async def wait_started(self, request_line: str) -> None:
        while request_line not in self.started:
            self._started.clear()
            await self._started.wait()


def pattern(size: int) -> Callable[[], Any]:
    """Deterministic chunks of `size` bytes total, never held whole in memory."""
    block = hashlib.sha256(b"gateway-test").digest() * 2048  # 64 KiB

    def chunks() -> Any:
        remaining = size
        while remaining > 0:
            piece = block[: min(len(block), remaining)]
            remaining -= len(piece)
            yield piece

    return chunks


def pattern_digest(size: int) -> str:
    digest = hashlib.sha256()
    for chunk in pattern(size)():
        digest.update(chunk)
    return digest.hexdigest()


def upstream_app(recorder: Recorder) -> web.Application:
    async def record(request: web.Request) -> tuple[int, str]:
        recorder.begin(request)
        digest, total = hashlib.sha256(), 0
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            total += len(chunk)
        recorder.seen.append(
            Seen(request.method, request.raw_path, request.headers, total, digest.hexdigest())
        )
        return total, digest.hexdigest()

    async def echo(request: web.Request) -> web.StreamResponse:
        total, digest = await record(request)
        response = web.json_response(
            {"path": request.raw_path, "bytes": total, "sha256": digest},
            headers=CIMultiDict([("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/")]),
        )
        response.headers["X-Upstream"] = "yes"
        response.headers["Keep-Alive"] = "timeout=99"
        response.headers["Proxy-Authenticate"] = "Basic"
        # A careless upstream granting every origin: the gateway must not pass that on.
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    async def download(request: web.Request) -> web.StreamResponse:
        await record(request)
        size = int(request.query["size"])
        response = web.StreamResponse()
        response.content_type = "application/octet-stream"
        await response.prepare(request)
        for chunk in pattern(size)():
            await response.write(chunk)
        await response.write_eof()
        return response

    async def slow(request: web.Request) -> web.StreamResponse:
        await record(request)
        await asyncio.wait_for(recorder.slow_release.wait(), 30)
        return web.json_response({"slow": True})

    async def hangup(request: web.Request) -> web.StreamResponse:
        await record(request)
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async def broken(request: web.Request) -> web.StreamResponse:
        await record(request)
        length = request.query.get("length", "100000")
        response = web.StreamResponse(headers={"Content-Length": length})
        await response.prepare(request)
        await response.write(b"x" * 10)
        assert request.transport is not None
        request.transport.close()
        return response

    app = web.Application(client_max_size=1024**3)
    app.router.add_route("*", "/api/{user}/tasks/broken", broken)
    app.router.add_route("*", "/api/{user}/tasks/hangup", hangup)
    app.router.add_get("/healthz", _ok)
    app.router.add_get("/readyz", _ok)
    app.router.add_route("*", "/api/{user}/tasks/download", download)
    app.router.add_route("*", "/api/{user}/tasks/slow", slow)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


async def _ok(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@dataclass(frozen=True)
class Address:
    port: int


class GatewayClient:
    """A `ClientSession` on the served gateway, used the way aiohttp's `TestClient` is:
    requests by path (`client.get("/healthz")`), and `client.server.port`."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.server = Address(port)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)  # get, post, request, options, ...


@dataclass
class Stack:
    client: GatewayClient
    recorder: Recorder
    upstream_url: str
    settings: GatewaySettings


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def upstream(recorder: Recorder, aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(upstream_app(recorder))
    return server


@pytest.fixture
async def make_stack(upstream: TestServer, recorder: Recorder) -> AsyncIterator[StackFactory]:
    """Build a gateway from the default gateway.yaml, edited by `configure(config_dict)`."""
    async with contextlib.AsyncExitStack() as apps:

        async def build(
            configure: Callable[[dict[str, Any]], None] | None = None, **env: str
        ) -> Stack:
            upstream_url = str(upstream.make_url("")).rstrip("/")
            config = default_config()
            config["upstreams"]["better_auth"] = {"url": upstream_url}
            config["auth"]["jwks"] = []
            if configure is not None:
                configure(config)
            settings = settings_for(config, gateway_env(BACKEND_URL=upstream_url, **env))
            handler = await apps.enter_async_context(started(create_app(settings)))
            client = await apps.enter_async_context(serving(handler, settings))
            return Stack(client, recorder, upstream_url, settings)

        yield build


@contextlib.asynccontextmanager
async def serving(handler: RawHandler, settings: GatewaySettings) -> AsyncIterator[GatewayClient]:
    """The gateway served the way production serves it (`gateway_runner`, not aiohttp's
    router) on a free loopback port, and a client for it."""
    runner = gateway_runner(handler, settings)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            yield GatewayClient(session, port)
    finally:
        await runner.cleanup()


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    return await make_stack()


async def raw_request(client: Any, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes exactly as written (no client-side path normalisation); status and body."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    try:
        writer.write(head.replace("\n", "\r\n").encode("latin-1") + body)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    status_line, _, _ = response.partition(b"\r\n")
    return int(status_line.split()[1]), response.partition(b"\r\n\r\n")[2]


# --- scripted upstreams, plain and TLS ----------------------------------------------------


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def gateway_trusts_the_certificate(
    certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway checks https upstreams against the system's trust store, which
    `SSL_CERT_FILE` replaces."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert_file))


@pytest.fixture(params=["http", "https"])
def server_tls(request: pytest.FixtureRequest, certificate: Certificate) -> ssl.SSLContext | None:
    """Every test of a scripted upstream runs against a plain and a TLS one."""
    return certificate.server_context() if request.param == "https" else None


@pytest.fixture
async def raw_upstream(
    server_tls: ssl.SSLContext | None,
    certificate: Certificate,
    gateway_trusts_the_certificate: None,
) -> AsyncIterator[Callable[[Script], Awaitable[RawUpstream]]]:
    servers: list[asyncio.Server] = []

    async def make(script: Script) -> RawUpstream:
        upstream = RawUpstream(script)
        server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0, ssl=server_tls)
        servers.append(server)
        upstream.port = server.sockets[0].getsockname()[1]
        upstream.tls = certificate.client_context() if server_tls else None
        return upstream

    yield make
    for server in servers:
        server.close()


def backend_at(upstream: RawUpstream) -> Callable[[dict[str, Any]], None]:
    """A `make_stack` configuration: the backend is this scripted upstream."""
    scheme = "https" if upstream.tls else "http"

    def configure(config: dict[str, Any]) -> None:
        config["upstreams"]["backend"]["url"] = f"{scheme}://127.0.0.1:{upstream.port}"

    return configure

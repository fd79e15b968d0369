"""Fixtures: real keys, a real JWKS server on a loopback port, and a verifier factory."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from gateway.auth.settings import AuthSettings, JwksKeySource, SecretKeySource
from gateway.auth.verifier import TokenVerifier
from tests.gateway.auth.tokens import (
    ISSUER,
    SECRET,
    SigningKey,
    ec_key,
    ed25519_key,
    jwks,
    rsa_key,
)


@dataclasses.dataclass
class Keys:
    ed: SigningKey
    es256: SigningKey
    es512: SigningKey
    rs256: SigningKey
    ps256: SigningKey

    def all(self) -> list[SigningKey]:
        return [self.ed, self.es256, self.es512, self.rs256, self.ps256]


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        ed=ed25519_key("ed-1"),
        es256=ec_key("es256-1", "ES256"),
        es512=ec_key("es512-1", "ES512"),
        rs256=rsa_key("rs256-1", "RS256"),
        ps256=rsa_key("ps256-1", "PS256"),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 that counts requests and can go down and come back."""

    def __init__(self, document: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/auth/jwks"
        self.body: bytes = orjson.dumps(document)
        self.content_type = "application/json"
        self.status = 200
        self.headers: dict[str, str] = {}
        self.delay = 0.0
        self.compress = False
        self.requests = 0
        self._runner: web.AppRunner | None = None

    def serve(self, document: Any) -> None:
        self.body = orjson.dumps(document)
        self.content_type = "application/json"

    async def _handle(self, _: web.Request) -> web.Response:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        response = web.Response(
            body=self.body,
            status=self.status,
            content_type=self.content_type,
            headers=self.headers,
        )
        if self.compress:  # only as far as the request's Accept-Encoding allows
            response.enable_compression()
        return response

    async def up(self) -> None:
        app = web.Application()
        app.router.add_get("/api/auth/jwks", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def jwks_server(keys: Keys) -> AsyncIterator[JwksServer]:
    server = JwksServer(jwks(*keys.all()))
    await server.up()
    yield server
    await server.down()


def jwks_source(url: str, **overrides: Any) -> JwksKeySource:
    return JwksKeySource(
        name=overrides.pop("name", "better-auth"),
        url=url,
        issuer=overrides.pop("issuer", ISSUER),
        audiences=overrides.pop("audiences", (ISSUER,)),
        **overrides,
    )


@pytest.fixture
async def make_verifier(
    session: aiohttp.ClientSession,
) -> AsyncIterator[Callable[..., Any]]:
    """Build and start a verifier; every one built is closed at the end of the test."""
    built: list[TokenVerifier] = []

    async def make(
        *,
        secret: SecretKeySource | None = None,
        jwks: tuple[JwksKeySource, ...] = (),
        start: bool = True,
        clock: Callable[[], float] | None = None,
        monotonic: Callable[[], float] | None = None,
        **settings: Any,
    ) -> TokenVerifier:
        options: dict[str, Any] = {}
        if clock is not None:
            options["clock"] = clock
        if monotonic is not None:
            options["monotonic"] = monotonic
        verifier = TokenVerifier(
            AuthSettings(secret=secret, jwks=jwks, **settings), session=session, **options
        )
        built.append(verifier)
        if start:
            await verifier.start()
        return verifier

    yield make
    for verifier in built:
        await verifier.close()


def secret_source(**overrides: Any) -> SecretKeySource:
    return SecretKeySource(secret=overrides.pop("secret", SECRET), **overrides)

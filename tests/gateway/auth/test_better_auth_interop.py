"""Tokens from a real Better Auth server (auth-server/), for every key algorithm
its jwt plugin offers, verified by the TokenVerifier against its real JWKS endpoint."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import aiohttp
import pytest

from gateway.auth.errors import AuthError
from gateway.auth.settings import AuthSettings, JwksKeySource
from gateway.auth.verifier import TokenVerifier
from tests.interop.conftest import FRONTEND_ORIGIN, BetterAuth, start_better_auth

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module", params=["EdDSA", "ES256", "ES512", "RS256", "PS256"])
def better_auth(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BetterAuth]:
    log = tmp_path_factory.mktemp("better-auth") / "server.log"
    with ExitStack() as resources:
        yield start_better_auth(request.param, resources, log)


async def issue_token(server: BetterAuth) -> tuple[str, str]:
    """Sign up with email and password; the user id and the JWT from `/api/auth/token`."""
    email = f"user-{secrets.token_hex(4)}@example.com"
    body = {"email": email, "password": "correct horse battery staple", "name": "Ada"}
    jar = aiohttp.CookieJar(unsafe=True)
    headers = {"Origin": FRONTEND_ORIGIN}
    async with aiohttp.ClientSession(cookie_jar=jar, headers=headers) as http:
        async with http.post(f"{server.url}/api/auth/sign-up/email", json=body) as response:
            assert response.status == 200, await response.text()
            user_id: str = (await response.json())["user"]["id"]
        async with http.get(f"{server.url}/api/auth/token") as response:
            assert response.status == 200, await response.text()
            token: str = (await response.json())["token"]
    return user_id, token


def verifier_for(server: BetterAuth, session: aiohttp.ClientSession, **extra: Any) -> TokenVerifier:
    source = JwksKeySource(
        name="better-auth",
        url=f"{server.url}/api/auth/jwks",
        issuer=server.url,
        audiences=(server.url,),
        algorithms=(server.alg,),
        **extra,
    )
    return TokenVerifier(AuthSettings(jwks=(source,)), session=session)


async def test_a_real_better_auth_token_verifies(
    better_auth: BetterAuth, session: aiohttp.ClientSession
) -> None:
    user_id, token = await issue_token(better_auth)
    verifier = verifier_for(better_auth, session)
    await verifier.start()
    try:
        assert verifier.key_sources_ready()
        verified = await verifier.verify(token)
    finally:
        await verifier.close()

    assert verified.user_id == user_id
    assert verified.claims["email"].endswith("@example.com")
    assert 890 <= verified.expires_at - verified.claims["iat"] <= 910  # 15 minutes


async def test_a_real_token_for_another_audience_is_refused(
    better_auth: BetterAuth, session: aiohttp.ClientSession
) -> None:
    _, token = await issue_token(better_auth)
    source = JwksKeySource(
        name="better-auth",
        url=f"{better_auth.url}/api/auth/jwks",
        audiences=("https://another-app.example",),
        algorithms=(better_auth.alg,),
    )
    verifier = TokenVerifier(AuthSettings(jwks=(source,)), session=session)
    await verifier.start()
    try:
        with pytest.raises(AuthError) as refused:
            await verifier.verify(token)
    finally:
        await verifier.close()

    assert refused.value.reason == "bad_audience"

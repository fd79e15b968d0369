"""A frontend's whole journey against a real Better Auth, with only the gateway's URL.

Sign-up and sign-in go through the gateway's `/api/auth/` passthrough (Origin, cookies and
Set-Cookie must survive it), the JWT comes from `/api/auth/token`, and the tasks API accepts
it. The bearer plugin's opaque session token is not a JWT and must be refused.
"""

from __future__ import annotations

import secrets
from typing import Any

import jwt
import pytest
from aiohttp import ClientSession, CookieJar

from tests.interop.conftest import FRONTEND_ORIGIN, Deployment

pytestmark = pytest.mark.interop
PASSWORD = "correct horse battery staple"


def browser() -> ClientSession:
    # unsafe=True: keep cookies for an IP-address host such as 127.0.0.1.
    return ClientSession(cookie_jar=CookieJar(unsafe=True), headers={"Origin": FRONTEND_ORIGIN})


async def post_json(http: ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def sign_up_and_in(deployment: Deployment) -> tuple[str, str, str]:
    """Sign up, then sign in afresh; return (user id, JWT, opaque session token)."""
    auth = f"{deployment.gateway_url}/api/auth"
    email = f"user-{secrets.token_hex(4)}@example.com"
    async with browser() as http:
        signed_up = await post_json(
            http, f"{auth}/sign-up/email", {"email": email, "password": PASSWORD, "name": "Ada"}
        )
    async with browser() as http:
        async with http.post(
            f"{auth}/sign-in/email", json={"email": email, "password": PASSWORD}
        ) as response:
            assert response.status == 200, await response.text()
            opaque = response.headers["set-auth-token"]
        assert any(cookie.key.endswith("session_token") for cookie in http.cookie_jar)
        async with http.get(f"{auth}/token") as response:
            assert response.status == 200, await response.text()
            token: str = (await response.json())["token"]
    return signed_up["user"]["id"], token, opaque


async def test_a_better_auth_jwt_reaches_the_tasks_api(deployment: Deployment) -> None:
    user_id, token, _ = await sign_up_and_in(deployment)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == deployment.better_auth.alg
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["iss"]) == (user_id, deployment.better_auth.url)

    tasks = f"{deployment.gateway_url}/api/{user_id}/tasks"
    bearer = {"Authorization": f"Bearer {token}"}
    async with ClientSession() as http:
        async with http.post(tasks, json={"title": "Ship it"}, headers=bearer) as response:
            assert response.status == 201, await response.text()
            assert (await response.json())["user_id"] == user_id
        async with http.get(tasks, headers=bearer) as response:
            assert response.status == 200
            assert [task["title"] for task in await response.json()] == ["Ship it"]
        other = f"{deployment.gateway_url}/api/someone-else/tasks"
        async with http.get(other, headers=bearer) as response:
            assert response.status == 403


async def test_the_jwt_also_arrives_in_the_set_auth_jwt_header(deployment: Deployment) -> None:
    user_id, _, opaque = await sign_up_and_in(deployment)
    session_url = f"{deployment.gateway_url}/api/auth/get-session"
    async with ClientSession() as http:
        # The bearer plugin turns the opaque token back into a session, and the jwt plugin
        # adds the JWT to the response, as a frontend would read it.
        async with http.get(session_url, headers={"Authorization": f"Bearer {opaque}"}) as response:
            assert response.status == 200, await response.text()
            token = response.headers["set-auth-jwt"]
        tasks = f"{deployment.gateway_url}/api/{user_id}/tasks"
        async with http.get(tasks, headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200


async def test_the_opaque_session_token_is_not_accepted(deployment: Deployment) -> None:
    user_id, _, opaque = await sign_up_and_in(deployment)
    tasks = f"{deployment.gateway_url}/api/{user_id}/tasks"
    headers = {"Authorization": f"Bearer {opaque}"}
    async with ClientSession() as http, http.get(tasks, headers=headers) as response:
        assert response.status == 401
        assert (await response.json())["error"] == "unauthorized"
        assert "invalid_token" in response.headers["WWW-Authenticate"]


async def test_better_auth_still_sees_the_callers_origin(deployment: Deployment) -> None:
    # The gateway passes Origin through unchanged, so Better Auth's CSRF check keeps working.
    sign_in = f"{deployment.gateway_url}/api/auth/sign-in/email"
    body = {"email": "nobody@example.com", "password": PASSWORD}
    headers = {"Origin": "https://evil.example"}
    async with ClientSession() as http, http.post(sign_in, json=body, headers=headers) as response:
        assert response.status == 403

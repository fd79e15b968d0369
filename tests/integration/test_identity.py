"""Identity cannot be claimed: not through the gateway, not around it."""

from __future__ import annotations

import secrets
import time

from aiohttp import ClientSession

from gateway.signature import IdentitySigner
from tests.integration.client import Running, create, titles, user


async def test_spoofed_identity_headers_are_ignored(running: Running) -> None:
    alice, mallory = user("alice"), user("mallory")
    url = f"{running.stack.gateway_url}/api/{mallory}/tasks"
    spoofed = {
        "X-User-Id": alice,
        "X_User_Id": alice,
        "x-user-email": "alice@example.com",
        "X-Gateway-Timestamp": str(int(time.time())),
        "X-Gateway-Signature": "v1=" + "0" * 64,
    }
    async with ClientSession() as http:
        await create(http, running, alice, title="Alice only")
        headers = {**running.auth(mallory), **spoofed}
        async with http.post(url, json={"title": "whose?"}, headers=headers) as response:
            assert response.status == 201
            assert (await response.json())["user_id"] == mallory
        async with http.get(url, headers=headers) as response:
            assert [task["title"] for task in await response.json()] == ["whose?"]
        # Claimed identity without a token gets nothing at all.
        alice_url = f"{running.stack.gateway_url}/api/{alice}/tasks"
        async with http.get(alice_url, headers=spoofed) as response:
            assert response.status == 401
        assert await titles(http, running, alice) == ["Alice only"]


def signed(running: Running, sub: str, path: str, *, secret: str, age: int = 0) -> dict[str, str]:
    headers = IdentitySigner(secret.encode()).headers(
        method="GET",
        path_qs=path,
        user_id=sub,
        request_id=f"it-{secrets.token_hex(4)}",
        timestamp=int(time.time()) - age,
    )
    return dict(headers)


async def test_forged_requests_straight_to_the_backend_are_refused(running: Running) -> None:
    alice = user("alice")
    path = f"/api/{alice}/tasks"
    url = running.stack.backend_url + path
    real_secret = running.stack.identity_secret
    forgeries = {
        "no signature": {"X-User-Id": alice},
        "wrong secret": signed(running, alice, path, secret=secrets.token_urlsafe(32)),
        "replayed, stale": signed(running, alice, path, secret=real_secret, age=600),
        "other path": signed(running, alice, path + "?status=all", secret=real_secret),
        "malformed": {
            **signed(running, alice, path, secret=real_secret),
            "X-Gateway-Signature": "v1=zz",
        },
    }
    async with ClientSession() as http:
        for name, headers in forgeries.items():
            async with http.get(url, headers=headers) as response:
                assert response.status == 401, name
                assert (await response.json())["error"] == "unauthorized", name
        # The same request signed as the gateway signs it is accepted: the refusals above are
        # about the signature, not about the route.
        genuine = signed(running, alice, path, secret=real_secret)
        async with http.get(url, headers=genuine) as response:
            assert response.status == 200

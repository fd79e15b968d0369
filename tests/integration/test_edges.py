"""What a browser and a stray request meet at the gateway's edge, with the real processes."""

from __future__ import annotations

import gzip
import json
import secrets

from aiohttp import ClientSession

from tests.integration.client import Running, lines_for, user

FRONTEND = "http://localhost:3000"  # the default CORS_ALLOW_ORIGINS


async def test_a_preflight_from_an_allowed_origin_needs_no_token(running: Running) -> None:
    url = f"{running.stack.gateway_url}/api/{user('alice')}/tasks"
    preflight = {
        "Origin": FRONTEND,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with ClientSession() as http:
        async with http.options(url, headers=preflight) as response:
            assert response.status in {200, 204}
            assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
            assert "POST" in response.headers["Access-Control-Allow-Methods"]
        evil = {**preflight, "Origin": "https://evil.example"}
        async with http.options(url, headers=evil) as response:
            assert "Access-Control-Allow-Origin" not in response.headers


async def test_unknown_routes_stop_at_the_gateway(running: Running) -> None:
    alice = user("alice")
    async with ClientSession() as http:
        for path in (f"/api/{alice}/notes", "/admin", f"/api/{alice}", "/tasks"):
            request_id = f"it-{secrets.token_hex(8)}"
            headers = {**running.auth(alice), "X-Request-ID": request_id}
            async with http.get(running.stack.gateway_url + path, headers=headers) as response:
                assert response.status == 404, path
                assert (await response.json())["error"] == "not_found"
            assert lines_for(running.stack.gateway.log, request_id)
            assert lines_for(running.stack.backend.log, request_id, wait=0) == [], path


async def test_a_compressed_body_reaches_the_backend_as_sent(running: Running) -> None:
    """The gateway forwards the gzip bytes and their Content-Encoding; the backend decodes."""
    alice = user("alice")
    url = f"{running.stack.gateway_url}/api/{alice}/tasks"
    body = gzip.compress(json.dumps({"title": "sent compressed"}).encode())
    headers = {
        **running.auth(alice),
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    async with ClientSession() as http:
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 201, await response.text()
            assert (await response.json())["title"] == "sent compressed"
        headers["Content-Encoding"] = "br"  # not one the backend decodes
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 415
            assert (await response.json())["error"] == "unsupported_media_type"

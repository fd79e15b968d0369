"""The backend dies: the gateway says 502; the backend comes back: so does the service."""

from __future__ import annotations

from aiohttp import ClientSession

from tests.integration.client import Running, create, titles, user


async def test_backend_crash_gives_502_then_recovers_with_data_intact(running: Running) -> None:
    alice = user("alice")
    stack = running.stack
    async with ClientSession() as http:
        await create(http, running, alice, title="Survives a crash")
        stack.backend.kill()
        try:
            url = f"{stack.gateway_url}/api/{alice}/tasks"
            async with http.get(url, headers=running.auth(alice)) as response:
                assert response.status == 502
                body = await response.json()
                assert body["error"] == "upstream_unavailable"
                assert body["request_id"] == response.headers["X-Request-ID"]
            async with http.get(f"{stack.gateway_url}/readyz") as response:
                assert response.status == 503
            async with http.get(f"{stack.gateway_url}/healthz") as response:
                assert response.status == 200
        finally:
            stack.start_backend()
        assert await titles(http, running, alice) == ["Survives a crash"]
        async with http.get(f"{stack.gateway_url}/readyz") as response:
            assert response.status == 200

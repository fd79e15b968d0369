"""The whole Spec-1 task flow through the real gateway to the real backend, per user."""

from __future__ import annotations

from aiohttp import ClientSession

from tests.integration.client import Running, create, titles, user


async def test_the_whole_task_flow(running: Running) -> None:
    alice = user("alice")
    base = f"{running.stack.gateway_url}/api/{alice}/tasks"
    headers = running.auth(alice)
    async with ClientSession() as http:
        milk = await create(http, running, alice, title="  Buy milk  ", description="2 litres")
        assert (milk["title"], milk["description"], milk["completed"]) == (
            "Buy milk",
            "2 litres",
            False,
        )
        assert milk["user_id"] == alice
        bread = await create(http, running, alice, title="Bake bread")
        assert sorted(await titles(http, running, alice)) == ["Bake bread", "Buy milk"]

        async with http.get(f"{base}/{milk['id']}", headers=headers) as response:
            assert response.status == 200
            assert (await response.json())["title"] == "Buy milk"

        async with http.put(
            f"{base}/{milk['id']}", json={"title": "Buy oat milk"}, headers=headers
        ) as response:
            assert response.status == 200
            assert (await response.json())["title"] == "Buy oat milk"

        async with http.patch(f"{base}/{bread['id']}/complete", headers=headers) as response:
            assert response.status == 200
            assert (await response.json())["completed"] is True
        assert await titles(http, running, alice, "?status=completed") == ["Bake bread"]
        assert await titles(http, running, alice, "?status=pending") == ["Buy oat milk"]
        assert await titles(http, running, alice, "?sort=title") == ["Bake bread", "Buy oat milk"]

        async with http.patch(f"{base}/{bread['id']}/complete", headers=headers) as response:
            assert (await response.json())["completed"] is False

        async with http.delete(f"{base}/{milk['id']}", headers=headers) as response:
            assert response.status == 204
        async with http.get(f"{base}/{milk['id']}", headers=headers) as response:
            assert response.status == 404
            assert (await response.json())["error"] == "not_found"
        assert await titles(http, running, alice) == ["Bake bread"]


async def test_a_user_cannot_reach_another_users_tasks(running: Running) -> None:
    alice, bob = user("alice"), user("bob")
    gateway = running.stack.gateway_url
    async with ClientSession() as http:
        task = await create(http, running, alice, title="Alice's secret")

        # Alice's token on Bob's path: refused by the gateway.
        async with http.get(f"{gateway}/api/{bob}/tasks", headers=running.auth(alice)) as response:
            assert response.status == 403
            assert (await response.json())["error"] == "forbidden"

        # Bob on his own path with Alice's task id: indistinguishable from a missing task.
        own = f"{gateway}/api/{bob}/tasks/{task['id']}"
        for method in ("GET", "PUT", "DELETE"):
            body = {"title": "mine now"} if method == "PUT" else None
            async with http.request(method, own, json=body, headers=running.auth(bob)) as response:
                assert response.status == 404, method
        async with http.patch(f"{own}/complete", headers=running.auth(bob)) as response:
            assert response.status == 404

        assert await titles(http, running, bob) == []
        assert await titles(http, running, alice) == ["Alice's secret"]


async def test_requests_without_a_valid_token_are_refused(running: Running) -> None:
    alice = user("alice")
    url = f"{running.stack.gateway_url}/api/{alice}/tasks"
    async with ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 401
            assert (await response.json())["error"] == "unauthorized"
        token = running.issuer.token(alice)
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        async with http.get(url, headers={"Authorization": f"Bearer {tampered}"}) as response:
            assert response.status == 401
            assert "invalid_token" in response.headers["WWW-Authenticate"]

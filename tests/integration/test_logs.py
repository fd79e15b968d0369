"""One JSON line per request from each service, joined by request id, never carrying secrets."""

from __future__ import annotations

import re
import secrets

from aiohttp import ClientSession

from tests.integration.client import Running, lines_for, user

SIGNATURE = re.compile(r"v1=[0-9a-f]{64}")


async def test_access_lines_correlate_and_carry_no_secret(running: Running) -> None:
    alice = user("alice")
    token = running.issuer.token(alice)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    ok_id, refused_id = f"it-{secrets.token_hex(8)}", f"it-{secrets.token_hex(8)}"
    url = f"{running.stack.gateway_url}/api/{alice}/tasks"
    async with ClientSession() as http:
        headers = {"Authorization": f"Bearer {token}", "X-Request-ID": ok_id}
        async with http.get(url, headers=headers) as response:
            assert response.status == 200
            assert response.headers["X-Request-ID"] == ok_id
        headers = {"Authorization": f"Bearer {forged}", "X-Request-ID": refused_id}
        async with http.get(url, headers=headers) as response:
            assert response.status == 401

    gateway_log, backend_log = running.stack.gateway.log, running.stack.backend.log
    [gateway_line] = lines_for(gateway_log, ok_id)
    assert [gateway_line[key] for key in ("status", "auth", "user_id")] == [200, "ok", alice]
    [backend_line] = lines_for(backend_log, ok_id)
    assert (backend_line["status"], backend_line["user_id"]) == (200, alice)
    [refused_line] = lines_for(gateway_log, refused_id)
    assert refused_line["status"] == 401
    assert refused_line["auth"] == "bad_signature"
    # A refused request never reaches the backend (had it, the backend would have logged it
    # before answering, so before the gateway answered us).
    assert lines_for(backend_log, refused_id, wait=0) == []

    everything = gateway_log.read_text() + backend_log.read_text()
    for secret in (token, forged, running.stack.identity_secret, *running.issuer.env.values()):
        if not secret.startswith("http"):
            assert secret not in everything
    assert SIGNATURE.search(everything) is None

"""One access line per request with the gateway's fields; no token, secret or signature."""

from __future__ import annotations

from tests.gateway.conftest import IDENTITY_SECRET, TOKEN_SECRET, Stack, make_token


async def test_access_lines_carry_fields_but_no_secrets(
    stack: Stack, logs: list[dict[str, object]]
) -> None:
    good = make_token("alice")
    forged = make_token("alice", secret="x" * 40)
    await stack.client.get("/api/alice/tasks", headers={"Authorization": f"Bearer {good}"})
    await stack.client.get("/api/alice/tasks", headers={"Authorization": f"Bearer {forged}"})
    await stack.client.get("/api/bob/tasks", headers={"Authorization": f"Bearer {good}"})
    requests = [entry for entry in logs if entry["event"] == "request"]
    assert [entry["status"] for entry in requests] == [200, 401, 403]
    ok, refused, forbidden = requests
    assert ok["route"] == "tasks"
    assert ok["auth"] == "ok"
    assert ok["user_id"] == "alice"
    assert isinstance(ok["upstream_ms"], float)
    assert refused["auth"] == "bad_signature"
    assert forbidden["user_id"] == "alice"
    signature = stack.recorder.seen[0].headers["X-Gateway-Signature"]
    text = repr(logs)
    for secret in (good, forged, TOKEN_SECRET, IDENTITY_SECRET, signature, "Bearer"):
        assert secret not in text

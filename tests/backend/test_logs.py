"""One access line per request, with the request's facts and never a secret or signature."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from service_plumbing.logs import configure_logging
from tests.backend.conftest import SECRET, Api, identity_headers


@pytest.fixture(autouse=True)
def uncached_logging() -> Iterator[None]:
    configure_logging("info", cache=False)
    yield
    structlog.reset_defaults()


async def test_one_access_line_per_request_and_no_secrets(sqlite_api: Api) -> None:
    signed = identity_headers("POST", "/api/alice/tasks", "alice", request_id="req-log-1")
    with capture_logs() as logs:
        created = await sqlite_api.call(
            "POST", "/api/alice/tasks", json={"title": "logged"}, headers=signed, signed=False
        )
        forged = identity_headers("GET", "/api/alice/tasks", "alice", secret=b"w" * 32)
        await sqlite_api.call("GET", "/api/alice/tasks", headers=forged, signed=False)
        await sqlite_api.call("GET", "/healthz", signed=False)
    assert created.status == 201
    assert [line["event"] for line in logs] == ["request"] * 3
    ok, refused, health = logs
    assert ok["request_id"] == "req-log-1"
    assert ok["user_id"] == "alice"
    assert (ok["method"], ok["path"], ok["status"]) == ("POST", "/api/alice/tasks", 201)
    assert isinstance(ok["duration_ms"], float)
    assert (refused["status"], refused["reason"]) == (401, "bad_signature")
    assert "user_id" not in refused
    assert health["status"] == 200
    text = repr(logs)
    for secret in (SECRET.decode(), signed["X-Gateway-Signature"], forged["X-Gateway-Signature"]):
        assert secret not in text
    assert signed["X-Gateway-Signature"][3:] not in text

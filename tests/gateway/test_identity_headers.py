"""Identity headers a client sends never reach the upstream, whatever their spelling."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from gateway.forward.headers import is_identity_header
from tests.gateway.conftest import Stack, bearer, raw_request

SPOOFED = [
    ("X-User-Id", "bob"),
    ("x-user-id", "bob"),
    ("X_User_Id", "bob"),
    ("x_user_id", "bob"),
    ("X-USER-ID", "bob"),
    ("X-User-Email", "bob@example.com"),
    ("x-user-role", "admin"),
    ("X_User_Role", "admin"),
    ("X-Gateway-Signature", "v1=" + "0" * 64),
    ("X-Gateway-Timestamp", "1"),
    ("x_gateway_signature", "v1=" + "0" * 64),
]


@pytest.mark.parametrize(("name", "value"), SPOOFED)
async def test_each_spoofed_header_is_stripped_on_protected_routes(
    stack: Stack, name: str, value: str
) -> None:
    response = await stack.client.get(
        "/api/alice/tasks", headers=CIMultiDict([*bearer("alice").items(), (name, value)])
    )
    assert response.status == 200
    [seen] = stack.recorder.seen
    assert seen.headers.getall("X-User-Id") == ["alice"]
    assert len(seen.headers.getall("X-Gateway-Signature")) == 1
    assert seen.headers["X-Gateway-Signature"] != "v1=" + "0" * 64
    assert seen.headers["X-Gateway-Timestamp"] != "1"
    assert value not in seen.headers.values()
    assert not [key for key in seen.headers if key.lower().replace("_", "-") != key.lower()]


async def test_duplicates_and_mixed_spellings_all_go(stack: Stack) -> None:
    headers = CIMultiDict(bearer("alice"))
    for name, value in SPOOFED:
        headers.add(name, value)
        headers.add(name, value + "2")
    response = await stack.client.get("/api/alice/tasks", headers=headers)
    assert response.status == 200
    [seen] = stack.recorder.seen
    identity = {k.lower(): v for k, v in seen.headers.items() if k.lower().startswith("x-user")}
    assert identity == {"x-user-id": "alice"}


async def test_spoofed_headers_are_stripped_on_public_routes_too(stack: Stack) -> None:
    head = (
        "GET /api/auth/session HTTP/1.1\nHost: x\nX_User_Id: bob\nX-User-Id: bob\n"
        "X-Gateway-Signature: v1=00\nConnection: close\n\n"
    )
    status, _ = await raw_request(stack.client, head)
    assert status == 200
    [seen] = stack.recorder.seen
    assert not [key for key in seen.headers if is_identity_header(key) and key != "X-Request-ID"]


async def test_client_request_id_is_kept_only_when_well_formed(stack: Stack) -> None:
    good = await stack.client.get(
        "/api/alice/tasks", headers={**bearer("alice"), "X-Request-ID": "abc-123"}
    )
    assert good.headers["X-Request-ID"] == "abc-123"
    bad = await stack.client.get(
        "/api/alice/tasks", headers={**bearer("alice"), "X-Request-ID": "bad id!"}
    )
    assert bad.headers["X-Request-ID"] != "bad id!"
    assert [seen.headers["X-Request-ID"] for seen in stack.recorder.seen] == [
        "abc-123",
        bad.headers["X-Request-ID"],
    ]


@pytest.mark.parametrize(
    "name", ["X-User-Id", "x_user_id", "X-User-Anything", "X-Gateway-Timestamp", "X_Request_Id"]
)
def test_folded_names_are_identity_headers(name: str) -> None:
    assert is_identity_header(name)


@pytest.mark.parametrize("name", ["X-Username", "X-Userid-Hint", "User-Agent", "Authorization"])
def test_other_names_are_not(name: str) -> None:
    assert not is_identity_header(name)

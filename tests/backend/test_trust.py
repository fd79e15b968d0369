"""The backend trusts only a fresh identity signed with the gateway's secret."""

from __future__ import annotations

import time

import pytest

from backend.identity import SIGNATURE_HEADER, TIMESTAMP_HEADER, USER_ID_HEADER
from tests.backend.conftest import OLD_SECRET, Api, identity_headers
from tests.backend.test_tasks import error_of

LIST = "/api/alice/tasks"


async def refused(api: Api, headers: dict[str, str], path: str = LIST, method: str = "GET") -> str:
    response = await api.call(method, path, headers=headers, signed=False)
    body = await error_of(response, 401, "unauthorized")
    signature = headers.get(SIGNATURE_HEADER, "")
    assert not signature or signature not in await response.text()
    return str(body["message"])


async def test_a_correctly_signed_request_is_served(sqlite_api: Api) -> None:
    response = await sqlite_api.call("GET", LIST, headers=identity_headers("GET", LIST, "alice"))
    assert response.status == 200


@pytest.mark.parametrize("missing", [USER_ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER])
async def test_each_missing_header_is_refused(sqlite_api: Api, missing: str) -> None:
    headers = identity_headers("GET", LIST, "alice")
    del headers[missing]
    await refused(sqlite_api, headers)


async def test_no_identity_at_all_is_refused_everywhere_but_healthz(sqlite_api: Api) -> None:
    await refused(sqlite_api, {})
    await refused(sqlite_api, {}, path="/api/alice/tasks/1", method="DELETE")
    await refused(sqlite_api, {}, path="/anything")
    assert (await sqlite_api.call("GET", "/healthz", signed=False)).status == 200


async def test_tampered_user_is_refused(sqlite_api: Api) -> None:
    headers = identity_headers("GET", "/api/bob/tasks", "alice") | {USER_ID_HEADER: "bob"}
    await refused(sqlite_api, headers, path="/api/bob/tasks")


async def test_tampered_path_is_refused(sqlite_api: Api) -> None:
    headers = identity_headers("GET", LIST, "alice")
    await refused(sqlite_api, headers, path=LIST + "?status=completed")
    await refused(sqlite_api, headers, path="/api/alice/tasks/1")


async def test_tampered_method_is_refused(sqlite_api: Api) -> None:
    await sqlite_api.create(title="keep me")
    headers = identity_headers("GET", "/api/alice/tasks/1", "alice")
    await refused(sqlite_api, headers, path="/api/alice/tasks/1", method="DELETE")
    response = await sqlite_api.call("GET", "/api/alice/tasks/1")
    assert response.status == 200


async def test_tampered_timestamp_is_refused(sqlite_api: Api) -> None:
    headers = identity_headers("GET", LIST, "alice")
    headers[TIMESTAMP_HEADER] = str(int(headers[TIMESTAMP_HEADER]) - 1)
    await refused(sqlite_api, headers)


async def test_tampered_request_id_is_refused(sqlite_api: Api) -> None:
    headers = identity_headers("GET", LIST, "alice", request_id="one") | {"X-Request-ID": "two"}
    await refused(sqlite_api, headers)


@pytest.mark.parametrize("age", [-31, 31, 3600, -3600])
async def test_stale_or_future_signatures_are_refused(sqlite_api: Api, age: int) -> None:
    headers = identity_headers("GET", LIST, "alice", timestamp=int(time.time()) - age)
    message = await refused(sqlite_api, headers)
    assert "fresh" in message


async def test_a_signature_within_the_window_is_accepted(sqlite_api: Api) -> None:
    headers = identity_headers("GET", LIST, "alice", timestamp=int(time.time()) - 20)
    response = await sqlite_api.call("GET", LIST, headers=headers, signed=False)
    assert response.status == 200


async def test_a_wrong_secret_is_refused(sqlite_api: Api) -> None:
    headers = identity_headers("GET", LIST, "alice", secret=b"not-the-gateway-secret-at-all-0123")
    await refused(sqlite_api, headers)


async def test_a_rotated_previous_secret_is_still_accepted(sqlite_api: Api) -> None:
    headers = identity_headers("GET", LIST, "alice", secret=OLD_SECRET)
    response = await sqlite_api.call("GET", LIST, headers=headers, signed=False)
    assert response.status == 200


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (SIGNATURE_HEADER, "garbage"),
        (SIGNATURE_HEADER, "v1=" + "z" * 64),
        (SIGNATURE_HEADER, "v1=" + "A" * 64),
        (SIGNATURE_HEADER, ""),
        (TIMESTAMP_HEADER, "soon"),
        (TIMESTAMP_HEADER, "1e9"),
        (TIMESTAMP_HEADER, ""),
        (USER_ID_HEADER, ""),
    ],
)
async def test_malformed_headers_are_refused(sqlite_api: Api, header: str, value: str) -> None:
    await refused(sqlite_api, identity_headers("GET", LIST, "alice") | {header: value})


async def test_a_repeated_identity_header_is_refused(sqlite_api: Api) -> None:
    from multidict import CIMultiDict

    headers = CIMultiDict(identity_headers("GET", LIST, "alice"))
    headers.add(USER_ID_HEADER, "bob")
    response = await sqlite_api.client.get(LIST, headers=headers)
    await error_of(response, 401, "unauthorized")


async def test_a_path_user_other_than_the_signed_user_is_forbidden(sqlite_api: Api) -> None:
    await sqlite_api.create(user="bob", title="bob's")
    for method, path in (
        ("GET", "/api/bob/tasks"),
        ("GET", "/api/bob/tasks/1"),
        ("DELETE", "/api/bob/tasks/1"),
        ("PATCH", "/api/bob/tasks/1/complete"),
    ):
        headers = identity_headers(method, path, "alice")
        response = await sqlite_api.call(method, path, headers=headers, signed=False)
        await error_of(response, 403, "forbidden")
    response = await sqlite_api.call("GET", "/api/bob/tasks/1", user="bob")
    assert (await response.json())["completed"] is False


async def test_a_percent_encoded_path_user_is_compared_decoded(sqlite_api: Api) -> None:
    path = "/api/al%20ice/tasks"
    response = await sqlite_api.call(
        "GET", path, headers=identity_headers("GET", path, "al ice"), signed=False
    )
    assert response.status == 200
    other = identity_headers("GET", path, "al%20ice")
    await error_of(
        await sqlite_api.call("GET", path, headers=other, signed=False), 403, "forbidden"
    )

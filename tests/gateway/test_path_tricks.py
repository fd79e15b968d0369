"""No spelling of a path lets alice reach bob's data; the path checked is the path sent."""

from __future__ import annotations

import pytest

from gateway.routing.paths import canonical_path, canonical_target
from service_plumbing.errors import ApiError
from tests.gateway.conftest import Stack, make_token, raw_request

TRICKS = [
    "/api/alice/../bob/tasks",
    "/api/alice/tasks/../../bob/tasks",
    "/api/alice/%2e%2e/bob/tasks",
    "/api/alice/%2E%2E/bob/tasks",
    "/api/alice/.%2e/bob/tasks",
    "/api/alice/tasks/%2e%2e/%2e%2e/bob/tasks",
    "/api/alice%2Fbob/tasks",
    "/api/alice%2fbob/tasks",
    "/api/alice%2F..%2Fbob/tasks",
    "/api/alice%5c..%5cbob/tasks",
    "/api/alice/tasks/..%2F..%2Fbob%2Ftasks",
    "/api//bob/tasks",
    "//api/bob/tasks",
    "/api/bob;x=alice/tasks",
    "/api/alice;jsessionid=1/../bob/tasks",
    "/api/alice/tasks;/../../bob/tasks",
    "/api/bob%00alice/tasks",
    "/api/alice%00/../bob/tasks",
    "/api/alice/tasks/%252e%252e/%252e%252e/bob/tasks",
    "/api/alice\\..\\bob/tasks",
    "/API/bob/TASKS",
    "/Api/bob/tasks",
    "/api/BOB/tasks",
    "/api/bob/tasks",
    "/api/%62ob/tasks",
    "/api/./bob/tasks",
    "/api/alice/./../bob/tasks",
    "/api/bob/tasks/../../alice/tasks",
    "/api/alice/tasks/%2e%2e%2f%2e%2e%2fbob",
    "/api/alice/tasks/..;/..;/bob/tasks",
    "/api/alice%C0%AF../bob/tasks",
    "/api/b\u00f6b/tasks",
    "/api/alice/tasks?x=/../../bob/tasks#frag",
]


@pytest.mark.parametrize("path", TRICKS)
async def test_alice_never_reaches_bob(stack: Stack, path: str) -> None:
    token = make_token("alice")
    head = (
        f"GET {path} HTTP/1.1\nHost: gateway\nAuthorization: Bearer {token}\nConnection: close\n\n"
    )
    status, _ = await raw_request(stack.client, head)
    assert status in (400, 403, 404), status
    for seen in stack.recorder.seen:
        assert "bob" not in seen.raw_path.lower()
        assert "%62" not in seen.raw_path.lower()


async def test_forwarded_path_is_the_canonical_one(stack: Stack) -> None:
    token = make_token("alice")
    head = (
        "GET /api/%61lice/tasks/%7e1%3a?q=%2e%2e HTTP/1.1\nHost: g\n"
        f"Authorization: Bearer {token}\nConnection: close\n\n"
    )
    status, _ = await raw_request(stack.client, head)
    assert status == 200
    assert stack.recorder.paths() == ["/api/alice/tasks/~1%3A?q=%2e%2e"]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/", "/"),
        ("/api/alice/tasks", "/api/alice/tasks"),
        ("/api/alice/tasks/", "/api/alice/tasks/"),
        ("/api/%61%6C%69%63%65/tasks", "/api/alice/tasks"),
        ("/a/%7e%7E", "/a/~~"),
        ("/a/%3a%40", "/a/%3A%40"),
        ("/a/b@c:d", "/a/b@c:d"),
    ],
)
def test_canonical_forms(raw: str, canonical: str) -> None:
    assert canonical_path(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "/a/../b",
        "/a/./b",
        "/a/%2e",
        "/a//b",
        "/a/%2F",
        "/a/%5C",
        "/a/%00",
        "/a/%25",
        "/a/%3B",
        "/a;b",
        "/a/%zz",
        "/a/%4",
        "/a\\b",
        "/a b",
        "/caf\u00e9",
        "/a\x00b",
    ],
)
def test_refused_forms(raw: str) -> None:
    with pytest.raises(ApiError) as caught:
        canonical_path(raw)
    assert caught.value.status == 400


@pytest.mark.parametrize("target", ["http://evil/api/alice/tasks", "*", "api/alice/tasks"])
def test_non_origin_form_targets_are_refused(target: str) -> None:
    with pytest.raises(ApiError):
        canonical_target(target)


def test_query_with_fragment_or_space_is_refused() -> None:
    with pytest.raises(ApiError):
        canonical_target("/a?b#c")
    assert canonical_target("/a?b=%20&c").path_qs == "/a?b=%20&c"
    assert canonical_target("/a?").path_qs == "/a"

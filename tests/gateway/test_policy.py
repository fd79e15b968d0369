"""Route templates and matching, without HTTP."""

from __future__ import annotations

import pytest

from gateway.config import RouteSettings
from gateway.path_template import parse_template
from gateway.routing.policy import Policy, check_bindings
from service_plumbing.errors import ApiError

ROUTES = (
    RouteSettings(
        name="health", path="/healthz", methods=("GET",), auth="public", respond="healthz"
    ),
    RouteSettings(name="auth", path="/api/auth/{rest...}", auth="public", upstream="a"),
    RouteSettings(
        name="tasks",
        path="/api/{user_id}/tasks",
        methods=("GET", "POST"),
        upstream="b",
        bindings=(("user_id", "user"),),
    ),
    RouteSettings(
        name="task",
        path="/api/{user_id}/tasks/{rest...}",
        upstream="b",
        bindings=(("user_id", "user"), ("user_id", "tenant")),
    ),
)
POLICY = Policy(ROUTES)


@pytest.mark.parametrize(
    ("method", "path", "route", "params"),
    [
        ("GET", "/healthz", "health", {}),
        ("HEAD", "/healthz", "health", {}),
        ("POST", "/api/auth/sign-in/email", "auth", {"rest": "sign-in/email"}),
        ("GET", "/api/alice/tasks", "tasks", {"user_id": "alice"}),
        ("DELETE", "/api/alice/tasks/7", "task", {"user_id": "alice", "rest": "7"}),
        (
            "PATCH",
            "/api/alice/tasks/7/complete",
            "task",
            {"user_id": "alice", "rest": "7/complete"},
        ),
    ],
)
def test_first_matching_route_wins(
    method: str, path: str, route: str, params: dict[str, str]
) -> None:
    match = POLICY.match(method, path)
    assert match.route.name == route
    assert dict(match.params) == params


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/healthz"),
        ("DELETE", "/api/alice/tasks"),
        ("GET", "/api/auth"),
        ("GET", "/api/alice/tasks/"),
        ("GET", "/API/alice/tasks"),
        ("GET", "/healthz/"),
    ],
)
def test_unmatched_is_404(method: str, path: str) -> None:
    with pytest.raises(ApiError) as caught:
        POLICY.match(method, path)
    assert caught.value.status == 404


def test_bindings_compare_decoded_parameter_with_user_and_claims() -> None:
    match = POLICY.match("GET", "/api/al%7Cice/tasks/1")
    check_bindings(match, "al|ice", {"tenant": "al|ice"})
    with pytest.raises(ApiError) as caught:
        check_bindings(match, "al|ice", {"tenant": "bob"})
    assert caught.value.status == 403
    with pytest.raises(ApiError):
        check_bindings(match, "al|ice", {})
    with pytest.raises(ApiError):
        check_bindings(POLICY.match("GET", "/api/alice/tasks"), "Alice", {})


@pytest.mark.parametrize(
    "template",
    ["api/x", "/a/{1x}", "/a/{x}/{x}", "/a/{rest...}/b", "/a/../b", "/a/b c", "/a/{x"],
)
def test_bad_templates_are_refused(template: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_template(template)


@pytest.mark.parametrize("length", [10, 300])  # remembered, and too long to remember
def test_resolve_answers_a_repeated_request_line_the_same_way(length: int) -> None:
    policy = Policy(ROUTES)
    raw = "/api/alice/tasks/" + "7" * length + "?q=%7E"
    first_target, first_match = policy.resolve("PATCH", raw)
    again_target, again_match = policy.resolve("PATCH", raw)
    assert first_target == again_target
    assert first_target.path_qs == raw
    assert again_match.route.name == first_match.route.name == "task"
    assert again_match.params["rest"] == "7" * length


@pytest.mark.parametrize(
    ("method", "raw", "status"),
    [("GET", "/api/alice/../bob/tasks", 400), ("TRACE", "/api/alice/tasks", 404)],
)
def test_resolve_refuses_a_repeated_bad_request_line_every_time(
    method: str, raw: str, status: int
) -> None:
    policy = Policy(ROUTES)
    for _ in range(2):
        with pytest.raises(ApiError) as refused:
            policy.resolve(method, raw)
        assert refused.value.status == status


def test_resolve_keeps_methods_apart() -> None:
    policy = Policy(ROUTES)
    assert policy.resolve("GET", "/healthz")[1].route.name == "health"
    with pytest.raises(ApiError) as refused:
        policy.resolve("POST", "/healthz")
    assert refused.value.status == 404

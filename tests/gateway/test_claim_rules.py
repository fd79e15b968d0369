"""Claim rules per route: exact matches, 403 naming the rule, hostile claims, --check problems."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.claim_rules import ClaimRule
from gateway.config import ConfigError
from gateway.routing.paths import decode_segment
from gateway.routing.policy import check_claim_rules
from service_plumbing.errors import ApiError
from tests.gateway.conftest import StackFactory, bearer, default_config, gateway_env, settings_for

ADMIN = ClaimRule("admins_only", "role", "equals", values=("admin",))
WRITE = ClaimRule("can_write", "scope", "contains", values=("tasks:write",))
PLAN = ClaimRule("paid_plan", "plan", "one_of", values=("pro", "enterprise"))
LEVEL = ClaimRule("level_3", "level", "equals", values=(3,))
VERIFIED = ClaimRule("verified", "email_verified", "equals", values=(True,))
ORG = ClaimRule("own_org", "org_id", "equals_param", param="org")


def holds(rule: ClaimRule, claims: dict[str, Any], params: dict[str, str] | None = None) -> bool:
    text = decode_segment((params or {})[rule.param]) if rule.param else None
    return rule.holds(claims, text)


@pytest.mark.parametrize(
    ("rule", "claims"),
    [
        (ADMIN, {"role": "admin"}),
        (WRITE, {"scope": ["tasks:read", "tasks:write"]}),
        (WRITE, {"scope": "tasks:read tasks:write"}),  # RFC 8693: space-separated string
        (PLAN, {"plan": "enterprise"}),
        (LEVEL, {"level": 3}),
        (VERIFIED, {"email_verified": True}),
    ],
)
def test_rules_that_hold(rule: ClaimRule, claims: dict[str, Any]) -> None:
    assert holds(rule, claims)


@pytest.mark.parametrize(
    ("rule", "claims"),
    [
        (ADMIN, {}),  # missing
        (ADMIN, {"role": None}),
        (ADMIN, {"role": ["admin"]}),  # an array is not its element
        (ADMIN, {"role": {"admin": True}}),
        (ADMIN, {"role": "Admin"}),  # no case folding
        (ADMIN, {"role": "admin "}),
        (ADMIN, {"role": "\u0430dmin"}),  # Cyrillic a
        (ADMIN, {"role": "\uff41\uff44\uff4d\uff49\uff4e"}),  # full-width, NFKC-equal
        (ADMIN, {"role": "adm\u0131n"}),  # dotless i
        (ADMIN, {"role": "admin\u200b"}),  # zero-width space
        (ADMIN, {"role": "a\u0301dmin"}),  # combining accent
        (WRITE, {"scope": "tasks:writer"}),
        (WRITE, {"scope": "tasks:read,tasks:write"}),
        (WRITE, {"scope": "tasks:read\ttasks:write"}),  # only U+0020 separates scopes
        (WRITE, {"scope": ["tasks:read tasks:write"]}),  # an element is not split
        (WRITE, {"scope": ["tasks\uff1awrite"]}),  # full-width colon
        (WRITE, {"scope": 1}),
        (PLAN, {"plan": "free"}),
        (PLAN, {"plan": ["pro"]}),
        (LEVEL, {"level": "3"}),
        (LEVEL, {"level": 3.0}),
        (VERIFIED, {"email_verified": 1}),  # JSON 1 is not true
        (VERIFIED, {"email_verified": "true"}),
        (LEVEL, {"level": True}),
    ],
)
def test_rules_that_fail(rule: ClaimRule, claims: dict[str, Any]) -> None:
    assert not holds(rule, claims)


def test_a_path_parameter_rule_compares_the_decoded_segment_exactly() -> None:
    assert holds(ORG, {"org_id": "acme"}, {"org": "acme"})
    assert holds(ORG, {"org_id": "caf\u00e9"}, {"org": "caf%C3%A9"})
    assert not holds(ORG, {"org_id": "cafe\u0301"}, {"org": "caf%C3%A9"})  # NFD vs NFC
    assert not holds(ORG, {"org_id": "acme"}, {"org": "ACME"})
    assert not holds(ORG, {"org_id": ["acme"]}, {"org": "acme"})
    assert not holds(ORG, {}, {"org": "acme"})


def test_the_refusal_names_the_rule_never_the_value() -> None:
    with pytest.raises(ApiError) as raised:
        check_claim_rules((WRITE, ADMIN), {"scope": "tasks:write", "role": "r00t"}, {})
    assert raised.value.status == 403
    assert raised.value.code == "forbidden"
    assert "admins_only" in raised.value.message
    assert "r00t" not in raised.value.message


def admin_routes(config: dict[str, Any]) -> None:
    config["routes"].insert(
        2,
        {
            "name": "org_admin",
            "path": "/api/orgs/{org}/{rest...}",
            "auth": "required",
            "upstream": "backend",
            "claims": [
                {"name": "admins_only", "claim": "role", "equals": "admin"},
                {"claim": "scope", "contains": "tasks:write"},
                {"name": "own_org", "claim": "org_id", "equals_param": "org"},
            ],
        },
    )


async def test_claim_rules_through_the_gateway(make_stack: StackFactory) -> None:
    stack = await make_stack(admin_routes)
    good = {"role": "admin", "scope": "tasks:write", "org_id": "acme"}
    async with stack.client.get("/api/orgs/acme/x", headers=bearer(**good)) as response:
        assert response.status == 200
    accented = bearer(**{**good, "org_id": "caf\u00e9"})  # the path parameter, percent-decoded
    async with stack.client.get("/api/orgs/caf%C3%A9/x", headers=accented) as response:
        assert response.status == 200
    cases = [
        ({**good, "role": "\u0430dmin"}, "admins_only"),
        ({**good, "scope": ["tasks:read"]}, "scope_contains"),
        ({**good, "org_id": "other"}, "own_org"),
    ]
    for claims, rule in cases:
        async with stack.client.get("/api/orgs/acme/x", headers=bearer(**claims)) as response:
            body = orjson.loads(await response.read())
            assert response.status == 403
            assert body["error"] == "forbidden"
            assert body["message"] == f'claim rule "{rule}" is not met'
    assert stack.recorder.paths() == ["/api/orgs/acme/x", "/api/orgs/caf%C3%A9/x"]


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ([{"claim": "role", "matches": "adm.*"}], "routes[2].claims[0].matches: unknown key"),
        ([{"claim": "role"}], "routes[2].claims[0]: needs exactly one of"),
        ([{"claim": "role", "equals": "a", "one_of": ["a"]}], "needs exactly one of"),
        ([{"claim": "org_id", "equals_param": "tenant"}], "the path has no parameter {tenant}"),
        ([{"claim": "role", "equals": 1.5}], "values must be strings, integers or booleans"),
        ([{"claim": "role", "equals": ["admin"]}], "values must be strings"),
        ([{"claim": "role", "one_of": "admin"}], "expected a non-empty list"),
        ([{"claim": "role", "one_of": []}], "expected a non-empty list"),
        ([{"equals": "admin"}], "routes[2].claims[0].claim: expected the name of a claim"),
        ([{"name": "bad name!", "claim": "r", "equals": "a"}], "claims[0].name: expected 1-64"),
        ({"claim": "role"}, "routes[2].claims: expected a list"),
    ],
)
def test_check_names_each_bad_rule(rules: Any, problem: str) -> None:
    config = default_config()
    admin_routes(config)
    config["routes"][2]["claims"] = rules
    with pytest.raises(ConfigError) as raised:
        settings_for(config, gateway_env())
    assert any(problem in item for item in raised.value.problems), raised.value.problems


def test_claim_rules_need_a_protected_route() -> None:
    config = default_config()
    admin_routes(config)
    config["routes"][2]["auth"] = "public"
    with pytest.raises(ConfigError) as raised:
        settings_for(config, gateway_env())
    assert "routes[2].claims: claim rules need `auth: required`" in raised.value.problems

"""Claim rules on a route: what a verified token's claims must say before it is forwarded.

    claims:
      - {name: admins_only, claim: role, equals: admin}
      - {name: paid_plan, claim: plan, one_of: [pro, enterprise]}
      - {name: can_write, claim: scope, contains: "tasks:write"}
      - {name: own_org, claim: org_id, equals_param: org_id}

Comparison is exact: same JSON type and the same code points (no case folding, no Unicode
normalisation, so a Cyrillic or full-width look-alike of "a" never passes for "a"). `contains` holds
for an array claim with an equal element, and for a string claim read as a space-separated
list of tokens (RFC 8693's `scope`). `gateway.routing.policy.check_claim_rules` answers a
failed rule with a 403 naming the rule, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = ("equals", "one_of", "contains", "equals_param")
Scalar = str | int | bool
_RULE_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True, slots=True)
class ClaimRule:
    name: str
    claim: str
    operator: str  # one of OPERATORS
    values: tuple[Scalar, ...] = ()  # equals and contains: one; one_of: several
    param: str = ""  # equals_param: the path parameter

    def holds(self, claims: Mapping[str, Any], param_text: str | None = None) -> bool:
        """`param_text`: for `equals_param`, the path parameter's percent-decoded text."""
        if self.claim not in claims:
            return False
        actual = claims[self.claim]
        if self.operator == "contains":
            return _contains(actual, self.values[0])
        if self.operator == "equals_param":
            return type(actual) is str and actual == param_text
        return any(_same(actual, value) for value in self.values)


def _same(actual: Any, expected: Scalar) -> bool:
    # `type is`, not isinstance: JSON true must not equal 1, nor 1.0 equal 1.
    return type(actual) is type(expected) and actual == expected


def _contains(actual: Any, expected: Scalar) -> bool:
    if type(actual) is list:
        return any(_same(item, expected) for item in actual)
    if type(actual) is str and type(expected) is str:
        return expected in actual.split(" ")
    return False


def parse_claim_rules(raw: Any, params: tuple[str, ...]) -> tuple[ClaimRule, ...]:
    """A route's `claims:` list; `params` are its path template's parameters. ValueError
    names the first problem by its place (`[0].matches: unknown key`)."""
    if not isinstance(raw, list | tuple):
        raise ValueError("expected a list of rules")
    return tuple(_parse_rule(item, f"[{index}]", params) for index, item in enumerate(raw))


def _parse_rule(item: Any, at: str, params: tuple[str, ...]) -> ClaimRule:
    if isinstance(item, ClaimRule):
        return item
    if not isinstance(item, dict):
        raise ValueError(f"{at}: expected a mapping")
    for key in item:
        if key not in (*OPERATORS, "name", "claim"):
            raise ValueError(f"{at}.{key}: unknown key")
    claim = item.get("claim")
    if not isinstance(claim, str) or not claim:
        raise ValueError(f"{at}.claim: expected the name of a claim")
    operators = [name for name in OPERATORS if name in item]
    if len(operators) != 1:
        raise ValueError(f"{at}: needs exactly one of {', '.join(OPERATORS)}")
    operator = operators[0]
    name = item.get("name", f"{claim}_{operator}")
    if not isinstance(name, str) or not _RULE_NAME.fullmatch(name):
        raise ValueError(f"{at}.name: expected 1-64 letters, digits or _ . : -")
    return _build(
        ClaimRule(str(name), str(claim), operator), item[operator], f"{at}.{operator}", params
    )


def _build(rule: ClaimRule, raw: Any, at: str, params: tuple[str, ...]) -> ClaimRule:
    if rule.operator == "equals_param":
        if not isinstance(raw, str) or raw not in params:
            raise ValueError(f"{at}: the path has no parameter {{{raw}}}")
        return ClaimRule(rule.name, rule.claim, rule.operator, param=str(raw))
    values = raw if rule.operator == "one_of" else [raw]
    if rule.operator == "one_of" and (not isinstance(values, list) or not values):
        raise ValueError(f"{at}: expected a non-empty list of values")
    for value in values:
        if not isinstance(value, str | int):
            raise ValueError(f"{at}: values must be strings, integers or booleans")
    scalars = tuple(str(v) if isinstance(v, str) else v for v in values)
    return ClaimRule(rule.name, rule.claim, rule.operator, values=scalars)

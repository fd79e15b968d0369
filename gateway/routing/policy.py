"""Route policy: ordered routes, compiled once, matched against the canonical path.

A template is a path of literal segments, `{name}` (one segment) and a final `{name...}`
(one or more segments). The first route whose template and method match decides: answered by
the gateway (`respond`), or forwarded to an upstream, `public` or `required`, with bindings
that tie a path parameter to the verified token (`{user_id}` must equal the token's user).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gateway.claim_rules import ClaimRule
from gateway.path_template import Template, parse_template
from gateway.ratelimit.limiter import RouteQuota, route_quota
from gateway.ratelimit.settings import RateLimitSettings
from gateway.routing.paths import Target, canonical_target, decode_segment
from service_plumbing.errors import ApiError

if TYPE_CHECKING:
    from gateway.config import RouteSettings

# A binding's value: `user` is the verified user id; anything else names a string claim.
USER = "user"
# A route without `methods` takes every method but these: TRACE/TRACK echo the request
# (cookies included) back to the caller, CONNECT asks for a tunnel. A route must name them.
_NEVER_IMPLIED = frozenset({"TRACE", "TRACK", "CONNECT"})
# Resolved request lines remembered, and the longest target remembered.
_RESOLVED_ENTRIES = 4096
_RESOLVED_TARGET_CHARS = 256


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    template: Template
    methods: frozenset[str] | None  # None: every method
    auth_required: bool
    upstream: str | None
    respond: str | None
    bindings: tuple[tuple[str, str], ...]
    forward_authorization: bool
    claim_rules: tuple[ClaimRule, ...] = ()
    limit: RouteQuota | None = None  # None: not rate limited

    def allows(self, method: str) -> bool:
        if self.methods is None:
            return method not in _NEVER_IMPLIED
        return method in self.methods


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    params: Mapping[str, str]


def compile_route(settings: RouteSettings, rate_limits: RateLimitSettings | None = None) -> Route:
    methods = frozenset(settings.methods) if settings.methods else None
    if methods is not None and "GET" in methods:
        methods |= {"HEAD"}
    return Route(
        name=settings.name,
        template=parse_template(settings.path),
        methods=methods,
        auth_required=settings.auth == "required",
        upstream=settings.upstream,
        respond=settings.respond,
        bindings=settings.bindings,
        forward_authorization=settings.forward_authorization,
        claim_rules=settings.claims,
        limit=_route_limit(settings, rate_limits),
    )


def _route_limit(
    settings: RouteSettings, rate_limits: RateLimitSettings | None
) -> RouteQuota | None:
    if rate_limits is None or settings.upstream is None:
        return None
    auth_required = settings.auth == "required"
    return route_quota(rate_limits, settings.name, auth_required, settings.rate_limit)


class Policy:
    """The ordered, compiled routes of one gateway."""

    def __init__(
        self, routes: Sequence[RouteSettings], rate_limits: RateLimitSettings | None = None
    ) -> None:
        self.routes = tuple(compile_route(route, rate_limits) for route in routes)
        # A repeat of a recent request line skips canonicalisation and matching (a pure
        # function of the two; refusals raise, so they are never cached).
        self._resolve_cached = lru_cache(maxsize=_RESOLVED_ENTRIES)(self._resolve)

    def resolve(self, method: str, raw_target: str) -> tuple[Target, Match]:
        """The canonical target and the route it matches; 400 for a target that is not
        canonical or unambiguous, 404 when no route matches."""
        if len(raw_target) > _RESOLVED_TARGET_CHARS:  # keep the cache's memory small
            return self._resolve(method, raw_target)
        return self._resolve_cached(method, raw_target)

    def _resolve(self, method: str, raw_target: str) -> tuple[Target, Match]:
        target = canonical_target(raw_target)
        return target, self.match(method, target.path)

    def match(self, method: str, path: str) -> Match:
        for route in self.routes:
            found = route.template.pattern.fullmatch(path)
            if found is not None and route.allows(method):
                # Read-only: a remembered Match is shared by every request on that line.
                return Match(route, MappingProxyType(found.groupdict()))
        raise ApiError(404, "no such route", reason="no_route")


def check_bindings(match: Match, user_id: str, claims: Mapping[str, Any]) -> None:
    """Raise 403 unless every bound path parameter equals its claim."""
    for param, claim in match.route.bindings:
        expected = user_id if claim == USER else claims.get(claim)
        if not isinstance(expected, str) or decode_segment(match.params[param]) != expected:
            raise ApiError(403, "this token may not access this resource", reason="forbidden")


def check_claim_rules(
    rules: tuple[ClaimRule, ...], claims: Mapping[str, Any], params: Mapping[str, str]
) -> None:
    """Raise 403 naming the first rule that does not hold (never a claim's value)."""
    for rule in rules:
        text = decode_segment(params[rule.param]) if rule.param else None
        if not rule.holds(claims, text):
            raise ApiError(403, f'claim rule "{rule.name}" is not met', reason="claim_rule")

"""The gateway's one request handler: canonical path -> route -> token -> binding -> forward.

Each step lives in its own module; this one only puts them in order. There is deliberately
one handler and no extra middleware layer: the hot path is benchmarked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.auth.errors import MISSING_TOKEN, UNSUPPORTED_SCHEME, AuthError
from gateway.auth.extract import bearer_token
from gateway.auth.verifier import TokenVerifier, VerifiedToken
from gateway.cors import Cors
from gateway.forward.proxy import Proxy
from gateway.health import Health
from gateway.ratelimit.limiter import RateLimiter
from gateway.request_context import Exchange
from gateway.routing.policy import Policy, check_bindings, check_claim_rules
from gateway.signature import REQUEST_ID_HEADER, IdentitySigner
from service_plumbing.errors import ApiError

REALM = "todo-gateway"
# Refusals where no token was presented: RFC 6750 says no `error` attribute then.
_NO_TOKEN = frozenset({MISSING_TOKEN, UNSUPPORTED_SCHEME})


@dataclass(frozen=True, slots=True)
class Gateway:
    policy: Policy
    verifier: TokenVerifier
    proxy: Proxy
    cors: Cors
    health: Health
    signer: IdentitySigner
    max_token_bytes: int
    limiter: RateLimiter

    async def handle(self, request: web.BaseRequest, exchange: Exchange) -> web.StreamResponse:
        if self.cors.allowed_preflight(request):
            return self.cors.preflight(request)
        method = request.method
        target, match = self.policy.resolve(method, request.raw_path)
        route = match.route
        exchange.fields["route"] = route.name
        if route.upstream is None:
            return await self.health.respond(route.respond or "", exchange.request_id)
        forwarded = self.proxy.upstream_target(route.upstream, target.path_qs)
        token = None
        if route.auth_required:
            token = await self._authenticate(request, exchange.fields)
            check_bindings(match, token.user_id, token.claims)
        if route.limit is not None:
            user_id = None if token is None else token.user_id
            await self.limiter.check(request, route.limit, user_id)
        if route.claim_rules and token is not None:
            check_claim_rules(route.claim_rules, token.claims, match.params)
        headers = self.proxy.request_headers(
            request, forward_authorization=route.forward_authorization
        )
        if token is None:
            headers.append((REQUEST_ID_HEADER, exchange.request_id))
        else:  # the signed identity carries the request id too
            headers += self.signer.headers(
                method=method,
                path_qs=forwarded,
                user_id=token.user_id,
                request_id=exchange.request_id,
            )
        return await self.proxy.forward(request, route.upstream, forwarded, headers, exchange)

    async def _authenticate(
        self, request: web.BaseRequest, fields: dict[str, Any]
    ) -> VerifiedToken:
        try:
            token = bearer_token(request.headers, max_bytes=self.max_token_bytes)
            verified = self.verifier.cached(token) or await self.verifier.verify(token)
        except AuthError as error:
            fields["auth"] = error.reason
            raise ApiError(
                401, error.message, headers={"WWW-Authenticate": challenge(error)}
            ) from None
        fields["auth"] = "ok"
        fields["user_id"] = verified.user_id
        return verified


def challenge(error: AuthError) -> str:
    """The RFC 6750 `WWW-Authenticate` value for a refused token."""
    if error.reason in _NO_TOKEN:
        return f'Bearer realm="{REALM}"'
    description = error.message.replace("\\", "").replace('"', "'")
    return f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'

"""Trust only the gateway: verify the signed identity before any handler runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from backend.identity import IdentityRejected, verify_identity
from service_plumbing.errors import ApiError
from service_plumbing.handlers import Handler
from service_plumbing.request_context import EXCHANGE

VERIFIED_USER = web.RequestKey("verified_user", str)
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})


def verified_user(request: web.Request) -> str:
    """The user id the trust middleware verified for this request."""
    user_id: str | None = request.get(VERIFIED_USER)
    if user_id is None:
        raise ApiError(401, "the request carries no signed identity", reason="missing_identity")
    return user_id


def trust_middleware(
    *,
    secrets: Sequence[bytes],
    max_age_seconds: float,
    clock: Callable[[], float] = time.time,
) -> Any:
    """401 unless the identity headers are signed with one of `secrets` and fresh; 403 when
    the path's `{user_id}` is not the signed user."""
    secrets = tuple(secrets)

    @web.middleware
    async def trust(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS:
            return await handler(request)
        user_id = _verify(request, secrets, max_age_seconds, clock())
        request[EXCHANGE].fields["user_id"] = user_id
        path_user = request.match_info.get("user_id")
        if path_user is not None and path_user != user_id:
            raise ApiError(403, "the path names another user", reason="user_mismatch")
        request[VERIFIED_USER] = user_id
        return await handler(request)

    return trust


def _verify(
    request: web.Request, secrets: tuple[bytes, ...], max_age_seconds: float, now: float
) -> str:
    try:
        return verify_identity(
            secrets,
            request.headers.items(),
            method=request.method,
            path_qs=request.raw_path,
            now=now,
            max_age_seconds=max_age_seconds,
        )
    except IdentityRejected as error:
        raise ApiError(401, error.message, reason=error.reason) from None

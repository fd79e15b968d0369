"""Take the bearer token out of the request headers (RFC 6750 section 2.1)."""

from __future__ import annotations

import re

from multidict import MultiMapping

from gateway.auth.errors import (
    MALFORMED_TOKEN,
    MISSING_TOKEN,
    MULTIPLE_AUTHORIZATION,
    TOKEN_TOO_LARGE,
    UNSUPPORTED_SCHEME,
    AuthError,
)

# RFC 6750 b64token; a JWT uses a subset of it (base64url segments joined by dots).
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def bearer_token(headers: MultiMapping[str], *, max_bytes: int) -> str:
    """The token of the single `Authorization: Bearer <token>` header, or AuthError."""
    values = headers.getall("Authorization", ())
    if not values:
        raise AuthError(MISSING_TOKEN)
    if len(values) > 1:
        raise AuthError(MULTIPLE_AUTHORIZATION)
    scheme, _, token = values[0].strip(" \t").partition(" ")
    if not scheme:
        raise AuthError(MALFORMED_TOKEN, "the Authorization header is empty")
    if scheme.lower() != "bearer":
        raise AuthError(UNSUPPORTED_SCHEME)
    token = token.strip(" ")
    if not token:
        raise AuthError(MALFORMED_TOKEN, "the bearer token is empty")
    if len(token) > max_bytes:
        raise AuthError(TOKEN_TOO_LARGE)
    if _B64TOKEN.fullmatch(token) is None:
        raise AuthError(MALFORMED_TOKEN, "the bearer token contains invalid characters")
    return token

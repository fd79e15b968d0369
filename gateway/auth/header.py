"""Read a compact JWS's protected header, refusing what RFC 8725 says never to trust.

Only `alg` and `kid` are needed to choose a key; the signature is checked afterwards by PyJWT,
which parses the header again itself, so nothing read here is trusted beyond key selection.
"""

from __future__ import annotations

import base64
import binascii
import re

import orjson

from gateway.auth.errors import FORBIDDEN_HEADER, MALFORMED_TOKEN, AuthError

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")

# Header parameters that name or carry a key (RFC 8725 section 3.10), or demand an extension
# we do not implement (RFC 7515 section 4.1.11). A token that has any of them is refused.
FORBIDDEN_PARAMETERS = frozenset({"jku", "jwk", "x5u", "x5c", "crit", "b64"})


def read_header(token: str) -> tuple[str, str | None]:
    """The token's `alg` and `kid` (None when absent); AuthError when it is not a JWS."""
    first = token.find(".")
    if first <= 0 or token.count(".") != 2:
        raise AuthError(MALFORMED_TOKEN, "the token must have three segments")
    segment = token[:first]
    if len(segment) % 4 == 1 or _SEGMENT.fullmatch(segment) is None:
        raise AuthError(MALFORMED_TOKEN, "the token header is not base64url")
    try:
        header = orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        raise AuthError(MALFORMED_TOKEN, "the token header is not JSON") from None
    if not isinstance(header, dict):
        raise AuthError(MALFORMED_TOKEN, "the token header is not a JSON object")
    if not FORBIDDEN_PARAMETERS.isdisjoint(header):
        raise AuthError(FORBIDDEN_HEADER)
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise AuthError(MALFORMED_TOKEN, "the token header has no algorithm")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise AuthError(MALFORMED_TOKEN, "the token's key id is not a string")
    return alg, kid

"""Check a verified payload's registered claims and pick out the user id."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.auth.errors import (
    BAD_AUDIENCE,
    BAD_ISSUER,
    BAD_SUBJECT,
    EXPIRED,
    MALFORMED_TOKEN,
    MISSING_EXPIRY,
    MISSING_SUBJECT,
    NOT_YET_VALID,
    AuthError,
)

# The user id travels on in an HTTP header and a URL path: printable ASCII, no spaces.
_USER_ID = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True, slots=True)
class ClaimRules:
    """What a payload must satisfy for one key source."""

    user_claim: str
    leeway: float
    issuer: str | None = None
    audiences: frozenset[str] = frozenset()


def check_claims(payload: dict[str, Any], rules: ClaimRules, now: float) -> tuple[str, float]:
    """The user id and `exp` of a payload that passes `rules` at time `now`, or AuthError."""
    exp = _numeric_date(payload, "exp")
    if exp is None:
        raise AuthError(MISSING_EXPIRY)
    if exp <= now - rules.leeway:
        raise AuthError(EXPIRED)
    for name in ("nbf", "iat"):
        value = _numeric_date(payload, name)
        if value is not None and value > now + rules.leeway:
            raise AuthError(NOT_YET_VALID)
    if rules.issuer is not None and payload.get("iss") != rules.issuer:
        raise AuthError(BAD_ISSUER)
    if rules.audiences and not _audience_matches(payload.get("aud"), rules.audiences):
        raise AuthError(BAD_AUDIENCE)
    return _user_id(payload.get(rules.user_claim)), exp


def _numeric_date(payload: dict[str, Any], name: str) -> float | None:
    value = payload.get(name)
    if value is None:
        return None
    # bool is an int subclass, and a string is not a NumericDate (RFC 7519 section 2).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError(MALFORMED_TOKEN, f"the {name} claim is not a number")
    return float(value)


def _audience_matches(aud: Any, audiences: frozenset[str]) -> bool:
    if isinstance(aud, str):
        return aud in audiences
    if isinstance(aud, list):
        return any(isinstance(item, str) and item in audiences for item in aud)
    return False


def _user_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise AuthError(MISSING_SUBJECT)
    if _USER_ID.fullmatch(value) is None:
        raise AuthError(BAD_SUBJECT)
    return value

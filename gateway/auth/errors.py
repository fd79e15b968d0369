"""The one error token authentication raises, with a stable reason code per refusal."""

from __future__ import annotations

# Stable reason codes for the access line (`auth=`); clients get the message, never the code.
MISSING_TOKEN = "missing_token"  # noqa: S105 (a reason code, not a secret)
MULTIPLE_AUTHORIZATION = "multiple_authorization"
UNSUPPORTED_SCHEME = "unsupported_scheme"
MALFORMED_TOKEN = "malformed_token"  # noqa: S105 (a reason code, not a secret)
TOKEN_TOO_LARGE = "token_too_large"  # noqa: S105 (a reason code, not a secret)
ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
FORBIDDEN_HEADER = "forbidden_header"
UNKNOWN_KID = "unknown_kid"
BAD_SIGNATURE = "bad_signature"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
MISSING_EXPIRY = "missing_expiry"
BAD_ISSUER = "bad_issuer"
BAD_AUDIENCE = "bad_audience"
MISSING_SUBJECT = "missing_subject"
BAD_SUBJECT = "bad_subject"

# The default human text per reason; short, safe for a client, never the token itself.
MESSAGES: dict[str, str] = {
    MISSING_TOKEN: "a bearer token is required",
    MULTIPLE_AUTHORIZATION: "more than one Authorization header",
    UNSUPPORTED_SCHEME: "the Authorization scheme must be Bearer",
    MALFORMED_TOKEN: "the token is malformed",
    TOKEN_TOO_LARGE: "the token is too large",
    ALGORITHM_NOT_ALLOWED: "the token's algorithm is not allowed",
    FORBIDDEN_HEADER: "the token carries a header parameter that is not accepted",
    UNKNOWN_KID: "the token's signing key is unknown",
    BAD_SIGNATURE: "the token's signature is invalid",
    EXPIRED: "the token has expired",
    NOT_YET_VALID: "the token is not valid yet",
    MISSING_EXPIRY: "the token has no expiry (exp)",
    BAD_ISSUER: "the token's issuer is not accepted",
    BAD_AUDIENCE: "the token's audience is not accepted",
    MISSING_SUBJECT: "the token has no user id",
    BAD_SUBJECT: "the token's user id is not acceptable",
}


class AuthError(Exception):
    """A refused credential: `reason` is a stable code, `message` safe text for the client."""

    __slots__ = ("message", "reason")

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        self.message = message if message is not None else MESSAGES.get(reason, reason)
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"AuthError({self.reason!r}, {self.message!r})"

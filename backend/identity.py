"""Verify the gateway's signed identity (protocol v1, documented in the README).

Written apart from the gateway's signer, with the standard library's `hmac` only, so that a
bug in one side cannot hide in the other: both are checked against
`protocol/identity-vectors.json`.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Sequence

USER_ID_HEADER = "X-User-Id"
TIMESTAMP_HEADER = "X-Gateway-Timestamp"
SIGNATURE_HEADER = "X-Gateway-Signature"
REQUEST_ID_HEADER = "X-Request-ID"
# Each must appear at most once: parsers disagree about which copy of a repeated header wins.
_IDENTITY_HEADERS = frozenset(
    name.lower() for name in (USER_ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, REQUEST_ID_HEADER)
)

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v1=[0-9a-f]{64}")


class IdentityRejected(Exception):
    """The identity headers are missing, malformed, wrongly signed or stale."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def canonical_string(
    timestamp: str, method: str, path_qs: str, user_id: str, request_id: str
) -> bytes:
    """The six fields the signature covers, joined by newlines; a field holding a line break
    would shift the others, so it is refused."""
    fields = ("v1", timestamp, method.upper(), path_qs, user_id, request_id)
    if any("\n" in field or "\r" in field for field in fields):
        raise IdentityRejected("malformed_identity", "the identity headers are malformed")
    try:
        return "\n".join(fields).encode("utf-8")
    except UnicodeEncodeError:  # a header value aiohttp could only decode with surrogates
        raise IdentityRejected("malformed_identity", "the identity headers are malformed") from None


def identity_fields(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The identity headers by lower-case name; a repeated one is refused."""
    found: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in _IDENTITY_HEADERS:
            if lower in found:
                raise IdentityRejected("repeated_identity", "identity headers must not repeat")
            found[lower] = value
    return found


def verify_identity(
    secrets: Sequence[bytes],
    headers: Iterable[tuple[str, str]],
    *,
    method: str,
    path_qs: str,
    now: float,
    max_age_seconds: float,
) -> str:
    """The verified user id, or `IdentityRejected`. Any of `secrets` is accepted (the first is
    current, the rest are being rotated out). `headers`: every header as received, in order."""
    fields = identity_fields(headers)
    user_id = fields.get("x-user-id")
    timestamp = fields.get("x-gateway-timestamp")
    presented = fields.get("x-gateway-signature")
    if not user_id or timestamp is None or presented is None:
        raise IdentityRejected("missing_identity", "the request carries no signed identity")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise IdentityRejected("malformed_timestamp", "the identity timestamp is malformed")
    if abs(now - int(timestamp)) > max_age_seconds:
        raise IdentityRejected("stale_signature", "the identity signature is not fresh")
    if not _SIGNATURE.fullmatch(presented):
        raise IdentityRejected("malformed_signature", "the identity signature is malformed")
    message = canonical_string(timestamp, method, path_qs, user_id, fields.get("x-request-id", ""))
    # Every secret is tried, so the time taken does not tell which one matched.
    matched = False
    for secret in secrets:
        expected = "v1=" + hmac.new(secret, message, "sha256").hexdigest()
        matched |= hmac.compare_digest(presented.encode("ascii"), expected.encode("ascii"))
    if not matched:
        raise IdentityRejected("bad_signature", "the identity signature does not match")
    return user_id

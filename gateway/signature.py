"""The gateway's side of the signed-identity protocol (v1): the canonical string and the
signature headers. The README documents the format; the backend verifies it with its own code,
and `protocol/identity-vectors.json` checks both sides.
"""

from __future__ import annotations

import hmac
import time

VERSION = "v1"
USER_ID_HEADER = "X-User-Id"
TIMESTAMP_HEADER = "X-Gateway-Timestamp"
SIGNATURE_HEADER = "X-Gateway-Signature"
REQUEST_ID_HEADER = "X-Request-ID"

_SIGNATURE_PREFIX = VERSION + "="
_FIELD_BREAKS = 5


def canonical_string(
    timestamp: int, method: str, path_qs: str, user_id: str, request_id: str
) -> bytes:
    """`v1`, timestamp, METHOD, path with query, user id, request id, joined by newlines."""
    text = f"{VERSION}\n{timestamp}\n{method.upper()}\n{path_qs}\n{user_id}\n{request_id}"
    # Exactly the five joins: a field holding a line break would shift the others.
    if text.count("\n") != _FIELD_BREAKS or "\r" in text:
        raise ValueError("identity fields must not contain line breaks")
    return text.encode("utf-8")


class IdentitySigner:
    """Signs identities with one secret: HMAC-SHA256 by the standard library's `hmac`. The
    keyed context is made once and copied per request, which costs less than a one-shot
    `hmac.digest` that hashes the key again every time."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: bytes) -> None:
        self._keyed = hmac.new(secret, digestmod="sha256")

    def signature(self, canonical: bytes) -> str:
        mac = self._keyed.copy()
        mac.update(canonical)
        return _SIGNATURE_PREFIX + mac.hexdigest()

    def headers(
        self,
        *,
        method: str,
        path_qs: str,
        user_id: str,
        request_id: str,
        timestamp: int | None = None,
    ) -> list[tuple[str, str]]:
        """The headers the gateway adds to an authenticated request, signed now (or at
        `timestamp`)."""
        if timestamp is None:
            timestamp = int(time.time())
        canonical = canonical_string(timestamp, method, path_qs, user_id, request_id)
        return [
            (USER_ID_HEADER, user_id),
            (TIMESTAMP_HEADER, str(timestamp)),
            (SIGNATURE_HEADER, self.signature(canonical)),
            (REQUEST_ID_HEADER, request_id),
        ]

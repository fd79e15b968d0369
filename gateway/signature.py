"""The gateway's side of the signed-identity protocol (v1): the canonical string and the
signature headers. The README documents the format; the backend verifies it with its own code,
and `protocol/identity-vectors.json` checks both sides.
"""

from __future__ import annotations

import hashlib
import time

VERSION = "v1"
USER_ID_HEADER = "X-User-Id"
TIMESTAMP_HEADER = "X-Gateway-Timestamp"
SIGNATURE_HEADER = "X-Gateway-Signature"
REQUEST_ID_HEADER = "X-Request-ID"

_SIGNATURE_PREFIX = VERSION + "="
_FIELD_BREAKS = 5
_BLOCK_SIZE = 64  # SHA-256's, in bytes
# RFC 2104's ipad and opad, as tables that XOR every key byte with 0x36 and 0x5C.
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


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
    """Signs identities with one secret: HMAC-SHA256 (RFC 2104) from the two padded-key
    hashes, made once. The same MAC as `hmac.new(secret, message, "sha256")` (tested against
    it) at half its cost per request: copying two SHA-256 states is cheaper than copying an
    OpenSSL HMAC context."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: bytes) -> None:
        key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK_SIZE else secret
        key = key.ljust(_BLOCK_SIZE, b"\0")
        self._inner = hashlib.sha256(key.translate(_INNER_PAD))
        self._outer = hashlib.sha256(key.translate(_OUTER_PAD))

    def signature(self, canonical: bytes) -> str:
        inner = self._inner.copy()
        inner.update(canonical)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return _SIGNATURE_PREFIX + outer.hexdigest()

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

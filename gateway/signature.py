"""The signed-identity protocol between the gateway and the backend.

This module is the only implementation of the canonical string: the gateway signs with it
(`IdentitySigner`) and the backend verifies with it (`verify_identity`). The README documents
the format so that a backend in another language can verify it too.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple

VERSION = "v1"
USER_ID_HEADER = "X-User-Id"
TIMESTAMP_HEADER = "X-Gateway-Timestamp"
SIGNATURE_HEADER = "X-Gateway-Signature"
REQUEST_ID_HEADER = "X-Request-ID"

_SIGNATURE_PREFIX = VERSION + "="
_HEX_DIGEST_LENGTH = 64
_FIELD_BREAKS = 5
_BLOCK_SIZE = 64  # SHA-256's, in bytes
# RFC 2104's ipad and opad, as tables that XOR every key byte with 0x36 and 0x5C.
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


class SignatureError(Exception):
    """The identity headers are missing, malformed, wrongly signed or stale."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class SignedRequest(NamedTuple):
    """What the signature binds: one request, one user, one moment. (Immutable, and cheaper
    to build per request than a frozen dataclass.)"""

    timestamp: int
    method: str
    path_qs: str
    user_id: str
    request_id: str


def canonical_string(request: SignedRequest) -> bytes:
    """`v1`, timestamp, METHOD, path with query, user id, request id, joined by newlines."""
    return _canonical(
        request.timestamp, request.method, request.path_qs, request.user_id, request.request_id
    )


def _canonical(timestamp: int, method: str, path_qs: str, user_id: str, request_id: str) -> bytes:
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
        canonical = _canonical(timestamp, method, path_qs, user_id, request_id)
        return [
            (USER_ID_HEADER, user_id),
            (TIMESTAMP_HEADER, str(timestamp)),
            (SIGNATURE_HEADER, self.signature(canonical)),
            (REQUEST_ID_HEADER, request_id),
        ]


def signature(secret: bytes, request: SignedRequest) -> str:
    return _signer(secret).signature(canonical_string(request))


@lru_cache(maxsize=8)
def _signer(secret: bytes) -> IdentitySigner:
    return IdentitySigner(secret)


def sign_identity(secret: bytes, request: SignedRequest) -> dict[str, str]:
    """The headers an authenticated request carries, signed at `request.timestamp`."""
    return dict(_signer(secret).headers(**request._asdict()))


def verify_identity(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    *,
    method: str,
    path_qs: str,
    now: float,
    max_age_seconds: float,
) -> str:
    """Return the verified user id, or raise `SignatureError`.

    Any secret in `secrets` is accepted (the first is current, the rest are being rotated out).
    """
    user_id = headers.get(USER_ID_HEADER)
    raw_timestamp = headers.get(TIMESTAMP_HEADER)
    raw_signature = headers.get(SIGNATURE_HEADER)
    if not user_id or raw_timestamp is None or raw_signature is None:
        raise SignatureError("missing_identity", "the request carries no signed identity")
    timestamp = _parse_timestamp(raw_timestamp)
    if abs(now - timestamp) > max_age_seconds:
        raise SignatureError("stale_signature", "the identity signature is not fresh")
    if not _well_formed_signature(raw_signature):
        raise SignatureError("malformed_signature", "the identity signature is malformed")
    request = SignedRequest(
        timestamp=timestamp,
        method=method,
        path_qs=path_qs,
        user_id=user_id,
        request_id=headers.get(REQUEST_ID_HEADER, ""),
    )
    try:
        expected = [signature(secret, request) for secret in secrets]
    except ValueError:
        raise SignatureError("malformed_identity", "the identity headers are malformed") from None
    presented = raw_signature.encode("ascii")
    # Compare against every secret so the time taken does not reveal which one matched.
    matches = [hmac.compare_digest(presented, candidate.encode("ascii")) for candidate in expected]
    if not any(matches):
        raise SignatureError("bad_signature", "the identity signature does not match")
    return user_id


def _parse_timestamp(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise SignatureError("malformed_timestamp", "the identity timestamp is malformed")
    return int(raw)


def _well_formed_signature(raw: str) -> bool:
    digest = raw.removeprefix(_SIGNATURE_PREFIX)
    return (
        raw.startswith(_SIGNATURE_PREFIX)
        and len(digest) == _HEX_DIGEST_LENGTH
        and all(char in "0123456789abcdef" for char in digest)
    )

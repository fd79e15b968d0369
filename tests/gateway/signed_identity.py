"""Checks, with the standard library's `hmac` and nothing from the backend, that a request the
gateway forwarded carries a fresh identity signed for a user."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping


def signed_user(secret: str, headers: Mapping[str, str], *, method: str, path_qs: str) -> str:
    """The user the headers are validly signed for (fails the test otherwise)."""
    user, stamp = headers["X-User-Id"], headers["X-Gateway-Timestamp"]
    assert abs(time.time() - int(stamp)) <= 30
    canonical = "\n".join(("v1", stamp, method, path_qs, user, headers.get("X-Request-ID", "")))
    digest = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    assert headers["X-Gateway-Signature"] == f"v1={digest}"
    return user

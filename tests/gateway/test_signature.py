"""The gateway's signer against the shared vectors, and its MAC against the standard library's
`hmac` for any secret length."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest

from gateway.signature import TIMESTAMP_HEADER, IdentitySigner, canonical_string
from tests.identity_vectors import cases


def _fields(case: dict[str, Any]) -> dict[str, Any]:
    names = ("method", "path_qs", "user_id", "request_id", "timestamp")
    return {name: case[name] for name in names}


@pytest.mark.parametrize("case", cases("valid"))
def test_a_valid_vector_is_signed_as_expected(case: dict[str, Any]) -> None:
    fields = _fields(case)
    canonical = canonical_string(**fields)
    assert canonical == case["canonical"].encode()
    secret = case["secret"].encode()
    assert dict(IdentitySigner(secret).headers(**fields)) == case["headers"]
    standard = hmac.new(secret, canonical, hashlib.sha256).hexdigest()
    assert case["headers"]["X-Gateway-Signature"] == "v1=" + standard


@pytest.mark.parametrize("case", cases("unsignable"))
def test_a_field_with_a_line_break_is_never_signed(case: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        IdentitySigner(b"s" * 32).headers(**_fields(case))


@pytest.mark.parametrize("secret_length", [1, 32, 63, 64, 65, 200])
def test_the_signer_computes_hmac_sha256_for_any_secret_length(secret_length: int) -> None:
    secret = bytes(range(256))[:secret_length]
    signer = IdentitySigner(secret)
    for path in ("/", "/api/alice/tasks?status=pending", "/api/" + "é" * 300):
        message = canonical_string(1767225600, "GET", path, "alice", "req-123")
        expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
        assert signer.signature(message) == "v1=" + expected


def test_the_signer_signs_now() -> None:
    before = int(time.time())
    signed = dict(
        IdentitySigner(b"s" * 32).headers(
            method="DELETE", path_qs="/api/bob/tasks/7", user_id="bob", request_id="r-9"
        )
    )
    assert before <= int(signed[TIMESTAMP_HEADER]) <= time.time()

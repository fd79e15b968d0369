"""The identity signature: one canonical string, pinned by a fixed vector."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from gateway.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    IdentitySigner,
    SignatureError,
    SignedRequest,
    canonical_string,
    sign_identity,
    verify_identity,
)

SECRET = b"0123456789abcdef0123456789abcdef"
REQUEST = SignedRequest(
    timestamp=1767225600,
    method="GET",
    path_qs="/api/alice/tasks?status=pending",
    user_id="alice",
    request_id="req-123",
)
EXPECTED_SIGNATURE = "v1=d32609475a949d4c1eb3dc8eff14ca98bc824d67ecd7774b1d651462eef65aea"


def test_canonical_string_is_fields_joined_by_newlines() -> None:
    assert canonical_string(REQUEST) == (
        b"v1\n1767225600\nGET\n/api/alice/tasks?status=pending\nalice\nreq-123"
    )


def test_known_vector() -> None:
    assert sign_identity(SECRET, REQUEST)[SIGNATURE_HEADER] == EXPECTED_SIGNATURE


def test_verifies_what_it_signed_with_any_rotated_secret() -> None:
    headers = sign_identity(SECRET, REQUEST)
    user = verify_identity(
        [b"n" * 32, SECRET],
        headers,
        method="GET",
        path_qs=REQUEST.path_qs,
        now=REQUEST.timestamp + 5,
        max_age_seconds=30,
    )
    assert user == "alice"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({SIGNATURE_HEADER: EXPECTED_SIGNATURE.replace("d3", "d4", 1)}, "bad_signature"),
        ({SIGNATURE_HEADER: "v2=" + "0" * 64}, "malformed_signature"),
        ({TIMESTAMP_HEADER: "-1"}, "malformed_timestamp"),
        ({TIMESTAMP_HEADER: str(REQUEST.timestamp - 31)}, "stale_signature"),
        ({"X-User-Id": "bob"}, "bad_signature"),
        ({"X-Request-ID": "req-124"}, "bad_signature"),
    ],
)
def test_tampering_is_refused(change: dict[str, str], reason: str) -> None:
    headers = sign_identity(SECRET, REQUEST) | change
    with pytest.raises(SignatureError) as refused:
        verify_identity(
            [SECRET],
            headers,
            method="GET",
            path_qs=REQUEST.path_qs,
            now=REQUEST.timestamp,
            max_age_seconds=30,
        )
    assert refused.value.reason == reason


def test_line_breaks_cannot_forge_fields() -> None:
    with pytest.raises(ValueError, match="line breaks"):
        canonical_string(
            SignedRequest(timestamp=1, method="GET", path_qs="/", user_id="a\nb", request_id="r")
        )


@pytest.mark.parametrize("secret_length", [1, 32, 63, 64, 65, 200])
def test_the_signer_computes_hmac_sha256_for_any_secret_length(secret_length: int) -> None:
    secret = bytes(range(256))[:secret_length]
    signer = IdentitySigner(secret)
    for path in ("/", "/api/alice/tasks?status=pending", "/api/" + "é" * 300):
        request = REQUEST._replace(path_qs=path)
        message = canonical_string(request)
        expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
        assert signer.signature(message) == "v1=" + expected
        signed = dict(
            signer.headers(
                method="GET",
                path_qs=path,
                user_id="alice",
                request_id="req-123",
                timestamp=REQUEST.timestamp,
            )
        )
        assert signed == sign_identity(secret, request)


def test_the_signer_signs_now_and_its_signature_verifies() -> None:
    before = int(time.time())
    signed = dict(
        IdentitySigner(SECRET).headers(
            method="DELETE", path_qs="/api/bob/tasks/7", user_id="bob", request_id="r-9"
        )
    )
    assert before <= int(signed[TIMESTAMP_HEADER]) <= time.time()
    user = verify_identity(
        [SECRET],
        signed,
        method="DELETE",
        path_qs="/api/bob/tasks/7",
        now=time.time(),
        max_age_seconds=30,
    )
    assert user == "bob"

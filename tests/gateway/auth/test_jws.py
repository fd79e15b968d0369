"""The PyJWT checker with the shared secret validated once."""

from __future__ import annotations

import jwt
import pytest

from gateway.auth.jws import ValidatedSecretHMAC, build_jws
from tests.gateway.auth.tokens import SECRET, claims, ed25519_key, hs256


def test_the_trusted_secret_skips_checks_but_other_keys_do_not() -> None:
    algorithm = ValidatedSecretHMAC("HS256", SECRET)
    pem = ed25519_key().public_pem()

    assert algorithm.prepare_key(SECRET) is SECRET
    with pytest.raises(jwt.InvalidKeyError):
        algorithm.prepare_key(pem)
    assert algorithm.check_key_length(b"short") is not None


def test_the_checker_verifies_hmac_only_with_the_secret() -> None:
    jws = build_jws(SECRET, {"HS256"})
    token = hs256(claims("alice"))

    assert b"alice" in jws.decode_complete(token, SECRET, ["HS256"])["payload"]
    with pytest.raises(jwt.InvalidSignatureError):
        jws.decode_complete(token, b"another-secret-0123456789abcdef-xyz", ["HS256"])
    with pytest.raises(jwt.InvalidAlgorithmError):
        build_jws(None, {"HS256"}).decode_complete(token, SECRET, ["HS256"])

"""The tuned PyJWT checker must accept and refuse exactly what PyJWT itself does."""

from __future__ import annotations

import itertools
import random

import jwt
import pytest

from gateway.auth.jws import CompiledJWS, ValidatedSecretHMAC, build_jws
from tests.gateway.auth.tokens import SECRET, claims, ed25519_key, hs256


def _outcome(decode: object, segment: bytes) -> bytes | str:
    try:
        return decode(segment, "x")  # type: ignore[operator, no-any-return]
    except jwt.DecodeError as error:
        return str(error)


def _corpus() -> list[bytes]:
    rng = random.Random(8725)
    alphabet = b"ABCxyz019-_=+/!. \x00\xff"
    short = [bytes(p) for n in range(6) for p in itertools.product(b"Az_-=+", repeat=n)]
    noisy = [bytes(rng.choices(alphabet, k=rng.randrange(0, 40))) for _ in range(3000)]
    real = [hs256(claims()).encode(), ed25519_key().sign(claims()).encode()]
    pieces = [piece for token in real for piece in token.split(b".")]
    return short + noisy + pieces + [p + b"=" for p in pieces] + [p + b"==" for p in pieces]


def test_base64url_rules_match_pyjwt_exactly() -> None:
    theirs = jwt.PyJWS._decode_base64url_segment
    ours = CompiledJWS._decode_base64url_segment
    corpus = _corpus()

    assert len(corpus) > 10_000
    for segment in corpus:
        assert _outcome(ours, segment) == _outcome(theirs, segment), segment


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

"""A table of hostile tokens; each must be refused with its own stable reason code."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from gateway.auth.errors import AuthError
from tests.gateway.auth.conftest import JwksServer, Keys, jwks_source, secret_source
from tests.gateway.auth.tokens import (
    DROP,
    SECRET,
    b64,
    claims,
    ec_key,
    ed25519_key,
    forge,
    hs256,
    rsa_key,
)

ATTACKER_ED = ed25519_key("ed-1")  # the victim's kid, another key
ATTACKER_RSA = rsa_key("ed-1")
ATTACKER_ES = ec_key("attacker-es", "ES256")

Build = Callable[[Keys, float], str]
# What an `error_description` may contain (RFC 6750 section 3): no quote, no backslash.
RFC6750_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")


def _none(alg: str, **header: Any) -> Build:
    return lambda k, now: forge({"alg": alg, **header}, claims(now=now))


def _with_signature_of(token: str, alg: str, kid: str) -> str:
    """The same signature under a header that claims another algorithm."""
    _, payload, signature = token.split(".")
    header = b64(json.dumps({"alg": alg, "kid": kid}).encode())
    return f"{header}.{payload}.{signature}"


def _tampered(k: Keys, now: float) -> str:
    header, _, signature = hs256(claims("alice", now=now)).split(".")
    return f"{header}.{b64(json.dumps(claims('admin', now=now)).encode())}.{signature}"


def _bad_payload_segment(k: Keys, now: float) -> str:
    header, _, signature = k.ed.sign(claims(now=now)).split(".")
    return f"{header}.eyJzdWIi*nope.{signature}"


CASES: list[tuple[str, Build, str, dict[str, Any]]] = [
    # alg none and friends
    ("alg-none", _none("none"), "algorithm_not_allowed", {}),
    ("alg-None", _none("None"), "algorithm_not_allowed", {}),
    ("alg-NONE", _none("NONE"), "algorithm_not_allowed", {}),
    ("alg-nOnE", _none("nOnE"), "algorithm_not_allowed", {}),
    ("alg-none-with-jwks-kid", _none("none", kid="ed-1"), "algorithm_not_allowed", {}),
    ("alg-empty", _none(""), "algorithm_not_allowed", {}),
    ("alg-missing", lambda k, now: forge({"kid": "ed-1"}, claims(now=now)), "malformed_token", {}),
    ("alg-not-configured-RS384", _none("RS384", kid="rs256-1"), "algorithm_not_allowed", {}),
    ("alg-ES256K", _none("ES256K", kid="es256-1"), "algorithm_not_allowed", {}),
    # HMAC "signed" with public key material: the algorithm-confusion attack
    (
        "hs256-keyed-with-public-pem",
        lambda k, now: hs256(claims(now=now), key=k.ed.public_pem()),
        "bad_signature",
        {},
    ),
    (
        "hs256-keyed-with-rsa-pem-naming-its-kid",
        lambda k, now: hs256(claims(now=now), key=k.rs256.public_pem(), kid="rs256-1"),
        "algorithm_not_allowed",
        {},
    ),
    (
        "hs256-keyed-with-public-jwk-json",
        lambda k, now: hs256(claims(now=now), key=json.dumps(k.ed.public_jwk()).encode()),
        "bad_signature",
        {},
    ),
    (
        "hs256-keyed-with-public-jwk-json-naming-its-kid",
        lambda k, now: hs256(
            claims(now=now), key=json.dumps(k.ed.public_jwk()).encode(), kid="ed-1"
        ),
        "algorithm_not_allowed",
        {},
    ),
    (
        "hs256-keyed-with-raw-public-bytes",
        lambda k, now: hs256(claims(now=now), key=k.ed.public_raw()),
        "bad_signature",
        {},
    ),
    (
        "hs256-with-the-real-secret-naming-a-jwks-kid",
        lambda k, now: hs256(claims(now=now), kid="es256-1"),
        "algorithm_not_allowed",
        {},
    ),
    (
        "hs256-without-a-secret-configured",
        lambda k, now: hs256(claims(now=now)),
        "algorithm_not_allowed",
        {"no_secret": True},
    ),
    # keys and kids
    (
        "same-kid-another-key",
        lambda k, now: ATTACKER_ED.sign(claims(now=now)),
        "bad_signature",
        {},
    ),
    (
        "kty-mismatch-rsa-token-for-an-okp-kid",
        lambda k, now: ATTACKER_RSA.sign(claims(now=now)),
        "algorithm_not_allowed",
        {},
    ),
    (
        "es256-token-claiming-rs256",
        lambda k, now: _with_signature_of(k.es256.sign(claims(now=now)), "RS256", "es256-1"),
        "algorithm_not_allowed",
        {},
    ),
    (
        "es512-token-claiming-es256",
        lambda k, now: _with_signature_of(k.es512.sign(claims(now=now)), "ES256", "es512-1"),
        "algorithm_not_allowed",
        {},
    ),
    (
        "rs256-token-claiming-ps256",
        lambda k, now: _with_signature_of(k.rs256.sign(claims(now=now)), "PS256", "rs256-1"),
        "algorithm_not_allowed",
        {},
    ),
    ("unknown-kid", lambda k, now: ATTACKER_ES.sign(claims(now=now)), "unknown_kid", {}),
    (
        "no-kid-among-several-keys",
        lambda k, now: k.ed.sign(claims(now=now), kid=None),
        "unknown_kid",
        {},
    ),
    ("kid-not-a-string", _none("EdDSA", kid=7), "malformed_token", {}),
    # headers that carry or point at keys: refused, nothing fetched
    (
        "embedded-jwk",
        lambda k, now: ATTACKER_ED.sign(claims(now=now), jwk=ATTACKER_ED.public_jwk()),
        "forbidden_header",
        {},
    ),
    (
        "jku",
        lambda k, now: ATTACKER_ED.sign(claims(now=now), jku="http://127.0.0.1:9/jwks"),
        "forbidden_header",
        {},
    ),
    (
        "x5u",
        lambda k, now: ATTACKER_ED.sign(claims(now=now), x5u="http://127.0.0.1:9/cert"),
        "forbidden_header",
        {},
    ),
    (
        "x5c",
        lambda k, now: ATTACKER_ED.sign(claims(now=now), x5c=["MIIBIjANBgkqhkiG9w0BAQEFAAOC"]),
        "forbidden_header",
        {},
    ),
    ("crit", _none("EdDSA", kid="ed-1", crit=["exp"], exp=1), "forbidden_header", {}),
    ("b64-false", _none("EdDSA", kid="ed-1", b64=False), "forbidden_header", {}),
    # signatures
    ("tampered-payload", _tampered, "bad_signature", {}),
    (
        "wrong-secret",
        lambda k, now: hs256(claims(now=now), key=b"x" * 64),
        "bad_signature",
        {},
    ),
    (
        "signature-truncated",
        lambda k, now: k.ed.sign(claims(now=now))[:-2],
        "bad_signature",
        {},
    ),
    (
        "signature-segment-missing",
        lambda k, now: k.ed.sign(claims(now=now)).rsplit(".", 1)[0],
        "malformed_token",
        {},
    ),
    (
        "signature-empty",
        lambda k, now: k.ed.sign(claims(now=now)).rsplit(".", 1)[0] + ".",
        "bad_signature",
        {},
    ),
    # structure
    ("empty-string", lambda k, now: "", "malformed_token", {}),
    ("huge", lambda k, now: hs256(claims(now=now, pad="x" * 9000)), "token_too_large", {}),
    (
        "header-not-base64",
        lambda k, now: "!!!." + hs256(claims(now=now)).split(".", 1)[1],
        "malformed_token",
        {},
    ),
    ("payload-not-base64", _bad_payload_segment, "malformed_token", {}),
    (
        "header-not-json",
        lambda k, now: forge(b"{alg: HS256", claims(now=now), hmac_key=SECRET),
        "malformed_token",
        {},
    ),
    ("header-json-array", lambda k, now: forge(["HS256"], claims(now=now)), "malformed_token", {}),
    ("payload-json-string", lambda k, now: hs256("just a string"), "malformed_token", {}),  # type: ignore[arg-type]
    ("payload-json-array", lambda k, now: hs256(["sub", "admin"]), "malformed_token", {}),  # type: ignore[arg-type]
    (
        "payload-not-json",
        lambda k, now: forge({"alg": "HS256"}, b"sub=admin", hmac_key=SECRET),
        "malformed_token",
        {},
    ),
    (
        "non-ascii-in-signature",
        lambda k, now: hs256(claims(now=now)) + "\u00e9",
        "malformed_token",
        {},
    ),
    (
        "lone-surrogate",
        lambda k, now: hs256(claims(now=now))[:-1] + "\udcff",
        "malformed_token",
        {},
    ),
    (
        "payload-nested-2000-deep",
        lambda k, now: forge({"alg": "HS256"}, b"[" * 2000 + b"]" * 2000, hmac_key=SECRET),
        "malformed_token",
        {},
    ),
    ("jwe-five-segments", lambda k, now: "a.b.c.d.e", "malformed_token", {}),
    # time
    ("missing-exp", lambda k, now: k.ed.sign(claims(now=now, exp=DROP)), "missing_expiry", {}),
    (
        "exp-a-string",
        lambda k, now: hs256(claims(now=now, exp=str(int(now) + 900))),
        "malformed_token",
        {},
    ),
    ("exp-a-bool", lambda k, now: hs256(claims(now=now, exp=True)), "malformed_token", {}),
    (
        "expired-beyond-leeway",
        lambda k, now: k.ed.sign(claims(now=now - 931, ttl=900)),
        "expired",
        {},
    ),
    (
        "expired-without-leeway",
        lambda k, now: k.ed.sign(claims(now=now - 905, ttl=900)),
        "expired",
        {"leeway_seconds": 0},
    ),
    (
        "nbf-beyond-leeway",
        lambda k, now: k.ed.sign(claims(now=now, nbf=int(now) + 60)),
        "not_yet_valid",
        {},
    ),
    (
        "nbf-without-leeway",
        lambda k, now: k.ed.sign(claims(now=now, nbf=int(now) + 10)),
        "not_yet_valid",
        {"leeway_seconds": 0},
    ),
    ("iat-in-the-future", lambda k, now: k.ed.sign(claims(now=now + 120)), "not_yet_valid", {}),
    # issuer and audience
    (
        "wrong-iss",
        lambda k, now: k.ed.sign(claims(now=now, iss="https://evil.test")),
        "bad_issuer",
        {},
    ),
    ("missing-iss", lambda k, now: k.ed.sign(claims(now=now, iss=DROP)), "bad_issuer", {}),
    (
        "iss-a-list",
        lambda k, now: hs256(claims(now=now, iss=["https://auth.example.test"])),
        "bad_issuer",
        {"secret_issuer": True},
    ),
    (
        "wrong-aud",
        lambda k, now: k.ed.sign(claims(now=now, aud="https://evil.test")),
        "bad_audience",
        {},
    ),
    (
        "aud-list-without-ours",
        lambda k, now: k.ed.sign(claims(now=now, aud=["a", "b"])),
        "bad_audience",
        {},
    ),
    ("missing-aud", lambda k, now: k.ed.sign(claims(now=now, aud=DROP)), "bad_audience", {}),
    (
        "hs256-wrong-iss-when-configured",
        lambda k, now: hs256(claims(now=now, iss="x")),
        "bad_issuer",
        {"secret_issuer": True},
    ),
    # the subject
    ("sub-missing", lambda k, now: k.ed.sign(claims(DROP, now=now)), "missing_subject", {}),
    ("sub-empty", lambda k, now: k.ed.sign(claims("", now=now)), "missing_subject", {}),
    ("sub-an-int", lambda k, now: k.ed.sign(claims(42, now=now)), "missing_subject", {}),
    ("sub-a-list", lambda k, now: k.ed.sign(claims(["alice"], now=now)), "missing_subject", {}),
    ("sub-null", lambda k, now: hs256(claims(None, now=now)), "missing_subject", {}),
    (
        "sub-header-injection",
        lambda k, now: hs256(claims("alice\r\nX-User-Id: admin", now=now)),
        "bad_subject",
        {},
    ),
    ("sub-with-a-space", lambda k, now: hs256(claims("alice admin", now=now)), "bad_subject", {}),
    ("sub-too-long", lambda k, now: hs256(claims("a" * 256, now=now)), "bad_subject", {}),
]


def test_the_table_is_large_and_distinct() -> None:
    names = [name for name, *_ in CASES]
    assert len(set(names)) == len(names) >= 30


@pytest.mark.parametrize(
    ("build", "reason", "options"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_hostile_token_is_refused_with_its_reason(
    build: Build,
    reason: str,
    options: dict[str, Any],
    keys: Keys,
    jwks_server: JwksServer,
    make_verifier: Any,
) -> None:
    options = dict(options)
    secret = None if options.pop("no_secret", False) else secret_source()
    if options.pop("secret_issuer", False):
        secret = secret_source(issuer="https://auth.example.test")
    verifier = await make_verifier(secret=secret, jwks=(jwks_source(jwks_server.url),), **options)
    token = build(keys, time.time())

    with pytest.raises(AuthError) as refused:
        await verifier.verify(token)

    assert refused.value.reason == reason
    assert token not in refused.value.message or not token
    assert RFC6750_DESCRIPTION.fullmatch(refused.value.message)


async def test_headers_naming_keys_make_nobody_fetch_anything(
    keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),))
    fetched = jwks_server.requests
    lure = jwks_server.url  # a real, counting JWKS endpoint that knows the attacker's key
    jwks_server.serve({"keys": [ATTACKER_ES.public_jwk()]})

    for header in ({"jku": lure}, {"x5u": lure}):
        with pytest.raises(AuthError, match="not accepted"):
            await verifier.verify(ATTACKER_ES.sign(claims(), **header))

    assert jwks_server.requests == fetched

"""Building verification keys from a JWKS document."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from jwt.algorithms import RSAAlgorithm

from gateway.auth.jwks import cache_max_age
from gateway.auth.keys import ASYMMETRIC, MAX_KEYS, JwksError, parse_jwks
from tests.gateway.auth.conftest import Keys


def parse(*entries: Any, algorithms: frozenset[str] = ASYMMETRIC) -> tuple[Any, list[str]]:
    return parse_jwks(orjson.dumps({"keys": list(entries)}), algorithms)


def test_a_jwk_is_bound_to_its_own_alg(keys: Keys) -> None:
    keyset, _ = parse(keys.es256.public_jwk(), keys.rs256.public_jwk(), keys.ed.public_jwk())

    assert {kid: [k.algorithm_name for k in ks] for kid, ks in keyset.by_kid.items()} == {
        "es256-1": ["ES256"],
        "rs256-1": ["RS256"],
        "ed-1": ["EdDSA"],
    }


def test_without_alg_the_key_type_decides(keys: Keys) -> None:
    keyset, _ = parse(
        keys.rs256.public_jwk(alg=None, kid="rsa"),
        keys.es512.public_jwk(alg=None, kid="p521"),
        keys.ed.public_jwk(alg=None, kid="okp"),
        algorithms=frozenset({"RS256", "PS256", "ES512", "EdDSA"}),
    )

    assert [k.algorithm_name for k in keyset.by_kid["rsa"]] == ["PS256", "RS256"]
    assert [k.algorithm_name for k in keyset.by_kid["p521"]] == ["ES512"]
    assert [k.algorithm_name for k in keyset.by_kid["okp"]] == ["EdDSA"]


def test_keys_for_algorithms_not_allowed_are_skipped(keys: Keys) -> None:
    keyset, skipped = parse(
        keys.es256.public_jwk(), keys.ed.public_jwk(), algorithms=frozenset({"EdDSA"})
    )

    assert list(keyset.by_kid) == ["ed-1"]
    assert skipped == ["keys[0]: no allowed algorithm for this key"]


def test_a_published_private_key_is_never_used(keys: Keys) -> None:
    private = RSAAlgorithm.to_jwk(keys.ps256.private, as_dict=True)
    private.update(kid="leaked", alg="PS256")
    private.pop("key_ops", None)

    keyset, skipped = parse(private, keys.ed.public_jwk())

    assert list(keyset.by_kid) == ["ed-1"]
    assert skipped == ["keys[0]: private key material"]


def test_a_curve_that_does_not_match_the_alg_is_skipped(keys: Keys) -> None:
    keyset, skipped = parse(keys.es512.public_jwk(alg="ES256"), keys.ed.public_jwk())

    assert list(keyset.by_kid) == ["ed-1"]
    assert skipped[0].startswith("keys[0]: cannot load the key")


def test_a_duplicate_kid_keeps_the_first(keys: Keys) -> None:
    keyset, skipped = parse(keys.ed.public_jwk(), keys.es256.public_jwk(kid="ed-1"))

    assert [k.algorithm_name for k in keyset.by_kid["ed-1"]] == ["EdDSA"]
    assert skipped == ["keys[1]: duplicate kid"]


def test_only_the_first_keys_of_a_huge_jwks_are_built(keys: Keys) -> None:
    many = [keys.ed.public_jwk(kid=f"k{i}") for i in range(MAX_KEYS + 10)]

    keyset, skipped = parse(*many)

    assert len(keyset) == MAX_KEYS
    assert skipped == [f"keys[{MAX_KEYS}:]: more than {MAX_KEYS} keys, the rest ignored"]


@pytest.mark.parametrize(
    "document",
    [b"<html>", b"[]", b'{"keys": "none"}', b'{"keys": []}', b'{"keys": [{"kty": "oct"}]}'],
)
def test_a_document_without_a_usable_key_is_an_error(document: bytes) -> None:
    with pytest.raises(JwksError):
        parse_jwks(document, ASYMMETRIC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("public", None),
        ("max-age=60", 60.0),
        ("Public, Max-Age=90", 90.0),
        ("s-maxage=10, max-age=70", 70.0),
        ("s-maxage=10", None),
        ("no-cache", 0.0),
        ("private, no-store", 0.0),
    ],
)
def test_cache_control_max_age(header: str | None, expected: float | None) -> None:
    assert cache_max_age(header) == expected

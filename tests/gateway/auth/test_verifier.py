"""Tokens that must verify, and what the verifier hands back for them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gateway.auth.errors import AuthError
from gateway.auth.settings import AuthSettings, JwksKeySource, SecretKeySource
from gateway.auth.verifier import TokenVerifier, VerifiedToken
from tests.gateway.auth.conftest import JwksServer, Keys, jwks_source, secret_source
from tests.gateway.auth.tokens import ISSUER, SECRET, claims, ed25519_key, hs256, jwks


async def test_a_better_auth_token_verifies(
    keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),))
    # Better Auth: EdDSA, header {alg, kid} without typ; JWKS entry with alg and kid, no use.
    token = keys.ed.sign(claims("usr_8f2k"))
    assert "use" not in keys.ed.public_jwk()

    verified = await verifier.verify(token)

    assert verified == VerifiedToken(
        user_id="usr_8f2k", claims=verified.claims, expires_at=verified.expires_at
    )
    assert verified.claims["email"] == "ada@example.test"
    assert verified.expires_at == verified.claims["exp"]


@pytest.mark.parametrize("name", ["ed", "es256", "es512", "rs256", "ps256"])
async def test_every_asymmetric_algorithm_verifies(
    name: str, keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),))
    key = getattr(keys, name)

    verified = await verifier.verify(key.sign(claims(f"user-{name}")))

    assert verified.user_id == f"user-{name}"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_tokens_verify_against_the_secret(alg: str, make_verifier: Any) -> None:
    verifier = await make_verifier(secret=secret_source())

    verified = await verifier.verify(hs256(claims("alice", iss=None, aud=None), alg=alg))

    assert verified.user_id == "alice"


async def test_aud_list_containing_ours_verifies(
    keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),))

    token = keys.ed.sign(claims(aud=["https://other.test", ISSUER]))

    assert (await verifier.verify(token)).user_id == "user-123"


async def test_user_claim_is_configurable(make_verifier: Any) -> None:
    verifier = await make_verifier(secret=secret_source(), user_claim="uid")

    verified = await verifier.verify(hs256(claims("ignored", uid="bob")))

    assert verified.user_id == "bob"


async def test_expired_within_leeway_verifies(make_verifier: Any) -> None:
    verifier = await make_verifier(secret=secret_source(), leeway_seconds=30)

    token = hs256(claims(now=time.time() - 920, ttl=900))

    assert (await verifier.verify(token)).user_id == "user-123"


async def test_a_kidless_token_uses_the_only_published_key(
    make_verifier: Any, session: Any
) -> None:
    only = ed25519_key("lonely")
    server = JwksServer(jwks(only))
    await server.up()
    try:
        verifier = await make_verifier(jwks=(jwks_source(server.url),))
        token = only.sign(claims("solo"), kid=None)

        assert (await verifier.verify(token)).user_id == "solo"
    finally:
        await server.down()


async def test_claims_cannot_be_changed_through_the_result(make_verifier: Any) -> None:
    verifier = await make_verifier(secret=secret_source())
    verified = await verifier.verify(hs256(claims("alice")))

    with pytest.raises(TypeError):
        verified.claims["sub"] = "mallory"  # type: ignore[index]


async def test_a_cached_token_is_not_decoded_again(
    make_verifier: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = await make_verifier(secret=secret_source())
    token = hs256(claims("alice"))
    first = await verifier.verify(token)

    def no_decode(*_: Any, **__: Any) -> Any:
        raise AssertionError("decoded a cached token")

    monkeypatch.setattr(verifier._jws, "decode_complete", no_decode)

    assert await verifier.verify(token) is first


async def test_readiness_names_each_source(make_verifier: Any, jwks_server: JwksServer) -> None:
    down = JwksKeySource(name="down", url="http://127.0.0.1:9/jwks", fetch_timeout_seconds=1)
    verifier = await make_verifier(
        secret=secret_source(), jwks=(jwks_source(jwks_server.url), down)
    )

    assert verifier.readiness() == {"secret": True, "better-auth": True, "down": False}
    assert verifier.key_sources_ready() is False


# The settings models refuse these too; `model_construct` skips that to test the verifier.
@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (AuthSettings(secret=SecretKeySource(secret=b"short")), "too short"),
        (
            AuthSettings(
                secret=SecretKeySource.model_construct(secret=SECRET, algorithms=("RS256",))
            ),
            "HS",
        ),
        (
            AuthSettings(secret=SecretKeySource(secret=ed25519_key().public_pem())),
            "unusable",
        ),
        (AuthSettings(jwks=(JwksKeySource(name="secret", url="http://x"),)), "unique"),
    ],
)
async def test_unusable_settings_fail_at_construction(
    settings: AuthSettings, problem: str, session: Any
) -> None:
    with pytest.raises(ValueError, match=problem):
        TokenVerifier(settings, session=session)


async def test_hs512_is_refused_when_the_secret_is_too_short_for_it(make_verifier: Any) -> None:
    verifier = await make_verifier(secret=secret_source(secret=SECRET[:40]))

    assert (await verifier.verify(hs256(claims(), key=SECRET[:40]))).user_id == "user-123"
    with pytest.raises(AuthError) as refused:
        await verifier.verify(hs256(claims(), key=SECRET[:40], alg="HS512"))
    assert refused.value.reason == "algorithm_not_allowed"

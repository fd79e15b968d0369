"""JWKS key sources against a real HTTP server on a loopback port that counts requests."""

from __future__ import annotations

import asyncio
import time
import warnings
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from gateway.auth.errors import AuthError
from gateway.auth.jwks import MAX_DOCUMENT_BYTES, JwksSource
from gateway.auth.settings import JwksKeySource
from tests.gateway.auth.conftest import JwksServer, Keys, jwks_source
from tests.gateway.auth.tokens import claims, ec_key, ed25519_key, jwks, rsa_key


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def reason_of(verifier: Any, token: str) -> str:
    with pytest.raises(AuthError) as refused:
        await verifier.verify(token)
    return refused.value.reason


async def test_down_at_start_then_up(keys: Keys, make_verifier: Any) -> None:
    server = JwksServer(jwks(keys.ed))
    clock = FakeClock()
    verifier = await make_verifier(jwks=(jwks_source(server.url),), monotonic=clock)

    assert verifier.readiness() == {"better-auth": False}
    assert await reason_of(verifier, keys.ed.sign(claims())) == "unknown_kid"

    await server.up()
    try:
        clock.now += 10
        assert (await verifier.verify(keys.ed.sign(claims("back")))).user_id == "back"
        assert verifier.readiness() == {"better-auth": True}
        assert verifier.key_sources_ready()
    finally:
        await server.down()


async def test_the_background_refresh_recovers_from_a_down_start(
    keys: Keys, make_verifier: Any
) -> None:
    server = JwksServer(jwks(keys.ed))
    source = jwks_source(server.url, min_refresh_interval_seconds=0.05)
    verifier = await make_verifier(jwks=(source,))
    assert not verifier.key_sources_ready()

    await server.up()
    try:
        for _ in range(100):  # the retry comes after about a second; wait at most five
            if verifier.key_sources_ready():
                break
            await asyncio.sleep(0.05)
        assert verifier.key_sources_ready()
        assert server.requests >= 1
    finally:
        await server.down()


async def test_rotation_is_picked_up_once_the_refetch_interval_allows(
    keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    clock = FakeClock()
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),), monotonic=clock)
    rotated = ed25519_key("ed-2")
    jwks_server.serve(jwks(rotated, *keys.all()))
    token = rotated.sign(claims("rotated"))

    clock.now += 5  # within the 10 s interval: no re-fetch yet
    assert await reason_of(verifier, token) == "unknown_kid"
    assert jwks_server.requests == 1

    clock.now += 5
    assert (await verifier.verify(token)).user_id == "rotated"
    assert jwks_server.requests == 2


async def test_a_flood_of_unknown_kids_shares_one_fetch(
    keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    clock = FakeClock()
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),), monotonic=clock)
    jwks_server.delay = 0.05  # keep the fetch in flight while the flood arrives
    clock.now += 60
    strangers = [ec_key(f"stranger-{i}").sign(claims()) for i in range(8)]
    flood = [strangers[i % 8] for i in range(200)]

    results = await asyncio.gather(*(verifier.verify(t) for t in flood), return_exceptions=True)

    assert all(isinstance(r, AuthError) and r.reason == "unknown_kid" for r in results)
    assert jwks_server.requests == 2  # the start-up fetch and one shared re-fetch
    await asyncio.gather(*(verifier.verify(t) for t in flood), return_exceptions=True)
    assert jwks_server.requests == 2


async def test_a_request_giving_up_does_not_cancel_the_shared_fetch(
    keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    clock = FakeClock()
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),), monotonic=clock)
    rotated = ed25519_key("ed-3")
    jwks_server.serve(jwks(rotated))
    jwks_server.delay = 0.1
    clock.now += 60
    token = rotated.sign(claims("patient"))

    impatient = asyncio.create_task(verifier.verify(token))
    await asyncio.sleep(0.02)
    impatient.cancel()

    assert (await verifier.verify(token)).user_id == "patient"
    assert jwks_server.requests == 2


async def test_server_down_cached_keys_still_verify(
    keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    clock = FakeClock()
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),), monotonic=clock)
    await jwks_server.down()
    clock.now += 60

    assert await reason_of(verifier, ec_key("stranger").sign(claims())) == "unknown_kid"
    for key in keys.all():
        assert (await verifier.verify(key.sign(claims(key.kid)))).user_id == key.kid
    assert verifier.key_sources_ready()


GARBAGE = [
    ("html", b"<html><body>Bad gateway</body></html>", "text/html", 200),
    ("json-without-keys", b'{"error": "nope"}', "application/json", 200),
    ("keys-not-a-list", b'{"keys": {"kty": "OKP"}}', "application/json", 200),
    ("empty-keys", b'{"keys": []}', "application/json", 200),
    (
        "keys-all-unusable",
        orjson.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}, {"kty": "OKP", "use": "enc"}]}),
        "application/json",
        200,
    ),
    ("http-500", b'{"keys": []}', "application/json", 500),
    ("too-large", b'{"keys": [' + b" " * MAX_DOCUMENT_BYTES + b"]}", "application/json", 200),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status"), [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE]
)
async def test_garbage_keeps_the_old_keys(
    body: bytes,
    content_type: str,
    status: int,
    keys: Keys,
    jwks_server: JwksServer,
    make_verifier: Any,
) -> None:
    clock = FakeClock()
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),), monotonic=clock)
    jwks_server.body, jwks_server.content_type, jwks_server.status = body, content_type, status
    clock.now += 60

    assert await reason_of(verifier, ec_key("stranger").sign(claims())) == "unknown_kid"

    assert jwks_server.requests == 2
    assert (await verifier.verify(keys.ed.sign(claims("kept")))).user_id == "kept"
    assert verifier.key_sources_ready()


async def test_unusable_keys_are_skipped_without_dropping_the_rest(
    keys: Keys, make_verifier: Any
) -> None:
    weak = rsa_key("weak", size=1024)
    enc = ed25519_key("enc")
    document = {
        "keys": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"},
            {"kty": "foo", "kid": "alien"},
            enc.public_jwk(use="enc"),
            keys.es256.public_jwk(key_ops=["encrypt"]),
            weak.public_jwk(),
            keys.rs256.public_jwk(alg="ES256"),  # kty RSA cannot do ES256
            ec_key("p384", "ES384").public_jwk(),  # an algorithm not configured
            {**keys.ps256.public_jwk(), "d": "private"},
            "not an object",
            {**keys.es512.public_jwk(), "kid": 5},
            keys.ed.public_jwk(),
        ]
    }
    server = JwksServer(document)
    await server.up()
    try:
        verifier = await make_verifier(jwks=(jwks_source(server.url),))

        assert (await verifier.verify(keys.ed.sign(claims("still-here")))).user_id == "still-here"
        assert await reason_of(verifier, enc.sign(claims())) == "unknown_kid"
        with warnings.catch_warnings():  # PyJWT rightly warns about signing with it
            warnings.simplefilter("ignore")
            weak_token = weak.sign(claims())
        assert await reason_of(verifier, weak_token) == "unknown_kid"
    finally:
        await server.down()


async def test_a_key_removed_from_the_jwks_stops_verifying_even_cached_tokens(
    keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    clock = FakeClock()
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),), monotonic=clock)
    token = keys.es256.sign(claims("soon-revoked"))
    assert (await verifier.verify(token)).user_id == "soon-revoked"

    jwks_server.serve(jwks(keys.ed))
    clock.now += 60
    assert await reason_of(verifier, ec_key("stranger").sign(claims())) == "unknown_kid"

    assert await reason_of(verifier, token) == "unknown_kid"


async def test_a_kid_that_now_names_another_key_stops_verifying_cached_tokens(
    keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    clock = FakeClock()
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),), monotonic=clock)
    token = keys.ed.sign(claims("old-key"))
    assert (await verifier.verify(token)).user_id == "old-key"

    jwks_server.serve(jwks(ed25519_key("ed-1"), *keys.all()[1:]))
    clock.now += 60
    assert await reason_of(verifier, ec_key("stranger").sign(claims())) == "unknown_kid"

    assert await reason_of(verifier, token) == "bad_signature"


async def test_an_unchanged_jwks_keeps_the_cache(
    keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    clock = FakeClock()
    verifier = await make_verifier(jwks=(jwks_source(jwks_server.url),), monotonic=clock)
    token = keys.ed.sign(claims("steady"))
    first = await verifier.verify(token)
    clock.now += 60
    assert await reason_of(verifier, ec_key("stranger").sign(claims())) == "unknown_kid"

    assert jwks_server.requests == 2
    assert await verifier.verify(token) is first


async def test_a_session_that_does_not_decompress_still_gets_plain_json(
    keys: Keys, jwks_server: JwksServer
) -> None:
    jwks_server.compress = True
    async with aiohttp.ClientSession(auto_decompress=False) as raw:
        async with raw.get(jwks_server.url) as response:  # the server does compress
            assert response.headers.get("Content-Encoding") in ("gzip", "deflate", "br")
        source = JwksSource(jwks_source(jwks_server.url), session=raw, monotonic=time.monotonic)

        await source.fetch()

    assert source.ready


async def test_a_jwks_file_is_a_key_source(keys: Keys, tmp_path: Path, make_verifier: Any) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps(jwks(keys.es256)))
    missing = JwksKeySource(name="missing", file=tmp_path / "nope.json")
    verifier = await make_verifier(
        jwks=(JwksKeySource(name="file", file=path, issuer=None), missing)
    )

    assert verifier.readiness() == {"file": True, "missing": False}
    assert (await verifier.verify(keys.es256.sign(claims("from-disk")))).user_id == "from-disk"


@pytest.mark.parametrize(
    ("cache_control", "expected"),
    [
        (None, 300.0),
        ("public, max-age=120", 120.0),
        ("max-age=5", 30.0),
        ("max-age=999999", 3600.0),
        ('max-age="600", must-revalidate', 600.0),
        ("no-store", 30.0),
        ("s-maxage=100", 300.0),
    ],
)
async def test_cache_control_max_age_sets_the_refresh_within_bounds(
    cache_control: str | None,
    expected: float,
    jwks_server: JwksServer,
    session: aiohttp.ClientSession,
) -> None:
    if cache_control is not None:
        jwks_server.headers["Cache-Control"] = cache_control
    source = JwksSource(jwks_source(jwks_server.url), session=session, monotonic=time.monotonic)

    await source.fetch()

    assert source.ready
    assert source.next_refresh_delay() == expected


async def test_a_failed_fetch_retries_sooner(session: aiohttp.ClientSession) -> None:
    settings = jwks_source("http://127.0.0.1:9/jwks", fetch_timeout_seconds=1)
    source = JwksSource(settings, session=session, monotonic=time.monotonic)

    await source.fetch()

    assert not source.ready
    assert source.next_refresh_delay() == 10.0  # no keys yet: the unknown-kid interval


async def test_the_background_refresh_follows_the_server(
    keys: Keys, jwks_server: JwksServer, make_verifier: Any
) -> None:
    source = jwks_source(
        jwks_server.url, refresh_interval_seconds=0.05, min_refresh_interval_seconds=0.05
    )
    verifier = await make_verifier(jwks=(source,))
    rotated = ed25519_key("ed-bg")
    jwks_server.serve(jwks(rotated))

    for _ in range(100):
        if jwks_server.requests >= 3:
            break
        await asyncio.sleep(0.05)
    assert jwks_server.requests >= 3

    await verifier.close()
    settled = jwks_server.requests
    await asyncio.sleep(0.2)
    assert jwks_server.requests == settled  # closed: no more fetches
    assert (await verifier.verify(rotated.sign(claims("bg")))).user_id == "bg"

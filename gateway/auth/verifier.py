"""The single place a JWT is verified: pick the key, check the signature, check the claims."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import aiohttp
import jwt
import orjson

from gateway import metrics
from gateway.auth.cache import TokenCache
from gateway.auth.claims import ClaimRules, check_claims
from gateway.auth.errors import (
    ALGORITHM_NOT_ALLOWED,
    BAD_SIGNATURE,
    MALFORMED_TOKEN,
    TOKEN_TOO_LARGE,
    UNKNOWN_KID,
    AuthError,
)
from gateway.auth.header import read_header
from gateway.auth.jwks import JwksSource
from gateway.auth.jws import build_jws, usable_hmac_algorithms
from gateway.auth.settings import AuthSettings, JwksKeySource, SecretKeySource

SECRET_SOURCE_NAME = "secret"  # noqa: S105 (the readiness name of the shared secret)


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    user_id: str
    claims: Mapping[str, Any]
    expires_at: float


@dataclass(frozen=True, slots=True)
class _Secret:
    key: bytes
    algorithms: frozenset[str]
    rules: ClaimRules


class TokenVerifier:
    """Verifies bearer tokens against every configured key source.

    `clock` (wall time, for claims and the cache) and `monotonic` (for JWKS fetch pacing)
    exist so tests can move time without sleeping.
    """

    def __init__(
        self,
        settings: AuthSettings,
        *,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._max_bytes = settings.max_token_bytes
        self._cache: TokenCache[VerifiedToken] = TokenCache(
            max_entries=settings.cache_max_entries, ttl_seconds=settings.cache_ttl_seconds
        )
        self._secret = _secret(settings.secret, settings) if settings.secret else None
        self._hmac_algorithms = self._secret.algorithms if self._secret else frozenset[str]()
        self._jws = build_jws(self._secret.key if self._secret else None, self._hmac_algorithms)
        _check_jwks_sources(settings.jwks)
        self._sources = tuple(
            (
                JwksSource(
                    s, session=session, monotonic=monotonic, on_keys_removed=self._cache.clear
                ),
                _rules(s.issuer, s.audiences, settings),
            )
            for s in settings.jwks
        )
        self._jwks_algorithms = frozenset[str]().union(*(s.algorithms for s, _ in self._sources))
        # One list per algorithm, built once and handed to PyJWT as the allow-list.
        self._allow_lists = {alg: [alg] for alg in self._hmac_algorithms | self._jwks_algorithms}

    async def start(self) -> None:
        """Fetch every JWKS once (an unreachable one only leaves it not ready) and start
        the background refreshes."""
        await asyncio.gather(*(source.start() for source, _ in self._sources))

    async def close(self) -> None:
        await asyncio.gather(*(source.close() for source, _ in self._sources))

    def readiness(self) -> dict[str, bool]:
        """Whether each key source has keys, by name (`secret` for the shared secret)."""
        ready = {SECRET_SOURCE_NAME: True} if self._secret else {}
        ready.update((source.name, source.ready) for source, _ in self._sources)
        return ready

    def key_sources_ready(self) -> bool:
        return all(source.ready for source, _ in self._sources)

    @property
    def cache(self) -> TokenCache[VerifiedToken]:
        return self._cache

    @property
    def jwks_sources(self) -> tuple[JwksSource, ...]:
        return tuple(source for source, _ in self._sources)

    def cached(self, token: str) -> VerifiedToken | None:
        """The verified identity when this token was verified recently (no await needed)."""
        return self._cache.get(token, self._clock())

    async def verify(self, token: str) -> VerifiedToken:
        """The verified identity in `token`, or AuthError with a reason code."""
        if len(token) > self._max_bytes:
            raise AuthError(TOKEN_TOO_LARGE)
        cached = self._cache.get(token, self._clock())
        if cached is not None:
            return cached
        metrics.TOKEN_CACHE_MISSES.inc()
        alg, kid = read_header(token)
        key: jwt.PyJWK | bytes
        if alg in self._hmac_algorithms:
            key, rules = self._secret_key(kid)
        elif alg in self._jwks_algorithms:
            key, rules = await self._jwks_key(alg, kid)
        else:
            raise AuthError(ALGORITHM_NOT_ALLOWED)
        started = time.perf_counter()
        try:
            payload = self._decode(token, key, alg)
        finally:
            metrics.VERIFICATION_DURATION.labels(alg).observe(time.perf_counter() - started)
        now = self._clock()
        user_id, exp = check_claims(payload, rules, now)
        verified = VerifiedToken(user_id, MappingProxyType(payload), exp)
        self._cache.put(token, verified, expires_at=exp, now=now)
        return verified

    def _secret_key(self, kid: str | None) -> tuple[bytes, ClaimRules]:
        if self._secret is None:
            raise AuthError(ALGORITHM_NOT_ALLOWED)
        if kid is not None and any(kid in source.keys.by_kid for source, _ in self._sources):
            raise AuthError(ALGORITHM_NOT_ALLOWED, "an HMAC token cannot name a public key")
        return self._secret.key, self._secret.rules

    async def _jwks_key(self, alg: str, kid: str | None) -> tuple[jwt.PyJWK, ClaimRules]:
        found = self._find_key(alg, kid)
        if found is None and kid is not None:
            await asyncio.gather(
                *(s.refetch_for_unknown_kid() for s, _ in self._sources if alg in s.algorithms)
            )
            found = self._find_key(alg, kid)
        if found is None:
            raise AuthError(UNKNOWN_KID)
        return found

    def _find_key(self, alg: str, kid: str | None) -> tuple[jwt.PyJWK, ClaimRules] | None:
        mismatch = False
        for keys, rules in self._candidates(kid):
            for key in keys:
                if key.algorithm_name == alg:
                    self._count_stale(key)
                    return key, rules
            mismatch = True
        if mismatch:
            raise AuthError(ALGORITHM_NOT_ALLOWED, "the token's algorithm does not match its key")
        return None

    def _count_stale(self, key: jwt.PyJWK) -> None:
        for source, _ in self._sources:
            held = source.keys.by_kid.values()
            if not source.last_fetch_ok and any(key in keys for keys in held):
                metrics.STALE_KEY_VERIFICATIONS.labels(source.name).inc()

    def _candidates(self, kid: str | None) -> list[tuple[tuple[jwt.PyJWK, ...], ClaimRules]]:
        if kid is not None:
            return [
                (source.keys.by_kid[kid], rules)
                for source, rules in self._sources
                if kid in source.keys.by_kid
            ]
        # No kid: only when exactly one key is published anywhere is the choice unambiguous.
        held = [(source, rules) for source, rules in self._sources if source.ready]
        only = held[0][0].keys.only_key() if len(held) == 1 else None
        return [(only, held[0][1])] if only is not None else []

    def _decode(self, token: str, key: jwt.PyJWK | bytes, alg: str) -> dict[str, Any]:
        try:
            decoded = self._jws.decode_complete(token, key, self._allow_lists[alg])
        except jwt.InvalidSignatureError:
            raise AuthError(BAD_SIGNATURE) from None
        except jwt.InvalidAlgorithmError:
            raise AuthError(ALGORITHM_NOT_ALLOWED) from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthError(MALFORMED_TOKEN) from None
        try:
            payload = orjson.loads(decoded["payload"])
        except orjson.JSONDecodeError:
            raise AuthError(MALFORMED_TOKEN, "the token payload is not JSON") from None
        if not isinstance(payload, dict):
            raise AuthError(MALFORMED_TOKEN, "the token payload is not a JSON object")
        return payload


def _rules(issuer: str | None, audiences: tuple[str, ...], settings: AuthSettings) -> ClaimRules:
    return ClaimRules(
        user_claim=settings.user_claim,
        leeway=settings.leeway_seconds,
        issuer=issuer,
        audiences=frozenset(audiences),
    )


def _secret(source: SecretKeySource, settings: AuthSettings) -> _Secret:
    algorithms = usable_hmac_algorithms(source.secret, source.algorithms)
    rules = _rules(source.issuer, source.audiences, settings)
    return _Secret(source.secret, algorithms, rules)


def _check_jwks_sources(sources: tuple[JwksKeySource, ...]) -> None:
    names = [SECRET_SOURCE_NAME, *(s.name for s in sources)]
    if len(set(names)) != len(names):
        raise ValueError(f"JWKS source names must be unique and not {SECRET_SOURCE_NAME!r}")

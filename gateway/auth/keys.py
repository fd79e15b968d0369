"""Turn a JWKS document into verification keys, once per fetch, skipping what we cannot use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson

# Which algorithms each key type may verify; the JWK's own `alg` narrows this further.
FAMILIES: dict[str, frozenset[str]] = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "OKP": frozenset({"EdDSA"}),
}
ASYMMETRIC = frozenset().union(*FAMILIES.values())
_CURVE_ALGORITHM = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "Ed25519": "EdDSA"}
# Building a key costs up to a millisecond on the event loop; no issuer publishes this many.
MAX_KEYS = 64
# A published private key is a misconfiguration; never verify with one.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


class JwksError(ValueError):
    """The document is not a usable JWKS; whoever fetched it keeps the keys it had."""


class SkippedKey(ValueError):
    """One entry of the JWKS that cannot be used; the others still are."""


@dataclass(frozen=True, slots=True)
class KeySet:
    """Keys by `kid` (None for keys without one); one PyJWK per usable (kid, algorithm)."""

    by_kid: Mapping[str | None, tuple[jwt.PyJWK, ...]] = field(default_factory=dict)
    # The JWK each kid was built from, to notice a kid that now names another key.
    sources: Mapping[str | None, bytes] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.by_kid)

    def withdrawn_from(self, newer: KeySet) -> bool:
        """Whether `newer` lacks one of these keys, or has another key under the same kid."""
        return any(newer.sources.get(kid) != jwk for kid, jwk in self.sources.items())

    def only_key(self) -> tuple[jwt.PyJWK, ...] | None:
        """The keys of the single published key, for tokens that name no `kid`."""
        if len(self.by_kid) != 1:
            return None
        return next(iter(self.by_kid.values()))


def parse_jwks(document: bytes, algorithms: frozenset[str]) -> tuple[KeySet, list[str]]:
    """The usable keys of a JWKS document and one line per skipped entry (for the log)."""
    try:
        data = orjson.loads(document)
    except orjson.JSONDecodeError:
        raise JwksError("the JWKS is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JwksError("the JWKS has no `keys` list")
    by_kid: dict[str | None, tuple[jwt.PyJWK, ...]] = {}
    sources: dict[str | None, bytes] = {}
    skipped: list[str] = []
    entries = data["keys"]
    if len(entries) > MAX_KEYS:
        skipped.append(f"keys[{MAX_KEYS}:]: more than {MAX_KEYS} keys, the rest ignored")
    for index, entry in enumerate(entries[:MAX_KEYS]):
        try:
            kid, built = build_keys(entry, algorithms)
        except SkippedKey as skip:
            skipped.append(f"keys[{index}]: {skip}")
            continue
        if kid in by_kid:
            skipped.append(f"keys[{index}]: duplicate kid")
            continue
        by_kid[kid] = built
        sources[kid] = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
    if not by_kid:
        raise JwksError(f"the JWKS has no usable key ({'; '.join(skipped) or 'empty'})")
    return KeySet(by_kid, sources), skipped


def build_keys(entry: Any, algorithms: frozenset[str]) -> tuple[str | None, tuple[jwt.PyJWK, ...]]:
    if not isinstance(entry, dict):
        raise SkippedKey("not an object")
    kid = entry.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise SkippedKey("kid is not a string")
    family = FAMILIES.get(entry.get("kty"))  # type: ignore[arg-type]
    if family is None:
        raise SkippedKey("unsupported kty")
    if entry.get("use", "sig") != "sig":
        raise SkippedKey("not a signing key (use)")
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise SkippedKey("not a verification key (key_ops)")
    if any(member in entry for member in _PRIVATE_MEMBERS):
        raise SkippedKey("private key material")
    candidates = _algorithms_for(entry, family) & algorithms
    if not candidates:
        raise SkippedKey("no allowed algorithm for this key")
    return kid, tuple(_load(entry, alg) for alg in sorted(candidates))


def _algorithms_for(entry: dict[str, Any], family: frozenset[str]) -> frozenset[str]:
    alg = entry.get("alg")
    if alg is not None:
        return frozenset({alg}) & family if isinstance(alg, str) else frozenset()
    if entry["kty"] == "RSA":
        return family
    inferred = _CURVE_ALGORITHM.get(entry.get("crv"))  # type: ignore[arg-type]
    return frozenset({inferred}) & family if inferred else frozenset()


def _load(entry: dict[str, Any], alg: str) -> jwt.PyJWK:
    try:
        key = jwt.PyJWK(entry, alg)
        # Checks the curve against the algorithm, once, instead of failing on every request.
        key.Algorithm.prepare_key(key.key)
        too_short = key.Algorithm.check_key_length(key.key)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as error:
        raise SkippedKey(f"cannot load the key: {type(error).__name__}") from None
    if too_short:
        raise SkippedKey("key too short")
    return key

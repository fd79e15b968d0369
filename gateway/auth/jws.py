"""The PyJWT signature checker the verifier uses, with one per-request cost moved out.

PyJWT re-validates an HMAC key on every call (PEM, SSH, DER and JSON sniffing). Here the
shared secret is validated once, through PyJWT's public `Algorithm` interface. Everything else
(base64url checks, signature checks, allow-list, key binding) is PyJWT's own code: its
base64url check is a Python loop costing about 6 µs per new token (docs/public-apis.md).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import jwt
import structlog
from jwt.algorithms import HMACAlgorithm

log = structlog.get_logger("gateway.auth")
_HASHES = {
    "HS256": HMACAlgorithm.SHA256,
    "HS384": HMACAlgorithm.SHA384,
    "HS512": HMACAlgorithm.SHA512,
}


class ValidatedSecretHMAC(HMACAlgorithm):
    """HMAC that trusts one key object, already checked by `prepare_key` and
    `check_key_length`; any other key goes through PyJWT's checks as usual."""

    def __init__(self, alg: str, secret: bytes) -> None:
        super().__init__(_HASHES[alg])
        self._secret = secret

    def prepare_key(self, key: Any) -> bytes:
        return self._secret if key is self._secret else super().prepare_key(key)

    def check_key_length(self, key: bytes) -> str | None:
        return None if key is self._secret else super().check_key_length(key)


def build_jws(secret: bytes | None, hmac_algorithms: Collection[str]) -> jwt.PyJWS:
    """A checker for PyJWK keys and, with `secret` (already validated), HMAC tokens; pass
    that very `secret` object as the key so its checks are skipped."""
    jws = jwt.PyJWS(
        algorithms=list(hmac_algorithms) if secret is not None else [],
        options={"verify_signature": True, "enforce_minimum_key_length": True},
    )
    if secret is not None:
        for alg in hmac_algorithms:
            jws.unregister_algorithm(alg)
            jws.register_algorithm(alg, ValidatedSecretHMAC(alg, secret))
    return jws


def usable_hmac_algorithms(secret: bytes, algorithms: Collection[str]) -> frozenset[str]:
    """The configured HS* algorithms this secret may serve; ValueError when it serves none."""
    unsupported = set(algorithms) - set(_HASHES)
    if unsupported:
        raise ValueError(f"the shared secret only verifies HS* tokens, not {sorted(unsupported)}")
    usable = set()
    for alg in algorithms:
        algorithm = HMACAlgorithm(_HASHES[alg])
        try:
            prepared = algorithm.prepare_key(secret)
        except jwt.InvalidKeyError as error:
            raise ValueError(f"the shared secret is unusable: {error}") from None
        # RFC 7518 section 3.2: the key must be at least as long as the hash output.
        if algorithm.check_key_length(prepared) is None:
            usable.add(alg)
        else:
            log.warning("hmac_algorithm_disabled", algorithm=alg, why="secret too short")
    if not usable:
        raise ValueError("the shared secret is too short (HS256 needs at least 32 bytes)")
    return frozenset(usable)

"""Keys, JWKS documents and tokens for the auth tests: real keys, minted with PyJWT."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

SECRET = b"better-auth-secret-0123456789abcdef-0123456789abcdef-0123456789ab"
ISSUER = "https://auth.example.test"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: PrivateKeyTypes

    def public_jwk(self, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()  # type: ignore[union-attr]
        algorithm = {"E": ECAlgorithm, "R": RSAAlgorithm, "P": RSAAlgorithm, "Ed": OKPAlgorithm}
        cls = algorithm["Ed" if self.alg == "EdDSA" else self.alg[0]]
        jwk: dict[str, Any] = cls.to_jwk(public, as_dict=True)  # type: ignore[attr-defined]
        jwk.update(kid=self.kid, alg=self.alg)
        jwk.update(extra)
        return {k: v for k, v in jwk.items() if v is not None}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, payload: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, "typ": None, **header}
        if headers["kid"] is None:
            del headers["kid"]
        return jwt.encode(payload, self.private, algorithm=self.alg, headers=headers)  # type: ignore[arg-type]


def ed25519_key(kid: str = "ed-1") -> SigningKey:
    return SigningKey(kid, "EdDSA", ed25519.Ed25519PrivateKey.generate())


def ec_key(kid: str, alg: str = "ES256") -> SigningKey:
    curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
    return SigningKey(kid, alg, ec.generate_private_key(curve))


def rsa_key(kid: str, alg: str = "RS256", size: int = 2048) -> SigningKey:
    return SigningKey(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=size))


def jwks(*keys: SigningKey | dict[str, Any]) -> dict[str, Any]:
    return {"keys": [k if isinstance(k, dict) else k.public_jwk() for k in keys]}


def claims(
    sub: Any = "user-123", *, ttl: float = 900, now: float | None = None, **extra: Any
) -> dict[str, Any]:
    """Better Auth's payload shape: the user object, sub, iat, exp, iss and aud."""
    issued = int(now if now is not None else time.time())
    payload: dict[str, Any] = {
        "id": sub,
        "name": "Ada Lovelace",
        "email": "ada@example.test",
        "emailVerified": True,
        "image": None,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
        "iat": issued,
        "iss": ISSUER,
        "aud": ISSUER,
        "sub": sub,
        "exp": issued + int(ttl),
    }
    payload.update(extra)
    return {k: v for k, v in payload.items() if v is not _DROP}


_DROP = object()
DROP: Any = _DROP


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(value if isinstance(value, bytes) else json.dumps(value).encode())


def forge(
    header: Any, payload: Any, *, hmac_key: bytes | None = None, signature: bytes = b""
) -> str:
    """A token built by hand, for what PyJWT refuses to mint (alg none, HMAC with a PEM...)."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    if hmac_key is not None:
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
        hash_name = header["alg"] if isinstance(header, dict) else "HS256"
        signature = hmac.new(hmac_key, signing_input.encode(), digest[hash_name]).digest()
    return f"{signing_input}.{b64(signature)}"


def hs256(payload: dict[str, Any], key: bytes = SECRET, alg: str = "HS256", **header: Any) -> str:
    return forge({"alg": alg, **header}, payload, hmac_key=key)

"""Keys, a JWKS and tokens shaped like Better Auth's, minted with PyJWT for the benchmark."""

from __future__ import annotations

import json
import multiprocessing
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

SUBJECT = "alice"
TOKEN_TTL_SECONDS = 3 * 3600


@dataclass(frozen=True, slots=True)
class BenchKeys:
    """The benchmark's secrets: an HS256 secret and one Ed25519 key published by `kid`."""

    hs_secret: str
    identity_secret: str
    ed_private_pem: bytes
    kid: str
    issuer: str

    @classmethod
    def generate(cls, issuer: str) -> BenchKeys:
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cls(
            hs_secret=secrets.token_urlsafe(48),
            identity_secret=secrets.token_urlsafe(48),
            ed_private_pem=pem,
            kid=secrets.token_hex(8),
            issuer=issuer,
        )

    def jwks(self) -> dict[str, Any]:
        """The public key the way Better Auth publishes it: `alg` and `kid`, no `use`."""
        private = serialization.load_pem_private_key(self.ed_private_pem, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise TypeError("expected an Ed25519 key")
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
        return {"keys": [{**jwk, "alg": "EdDSA", "kid": self.kid}]}


def _claims(serial: int, now: int) -> dict[str, Any]:
    # Better Auth puts the whole user object in the payload; keep the size realistic.
    return {
        "sub": SUBJECT,
        "iat": now,
        "exp": now + TOKEN_TTL_SECONDS,
        "jti": f"bench-{serial}",
        "id": SUBJECT,
        "name": "Alice Bench",
        "email": "alice@example.com",
        "emailVerified": True,
        "image": None,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
    }


def mint(keys: BenchKeys, alg: str, serial: int = 0, now: int | None = None) -> str:
    """One token for `alice`; `serial` makes it distinct from every other."""
    claims = _claims(serial, int(time.time()) if now is None else now)
    if alg == "HS256":
        return jwt.encode(claims, keys.hs_secret, algorithm="HS256")
    if alg == "EdDSA":
        claims |= {"iss": keys.issuer, "aud": keys.issuer}
        private = serialization.load_pem_private_key(keys.ed_private_pem, password=None)
        return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": keys.kid})  # type: ignore[arg-type]
    raise ValueError(f"unsupported algorithm {alg}")


def _mint_range(job: tuple[BenchKeys, str, int, int, int]) -> list[str]:
    keys, alg, start, stop, now = job
    if alg == "EdDSA":
        private = serialization.load_pem_private_key(keys.ed_private_pem, password=None)
        headers = {"kid": keys.kid}
        extra = {"iss": keys.issuer, "aud": keys.issuer}
        return [
            jwt.encode(_claims(i, now) | extra, private, algorithm="EdDSA", headers=headers)  # type: ignore[arg-type]
            for i in range(start, stop)
        ]
    return [
        jwt.encode(_claims(i, now), keys.hs_secret, algorithm="HS256") for i in range(start, stop)
    ]


def write_token_file(keys: BenchKeys, alg: str, count: int, path: Path) -> Path:
    """`count` distinct tokens, one a line, minted on every core."""
    now = int(time.time())
    step = 10_000
    jobs = [(keys, alg, start, min(start + step, count), now) for start in range(0, count, step)]
    pool = multiprocessing.get_context("fork").Pool(initializer=_default_signals)
    try:
        with path.open("w") as out:
            for chunk in pool.imap(_mint_range, jobs):
                out.write("\n".join(chunk))
                out.write("\n")
        pool.close()
    finally:
        pool.terminate()
        pool.join()
    return path


def _default_signals() -> None:
    # Workers must not inherit the driver's "unwind on SIGTERM" handler: terminate() uses it.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def write_jwks(keys: BenchKeys, path: Path) -> Path:
    path.write_text(json.dumps(keys.jwks()))
    return path

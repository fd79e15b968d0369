"""Token issuers for the integration tests: the shared secret, and a local JWKS server.

The JWKS server imitates Better Auth's: an Ed25519 key at `/api/auth/jwks` whose entry carries
`alg` and `kid` but no `use`, and tokens with `iss` and `aud` equal to its base URL.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm


class Issuer(Protocol):
    """Mints tokens the gateway under test should accept; `env` configures that gateway."""

    @property
    def env(self) -> Mapping[str, str]: ...

    def token(self, sub: str) -> str: ...


@dataclass
class SecretIssuer:
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def env(self) -> Mapping[str, str]:
        return {"BETTER_AUTH_SECRET": self.secret}

    def token(self, sub: str) -> str:
        now = int(time.time())
        return jwt.encode({"sub": sub, "iat": now, "exp": now + 600}, self.secret, "HS256")


@dataclass
class JwksIssuer:
    url: str
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    kid: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @property
    def env(self) -> Mapping[str, str]:
        return {"BETTER_AUTH_URL": self.url}

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "alg": "EdDSA", "kid": self.kid}]}

    def token(self, sub: str) -> str:
        now = int(time.time())
        claims = {"sub": sub, "iat": now, "exp": now + 600, "iss": self.url, "aud": self.url}
        return jwt.encode(claims, self.key, "EdDSA", headers={"kid": self.kid})


@contextmanager
def jwks_server() -> Iterator[JwksIssuer]:
    """Serve a fresh key's JWKS at `<url>/api/auth/jwks` on a free loopback port."""
    holder: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/api/auth/jwks"
            body = holder["jwks"] if found else b'{"error": "not_found"}'
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = JwksIssuer(url=f"http://127.0.0.1:{server.server_address[1]}")
    holder["jwks"] = json.dumps(issuer.jwks()).encode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

"""Asymmetric key sources configured through gateway.yaml, end to end through the gateway."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from tests.gateway.conftest import StackFactory

ISSUER = "https://auth.example"


def jwks_file(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    public = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    public.update(kid="k1", alg="EdDSA")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [public]}), encoding="utf-8")
    return path


def eddsa_token(key: Ed25519PrivateKey, sub: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + 300, "iss": ISSUER, "aud": ISSUER, **claims}
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": "k1"})


async def test_eddsa_tokens_from_a_jwks_file(make_stack: StackFactory, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    path = jwks_file(tmp_path, key)

    def local_jwks(config: dict[str, Any]) -> None:
        config["auth"]["jwks"] = [
            {"name": "local", "file": str(path), "issuer": ISSUER, "audiences": [ISSUER]}
        ]

    stack = await make_stack(local_jwks)
    good = eddsa_token(key, "alice")
    response = await stack.client.get(
        "/api/alice/tasks", headers={"Authorization": f"Bearer {good}"}
    )
    assert response.status == 200
    assert stack.recorder.seen[0].headers["X-User-Id"] == "alice"
    wrong_audience = eddsa_token(key, "alice", aud="https://other.example")
    refused = await stack.client.get(
        "/api/alice/tasks", headers={"Authorization": f"Bearer {wrong_audience}"}
    )
    assert refused.status == 401
    ready = await stack.client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["key_sources"]["local"] is True


async def test_readyz_is_503_while_a_jwks_has_no_keys(make_stack: StackFactory) -> None:
    def unreachable_jwks(config: dict[str, Any]) -> None:
        config["auth"]["jwks"] = [
            {"name": "remote", "url": "http://127.0.0.1:9/jwks", "fetch_timeout_seconds": 1}
        ]

    stack = await make_stack(unreachable_jwks)
    ready = await stack.client.get("/readyz")
    assert ready.status == 503
    body = await ready.json()
    assert body["checks"] == {"backend": True, "keys": False}
    assert body["key_sources"]["remote"] is False

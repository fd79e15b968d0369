"""`protocol/identity-vectors.json`, which the gateway's signer, the backend's verifier and the
Node.js verifier are each tested against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PATH = Path(__file__).resolve().parent.parent / "protocol" / "identity-vectors.json"
VECTORS: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
MAX_AGE_SECONDS: int = VECTORS["max_age_seconds"]
SECRETS: list[bytes] = [secret.encode() for secret in VECTORS["secrets"]]


def cases(kind: str) -> list[Any]:
    """The vectors of one kind (`valid`, `invalid`, `unsignable`) as pytest parameters."""
    return [pytest.param(case, id=case["name"]) for case in VECTORS[kind]]

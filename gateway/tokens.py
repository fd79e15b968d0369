"""Development tokens: `python -m gateway mint-token --sub alice` (HS256, BETTER_AUTH_SECRET).

Signing only; verification lives in `gateway/auth/` and nowhere else.
"""

from __future__ import annotations

import jwt


def mint_token(
    secret: bytes,
    subject: str,
    *,
    ttl_seconds: int,
    now: int,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    claims: dict[str, object] = {"sub": subject, "iat": now, "exp": now + ttl_seconds}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")

"""A stand-in for Better Auth's key endpoint: serves a JWKS file at `/api/auth/jwks`.

`python -m bench.jwks_server --port N --jwks FILE`
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiohttp import web

JWKS_BODY = web.AppKey("jwks_body", bytes)


async def jwks(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[JWKS_BODY],
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )


def create_app(jwks_file: Path) -> web.Application:
    app = web.Application()
    app[JWKS_BODY] = jwks_file.read_bytes()
    app.router.add_get("/api/auth/jwks", jwks)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--jwks", type=Path, required=True)
    args = parser.parse_args()
    web.run_app(
        create_app(args.jwks), host="127.0.0.1", port=args.port, access_log=None, print=None
    )


if __name__ == "__main__":
    main()

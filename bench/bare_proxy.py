"""A reference point, not a product: the least an aiohttp server + `ClientSession` proxy does.

`python -m bench.bare_proxy --port N --upstream URL`: one session with a keep-alive pool, the
request forwarded with its headers, the answer read whole and returned. No token, no policy,
no signature, no log line. What it costs is the floor for a gateway built on aiohttp's client.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
import uvloop
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host"})


async def forward(request: web.Request) -> web.Response:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    async with request.app[SESSION].request(
        request.method,
        request.app[UPSTREAM] + request.raw_path,
        headers=headers,
        data=request.content if request.body_exists else None,
        allow_redirects=False,
    ) as answer:
        body = await answer.read()
        return web.Response(status=answer.status, body=body, content_type=answer.content_type)


async def _session(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
    )
    yield
    await app[SESSION].close()


def create_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[UPSTREAM] = upstream.rstrip("/")
    app.cleanup_ctx.append(_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    web.run_app(
        create_app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()

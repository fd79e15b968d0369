"""The minimal aiohttp upstream every proxy in the benchmark forwards to.

`python -m bench.upstream --port N`: a tiny JSON answer on the routes the gateway protects, plus
`GET .../tasks/blob/{size}` (a body of `size` bytes) and `POST .../tasks` (reads an upload of any
size and reports it) for the body-size runs.
"""

from __future__ import annotations

import argparse
import asyncio

import orjson
from aiohttp import web

_TASKS = orjson.dumps([{"id": 1, "title": "benchmark", "completed": False}])
_MAX_BLOB = 64 * 1024 * 1024
BLOBS = web.AppKey("blobs", dict[int, bytes])


async def tasks(_: web.Request) -> web.Response:
    return web.Response(body=_TASKS, content_type="application/json")


async def healthz(_: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


async def blob(request: web.Request) -> web.Response:
    size = int(request.match_info["size"])
    if not 0 <= size <= _MAX_BLOB:
        raise web.HTTPBadRequest(text="size out of range")
    cache = request.app[BLOBS]
    body = cache.get(size)
    if body is None:
        body = cache[size] = b"x" * size
    return web.Response(body=body, content_type="application/octet-stream")


async def upload(request: web.Request) -> web.Response:
    received = 0
    async for chunk in request.content.iter_any():
        received += len(chunk)
    return web.Response(body=orjson.dumps({"received": received}), content_type="application/json")


def create_app() -> web.Application:
    app = web.Application(client_max_size=_MAX_BLOB)
    app[BLOBS] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/{user_id}/tasks", tasks)
    app.router.add_get("/api/{user_id}/tasks/blob/{size:[0-9]+}", blob)
    app.router.add_post("/api/{user_id}/tasks", upload)
    return app


def _event_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    return asyncio.new_event_loop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    web.run_app(
        create_app(),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        loop=_event_loop(args.loop),
    )


if __name__ == "__main__":
    main()

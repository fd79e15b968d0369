"""A deliberately lax backend: it believes any `X-User-Id`, signed or not. `probe-backend`
must catch it."""

from __future__ import annotations

from aiohttp import web


async def believe_anyone(request: web.Request) -> web.Response:
    await request.read()
    user = request.headers.get("X-User-Id")
    return web.json_response([] if user else {"error": "unauthorized"}, status=200 if user else 401)


def lax_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", believe_anyone)
    return app

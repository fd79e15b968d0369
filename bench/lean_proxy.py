"""A reference point, not a product: aiohttp's server + the gateway's own client, nothing else.

`python -m bench.lean_proxy --port N --upstream URL`: aiohttp's low-level `web.Server` (no
router, no `web.Request`, no signals; served as the gateway serves itself, on uvloop) with one
handler that forwards each request through `gateway.forward.http1.pool.UpstreamPool` with the
client's headers minus Host and hop-by-hop ones, reads the answer whole and returns it. No token,
no policy, no signature, no log line. What it costs is the floor the gateway's own logic sits on.
It forwards body-less GET, DELETE and OPTIONS only (501 otherwise): the floor of a cached GET.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from urllib.parse import urlsplit

import uvloop
from aiohttp import web
from multidict import CIMultiDict

from gateway.forward.headers import HOP_BY_HOP
from gateway.forward.http1.pool import UpstreamClient, UpstreamPool

# The gateway's defaults (gateway/config.py, gateway.yaml), so the pool behaves the same.
MAX_CONNECTIONS = 1024
IDLE_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 1.0

_BODYLESS = frozenset({"GET", "DELETE", "OPTIONS"})
_DROPPED = HOP_BY_HOP | {"host"}  # the client writes the upstream's own Host


class LeanProxy:
    """The one handler: the client's request to the upstream, the upstream's answer back."""

    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool

    async def forward(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.body_exists or request.method not in _BODYLESS:
            return web.Response(status=501, text="the lean proxy forwards body-less requests only")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROPPED]
        upstream = await self._pool.request(request.method, request.raw_path, headers)
        try:
            body = await upstream.read()
        finally:
            upstream.release()
        kept = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in _DROPPED)
        return web.Response(status=upstream.status, body=body, headers=kept)


def pool_for(client: UpstreamClient, upstream: str) -> UpstreamPool:
    """The pool for a plain-http `upstream` URL (`http://host:port`)."""
    url = urlsplit(upstream)
    if url.scheme != "http" or url.hostname is None or url.port is None:
        raise ValueError(f"the lean proxy needs an http://host:port upstream, not {upstream!r}")
    return client.pool(
        url.hostname,
        url.port,
        url.netloc,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )


async def _stopped() -> None:
    """Return on SIGTERM or SIGINT (how the benchmark stops its children)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def serve(port: int, upstream: str) -> None:
    client = UpstreamClient(MAX_CONNECTIONS, IDLE_TIMEOUT_S)
    server = web.Server(LeanProxy(pool_for(client, upstream)).forward, access_log=None)
    runner = web.ServerRunner(server, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await _stopped()
    finally:
        await runner.cleanup()
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.upstream))


if __name__ == "__main__":
    main()

"""A fixed number of requests, not a fixed time: what an instruction count is divided by.

`python -m bench.fixed_load URL N CONCURRENCY [--post BYTES] ["Name: value" ...]`: N GET (or
POST, with a body of BYTES) requests over CONCURRENCY keep-alive connections, each answer read
whole; exits 1 unless every answer was 200. wrk runs for a
time, so the requests it completes vary; a count per request needs the count of requests exact.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
from collections.abc import Mapping, Sequence

import aiohttp


async def send(
    url: str, count: int, concurrency: int, headers: Mapping[str, str], post: int | None = None
) -> collections.Counter[int]:
    """`count` requests, `concurrency` at a time; how many answers had each status."""
    statuses: collections.Counter[int] = collections.Counter()
    left = count

    async def connection(session: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            method, body = ("GET", None) if post is None else ("POST", b"x" * post)
            async with session.request(method, url, headers=headers, data=body) as answer:
                await answer.read()
                statuses[answer.status] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(connection(session) for _ in range(concurrency)))
    return statuses


def parse_header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"a header is 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("concurrency", type=int)
    parser.add_argument("--post", type=int, default=None, metavar="BYTES")
    parser.add_argument("headers", nargs="*", type=parse_header, metavar="'Name: value'")
    args = parser.parse_args(argv)
    statuses = asyncio.run(
        send(args.url, args.count, args.concurrency, dict(args.headers), args.post)
    )
    if statuses != {200: args.count}:
        print(f"expected {args.count} answers 200, got {dict(statuses)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

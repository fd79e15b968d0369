"""`python -m gateway probe-backend URL`: does a backend (in any language) trust only the
gateway's signed identity?

One correctly signed request, then forged ones, each sent as raw bytes (client libraries merge
or reorder repeated headers); one line per case with the expected and the received status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import ssl
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.signature import SIGNATURE_HEADER, USER_ID_HEADER, IdentitySigner

SECRET_ENV = "GATEWAY_IDENTITY_SECRET"  # noqa: S105 - a variable name
_STALE_SECONDS = 600  # far outside any sensible freshness window
_BODY = json.dumps({"title": "probe-backend: this request must be refused"}).encode()


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    expected: int
    method: str
    path_qs: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    tls: bool
    base_path: str  # prefixed to every path, without a trailing slash


def build_cases(secret: bytes, user: str, base_path: str, now: int) -> list[Case]:
    """The signed request and the forgeries a backend must refuse."""
    signer = IdentitySigner(secret)
    path = f"{base_path}/api/{user}/tasks"
    other = f"probe-other-{secrets.token_hex(4)}"

    def signed(path_qs: str = path, timestamp: int = now) -> tuple[tuple[str, str], ...]:
        request_id = f"probe-{secrets.token_hex(8)}"
        return tuple(
            signer.headers(
                method="GET",
                path_qs=path_qs,
                user_id=user,
                request_id=request_id,
                timestamp=timestamp,
            )
        )

    good = signed()
    forged = IdentitySigner(secrets.token_bytes(32)).headers(
        method="GET", path_qs=path, user_id=user, request_id="probe-forged", timestamp=now
    )
    return [
        Case("signed", 200, "GET", path, good),
        Case("no-signature", 401, "GET", path, ((USER_ID_HEADER, user),)),
        Case("wrong-secret", 401, "GET", path, tuple(forged)),
        Case("stale", 401, "GET", path, signed(timestamp=now - _STALE_SECONDS)),
        Case("future", 401, "GET", path, signed(timestamp=now + _STALE_SECONDS)),
        Case(
            "other-users-path",
            403,
            "GET",
            f"{base_path}/api/{other}/tasks",
            signed(path_qs=f"{base_path}/api/{other}/tasks"),
        ),
        Case("path-changed-after-signing", 401, "GET", f"{path}?status=completed", good),
        Case("method-changed-after-signing", 401, "POST", path, good, _BODY),
        Case("request-id-changed", 401, "GET", path, _replace(good, "X-Request-ID", "probe-x")),
        Case("user-changed", 401, "GET", path, _replace(good, USER_ID_HEADER, other)),
        Case("duplicated-user-id", 401, "GET", path, (*good, (USER_ID_HEADER, other))),
        Case("duplicated-signature", 401, "GET", path, (*good, (SIGNATURE_HEADER, _sig(good)))),
    ]


def _replace(
    headers: Sequence[tuple[str, str]], name: str, value: str
) -> tuple[tuple[str, str], ...]:
    return tuple((key, value if key == name else old) for key, old in headers)


def _sig(headers: Sequence[tuple[str, str]]) -> str:
    return next(value for key, value in headers if key == SIGNATURE_HEADER)


def request_bytes(target: Target, case: Case) -> bytes:
    host = f"[{target.host}]" if ":" in target.host else target.host
    lines = [f"{case.method} {case.path_qs} HTTP/1.1", f"Host: {host}:{target.port}"]
    lines += [f"{name}: {value}" for name, value in case.headers]
    if case.body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(case.body)}"]
    lines += ["Connection: close", "", ""]
    return "\r\n".join(lines).encode("utf-8") + case.body


async def send(target: Target, case: Case, seconds: float) -> str:
    """The status the backend answered, or why there was none."""
    context = ssl.create_default_context() if target.tls else None
    try:
        async with asyncio.timeout(seconds):
            reader, writer = await asyncio.open_connection(target.host, target.port, ssl=context)
            try:
                writer.write(request_bytes(target, case))
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError) as error:
        return f"no answer ({type(error).__name__})"
    parts = status_line.split(maxsplit=2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return "no HTTP answer"
    return parts[1].decode()


async def probe(target: Target, cases: Sequence[Case], seconds: float) -> bool:
    passed = True
    for case in cases:
        got = await send(target, case, seconds)
        verdict = "PASS" if got == str(case.expected) else "FAIL"
        passed &= verdict == "PASS"
        print(f"{case.name:<30} expected {case.expected}  got {got:<4}  {verdict}", flush=True)
    return passed


def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Target(parts.hostname, port, parts.scheme == "https", parts.path.rstrip("/"))


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway probe-backend",
        description=f"Check that a backend trusts only identities signed with {SECRET_ENV}.",
    )
    parser.add_argument("url", help="the backend's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--user", default="probe-user", help="the user id to sign for")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = parser.parse_args(argv)
    secret = env.get(SECRET_ENV, "").encode("utf-8")
    if not secret:
        print(f"{SECRET_ENV} is not set", file=sys.stderr)
        return 2
    try:
        target = parse_target(args.url)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    cases = build_cases(secret, args.user, target.base_path, int(time.time()))
    return 0 if asyncio.run(probe(target, cases, args.timeout)) else 1

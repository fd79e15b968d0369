"""How exact the rate limit is, and what a stopped Redis costs: `python -m bench.limit_accuracy`.

One user floods the gateway at a fixed pace (well above the limit) for a window (60 s) and we
count what was admitted, against what GCRA promises: with `burst` b and `rate` r a minute,
b + r * window / 60 - 1 requests when arrivals outpace the rate. Scenarios: one process
in-process, two processes sharing the machine's Redis (127.0.0.1:6379), the default burst, and
burst 1 (where arrival jitter loses capacity: an arrival a moment early is refused).
Then Redis stopped and paused (a redis-server of our own) with on_store_error allow and deny:
statuses and latency. Environment: LIMIT_RATE (120), LIMIT_WINDOW_S (60), LIMIT_PACE (20/s).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import yaml
from aiohttp import ClientSession

from bench.options import REPO, BenchOptions
from bench.procs import Processes, free_port, wait_ready
from bench.stack import start_upstream

RATE = int(os.environ.get("LIMIT_RATE", "120"))
WINDOW_S = float(os.environ.get("LIMIT_WINDOW_S", "60"))
PACE = float(os.environ.get("LIMIT_PACE", "20"))
MACHINE_REDIS = "redis://127.0.0.1:6379/0"
TOKEN_SECRET = secrets.token_urlsafe(32)
IDENTITY_SECRET = secrets.token_urlsafe(32)


@dataclass
class Outcome:
    name: str
    expected: int | None = None
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    def line(self) -> str:
        admitted = self.statuses[200]
        lat = sorted(self.latencies_ms)
        p99 = lat[int(len(lat) * 0.99) - 1] if lat else 0.0
        expected = "" if self.expected is None else f" (GCRA promises {self.expected})"
        return (
            f"| {self.name} | {admitted}{expected} | {dict(sorted(self.statuses.items()))} | "
            f"{statistics.median(lat):.1f} / {p99:.1f} / {max(lat):.1f} |"
        )


def token(sub: str) -> str:
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + 3600}
    return jwt.encode(payload, TOKEN_SECRET, algorithm="HS256")


def gateway(procs: Processes, work: Path, upstream: str, limits: dict[str, Any], **env: str) -> str:
    config = yaml.safe_load((REPO / "gateway.yaml").read_text(encoding="utf-8"))
    config["rate_limits"] = {"key_prefix": f"bench:{secrets.token_hex(6)}:", **limits}
    path = work / f"gateway-{secrets.token_hex(4)}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    child_env = {
        "BETTER_AUTH_SECRET": TOKEN_SECRET,
        "GATEWAY_IDENTITY_SECRET": IDENTITY_SECRET,
        "BACKEND_URL": upstream,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "LOG_LEVEL": "warning",
        **env,
    }
    argv = [sys.executable, "-m", "gateway", "--config", str(path)]
    proc = procs.start(path.stem, argv, cpu="0-1", env=child_env)
    wait_ready(f"http://127.0.0.1:{port}/healthz", proc)
    return f"http://127.0.0.1:{port}"


async def flood(http: ClientSession, urls: list[str], outcome: Outcome, seconds: float) -> None:
    """One request every 1/PACE s, round robin over `urls`, as one user; never waits for a
    slow answer before sending the next (each request is its own task)."""
    user = f"user-{secrets.token_hex(4)}"
    headers = {"Authorization": f"Bearer {token(user)}"}
    started = time.monotonic()

    async def one(url: str) -> None:
        sent = time.perf_counter()
        async with http.get(f"{url}/api/{user}/tasks", headers=headers) as response:
            await response.read()
        outcome.latencies_ms.append((time.perf_counter() - sent) * 1000)
        outcome.statuses[response.status] += 1

    tasks = []
    for index in range(int(seconds * PACE)):
        delay = started + index / PACE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(urls[index % len(urls)])))
    await asyncio.gather(*tasks)


async def accuracy(procs: Processes, work: Path, upstream: str) -> list[Outcome]:
    """Four scenarios at once, each its own gateways and key prefix."""
    default_burst = max(1, -(-RATE // 6))
    per_window = round(RATE * WINDOW_S / 60)
    plans: list[tuple[str, int, int, str]] = [  # name, burst, processes, REDIS_URL
        ("1 process, in-process", 10, 1, ""),
        ("2 processes, shared Redis", 10, 2, MACHINE_REDIS),
        ("2 processes, shared Redis", default_burst, 2, MACHINE_REDIS),
        # No tolerance at all: an arrival a moment early is refused and the gap is lost.
        ("1 process, in-process", 1, 1, ""),
    ]
    runs = []
    for name, burst, processes, redis_url in plans:
        limits = {"per_user": RATE, "burst": burst, "key_prefix": f"bench:{secrets.token_hex(6)}:"}
        urls = [
            gateway(procs, work, upstream, limits, REDIS_URL=redis_url) for _ in range(processes)
        ]
        runs.append((urls, Outcome(f"{name}, burst {burst}", per_window + burst - 1)))
    async with ClientSession() as http:
        await asyncio.gather(*(flood(http, urls, outcome, WINDOW_S) for urls, outcome in runs))
    return [outcome for _, outcome in runs]


def start_redis(port: int) -> subprocess.Popen[bytes]:
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    return subprocess.Popen([*argv, "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)


async def redis_trouble(procs: Processes, work: Path, upstream: str) -> list[Outcome]:
    port = free_port()
    server = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        await asyncio.sleep(0.5)
        allow = gateway(procs, work, upstream, {"per_user": RATE}, REDIS_URL=url)
        deny = gateway(
            procs, work, upstream, {"per_user": RATE, "on_store_error": "deny"}, REDIS_URL=url
        )
        outcomes = []
        async with ClientSession() as http:
            for state, change in (("paused", signal.SIGSTOP), ("stopped", signal.SIGCONT)):
                server.send_signal(change)
                if state == "stopped":
                    server.terminate()
                    server.wait()
                for mode, gateway_url in (("allow", allow), ("deny", deny)):
                    outcome = Outcome(f"Redis {state}, on_store_error: {mode}")
                    await flood(http, [gateway_url], outcome, 10)
                    outcomes.append(outcome)
        return outcomes
    finally:
        server.send_signal(signal.SIGCONT)
        server.kill()
        server.wait()


async def main() -> None:
    options = BenchOptions.from_env()
    with tempfile.TemporaryDirectory(prefix="limit-accuracy-") as tmp:
        work = Path(tmp)
        procs = Processes(work)
        try:
            upstream = start_upstream(procs, options, cpu="0-1").url
            print(
                f"rate {RATE}/min, window {WINDOW_S:.0f} s, {PACE:.0f} requests/s offered",
                flush=True,
            )
            outcomes = await accuracy(procs, work, upstream)
            outcomes += await redis_trouble(procs, work, upstream)
        finally:
            procs.close()
    print("| scenario | admitted | statuses | latency ms p50 / p99 / max |")
    print("|---|---|---|---|")
    for outcome in outcomes:
        print(outcome.line())


if __name__ == "__main__":
    asyncio.run(main())

"""Instructions per request under callgrind: the gateway and the reference proxies ÷ the upstream.

Each process under test is started under callgrind on the proxy core, warmed, zeroed, sent a
fixed number of requests by `bench.fixed_load` from the load core, and dumped. Instruction counts
do not move with other work on the machine the way CPU time does.
"""

from __future__ import annotations

import secrets
import socket
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import callgrind, stack
from bench.options import REPO
from bench.suite import (
    BARE_PROXY,
    GATEWAY_EDDSA,
    GATEWAY_HS256,
    GATEWAY_LIMITED,
    GATEWAY_LIMITED_REDIS,
    LEAN_PROXY,
    UPSTREAM,
    Run,
)

# The same, with a small JSON-sized body (read whole by the gateway before forwarding).
POST_BYTES = 1024
UPSTREAM_POST = f"{UPSTREAM} POST {POST_BYTES} B"
GATEWAY_HS256_POST = f"{GATEWAY_HS256} POST {POST_BYTES} B"
_POSTS = frozenset({UPSTREAM_POST, GATEWAY_HS256_POST})

WARM_UP = 300
REQUESTS = 2000
CONCURRENCY = 8
REPEATS = 2  # measurements per config, one process: their spread shows the noise left
READY_S = 300.0
LIMITED_RATE = 1_000_000  # requests a minute: never reached, so every request is admitted
BENCH_REDIS_URL = "redis://127.0.0.1:6379/0"

Start = Callable[[Run, list[str]], stack.Service]  # starts a process under a wrapper command


@dataclass(frozen=True, slots=True)
class Count:
    config: str
    requests: int
    totals: tuple[int, ...]  # instructions of each measurement of `requests` requests
    per_request: float  # the median total ÷ requests
    dump: str  # the last dump, for callgrind_annotate


@dataclass(frozen=True, slots=True)
class InstructionsReport:
    requests: int
    warm_up: int
    concurrency: int
    counts: tuple[Count, ...] = ()
    skipped: str = ""  # why the section did not run at all
    failures: tuple[str, ...] = ()  # processes that could not be counted, and why


def count(config: str, requests: int, totals: tuple[int, ...], dump: Path) -> Count:
    return Count(config, requests, totals, statistics.median(totals) / requests, str(dump))


def measure(run: Run) -> InstructionsReport:
    """Every config that can run here; one that fails is reported and left out."""
    lacking = callgrind.missing()
    if lacking:
        note = f"skipped: {' and '.join(lacking)} not found (Debian package valgrind)"
        print(f"  {note}", flush=True)
        return InstructionsReport(REQUESTS, WARM_UP, CONCURRENCY, skipped=note)
    starts: list[tuple[str, Start, tuple[str, ...]]] = [
        ("upstream", _upstream, (UPSTREAM, UPSTREAM_POST)),
        ("bare-proxy", _bare_proxy, (BARE_PROXY,)),
    ]
    if run.gateway is not None:  # the lean proxy runs the gateway's client: it needs the package
        starts.append(("lean-proxy", _lean_proxy, (LEAN_PROXY,)))
        starts.append(("gateway", _gateway, (GATEWAY_HS256, GATEWAY_EDDSA, GATEWAY_HS256_POST)))
        starts.append(("gateway-limited", _gateway_limited, (GATEWAY_LIMITED,)))
        starts.append(("gateway-limited-redis", _gateway_limited_redis, (GATEWAY_LIMITED_REDIS,)))
    counts: list[Count] = []
    failures = []
    for slug, start, configs in starts:
        try:
            counts += _measure(run, slug, start, configs)
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            failures.append(f"callgrind of {slug} failed: {error}")
            print(f"  {failures[-1]}", flush=True)
    return InstructionsReport(
        REQUESTS, WARM_UP, CONCURRENCY, tuple(counts), failures=tuple(failures)
    )


def _upstream(run: Run, wrap: list[str]) -> stack.Service:
    return stack.start_upstream(
        run.procs,
        run.options,
        name="upstream-callgrind",
        cpu=run.options.proxy_cpu,
        wrapper=wrap,
        ready_s=READY_S,
    )


def _bare_proxy(run: Run, wrap: list[str]) -> stack.Service:
    return stack.start_bare_proxy(
        run.procs,
        run.options,
        run.upstream,
        name="bare-proxy-callgrind",
        wrapper=wrap,
        ready_s=READY_S,
    )


def _lean_proxy(run: Run, wrap: list[str]) -> stack.Service:
    return stack.start_lean_proxy(
        run.procs,
        run.options,
        run.upstream,
        name="lean-proxy-callgrind",
        wrapper=wrap,
        ready_s=READY_S,
    )


def _gateway(run: Run, wrap: list[str]) -> stack.Service:
    # One process: callgrind does not follow the workers a master would fork.
    return stack.start_gateway(
        run.procs,
        run.options,
        name="gateway-callgrind",
        keys=run.keys,
        backend_url=run.upstream.url,
        workers=0,
        wrapper=wrap,
        ready_s=READY_S,
    )


def _gateway_limited(run: Run, wrap: list[str], redis_url: str | None = None) -> stack.Service:
    """Every request spends the user's bucket (and gets the RateLimit fields); the rate is
    high enough that none is refused, so the whole limit path runs on every request."""
    config = yaml.safe_load(run.options.gateway_config.read_text(encoding="utf-8"))
    config["rate_limits"] = {
        "per_user": LIMITED_RATE,
        # Under callgrind the gateway is ~50x slower: a short store timeout would measure
        # the fallback instead of the round trip.
        "store_timeout_ms": 10_000,
        "key_prefix": f"bench:{secrets.token_hex(6)}:",
    }
    path = run.work / "gateway-limited.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {"RATE_LIMIT_PER_USER": "", **({"REDIS_URL": redis_url} if redis_url else {})}
    return stack.start_gateway(
        run.procs,
        run.options,
        name="gateway-limited-callgrind",
        keys=run.keys,
        backend_url=run.upstream.url,
        workers=0,
        wrapper=wrap,
        ready_s=READY_S,
        config=path,
        extra_env=env,
    )


def _gateway_limited_redis(run: Run, wrap: list[str]) -> stack.Service:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError as error:
        raise RuntimeError(f"no Redis on 127.0.0.1:6379 ({error})") from None
    return _gateway_limited(run, wrap, redis_url=BENCH_REDIS_URL)


def _measure(
    run: Run,
    slug: str,
    start: Start,
    configs: tuple[str, ...],
) -> list[Count]:
    print(f"  starting {slug} under callgrind …", flush=True)
    out_file = run.out / f"callgrind-{slug}.out"
    service = start(run, callgrind.wrapper(out_file))
    counter = callgrind.Counter(service.pid, out_file)
    found = []
    try:
        counter.instrument()
        for config in configs:
            # The same client, connections and token header for every config (the upstream
            # ignores the token), as in the wrk sections.
            headers = run.auth("EdDSA" if config == GATEWAY_EDDSA else "HS256")
            url = f"{service.url}{stack.TASKS_PATH}"
            post = POST_BYTES if config in _POSTS else None
            _load(run, url, WARM_UP, headers, post)
            totals = []
            for _ in range(REPEATS):
                counter.zero()
                _load(run, url, REQUESTS, headers, post)
                total, dump = counter.dump()
                totals.append(total)
            found.append(count(config, REQUESTS, tuple(totals), dump))
            print(f"  {config:<30} {found[-1].per_request:12,.0f} instructions/request", flush=True)
    finally:
        run.procs.stop_pid(service.pid)
    return found


def _load(
    run: Run, url: str, requests: int, headers: Mapping[str, str], post: int | None = None
) -> None:
    argv = ["taskset", "-c", run.options.load_cpu, sys.executable, "-m", "bench.fixed_load"]
    if post is not None:
        argv += ["--post", str(post)]
    argv += [url, str(requests), str(CONCURRENCY)]
    argv += [f"{name}: {value}" for name, value in headers.items()]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.fixed_load {url}: {done.stderr.strip()[-500:]}")

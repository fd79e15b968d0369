"""The processes under test: upstream, nginx, reference proxies, JWKS, gateway(s), backend."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import nginx
from bench.options import REPO, BenchOptions
from bench.procs import Processes, free_port, http_get, wait_ready
from bench.tokens import BenchKeys, mint

TASKS_PATH = "/api/alice/tasks"
READY_S = 30.0


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    pid: int
    url: str


def gateway_available(options: BenchOptions) -> bool:
    """True once `python -m gateway` exists (it lands in its own issue) and its config too."""
    return (REPO / "gateway" / "__main__.py").exists() and options.gateway_config.exists()


def start_upstream(
    procs: Processes,
    options: BenchOptions,
    *,
    name: str = "upstream",
    cpu: str | None = None,
    wrapper: Sequence[str] = (),
    ready_s: float = READY_S,
) -> Service:
    """`wrapper` is a command the Python process runs under (valgrind, say); `cpu` the load core."""
    port = free_port()
    argv = [*wrapper, sys.executable, "-m", "bench.upstream", "--port", str(port)]
    proc = procs.start(name, argv, cpu=cpu or options.load_cpu)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/healthz", proc, timeout=ready_s)
    return Service(name, proc.pid, url)


def start_nginx(procs: Processes, options: BenchOptions, upstream: Service, work: Path) -> Service:
    port = free_port()
    upstream_port = int(upstream.url.rsplit(":", 1)[1])
    prefix = work / "nginx"
    config = nginx.write_config(prefix, port=port, upstream_port=upstream_port)
    proc = procs.start("nginx", nginx.argv(prefix, config), cpu=options.proxy_cpu)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/healthz", proc)
    return Service("nginx", proc.pid, url)


def start_bare_proxy(
    procs: Processes,
    options: BenchOptions,
    upstream: Service,
    *,
    name: str = "bare-proxy",
    wrapper: Sequence[str] = (),
    ready_s: float = READY_S,
) -> Service:
    """aiohttp server + ClientSession with nothing else: a reference for an aiohttp proxy."""
    return _start_reference(procs, options, upstream, "bench.bare_proxy", name, wrapper, ready_s)


def start_lean_proxy(
    procs: Processes,
    options: BenchOptions,
    upstream: Service,
    *,
    name: str = "lean-proxy",
    wrapper: Sequence[str] = (),
    ready_s: float = READY_S,
) -> Service:
    """aiohttp's low-level server + the gateway's UpstreamClient, nothing else: its floor."""
    return _start_reference(procs, options, upstream, "bench.lean_proxy", name, wrapper, ready_s)


def _start_reference(
    procs: Processes,
    options: BenchOptions,
    upstream: Service,
    module: str,
    name: str,
    wrapper: Sequence[str],
    ready_s: float,
) -> Service:
    """`python -m <module> --port N --upstream URL` on the proxy core, once it answers."""
    port = free_port()
    argv = [*wrapper, sys.executable, "-m", module, "--port", str(port)]
    proc = procs.start(name, [*argv, "--upstream", upstream.url], cpu=options.proxy_cpu)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/healthz", proc, timeout=ready_s)
    return Service(name, proc.pid, url)


def start_jwks(procs: Processes, options: BenchOptions, jwks_file: Path, port: int) -> Service:
    argv = [
        sys.executable,
        "-m",
        "bench.jwks_server",
        "--port",
        str(port),
        "--jwks",
        str(jwks_file),
    ]
    proc = procs.start("jwks", argv, cpu=options.load_cpu)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/api/auth/jwks", proc)
    return Service("jwks", proc.pid, url)


def start_gateway(
    procs: Processes,
    options: BenchOptions,
    *,
    name: str,
    keys: BenchKeys,
    backend_url: str,
    workers: int | None = None,
    cpu: str | None = None,
    wrapper: Sequence[str] = (),
    ready_s: float = READY_S,
    config: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Service:
    """The gateway with the repository's config, driven by the contract's environment.

    `workers` and `cpu` default to BENCH_GATEWAY_WORKERS and the proxy core; `wrapper` is a
    command the gateway runs under, `ready_s` how long each readiness check may take. Rate
    limits are off unless `extra_env` turns them on: one token would soon be refused.
    """
    port = free_port()
    config_path = config or options.gateway_config
    argv = [*wrapper, sys.executable, "-m", "gateway", "--config", str(config_path)]
    count = options.gateway_workers if workers is None else workers
    if count:
        argv += ["--workers", str(count)]
    env = {
        "BETTER_AUTH_SECRET": keys.hs_secret,
        "BETTER_AUTH_URL": keys.issuer,
        "GATEWAY_IDENTITY_SECRET": keys.identity_secret,
        "BACKEND_URL": backend_url,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "LOG_LEVEL": options.gateway_log_level,
        "RATE_LIMIT_PER_USER": "0",
        "RATE_LIMIT_PER_IP": "0",
        **(extra_env or {}),
    }
    proc = procs.start(name, argv, cpu=cpu or options.proxy_cpu, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/healthz", proc, timeout=ready_s)
    # Ready for the benchmark once both kinds of token pass (the JWKS may load a moment later).
    for alg in ("HS256", "EdDSA"):
        headers = {"Authorization": f"Bearer {mint(keys, alg)}"}
        wait_ready(f"{url}{TASKS_PATH}", proc, headers=headers, timeout=ready_s)
    return Service(name, proc.pid, url)


def start_backend(
    procs: Processes, options: BenchOptions, *, keys: BenchKeys, work: Path
) -> Service:
    """The real Spec-1 backend on a fresh SQLite file; it only trusts the gateway's signature."""
    port = free_port()
    env = {
        "GATEWAY_IDENTITY_SECRET": keys.identity_secret,
        "BACKEND_HOST": "127.0.0.1",
        "BACKEND_PORT": str(port),
        "DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
        "LOG_LEVEL": options.gateway_log_level,
    }
    proc = procs.start("backend", [sys.executable, "-m", "backend"], cpu=options.load_cpu, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/healthz", proc)
    return Service("backend", proc.pid, url)


def seed_tasks(gateway: Service, keys: BenchKeys, count: int = 5) -> None:
    """A few of alice's tasks, created through the gateway as a client would."""
    headers = {
        "Authorization": f"Bearer {mint(keys, 'HS256')}",
        "Content-Type": "application/json",
    }
    for number in range(count):
        body = f'{{"title": "benchmark task {number}", "description": "seeded"}}'.encode()
        status, answer = http_get(f"{gateway.url}{TASKS_PATH}", headers=headers, data=body)
        if status != 201:
            raise RuntimeError(
                f"seeding a task through the gateway gave {status}: {answer[:200]!r}"
            )

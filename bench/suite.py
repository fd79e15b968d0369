"""The benchmark's sections: the side-by-side configs, pacing, concurrency, bodies, memory."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import procs
from bench.measure import Config, Sample, TokenCycle, sample
from bench.options import BenchOptions
from bench.stack import TASKS_PATH, Service
from bench.tokens import BenchKeys, mint
from bench.wrk import WrkRun

KB = 1000
MB = 1000 * 1000
CONCURRENCY_LEVELS = (1, 32, 256)

UPSTREAM = "upstream alone"
NGINX = "nginx proxy_pass"
BARE_PROXY = "aiohttp bare proxy"
LEAN_PROXY = "aiohttp + lean client (floor)"
GATEWAY_HS256 = "gateway HS256 cached"
GATEWAY_EDDSA = "gateway EdDSA cached"
GATEWAY_HS256_NEW = "gateway HS256 new token"
GATEWAY_EDDSA_NEW = "gateway EdDSA new token"
GATEWAY_BACKEND = "gateway + backend SQLite"
GATEWAY_LIMITED = "gateway HS256 cached + rate limit (in-process)"
GATEWAY_LIMITED_REDIS = "gateway HS256 cached + rate limit (Redis)"


@dataclass(slots=True)
class Run:
    """Everything one benchmark run has started and learned so far."""

    options: BenchOptions
    procs: procs.Processes
    work: Path
    out: Path
    keys: BenchKeys
    upstream: Service
    nginx: Service
    bare_proxy: Service | None = None
    lean_proxy: Service | None = None
    gateway: Service | None = None
    gateway_backend: Service | None = None
    backend: Service | None = None
    cycles: dict[str, TokenCycle] = field(default_factory=dict)

    @property
    def wrk_log(self) -> Path:
        return self.out / "wrk.log"

    def auth(self, alg: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(self.keys, alg)}"}


@contextlib.contextmanager
def alone_on_proxy_core(run: Run) -> Iterator[None]:
    """The upstream shares the load core, except when it is the process under test."""
    procs.pin(run.upstream.pid, run.options.proxy_cpu)
    try:
        yield
    finally:
        procs.pin(run.upstream.pid, run.options.load_cpu)


def fixed_run(
    run: Run,
    service: Service,
    path: str = TASKS_PATH,
    *,
    alg: str | None = "HS256",
    connections: int | None = None,
    script: str | None = None,
    script_args: Sequence[str] = (),
) -> WrkRun:
    return WrkRun(
        url=f"{service.url}{path}",
        duration_s=run.options.duration_s,
        connections=connections or run.options.connections,
        headers=run.auth(alg) if alg else {},
        script=script,
        script_args=script_args,
    )


def direct(run: Run, name: str, spec: WrkRun | None = None) -> Config:
    """The upstream alone, on the proxy core: the floor every proxy is compared with."""
    fixed = spec or fixed_run(run, run.upstream)
    return Config(name, run.upstream.pid, lambda: fixed, around=lambda: alone_on_proxy_core(run))


def proxied(run: Run, name: str, service: Service, spec: WrkRun | None = None) -> Config:
    fixed = spec or fixed_run(run, service)
    other = run.backend if service is run.gateway_backend else run.upstream
    return Config(name, service.pid, lambda: fixed, other_pid=other.pid if other else None)


def new_tokens(run: Run, name: str, alg: str) -> Config:
    """A token the gateway has never seen on every request: no help from its cache."""
    gateway = run.gateway
    if gateway is None:
        raise RuntimeError("the gateway is not running")
    cycle = run.cycles[alg]
    base = fixed_run(run, gateway, alg=None, script="tokens.lua")
    return Config(
        name,
        gateway.pid,
        lambda: replace(base, script_args=cycle.args(TASKS_PATH)),
        other_pid=run.upstream.pid,
        tokens=cycle,
    )


def main_configs(run: Run) -> list[Config]:
    configs = [direct(run, UPSTREAM), proxied(run, NGINX, run.nginx)]
    if run.bare_proxy is not None:
        configs.append(proxied(run, BARE_PROXY, run.bare_proxy))
    if run.lean_proxy is not None:
        configs.append(proxied(run, LEAN_PROXY, run.lean_proxy))
    if run.gateway is not None:
        configs += [
            proxied(run, GATEWAY_HS256, run.gateway),
            proxied(run, GATEWAY_EDDSA, run.gateway, fixed_run(run, run.gateway, alg="EdDSA")),
            new_tokens(run, GATEWAY_HS256_NEW, "HS256"),
            new_tokens(run, GATEWAY_EDDSA_NEW, "EdDSA"),
        ]
    if run.gateway_backend is not None:
        configs.append(proxied(run, GATEWAY_BACKEND, run.gateway_backend))
    return configs


def interleaved(
    run: Run, configs: Sequence[Config], rounds: int, *, warm_up: bool = True
) -> list[Sample]:
    """Every config once per round, rounds one after another, after a short unrecorded warm-up."""
    if warm_up:
        for config in configs:
            warm = replace(config, spec=_shorter(config, min(2.0, run.options.duration_s)))
            sample(warm, round_number=0, load_cpu=run.options.load_cpu, log=run.wrk_log)
    samples = []
    for number in range(1, rounds + 1):
        for config in configs:
            result = sample(
                config, round_number=number, load_cpu=run.options.load_cpu, log=run.wrk_log
            )
            print(
                f"  round {number} {config.name:<30} {result.rps:9.0f} req/s "
                f"{result.cpu_us_per_request:8.1f} µs CPU/req (user "
                f"{result.user_us_per_request:.1f}, sys {result.sys_us_per_request:.1f})  "
                f"errors {result.errors}",
                flush=True,
            )
            samples.append(result)
    return samples


def _shorter(config: Config, seconds: float) -> Callable[[], WrkRun]:
    spec = config.spec
    return lambda: replace(spec(), duration_s=seconds)


def median_of(samples: Sequence[Sample], config: str, metric: str) -> float:
    values = [getattr(s, metric) for s in samples if s.config == config]
    return statistics.median(values) if values else float("nan")

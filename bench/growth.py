"""How the cost grows: pacing at half the maximum, concurrency, body size, memory under a flood."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from bench import procs, wrk
from bench.measure import Sample, TokenCycle
from bench.stack import TASKS_PATH, Service
from bench.suite import (
    CONCURRENCY_LEVELS,
    MB,
    Run,
    direct,
    fixed_run,
    interleaved,
    proxied,
)

BLOB_PATH = "/api/alice/tasks/blob"
_FLOOD_STEP_SECONDS = 3.0
_MAX_FLOOD_RUNS = 100
BODY_CASES = (("1 KB down", 1000, "GET"), ("1 MB down", MB, "GET"), ("1 MB up", MB, "POST"))


def paced(run: Run, gateway: Service, gateway_max_rps: float) -> tuple[float, list[Sample]]:
    """Gateway and upstream alone at the same fixed rate: half the gateway's maximum."""
    rate = gateway_max_rps / 2
    connections = run.options.connections
    mean_delay_ms = connections * 1000 / rate
    args = [f"{mean_delay_ms:.3f}"]
    configs = [
        direct(
            run,
            "paced upstream alone",
            fixed_run(run, run.upstream, script="paced.lua", script_args=args),
        ),
        proxied(
            run,
            "paced gateway HS256",
            gateway,
            fixed_run(run, gateway, script="paced.lua", script_args=args),
        ),
    ]
    return rate, interleaved(run, configs, run.options.rounds)


def concurrency(run: Run, gateway: Service) -> list[Sample]:
    configs = []
    for level in CONCURRENCY_LEVELS:
        configs += [
            direct(
                run, f"c{level} upstream alone", fixed_run(run, run.upstream, connections=level)
            ),
            proxied(
                run, f"c{level} gateway HS256", gateway, fixed_run(run, gateway, connections=level)
            ),
        ]
    return interleaved(run, configs, run.options.growth_rounds)


def _body_spec(run: Run, service: Service, size: int, method: str) -> wrk.WrkRun:
    if method == "POST":
        # The gateway's default routes take POST only on the collection.
        return fixed_run(run, service, TASKS_PATH, script="upload.lua", script_args=[str(size)])
    return fixed_run(run, service, f"{BLOB_PATH}/{size}")


def bodies(run: Run, gateway: Service | None) -> list[Sample]:
    configs = []
    for label, size, method in BODY_CASES:
        configs += [
            replace(
                direct(run, f"{label} upstream alone", _body_spec(run, run.upstream, size, method)),
                payload_bytes=size,
            ),
            replace(
                proxied(run, f"{label} nginx", run.nginx, _body_spec(run, run.nginx, size, method)),
                payload_bytes=size,
            ),
        ]
        if gateway is not None:
            spec = _body_spec(run, gateway, size, method)
            configs.append(
                replace(proxied(run, f"{label} gateway HS256", gateway, spec), payload_bytes=size)
            )
    return interleaved(run, configs, run.options.growth_rounds)


@dataclass(frozen=True, slots=True)
class MemoryReport:
    cache_bound: int
    tokens_sent: int
    rss_start_kib: int
    rss_at_bound_kib: int
    rss_end_kib: int
    margin_mib: float
    errors: int

    @property
    def growth_past_bound_mib(self) -> float:
        return (self.rss_end_kib - self.rss_at_bound_kib) / 1024

    @property
    def per_cached_token_kib(self) -> float:
        return (self.rss_at_bound_kib - self.rss_start_kib) / max(1, self.cache_bound)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.growth_past_bound_mib <= self.margin_mib


def memory(run: Run, gateway: Service, cycle: TokenCycle) -> MemoryReport:
    """A fresh gateway's RSS before, at its cache bound, and after `rss_tokens` distinct tokens."""
    options = run.options
    warm = replace(fixed_run(run, gateway), duration_s=2.0)
    wrk.run(warm, cpu=options.load_cpu, log=run.wrk_log)
    start = procs.rss_kib(gateway.pid)
    errors = 0
    steps = (min(options.cache_bound, options.rss_tokens), options.rss_tokens)
    readings = []
    for target in steps:
        errors += _flood(run, gateway, cycle, target - cycle.sent)
        time.sleep(0.5)
        readings.append(procs.rss_kib(gateway.pid))
    return MemoryReport(
        cache_bound=options.cache_bound,
        tokens_sent=cycle.sent,
        rss_start_kib=start,
        rss_at_bound_kib=readings[0],
        rss_end_kib=readings[1],
        margin_mib=options.rss_margin_mib,
        errors=errors,
    )


def _flood(run: Run, gateway: Service, cycle: TokenCycle, count: int) -> int:
    """Send `count` more distinct tokens, in short wrk runs (wrk waits out -d even when stopped)."""
    target = cycle.sent + count
    errors = 0
    for _ in range(_MAX_FLOOD_RUNS):
        remaining = target - cycle.sent
        if remaining <= 0:
            break
        spec = replace(
            fixed_run(run, gateway, alg=None, script="tokens.lua"),
            duration_s=_FLOOD_STEP_SECONDS,
            script_args=cycle.args(TASKS_PATH, stop_after=remaining),
        )
        result = wrk.run(spec, cpu=run.options.load_cpu, log=run.wrk_log)
        cycle.advance(result)
        errors += result.socket_errors + result.bad_status
    short = 1 if cycle.sent < target else 0  # never got there: the run failed
    return errors + short + (1 if cycle.wrapped else 0)

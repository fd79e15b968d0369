"""Throughput vs gateway worker processes (`--workers N`, SO_REUSEPORT) on every CPU there is."""

from __future__ import annotations

import os
from dataclasses import dataclass

from bench import stack
from bench.measure import Sample
from bench.suite import Run, interleaved, proxied

MAX_WORKERS = 4


@dataclass(frozen=True, slots=True)
class WorkersReport:
    cpus: str  # the CPUs every gateway of this section may run on
    counts: tuple[int, ...]
    samples: tuple[Sample, ...]


def worker_counts(cpus: int, limit: int = MAX_WORKERS) -> tuple[int, ...]:
    """1, 2, … up to one worker per CPU, at most `limit`."""
    return tuple(range(1, max(1, min(cpus, limit)) + 1))


def workers_name(count: int) -> str:
    return f"gateway HS256 {count} worker{'s' if count > 1 else ''}"


def workers(run: Run) -> WorkersReport:
    """A gateway per worker count in front of the same upstream, HS256 cached, interleaved."""
    cpus = sorted(os.sched_getaffinity(0))
    # Not pinned to the proxy core: N workers on one core would measure nothing.
    allowed = ",".join(map(str, cpus))
    counts = worker_counts(len(cpus))
    configs = []
    for count in counts:
        gateway = stack.start_gateway(
            run.procs,
            run.options,
            name=f"gateway-workers-{count}",
            keys=run.keys,
            backend_url=run.upstream.url,
            workers=count,
            cpu=allowed,
        )
        configs.append(proxied(run, workers_name(count), gateway))
    samples = interleaved(run, configs, run.options.rounds)
    return WorkersReport(allowed, counts, tuple(samples))

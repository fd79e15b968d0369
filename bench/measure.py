"""One measured run: CPU of the process under test before and after a wrk run, per request."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs, wrk

Hook = Callable[[], contextlib.AbstractContextManager[None]]


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


@dataclass(frozen=True, slots=True)
class Sample:
    config: str
    round: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float  # utime + stime of the process under test ÷ requests
    user_us_per_request: float  # the same, utime alone
    sys_us_per_request: float  # the same, stime alone (syscalls, sockets, the network stack)
    other_cpu_us_per_request: float
    errors: int
    note: str = ""


@dataclass(slots=True)
class TokenCycle:
    """A file of distinct tokens that successive wrk runs walk through without repeating."""

    path: Path
    count: int
    next_index: int = 0
    wrapped: bool = False
    sent: int = 0

    def args(self, target: str, stop_after: int | None = None) -> list[str]:
        extra = [] if stop_after is None else [str(stop_after)]
        return [str(self.path), str(self.next_index), target, *extra]

    def advance(self, result: wrk.WrkResult) -> None:
        reached = result.script_values.get("tokens_next", self.next_index)
        went_round = bool(result.script_values.get("tokens_wrapped", 0))
        self.sent += reached - self.next_index + (self.count if went_round else 0)
        self.next_index = reached
        self.wrapped = self.wrapped or went_round


@dataclass(frozen=True, slots=True)
class Config:
    """A configuration under test: what wrk sends, and whose CPU a request costs."""

    name: str
    measured_pid: int
    spec: Callable[[], wrk.WrkRun]
    # CPU of this process is recorded too (the upstream behind a proxy, the backend, …).
    other_pid: int | None = None
    around: Hook = _nothing
    tokens: TokenCycle | None = None
    payload_bytes: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def sample(config: Config, *, round_number: int, load_cpu: str, log: Path) -> Sample:
    """Run wrk once against `config` and charge the CPU it took to the requests completed."""
    spec = config.spec()
    with config.around():
        cpu_before = procs.cpu_times(config.measured_pid)
        other_before = procs.cpu_seconds(config.other_pid) if config.other_pid else 0.0
        result = wrk.run(spec, cpu=load_cpu, log=log)
        cpu_after = procs.cpu_times(config.measured_pid)
        other_after = procs.cpu_seconds(config.other_pid) if config.other_pid else 0.0
    note = ""
    if config.tokens is not None:
        config.tokens.advance(result)
        if config.tokens.wrapped:
            note = "token file wrapped: some tokens were sent twice"
    requests = max(result.requests, 1)
    return Sample(
        config=config.name,
        round=round_number,
        requests=result.requests,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        cpu_us_per_request=(cpu_after.total - cpu_before.total) * 1e6 / requests,
        user_us_per_request=(cpu_after.user - cpu_before.user) * 1e6 / requests,
        sys_us_per_request=(cpu_after.system - cpu_before.system) * 1e6 / requests,
        other_cpu_us_per_request=(other_after - other_before) * 1e6 / requests,
        errors=result.socket_errors + result.bad_status,
        note=note,
    )

"""Run wrk pinned to its own core and read its report (throughput, latency percentiles, errors)."""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LUA_DIR = Path(__file__).parent / "lua"

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.M)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.M
)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SCRIPT_VALUE = re.compile(r"\b(tokens_next|tokens_wrapped)=(\d+)")


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: int
    bad_status: int
    script_values: Mapping[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, slots=True)
class WrkRun:
    """One wrk invocation: where, how hard and with what requests."""

    url: str
    duration_s: float
    connections: int = 32
    headers: Mapping[str, str] = field(default_factory=dict)
    script: str | None = None
    script_args: Sequence[str] = ()

    def argv(self, cpu: str) -> list[str]:
        argv = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{self.connections}"]
        # wrk takes whole seconds only.
        argv += [f"-d{max(1, math.ceil(self.duration_s))}s", "--latency", "--timeout", "5s"]
        for name, value in self.headers.items():
            argv += ["-H", f"{name}: {value}"]
        if self.script is not None:
            argv += ["-s", str(LUA_DIR / self.script)]
        argv.append(self.url)
        if self.script_args:
            argv += ["--", *self.script_args]
        return argv


def run(spec: WrkRun, *, cpu: str, log: Path) -> WrkResult:
    """Run wrk to completion (bounded by its duration plus a grace period) and parse it."""
    completed = subprocess.run(
        spec.argv(cpu),
        capture_output=True,
        text=True,
        timeout=spec.duration_s + 60,
        check=False,
    )
    with log.open("a") as out:
        out.write(f"$ {_loggable(spec.argv(cpu))}\n{completed.stdout}{completed.stderr}\n")
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    return parse(completed.stdout)


def _loggable(argv: Sequence[str]) -> str:
    """The command line without header values (they carry tokens)."""
    shown = []
    for arg, previous in zip(argv, ["", *argv], strict=False):
        shown.append(arg.split(":", 1)[0] + ": [redacted]" if previous == "-H" else arg)
    return " ".join(shown)


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse(text: str) -> WrkResult:
    """The numbers of a `wrk --latency` report; raises ValueError when they are missing."""
    requests = _REQUESTS.search(text)
    percentiles = {m[1]: _to_ms(m[2], m[3]) for m in _PERCENTILE.finditer(text)}
    if requests is None or "50" not in percentiles or "99" not in percentiles:
        raise ValueError(f"not a wrk --latency report:\n{text}")
    socket_errors = _SOCKET_ERRORS.search(text)
    bad_status = _NON_2XX.search(text)
    return WrkResult(
        requests=int(requests[1]),
        seconds=_to_ms(requests[2], requests[3]) / 1e3,
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        socket_errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
        bad_status=int(bad_status[1]) if bad_status else 0,
        script_values={m[1]: int(m[2]) for m in _SCRIPT_VALUE.finditer(text)},
    )

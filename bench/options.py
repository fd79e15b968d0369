"""What a benchmark run does, read from the environment (`BENCH_*`), with sane defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gateway.auth.settings import AuthSettings

REPO = Path(__file__).resolve().parent.parent


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = float(raw)
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


def _whole(name: str, default: int) -> int:
    return int(_number(name, default))


@dataclass(frozen=True, slots=True)
class BenchOptions:
    duration_s: float
    rounds: int
    growth_rounds: int
    connections: int
    new_tokens: int
    rss_tokens: int
    rss_margin_mib: float
    cache_bound: int
    proxy_cpu: str
    load_cpu: str
    gateway_config: Path
    gateway_workers: int
    gateway_log_level: str
    only: frozenset[str]
    results_dir: Path

    @classmethod
    def from_env(cls) -> BenchOptions:
        rounds = max(1, _whole("BENCH_ROUNDS", 3))
        only = os.environ.get("BENCH_ONLY", "")
        return cls(
            duration_s=max(1.0, _number("BENCH_DURATION", 10.0)),
            rounds=rounds,
            growth_rounds=max(1, _whole("BENCH_GROWTH_ROUNDS", rounds)),
            connections=max(1, _whole("BENCH_CONNECTIONS", 32)),
            new_tokens=max(1000, _whole("BENCH_NEW_TOKENS", 200_000)),
            rss_tokens=_whole("BENCH_RSS_TOKENS", 100_000),
            rss_margin_mib=_number("BENCH_RSS_MARGIN_MIB", 16.0),
            cache_bound=_whole("BENCH_CACHE_BOUND", AuthSettings().cache_max_entries),
            proxy_cpu=os.environ.get("BENCH_PROXY_CPU", "1"),
            load_cpu=os.environ.get("BENCH_LOAD_CPU", "0"),
            gateway_config=Path(os.environ.get("BENCH_GATEWAY_CONFIG", REPO / "gateway.yaml")),
            gateway_workers=_whole("BENCH_GATEWAY_WORKERS", 0),
            gateway_log_level=os.environ.get("BENCH_GATEWAY_LOG_LEVEL", "info"),
            only=frozenset(part.strip() for part in only.split(",") if part.strip()),
            results_dir=Path(os.environ.get("BENCH_RESULTS", REPO / "bench" / "results")),
        )

    def wants(self, section: str) -> bool:
        """BENCH_ONLY=main,growth,... limits a run to some sections (all by default)."""
        return not self.only or section in self.only

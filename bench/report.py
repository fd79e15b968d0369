"""Medians of the samples, the Markdown tables and the targets of issue 6."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bench.instructions import Count
from bench.measure import Sample
from bench.scaling import workers_name
from bench.suite import (
    BARE_PROXY,
    CONCURRENCY_LEVELS,
    GATEWAY_EDDSA,
    GATEWAY_EDDSA_NEW,
    GATEWAY_HS256,
    GATEWAY_HS256_NEW,
    LEAN_PROXY,
    NGINX,
    UPSTREAM,
)

CACHED_TARGET = 2.0
PACED_P99_TARGET_MS = 2.0


@dataclass(frozen=True, slots=True)
class Summary:
    """Medians over the rounds of one config."""

    config: str
    rounds: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    user_us: float  # user + sys = cpu_us: both from the round(s) whose cpu_us is the median
    sys_us: float
    other_cpu_us: float
    errors: int
    notes: str


def summarise(samples: Iterable[Sample]) -> dict[str, Summary]:
    grouped: dict[str, list[Sample]] = {}
    for one in samples:
        grouped.setdefault(one.config, []).append(one)
    return {name: _summary(name, group) for name, group in grouped.items()}


def _summary(name: str, group: Sequence[Sample]) -> Summary:
    def median(metric: str) -> float:
        return float(statistics.median(getattr(s, metric) for s in group))

    user_us, sys_us = _median_split(group)
    return Summary(
        config=name,
        rounds=len(group),
        rps=median("rps"),
        p50_ms=median("p50_ms"),
        p99_ms=median("p99_ms"),
        cpu_us=median("cpu_us_per_request"),
        user_us=user_us,
        sys_us=sys_us,
        other_cpu_us=median("other_cpu_us_per_request"),
        errors=sum(s.errors for s in group),
        notes="; ".join(sorted({s.note for s in group if s.note})),
    )


def _median_split(group: Sequence[Sample]) -> tuple[float, float]:
    """User and sys µs/req of the round whose total is the median (the mean of the two middle
    rounds for an even count, as the median total is), so that user + sys = the median total."""
    ordered = sorted(group, key=lambda s: s.cpu_us_per_request)
    middle = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    return (
        statistics.fmean(s.user_us_per_request for s in middle),
        statistics.fmean(s.sys_us_per_request for s in middle),
    )


def _ratio(value: float, base: Summary | None) -> str:
    if base is None or not base.cpu_us or math.isnan(value):
        return "-"
    return f"{value / base.cpu_us:.2f}x"


MAIN_CAPTION = (
    "CPU µs/req: utime + stime of the process under test (and its children) from "
    "`/proc/<pid>/stat`, before and after the run, ÷ requests completed; user µs/req and sys "
    "µs/req are the same two counters kept apart (the kernel's split, sampled at the clock "
    "tick), from the round whose total is the median (the mean of the two middle rounds for an "
    "even count), so user + sys = CPU µs/req. ÷ upstream and ÷ nginx divide the total. A proxy "
    "has two sockets per request where the upstream alone has one, so about twice its sys time "
    "is inherent."
)


def main_table(summaries: Mapping[str, Summary]) -> str:
    upstream, nginx = summaries.get(UPSTREAM), summaries.get(NGINX)
    lines = [
        "| config | req/s | p50 ms | p99 ms | CPU µs/req | ÷ upstream | ÷ nginx "
        "| user µs/req | sys µs/req | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries.values():
        lines.append(
            f"| {s.config} | {s.rps:,.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.cpu_us:.1f} "
            f"| {_ratio(s.cpu_us, upstream)} | {_ratio(s.cpu_us, nginx)} "
            f"| {s.user_us:.1f} | {s.sys_us:.1f} | {s.errors} |"
        )
    return "\n".join(lines)


def concurrency_table(summaries: Mapping[str, Summary]) -> str:
    lines = [
        "| connections | upstream req/s | upstream µs/req | gateway req/s | gateway p99 ms "
        "| gateway µs/req | ÷ upstream |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in CONCURRENCY_LEVELS:
        up, gw = summaries.get(f"c{level} upstream alone"), summaries.get(f"c{level} gateway HS256")
        if up is None or gw is None:
            continue
        lines.append(
            f"| {level} | {up.rps:,.0f} | {up.cpu_us:.1f} | {gw.rps:,.0f} | {gw.p99_ms:.2f} "
            f"| {gw.cpu_us:.1f} | {_ratio(gw.cpu_us, up)} |"
        )
    return "\n".join(lines)


def body_table(summaries: Mapping[str, Summary], cases: Sequence[tuple[str, int, str]]) -> str:
    lines = [
        "| body | proxy | req/s | CPU µs/req | CPU µs/MB | ÷ upstream | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, size, _ in cases:
        upstream = summaries.get(f"{label} upstream alone")
        for proxy in ("upstream alone", "nginx", "gateway HS256"):
            s = summaries.get(f"{label} {proxy}")
            if s is None:
                continue
            # Per MB only where the body, not the request, dominates.
            per_mb = f"{s.cpu_us / (size / 1e6):,.0f}" if size >= 100_000 else "-"
            lines.append(
                f"| {label} | {proxy} | {s.rps:,.0f} | {s.cpu_us:.1f} | {per_mb} "
                f"| {_ratio(s.cpu_us, upstream)} | {s.errors} |"
            )
    return "\n".join(lines)


def workers_table(summaries: Mapping[str, Summary], counts: Sequence[int]) -> str:
    one = summaries.get(workers_name(1))
    lines = [
        "| workers | req/s | × 1 worker | p50 ms | p99 ms | CPU µs/req | errors |",  # noqa: RUF001
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count in counts:
        s = summaries.get(workers_name(count))
        if s is None:
            continue
        scale = f"{s.rps / one.rps:.2f}x" if one is not None and one.rps else "-"
        lines.append(
            f"| {count} | {s.rps:,.0f} | {scale} | {s.p50_ms:.2f} | {s.p99_ms:.2f} "
            f"| {s.cpu_us:.1f} | {s.errors} |"
        )
    return "\n".join(lines)


def instructions_table(counts: Sequence[Count]) -> str:
    """Instructions per request and their ratio to the upstream alone; the spread when repeated."""
    upstream = next((c for c in counts if c.config == UPSTREAM), None)
    repeated = any(len(c.totals) > 1 for c in counts)
    head = "| config | instructions/request | ÷ upstream alone |"
    rule = "|---|---:|---:|"
    lines = [head + (" spread |" if repeated else ""), rule + ("---:|" if repeated else "")]
    for c in counts:
        ratio = f"{c.per_request / upstream.per_request:.2f}x" if upstream is not None else "-"
        line = f"| {c.config} | {c.per_request:,.0f} | {ratio} |"
        if repeated:
            line += f" {_spread(c.totals)} |"
        lines.append(line)
    return "\n".join(lines)


def _spread(totals: Sequence[int]) -> str:
    """(max - min) ÷ median over the measurements of one config."""
    if len(totals) < 2:
        return "-"
    return f"{100 * (max(totals) - min(totals)) / statistics.median(totals):.2f} %"


def paced_table(summaries: Mapping[str, Summary], rate: float) -> str:
    lines = [
        f"Target rate: {rate:,.0f} req/s (half the gateway's median maximum).",
        "",
        "| config | achieved req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("paced upstream alone", "paced gateway HS256"):
        s = summaries.get(name)
        if s is not None:
            lines.append(
                f"| {name} | {s.rps:,.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.errors} |"
            )
    return "\n".join(lines)


def pyjwt_table(pyjwt: Mapping[str, Mapping[str, float]]) -> str:
    lines = ["| algorithm | median µs/decode | best µs/decode |", "|---|---:|---:|"]
    for alg, cost in pyjwt.items():
        lines.append(f"| {alg} | {cost['median_us']:.1f} | {cost['best_us']:.1f} |")
    return "\n".join(lines)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def cached_targets(summaries: Mapping[str, Summary]) -> list[str]:
    upstream = summaries.get(UPSTREAM)
    found = reference_lines(summaries)
    for name in (GATEWAY_HS256, GATEWAY_EDDSA):
        gateway = summaries.get(name)
        if upstream is None or gateway is None:
            continue
        ratio = gateway.cpu_us / upstream.cpu_us
        found.append(
            f"[{_verdict(ratio <= CACHED_TARGET)}] {name}: {gateway.cpu_us:.1f} µs/req = "
            f"{ratio:.2f}x upstream alone ({upstream.cpu_us:.1f} µs); target ≤ {CACHED_TARGET}x "
            f"({CACHED_TARGET * upstream.cpu_us:.1f} µs), "
            f"{'margin' if ratio <= CACHED_TARGET else 'over by'} "
            f"{abs(gateway.cpu_us - CACHED_TARGET * upstream.cpu_us):.1f} µs"
        )
    return found


def reference_lines(summaries: Mapping[str, Summary]) -> list[str]:
    """The two aiohttp proxies that do nothing but forward, each against the upstream alone."""
    upstream = summaries.get(UPSTREAM)
    bare, lean = summaries.get(BARE_PROXY), summaries.get(LEAN_PROXY)
    if upstream is None or not upstream.cpu_us:
        return []
    found = []
    if bare is not None:
        found.append(
            f"(reference) {BARE_PROXY}, aiohttp server + ClientSession and nothing else: "
            f"{bare.cpu_us:.1f} µs/req = {bare.cpu_us / upstream.cpu_us:.2f}x upstream alone"
        )
    if lean is not None:
        found.append(
            f"(reference) aiohttp + lean client, nothing else: {lean.cpu_us:.1f} µs/req = "
            f"{lean.cpu_us / upstream.cpu_us:.2f}x upstream alone (aiohttp's low-level server + "
            f"the gateway's UpstreamClient{_over_floor(summaries, lean)})"
        )
    return found


def _over_floor(summaries: Mapping[str, Summary], floor: Summary) -> str:
    gateway = summaries.get(GATEWAY_HS256)
    if gateway is None:
        return ""
    return f"; {GATEWAY_HS256} costs {gateway.cpu_us - floor.cpu_us:+.1f} µs/req over it"


def first_seen_targets(
    summaries: Mapping[str, Summary], pyjwt: Mapping[str, Mapping[str, float]]
) -> list[str]:
    found = []
    for alg, cached, new in (
        ("HS256", GATEWAY_HS256, GATEWAY_HS256_NEW),
        ("EdDSA", GATEWAY_EDDSA, GATEWAY_EDDSA_NEW),
    ):
        c, n = summaries.get(cached), summaries.get(new)
        if c is None or n is None or alg not in pyjwt:
            continue
        decode = pyjwt[alg]["median_us"]
        bound = c.cpu_us + decode
        found.append(
            f"[{_verdict(n.cpu_us <= bound)}] {new}: {n.cpu_us:.1f} µs/req; target ≤ cached "
            f"{c.cpu_us:.1f} + PyJWT {alg} decode {decode:.1f} (median; best "
            f"{pyjwt[alg]['best_us']:.1f}) = {bound:.1f} µs "
            f"(extra over cached {n.cpu_us - c.cpu_us:.1f} µs){_note(n)}"
        )
    return found


def _note(s: Summary) -> str:
    return f" — {s.notes}" if s.notes else ""


def paced_target(summaries: Mapping[str, Summary]) -> list[str]:
    up, gw = summaries.get("paced upstream alone"), summaries.get("paced gateway HS256")
    if up is None or gw is None:
        return []
    extra = gw.p99_ms - up.p99_ms
    return [
        f"[{_verdict(extra <= PACED_P99_TARGET_MS)}] p99 at half the gateway's maximum: gateway "
        f"{gw.p99_ms:.2f} ms vs upstream alone {up.p99_ms:.2f} ms at the same rate: "
        f"+{extra:.2f} ms (target ≤ +{PACED_P99_TARGET_MS:.0f} ms)"
    ]

"""The run written up in Markdown: the machine, the command, the tables and the targets."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
from pathlib import Path

import aiohttp
import jwt

from bench import profile, report
from bench.growth import BODY_CASES, MemoryReport
from bench.instructions import InstructionsReport
from bench.options import BenchOptions
from bench.runner import Results
from bench.scaling import WorkersReport


def _command_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not installed"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "pyjwt": jwt.__version__,
        "nginx": _command_version(["nginx", "-v"]),
        "wrk": _command_version(["wrk", "--version"]).split(" [", 1)[0],
        # Other work on the machine shows in throughput and tails more than in CPU per request.
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def _command(options: BenchOptions) -> str:
    env = {k: v for k, v in os.environ.items() if k.startswith("BENCH_")}
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    return f"{prefix} make bench".strip()


def _memory(memory: MemoryReport) -> list[str]:
    verdict = "PASS" if memory.ok else "MISS"
    return [
        f"- RSS of a fresh gateway: {memory.rss_start_kib / 1024:.1f} MiB at start, "
        f"{memory.rss_at_bound_kib / 1024:.1f} MiB after {memory.cache_bound:,} distinct tokens "
        f"(the cache bound), {memory.rss_end_kib / 1024:.1f} MiB after {memory.tokens_sent:,} "
        f"(about {memory.per_cached_token_kib:.1f} KiB per cached token).",
        f"- [{verdict}] growth past the cache bound: {memory.growth_past_bound_mib:+.1f} MiB "
        f"(allowed margin {memory.margin_mib:.0f} MiB); errors {memory.errors}.",
    ]


def _workers(options: BenchOptions, workers: WorkersReport, nproc: str) -> list[str]:
    return [
        "",
        "### Throughput vs gateway workers (`--workers N`, SO_REUSEPORT)",
        "",
        f"HS256 cached token, medians of {options.rounds} interleaved rounds. Each gateway here "
        f"may run on CPUs {workers.cpus}, not pinned to one core; wrk and the upstream stay on "
        f"CPU {options.load_cpu} of the same machine, so with {nproc} CPUs the load generator "
        "competes with the workers and the scaling shown is understated. CPU µs/req is the "
        "master plus all its workers.",
        "",
        report.workers_table(report.summarise(workers.samples), workers.counts),
    ]


def _instructions(options: BenchOptions, found: InstructionsReport) -> list[str]:
    lines = ["", "### Instructions per request (callgrind)", ""]
    if found.skipped:
        return [*lines, f"({found.skipped})"]
    dumps = sorted({str(Path(c.dump).parent) for c in found.counts})
    return [
        *lines,
        f"Each process under test alone under `valgrind --tool=callgrind` on CPU "
        f"{options.proxy_cpu}, counting from after start-up: {found.warm_up} warm-up requests, "
        f"then the counters zeroed and {found.requests:,} `GET /api/alice/tasks` sent by "
        f"`bench/fixed_load.py` over {found.concurrency} connections from CPU {options.load_cpu}; "
        "instructions (Ir) of the dump ÷ requests, median of the measurements; spread = "
        f"(max - min) ÷ median. Dumps (`callgrind_annotate`): {', '.join(dumps) or '-'}.",
        "",
        report.instructions_table(found.counts),
        "",
        "callgrind counts user-space instructions only: no kernel/syscall time, so this ratio "
        "is not CPU time; it is repeatable where wrk's CPU figures are noisy.",
        *(f"- {failure}" for failure in found.failures),
    ]


def compose(options: BenchOptions, results: Results, host: dict[str, str], stamp: str) -> str:
    main = report.summarise(results.main)
    lines = [
        f"## Benchmark run {stamp}",
        "",
        f"Command: `{_command(options)}` on {host['nproc']} CPUs ({host['cpu']}) "
        f"(Linux {host['kernel']}, Python {host['python']}, aiohttp {host['aiohttp']}, "
        f"PyJWT {host['pyjwt']}, {host['nginx']}, {host['wrk']}); "
        f"load average at the end {host['loadavg']}.",
        f"wrk -t1 -c{options.connections} -d{options.duration_s:g}s pinned to CPU "
        f"{options.load_cpu}; the process under test pinned to CPU {options.proxy_cpu}; medians of "
        f"{options.rounds} interleaved rounds (growth: {options.growth_rounds}).",
        "",
    ]
    if results.main:
        lines += [report.main_table(main), "", report.MAIN_CAPTION, ""]
    lines += ["### Targets", ""]
    lines += [f"- {t}" for t in report.cached_targets(main)]
    lines += [f"- {t}" for t in report.first_seen_targets(main, results.pyjwt)]
    lines += [f"- {t}" for t in report.paced_target(report.summarise(results.paced))]
    if results.memory is not None:
        lines += _memory(results.memory)
    if not results.gateway_ran:
        lines.append("- (the gateway was not available: no gateway targets measured)")
    lines += [
        "",
        "### PyJWT decode in-process (timeit, same core)",
        "",
        report.pyjwt_table(results.pyjwt),
    ]
    if results.paced:
        lines += ["", "### Latency at half the gateway's maximum throughput", ""]
        lines.append(report.paced_table(report.summarise(results.paced), results.paced_rate))
    if results.concurrency:
        lines += ["", "### Cost vs concurrency (gateway HS256 cached)", ""]
        lines.append(report.concurrency_table(report.summarise(results.concurrency)))
    if results.bodies:
        lines += ["", "### Cost vs body size (streamed)", ""]
        lines.append(report.body_table(report.summarise(results.bodies), BODY_CASES))
    if results.workers is not None:
        lines += _workers(options, results.workers, host["nproc"])
    if results.profiles:
        lines += ["", "### Where the gateway's CPU goes (py-spy)"]
    for found in results.profiles:
        lines += ["", profile.markdown(found)]
    if results.instructions is not None:
        lines += _instructions(options, results.instructions)
    return "\n".join(lines) + "\n"

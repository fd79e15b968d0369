"""One benchmark run from start to finish: start the stack, run each section, gather results."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import growth, instructions, profile, scaling, stack
from bench.measure import Sample, TokenCycle
from bench.options import REPO, BenchOptions
from bench.procs import Processes, free_port
from bench.suite import (
    GATEWAY_HS256,
    Run,
    fixed_run,
    interleaved,
    main_configs,
    median_of,
    new_tokens,
)
from bench.tokens import BenchKeys, write_jwks, write_token_file
from bench.wrk import WrkRun


@dataclass(slots=True)
class Results:
    pyjwt: dict[str, dict[str, float]] = field(default_factory=dict)
    main: list[Sample] = field(default_factory=list)
    paced_rate: float = 0.0
    paced: list[Sample] = field(default_factory=list)
    concurrency: list[Sample] = field(default_factory=list)
    bodies: list[Sample] = field(default_factory=list)
    memory: growth.MemoryReport | None = None
    workers: scaling.WorkersReport | None = None
    profiles: list[profile.Profile] = field(default_factory=list)
    instructions: instructions.InstructionsReport | None = None
    gateway_ran: bool = False


def pyjwt_cost(options: BenchOptions) -> dict[str, dict[str, float]]:
    """PyJWT's decode cost, measured in a process pinned to the proxy core."""
    completed = subprocess.run(
        ["taskset", "-c", options.proxy_cpu, sys.executable, "-m", "bench.pyjwt_cost"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=REPO,
    )
    result: dict[str, dict[str, float]] = json.loads(completed.stdout)
    return result


def start(options: BenchOptions, procs: Processes, work: Path, out: Path) -> Run:
    jwks_port = free_port()
    keys = BenchKeys.generate(issuer=f"http://127.0.0.1:{jwks_port}")
    upstream = stack.start_upstream(procs, options)
    run = Run(
        options, procs, work, out, keys, upstream, stack.start_nginx(procs, options, upstream, work)
    )
    run.bare_proxy = stack.start_bare_proxy(procs, options, upstream)
    if not stack.gateway_available(options):
        print("The gateway (python -m gateway) is not there yet: upstream and nginx only.")
        return run
    stack.start_jwks(procs, options, write_jwks(keys, work / "jwks.json"), jwks_port)
    print("Minting tokens …", flush=True)
    # The memory run sends a few more than asked (requests in flight when wrk stops).
    hs_count = max(options.new_tokens, options.rss_tokens + 1000)
    run.cycles["HS256"] = TokenCycle(
        write_token_file(keys, "HS256", hs_count, work / "hs256.txt"), hs_count
    )
    ed_path = write_token_file(keys, "EdDSA", options.new_tokens, work / "eddsa.txt")
    run.cycles["EdDSA"] = TokenCycle(ed_path, options.new_tokens)
    # It runs the gateway's own client, so it needs the gateway's package.
    run.lean_proxy = stack.start_lean_proxy(procs, options, upstream)
    run.gateway = stack.start_gateway(
        procs, options, name="gateway", keys=keys, backend_url=upstream.url
    )
    run.backend = stack.start_backend(procs, options, keys=keys, work=work)
    run.gateway_backend = stack.start_gateway(
        procs, options, name="gateway-backend", keys=keys, backend_url=run.backend.url
    )
    stack.seed_tasks(run.gateway_backend, keys)
    return run


def execute(options: BenchOptions, procs: Processes, work: Path, out: Path) -> Results:
    results = Results(pyjwt=pyjwt_cost(options))
    run = start(options, procs, work, out)
    gateway = run.gateway
    results.gateway_ran = gateway is not None
    if options.wants("main"):
        print(f"Side by side, {options.rounds} rounds, interleaved:", flush=True)
        results.main = interleaved(run, main_configs(run), options.rounds)
    if gateway is not None and options.wants("paced"):
        maximum = median_of(results.main, GATEWAY_HS256, "rps") if results.main else 0.0
        if maximum > 0:
            print("Paced at half the gateway's maximum:", flush=True)
            results.paced_rate, results.paced = growth.paced(run, gateway, maximum)
    if gateway is not None and options.wants("concurrency"):
        print("Concurrency:", flush=True)
        results.concurrency = growth.concurrency(run, gateway)
    if options.wants("bodies"):
        print("Body sizes:", flush=True)
        results.bodies = growth.bodies(run, gateway)
    if gateway is not None and options.wants("workers"):
        print("Gateway workers (--workers N):", flush=True)
        results.workers = scaling.workers(run)
    if gateway is not None and options.wants("profile"):
        results.profiles = _profiles(run, gateway)
    if gateway is not None and options.wants("memory") and options.rss_tokens > 0:
        results.memory = _memory(run)
    if options.wants("instructions"):
        print("Instructions per request (callgrind):", flush=True)
        results.instructions = instructions.measure(run)
    return results


def _memory(run: Run) -> growth.MemoryReport:
    print(f"Memory: a fresh gateway and {run.options.rss_tokens:,} distinct tokens …", flush=True)
    fresh = stack.start_gateway(
        run.procs, run.options, name="gateway-memory", keys=run.keys, backend_url=run.upstream.url
    )
    hs = run.cycles["HS256"]
    return growth.memory(run, fresh, TokenCycle(hs.path, hs.count))


def _profiles(run: Run, gateway: stack.Service) -> list[profile.Profile]:
    """py-spy on the gateway under the cached-token load and the new-token load."""
    print("Profiling the gateway with py-spy …", flush=True)
    loads: list[tuple[str, WrkRun, TokenCycle | None]] = [
        ("gateway HS256 cached token", fixed_run(run, gateway), None)
    ]
    for alg in ("HS256", "EdDSA"):
        fresh = new_tokens(run, "profile", alg)
        loads.append((f"gateway {alg} new token", fresh.spec(), fresh.tokens))
    found = []
    for label, spec, cycle in loads:
        try:
            found_profile, result = profile.record(
                gateway.pid, spec, load_cpu=run.options.load_cpu, out=run.out, label=label
            )
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            print(f"  profile of {label} failed: {error}", flush=True)
            continue
        if cycle is not None:
            cycle.advance(result)
        found.append(found_profile)
    return found

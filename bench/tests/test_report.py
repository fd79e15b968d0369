"""The report: the side-by-side table with its CPU split, its reference lines, and the workers
section (which counts run, and the table that compares them with one worker)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from bench import document, measure, procs, report, wrk
from bench.measure import Config, Sample
from bench.options import BenchOptions
from bench.procs import CpuTimes
from bench.runner import Results
from bench.scaling import worker_counts, workers_name
from bench.suite import BARE_PROXY, GATEWAY_HS256, LEAN_PROXY, NGINX, UPSTREAM


def _sample(count: int, rps: float, cpu_us: float) -> Sample:
    return _main(workers_name(count), rps, cpu_us * 0.75, cpu_us * 0.25)


def _main(config: str, rps: float, user_us: float, sys_us: float, number: int = 1) -> Sample:
    return Sample(
        config=config,
        round=number,
        requests=int(rps),
        rps=rps,
        p50_ms=1.5,
        p99_ms=9.25,
        cpu_us_per_request=user_us + sys_us,
        user_us_per_request=user_us,
        sys_us_per_request=sys_us,
        other_cpu_us_per_request=40.0,
        errors=0,
    )


def test_main_table_splits_cpu_into_user_and_sys_and_keeps_ratios_on_the_total() -> None:
    summaries = report.summarise(
        [
            _main(UPSTREAM, 27000.0, 20.0, 16.0),
            _main(NGINX, 18000.0, 12.0, 18.0),
            _main(GATEWAY_HS256, 10000.0, 60.0, 39.0),
        ]
    )
    lines = report.main_table(summaries).splitlines()
    assert lines[0] == (
        "| config | req/s | p50 ms | p99 ms | CPU µs/req | ÷ upstream | ÷ nginx "
        "| user µs/req | sys µs/req | errors |"
    )
    assert lines[1] == "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    assert (
        lines[2]
        == "| upstream alone | 27,000 | 1.50 | 9.25 | 36.0 | 1.00x | 1.20x | 20.0 | 16.0 | 0 |"
    )
    assert (
        lines[3]
        == "| nginx proxy_pass | 18,000 | 1.50 | 9.25 | 30.0 | 0.83x | 1.00x | 12.0 | 18.0 | 0 |"
    )
    assert lines[4] == (
        "| gateway HS256 cached | 10,000 | 1.50 | 9.25 | 99.0 | 2.75x | 3.30x | 60.0 | 39.0 | 0 |"
    )
    assert "user + sys = CPU µs/req" in report.MAIN_CAPTION


def test_the_split_comes_from_the_round_whose_total_is_the_median() -> None:
    # Medians of each would give user 50 and sys 40 (= 90, not the median total 100).
    rounds = [
        _main(GATEWAY_HS256, 1.0, 70.0, 30.0, number=1),  # total 100: the median
        _main(GATEWAY_HS256, 1.0, 50.0, 40.0, number=2),  # total 90
        _main(GATEWAY_HS256, 1.0, 40.0, 80.0, number=3),  # total 120
    ]
    summary = report.summarise(rounds)[GATEWAY_HS256]
    assert (summary.cpu_us, summary.user_us, summary.sys_us) == (100.0, 70.0, 30.0)


def test_with_an_even_count_the_split_is_the_mean_of_the_two_middle_rounds() -> None:
    rounds = [
        _main(GATEWAY_HS256, 1.0, 70.0, 30.0),  # 100
        _main(GATEWAY_HS256, 1.0, 50.0, 40.0),  # 90
        _main(GATEWAY_HS256, 1.0, 40.0, 80.0),  # 120
        _main(GATEWAY_HS256, 1.0, 60.0, 50.0),  # 110
    ]
    summary = report.summarise(rounds)[GATEWAY_HS256]
    assert summary.cpu_us == 105.0
    assert (summary.user_us, summary.sys_us) == (65.0, 40.0)
    assert math.isclose(summary.user_us + summary.sys_us, summary.cpu_us)


def test_a_sample_keeps_user_and_sys_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    times = iter([CpuTimes(10.0, 4.0), CpuTimes(10.6, 4.2)])
    monkeypatch.setattr(procs, "cpu_times", lambda _pid: next(times))
    done = wrk.WrkResult(
        requests=10_000, seconds=1.0, p50_ms=1, p99_ms=2, socket_errors=0, bad_status=0
    )
    monkeypatch.setattr(wrk, "run", lambda *_, **__: done)
    config = Config("gateway HS256 cached", 1, lambda: wrk.WrkRun("http://x", 1.0))
    one = measure.sample(config, round_number=1, load_cpu="0", log=Path("wrk.log"))
    assert math.isclose(one.user_us_per_request, 60.0)
    assert math.isclose(one.sys_us_per_request, 20.0)
    assert math.isclose(one.cpu_us_per_request, 80.0)


def test_utime_and_stime_are_fields_14_and_15_of_proc_stat() -> None:
    stat = "4242 (python -m (x) y) S 1 4242 4242 0 -1 4194304 900 0 0 0 1234 567 3 4 20 0 1 0"
    assert procs.stat_ticks(stat) == (1234, 567)
    own = procs.cpu_times(os.getpid())
    assert own.total > 0
    assert math.isclose(own.total, own.user + own.system)


def test_the_reference_rows_are_compared_with_the_upstream_alone() -> None:
    summaries = report.summarise(
        [
            _main(UPSTREAM, 1.0, 20.0, 16.0),
            _main(BARE_PROXY, 1.0, 90.0, 30.0),
            _main(LEAN_PROXY, 1.0, 45.0, 27.0),
            _main(GATEWAY_HS256, 1.0, 60.0, 39.0),
        ]
    )
    lines = report.reference_lines(summaries)
    assert lines[0].startswith("(reference) aiohttp bare proxy, ")
    assert lines[1].startswith(
        "(reference) aiohttp + lean client, nothing else: 72.0 µs/req = 2.00x upstream alone"
    )
    assert "gateway HS256 cached costs +27.0 µs/req over it" in lines[1]
    assert report.cached_targets(summaries)[:2] == lines


def test_worker_counts_one_per_cpu_up_to_the_limit() -> None:
    assert worker_counts(1) == (1,)
    assert worker_counts(2) == (1, 2)
    assert worker_counts(64) == (1, 2, 3, 4)
    assert worker_counts(0) == (1,)


def test_workers_table_compares_throughput_with_one_worker() -> None:
    summaries = report.summarise([_sample(1, 4000.0, 170.0), _sample(2, 6000.0, 180.25)])
    lines = report.workers_table(summaries, (1, 2, 3)).splitlines()
    assert lines[0].startswith("| workers | req/s | × 1 worker |")  # noqa: RUF001
    assert lines[2] == "| 1 | 4,000 | 1.00x | 1.50 | 9.25 | 170.0 | 0 |"
    assert lines[3] == "| 2 | 6,000 | 1.50x | 1.50 | 9.25 | 180.2 | 0 |"
    assert len(lines) == 4  # no row for a count that did not run


def test_workers_table_without_one_worker_has_no_ratio() -> None:
    lines = report.workers_table(report.summarise([_sample(2, 6000.0, 180.0)]), (1, 2))
    assert "| 2 | 6,000 | - |" in lines


def test_the_document_prints_the_caption_under_the_table_and_no_empty_table() -> None:
    host = dict.fromkeys(("nproc", "cpu", "kernel", "python", "aiohttp", "pyjwt", "nginx"), "x")
    host |= {"wrk": "x", "loadavg": "x"}
    options = BenchOptions.from_env()
    with_main = Results(main=[_main(UPSTREAM, 1.0, 20.0, 16.0)], gateway_ran=True)
    text = document.compose(options, with_main, host, "t")
    assert f"| 20.0 | 16.0 | 0 |\n\n{report.MAIN_CAPTION}\n" in text
    assert "| config |" not in document.compose(options, Results(gateway_ran=True), host, "t")

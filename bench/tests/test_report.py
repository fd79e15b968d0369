"""The workers section: which counts run, and the table that compares them with one worker."""

from __future__ import annotations

from bench import report
from bench.measure import Sample
from bench.scaling import worker_counts, workers_name


def _sample(count: int, rps: float, cpu_us: float) -> Sample:
    return Sample(workers_name(count), 1, int(rps), rps, 1.5, 9.25, cpu_us, 40.0, 0)


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

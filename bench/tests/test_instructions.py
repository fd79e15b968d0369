"""The instructions section: reading callgrind's dump, and the table of ratios it prints."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench import callgrind, document, fixed_load, report
from bench.instructions import InstructionsReport, count
from bench.options import BenchOptions

DUMP = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 10077
cmd:  /work/main/.venv/bin/python -m gateway --config /work/main/gateway.yaml
part: 1
desc: Trigger: dump
events: Ir
summary: 981208224

fl=(1) ???
fn=(1) 0x0000000000108f00
2 14
totals: 998627184
"""


def test_the_total_is_callgrinds_summary_when_there_is_one() -> None:
    assert callgrind.parse_total(DUMP) == 981_208_224


def test_the_total_falls_back_to_the_totals_line() -> None:
    without_summary = DUMP.replace("summary: 981208224\n", "")
    assert callgrind.parse_total(without_summary) == 998_627_184


def test_a_dump_without_a_total_is_refused() -> None:
    with pytest.raises(ValueError, match="summary"):
        callgrind.parse_total("events: Ir\nfn=(1) main\n2 14\n")


def test_dumps_are_numbered_files_beside_the_output_file(tmp_path: Path) -> None:
    out = tmp_path / "callgrind-gateway.out"
    for name in ("callgrind-gateway.out", "callgrind-gateway.out.10", "callgrind-gateway.out.2"):
        (tmp_path / name).write_text(DUMP)
    (tmp_path / "callgrind-upstream.out.1").write_text(DUMP)
    found = callgrind.Counter(1, out).dumps()
    assert [p.name for p in found] == ["callgrind-gateway.out.2", "callgrind-gateway.out.10"]


def test_instructions_table_divides_by_the_upstream_alone_and_shows_the_spread() -> None:
    counts = [
        count("upstream alone", 2000, (350_000_000, 350_700_000), Path("a")),
        count("gateway HS256 cached", 2000, (840_000_000, 840_000_000), Path("b")),
    ]
    lines = report.instructions_table(counts).splitlines()
    assert lines[0] == "| config | instructions/request | ÷ upstream alone | spread |"
    assert lines[2] == "| upstream alone | 175,175 | 1.00x | 0.20 % |"
    assert lines[3] == "| gateway HS256 cached | 420,000 | 2.40x | 0.00 % |"


def test_instructions_table_without_the_upstream_or_repeats() -> None:
    lines = report.instructions_table([count("gateway HS256 cached", 10, (4200,), Path("b"))])
    assert lines.splitlines()[0] == "| config | instructions/request | ÷ upstream alone |"
    assert lines.splitlines()[2] == "| gateway HS256 cached | 420 | - |"


def test_fixed_load_reads_name_value_headers() -> None:
    assert fixed_load.parse_header("Authorization: Bearer a:b") == ("Authorization", "Bearer a:b")
    with pytest.raises(argparse.ArgumentTypeError):
        fixed_load.parse_header("no colon")


def test_without_valgrind_the_section_is_skipped_with_a_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    assert callgrind.missing() == ["valgrind", "callgrind_control"]
    skipped = InstructionsReport(2000, 300, 8, skipped="skipped: valgrind not found")
    assert document._instructions(BenchOptions.from_env(), skipped)[-1] == (
        "(skipped: valgrind not found)"
    )

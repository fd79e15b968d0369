"""Instructions counted by valgrind's callgrind in a process that runs under it.

The process starts uninstrumented (valgrind's least slowdown, so start-up stays bearable); the
caller switches counting on, zeroes the counters, sends a fixed load and reads the dump's total.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

TOOLS = ("valgrind", "callgrind_control")
_SUMMARY = re.compile(r"^summary:\s+(\d+)", re.M)
_TOTALS = re.compile(r"^totals:\s+(\d+)", re.M)


def missing() -> list[str]:
    """The tools this needs that are not on PATH."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def wrapper(out_file: Path) -> list[str]:
    """The command a process runs under to be counted; dumps go to `<out_file>.<n>`."""
    # A fixed hash seed: str hashing and dict layout are otherwise random per process, which
    # moves the count by a little from one start to the next.
    return [
        "env",
        "PYTHONHASHSEED=0",
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_file}",
    ]


def parse_total(text: str) -> int:
    """The instructions (Ir) of one dump: callgrind's own `summary:`, else the `totals:` line.

    `totals:` is the sum of the costs written per function, which callgrind does not promise
    to equal the counter it kept for the interval.
    """
    match = _SUMMARY.search(text) or _TOTALS.search(text)
    if match is None:
        raise ValueError("no 'summary:' or 'totals:' line in the callgrind dump")
    return int(match[1])


def _dump_number(path: Path) -> int:
    suffix = path.suffix.lstrip(".")
    return int(suffix) if suffix.isdigit() else -1


@dataclass(frozen=True, slots=True)
class Counter:
    """The callgrind of a running process `pid` that writes its dumps to `<out_file>.<n>`."""

    pid: int
    out_file: Path

    def _control(self, *flags: str) -> None:
        subprocess.run(
            ["callgrind_control", *flags, str(self.pid)],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def instrument(self) -> None:
        self._control("--instr=on")

    def zero(self) -> None:
        self._control("--zero")

    def dumps(self) -> list[Path]:
        found = self.out_file.parent.glob(f"{self.out_file.name}.*")
        return sorted((p for p in found if _dump_number(p) >= 0), key=_dump_number)

    def dump(self, timeout: float = 60.0) -> tuple[int, Path]:
        """Dump the counters since the last zero; their total and the dump file."""
        before = set(self.dumps())
        self._control("--dump")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = [p for p in self.dumps() if p not in before]
            # `totals:` is the last line written: a dump without it is not complete yet.
            if new and _TOTALS.search(text := new[-1].read_text()):
                return parse_total(text), new[-1]
            time.sleep(0.2)
        raise RuntimeError(f"no complete callgrind dump {self.out_file}.<n> after {timeout:.0f} s")

"""`python -m bench` (what `make bench` runs after bench/run.sh has installed nginx and wrk)."""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from bench import document
from bench.options import BenchOptions
from bench.procs import Processes
from bench.runner import Results, execute


def _exit_on_signal(signum: int, _: FrameType | None) -> None:
    # Unwind through every `finally`, so that each child process is stopped.
    raise SystemExit(128 + signum)


def _raw(options: BenchOptions, results: Results, machine: dict[str, str]) -> str:
    raw = {
        "machine": machine,
        "options": {k: str(v) for k, v in dataclasses.asdict(options).items()},
        "results": dataclasses.asdict(results),
    }
    return json.dumps(raw, indent=2, default=str)


def main() -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _exit_on_signal)
    options = BenchOptions.from_env()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = options.results_dir / stamp
    out.mkdir(parents=True, exist_ok=True)
    print(f"Raw results and logs: {out}", flush=True)
    procs = Processes(out)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as work:
            results = execute(options, procs, Path(work), out)
    finally:
        procs.close()
    machine = document.machine()
    text = document.compose(options, results, machine, stamp)
    (out / "report.md").write_text(text)
    (out / "raw.json").write_text(_raw(options, results, machine))
    latest = options.results_dir / "latest"
    latest.unlink(missing_ok=True)
    latest.symlink_to(stamp)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`--workers N`: a parent that runs N gateway processes sharing the port (SO_REUSEPORT).

The parent passes HUP, TERM and INT to every worker, replaces a worker that dies (with
back-off, and a log line), and never leaves one behind: on every way out it stops the workers
it still has, and the kernel sends each worker SIGTERM should the parent itself be killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from gateway.metrics import MULTIPROC_DIR_ENV, start_metrics_listener, worker_exited

log = structlog.get_logger("gateway")

FORWARDED_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
STOP_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.2
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
# A worker that ran this long before dying starts the back-off over.
STABLE_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1


@dataclass
class _Slot:
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float = 0.0
    backoff: float = FIRST_BACKOFF_SECONDS


def run_workers(
    argv: Sequence[str], workers: int, *, metrics_at: tuple[str, int] | None = None
) -> int:
    """Run N copies of this command (each with `--worker`) until TERM or INT; their status.
    The workers write their metrics to a fresh directory; the parent serves their sum."""
    metrics_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ[MULTIPROC_DIR_ENV] = metrics_dir  # before the workers import prometheus-client
    try:
        if metrics_at is not None:
            start_metrics_listener(*metrics_at, multiprocess_dir=metrics_dir)
        command = [sys.executable, "-m", "gateway", *argv, "--worker"]
        return Supervisor(command, workers, metrics_dir).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


class Supervisor:
    def __init__(self, command: list[str], workers: int, metrics_dir: str) -> None:
        self._command = command
        self._metrics_dir = metrics_dir
        self._slots = [_Slot() for _ in range(workers)]
        self._stopping = False

    def run(self) -> int:
        previous = {signum: signal.signal(signum, self._on_signal) for signum in FORWARDED_SIGNALS}
        try:
            for slot in self._slots:
                self._start(slot)
            while not self._stopping:
                self._replace_the_dead(time.monotonic())
                time.sleep(POLL_SECONDS)
        finally:
            codes = self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        failed = [code if code > 0 else 128 - code for code in codes if code != 0]
        return failed[0] if failed else 0

    def _on_signal(self, signum: int, _: object) -> None:
        if signum != signal.SIGHUP:
            self._stopping = True
        for slot in self._slots:
            if slot.process is not None and slot.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(signum)

    def _start(self, slot: _Slot) -> None:
        slot.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            # A session of its own: a terminal's Ctrl-C reaches the parent, which passes it on
            # once (twice could catch a worker after its drain).
            self._command,
            preexec_fn=_die_with_parent(os.getpid()),
            start_new_session=True,
        )
        slot.started = time.monotonic()

    def _replace_the_dead(self, now: float) -> None:
        for slot in self._slots:
            process = slot.process
            if process is not None and process.poll() is not None:
                if now - slot.started >= STABLE_SECONDS:
                    slot.backoff = FIRST_BACKOFF_SECONDS
                slot.restart_at = now + slot.backoff
                log.warning(
                    "worker_exited",
                    pid=process.pid,
                    exit_code=process.returncode,
                    restart_in_seconds=slot.backoff,
                )
                slot.backoff = min(slot.backoff * 2, MAX_BACKOFF_SECONDS)
                slot.process = None
                worker_exited(process.pid, self._metrics_dir)
            if slot.process is None and now >= slot.restart_at and not self._stopping:
                self._start(slot)

    def _stop_all(self) -> list[int]:
        """Wait for every worker; TERM first to each unless a stop signal was passed on (a
        second TERM could catch a worker after its drain, when TERM kills again)."""
        running = [slot.process for slot in self._slots if slot.process is not None]
        for process in running:
            if not self._stopping and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        codes = []
        for process in running:
            try:
                codes.append(process.wait(timeout=STOP_TIMEOUT_SECONDS))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        return codes


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A `preexec_fn` asking Linux to send the worker SIGTERM when the parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # libc's, already loaded

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return in_child

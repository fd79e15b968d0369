"""A service's log output: lines written in batches while the event loop runs."""

from __future__ import annotations

import asyncio
import contextlib
import select
import sys
import threading
from typing import BinaryIO

# A write of at most this many bytes is never interleaved with another writer's on a pipe
# (POSIX), so lines from workers sharing one stdout stay whole, as with one write per line.
_WRITE_MAX = select.PIPE_BUF
# Lines kept while the output refuses writes; past this, the oldest are given up.
_BACKLOG_MAX = 4 * 1024 * 1024


class BatchedLines:
    """structlog's output (a `BytesLogger` stand-in) that writes debug and info lines in
    batches while an event loop runs: at most `max_delay` seconds or `max_bytes` late, as
    Envoy's file access log does (it flushes every second). One write per access line was 5 %
    of the gateway's CPU (py-spy).

    Each write holds whole lines, at most PIPE_BUF bytes of them (a longer line alone).
    Warnings and errors go out at once, after what is pending, so the order holds; outside a
    running loop, or on another thread, every line does. A failed write keeps its lines for
    the next flush and is never raised into a request. `flush()` writes what is pending: call
    it when the process ends.
    """

    def __init__(
        self, stream: BinaryIO, *, max_bytes: int = 64 * 1024, max_delay: float = 0.1
    ) -> None:
        self._stream = stream
        self._max_bytes = max_bytes
        self._max_delay = max_delay
        self._pending: list[bytes] = []
        self._size = 0
        self._flush_loop: asyncio.AbstractEventLoop | None = None  # where a flush is scheduled
        self._failing = False
        self._lock = threading.Lock()

    def msg(self, message: bytes) -> None:
        line = message + b"\n"
        with self._lock:
            self._pending.append(line)
            self._size += len(line)
            if self._size < self._max_bytes:
                loop = self._flush_loop
                if (loop is not None and not loop.is_closed()) or self._schedule_flush():
                    return
            self._write_pending()

    debug = info = msg

    def now(self, message: bytes) -> None:
        with self._lock:
            self._pending.append(message + b"\n")
            self._size += len(message) + 1
            self._write_pending()

    log = warn = warning = err = error = exception = critical = fatal = failure = now

    def flush(self) -> None:
        with self._lock:
            self._flush_loop = None
            self._write_pending()

    def _schedule_flush(self) -> bool:
        """Whether a flush is now scheduled on the running loop (of the main thread)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if threading.current_thread() is not threading.main_thread():
            return False
        loop.call_later(self._max_delay, self.flush)
        self._flush_loop = loop
        return True

    def _write_pending(self) -> None:
        lines = self._pending
        written = 0
        try:
            while written < len(lines):
                end, size = written + 1, len(lines[written])
                while end < len(lines) and size + len(lines[end]) <= _WRITE_MAX:
                    size += len(lines[end])
                    end += 1
                self._stream.write(b"".join(lines[written:end]))
                self._stream.flush()
                written = end
            self._failing = False
        except (OSError, ValueError) as error:
            self._report(error)
        finally:
            del lines[:written]
            self._size = sum(map(len, lines)) if lines else 0
            while self._size > _BACKLOG_MAX:
                self._size -= len(lines.pop(0))

    def _report(self, error: Exception) -> None:
        """One line on stderr when writing starts failing (stdout closed, a full pipe, ...)."""
        if self._failing:
            return
        self._failing = True
        with contextlib.suppress(OSError, ValueError):
            print(f"log output failed ({type(error).__name__}); keeping lines", file=sys.stderr)

"""structlog set-up shared by both services: one JSON line per event, cheap on the hot path."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from typing import Any, BinaryIO

import orjson
import structlog
from structlog.typing import EventDict

LOG_LEVELS = ("debug", "info", "warning", "error")

# Keys whose values must never reach a log line, whatever a caller passes by mistake.
_SECRET_KEYS = frozenset(
    {"authorization", "token", "secret", "signature", "password", "cookie", "set-cookie"}
)


def _drop_secrets(event: EventDict) -> EventDict:
    if not _SECRET_KEYS.isdisjoint(event):
        for key in _SECRET_KEYS.intersection(event):
            event[key] = "[redacted]"
    return event


class _JsonLines:
    """The last processor: UTC ISO timestamp, secrets redacted, one orjson line.

    Same format as `TimeStamper(fmt="iso", utc=True)`, with the date part formatted once a
    second instead of once a line. `render` is also the access line's shortcut (`AccessLog`).
    """

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def render(self, event: EventDict) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        event["timestamp"] = f"{self._prefix}.{int((now - second) * 1e6):06d}Z"
        return orjson.dumps(_drop_secrets(event), default=repr)

    def __call__(self, _: Any, __: str, event: EventDict) -> bytes:
        return self.render(event)


class AccessLog:
    """`logger.info(event, **fields)` for a service's access lines, made cheap.

    structlog builds a new bound logger on every `bind()`, so it is resolved once, at the
    first line. With the production set-up (our renderer last) the line is rendered and
    written directly: the same JSON without structlog's per-call dispatch, which costs more
    than the rest of the line. Otherwise (`structlog.testing.capture_logs` swaps the
    processors in place) the line takes structlog's own path. `fields` is consumed.
    """

    __slots__ = ("_bound", "_logger")

    def __init__(self, logger: Any) -> None:
        self._logger = logger
        self._bound: Any = None

    def info(self, event: str, fields: dict[str, Any]) -> None:
        bound = self._bound
        if bound is None:
            bound = self._bound = self._logger.bind()
        processors = getattr(bound, "_processors", None)
        if not processors or not isinstance(processors[-1], _JsonLines):
            bound.info(event, **fields)
            return
        if not bound.is_enabled_for(logging.INFO):
            return
        fields["event"] = event
        fields["level"] = "info"
        bound._logger.msg(processors[-1].render(fields))

    def error(self, event: str, **fields: Any) -> None:
        self._logger.error(event, **fields)


class BatchedLines:
    """structlog's output (a `BytesLogger` stand-in) that writes debug and info lines in
    batches while an event loop runs: at most `max_delay` seconds or `max_bytes` late, as
    Envoy's file access log does (it flushes every second). One write per access line was 5 %
    of the gateway's CPU (py-spy). Warnings and errors go out at once, after what is pending,
    so the order holds; outside a running loop (or on another thread) every line does.
    `flush()` writes what is pending: call it when the process ends."""

    def __init__(
        self, stream: BinaryIO, *, max_bytes: int = 64 * 1024, max_delay: float = 0.1
    ) -> None:
        self._stream = stream
        self._max_bytes = max_bytes
        self._max_delay = max_delay
        self._pending: list[bytes] = []
        self._size = 0
        self._armed = False  # a flush is scheduled on the loop
        self._lock = threading.Lock()

    def msg(self, message: bytes) -> None:
        line = message + b"\n"
        with self._lock:
            self._pending.append(line)
            self._size += len(line)
            if self._size < self._max_bytes and (self._armed or self._arm()):
                return
            self._write_pending()

    debug = info = msg

    def now(self, message: bytes) -> None:
        with self._lock:
            self._pending.append(message + b"\n")
            self._write_pending()

    log = warn = warning = err = error = exception = critical = fatal = failure = now

    def flush(self) -> None:
        with self._lock:
            self._armed = False
            if self._pending:
                self._write_pending()

    def _arm(self) -> bool:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        if threading.current_thread() is not threading.main_thread():
            return False  # a loop on another thread: keep it simple, write at once
        loop.call_later(self._max_delay, self.flush)
        self._armed = True
        return True

    def _write_pending(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        self._stream.write(data)
        self._stream.flush()


def configure_logging(
    level: str = "info", *, cache: bool = True, batched: BatchedLines | None = None
) -> None:
    """JSON lines to stdout (through `batched` when given). `cache=False` keeps
    `structlog.testing.capture_logs` working."""
    if level not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    structlog.configure(
        processors=[structlog.processors.add_log_level, _JsonLines()],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=(
            structlog.BytesLoggerFactory(sys.stdout.buffer)
            if batched is None
            else lambda *_: batched
        ),
        cache_logger_on_first_use=cache,
    )

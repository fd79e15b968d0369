"""structlog set-up shared by both services: one JSON line per event, cheap on the hot path."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict

from service_plumbing.log_output import BatchedLines

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


@dataclass(frozen=True, slots=True)
class _Direct:
    """What `configure_logging` set up, for `AccessLog`'s direct path."""

    processors: list[Any]  # the list structlog was configured with (and still holds)
    renderer: _JsonLines
    output: Any  # `msg(bytes)`: a BytesLogger or BatchedLines
    info_enabled: bool

    def active(self) -> bool:
        """Still our configuration: not replaced, and not swapped in place by
        `structlog.testing.capture_logs`."""
        processors = self.processors
        return (
            processors[-1] is self.renderer and structlog.get_config()["processors"] is processors
        )


_direct: _Direct | None = None


class AccessLog:
    """`logger.info(event, **fields)` for a service's access lines, made cheap.

    While `configure_logging`'s set-up is in force, the line is rendered by its renderer and
    written to its output directly: the same JSON without structlog's per-call dispatch (a
    bound logger per `bind()`, the processor chain), which costs more than the rest of the
    line. Otherwise (another configuration, or `structlog.testing.capture_logs`) the line
    takes structlog's own path. Only public structlog API is used. `fields` is consumed.
    """

    __slots__ = ("_logger",)

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def info(self, event: str, fields: dict[str, Any]) -> None:
        direct = _direct
        if direct is None or not direct.active():
            self._logger.info(event, **fields)
            return
        if direct.info_enabled:
            fields["event"] = event
            fields["level"] = "info"
            direct.output.msg(direct.renderer.render(fields))

    def error(self, event: str, **fields: Any) -> None:
        self._logger.error(event, **fields)


def configure_logging(
    level: str = "info",
    *,
    cache: bool = True,
    batched: BatchedLines | None = None,
    console: bool | None = None,
) -> None:
    """JSON lines to stdout (through `batched` when given); on a terminal (or `console=True`)
    structlog's readable rendering instead. `cache=False` keeps
    `structlog.testing.capture_logs` working."""
    global _direct
    if level not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    if console is None:
        console = sys.stdout.isatty()
    if console:
        _direct = None
        _configure_console(level, cache=cache)
        return
    renderer = _JsonLines()
    processors: list[Any] = [structlog.processors.add_log_level, renderer]
    output = structlog.BytesLogger(sys.stdout.buffer) if batched is None else batched
    minimum = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(minimum),
        logger_factory=lambda *_: output,
        cache_logger_on_first_use=cache,
    )
    _direct = _Direct(processors, renderer, output, info_enabled=minimum <= logging.INFO)


def _configure_console(level: str, *, cache: bool) -> None:
    """For a person at a terminal: aligned, coloured key=value lines, secrets redacted."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
            lambda _, __, event: _drop_secrets(event),
            structlog.dev.ConsoleRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=cache,
    )

"""structlog set-up shared by both services: one JSON line per event, cheap on the hot path."""

from __future__ import annotations

import logging
import sys
import time
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


class AccessLog:
    """`logger.info(event, **fields)` for a service's access lines, made cheap.

    structlog builds a new bound logger on every `bind()`, so it is resolved once, at the
    first line, when the configuration caches loggers (production); with `cache=False` (tests
    that reconfigure) it is resolved per line, as structlog would. With the production set-up
    (our renderer last) the line is rendered and written directly: the same JSON without
    structlog's per-call dispatch, which costs more than the rest of the line. Otherwise
    (`structlog.testing.capture_logs` swaps the processors in place) the line takes
    structlog's own path. `fields` is consumed.
    """

    __slots__ = ("_bound", "_logger")

    def __init__(self, logger: Any) -> None:
        self._logger = logger
        self._bound: Any = None

    def info(self, event: str, fields: dict[str, Any]) -> None:
        bound = self._bound
        if bound is None:
            bound = self._logger.bind()
            if structlog.get_config()["cache_logger_on_first_use"]:
                self._bound = bound
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

"""structlog set-up shared by both services: one JSON line per event, cheap on the hot path."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict

LOG_LEVELS = ("debug", "info", "warning", "error")

# Keys whose values must never reach a log line, whatever a caller passes by mistake.
_SECRET_KEYS = frozenset(
    {"authorization", "token", "secret", "signature", "password", "cookie", "set-cookie"}
)


def _drop_secrets(_: Any, __: str, event: EventDict) -> EventDict:
    for key in _SECRET_KEYS.intersection(event):
        event[key] = "[redacted]"
    return event


def configure_logging(level: str = "info", *, cache: bool = True) -> None:
    """JSON lines to stdout. `cache=False` keeps `structlog.testing.capture_logs` working."""
    if level not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer),
        cache_logger_on_first_use=cache,
    )

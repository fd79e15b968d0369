"""aiohttp's own server logger, made safe to keep.

A request that aiohttp cannot parse never reaches the app: aiohttp answers 400 itself and logs
the parser error with a traceback whose message quotes the offending line, which may be the
client's `Authorization` header. Passed to the runner as `logger=`, this logger turns each such
record into one JSON line (status, reason, error type, peer) and drops the record itself.
"""

from __future__ import annotations

import logging

import structlog
from aiohttp.http_exceptions import HttpProcessingError


class _OneSafeLine(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._log = structlog.get_logger(service)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else None
        fields = {"error_type": type(error).__name__, "peer": str(peer)}
        if isinstance(error, HttpProcessingError):
            self._log.info("request", status=error.code, reason="malformed_request", **fields)
        elif error is not None:
            self._log.error("unhandled_error", **fields)
        return False  # the record (message, traceback, quoted bytes) goes nowhere


def server_logger(service: str) -> logging.Logger:
    """The logger for `AppRunner(logger=...)`: parser errors become one line, no bytes quoted."""
    logger = logging.getLogger(f"{service}.http_server")
    if not any(isinstance(item, _OneSafeLine) for item in logger.filters):
        logger.addFilter(_OneSafeLine(service))
    return logger

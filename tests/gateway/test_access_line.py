"""The access line's shortcut (`AccessLog`) writes what structlog's own path would write."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
import structlog
from structlog.testing import capture_logs

from service_plumbing.logs import AccessLog, configure_logging


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _lines(text: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in text.splitlines()]


def test_the_shortcut_line_matches_structlogs_line(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    log = structlog.get_logger("gateway")
    log.info("request", status=200, user_id="alice", token="t0ken")
    AccessLog(log).info("request", {"status": 200, "user_id": "alice", "token": "t0ken"})
    slow, fast = _lines(capfd.readouterr().out)
    assert str(slow.pop("timestamp")).endswith("Z")
    stamp = str(fast.pop("timestamp"))
    assert stamp.endswith("Z")
    assert stamp[10] == "T"
    assert len(stamp) == 27
    assert fast == slow
    assert list(fast) == list(slow)  # same key order, too
    assert fast["token"] == "[redacted]"


def test_the_shortcut_respects_the_level(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning")
    log = structlog.get_logger("gateway")
    AccessLog(log).info("request", {"status": 200})
    log.warning("kept")
    assert [line["event"] for line in _lines(capfd.readouterr().out)] == ["kept"]


def test_the_shortcut_goes_through_structlog_when_captured() -> None:
    configure_logging("debug", cache=False)
    log = structlog.get_logger("gateway")
    access_log = AccessLog(log)
    access_log.info("request", {"status": 0})  # resolved before the capture starts
    with capture_logs() as captured:
        access_log.info("request", {"status": 200, "user_id": "alice"})
    assert captured == [
        {"event": "request", "status": 200, "user_id": "alice", "log_level": "info"}
    ]


def test_without_cached_loggers_each_line_follows_the_configuration(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", cache=False)
    access_log = AccessLog(structlog.get_logger("gateway"))
    access_log.info("request", {"n": 1})
    configure_logging("warning", cache=False)
    access_log.info("request", {"n": 2})
    assert [line["n"] for line in _lines(capfd.readouterr().out)] == [1]

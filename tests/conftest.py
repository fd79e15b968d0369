"""Fixtures every suite may use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from service_plumbing.logs import configure_logging


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event of the test, as dicts (the loggers are not cached meanwhile)."""
    configure_logging("debug", cache=False)
    try:
        with capture_logs() as captured:
            yield captured
    finally:
        structlog.reset_defaults()

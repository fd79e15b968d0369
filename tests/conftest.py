"""Fixtures every suite may use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from service_plumbing.logs import configure_logging
from tests.backend.throwaway_postgres import ThrowawayPostgres


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event of the test, as dicts (the loggers are not cached meanwhile)."""
    configure_logging("debug", cache=False)
    try:
        with capture_logs() as captured:
            yield captured
    finally:
        structlog.reset_defaults()


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    """A throwaway PostgreSQL cluster of the test's own, which it may stop and start."""
    cluster = ThrowawayPostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()

"""The access line's operator fields, on real gateway and backend processes."""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import orjson
import pytest

from service_plumbing.access_fields import redact_query
from tests.backend.conftest import identity_headers
from tests.backend.test_main import base_env, start_backend


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("status=all&limit=5", "status=all&limit=5"),
        ("access_token=abc&x=1", "access_token=[redacted]&x=1"),
        (
            "code=1&Password=2&client_secret=3&api_key=4",
            "code=[redacted]&Password=[redacted]&client_secret=[redacted]&api_key=[redacted]",
        ),
        ("%74oken=abc", "%74oken=[redacted]"),  # percent-encoded names are decoded to check
        ("token", "token"),  # no value, nothing to hide
    ],
)
def test_sensitive_query_values_are_redacted(query: str, logged: str) -> None:
    assert redact_query(query) == logged


def test_backend_line_has_service_client_and_bytes(tmp_path: Path) -> None:
    process, base = start_backend(base_env(tmp_path), tmp_path)
    try:
        headers = identity_headers("GET", "/api/alice/tasks?limit=5", "alice")
        request = urllib.request.Request(  # noqa: S310 - a loopback http:// URL
            base + "/api/alice/tasks?limit=5", headers=headers | {"User-Agent": "t/1"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            body = response.read()
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
    lines = [orjson.loads(raw) for raw in stdout.splitlines()]
    line = next(item for item in lines if item.get("path") == "/api/alice/tasks")
    assert line["service"] == "backend"
    assert line["client"] == "127.0.0.1"
    assert (line["bytes_in"], line["bytes_out"]) == (0, len(body))
    assert (line["user_agent"], line["query"]) == ("t/1", "limit=5")

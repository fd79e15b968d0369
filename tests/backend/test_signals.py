"""`python -m backend` on SIGHUP: configured by environment only, it logs the signal and keeps
serving (the default action would kill it)."""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import orjson

from tests.backend.test_main import base_env, start_backend


def test_sighup_is_logged_and_the_backend_keeps_serving(tmp_path: Path) -> None:
    process, base = start_backend(base_env(tmp_path), tmp_path)
    try:
        process.send_signal(signal.SIGHUP)
        assert process.stdout is not None
        while b"sighup_ignored" not in (line := process.stdout.readline()):
            assert line, "the backend exited on SIGHUP"
        with urllib.request.urlopen(base + "/healthz", timeout=10) as response:  # noqa: S310
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
    assert orjson.loads(line)["level"] == "info"

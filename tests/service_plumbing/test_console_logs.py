"""Logs on a terminal are readable lines; piped, they are JSON (both with secrets redacted)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import orjson

SCRIPT = (
    "import structlog\n"
    "from service_plumbing.logs import configure_logging\n"
    "configure_logging()\n"
    "structlog.get_logger().info('listening', port=8080, token='tok-value')\n"
)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(stdout: int) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=30,
        check=True,
    )


def test_a_terminal_gets_a_readable_line() -> None:
    controller, terminal = pty.openpty()
    try:
        run(terminal)
        os.close(terminal)
        output = b""
        while chunk := _read(controller):
            output += chunk
    finally:
        os.close(controller)
    text = output.decode()
    assert "listening" in text
    assert "port" in text
    assert "8080" in text
    assert not text.lstrip().startswith("{")
    assert "tok-value" not in text


def test_a_pipe_gets_json() -> None:
    line = orjson.loads(run(subprocess.PIPE).stdout)
    assert (line["event"], line["port"], line["token"]) == ("listening", 8080, "[redacted]")


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO once the terminal's other side is closed
        return b""

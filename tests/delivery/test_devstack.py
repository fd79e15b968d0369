"""`make run` (python -m gateway.devstack): its .env handling, and the real thing end to end."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gateway.devstack import (
    GENERATED_SECRETS,
    StackError,
    check_port_free,
    ensure_env_file,
    stack_env,
)
from gateway.envfile import read_env_file
from tests.integration.processes import ROOT, base_env, free_port, http_status

RUN_TIMEOUT_SECONDS = 90.0


def test_a_missing_env_file_gets_random_secrets_once(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    assert ensure_env_file(path) is True
    first = read_env_file(path)
    assert set(first) == set(GENERATED_SECRETS)
    assert len(set(first.values())) == len(GENERATED_SECRETS)
    assert all(len(value) >= 32 for value in first.values())
    assert path.stat().st_mode & 0o077 == 0
    assert ensure_env_file(path) is False
    assert read_env_file(path) == first


def test_env_file_syntax(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# comment\n\nA=1\nexport B='two words'\nC=\"x=y\"\nEMPTY=\nnot a line\n", encoding="utf-8"
    )
    assert read_env_file(path) == {"A": "1", "B": "two words", "C": "x=y"}


def test_the_process_environment_wins_over_the_file() -> None:
    env = stack_env({"GATEWAY_PORT": "9000", "BACKEND_PORT": "9001"}, {"GATEWAY_PORT": "9100"})
    assert env["GATEWAY_PORT"] == "9100"
    assert env["BACKEND_URL"] == "http://127.0.0.1:9001"
    defaults = stack_env({}, {})
    assert (defaults["GATEWAY_HOST"], defaults["GATEWAY_PORT"]) == ("127.0.0.1", "8080")


def test_the_port_check_ignores_time_wait_but_not_a_listener() -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's servers
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} is in use; set GATEWAY_PORT"):
            check_port_free("GATEWAY_PORT", str(port))
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: its port is left in TIME_WAIT
        client.recv(1)
        client.close()
    # As after Ctrl-C on `make run`: only TIME_WAIT remains, and the server would start.
    check_port_free("GATEWAY_PORT", str(port))


def read_until_curl_lines(process: subprocess.Popen[str]) -> tuple[list[str], list[str]]:
    """Everything printed up to and including the two curl lines."""
    assert process.stdout is not None
    seen: list[str] = []
    curls: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if line.strip().startswith("curl "):
            curls.append(line.strip())
            if len(curls) == 2:
                return seen, curls
    pytest.fail("make run printed no curl lines:\n" + "".join(seen))


def test_make_run_starts_both_prints_a_working_curl_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    gateway_port, backend_port = free_port(), free_port()
    env = {
        **base_env(),
        "GATEWAY_PORT": str(gateway_port),
        "BACKEND_PORT": str(backend_port),
        "LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),  # this tree's code, though the working directory is elsewhere
    }
    command = [sys.executable, "-m", "gateway.devstack", "--config", str(ROOT / "gateway.yaml")]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watchdog = threading.Timer(RUN_TIMEOUT_SECONDS, process.kill)
    watchdog.start()
    try:
        seen, (list_line, create_line) = read_until_curl_lines(process)
        assert "wrote one with random development secrets" in "".join(seen)
        assert (tmp_path / ".env").exists()
        assert (tmp_path / "todo.db").exists()  # SQLite in the working directory

        created = subprocess.run(["bash", "-c", create_line], capture_output=True, text=True)
        assert created.returncode == 0
        assert json.loads(created.stdout)["title"] == "Try the gateway"
        listed = subprocess.run(["bash", "-c", list_line], capture_output=True, text=True)
        assert [task["title"] for task in json.loads(listed.stdout)] == ["Try the gateway"]

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        # Both children are gone once make run has returned.
        assert http_status(f"http://127.0.0.1:{gateway_port}/healthz") is None
        assert http_status(f"http://127.0.0.1:{backend_port}/healthz") is None
    finally:
        watchdog.cancel()
        if process.poll() is None:  # a failed assertion: still stop the children in order
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        # Not communicate(): a leaked child would hold the pipe open for ever.
        assert process.stdout is not None
        process.stdout.close()

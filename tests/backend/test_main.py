"""`python -m backend` as a real process: refuses bad settings, serves and logs good ones."""

from __future__ import annotations

import gzip
import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.backend.conftest import SECRET, identity_headers

SHORT = "s" * 31


def run_backend(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.pop("DATABASE_URL", None)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["GATEWAY_IDENTITY_SECRET"] = SECRET.decode()
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'todo.db'}"
    return env


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GATEWAY_IDENTITY_SECRET", None),
        ("GATEWAY_IDENTITY_SECRET", ""),
        ("GATEWAY_IDENTITY_SECRET", SHORT),
        ("GATEWAY_IDENTITY_PREVIOUS_SECRETS", SHORT),
        ("DATABASE_URL", "mysql://root@localhost/todo"),
        ("BACKEND_PORT", "eighty"),
        ("LOG_LEVEL", "loud"),
        ("BACKEND_MAX_HEADERS", "many"),
    ],
)
def test_refuses_to_start_naming_the_variable(
    tmp_path: Path, variable: str, value: str | None
) -> None:
    env = base_env(tmp_path)
    if value is None:
        env.pop(variable)
    else:
        env[variable] = value
    result = run_backend(env, tmp_path)
    assert result.returncode != 0
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    if value:
        assert value not in result.stderr
    assert not (tmp_path / "todo.db").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (an http:// URL we built)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if _get(base + "/healthz", {})[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the backend did not come up")


def start_backend(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "backend"],
        env=env | {"BACKEND_PORT": str(port)},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    _wait_until_up(base, process)
    return process, base


def test_serves_and_logs_one_json_line_per_request(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    del env["DATABASE_URL"]  # the default: a SQLite file in the working directory
    process, base = start_backend(env, tmp_path)
    try:
        headers = identity_headers("GET", "/api/alice/tasks", "alice", request_id="req-main-1")
        assert _get(base + "/api/alice/tasks", headers) == (200, [])
        status, body = _get(base + "/api/alice/tasks", {"X-User-Id": "alice"})
        assert (status, body["error"]) == (401, "unauthorized")
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert (tmp_path / "todo.db").exists()
    lines = [orjson.loads(line) for line in stdout.splitlines()]
    served = [line for line in lines if line.get("path") == "/api/alice/tasks"]
    assert len(served) == 2
    assert served[0]["request_id"] == "req-main-1"
    assert served[0]["user_id"] == "alice"
    assert {"timestamp", "level", "event", "method", "status", "duration_ms"} <= set(served[0])
    assert served[1]["status"] == 401
    assert "user_id" not in served[1]
    assert headers["X-Gateway-Signature"].encode() not in stdout
    assert SECRET not in stdout


def _wait_until_not_listening(port: int) -> None:
    # The body is sent only once the server has begun shutting down, so the test does not
    # depend on which of the two the server happens to see first.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError("the backend kept listening after SIGTERM")


def test_sigterm_lets_a_request_whose_body_is_still_arriving_finish(tmp_path: Path) -> None:
    process, base = start_backend(base_env(tmp_path), tmp_path)
    body = orjson.dumps({"title": "sent across a shutdown"})
    signed = identity_headers("POST", "/api/alice/tasks", "alice")
    head = "".join(f"{name}: {value}\r\n" for name, value in signed.items())
    port = int(base.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
            connection.sendall(
                (
                    "POST /api/alice/tasks HTTP/1.1\r\nHost: backend\r\n"
                    f"{head}Content-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
                ).encode()
            )
            # 100 Continue: the handler has started and waits for the body.
            assert connection.recv(1024).startswith(b"HTTP/1.1 100 Continue")
            process.send_signal(signal.SIGTERM)
            _wait_until_not_listening(port)
            connection.sendall(body)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                answer += chunk
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
    assert answer.startswith(b"HTTP/1.1 201"), answer
    assert b"Connection: close" in answer
    assert process.returncode == 0
    assert b'"event":"stopped"' in stdout


def test_the_server_decodes_a_gzip_body_itself(tmp_path: Path) -> None:
    # The production runner must hand bodies over as sent (auto_decompress off), or the
    # backend's own decoder would see them decoded already and refuse them.
    process, base = start_backend(base_env(tmp_path), tmp_path)
    try:
        headers = identity_headers("POST", "/api/alice/tasks", "alice")
        headers |= {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        body = gzip.compress(orjson.dumps({"title": "zipped"}))
        request = urllib.request.Request(  # noqa: S310 (an http:// URL we built)
            base + "/api/alice/tasks", data=body, headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert (response.status, orjson.loads(response.read())["title"]) == (201, "zipped")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_prints_usage_and_does_not_start(tmp_path: Path) -> None:
    result = run_cli(
        ["backend", "--help"], {**base_env(tmp_path), "BACKEND_PORT": "eighty"}, tmp_path
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m backend")
    for variable in ("GATEWAY_IDENTITY_SECRET", "DATABASE_URL", "BACKEND_PORT", "LOG_LEVEL"):
        assert variable in result.stdout
    assert not (tmp_path / "todo.db").exists()


@pytest.mark.parametrize("service", ["backend", "gateway"])
def test_version_is_the_package_version(tmp_path: Path, service: str) -> None:
    result = run_cli([service, "--version"], base_env(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "python",
        "-m",
        service,
        importlib.metadata.version("todo-identity-gateway"),
    ]


def test_check_passes_a_usable_environment_without_creating_the_database(tmp_path: Path) -> None:
    result = run_cli(["backend", "--check"], base_env(tmp_path), tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert "ok" in result.stdout
    assert not (tmp_path / "todo.db").exists()


@pytest.mark.postgres
def test_check_connects_to_postgresql(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"}
    result = run_cli(["backend", "--check"], env, tmp_path)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("database", "reason"),
    [
        ("postgresql://postgres:hunter2-password@127.0.0.1:5432/no_such_db_h2", "no_such_db_h2"),
        ("postgresql://postgres:hunter2-password@127.0.0.1:{port}/test", "Connection refused"),
    ],
)
def test_check_names_a_database_it_cannot_use(tmp_path: Path, database: str, reason: str) -> None:
    env = base_env(tmp_path) | {"DATABASE_URL": database.format(port=_free_port())}
    result = run_cli(["backend", "--check"], env, tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("backend: DATABASE_URL")
    assert reason in line
    assert "hunter2" not in result.stderr


def test_check_names_every_problem(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {
        "GATEWAY_IDENTITY_SECRET": SHORT,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'todo.db'}",
        "LOG_LEVEL": "loud",
    }
    result = run_cli(["backend", "--check"], env, tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert [line.split()[1] for line in lines] == [
        "GATEWAY_IDENTITY_SECRET",
        "DATABASE_URL",
        "LOG_LEVEL",
    ]
    assert SHORT not in result.stderr
    assert "Traceback" not in result.stderr


def test_check_names_a_parser_limit_below_its_minimum(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {"BACKEND_MAX_HEADER_BYTES": "100"}
    result = run_cli(["backend", "--check"], env, tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line == "backend: BACKEND_MAX_HEADER_BYTES must be a whole number of at least 1024"


def test_the_parser_limits_come_from_the_environment(tmp_path: Path) -> None:
    process, base = start_backend(base_env(tmp_path) | {"BACKEND_MAX_HEADERS": "16"}, tmp_path)
    try:
        many = {f"X-Extra-{index}": "1" for index in range(20)}
        status, body = _get(base + "/healthz", many)
        assert status == 400
        assert set(body) == {"error", "message", "request_id"}
        assert _get(base + "/healthz", {"X-Extra": "1"})[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_a_taken_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = base_env(tmp_path) | {"BACKEND_PORT": str(port)}
        result = run_cli(["backend"], env, tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"backend: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_repeated_sigterms_while_stopping_still_exit_0(tmp_path: Path) -> None:
    # Orchestrators and impatient operators repeat the signal; the exit must stay clean.
    process, _ = start_backend(base_env(tmp_path), tmp_path)
    try:
        while process.poll() is None:
            process.send_signal(signal.SIGTERM)
            time.sleep(0.002)
    finally:
        stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert b'"event":"stopped"' in stdout

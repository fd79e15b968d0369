"""`python -m gateway`: --check, mint-token, and a graceful SIGTERM with requests in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from gateway.__main__ import main
from tests.gateway.conftest import DEFAULT_YAML, Recorder, StackFactory, gateway_env, make_token

ROOT = DEFAULT_YAML.parent
HERE = Path(__file__).resolve().parent


def run_cli(*args: str, env: dict[str, str], cwd: Path = HERE) -> subprocess.CompletedProcess[str]:
    # Not the checkout's root: a `.env` that `make run` left there would be read.
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_passes_on_the_default_config_with_env() -> None:
    result = run_cli("--config", str(DEFAULT_YAML), "--check", env=gateway_env())
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_check_and_mint_token_read_dot_env_in_the_working_directory(tmp_path: Path) -> None:
    # A checkout that `make run` set up: the secrets are in .env, not in the environment.
    (tmp_path / ".env").write_text(
        "".join(f"{name}={value}\n" for name, value in gateway_env().items()), encoding="utf-8"
    )
    checked = run_cli("--config", str(DEFAULT_YAML), "--check", env={}, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    minted = run_cli("mint-token", "--sub", "bob", env={}, cwd=tmp_path)
    assert minted.returncode == 0, minted.stderr
    # A variable already set wins over the file.
    short = run_cli(
        "--config", str(DEFAULT_YAML), "--check", env={"BETTER_AUTH_SECRET": "x"}, cwd=tmp_path
    )
    assert "BETTER_AUTH_SECRET must be at least 32 bytes" in short.stderr
    ignored = run_cli(
        "--config", str(DEFAULT_YAML), "--check", "--env-file", "", cwd=tmp_path, env={}
    )
    assert ignored.returncode == 1
    assert "GATEWAY_IDENTITY_SECRET is not set" in ignored.stderr


def test_env_file_names_another_file_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    named = tmp_path / "gateway.env"
    named.write_text(
        "".join(f"export {name}='{value}'\n" for name, value in gateway_env().items()),
        encoding="utf-8",
    )
    checked = run_cli("--config", str(DEFAULT_YAML), "--check", "--env-file", str(named), env={})
    assert checked.returncode == 0, checked.stderr
    missing = run_cli("--config", str(DEFAULT_YAML), "--check", "--env-file", "nope.env", env={})
    assert missing.returncode == 1
    assert "nope.env: cannot read" in missing.stderr


def test_check_passes_with_only_better_auth_url() -> None:
    env = gateway_env(BETTER_AUTH_URL="http://localhost:3000")
    del env["BETTER_AUTH_SECRET"]
    assert main(["--config", str(DEFAULT_YAML), "--check"], env) == 0


def test_check_lists_every_problem_by_yaml_path(tmp_path: Path) -> None:
    broken = DEFAULT_YAML.read_text(encoding="utf-8") + (
        "  - name: extra\n"
        "    path: /x/{id}\n"
        "    methods: [GET, FETCH]\n"
        "    upstream: nowhere\n"
        "    colour: blue\n"
    )
    broken = broken.replace("max_body_bytes: 1048576", "max_body_bytes: lots")
    config = tmp_path / "gateway.yaml"
    config.write_text(broken, encoding="utf-8")
    env = gateway_env(GATEWAY_PORT="eighty", CORS_ALLOW_ORIGINS="not-an-origin")
    env["GATEWAY_IDENTITY_SECRET"] = "short"
    result = run_cli("--config", str(config), "--check", env=env)
    assert result.returncode == 1
    for expected in (
        "routes[5].methods[1]: Input should be 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE' "
        "or 'OPTIONS', got 'FETCH'",
        "routes[5].upstream: unknown upstream 'nowhere'",
        "routes[5].colour: unknown key",
        "limits.max_body_bytes: Input should be a valid integer, got 'lots'",
        "listen.port: Input should be a valid integer, got 'eighty'",
        "cors.allow_origins[0]: not an origin",
        "identity.secret_env: GATEWAY_IDENTITY_SECRET must be at least 32 bytes",
    ):
        assert expected in result.stderr
    assert "short" not in result.stderr.replace("shorter", "")


def test_check_names_file_line_and_column_of_a_yaml_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("listen:\n  port: @8080\n", encoding="utf-8")
    assert main(["--config", str(config), "--check"], gateway_env()) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[1:] == [
        f"  {config}:2:9: not valid YAML: found character '@' that cannot start any token"
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"BETTER_AUTH_SECRET": ""}, "no key source"),
        ({"BETTER_AUTH_SECRET": "too-short"}, "BETTER_AUTH_SECRET must be at least 32 bytes"),
        ({"GATEWAY_IDENTITY_SECRET": ""}, "GATEWAY_IDENTITY_SECRET is not set"),
        ({"GATEWAY_IDENTITY_SECRET": "s" * 40, "BETTER_AUTH_SECRET": "s" * 40}, "must differ"),
    ],
)
def test_secret_rules(
    change: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(DEFAULT_YAML), "--check"], gateway_env(**change)) == 1
    assert message in capsys.readouterr().err


async def test_minted_token_is_accepted(make_stack: StackFactory) -> None:
    result = run_cli("mint-token", "--sub", "alice", "--ttl", "120", env=gateway_env())
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    stack = await make_stack()
    response = await stack.client.get(
        "/api/alice/tasks", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    refused = await stack.client.get("/api/bob/tasks", headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 403


def test_mint_token_needs_the_secret() -> None:
    result = run_cli("mint-token", "--sub", "alice", env={})
    assert result.returncode == 1
    assert "BETTER_AUTH_SECRET" in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until_healthy(port: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the gateway did not start")


async def test_sigterm_lets_requests_in_flight_finish(
    upstream: TestServer, recorder: Recorder
) -> None:
    port = free_port()
    env = gateway_env(
        BACKEND_URL=str(upstream.make_url("")).rstrip("/"),
        GATEWAY_PORT=str(port),
        GATEWAY_HOST="127.0.0.1",
        PATH=os.environ.get("PATH", ""),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "--config",
        str(DEFAULT_YAML),
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_until_healthy(port)
        token = make_token("alice")
        async with aiohttp.ClientSession() as session:
            slow = asyncio.create_task(
                session.get(
                    f"http://127.0.0.1:{port}/api/alice/tasks/slow",
                    headers={"Authorization": f"Bearer {token}"},
                )
            )
            # A second request whose body has not arrived when SIGTERM does.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                (
                    f"POST /api/alice/tasks HTTP/1.1\r\nHost: g\r\nExpect: 100-continue\r\n"
                    f"Authorization: Bearer {token}\r\nContent-Length: 5\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            # Both are in flight: the gateway answered the POST's Expect (so it is handling
            # it) and the upstream has begun on the GET.
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            await recorder.wait_started("GET /api/alice/tasks/slow")
            process.send_signal(signal.SIGTERM)
            assert process.stdout is not None
            line = b""
            while b'"draining"' not in line:
                line = await asyncio.wait_for(process.stdout.readline(), 30)
                assert line, "the gateway exited without draining"
            assert b'"in_flight":2' in line
            writer.write(b"hello")
            await writer.drain()
            late = await reader.read()
            writer.close()
            recorder.slow_release.set()
            response = await slow
            assert response.status == 200
            assert await response.json() == {"slow": True}
        assert late.startswith(b"HTTP/1.1 200")
        assert b'"bytes": 5' in late
        assert await asyncio.wait_for(process.wait(), 30) == 0
        # Access lines are written in batches: the last ones still reach the log at exit.
        after = [orjson.loads(line) for line in (await process.stdout.read()).splitlines()]
        finished = {(e["method"], e["path"], e["status"]) for e in after if e["event"] == "request"}
        assert finished == {
            ("GET", "/api/alice/tasks/slow", 200),
            ("POST", "/api/alice/tasks", 200),
        }
    finally:
        recorder.slow_release.set()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_workers_share_the_port_and_stop_cleanly() -> None:
    port = free_port()
    env = gateway_env(GATEWAY_PORT=str(port), GATEWAY_HOST="127.0.0.1")
    env["PATH"] = os.environ.get("PATH", "")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "--config",
        str(DEFAULT_YAML),
        "--workers",
        "2",
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        listening: list[bytes] = []
        while len(listening) < 2:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, "a worker exited before listening"
            if b'"listening"' in line:
                listening.append(line)
        await wait_until_healthy(port)
        assert len({line.split(b'"pid":')[1].split(b",")[0] for line in listening}) == 2
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_a_taken_port_is_one_clear_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = gateway_env(GATEWAY_PORT=str(port), GATEWAY_HOST="127.0.0.1")
        result = run_cli("--config", str(DEFAULT_YAML), env=env)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr

"""`python -m gateway probe-backend URL` as a backend author runs it: against the project's
backend process (every case passes) and against a lax backend (it fails, naming the cases)."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.integration.lax_backend import lax_app
from tests.integration.processes import ROOT, Service, base_env, free_port

FORGED = [
    "no-signature",
    "wrong-secret",
    "stale",
    "future",
    "other-users-path",
    "path-changed-after-signing",
    "method-changed-after-signing",
    "request-id-changed",
    "user-changed",
    "duplicated-user-id",
    "duplicated-signature",
]


def probe_command(url: str) -> list[str]:
    return [sys.executable, "-m", "gateway", "probe-backend", url, "--user", "alice"]


def verdicts(output: str) -> dict[str, str]:
    lines = [line.split() for line in output.splitlines() if line.strip()]
    return {words[0]: words[-1] for words in lines}


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[tuple[str, str]]:
    secret = secrets.token_urlsafe(32)
    port = free_port()
    env = {
        **base_env(),
        "GATEWAY_IDENTITY_SECRET": secret,
        "BACKEND_PORT": str(port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'todo.db'}",
    }
    service = Service("backend", ["-m", "backend"], env, tmp_path / "backend.log")
    url = f"http://127.0.0.1:{port}"
    service.start(f"{url}/healthz")
    try:
        yield url, secret
    finally:
        service.stop()


def test_the_projects_backend_passes_every_case(backend: tuple[str, str]) -> None:
    url, secret = backend
    env = {**base_env(), "GATEWAY_IDENTITY_SECRET": secret}
    done = subprocess.run(probe_command(url), env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert verdicts(done.stdout) == dict.fromkeys(["signed", *FORGED], "PASS")


async def test_a_backend_that_believes_any_user_id_fails_with_the_cases_named() -> None:
    runner = web.AppRunner(lax_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        child = await asyncio.create_subprocess_exec(
            *probe_command(f"http://127.0.0.1:{port}"),
            env={**base_env(), "GATEWAY_IDENTITY_SECRET": secrets.token_urlsafe(32)},
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        stdout, _ = await child.communicate()
    finally:
        await runner.cleanup()
    assert child.returncode == 1
    assert verdicts(stdout.decode()) == {"signed": "PASS"} | dict.fromkeys(FORGED, "FAIL")


def test_without_the_secret_it_says_so() -> None:
    done = subprocess.run(
        probe_command("http://127.0.0.1:9"),
        env=base_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "GATEWAY_IDENTITY_SECRET is not set"

"""The repository's Node.js servers, started by the tests: Better Auth (auth-server/) and the
reference frontend (frontend/). Each prints one line "ready <url>" once it listens."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.processes import ROOT, STOP_TIMEOUT_SECONDS, base_env, free_port

AUTH_SERVER_DIR = ROOT / "auth-server"
FRONTEND_DIR = ROOT / "frontend"
START_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class BetterAuth:
    url: str
    alg: str


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node (>= 20) is required for the Better Auth and browser tests")
    return found


def npm(directory: Path, *args: str) -> None:
    found = shutil.which("npm")
    if found is None:
        pytest.fail(f"npm is required to install {directory.name}/ (npm ci)")
    subprocess.run([found, *args], cwd=directory, check=True, capture_output=True)


def install(directory: Path, marker: str) -> None:
    """`npm ci` from the committed lock when node_modules is missing (.ci/run does it too)."""
    if not (directory / "node_modules" / marker).is_dir():
        npm(directory, "ci", "--no-audit", "--no-fund")


def wait_for_ready_line(process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if log.read_text(errors="replace").startswith("ready "):
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    pytest.fail(f"{log.stem} did not start: {log.read_text(errors='replace')[-4000:]}")


def stop_node(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_node(
    directory: Path, script: str, env: Mapping[str, str], resources: ExitStack, log: Path
) -> None:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [node(), script], cwd=directory, env=dict(env), stdout=output, stderr=subprocess.STDOUT
        )
    resources.callback(stop_node, process)
    wait_for_ready_line(process, log)


def start_better_auth(
    alg: str,
    resources: ExitStack,
    log: Path,
    *,
    trusted_origins: str,
    extra_env: Mapping[str, str] | None = None,
) -> BetterAuth:
    install(AUTH_SERVER_DIR, "better-auth")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **base_env(),
        "PORT": str(port),
        "BETTER_AUTH_URL": url,
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(32),
        "TRUSTED_ORIGINS": trusted_origins,
        **(extra_env or {}),
    }
    if alg != "EdDSA":
        env["JWT_ALG"] = alg
    start_node(AUTH_SERVER_DIR, "server.mjs", env, resources, log)
    return BetterAuth(url=url, alg=alg)


def start_frontend(gateway_url: str, port: int, resources: ExitStack, log: Path) -> None:
    """Build the frontend (esbuild, well under a second) and serve it on localhost:port."""
    install(FRONTEND_DIR, "esbuild")
    npm(FRONTEND_DIR, "run", "build")
    env = {**base_env(), "PORT": str(port), "GATEWAY_URL": gateway_url}
    start_node(FRONTEND_DIR, "serve.mjs", env, resources, log)

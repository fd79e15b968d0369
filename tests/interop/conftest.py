"""A real Better Auth server (Node.js, tests/interop/better_auth) with the gateway in front."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.processes import STOP_TIMEOUT_SECONDS, Stack, base_env, free_port

SERVER_DIR = Path(__file__).resolve().parent / "better_auth"
FRONTEND_ORIGIN = "http://localhost:3000"
START_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class BetterAuth:
    url: str
    alg: str


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node (>= 20) is required for the Better Auth interop tests; install Node.js")
    return found


def install_server() -> None:
    """`npm ci` from the committed lock when node_modules is missing (.ci/run does it too)."""
    if (SERVER_DIR / "node_modules" / "better-auth").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is required to install tests/interop/better_auth (npm ci)")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=SERVER_DIR, check=True, capture_output=True
    )


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
    pytest.fail(f"Better Auth did not start: {log.read_text(errors='replace')[-4000:]}")


def start_better_auth(alg: str, resources: ExitStack, log: Path) -> BetterAuth:
    install_server()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **base_env(),
        "PORT": str(port),
        "BETTER_AUTH_URL": url,
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(32),
        "TRUSTED_ORIGINS": FRONTEND_ORIGIN,
    }
    if alg != "EdDSA":
        env["JWT_ALG"] = alg
    with log.open("wb") as output:
        process = subprocess.Popen(
            [node(), "server.mjs"], cwd=SERVER_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    resources.callback(stop_node, process)
    wait_for_ready_line(process, log)
    return BetterAuth(url=url, alg=alg)


def stop_node(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Deployment:
    better_auth: BetterAuth
    gateway_url: str


@pytest.fixture(
    scope="package",
    # EdDSA is the jwt plugin's default: that server gets no key options at all.
    params=["EdDSA", "ES256", "RS256"],
)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp(f"interop-{request.param}")
    with ExitStack() as resources:
        better_auth = start_better_auth(request.param, resources, workdir / "better-auth.log")
        stack = Stack(
            workdir,
            database_url=f"sqlite:///{workdir / 'todo.db'}",
            auth_env={"BETTER_AUTH_URL": better_auth.url},
        )
        resources.callback(stack.stop)
        stack.start()
        yield Deployment(better_auth=better_auth, gateway_url=stack.gateway_url)

"""What the images run besides the services: the health probe, and the Better Auth image."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.delivery.dockerfiles import ROOT, dockerfile_stages

HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
NODE_HEALTHCHECK = ROOT / "auth-server" / "healthcheck.mjs"


class Answers(BaseHTTPRequestHandler):
    """200 on /healthz and Better Auth's JWKS path, 503 on /readyz, 404 elsewhere."""

    def do_GET(self) -> None:
        status = {"/healthz": 200, "/readyz": 503, "/api/auth/jwks": 200}.get(self.path, 404)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def probe(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.endswith("_PORT")}
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_probe_follows_the_port_variable(server_port: int) -> None:
    assert probe("BACKEND_PORT", "/healthz", BACKEND_PORT=str(server_port)).returncode == 0
    assert probe("MY_PORT", "healthz", MY_PORT=str(server_port)).returncode == 0


@pytest.mark.parametrize("path", ["/readyz", "/missing"])
def test_the_probe_fails_on_an_error_status(server_port: int, path: str) -> None:
    answer = probe("GATEWAY_PORT", path, GATEWAY_PORT=str(server_port))
    assert answer.returncode == 1
    assert answer.stderr.startswith("unhealthy: ")
    assert "Traceback" not in answer.stderr


def test_the_probe_fails_when_nothing_listens() -> None:
    # A port this test held a moment ago, closed again: nothing answers there.
    closed = HTTPServer(("127.0.0.1", 0), Answers)
    port = closed.server_address[1]
    closed.server_close()
    assert probe("GATEWAY_PORT", "/healthz", GATEWAY_PORT=str(port)).returncode == 1


@pytest.mark.parametrize(
    ("args", "env"),
    [(("NO_SUCH_PORT", "/healthz"), {}), (("GATEWAY_PORT", "/healthz"), {"GATEWAY_PORT": "x"})],
)
def test_the_probe_refuses_a_missing_or_bad_port(
    args: tuple[str, str], env: dict[str, str]
) -> None:
    answer = probe(*args, **env)
    assert answer.returncode == 1
    assert "is not a port number" in answer.stderr


def node_probe(port: int) -> int:
    env = {"PATH": os.environ["PATH"], "PORT": str(port)}
    return subprocess.run(
        ["node", str(NODE_HEALTHCHECK)], env=env, capture_output=True, timeout=30, check=False
    ).returncode


def test_the_better_auth_probe_asks_its_port_for_the_jwks(server_port: int) -> None:
    assert node_probe(server_port) == 0
    closed = HTTPServer(("127.0.0.1", 0), Answers)
    port = closed.server_address[1]
    closed.server_close()
    assert node_probe(port) == 1


def test_better_auth_image_installs_its_lock_as_a_plain_user() -> None:
    (stage,) = dockerfile_stages(ROOT / "auth-server" / "Dockerfile").values()
    assert stage[0] == "FROM node:20-slim"
    installs = [line for line in stage if line.startswith("RUN ") and "npm " in line]
    assert installs
    assert all("npm ci" in line and "npm install" not in line for line in installs)
    assert "COPY package.json package-lock.json ./" in stage
    users = [line.split()[1] for line in stage if line.startswith("USER ")]
    assert users == ["node"]
    assert stage.index("USER node") < next(i for i, x in enumerate(stage) if x.startswith("CMD "))
    ignored = (ROOT / "auth-server" / ".dockerignore").read_text().split()
    assert "node_modules" in ignored

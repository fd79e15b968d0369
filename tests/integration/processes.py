"""Real service processes on free loopback ports, started and stopped by the tests.

`Service` wraps one `python -m ...` child with its output in a file (shown when it fails to
start); `Stack` is a backend plus a gateway wired together the way an operator would.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


# Below Linux's ephemeral range (32768-60999): a port picked there can be taken by any
# outgoing connection before the service binds it, which busy loopback traffic makes likely.
_LISTEN_PORTS = range(20000, 32768)


def free_port() -> int:
    """A loopback port nobody listens on now, outside the ephemeral range."""
    for _ in range(100):
        port = random.choice(_LISTEN_PORTS)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port")


def http_status(url: str) -> int | None:
    """The status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            status: int = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError):
        return None
    return status


class PortTaken(RuntimeError):
    """Another process bound the port between our check and the service's bind."""


class Service:
    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.args = args
        self.env = dict(env)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_url: str) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = self.output()
                error = PortTaken if "address already in use" in text else RuntimeError
                raise error(f"{self.name} exited at start:\n{text}")
            if http_status(ready_url) == 200:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready at {ready_url}:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: the crash an operator did not plan for."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def base_env() -> dict[str, str]:
    """The parent's environment without anything that could configure the services."""
    prefixes = ("BETTER_AUTH_", "GATEWAY_", "BACKEND_", "DATABASE_URL", "CORS_", "LOG_LEVEL")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


class Stack:
    """A backend and a gateway in front of it, configured through the environment only."""

    def __init__(self, workdir: Path, *, database_url: str, auth_env: Mapping[str, str]) -> None:
        self.identity_secret = secrets.token_urlsafe(32)
        common = {**base_env(), "GATEWAY_IDENTITY_SECRET": self.identity_secret}
        self.backend = Service(
            "backend",
            ["-m", "backend"],
            {
                **common,
                "DATABASE_URL": database_url,
                "LOG_LEVEL": "info",
            },
            workdir / "backend.log",
        )
        self.gateway = Service(
            "gateway",
            ["-m", "gateway", "--config", "gateway.yaml", "--env-file", ""],
            {
                **common,
                **auth_env,
                "GATEWAY_HOST": "127.0.0.1",
                "LOG_LEVEL": "info",
            },
            workdir / "gateway.log",
        )

        self._assign_ports()

    def _assign_ports(self) -> None:
        self.backend_port, self.gateway_port = free_port(), free_port()
        self.backend_url = f"http://127.0.0.1:{self.backend_port}"
        self.gateway_url = f"http://127.0.0.1:{self.gateway_port}"
        self.backend.env["BACKEND_PORT"] = str(self.backend_port)
        self.gateway.env["BACKEND_URL"] = self.backend_url
        self.gateway.env["GATEWAY_PORT"] = str(self.gateway_port)

    def start(self) -> None:
        for _ in range(3):
            try:
                self.start_backend()
                self.gateway.start(f"{self.gateway_url}/readyz")
                return
            except PortTaken:
                self.stop()
                self._assign_ports()
        raise RuntimeError("no free ports for the stack after 3 attempts")

    def start_backend(self) -> None:
        self.backend.start(f"{self.backend_url}/healthz")

    def stop(self) -> None:
        self.gateway.stop()
        self.backend.stop()

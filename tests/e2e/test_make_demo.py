"""`make demo` (python -m gateway.demostack): everything starts, the URL it prints serves the
page wired to the gateway, the gateway answers that origin's preflight, Ctrl-C stops all."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.integration.processes import ROOT, base_env, free_port, http_status

RUN_TIMEOUT_SECONDS = 90.0
PORTS = ("FRONTEND_PORT", "AUTH_PORT", "BACKEND_PORT", "GATEWAY_PORT")


def read_until_ready(process: subprocess.Popen[str]) -> str:
    """The URL from the "Demo ready: open URL" line; everything printed when there is none."""
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("Demo ready: open "):
            return line.removeprefix("Demo ready: open ").strip()
    pytest.fail("make demo printed no URL:\n" + "".join(seen[-40:]))


def preflight_status(gateway_url: str, origin: str) -> tuple[int, str | None]:
    request = urllib.request.Request(  # noqa: S310 - our loopback URL
        f"{gateway_url}/api/auth/sign-in/email",
        method="OPTIONS",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        return response.status, response.headers.get("Access-Control-Allow-Origin")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.stdout is not None
    process.stdout.close()


def exposed_headers(gateway_url: str, origin: str) -> set[str]:
    request = urllib.request.Request(f"{gateway_url}/healthz", headers={"Origin": origin})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        exposed = response.headers.get("Access-Control-Expose-Headers", "")
    return {name.strip().lower() for name in exposed.split(",")}


def test_make_demo_serves_the_frontend_wired_to_the_gateway_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    ports = {name: str(free_port()) for name in PORTS}
    env = {**base_env(), **ports, "LOG_LEVEL": "warning", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gateway.demostack", "--config", str(ROOT / "gateway.yaml")]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    # Ctrl-C, not a kill: the children live in sessions of their own and only the demo
    # stops them (a killed demo would leave them holding its output pipe open).
    watchdog = threading.Timer(RUN_TIMEOUT_SECONDS, process.send_signal, [signal.SIGINT])
    watchdog.start()
    try:
        url = read_until_ready(process)
        assert url == f"http://localhost:{ports['FRONTEND_PORT']}"
        with urllib.request.urlopen(f"{url}/config.json", timeout=5) as response:  # noqa: S310
            gateway_url = json.load(response)["gatewayUrl"]
        assert gateway_url == f"http://localhost:{ports['GATEWAY_PORT']}"
        assert http_status(url) == 200
        assert preflight_status(gateway_url, url) == (204, url)
        # The page shows the request id, and after a 429 how long to wait.
        assert {"x-request-id", "retry-after"} <= exposed_headers(gateway_url, url)

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        watchdog.cancel()
        stop(process)
    for port in ports.values():
        assert http_status(f"http://127.0.0.1:{port}/") is None, f"port {port} still answers"

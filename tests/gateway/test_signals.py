"""Signals on real gateway processes: SIGHUP reloads gateway.yaml without dropping a request;
with --workers N the parent passes signals on, replaces a dead worker and leaves none behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from tests.gateway.conftest import DEFAULT_YAML, Recorder, gateway_env, make_token
from tests.gateway.scrape import scrape, scrape_until, value
from tests.gateway.test_cli import free_port, wait_until_healthy

HERE = Path(__file__).resolve().parent
NOTES_ROUTE = """
  - name: notes
    path: /api/{user_id}/notes
    methods: [GET]
    auth: required
    upstream: backend
    bindings: {user_id: user}
"""


class Gateway:
    """A `python -m gateway` child whose JSON log lines the test reads as they come."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.lines: list[dict[str, Any]] = []

    async def next_event(self, event: str, *, seconds: float = 30) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), seconds)
            assert raw, f"the gateway exited before logging {event!r}"
            line = orjson.loads(raw)
            self.lines.append(line)
            if line["event"] == event:
                return line

    async def rest(self) -> list[dict[str, Any]]:
        assert self.process.stdout is not None
        tail = await asyncio.wait_for(self.process.stdout.read(), 30)
        self.lines += [orjson.loads(raw) for raw in tail.splitlines()]
        return self.lines

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextlib.asynccontextmanager
async def running_gateway(config: Path, *extra: str, **env: str) -> AsyncIterator[Gateway]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gateway", "--config", str(config), *extra),
        cwd=HERE,
        env=gateway_env(
            GATEWAY_PORT=str(port),
            GATEWAY_HOST="127.0.0.1",
            PATH=os.environ.get("PATH", ""),
            **env,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield Gateway(process, port)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def authorized() -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('alice')}"}


async def test_sighup_reloads_routes_and_keeps_requests_in_flight(
    tmp_path: Path, upstream: TestServer, recorder: Recorder
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(DEFAULT_YAML.read_text(encoding="utf-8"), encoding="utf-8")
    backend = str(upstream.make_url("")).rstrip("/")
    metrics_port = free_port()
    async with running_gateway(
        config, BACKEND_URL=backend, GATEWAY_METRICS_PORT=str(metrics_port)
    ) as gateway:
        await gateway.next_event("listening")
        await wait_until_healthy(gateway.port)
        async with aiohttp.ClientSession(headers=authorized()) as session:
            async with session.get(gateway.url("/api/alice/notes")) as before:
                assert before.status == 404
            slow = asyncio.create_task(session.get(gateway.url("/api/alice/tasks/slow")))
            await recorder.wait_started("GET /api/alice/tasks/slow")
            await scrape_until(metrics_port, "gateway_requests_in_flight", 1)
            config.write_text(config.read_text(encoding="utf-8") + NOTES_ROUTE, encoding="utf-8")
            gateway.process.send_signal(signal.SIGHUP)
            reloaded = await gateway.next_event("config_reloaded")
            assert reloaded["needs_restart"] == []
            async with session.get(gateway.url("/api/alice/notes")) as after:
                assert after.status == 200
                assert (await after.json())["path"] == "/api/alice/notes"
            # The request that began on the old pipeline still finishes through it.
            recorder.slow_release.set()
            async with await slow as response:
                assert response.status == 200
                assert await response.json() == {"slow": True}
            # A file that fails validation: the running config stays, one error names it.
            config.write_text(
                config.read_text(encoding="utf-8") + "    colour: blue\n", encoding="utf-8"
            )
            gateway.process.send_signal(signal.SIGHUP)
            failed = await gateway.next_event("config_reload_failed")
            assert failed["level"] == "error"
            assert failed["problems"] == ["routes[5].colour: unknown key"]
            async with session.get(gateway.url("/api/alice/notes")) as kept:
                assert kept.status == 200
            samples = await scrape(metrics_port)
            for result in ("ok", "invalid"):
                assert value(samples, "gateway_config_reloads_total", result=result) == 1
        gateway.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(gateway.process.wait(), 30) == 0
        lines = await gateway.rest()
    served = [(line["path"], line["status"]) for line in lines if line["event"] == "request"]
    assert ("/api/alice/tasks/slow", 200) in served
    assert served.count(("/api/alice/notes", 200)) == 2


async def worker_pids(gateway: Gateway, count: int) -> list[int]:
    return [(await gateway.next_event("listening"))["pid"] for _ in range(count)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    with contextlib.suppress(FileNotFoundError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return False


async def wait_gone(pid: int) -> None:
    for _ in range(600):
        if not alive(pid):
            return
        await asyncio.sleep(0.05)
    os.kill(pid, signal.SIGKILL)  # so that its open stdout does not hold the test up
    pytest.fail(f"worker {pid} is still running")


async def test_workers_reload_on_hup_and_a_dead_worker_is_replaced(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(DEFAULT_YAML.read_text(encoding="utf-8"), encoding="utf-8")
    async with running_gateway(config, "--workers", "2") as gateway:
        first = await worker_pids(gateway, 2)
        gateway.process.send_signal(signal.SIGHUP)
        await gateway.next_event("config_reloaded")
        await gateway.next_event("config_reloaded")
        os.kill(first[0], signal.SIGKILL)
        exited = await gateway.next_event("worker_exited")
        assert exited["pid"] == first[0]
        assert exited["exit_code"] == -signal.SIGKILL
        replacement = await worker_pids(gateway, 1)
        assert replacement[0] not in first
        await wait_until_healthy(gateway.port)
        gateway.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(gateway.process.wait(), 30) == 0
        for pid in (first[1], replacement[0]):
            await wait_gone(pid)


async def test_workers_stop_when_the_parent_is_killed(tmp_path: Path) -> None:
    async with running_gateway(DEFAULT_YAML, "--workers", "2") as gateway:
        pids = await worker_pids(gateway, 2)
        gateway.process.kill()  # no chance to pass anything on
        # (asyncio's wait() would also wait for the workers to close the shared stdout.)
        for pid in pids:
            await wait_gone(pid)
        # Each worker drained and wrote its last lines on the way out.
        stopped = [line for line in await gateway.rest() if line["event"] == "stopped"]
        assert len(stopped) == 2

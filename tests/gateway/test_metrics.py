"""Prometheus metrics of real gateway processes, scraped from their own listener."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.__main__ import main
from tests.gateway.conftest import DEFAULT_YAML, gateway_env, make_token
from tests.gateway.scrape import scrape_until, value
from tests.gateway.test_cli import free_port, wait_until_healthy
from tests.gateway.test_signals import running_gateway


async def get(session: aiohttp.ClientSession, url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.get(url, headers=headers) as response:
        await response.read()
        return response.status


async def test_requests_auth_outcomes_cache_and_verification_are_counted(
    upstream: TestServer,
) -> None:
    metrics_port = free_port()
    backend = str(upstream.make_url("")).rstrip("/")
    async with running_gateway(
        DEFAULT_YAML, BACKEND_URL=backend, GATEWAY_METRICS_PORT=str(metrics_port)
    ) as gateway:
        await gateway.next_event("listening")
        await wait_until_healthy(gateway.port)
        token = make_token("alice")
        async with aiohttp.ClientSession() as session:
            assert await get(session, gateway.url("/api/alice/tasks"), token) == 200
            assert await get(session, gateway.url("/api/alice/tasks"), token) == 200
            assert await get(session, gateway.url("/api/alice/tasks")) == 401
            expired = make_token("alice", ttl=-120)
            assert await get(session, gateway.url("/api/alice/tasks"), expired) == 401
            assert await get(session, gateway.url("/nowhere")) == 404
            # Never on the public port.
            assert await get(session, gateway.url("/metrics")) == 404
        samples = await scrape_until(metrics_port, "gateway_token_cache_hits_total", 1)
    tasks = {"route": "tasks", "method": "GET"}
    assert value(samples, "gateway_requests_total", **tasks, status_class="2xx", auth="ok") == 2
    for reason in ("missing_token", "expired"):
        labels = {**tasks, "status_class": "4xx", "auth": reason}
        assert value(samples, "gateway_requests_total", **labels) == 1
    assert value(samples, "gateway_token_cache_misses_total") == 2  # alice's, then the expired
    assert value(samples, "gateway_token_cache_hits_total") == 1
    assert value(samples, "gateway_token_cache_entries") == 1
    assert (
        value(samples, "gateway_token_verification_duration_seconds_count", algorithm="HS256") == 2
    )
    assert value(samples, "gateway_request_duration_seconds_count", route="tasks") == 4
    assert value(samples, "gateway_upstream_duration_seconds_count", route="tasks") == 2
    assert value(samples, "gateway_config_reloads_total", result="ok") == 0
    # Bounded labels: no user id, token or raw path anywhere in a label.
    label_values = {v for _, labels in samples for _, v in labels}
    assert not {"alice", "/nowhere", "/api/alice/tasks", token} & label_values


async def test_workers_are_summed_in_one_scrape() -> None:
    metrics_port = free_port()
    async with running_gateway(
        DEFAULT_YAML, "--workers", "2", GATEWAY_METRICS_PORT=str(metrics_port)
    ) as gateway:
        for _ in range(2):
            await gateway.next_event("listening")
        await wait_until_healthy(gateway.port)
        sent = 40
        for _ in range(sent):  # a new connection each time: the kernel spreads them
            async with (
                aiohttp.ClientSession() as session,
                session.get(gateway.url("/readyz")) as response,
            ):
                assert response.status == 503  # no backend behind this gateway
        readyz = {"route": "readyz", "method": "GET", "status_class": "5xx", "auth": "none"}
        # Workers pass their numbers on once a second.
        samples = await scrape_until(metrics_port, "gateway_requests_total", sent, **readyz)
    # Both workers answered some (40 connections spread by SO_REUSEPORT); one scrape has all.
    assert value(samples, "gateway_requests_total", **readyz) == sent


def test_check_names_a_bad_metrics_port(capsys: pytest.CaptureFixture[str]) -> None:
    for port, problem in (("abc", "expected a port number"), ("8080", "must differ")):
        env = gateway_env(GATEWAY_METRICS_PORT=port, GATEWAY_PORT="8080")
        assert main(["--config", str(DEFAULT_YAML), "--check", "--env-file", ""], env) == 1
        assert f"GATEWAY_METRICS_PORT: {problem}" in capsys.readouterr().err
    assert main(["--config", str(DEFAULT_YAML), "--check", "--env-file", ""], gateway_env()) == 0

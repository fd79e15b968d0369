"""The gateway's access line on a real process: client behind a trusted proxy, bytes, user
agent, and a query string whose sensitive values are redacted."""

from __future__ import annotations

import signal

import aiohttp
from aiohttp.test_utils import TestServer

from tests.gateway.conftest import DEFAULT_YAML, make_token
from tests.gateway.test_cli import wait_until_healthy
from tests.gateway.test_signals import running_gateway


async def test_gateway_line_has_client_bytes_agent_and_a_redacted_query(
    upstream: TestServer,
) -> None:
    backend = str(upstream.make_url("")).rstrip("/")
    async with running_gateway(
        DEFAULT_YAML, BACKEND_URL=backend, GATEWAY_TRUSTED_PROXIES="127.0.0.1/32"
    ) as gateway:
        await gateway.next_event("listening")
        await wait_until_healthy(gateway.port)
        headers = {
            "Authorization": f"Bearer {make_token('alice')}",
            "User-Agent": "probe/" + "x" * 1000,
            # The peer (127.0.0.1) is a trusted proxy: the client is the address before it.
            "X-Forwarded-For": "198.51.100.9, 203.0.113.7",
        }
        url = gateway.url("/api/alice/tasks?status=all&access_token=hunter2-value")
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=b"x" * 100, headers=headers) as response,
        ):
            body = await response.read()
            assert response.status == 200
        gateway.process.send_signal(signal.SIGTERM)
        lines = await gateway.rest()
    line = next(item for item in lines if item.get("path") == "/api/alice/tasks")
    assert line["service"] == "gateway"
    assert line["client"] == "203.0.113.7"
    assert (line["bytes_in"], line["bytes_out"]) == (100, len(body))
    assert line["user_agent"] == ("probe/" + "x" * 1000)[:256]
    assert line["query"] == "status=all&access_token=[redacted]"
    assert "hunter2" not in str(lines)

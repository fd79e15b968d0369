"""Two real gateway processes in front of one backend share one limit through the machine's
Redis (127.0.0.1:6379, a key prefix of this test's own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from aiohttp import ClientSession

from tests.gateway.ratelimit.redis_server import MACHINE_REDIS, key_prefix
from tests.integration.keys import SecretIssuer
from tests.integration.processes import ROOT, Service, Stack, free_port

BURST = 4


@pytest.fixture
def two_gateways(tmp_path: Path) -> Iterator[tuple[Stack, Service, SecretIssuer]]:
    config = yaml.safe_load((ROOT / "gateway.yaml").read_text(encoding="utf-8"))
    config["rate_limits"] = {"per_user": 1, "burst": BURST, "key_prefix": key_prefix()}
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    issuer = SecretIssuer()
    stack = Stack(
        tmp_path,
        database_url=f"sqlite:///{tmp_path / 'todo.db'}",
        auth_env={**issuer.env, "REDIS_URL": MACHINE_REDIS},
    )
    stack.gateway.args = ["-m", "gateway", "--config", str(config_path)]
    second = Service("gateway-2", stack.gateway.args, stack.gateway.env, tmp_path / "gw2.log")
    port = free_port()
    second.env["GATEWAY_PORT"] = str(port)
    try:
        stack.start()
        second.env["BACKEND_URL"] = stack.backend_url
        second.start(f"http://127.0.0.1:{port}/readyz")
        yield stack, second, issuer
    finally:
        second.stop()
        stack.stop()


async def test_two_gateways_share_one_limit(
    two_gateways: tuple[Stack, Service, SecretIssuer],
) -> None:
    stack, second, issuer = two_gateways
    urls = [stack.gateway_url, f"http://127.0.0.1:{second.env['GATEWAY_PORT']}"]
    headers = {"Authorization": f"Bearer {issuer.token('alice')}"}
    statuses = []
    async with ClientSession() as http:
        for index in range(3 * BURST):
            url = f"{urls[index % 2]}/api/alice/tasks"
            async with http.get(url, headers=headers) as response:
                await response.read()
                statuses.append(response.status)
    # Alone, each gateway would have admitted BURST: together they admit BURST in all.
    assert statuses == [200] * BURST + [429] * (2 * BURST)

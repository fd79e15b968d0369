"""The gateway has no router of its own: every request target reaches the policy and gets the
contract's JSON answer, even those aiohttp's router would have refused in plain text."""

from __future__ import annotations

import orjson
import pytest

from tests.gateway.conftest import Stack, raw_request


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("*", 400),
        ("http://example.com/api/alice/tasks", 400),
        ("/no/such/route", 404),
        ("/", 404),
    ],
)
async def test_every_target_gets_a_json_answer(stack: Stack, target: str, status: int) -> None:
    head = f"OPTIONS {target} HTTP/1.1\nHost: gateway\nConnection: close\n\n"
    got, body = await raw_request(stack.client, head)
    assert got == status
    answer = orjson.loads(body)
    assert set(answer) == {"error", "message", "request_id"}
    assert stack.recorder.seen == []

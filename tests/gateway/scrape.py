"""Scraping a gateway's /metrics listener in tests."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int) -> Samples:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape_until(port: int, name: str, minimum: float, **labels: str) -> Samples:
    """Levels are sampled once a second: scrape until `name` reaches `minimum`."""
    for _ in range(100):
        samples = await scrape(port)
        if value(samples, name, **labels) >= minimum:
            return samples
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name}{labels} never reached {minimum}")

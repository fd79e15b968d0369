"""The backend's Prometheus metrics, scraped from a real `python -m backend` process."""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.backend.conftest import SECRET, identity_headers
from tests.backend.test_main import _free_port, _get, base_env, start_backend


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_requests_and_signature_refusals_are_counted_by_route_and_reason(
    tmp_path: Path,
) -> None:
    metrics_port = _free_port()
    env = base_env(tmp_path) | {"BACKEND_METRICS_PORT": str(metrics_port)}
    process, base = start_backend(env, tmp_path)
    try:
        signed = identity_headers("GET", "/api/alice/tasks", "alice")
        assert _get(base + "/api/alice/tasks", signed)[0] == 200
        assert _get(base + "/api/alice/tasks", {})[0] == 401
        forged = identity_headers("GET", "/api/alice/tasks", "alice", secret=b"x" * 32)
        assert _get(base + "/api/alice/tasks", forged)[0] == 401
        assert _get(base + "/api/bob/tasks/1", signed)[0] == 401  # signed for another path
        assert _get(base + "/metrics", {})[0] in (401, 404)  # never on the public port
        samples = scrape(metrics_port)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, frozenset(labels.items())), 0.0)

    tasks = "/api/{user_id}/tasks"
    assert value("backend_requests_total", route=tasks, status="200") == 1
    assert value("backend_requests_total", route=tasks, status="401") == 2
    assert value("backend_request_duration_seconds_count", route=tasks) == 3
    assert value("backend_signature_refusals_total", reason="missing_identity") == 2  # + /metrics
    refusals = "backend_signature_refusals_total"
    assert sum(v for (name, _), v in samples.items() if name == refusals) == 4
    labels = {v for (_, pairs) in samples for _, v in pairs}
    assert "alice" not in labels
    assert SECRET.decode() not in labels

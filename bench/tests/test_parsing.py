"""The harness reads numbers out of wrk and py-spy text: pin that reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import profile, wrk
from bench.measure import TokenCycle

WRK_REPORT = """\
Running 10s test @ http://127.0.0.1:8080/api/alice/tasks
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.53ms    2.10ms  40.12ms   91.00%
    Req/Sec     3.77k   210.00     4.10k    70.00%
  Latency Distribution
     50%  812.00us
     75%    9.10ms
     90%   10.20ms
     99%    1.20s
  37700 requests in 10.01s, 7.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   3766.23
Transfer/sec:    726.00KB
tokens_next=37732 tokens_wrapped=1
"""


def test_wrk_report_numbers_and_units() -> None:
    result = wrk.parse(WRK_REPORT)
    assert result.requests == 37700
    assert result.seconds == pytest.approx(10.01)
    assert result.p50_ms == pytest.approx(0.812)
    assert result.p99_ms == pytest.approx(1200.0)
    assert result.socket_errors == 3
    assert result.bad_status == 5
    assert result.script_values == {"tokens_next": 37732, "tokens_wrapped": 1}
    assert result.rps == pytest.approx(37700 / 10.01)


def test_wrk_report_without_latency_is_refused() -> None:
    with pytest.raises(ValueError, match="wrk --latency"):
        wrk.parse("  100 requests in 1.00s, 1KB read\n")


def test_wrk_command_line_rounds_duration_up_and_hides_header_values() -> None:
    spec = wrk.WrkRun("http://127.0.0.1:1/x", 2.2, headers={"Authorization": "Bearer abc"})
    argv = spec.argv("0")
    assert "-d3s" in argv
    assert "Bearer abc" not in wrk._loggable(argv)
    assert "Authorization: [redacted]" in wrk._loggable(argv)


def test_token_cycle_counts_what_was_sent_across_a_wrap() -> None:
    cycle = TokenCycle(Path("tokens.txt"), count=100, next_index=90)
    cycle.advance(wrk.parse(WRK_REPORT.replace("tokens_next=37732", "tokens_next=20")))
    assert cycle.sent == 30
    assert cycle.next_index == 20
    assert cycle.wrapped


def test_profile_fold_self_inclusive_and_layers() -> None:
    folded = [
        "main (gateway/serve.py);forward (gateway/proxy.py);_request (aiohttp/client.py) 6",
        "main (gateway/serve.py);verify (gateway/auth/verifier.py) 3",
        "main (gateway/serve.py);decode (jwt/api_jws.py) 1",
        "garbage line",
    ]
    found = profile.fold("x", folded)
    assert found.samples == 10
    name, share = found.self_top[0]
    assert name == "_request (aiohttp/client)"
    assert share == pytest.approx(60.0)
    assert dict(found.inclusive_top)["main (gateway/serve)"] == pytest.approx(100.0)
    layers = dict(found.layers)
    assert layers["aiohttp client"] == pytest.approx(60.0)
    assert layers["gateway"] == pytest.approx(30.0)
    assert layers["PyJWT / cryptography"] == pytest.approx(10.0)

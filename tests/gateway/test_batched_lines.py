"""The gateway's log output: info lines in batches while the loop runs, never lost, in order."""

from __future__ import annotations

import asyncio
import io

from gateway.logs import BatchedLines


def lines(stream: io.BytesIO) -> list[bytes]:
    return stream.getvalue().splitlines()


def test_outside_a_loop_every_line_is_written_at_once() -> None:
    stream = io.BytesIO()
    output = BatchedLines(stream)
    output.info(b"one")
    assert lines(stream) == [b"one"]


async def test_in_the_loop_info_lines_wait_at_most_the_delay() -> None:
    stream = io.BytesIO()
    output = BatchedLines(stream, max_delay=0.05)
    output.info(b"one")
    output.msg(b"two")
    assert lines(stream) == []
    await asyncio.sleep(0.2)
    assert lines(stream) == [b"one", b"two"]
    output.info(b"three")  # a new batch, with its own deadline
    await asyncio.sleep(0.2)
    assert lines(stream) == [b"one", b"two", b"three"]


async def test_a_full_batch_is_written_without_waiting() -> None:
    stream = io.BytesIO()
    output = BatchedLines(stream, max_bytes=10, max_delay=60)
    output.info(b"1234")
    assert lines(stream) == []
    output.info(b"5678")  # 10 bytes with the line ends
    assert lines(stream) == [b"1234", b"5678"]


async def test_a_warning_goes_at_once_after_what_is_pending() -> None:
    stream = io.BytesIO()
    output = BatchedLines(stream, max_delay=60)
    output.info(b"request")
    output.error(b"unhandled_error")
    assert lines(stream) == [b"request", b"unhandled_error"]
    output.warning(b"draining")
    assert lines(stream)[-1] == b"draining"


async def test_flush_writes_what_is_pending() -> None:
    stream = io.BytesIO()
    output = BatchedLines(stream, max_delay=60)
    output.info(b"last")
    output.flush()
    assert lines(stream) == [b"last"]
    output.flush()  # nothing pending: nothing more
    assert lines(stream) == [b"last"]

"""The gateway's log output: info lines in batches while the loop runs, never lost, in order."""

from __future__ import annotations

import asyncio
import io
import os
import select
import subprocess
import sys
import time
from typing import Any

import orjson

from service_plumbing.log_output import BatchedLines


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


class RecordedWrites(io.BytesIO):
    def __init__(self, *, failures: int = 0) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.failures = failures

    def write(self, data: Any) -> int:
        if self.failures:
            self.failures -= 1
            raise BrokenPipeError
        self.writes.append(bytes(data))
        return super().write(data)


async def test_each_write_is_whole_lines_of_at_most_pipe_buf_bytes() -> None:
    stream = RecordedWrites()
    output = BatchedLines(stream, max_delay=60)
    sent = [b"%04d" % i + b"x" * 295 for i in range(100)]
    for line in sent:
        output.info(line)
    output.info(b"y" * (select.PIPE_BUF + 10))  # longer than one atomic write: goes alone
    output.flush()
    assert lines(stream) == [*sent, b"y" * (select.PIPE_BUF + 10)]
    assert len(stream.writes) > 1
    for write in stream.writes[:-1]:
        assert len(write) <= select.PIPE_BUF
        assert write.endswith(b"\n")
    assert stream.writes[-1] == b"y" * (select.PIPE_BUF + 10) + b"\n"


def test_workers_sharing_one_pipe_never_interleave_lines() -> None:
    """Two processes (as `--workers 2` under Docker) batching into one pipe."""
    writer = (
        "import asyncio, sys\n"
        "from service_plumbing.log_output import BatchedLines\n"
        "out = BatchedLines(sys.stdout.buffer, max_delay=0.01)\n"
        "async def main():\n"
        "    for i in range(3000):\n"
        '        out.info(b\'{"worker": %s, "n": %d, "pad": "\' % (sys.argv[1].encode(), i)'
        " + b'p' * 250 + b'\"}')\n"
        "        if i % 100 == 0:\n"
        "            await asyncio.sleep(0)\n"
        "    out.flush()\n"
        "asyncio.run(main())\n"
    )
    read_end, write_end = os.pipe()
    children = [
        subprocess.Popen([sys.executable, "-c", writer, str(n)], stdout=write_end) for n in (1, 2)
    ]
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        received = []
        for raw in pipe:
            received.append(orjson.loads(raw))
            time.sleep(0.00001 if len(received) % 500 else 0.01)  # a slow reader
    assert [child.wait(30) for child in children] == [0, 0]
    for worker in (1, 2):
        assert [line["n"] for line in received if line["worker"] == worker] == list(range(3000))


def test_lines_after_the_loop_has_closed_are_written_at_once() -> None:
    stream = io.BytesIO()
    output = BatchedLines(stream, max_delay=60)

    async def serve() -> None:
        output.info(b"in the loop")

    asyncio.run(serve())
    output.info(b"after it")
    assert lines(stream) == [b"in the loop", b"after it"]


async def test_a_failed_write_keeps_its_lines_and_raises_nothing() -> None:
    stream = RecordedWrites(failures=1)
    output = BatchedLines(stream, max_delay=60)
    output.info(b"one")
    output.error(b"two")  # written at once: this write fails
    assert lines(stream) == []
    output.flush()
    assert lines(stream) == [b"one", b"two"]

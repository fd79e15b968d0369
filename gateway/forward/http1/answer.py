"""An upstream's answer as the gateway reads it: status, headers, then the body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from multidict import CIMultiDict

if TYPE_CHECKING:
    from gateway.forward.http1.connection import ConnectionOwner, UpstreamConnection


class UpstreamResponse:
    """An answer whose head has arrived; the body is read with `read()` or `iter_chunks()`.
    Always `release()` it: the connection goes back to the pool only if the answer ended
    cleanly and the upstream allows keep-alive."""

    def __init__(self, pool: ConnectionOwner, connection: UpstreamConnection) -> None:
        self._pool = pool
        self._connection = connection
        self._released = False
        self.status = connection.status
        self.reason = connection.reason.decode("utf-8", "surrogateescape")
        self.headers: CIMultiDict[str] = CIMultiDict(
            [
                (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
                for name, value in connection.raw_headers
            ]
        )
        length = self.headers.get("Content-Length")
        # llhttp has checked it is one plain decimal number.
        self.content_length = None if length is None else int(length)

    async def read(self) -> bytes:
        connection = self._connection
        parts = []
        while not connection.complete:
            parts.append(connection.take())
            await connection.wait(self._pool.read_timeout)
        parts.append(connection.take())
        return b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            if connection.chunks:
                yield connection.take()
            elif connection.complete:
                return
            else:
                await connection.wait(self._pool.read_timeout)

    def release(self) -> None:
        """Give the connection back (once: a second call does nothing, so one connection can
        never be pooled, or handed to a waiting request, twice)."""
        if not self._released:
            self._released = True
            self._pool.release(self._connection)

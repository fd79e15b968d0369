"""One connection limit across every upstream pool, and the line of requests waiting for it."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.forward.http1.connection import ConnectionOwner, UpstreamConnection


class PoolExhausted(Exception):
    """No upstream connection came free within the pool's waiting time."""


# A request waiting for a connection of `pool`: given a slot (None) or a connection.
_Waiter = tuple["ConnectionOwner", "asyncio.Future[UpstreamConnection | None]"]


class Limiter:
    """Open connections across every pool of one client, at most `limit`. A request that finds
    none free waits in line; it is then given a slot to connect with or, when a connection of
    its own pool comes back reusable, that connection: kept alive, not closed and reopened."""

    def __init__(self, limit: int, evict_idle: Callable[[], object], wait: float) -> None:
        self.limit = limit
        self.wait = wait
        self.open = 0
        self.waiters: collections.deque[_Waiter] = collections.deque()
        self._evict_idle = evict_idle

    async def acquire(self, pool: ConnectionOwner) -> UpstreamConnection | None:
        """None: a slot is ours, to connect with. Else an open connection of `pool`."""
        if self.open < self.limit and not self.waiters:
            self.open += 1
            return None
        # The slots may all be idle connections to other upstreams: close one for us.
        self._evict_idle()
        waiter: asyncio.Future[UpstreamConnection | None] = (
            asyncio.get_running_loop().create_future()
        )
        entry = (pool, waiter)
        self.waiters.append(entry)
        try:
            async with asyncio.timeout(self.wait):
                return await waiter  # given by release() or hand_over()
        except TimeoutError:
            self._give_back(pool, waiter, entry)
            raise PoolExhausted from None
        except asyncio.CancelledError:
            self._give_back(pool, waiter, entry)
            raise

    def _give_back(
        self,
        pool: ConnectionOwner,
        waiter: asyncio.Future[UpstreamConnection | None],
        entry: _Waiter,
    ) -> None:
        """A request gave up waiting: pass on what it was given just then, or leave the line."""
        if waiter.done() and not waiter.cancelled():
            given = waiter.result()  # it came just as we gave up: pass it on
            if given is None:
                self.release()
            else:
                pool.release(given)
        else:
            # Popped already if release() or hand_over() ran between the cancel and now.
            with contextlib.suppress(ValueError):
                self.waiters.remove(entry)

    def hand_over(self, pool: ConnectionOwner, connection: UpstreamConnection) -> bool:
        """Give a reusable connection to the first in line, if it waits on the same pool."""
        while self.waiters:
            waiting_pool, waiter = self.waiters[0]
            if waiter.done():
                self.waiters.popleft()
            elif waiting_pool is not pool:
                return False
            else:
                self.waiters.popleft()
                waiter.set_result(connection)
                return True
        return False

    def release(self) -> None:
        while self.waiters:
            _, waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.open -= 1

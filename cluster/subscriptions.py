"""Bounded queues of routed actions for the streams that follow agents and routing events."""

from __future__ import annotations

import asyncio
from collections import deque


class Subscription:
    """A bounded queue of `Routed` items for one stream.

    Invariant: at most `limit` items wait; one more fails the subscription (it is emptied
    and `stopped` is set) rather than growing, and the stream ends with RESOURCE_EXHAUSTED.
    """

    def __init__(self, limit: int, accepts=None):
        self.limit = limit
        self.accepts = accepts            # predicate on Routed; None: everything
        self.agent_key = None             # (site, agent id) of an agent stream
        self.overflowed = False
        self.closed = False
        self._items: deque = deque()
        self._ready = asyncio.Event()
        self.stopped = asyncio.Event()    # overflowed or closed: the stream must end

    def push(self, item) -> None:
        if self.overflowed or self.closed:
            return
        if len(self._items) >= self.limit:
            self.overflowed = True
            self._items.clear()
            self.stopped.set()
            self._ready.set()
            return
        self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self.stopped.set()
        self._ready.set()

    def drain(self) -> list:
        """Every waiting item, without waiting (in-process consumers such as tests)."""
        items = list(self._items)
        self._items.clear()
        return items

    async def next_batch(self) -> list:
        """Every waiting item (at least one), or [] once overflowed or closed."""
        while not self._items and not self.stopped.is_set():
            self._ready.clear()
            await self._ready.wait()
        if self.stopped.is_set():
            return []
        items = list(self._items)
        self._items.clear()
        return items

"""A campaign's list of records to dial, in order: record ids only.

Phone numbers stay with the host (the PBX link, the simulator's world): no number reaches
the core, its journal or its snapshots (as for inbound callers, sites/events.py). Records
to try again (retries, SPEC §6) come back when they are due, before fresh ones; call windows
and do-not-call lists will decide here too.
"""

from __future__ import annotations

import heapq
import math

from sites.errors import InvalidInput


class CallList:
    """Records `ids` (a sequence of strings), first to last, and the records to try again
    (`retry`), each when it is due."""
    __slots__ = ("ids", "_next", "_retries", "_order")

    def __init__(self, ids):
        self.ids = ids
        self._next = 0
        self._retries: list = []        # heap of (due, order, record)
        self._order = 0

    @classmethod
    def numbered(cls, name: str, size: int) -> "CallList":
        """`size` records NAME-0 .. NAME-(size-1), made as they are dialled."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInput("list.size", f"must be an integer >= 0; got {size!r}")
        return cls(_Numbered(name, size))

    def take(self, now: float = math.inf) -> str | None:
        """The next record to dial at `now`: a retry that is due, else the next fresh one
        (None: nothing now)."""
        if self._retries and self._retries[0][0] <= now:
            return heapq.heappop(self._retries)[2]
        if self._next >= len(self.ids):
            return None
        record = self.ids[self._next]
        self._next += 1
        return record

    def retry(self, record: str, due: float) -> None:
        """Try `record` again from `due` on (in the order they were asked, at one time)."""
        heapq.heappush(self._retries, (due, self._order, record))
        self._order += 1

    def next_due(self) -> float | None:
        """When the first waiting retry is due (None: none waits)."""
        return self._retries[0][0] if self._retries else None

    @property
    def remaining(self) -> int:
        """Records still to dial: fresh ones and retries waiting."""
        return len(self.ids) - self._next + len(self._retries)

    @property
    def dialled(self) -> int:
        return self._next


class _Numbered:
    """A sequence of NAME-i without holding them all."""
    __slots__ = ("name", "size")

    def __init__(self, name: str, size: int):
        self.name, self.size = name, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return f"{self.name}-{index}"

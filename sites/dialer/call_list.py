"""A campaign's list of records to dial, in order: record ids only.

Phone numbers stay with the host (the PBX link, the simulator's world): no number reaches
the core, its journal or its snapshots (as for inbound callers, sites/events.py). Retries,
call windows and do-not-call lists (SPEC §6) will decide here which record comes next.
"""

from __future__ import annotations

from sites.errors import InvalidInput


class CallList:
    """Records `ids` (a sequence of strings), each dialled once, first to last."""
    __slots__ = ("ids", "_next")

    def __init__(self, ids):
        self.ids = ids
        self._next = 0

    @classmethod
    def numbered(cls, name: str, size: int) -> "CallList":
        """`size` records NAME-0 .. NAME-(size-1), made as they are dialled."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInput("list.size", f"must be an integer >= 0; got {size!r}")
        return cls(_Numbered(name, size))

    def take(self) -> str | None:
        """The next record to dial (None: the list is done)."""
        if self._next >= len(self.ids):
            return None
        record = self.ids[self._next]
        self._next += 1
        return record

    @property
    def remaining(self) -> int:
        return len(self.ids) - self._next

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

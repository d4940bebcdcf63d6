"""A mapping that keeps only its most recent entries: what a long-running router remembers
of finished contacts (issue 16: memory must stay flat however many contacts go through).

Bounded by count, not by age, so that the same events always leave the same entries
(deterministic core). Finished contacts are remembered to refuse a re-used contact id and
to tell a PBX that re-sends an event the final state again; both happen within seconds of
the end (a reconnect, a failover), far inside the last `limit` contacts of a site.
"""

from __future__ import annotations

from collections import deque

FINISHED_KEPT = 100_000     # final states remembered per site (and per router)


class RecentMap:
    """dict-like; setting a key that is not there forgets the oldest key past `limit`."""
    __slots__ = ("limit", "_map", "_order", "_forgotten")

    def __init__(self, limit: int = FINISHED_KEPT, items=()):
        self.limit = limit
        self._map: dict = {}
        # Invariant: every key of _map is in _order once, oldest first; _order may also hold
        # keys deleted since (skipped when they come up).
        self._order: deque = deque()
        self._forgotten = 0
        for key, value in items:
            self[key] = value

    def __setitem__(self, key, value) -> None:
        if key not in self._map:
            self._order.append(key)
            while len(self._map) >= self.limit:
                self._map.pop(self._order.popleft(), None)
                self._forgotten += 1
            if self._forgotten >= self.limit:
                # A dict that keeps losing its oldest keys keeps their slots as dummies and
                # grows its table; a copy every `limit` forgotten keys keeps it compact
                # (O(1) per key on average).
                self._map = dict(self._map)
                self._forgotten = 0
        self._map[key] = value

    def __getitem__(self, key):
        return self._map[key]

    def __delitem__(self, key) -> None:
        del self._map[key]          # its place in _order goes when it comes up

    def pop(self, key, *default):
        return self._map.pop(key, *default)

    def get(self, key, default=None):
        return self._map.get(key, default)

    def __contains__(self, key) -> bool:
        return key in self._map

    def __len__(self) -> int:
        return len(self._map)

    def __iter__(self):
        return iter(self._map)

    def keys(self):
        return self._map.keys()

    def values(self):
        return self._map.values()

    def items(self):
        return self._map.items()

    def __eq__(self, other) -> bool:
        return dict(self._map) == (dict(other._map) if isinstance(other, RecentMap) else other)

    def __repr__(self) -> str:
        return f"RecentMap({len(self._map)} of at most {self.limit})"

"""A bounded LRU cache whose entries expire: the customer directory's in-process cache.

Bounded so that a flood of distinct callers cannot grow the gateway's memory; expiring so that
a profile changed in the store (an import, the CRM) shows within `ttl_s` without any
invalidation message between processes. Used from one thread (the event loop's), so it takes
no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

_MISSING = object()


class TtlLruCache:
    """At most `max_entries` entries, each forgotten `ttl_s` seconds after it was put.
    `max_entries=0` or `ttl_s=0`: caches nothing."""

    def __init__(self, max_entries: int, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 0 or ttl_s < 0:
            raise ValueError("max_entries and ttl_s must be >= 0")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        # Invariant: ordered from least to most recently used; values are (expiry, value).
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.ttl_s > 0

    def get(self, key: Hashable, default: Any = _MISSING) -> Any:
        """The value, or `default`; without one, a sentinel that `found()` tells apart (None
        is a value here: "nobody has this number"). An expired entry is dropped on the way."""
        entry = self._entries.get(key)
        if entry is None:
            return default
        expiry, value = entry
        if expiry <= self._clock():
            del self._entries[key]
            return default
        self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any, ttl_s: float | None = None) -> None:
        """Keep `value` for `ttl_s` (the cache's TTL when None), evicting the least recently
        used entry when full."""
        if not self.enabled:
            return
        self._entries[key] = (self._clock() + (self.ttl_s if ttl_s is None else ttl_s), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def found(value: Any) -> bool:
    """Whether a `get` without a default found something (None is a value: "nobody")."""
    return value is not _MISSING

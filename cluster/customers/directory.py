"""The customer directory the gateway asks, from its asyncio event loop: who is calling
(by ANI, by an account number collected in the IVR, by the customer id a CRM passes) and
which tier they get.

Never in the way of routing:
- the store is never read on the loop's thread: SQLite on the directory's own threads,
  PostgreSQL through asyncio connections (cluster/customers/readers.py says why);
- answers are cached in process (`TtlLruCache`: 100,000 entries for 60 s by default; callers
  nobody has, 10 s), so a repeat caller costs no query;
- a lookup that fails or takes longer than `timeout_s` (0.5 s) answers None, so the caller
  gets the default tier and routing goes on; the store is then left alone for `retry_after_s`
  (5 s; lookups answer None at once, from the cache when they can) so that a dead database
  does not pile up threads; one warning is logged per `warn_every_s` (60 s), saying how many
  lookups failed since the last one. No exception ever reaches the caller.

Numbers and account numbers are never logged in clear (cluster/masking.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine

from cluster.customers.cache import TtlLruCache, found
from cluster.customers.phones import ani_key
from cluster.customers.readers import open_reader
from cluster.customers.store import Profile
from cluster.masking import mask_for_logs, mask_phone_number

log = logging.getLogger("vcc.customers")

DEFAULT_TIER = "standard"
CACHE_ENTRIES = 100_000          # ~100 MB at most for profiles of a few hundred bytes
CACHE_TTL_S = 60.0
UNKNOWN_TTL_S = 10.0             # a new customer imported is found within this
LOOKUP_THREADS = 4              # and PostgreSQL connections
TIMEOUT_S = 0.5
RETRY_AFTER_S = 5.0
WARN_EVERY_S = 60.0
MAX_KEY = 128                    # a longer key is found by nobody (and never reaches SQL)


def open_directory(engine: Engine, *, threads: int = LOOKUP_THREADS,
                   **options) -> CustomerDirectory:
    """A directory on the store at `engine` (options: those of CustomerDirectory)."""
    return CustomerDirectory(open_reader(engine, threads), **options)


class CustomerDirectory:
    """Async profile lookups through a reader (cluster/customers/readers.py: anything with
    `async read(kind, key) -> Profile | None` and `async close()`).

    `await by_ani(ani)` / `by_account(number)` / `by_customer_id(id)` -> Profile or None
    (nobody, or the store could not answer); `tier_of(profile)` is the tier to route with.
    """

    def __init__(self, reader, *, default_tier: str = DEFAULT_TIER,
                 region: str | None = None, cache_entries: int = CACHE_ENTRIES,
                 cache_ttl_s: float = CACHE_TTL_S, unknown_ttl_s: float = UNKNOWN_TTL_S,
                 timeout_s: float = TIMEOUT_S, retry_after_s: float = RETRY_AFTER_S,
                 warn_every_s: float = WARN_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.reader = reader
        self.default_tier = default_tier
        self.region = region
        self.cache = TtlLruCache(cache_entries, cache_ttl_s, clock)
        self.unknown_ttl_s = min(unknown_ttl_s, cache_ttl_s)
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.warn_every_s = warn_every_s
        self._clock = clock
        self._abandoned: set[asyncio.Task] = set()     # lookups past their timeout
        self._down_until = float("-inf")
        self._next_warning = float("-inf")
        self._failed_since_warning = 0
        self.failures = 0               # lookups answered None because of the store

    def tier_of(self, profile: Profile | None) -> str:
        """The tier to route with: the customer's, else the default (unknown caller, no
        tier, or the store did not answer)."""
        return profile.tier if profile is not None and profile.tier else self.default_tier

    async def by_ani(self, ani: str) -> Profile | None:
        """The customer whose number the caller's ANI is (any common format; a national
        number in the directory's `region`)."""
        key = ani_key(ani, self.region) if isinstance(ani, str) and len(ani) <= MAX_KEY else None
        if key is None:
            return None             # withheld, "anonymous", not a number: nobody has it
        return await self._lookup("ani", key)

    async def by_account(self, account_number: str) -> Profile | None:
        key = account_number.strip() if isinstance(account_number, str) else ""
        if not key or len(key) > MAX_KEY:
            return None
        return await self._lookup("account", key)

    async def by_customer_id(self, customer_id: str) -> Profile | None:
        if not isinstance(customer_id, str) or not customer_id or len(customer_id) > MAX_KEY:
            return None
        return await self._lookup("customer_id", customer_id)

    async def _lookup(self, kind: str, key: str) -> Profile | None:
        cached = self.cache.get((kind, key))
        if found(cached):
            return cached
        if self._clock() < self._down_until:
            self._failed(kind, key, None)
            return None
        try:
            profile = await self._read(kind, key)
        except asyncio.CancelledError:
            raise
        except Exception as error:      # down, slow, broken: the default tier, never an error
            self._down_until = self._clock() + self.retry_after_s
            self._failed(kind, key, error)
            return None
        self.cache.put((kind, key), profile, None if profile is not None else self.unknown_ttl_s)
        return profile

    async def _read(self, kind: str, key: str) -> Profile | None:
        """The reader's answer within `timeout_s`, else TimeoutError at once: a lookup past
        its time is abandoned, not waited for (`asyncio.wait_for` would wait for the
        cancelled read to finish, and a driver may take seconds to cancel a query)."""
        task = asyncio.ensure_future(self.reader.read(kind, key))
        try:
            done, _pending = await asyncio.wait((task,), timeout=self.timeout_s)
        except asyncio.CancelledError:
            self._abandon(task)
            raise
        if not done:
            self._abandon(task)
            raise TimeoutError
        return task.result()

    def _abandon(self, task: asyncio.Task) -> None:
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()            # retrieved: asyncio does not log it as lost

    def _failed(self, kind: str, key: str, error: Exception | None) -> None:
        self.failures += 1
        self._failed_since_warning += 1
        now = self._clock()
        if now < self._next_warning:
            return
        shown = mask_phone_number(key) if kind in ("ani", "account") else key
        cause = ("store not retried yet" if error is None else
                 "timed out" if isinstance(error, TimeoutError) else
                 f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}")
        log.warning("customer lookups failing, callers get the default tier %r: %d failed "
                    "since the last warning; this one by %s %s: %s",
                    self.default_tier, self._failed_since_warning, kind,
                    mask_for_logs(shown), mask_for_logs(cause))
        self._failed_since_warning = 0
        self._next_warning = now + self.warn_every_s

    async def close(self) -> None:
        """Close the reader (a lookup stuck in the database is not waited for)."""
        for task in list(self._abandoned):
            task.cancel()
        await self.reader.close()

"""Customer profiles read from the store, synchronously: the blocking half of the directory
(cluster/customers/directory.py runs these calls on its own threads, never on the event loop).

Each lookup is one query, one round trip: the customer found through the phone number, the
account number or the id, joined with all of the customer's phone numbers (one row each).
Each thread keeps one connection of its own in autocommit mode: no pool checkout, no
BEGIN/ROLLBACK round trips and no pre-ping per lookup, which on PostgreSQL would triple the
round trips of a sub-millisecond read. A connection that failed is dropped and the next lookup
on that thread connects anew.
"""

from __future__ import annotations

import dataclasses
import threading
import types
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cluster.store.models import Customer, CustomerAccount, CustomerPhone


@dataclasses.dataclass(frozen=True)
class Profile:
    """A customer as routing and the screen pop see it. Shared by the cache: immutable.
    `tier` None: the customer has none, the configured default applies
    (`CustomerDirectory.tier_of`)."""
    customer_id: str
    name: str
    tier: str | None
    email: str | None = None
    address: str | None = None
    attributes: Mapping = dataclasses.field(default_factory=lambda: types.MappingProxyType({}))
    phones: tuple[str, ...] = ()


_customers = Customer.__table__
_phones = CustomerPhone.__table__
_accounts = CustomerAccount.__table__
_all_phones = _phones.alias("all_phones")
_COLUMNS = (_customers.c.customer_id, _customers.c.name, _customers.c.tier, _customers.c.email,
            _customers.c.address, _customers.c.attributes, _all_phones.c.number)


def with_phones(source) -> sa.Select:
    """The profile columns of the customers in `source`, a row per phone number (one row
    with a NULL number for a customer without any), by number."""
    return (sa.select(*_COLUMNS).select_from(source)
            .outerjoin(_all_phones, _all_phones.c.customer_id == _customers.c.customer_id)
            .order_by(_all_phones.c.number))


_KEY = sa.bindparam("key")
BY_ANI = with_phones(_phones.join(_customers, _customers.c.customer_id == _phones.c.customer_id)
                      ).where(_phones.c.number == _KEY)
BY_ACCOUNT = with_phones(
    _accounts.join(_customers, _customers.c.customer_id == _accounts.c.customer_id)
).where(_accounts.c.account_number == _KEY)
BY_ID = with_phones(_customers).where(_customers.c.customer_id == _KEY)


def profile_from_rows(rows) -> Profile | None:
    """The profile in a lookup's rows (one per phone number), or None when there are none."""
    if not rows:
        return None
    first = rows[0]
    return Profile(customer_id=first.customer_id, name=first.name, tier=first.tier,
                   email=first.email, address=first.address,
                   attributes=types.MappingProxyType(dict(first.attributes or {})),
                   phones=tuple(row.number for row in rows if row.number is not None))


class CustomerStore:
    """Blocking profile lookups on `engine`, safe to call from many threads at once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[Connection] = set()     # every thread's connection, for close()

    def by_ani(self, e164: str) -> Profile | None:
        """The customer who has this (normalised) number, or None."""
        return self._lookup(BY_ANI, e164)

    def by_account(self, account_number: str) -> Profile | None:
        return self._lookup(BY_ACCOUNT, account_number)

    def by_customer_id(self, customer_id: str) -> Profile | None:
        return self._lookup(BY_ID, customer_id)

    def _lookup(self, statement: sa.Select, key: str) -> Profile | None:
        connection = self._connection()
        try:
            rows = connection.execute(statement, {"key": key}).all()
        except BaseException:
            self._drop(connection)      # a broken connection is not used again
            raise
        return profile_from_rows(rows)

    def _connection(self) -> Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._local.connection = connection
            with self._lock:
                self._open.add(connection)
        return connection

    def _drop(self, connection: Connection) -> None:
        self._local.connection = None
        with self._lock:
            self._open.discard(connection)
        try:
            connection.invalidate()
        except Exception:   # already gone with the server: nothing to release
            pass

    def close(self) -> None:
        """Close every thread's connection (call when no lookup runs any more)."""
        with self._lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            try:
                connection.close()
            except Exception:
                pass

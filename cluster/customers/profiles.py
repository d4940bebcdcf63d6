"""Customers read and written whole, for the Crm API (cluster/servicers/crm.py): a profile
with its account numbers, searches a page at a time, a customer put (the import's checks and
store step, cluster/customers/importer.py), notes.

Synchronous, like the rest of the store's code: the servicer calls these on a thread.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cluster.customers import history
from cluster.customers.importer import CustomerRow, ImportResult, store_customers
from cluster.customers.store import BY_ACCOUNT, BY_ANI, BY_ID, Profile, profile_from_rows, \
    with_phones
from cluster.store.models import Customer, CustomerAccount, CustomerNote, CustomerPhone

_customers = Customer.__table__
_phones = CustomerPhone.__table__
_accounts = CustomerAccount.__table__
_notes = CustomerNote.__table__

# A customer's key, by kind (the fields of the API's CustomerKey): the lookup of the
# profile, and the column that leads to the customer's id.
LOOKUPS = {"customer_id": BY_ID, "phone": BY_ANI, "account_number": BY_ACCOUNT}
_ID_COLUMNS = {"customer_id": (_customers.c.customer_id, _customers.c.customer_id),
               "phone": (_phones.c.number, _phones.c.customer_id),
               "account_number": (_accounts.c.account_number, _accounts.c.customer_id)}


@dataclasses.dataclass(frozen=True)
class CustomerRecord:
    """A customer whole: the profile routing sees, and the account numbers."""
    profile: Profile
    accounts: tuple[str, ...] = ()


def _accounts_of(connection, customer_ids) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for customer_id, number in connection.execute(
            sa.select(_accounts.c.customer_id, _accounts.c.account_number)
            .where(_accounts.c.customer_id.in_(customer_ids))
            .order_by(_accounts.c.account_number)):
        found.setdefault(customer_id, []).append(number)
    return {customer_id: tuple(numbers) for customer_id, numbers in found.items()}


def read_customer(engine: Engine, kind: str, key: str) -> CustomerRecord | None:
    """The customer whose `kind` (a key of LOOKUPS; a phone number in E.164) is `key`."""
    with engine.connect() as connection:
        profile = profile_from_rows(connection.execute(LOOKUPS[kind], {"key": key}).all())
        if profile is None:
            return None
        accounts = _accounts_of(connection, [profile.customer_id])
    return CustomerRecord(profile, accounts.get(profile.customer_id, ()))


@dataclasses.dataclass(frozen=True)
class CustomerQuery:
    """Customers matching every given field, by id; a page starts after
    `after_customer_id`. `name_prefix` ignores case (ASCII letters on SQLite)."""
    name_prefix: str | None = None
    tier: str | None = None
    phone: str | None = None            # E.164
    after_customer_id: str | None = None
    limit: int = 100


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def search_customers(engine: Engine, query: CustomerQuery) -> list[CustomerRecord]:
    """One page of the customers `query` matches, by id."""
    table = _customers
    page = sa.select(table.c.customer_id).order_by(table.c.customer_id).limit(query.limit)
    if query.name_prefix:
        page = page.where(sa.func.lower(table.c.name).like(
            sa.func.lower(sa.literal(_like_prefix(query.name_prefix))), escape="\\"))
    if query.tier:
        page = page.where(table.c.tier == query.tier)
    if query.phone:
        page = page.where(table.c.customer_id.in_(
            sa.select(_phones.c.customer_id).where(_phones.c.number == query.phone)))
    if query.after_customer_id:
        page = page.where(table.c.customer_id > query.after_customer_id)
    with engine.connect() as connection:
        ids = list(connection.execute(page).scalars())
        if not ids:
            return []
        rows: dict[str, list] = {customer_id: [] for customer_id in ids}
        for row in connection.execute(with_phones(table).where(table.c.customer_id.in_(ids))):
            rows[row.customer_id].append(row)
        accounts = _accounts_of(connection, ids)
    return [CustomerRecord(profile_from_rows(rows[customer_id]), accounts.get(customer_id, ()))
            for customer_id in ids if rows[customer_id]]


# PostgreSQL advisory locks of customer puts: (this class, a hash of the customer id).
_PUT_LOCK_CLASS = 0x76636301


def put_customer(engine: Engine, row: CustomerRow, problems) -> ImportResult:
    """Create the customer of a checked row, or replace it whole, in one transaction
    (importer.store_customers: `problems` hears of a number another customer has).

    Puts of one customer at once take turns: on PostgreSQL a transaction-scoped advisory
    lock on the id (two replacing the same phone rows at once would each insert them again,
    or deadlock); SQLite writes one transaction at a time anyway. Puts of two customers
    may both find one number free and the second insert then fail: that put runs again,
    once, and finds the number taken (a problem, not an error)."""
    try:
        return _put(engine, row, problems)
    except sa.exc.IntegrityError:
        return _put(engine, row, problems)


def _put(engine: Engine, row: CustomerRow, problems) -> ImportResult:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(
                _PUT_LOCK_CLASS, sa.func.hashtext(row.customer_id))))
        return store_customers(connection, [row], problems)


def customer_id_of(connection, kind: str, key: str) -> str | None:
    """The id of the customer whose `kind` is `key`, or None."""
    key_column, id_column = _ID_COLUMNS[kind]
    return connection.execute(sa.select(id_column).where(key_column == key)).scalar()


def add_note(engine: Engine, customer_id: str, time: float, text: str,
             author: str | None = None) -> bool:
    """Add a note to a customer's; False, and nothing written, when there is no such
    customer."""
    try:
        with engine.begin() as connection:
            if customer_id_of(connection, "customer_id", customer_id) is None:
                return False
            history.add_note(connection, customer_id, time, text, author)
    except sa.exc.IntegrityError:       # the customer went in between (the foreign key)
        return False
    return True


def notes_of(engine: Engine, kind: str, key: str, limit: int) -> list | None:
    """The customer's `limit` newest notes (rows of `customer_notes`), newest first; None
    when there is no such customer."""
    with engine.connect() as connection:
        customer_id = customer_id_of(connection, kind, key)
        if customer_id is None:
            return None
        return list(connection.execute(
            sa.select(_notes).where(_notes.c.customer_id == customer_id)
            .order_by(_notes.c.time.desc(), _notes.c.id.desc()).limit(limit)))

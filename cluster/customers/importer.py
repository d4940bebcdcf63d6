"""`vcc customers import` and `vcc marketing import-targets`: a CSV file into the store, all
or nothing.

1. Every row is read and checked (cluster/customers/csv_rows.py), and the rows against each
   other (an id, a phone number or an account number twice); problems stop the import.
2. In one transaction: the store's rows for the file's keys are read and compared; rows that
   conflict with the store (a number that belongs to a customer the file does not list; a
   target whose customer does not exist) stop it too, and it rolls back.
3. Only what differs is written: new rows inserted, changed ones updated (a changed customer's
   phone and account numbers replaced by the file's). Importing the same file again writes
   nothing. Rows of the store the file does not mention stay as they are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cluster.customers import csv_rows
from cluster.customers.csv_rows import Problems, read_rows
from cluster.masking import mask_phone_number
from cluster.store.models import Customer, CustomerAccount, CustomerPhone, MarketingTarget

CUSTOMER_COLUMNS = ("customer_id", "name", "email", "address", "tier", "phones", "accounts",
                    "attributes")
CUSTOMER_REQUIRED = ("customer_id", "name")
TARGET_COLUMNS = ("customer_id", "product", "phone", "list")
TARGET_REQUIRED = ("customer_id", "product")
CHUNK = 500                 # keys per IN (...) query: far below every database's limit

_customers = Customer.__table__
_phones = CustomerPhone.__table__
_accounts = CustomerAccount.__table__
_targets = MarketingTarget.__table__


@dataclasses.dataclass
class ImportResult:
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0


class Progress:
    """What an import reports as it goes (a progress bar; nothing by default)."""

    def read(self, nbytes: int) -> None: ...
    def writing(self, total: int) -> None: ...
    def wrote(self, count: int) -> None: ...


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _key_table(connection: Connection, name: str, keys: Iterable[str]) -> sa.Table | list:
    """A temporary table holding `keys`, to join the store's tables with: one query reads
    the rows of 100,000 keys, where IN (...) lists would take hundreds (and SQLAlchemy
    renders each list anew). Dropped by `_drop` on success; a rollback drops it otherwise
    (both databases make CREATE part of the transaction). A few keys (at most CHUNK: one
    customer put through the API, a small file) are kept as a list, for one IN (...): no
    table to create, fill and drop."""
    keys = sorted(set(keys))
    if len(keys) <= CHUNK:
        return keys
    table = sa.Table(name, sa.MetaData(), sa.Column("key", sa.String(128), primary_key=True),
                     prefixes=["TEMPORARY"])
    table.create(connection)
    _insert(connection, table, [(key,) for key in keys], Progress())
    return table


def _drop(connection: Connection, *tables: sa.Table | list) -> None:
    for table in tables:
        if isinstance(table, sa.Table):
            table.drop(connection)


def _select_joined(connection: Connection, columns, key_column, keys: sa.Table | list
                   ) -> list:
    if isinstance(keys, list):
        return connection.execute(sa.select(*columns).where(key_column.in_(keys))).all()
    return connection.execute(sa.select(*columns).join(keys, keys.c.key == key_column)).all()


def _insert(connection: Connection, table: sa.Table, rows: list[tuple],
            progress: Progress) -> None:
    """INSERT `rows` (values of all of `table`'s columns, in order) through the driver's
    executemany: SQLAlchemy's per-row parameter processing would take more time than the
    database (a few µs a row; 300,000 rows in an import of 100,000 customers)."""
    preparer = connection.dialect.identifier_preparer
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (f"INSERT INTO {preparer.format_table(table)} "
                 f"({', '.join(preparer.quote(column.name) for column in table.columns)}) "
                 f"VALUES ({', '.join([marker] * len(table.columns))})")
    for chunk in _chunks(rows, 10_000):
        connection.exec_driver_sql(statement, chunk)
        progress.wrote(len(chunk))


def _write(connection: Connection, statement, rows: list, progress: Progress) -> None:
    for chunk in _chunks(rows, 5_000):
        connection.execute(statement, chunk)
        progress.wrote(len(chunk))


# ---- customers ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CustomerRow:
    line: int
    customer_id: str
    name: str
    email: str | None
    address: str | None
    tier: str | None
    attributes: dict
    phones: tuple[str, ...]
    accounts: tuple[str, ...]

    def profile(self) -> tuple:
        return (self.name, self.email, self.address, self.tier, self.attributes)


# A customer row's fields and their checks, for a CSV file and the API alike (`region`: of
# numbers written without a country code). Phones and accounts: `;`-separated text or a
# list; attributes: JSON text or a mapping.
_CUSTOMER_CHECKS = (
    ("customer_id", lambda value, region: csv_rows.text(value, 128, required=True)),
    ("name", lambda value, region: csv_rows.text(value, 200, required=True)),
    ("email", lambda value, region: csv_rows.email(value)),
    ("address", lambda value, region: csv_rows.text(value, 500, lines=True) or None),
    ("tier", lambda value, region: csv_rows.tier(value)),
    ("attributes", lambda value, region: csv_rows.attributes(value)),
    ("phones", lambda value, region: csv_rows.phones(value, region)),
    ("accounts", lambda value, region: csv_rows.accounts(value)))


def _check_customer(line: int, fields: dict, problems, region: str | None
                    ) -> CustomerRow | None:
    values = {}
    for column, check in _CUSTOMER_CHECKS:
        try:
            values[column] = check(fields.get(column, ""), region)
        except csv_rows.ItemError as error:
            problems.add(line, column, error.problem, item=error.index)
        except ValueError as error:
            problems.add(line, column, str(error))
    if len(values) < len(_CUSTOMER_CHECKS):
        return None
    return CustomerRow(line=line, **values)


def checked_customers(items: Iterable[tuple[int, dict]], region: str | None,
                      problems) -> list[CustomerRow]:
    """Customer rows from (line, {column: value}) pairs, each field checked, and the rows
    against each other (an id, a phone or an account number twice). `problems`: a
    csv_rows.Problems, or anything with its `add(line, column, problem, item=None)` and
    `where(line)` (the API names `phones[i]` where a file names its line)."""
    rows: list[CustomerRow] = []
    first_line: dict[str, int] = {}
    owner_of_phone: dict[str, CustomerRow] = {}
    owner_of_account: dict[str, CustomerRow] = {}
    for line, fields in items:
        row = _check_customer(line, fields, problems, region)
        if row is None:
            continue
        if row.customer_id in first_line:
            problems.add(row.line, "customer_id", f"{row.customer_id!r} again (first on "
                                                  f"{problems.where(first_line[row.customer_id])})")
            continue
        first_line[row.customer_id] = row.line
        for column, numbers, owners in (("phones", row.phones, owner_of_phone),
                                        ("accounts", row.accounts, owner_of_account)):
            for number in numbers:
                other = owners.setdefault(number, row)
                if other is not row:
                    problems.add(row.line, column, f"{mask_phone_number(number)} is also on "
                                 f"{problems.where(other.line)} (customer "
                                 f"{other.customer_id!r}): a number belongs to one customer",
                                 item=number)
        rows.append(row)
    return rows


def _read_checked(path: str, display: str, region: str | None, progress: Progress,
                  columns: tuple[str, ...], required: tuple[str, ...], checked) -> list:
    """Every row of a CSV file, read and checked by `checked` (checked_customers or
    checked_targets); ImportRefused with the problems of the file, if any."""
    problems = Problems(display)
    rows = checked(((raw.line, raw.fields) for raw in read_rows(
        path, columns, required, problems, progress.read)), region, problems)
    problems.raise_any()
    return rows


def read_customers(path: str, display: str, region: str | None,
                   progress: Progress) -> list[CustomerRow]:
    """Every row of a customers CSV, checked alone and against each other (ImportRefused)."""
    return _read_checked(path, display, region, progress, CUSTOMER_COLUMNS, CUSTOMER_REQUIRED,
                         checked_customers)


def import_customers(engine: Engine, path: str, *, display: str | None = None,
                     region: str | None = None, progress: Progress | None = None
                     ) -> ImportResult:
    """Import a customers CSV (columns CUSTOMER_COLUMNS); ImportRefused with the problems,
    and nothing written, if any row is bad."""
    started = time.perf_counter()
    progress = progress or Progress()
    display = display or path
    rows = read_customers(path, display, region, progress)
    result = store_customers(engine, rows, Problems(display), progress)
    result.seconds = time.perf_counter() - started
    return result


def store_customers(engine: Engine | Connection, rows: list[CustomerRow], problems,
                    progress: Progress | None = None) -> ImportResult:
    """Write checked customer rows in one transaction: new ones added, changed ones replaced
    whole (profile, phone and account numbers), equal ones left. A number that belongs to a
    customer in the store who is not among `rows` is a problem (`problems`, as for
    `checked_customers`, with the number as `item`; its `raise_any()` then stops it all).
    `engine`: or a connection, to write in its transaction."""
    progress = progress or Progress()
    result = ImportResult(rows=len(rows))
    with (contextlib.nullcontext(engine) if isinstance(engine, Connection)
          else engine.begin()) as connection:
        added, changed = _customer_changes(connection, rows, problems)
        result.added, result.updated = len(added), len(changed)
        result.unchanged = len(rows) - len(added) - len(changed)
        progress.writing(len(added) + 2 * len(changed))
        changed_ids = [row.customer_id for row in changed]
        # Numbers first: a number may move between two customers of the file.
        for table in (_phones, _accounts):
            for chunk in _chunks(changed_ids):
                connection.execute(table.delete().where(table.c.customer_id.in_(chunk)))
        _insert(connection, _customers, [
            (row.customer_id, row.name, row.email, row.address, row.tier,
             json.dumps(row.attributes)) for row in added], progress)
        if changed:
            update = (_customers.update()
                      .where(_customers.c.customer_id == sa.bindparam("key"))
                      .values({name: sa.bindparam(name) for name in
                               ("name", "email", "address", "tier", "attributes")}))
            _write(connection, update, [{**_customer_values(row), "key": row.customer_id}
                                        for row in changed], progress)
        written = added + changed
        _insert(connection, _phones, [(number, row.customer_id)
                                      for row in written for number in row.phones], Progress())
        _insert(connection, _accounts, [(number, row.customer_id) for row in written
                                        for number in row.accounts], Progress())
    return result


def _customer_values(row: CustomerRow) -> dict:
    return {"customer_id": row.customer_id, "name": row.name, "email": row.email,
            "address": row.address, "tier": row.tier, "attributes": row.attributes}


def _customer_changes(connection: Connection, rows: list[CustomerRow], problems):
    """(new rows, changed rows); a problem for each number of `rows` that belongs to a
    customer in the store whom `rows` do not list."""
    ids = _key_table(connection, "vcc_import_customers", (row.customer_id for row in rows))
    numbers = _key_table(connection, "vcc_import_numbers",
                         (number for row in rows for number in row.phones + row.accounts))
    # The attributes as the stored JSON text: comparing it with the file's, serialised the
    # same way, costs nothing when they agree (they are parsed only when they differ).
    stored = {found[0]: found[1:] for found in _select_joined(
        connection, [_customers.c.customer_id, _customers.c.name, _customers.c.email,
                     _customers.c.address, _customers.c.tier,
                     sa.cast(_customers.c.attributes, sa.Text)],
        _customers.c.customer_id, ids)}
    owned: dict[str, dict[str, list[str]]] = {"phones": {}, "accounts": {}}
    in_file = {row.customer_id: row for row in rows}
    lines = {number: row for row in rows for number in row.phones + row.accounts}
    for table, column, field in ((_phones, "number", "phones"),
                                 (_accounts, "account_number", "accounts")):
        for customer_id, number in _select_joined(
                connection, [table.c.customer_id, table.c[column]], table.c.customer_id, ids):
            owned[field].setdefault(customer_id, []).append(number)
        for customer_id, number in _select_joined(
                connection, [table.c.customer_id, table.c[column]], table.c[column], numbers):
            if customer_id not in in_file:
                problems.add(lines[number].line, field, f"{mask_phone_number(number)} "
                             f"belongs to customer {customer_id!r} in the store: a number "
                             f"belongs to one customer", item=number)
    problems.raise_any()
    _drop(connection, ids, numbers)
    added, changed = [], []
    for row in rows:
        before = stored.get(row.customer_id)
        if before is None:
            added.append(row)
        elif (before[:4] != row.profile()[:4]
              or (before[4] != json.dumps(row.attributes)
                  and json.loads(before[4] or "{}") != row.attributes)
              or tuple(sorted(owned["phones"].get(row.customer_id, ()))) != row.phones
              or tuple(sorted(owned["accounts"].get(row.customer_id, ()))) != row.accounts):
            changed.append(row)
    return added, changed


# ---- marketing target lists -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TargetRow:
    line: int
    customer_id: str
    product: str
    phone: str | None
    list_name: str


# A target row's fields and their checks, for a CSV file and the API alike (`region`: of
# numbers written without a country code).
_TARGET_CHECKS = (
    ("customer_id", lambda value, region: csv_rows.text(value, 128, required=True)),
    ("product", lambda value, region: csv_rows.text(value, 128, required=True)),
    ("phone", lambda value, region: csv_rows.phone(value, region) if value else None),
    ("list", lambda value, region: csv_rows.text(value, 64)))


def checked_targets(items: Iterable[tuple[int, dict]], region: str | None,
                    problems) -> list[TargetRow]:
    """Target rows from (line, {column: text}) pairs, each field checked and no (customer,
    product) twice. `problems`: a csv_rows.Problems, or anything with its `add(line, column,
    problem)` and `where(line)` (the API names `targets[i]` where a file names its line)."""
    rows: list[TargetRow] = []
    first_line: dict[tuple[str, str], int] = {}
    for line, fields in items:
        values = {}
        for column, check in _TARGET_CHECKS:
            try:
                values[column] = check(fields.get(column, ""), region)
            except ValueError as error:
                problems.add(line, column, str(error))
        if len(values) < len(_TARGET_CHECKS):
            continue
        key = (values["customer_id"], values["product"])
        if key in first_line:
            problems.add(line, "product", f"customer {key[0]!r} and product {key[1]!r} "
                                          f"again (first on {problems.where(first_line[key])})")
            continue
        first_line[key] = line
        rows.append(TargetRow(line, values["customer_id"], values["product"],
                              values["phone"], values["list"]))
    return rows


def read_targets(path: str, display: str, region: str | None,
                 progress: Progress) -> list[TargetRow]:
    return _read_checked(path, display, region, progress, TARGET_COLUMNS, TARGET_REQUIRED,
                         checked_targets)


def import_targets(engine: Engine, path: str, *, display: str | None = None,
                   region: str | None = None, progress: Progress | None = None
                   ) -> ImportResult:
    """Import a target list CSV (columns TARGET_COLUMNS); every customer must be in the
    store. ImportRefused, and nothing written, if any row is bad."""
    started = time.perf_counter()
    progress = progress or Progress()
    display = display or path
    rows = read_targets(path, display, region, progress)
    result = store_targets(engine, rows, Problems(display), progress)
    result.seconds = time.perf_counter() - started
    return result


def store_targets(engine: Engine, rows: list[TargetRow], problems,
                  progress: Progress | None = None) -> ImportResult:
    """Write checked target rows in one transaction: new ones added, changed ones (phone,
    list) updated, equal ones left. A row whose customer is not in the store is a problem
    (`problems`, as for `checked_targets`; its `raise_any()` then stops it all)."""
    progress = progress or Progress()
    result = ImportResult(rows=len(rows))
    with engine.begin() as connection:
        ids = _key_table(connection, "vcc_import_customers",
                         (row.customer_id for row in rows))
        known = {found[0] for found in _select_joined(connection, [_customers.c.customer_id],
                                                      _customers.c.customer_id, ids)}
        for row in rows:
            if row.customer_id not in known:
                problems.add(row.line, "customer_id", f"no customer {row.customer_id!r} in "
                                                      f"the store (import customers first)")
        problems.raise_any()
        stored = {(found.customer_id, found.product): (found.phone, found.list_name)
                  for found in _select_joined(connection, [
                      _targets.c.customer_id, _targets.c.product, _targets.c.phone,
                      _targets.c.list_name], _targets.c.customer_id, ids)}
        _drop(connection, ids)
        added = [row for row in rows if (row.customer_id, row.product) not in stored]
        changed = [row for row in rows if stored.get((row.customer_id, row.product),
                                                     (row.phone, row.list_name))
                   != (row.phone, row.list_name)]
        result.added, result.updated = len(added), len(changed)
        result.unchanged = len(rows) - len(added) - len(changed)
        progress.writing(len(added) + len(changed))
        _insert(connection, _targets, [(row.customer_id, row.product, row.phone, row.list_name)
                                       for row in added], progress)
        if changed:
            update = (_targets.update()
                      .where(_targets.c.customer_id == sa.bindparam("key_customer"),
                             _targets.c.product == sa.bindparam("key_product"))
                      .values(phone=sa.bindparam("phone"), list_name=sa.bindparam("list_name")))
            _write(connection, update, [
                {"key_customer": row.customer_id, "key_product": row.product,
                 "phone": row.phone, "list_name": row.list_name} for row in changed], progress)
    return result

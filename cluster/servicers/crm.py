"""Crm: customers, their history and notes, and agents' dispositions (SPEC §7), on the
customer store (`vcc serve --db`). Without a store every call answers FAILED_PRECONDITION.

Every field is checked before anything is read or written; INVALID_ARGUMENT names the one at
fault (`phones[1]`, `attributes`, `limit`). A customer is checked by the same code as a row
of `vcc customers import` (cluster/customers/importer.py) and written by the same store
step, in one transaction: a phone or account number another customer has is ALREADY_EXISTS
naming it, and nothing changes. The store is SQL and blocking: every call runs on a thread
(`errors.in_store`), never on the event loop. Phone numbers are E.164 in replies; in a
request they may be written any common way, with their country code.
"""

from __future__ import annotations

import time
import types

import grpc

from cluster.api_limits import (
    MAX_CUSTOMER_NUMBERS,
    MAX_CUSTOMERS_PAGE,
    MAX_INTERACTIONS_PAGE,
    MAX_NAME,
    MAX_NOTES_LISTED,
)
from cluster.customers import csv_rows, history, profiles
from cluster.customers.importer import CustomerRow, checked_customers
from cluster.customers.messages import customer_message, interaction_message, note_message
from cluster.customers.store import Profile
from cluster.servicers import convert
from cluster.servicers.errors import NO_STORE, RequestError, in_store, invalid, unary
from cluster.servicers.wrap_up import keep_disposition
from vcc.v1 import crm_pb2, crm_pb2_grpc

DEFAULT_PAGE = 100
KEY_FIELDS = ("customer_id", "phone", "account_number")
# The request's names of the import's columns.
_FIELDS = {"accounts": "account_numbers"}


class _Refusal:
    """The `problems` of the import's checks and store step (importer.checked_customers,
    store_customers) for one request: the first problem ends the call with `code`, naming
    the request field; an item of a list by its place in the request (`phones[1]`).
    `positions`: {column: {stored value: index in the request}}, for problems that name
    the item by its value (a number another customer has)."""

    def __init__(self, code: grpc.StatusCode, positions: dict | None = None) -> None:
        self.code = code
        self.positions = positions or {}

    def add(self, line: int, column: str, problem: str, item=None) -> None:
        field = _FIELDS.get(column, column)
        if isinstance(item, str):
            item = self.positions.get(column, {}).get(item)
        if item is not None:
            field = f"{field}[{item}]"
        raise RequestError(self.code, field, problem)

    @staticmethod
    def where(line: int) -> str:
        return "this request"

    def raise_any(self) -> None:
        pass


# ---- checks --------------------------------------------------------------------------------------
def _phone(value: str, field: str) -> str:
    """A phone number in any common form, with its country code, as E.164."""
    convert.phone(value, field)
    try:
        return csv_rows.phone(value, None)
    except ValueError as error:
        raise invalid(field, str(error)) from None


def _customer_key(request) -> tuple[str, str]:
    """(kind, key) of a CustomerKey: exactly one field given."""
    given = [field for field in KEY_FIELDS if getattr(request, field)]
    if len(given) != 1:
        field = given[1] if given else KEY_FIELDS[0]
        problem = f"give exactly one of {', '.join(KEY_FIELDS)}"
        raise invalid(field, problem + (f" (and {given[0]} is given)" if given else ""))
    kind = given[0]
    value = getattr(request, kind)
    if kind == "customer_id":
        return kind, convert.name(value, kind)
    if kind == "phone":
        return kind, _phone(value, kind)
    convert.name(value, kind, limit=MAX_NAME)
    try:
        return kind, csv_rows.accounts((value,))[0]
    except csv_rows.ItemError as error:
        raise invalid(kind, error.problem) from None


def _limit(value: int, default: int, maximum: int) -> int:
    if value == 0:
        return default
    if not 1 <= value <= maximum:
        raise invalid("limit", f"must be 1..{maximum:,} (0: {default}); got {value}")
    return value


def _customer_row(request) -> tuple[CustomerRow, dict]:
    """The checked row of a Customer, and where each of its numbers is in the request."""
    convert.name(request.customer_id, "customer_id")
    for field, values in (("phones", request.phones),
                          ("account_numbers", request.account_numbers)):
        if len(values) > MAX_CUSTOMER_NUMBERS:
            raise invalid(field, f"at most {MAX_CUSTOMER_NUMBERS}; got {len(values)}")
    for number, value in enumerate(request.phones):
        convert.phone(value, f"phones[{number}]")
    attributes = convert.bounded_map(dict(request.attributes), "attributes")
    if not all(key and key.isprintable() for key in attributes):
        raise invalid("attributes", "keys must be printable and not empty")
    fields = {"customer_id": request.customer_id, "name": request.name,
              "email": request.email, "address": request.address, "tier": request.tier,
              "attributes": attributes, "phones": list(request.phones),
              "accounts": list(request.account_numbers)}
    rows = checked_customers([(0, fields)], None, _Refusal(grpc.StatusCode.INVALID_ARGUMENT))
    positions = {"phones": {}, "accounts": {}}
    for index, value in enumerate(request.phones):
        positions["phones"].setdefault(csv_rows.phone(value, None), index)
    for index, value in enumerate(request.account_numbers):
        positions["accounts"].setdefault(value.strip(), index)
    return rows[0], positions


def _record(row: CustomerRow) -> profiles.CustomerRecord:
    """A written row, as the store now has it."""
    return profiles.CustomerRecord(
        Profile(customer_id=row.customer_id, name=row.name, tier=row.tier, email=row.email,
                address=row.address, attributes=types.MappingProxyType(row.attributes),
                phones=row.phones), row.accounts)


def _period(request) -> tuple[float | None, float | None]:
    start = convert.finite(request.start, "start")
    end = convert.finite(request.end, "end")
    if end and end <= start:
        raise invalid("end", f"must be after start ({start!r}), or 0 (until now); got {end!r}")
    return start or None, end or None


# ---- the service ---------------------------------------------------------------------------------
class CrmServicer(crm_pb2_grpc.CrmServicer):
    def __init__(self, engine=None, pops=None, callers=None) -> None:
        self.engine = engine        # SQLAlchemy Engine of the customer store, or None
        self.pops = pops            # screen pops: who a live contact's caller is
        self.callers = callers      # arrivals' caller lookups: a put customer enables them

    def _store(self):
        if self.engine is None:
            raise NO_STORE
        return self.engine

    @unary()
    async def GetCustomer(self, request, context):
        engine = self._store()
        kind, key = _customer_key(request)
        record = await in_store(None, profiles.read_customer, engine, kind, key)
        if record is None:
            raise RequestError(grpc.StatusCode.NOT_FOUND, kind, "no such customer")
        return customer_message(record)

    @unary()
    async def PutCustomer(self, request, context):
        engine = self._store()
        row, positions = _customer_row(request)
        await in_store(None, profiles.put_customer, engine, row,
                       _Refusal(grpc.StatusCode.ALREADY_EXISTS, positions))
        if self.callers is not None:
            self.callers.enabled = True
        return customer_message(_record(row))

    @unary()
    async def SearchCustomers(self, request, context):
        engine = self._store()
        name_prefix = convert.name(request.name_prefix, "name_prefix", required=False,
                                   limit=200)
        try:
            tier = csv_rows.tier(request.tier)
        except ValueError as error:
            raise invalid("tier", str(error)) from None
        phone = _phone(request.phone, "phone") if request.phone else None
        after = convert.name(request.after_customer_id, "after_customer_id", required=False)
        query = profiles.CustomerQuery(
            name_prefix=name_prefix or None, tier=tier, phone=phone,
            after_customer_id=after or None,
            limit=_limit(request.limit, DEFAULT_PAGE, MAX_CUSTOMERS_PAGE))
        records = await in_store(None, profiles.search_customers, engine, query)
        return crm_pb2.CustomerList(customers=[customer_message(record) for record in records])

    @unary()
    async def SearchInteractions(self, request, context):
        engine = self._store()
        customer_id = convert.name(request.customer_id, "customer_id", required=False)
        agent_id = convert.name(request.agent_id, "agent_id", required=False)
        disposition = convert.name(request.disposition, "disposition", required=False,
                                   limit=MAX_NAME)
        start, end = _period(request)
        query = history.InteractionQuery(
            customer_id=customer_id or None, agent_id=agent_id or None,
            disposition=disposition or None, start=start, end=end,
            limit=_limit(request.limit, DEFAULT_PAGE, MAX_INTERACTIONS_PAGE))
        rows = await in_store(None, history.search_interactions, engine, query)
        return crm_pb2.InteractionList(interactions=[interaction_message(row) for row in rows])

    @unary()
    async def AddNote(self, request, context):
        engine = self._store()
        customer_id = convert.name(request.customer_id, "customer_id")
        if not request.text:
            raise invalid("text", "required")
        text = convert.notes(request.text, "text")
        author = convert.name(request.author, "author", required=False)
        at = convert.finite(request.time, "time") or time.time()
        added = await in_store(None, profiles.add_note, engine, customer_id, at, text,
                               author or None)
        if not added:
            raise RequestError(grpc.StatusCode.NOT_FOUND, "customer_id", "no such customer")
        return crm_pb2.Note(customer_id=customer_id, text=text, author=author, time=at)

    @unary()
    async def ListNotes(self, request, context):
        engine = self._store()
        kind, key = _customer_key(request)
        rows = await in_store(None, profiles.notes_of, engine, kind, key, MAX_NOTES_LISTED)
        if rows is None:
            raise RequestError(grpc.StatusCode.NOT_FOUND, kind, "no such customer")
        return crm_pb2.NoteList(notes=[note_message(row) for row in rows])

    @unary()
    async def RecordDisposition(self, request, context):
        engine = self._store()
        convert.name(request.site, "site")
        agent_id = convert.name(request.agent_id, "agent_id")
        contact_id = convert.name(request.contact_id, "contact_id")
        if not (request.disposition or request.notes or request.offer_results):
            raise invalid("disposition", "give a disposition, notes or offer results")
        changed = await keep_disposition(engine, self.pops, request, contact_id, agent_id)
        return crm_pb2.DispositionReply(recorded=True, outcomes_recorded=changed or 0)

"""Customers' interactions derived from finished contact records (SPEC §7: each finished
contact adds an interaction to its customer's history).

Written in the same transaction as the records (`write_rows`), so an interaction is there
exactly when its record is, on both runtimes, after a takeover too: the journal is the truth
and the records are derived from it, and so are these. Only contacts whose customer id
(passed by a CRM, or set by the gateway when it identified the caller by ANI) is a customer
in the store get one. The agent's disposition may have come first (during wrap-up: it is
in `contact_dispositions`) and is taken up; one coming later updates the row
(cluster/customers/dispositions.py). A record written again (a replay) adds nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from cluster.store.models import ContactDisposition, Customer, Interaction

_interactions = Interaction.__table__
_customers = Customer.__table__
_dispositions = ContactDisposition.__table__
_FIELDS = ("contact_id", "time", "channel", "skill", "agent_id", "final_state")


def _select():
    """One row per record whose customer exists: the customer's id, the record's fields, and
    the disposition given so far (none: NULL and "")."""
    parameters = {name: sa.bindparam(name) for name in _FIELDS}
    parameters["skill"] = sa.func.nullif(parameters["skill"], "")   # "": never queued
    return (sa.select(_customers.c.customer_id, *(parameters[name] for name in _FIELDS),
                      _dispositions.c.disposition,
                      sa.func.coalesce(_dispositions.c.notes, ""))
            .select_from(_customers.outerjoin(
                _dispositions, _dispositions.c.contact_id == sa.bindparam("contact_id")))
            .where(_customers.c.customer_id == sa.bindparam("customer_id")))


_COLUMNS = ("customer_id",) + _FIELDS + ("disposition", "notes")


def write_interactions(connection: Connection, records) -> None:
    """Add the interactions of these finished contact records (rows of `contact_records`)."""
    rows = [{"customer_id": record["customer_id"], "contact_id": record["contact_id"],
             "time": record["arrival_time"], "channel": record["channel"],
             "skill": record["skill"], "agent_id": record["agent_id"],
             "final_state": record["final_state"]}
            for record in records if record.get("customer_id")]
    if not rows:
        return
    insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)
    statement = insert(_interactions).from_select(_COLUMNS, _select()).on_conflict_do_nothing()
    connection.execute(statement, rows)

"""Agents' dispositions of contacts (SPEC §7): the wrap-up code and notes, and what became
of the marketing offers that popped. Given through AgentControl.CompleteContact (desktop
channels) or Crm.RecordDisposition (a call, during its wrap-up).

Synchronous: the servicers call it on a thread. Kept in `contact_dispositions` whatever
comes first; the contact's interaction takes it up when its record is written
(cluster/store/interactions.py), or is updated here when it is there already. Sent again:
the latest wins, and each offer's outcome counts once (cluster/customers/history.py).
"""

from __future__ import annotations

import dataclasses

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from cluster.customers.history import record_outcome, unknown_offers
from cluster.store.models import ContactDisposition, Interaction
from sites.errors import NotFound

_dispositions = ContactDisposition.__table__
_interactions = Interaction.__table__


@dataclasses.dataclass(frozen=True)
class OfferResult:
    offer_id: str
    result: str                     # accepted | declined | not_presented
    order_reference: str | None = None


@dataclasses.dataclass(frozen=True)
class Disposition:
    """An agent's wrap-up of one contact, already checked (cluster/servicers/convert.py)."""
    contact_id: str
    agent_id: str
    disposition: str | None = None
    notes: str = ""
    offer_results: tuple[OfferResult, ...] = ()
    customer_id: str | None = None      # the caller, when the gateway knows them

    def __bool__(self) -> bool:
        """Whether there is anything to record."""
        return bool(self.disposition or self.notes or self.offer_results)


def record_disposition(engine: Engine, given: Disposition, time: float) -> int:
    """Keep the disposition and record the offers' outcomes, all in one transaction;
    how many outcomes were added or changed. NotFound naming the field (nothing written)
    for an unknown offer."""
    values = {"agent_id": given.agent_id, "time": time, "disposition": given.disposition,
              "notes": given.notes}
    with engine.begin() as connection:
        unknown = unknown_offers(connection, [outcome.offer_id
                                              for outcome in given.offer_results])
        if unknown:
            index = next(index for index, outcome in enumerate(given.offer_results)
                         if outcome.offer_id == unknown[0])
            raise NotFound(f"offer_results[{index}].offer_id", f"no offer {unknown[0]!r}")
        insert = (postgresql.insert if connection.dialect.name == "postgresql"
                  else sqlite.insert)(_dispositions).values(contact_id=given.contact_id,
                                                            **values)
        connection.execute(insert.on_conflict_do_update(index_elements=["contact_id"],
                                                        set_=values))
        connection.execute(_interactions.update()
                           .where(_interactions.c.contact_id == given.contact_id)
                           .values(disposition=given.disposition, notes=given.notes))
        changed = 0
        for outcome in given.offer_results:
            changed += record_outcome(
                connection, offer_id=outcome.offer_id, result=outcome.result, time=time,
                agent_id=given.agent_id, customer_id=given.customer_id,
                contact_id=given.contact_id,
                order_reference=outcome.order_reference)
        return changed

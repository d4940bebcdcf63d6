"""An agent's wrap-up of a contact kept in the customer store (SPEC §7): the one path of
AgentControl.CompleteContact and Crm.RecordDisposition."""

from __future__ import annotations

import dataclasses
import time

from cluster.customers.dispositions import record_disposition
from cluster.servicers import convert
from cluster.servicers.errors import in_store


async def keep_disposition(store, pops, request, contact_id: str, agent_id: str) -> int | None:
    """Check the request's disposition, notes and offer results and keep them in `store`
    (an Engine; None: not kept); how many offer outcomes were added or changed, None when
    nothing was kept (nothing given, or no store). The caller's customer comes from the contact's screen pop (`pops`),
    when the gateway has it."""
    given = convert.disposition(request, contact_id, agent_id)
    if not given or store is None:
        return None
    if pops is not None:
        given = dataclasses.replace(given, customer_id=pops.customer_of(contact_id))
    return await in_store(None, record_disposition, store, given, time.time())

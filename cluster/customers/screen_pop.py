"""Screen pops (SPEC §7): who is calling, shown on the agent's screen with the offer.

Started at the gateway when the caller is identified (cluster/customers/callers.py), and
made while the arrival goes to the sites: routing never waits for it, and a contact that
queues never does. Only an offer waits (`ready`) for its contact's pop still being made: the
profile summary, the last 5 interactions and the marketing offers that apply (at most 3,
highest priority first). Each offer message of the contact gets a copy (`attach`, called
where offers are turned into messages, for every runtime). Phone numbers keep their last 4 digits and card-like numbers their first 6 and
last 4: the screen is seen by people, and a pop is personal data.

The history and offers are read on a thread, within `timeout_s`; a store that does not
answer in time gives a pop of the profile alone (routing never waits longer). The offers
that popped are the contact's eligible offers (marketing statistics count them): written
by a background task, not on the offer's path (`history.mark_eligible`).

Pops live while their contacts do: at most `limit`, the oldest dropped first (a contact
offered after that shows the customer id its attached data carries, and nothing more).
After a takeover the new leader has none for the contacts that arrived before it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from sqlalchemy.engine import Engine

from cluster.customers import history
from cluster.masking import mask_card_numbers, mask_for_logs, mask_phone_number
from cluster.customers.messages import interaction_message
from vcc.v1 import common_pb2

log = logging.getLogger("vcc.customers")

LIMIT = 50_000                  # live contacts with a pop; a few KB each
TIMEOUT_S = 0.5
FLUSH_EVERY_S = 0.5
MAX_PENDING = 100_000           # eligible offers waiting to be written


def offer_message(row, into=None) -> common_pb2.MarketingOffer:
    """A row of `marketing_offers` as the API shows it."""
    message = common_pb2.MarketingOffer() if into is None else into
    message.offer_id = row.offer_id
    message.product = row.product
    message.pitch = row.pitch or ""
    message.selling_points.extend(row.selling_points or ())
    message.script_ref = row.script_ref or ""
    message.valid_from = row.valid_from or 0.0
    message.valid_to = row.valid_to or 0.0
    message.value_cents = row.value_cents
    message.commission_cents = row.commission_cents
    message.priority = row.priority
    return message


def profile_message(profile, tier: str) -> common_pb2.ScreenPop:
    """The profile summary of a pop, masked for the screen."""
    pop = common_pb2.ScreenPop(
        customer_id=profile.customer_id, name=mask_card_numbers(profile.name), tier=tier,
        email=profile.email or "", address=mask_card_numbers(profile.address or ""))
    pop.phones.extend(mask_phone_number(number) for number in profile.phones)
    pop.attributes.update({mask_card_numbers(str(key)): mask_card_numbers(str(value))
                           for key, value in profile.attributes.items()})
    return pop


class ScreenPops:
    """The pops of live contacts, by contact id."""

    def __init__(self, engine: Engine, *, limit: int = LIMIT, timeout_s: float = TIMEOUT_S,
                 flush_every_s: float = FLUSH_EVERY_S, clock=time.time) -> None:
        self.engine = engine
        self.limit = limit
        self.timeout_s = timeout_s
        self.flush_every_s = flush_every_s
        self._clock = clock
        self._pops: collections.OrderedDict[str, common_pb2.ScreenPop] = \
            collections.OrderedDict()
        self.building: dict[str, asyncio.Task] = {}     # pops being made, by contact
        self._eligible_written: set[str] = set()   # contacts whose offers are queued
        self._pending: list[dict] = []
        self._flusher: asyncio.Task | None = None
        self.failures = 0                          # reads or writes the store did not do

    def __len__(self) -> int:
        return len(self._pops)

    def start(self, contact_id: str, profile, tier: str) -> None:
        """Start making a contact's pop (`ready` waits for it)."""
        task = asyncio.get_running_loop().create_task(self.build(contact_id, profile, tier))
        self.building[contact_id] = task
        task.add_done_callback(lambda _: self._built(contact_id, task))

    def _built(self, contact_id: str, task: asyncio.Task) -> None:
        if self.building.get(contact_id) is task:
            del self.building[contact_id]

    async def ready(self, contact_ids) -> None:
        """Wait for the pops of these contacts that are still being made (each within
        `timeout_s`, as `build` bounds its reads)."""
        tasks = [self.building[contact_id] for contact_id in contact_ids
                 if contact_id in self.building]
        if tasks:
            await asyncio.wait(tasks)

    async def build(self, contact_id: str, profile, tier: str) -> None:
        """Make the pop of a contact whose caller is `profile` (routed with `tier`)."""
        pop = profile_message(profile, tier)
        try:
            interactions, offers = await asyncio.wait_for(asyncio.to_thread(
                history.screen_pop_rows, self.engine, profile.customer_id, self._clock()),
                self.timeout_s)
        except Exception as error:      # down or slow: the profile alone, never an error
            self.failures += 1
            log.warning("screen pop of contact %s without history and offers: %s",
                        mask_for_logs(contact_id), type(error).__name__)
        else:
            for row in interactions:
                interaction_message(row, pop.history.add())
            for row in offers:
                offer_message(row, pop.offers.add())
        self._pops[contact_id] = pop
        self._pops.move_to_end(contact_id)
        while len(self._pops) > self.limit:
            dropped, _ = self._pops.popitem(last=False)
            self._eligible_written.discard(dropped)

    def attach(self, offer: common_pb2.Offer) -> None:
        """Give an offer message its contact's pop, if it has one; the first offer of a
        contact makes its offers eligible."""
        pop = self._pops.get(offer.contact_id)
        if pop is None:
            return
        offer.screen_pop.CopyFrom(pop)
        if pop.offers and offer.contact_id not in self._eligible_written:
            self._eligible_written.add(offer.contact_id)
            if len(self._pending) < MAX_PENDING:
                self._pending.append({
                    "contact_id": offer.contact_id, "customer_id": pop.customer_id,
                    "agent_id": offer.agent_id or None, "time": self._clock(),
                    "offer_ids": [item.offer_id for item in pop.offers]})
            else:
                self.failures += 1
            self._start_flusher()

    def customer_of(self, contact_id: str) -> str | None:
        """The customer a live contact's pop shows, or None."""
        pop = self._pops.get(contact_id)
        return pop.customer_id if pop is not None else None

    def forget(self, contact_id: str) -> None:
        """The contact ended: its pop is not needed any more."""
        if self._pops.pop(contact_id, None) is not None:
            self._eligible_written.discard(contact_id)

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            try:
                self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())
            except RuntimeError:        # no loop (a test converting messages): kept pending
                pass

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.flush_every_s)
        await self.flush()

    async def flush(self) -> None:
        """Write the eligible offers that popped so far."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            await asyncio.to_thread(self._write, pending)
        except Exception as error:
            self.failures += len(pending)
            log.warning("%d contacts' eligible offers not recorded: %s", len(pending),
                        type(error).__name__)

    def _write(self, pending: list[dict]) -> None:
        for item in pending:
            history.mark_eligible(self.engine, **item)

    async def close(self) -> None:
        for task in list(self.building.values()):
            task.cancel()
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        await self.flush()

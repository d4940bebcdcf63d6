"""Who is calling, asked at the gateway before an arrival reaches the sites (SPEC §7).

- The caller's customer tier goes into the arrival (`ContactArrived.tier`), and the core
  gives a contact without its own priority or objective its tier's (sites/tiers.py). The
  core sees only the tier's name: never the caller's number or profile.
- A caller identified by ANI gets the customer id into the contact's attached data: the
  offer's data, the contact record and so the customer's history name the customer.
- With screen pops (cluster/customers/screen_pop.py), the caller's pop is started now, and
  made while the arrival goes to the sites (an offer waits for it, routing does not).

A center that keeps no customers pays nothing: with `enabled` false (no tiers configured
and no customer in the store), nobody is looked up; whether the store has customers now is
checked again in the background at most every `recheck_s` (a CLI import while the server
runs), and a customer put through the Crm API enables lookups at once.

A contact names its caller by the customer id a CRM passes, else by its ANI. A caller
nobody knows, or a store that does not answer in time (cluster/customers/directory.py),
gets no tier here: the default tier then applies in the core, and routing goes on.
"""

from __future__ import annotations

import asyncio
import time

from sites import events as ev

RECHECK_S = 30.0


class Callers:
    """The gateway's side of customers: `await identify(event)` before an arrival is
    submitted. `tiers`: sites.tiers.TierConfig (empty: none configured); `pops`: a
    ScreenPops, or None."""

    def __init__(self, directory, tiers, pops=None, *, enabled: bool = True, check=None,
                 recheck_s: float = RECHECK_S, clock=time.monotonic):
        self.directory = directory
        self.tiers = tiers
        self.pops = pops
        self.enabled = enabled
        self._check = check         # blocking () -> bool: whether the store has customers
        self.recheck_s = recheck_s
        self._clock = clock
        self._next_check = clock() + recheck_s
        self._checking: asyncio.Task | None = None

    def _recheck(self) -> None:
        """Start checking, on a thread, whether lookups are worth it now (never waited for)."""
        if self._check is None or self._checking is not None or self._clock() < self._next_check:
            return
        self._next_check = self._clock() + self.recheck_s
        self._checking = asyncio.get_running_loop().create_task(asyncio.to_thread(self._check))
        self._checking.add_done_callback(self._checked)

    def _checked(self, task: asyncio.Task) -> None:
        self._checking = None
        if not task.cancelled() and task.exception() is None and task.result():
            self.enabled = True

    async def identify(self, event) -> None:
        """Set an arrival's tier (one that has none), its customer id, and its pop."""
        if type(event) is not ev.ContactArrived:
            return
        if not self.enabled:
            self._recheck()
            return
        data = event.data if isinstance(event.data, dict) else {}
        customer_id, ani = data.get("customer_id"), data.get("ani")
        profile = None
        if customer_id:
            profile = await self.directory.by_customer_id(customer_id)
        if profile is None and ani:
            profile = await self.directory.by_ani(ani)
        if profile is None:
            return
        if event.tier is None and profile.tier in self.tiers.tiers:
            event.tier = profile.tier
        if not customer_id:
            if event.data is None:
                event.data = data
            data["customer_id"] = profile.customer_id
        if self.pops is not None:
            tier = self.tiers.name_of(event.tier) if self.tiers else profile.tier
            self.pops.start(event.contact_id, profile, tier or "")

    async def prefetch(self, callers) -> None:
        """Look up at once, concurrently, the callers ((customer id, ANI) pairs; empty:
        none) of a batch of arrivals about to be identified one by one: the directory's
        cache then answers `identify` (a PBX message may hold hundreds of arrivals, and one
        store read after another would hold the link up)."""
        if not self.enabled:
            return
        directory = self.directory
        lookups = [directory.by_customer_id(customer_id) for customer_id, _ in callers
                   if customer_id]
        lookups += [directory.by_ani(ani) for _, ani in callers if ani]
        if lookups:
            await asyncio.gather(*lookups)

    async def close(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
        try:
            if self.pops is not None:
                await self.pops.close()
        finally:
            await self.directory.close()

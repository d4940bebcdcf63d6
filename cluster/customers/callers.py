"""Who is calling, asked at the gateway before an arrival reaches the sites (SPEC §7): the
caller's customer tier goes into the arrival (`ContactArrived.tier`), and the core gives a
contact without its own priority or objective its tier's (sites/tiers.py). The core sees
only the tier's name: never the caller's number or profile.

A contact names its caller by the customer id a CRM passes, else by its ANI. A caller
nobody knows, or a store that does not answer in time (cluster/customers/directory.py),
gets no tier here: the default tier then applies in the core, and routing goes on.
"""

from __future__ import annotations

import asyncio

from sites import events as ev


class CallerTiers:
    """The gateway's side of tiers: `await identify(event)` sets an arrival's tier."""

    def __init__(self, directory, tiers):
        self.directory = directory
        self.tiers = tiers          # sites.tiers.TierConfig: a tier it does not know is moot

    async def identify(self, event) -> None:
        """Set `event.tier` (a ContactArrived that has none) from its caller's profile."""
        if type(event) is not ev.ContactArrived or event.tier is not None:
            return
        data = event.data if isinstance(event.data, dict) else {}
        customer_id, ani = data.get("customer_id"), data.get("ani")
        profile = None
        if customer_id:
            profile = await self.directory.by_customer_id(customer_id)
        if profile is None and ani:
            profile = await self.directory.by_ani(ani)
        if profile is not None and profile.tier in self.tiers.tiers:
            event.tier = profile.tier

    async def prefetch(self, callers) -> None:
        """Look up at once, concurrently, the callers ((customer id, ANI) pairs; empty:
        none) of a batch of arrivals about to be identified one by one: the directory's
        cache then answers `identify` (a PBX message may hold hundreds of arrivals, and one
        store read after another would hold the link up)."""
        directory = self.directory
        lookups = [directory.by_customer_id(customer_id) for customer_id, _ in callers
                   if customer_id]
        lookups += [directory.by_ani(ani) for _, ani in callers if ani]
        if lookups:
            await asyncio.gather(*lookups)

    async def close(self) -> None:
        await self.directory.close()

"""The gateway's caller identification (cluster/customers/callers.py): an arrival gets its
caller's tier by the customer id a CRM passes, else by ANI; a tier the configuration does
not know, a caller nobody knows, or an arrival that has a tier already stay as they are."""

from __future__ import annotations

import asyncio

from cluster.customers.callers import Callers
from cluster.customers.store import Profile
from sites import events as ev
from sites.tiers import parse_tiers

TIERS = parse_tiers({"gold": {"priority": "high"}, "standard": {"priority": "low"}})


class Directory:
    """The directory's API over a dict; records what was asked."""

    def __init__(self):
        self.asked = []
        self.by_id = {"c-gold": "gold", "c-tin": "tin"}
        self.by_number = {"+14155552671": "gold"}

    def _profile(self, tier):
        return None if tier is None else Profile(customer_id="x", name="", tier=tier)

    async def by_customer_id(self, customer_id):
        self.asked.append(("id", customer_id))
        return self._profile(self.by_id.get(customer_id))

    async def by_ani(self, ani):
        self.asked.append(("ani", ani))
        return self._profile(self.by_number.get(ani))


def identify(data, tier=None):
    directory = Directory()
    event = ev.ContactArrived(0.0, "c1", "billing", None, data=data, tier=tier)
    asyncio.run(Callers(directory, TIERS).identify(event))
    return event.tier, directory.asked


def test_a_caller_known_by_ani_gets_the_customer_id_into_the_attached_data():
    event = ev.ContactArrived(0.0, "c1", "billing", None, data={"ani": "+14155552671"})
    asyncio.run(Callers(Directory(), TIERS).identify(event))
    assert event.data == {"ani": "+14155552671", "customer_id": "x"}
    event = ev.ContactArrived(0.0, "c2", "billing", None, data={"ani": "+10000000000"})
    asyncio.run(Callers(Directory(), TIERS).identify(event))
    assert event.data == {"ani": "+10000000000"}                # nobody: unchanged


def test_callers_are_known_by_customer_id_then_by_ani():
    assert identify({"customer_id": "c-gold", "ani": "+1999"}) == ("gold", [("id", "c-gold")])
    assert identify({"customer_id": "nobody", "ani": "+14155552671"}) == (
        "gold", [("id", "nobody"), ("ani", "+14155552671")])
    assert identify({"ani": "+10000000000"}) == (None, [("ani", "+10000000000")])
    assert identify({}) == (None, [])
    # A tier the configuration does not know: the default one applies in the core.
    assert identify({"customer_id": "c-tin"})[0] is None
    # A tier given already is kept (the caller is still looked up: the screen pop).
    assert identify({"customer_id": "c-gold"}, tier="standard") == (
        "standard", [("id", "c-gold")])


def test_only_arrivals_are_identified():
    directory = Directory()
    event = ev.ContactAbandoned(0.0, "c1")
    asyncio.run(Callers(directory, TIERS).identify(event))
    assert directory.asked == []


def test_a_batch_s_callers_are_read_concurrently_then_identified_from_the_cache():
    class Slow(Directory):
        def __init__(self):
            super().__init__()
            self.running = self.most = 0

        async def by_ani(self, ani):
            self.running += 1
            self.most = max(self.most, self.running)
            await asyncio.sleep(0.01)
            self.running -= 1
            return await super().by_ani(ani)

    directory = Slow()
    callers = Callers(directory, TIERS)
    asyncio.run(callers.prefetch([("", f"+1415555{n:04d}") for n in range(20)]
                                 + [("c-gold", ""), ("", "")]))
    assert directory.most == 20                  # all at once, not one after another
    assert ("id", "c-gold") in directory.asked and len(directory.asked) == 21


def test_a_center_without_customers_looks_nobody_up_until_it_has_some():
    now = [0.0]
    has = [False]

    async def scenario():
        directory = Directory()
        callers = Callers(directory, TIERS, enabled=False, check=lambda: has[0],
                          recheck_s=30.0, clock=lambda: now[0])

        async def arrive(contact_id):
            event = ev.ContactArrived(0.0, contact_id, "billing", None,
                                      data={"customer_id": "c-gold"})
            await callers.identify(event)
            await callers.prefetch([("c-gold", "")])
            await asyncio.sleep(0.05)               # a background check may finish
            return event.tier

        tiers = [await arrive("k1")]                # disabled: no lookup, no check yet
        now[0] = 31.0
        tiers.append(await arrive("k2"))            # checked: still no customer
        has[0] = True
        now[0] = 40.0
        tiers.append(await arrive("k3"))            # too soon to check again
        now[0] = 62.0
        tiers.append(await arrive("k4"))            # checked: customers now; not waited for
        tiers.append(await arrive("k5"))
        return tiers, directory.asked, callers.enabled

    tiers, asked, enabled = asyncio.run(scenario())
    assert tiers == [None, None, None, None, "gold"] and enabled
    assert asked == [("id", "c-gold")] * 2         # k5's prefetch and identify (cached: both ask)

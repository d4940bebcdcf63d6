"""Routing plans survive a crash of the journaled router (issue 17 item 4): a contact in the
middle of its plan goes on where it was, and a callback keeps its place and is offered at
its turn, whether the router recovers from the journal alone or from a snapshot."""

from __future__ import annotations

import asyncio

import pytest

from cluster.config import parse_config
from cluster.durable import close_durable_host, open_durable_host
from cluster.store.db import open_engine
from cluster.store.snapshots import latest_snapshot
from sites import events as ev
from sites.actions import IvrTreatment, OfferContact
from sites.model import ContactState

CENTER = """\
skills:
  billing: {sl_threshold_s: 20, aht_estimate_s: 120}
sites:
  east:
    agents:
      - {ids: [e1], skills: {billing: 1}}
entry_points:
  "100": {service: care}
services:
  care:
    max_lines: 10
    schedule: [{otherwise: main}]
plans:
  main:
    - announce: {prompt: welcome, seconds: 10}
    - queue: {skill: billing, priority: medium}
    - callback: {}
      if: {ewt: {gt: 5}}
    - wait: {seconds: 600}
"""


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def actions_of(results):
    return [routed.action for result in results for routed in result.actions]


@pytest.mark.parametrize("snapshot_every", [1_000_000, 3], ids=["journal", "snapshot"])
def test_contacts_in_plans_and_callbacks_come_back_after_a_crash(tmp_path, snapshot_every):
    url = f"sqlite:///{tmp_path}/store.db"
    clock = FakeClock()
    config = parse_config(CENTER, "center.yaml")

    async def first_life():
        host, _ = await open_durable_host(config, url, clock=clock,
                                          snapshot_every=snapshot_every)
        await host.submit("east", [ev.AgentLoggedIn(0, "e1"), ev.AgentReady(0, "e1"),
                                   ev.ContactArrived(0, "busy", "billing")])
        await host.submit(None, [ev.OfferAccepted(0, "busy")])
        results = await host.submit("east", [ev.ContactArrived(0, "cb", None, dnis="100"),
                                             ev.ContactArrived(0, "ivr", None, dnis="100")])
        assert [a.kind for a in actions_of(results) if type(a) is IvrTreatment] == [
            "announce", "announce"]
        await host.submit(None, [ev.PromptFinished(0, "cb")])       # cb: queued, asked
        await host.submit(None, [ev.CallbackChosen(0, "cb", True)])
        east = host.sites["east"]
        assert east.contacts["cb"].callback and east.contacts["cb"].state is ContactState.QUEUED
        assert east.contacts["ivr"].plan_run.waiting == "announce"
        host.validate()
        return {cid: (c.state, c.callback) for cid, c in east.contacts.items()}
        # no close: the router crashed; its calls returned, so their events are durable

    seen = run(first_life())

    async def second_life():
        clock.now += 2
        host, recovery = await open_durable_host(config, url, clock=clock,
                                                 snapshot_every=snapshot_every)
        east = host.sites["east"]
        engine = open_engine(url)
        try:
            snapshot = latest_snapshot(engine, "east")
        finally:
            engine.dispose()
        # The snapshot variant restores a snapshot (past the first, of the configuration)
        # holding contacts in their plans.
        assert (snapshot[0] > 0) == (snapshot_every == 3)
        if snapshot[0] > 0:
            assert any("plan_run" in contact or contact.get("callback")
                       for contact in snapshot[1]["site"]["contacts"])
        assert {cid: (c.state, c.callback) for cid, c in east.contacts.items()} == seen
        assert east.plans.lines == {"care": 1}          # ivr holds a port; cb hung up
        host.validate()
        # The announce of `ivr` ends on time after the restart: it is queued behind cb.
        clock.now += 10
        routed = await host.tick()
        assert [r.action.kind for r in routed if type(r.action) is IvrTreatment
                and r.action.contact_id == "ivr"] == ["callback_offer"]
        await host.submit(None, [ev.CallbackChosen(0, "ivr", False)])
        # e1 frees up: the callback is offered first, marked as one.
        results = await host.submit(None, [ev.ContactEnded(0, "busy")])
        offers = [a for a in actions_of(results) if type(a) is OfferContact]
        assert [(o.contact_id, o.callback) for o in offers] == [("cb", True)]
        await host.submit(None, [ev.OfferAccepted(0, "cb")])
        await host.submit(None, [ev.ContactEnded(0, "cb")])
        await host.submit(None, [ev.ContactAbandoned(0, "ivr")])
        assert host.final_state("cb")[0] is ContactState.COMPLETED
        assert host.final_state("ivr")[0] is ContactState.ABANDONED
        assert not east.contacts and east.plans.lines.get("care", 0) == 0
        host.validate()
        await close_durable_host(host)

    run(second_life())


@pytest.mark.parametrize("snapshot_every", [1_000_000, 2], ids=["journal", "snapshot"])
def test_plans_admin_put_come_back_after_a_crash(tmp_path, snapshot_every):
    """Issue 17 item 5: Admin's plans are journaled (and snapshotted) with the events; a
    restarted router runs them, not the configuration file's."""
    url = f"sqlite:///{tmp_path}/store.db"
    clock = FakeClock()
    config = parse_config(CENTER, "center.yaml")
    new_plan = [{"announce": {"prompt": "new_welcome", "seconds": 5}},
                {"queue": {"skill": "billing", "priority": "high"}}]

    async def first_life():
        host, _ = await open_durable_host(config, url, clock=clock,
                                          snapshot_every=snapshot_every)
        document = dict(host.plan_document())
        document["plans"] = {**document["plans"], "main": new_plan}
        assert (await host.put_plans(document))["plans"]["main"] == new_plan
        for number in range(3):          # entries after the change (a snapshot may follow)
            await host.submit("east", [ev.AgentLoggedIn(0, "e1"), ev.AgentLoggedOut(0, "e1")])
        return document

    document = run(first_life())

    async def second_life():
        clock.now += 1
        host, _ = await open_durable_host(config, url, clock=clock,
                                          snapshot_every=snapshot_every)
        assert host.plan_document() == document
        results = await host.submit("east", [ev.ContactArrived(0, "c9", None, dnis="100")])
        (treatment,) = [a for a in actions_of(results) if type(a) is IvrTreatment]
        assert treatment.prompt == "new_welcome"
        await host.submit(None, [ev.ContactAbandoned(0, "c9")])
        host.validate()
        await close_durable_host(host)

    run(second_life())


def test_a_site_added_after_an_admin_plans_change_runs_it_and_recovers_it(tmp_path):
    """A site Admin adds after PutPlans runs the center's plans and its snapshot keeps them,
    so the recovered router is the router that stopped (CI's store fuzz: the recovered
    site had the change, the live one had not)."""
    url = f"sqlite:///{tmp_path}/store.db"
    clock = FakeClock()
    config = parse_config(CENTER, "center.yaml")
    new_plan = [{"announce": {"prompt": "new_welcome", "seconds": 5}},
                {"queue": {"skill": "billing", "priority": "high"}}]

    def snapshots(host):
        return {name: state.snapshot() for name, state in sorted(host.sites.items())}

    async def first_life():
        host, _ = await open_durable_host(config, url, clock=clock)
        document = dict(host.plan_document())
        document["plans"] = {**document["plans"], "main": new_plan}
        await host.put_plans(document)
        assert await host.put_site("north")
        assert host.sites["north"].plans.change == host.sites["east"].plans.change
        results = await host.submit("north", [ev.ContactArrived(0, "n1", None, dnis="100")])
        (treatment,) = [a for a in actions_of(results) if type(a) is IvrTreatment]
        assert treatment.prompt == "new_welcome"
        await host.submit(None, [ev.ContactAbandoned(0, "n1")])
        before = snapshots(host)
        await close_durable_host(host)
        return before

    before = run(first_life())

    async def second_life():
        clock.now += 1
        host, _ = await open_durable_host(config, url, clock=clock)
        assert snapshots(host) == before
        await close_durable_host(host)

    run(second_life())

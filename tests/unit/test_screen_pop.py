"""Screen pops (cluster/customers/screen_pop.py): made once per contact, copied into each of
its offers, masked; a store that does not answer gives the profile alone; the offers that
popped are written once as eligible; at most `limit` kept."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from cluster.customers import history
from cluster.customers.screen_pop import ScreenPops
from cluster.customers.store import Profile
from cluster.store import open_engine, upgrade
from cluster.store.models import Customer, MarketingOutcome, MarketingTarget
from vcc.v1 import common_pb2

ADA = Profile(customer_id="c1", name="Ada", tier="gold", phones=("+14155552671",),
              address="card 4111111111111111")


@pytest.fixture
def engine(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(Customer.__table__.insert(), [
            {"customer_id": "c1", "name": "Ada", "attributes": {}}])
        connection.execute(MarketingTarget.__table__.insert(), [
            {"customer_id": "c1", "product": "fibre", "list_name": ""}])
    history.put_offer(engine, "fibre-1", product="fibre", priority=1)
    history.add_interaction(engine, customer_id="c1", time=5.0, channel="email",
                            disposition="info", notes="4111 1111 1111 1111",
                            contact_id="old")
    yield engine
    engine.dispose()


def offer(contact_id="k1", agent_id="a1"):
    return common_pb2.Offer(contact_id=contact_id, agent_id=agent_id)


def test_a_pop_is_copied_into_every_offer_of_its_contact_and_eligible_once(engine):
    async def scenario():
        pops = ScreenPops(engine, clock=lambda: 100.0, flush_every_s=0.01)
        await pops.build("k1", ADA, "gold")
        first, second, stranger = offer(), offer(agent_id="a2"), offer("k2")
        for message in (first, second, stranger):
            pops.attach(message)
        await asyncio.sleep(0.05)
        await pops.close()
        return pops, first, second, stranger

    pops, first, second, stranger = asyncio.run(scenario())
    assert first.screen_pop == second.screen_pop and not stranger.HasField("screen_pop")
    pop = first.screen_pop
    assert (pop.customer_id, pop.tier, list(pop.phones), pop.address) == (
        "c1", "gold", ["+*******2671"], "card 411111******1111")
    (item,) = pop.history
    assert (item.channel, item.disposition, item.notes) == (
        common_pb2.CHANNEL_EMAIL, "info", "4111 11** **** 1111")
    assert [o.offer_id for o in pop.offers] == ["fibre-1"]
    with engine.connect() as connection:
        rows = connection.execute(sa.select(MarketingOutcome.__table__)).all()
    assert [(row.contact_id, row.offer_id, row.result, row.agent_id, row.customer_id)
            for row in rows] == [("k1", "fibre-1", "not_presented", "a1", "c1")]
    assert pops.customer_of("k1") == "c1"
    pops.forget("k1")
    assert pops.customer_of("k1") is None and len(pops) == 0


def test_a_store_that_does_not_answer_gives_the_profile_alone(tmp_path):
    broken = open_engine(f"sqlite:///{tmp_path / 'empty.db'}")     # no tables
    pops = ScreenPops(broken)
    asyncio.run(pops.build("k1", ADA, "gold"))
    message = offer()
    pops.attach(message)
    assert message.screen_pop.name == "Ada" and not message.screen_pop.history
    assert pops.failures == 1
    broken.dispose()


def test_only_the_newest_pops_are_kept(engine):
    pops = ScreenPops(engine, limit=2)
    for contact_id in ("k1", "k2", "k3"):
        asyncio.run(pops.build(contact_id, ADA, ""))
    assert len(pops) == 2 and pops.customer_of("k1") is None and pops.customer_of("k3") == "c1"


def test_routing_does_not_wait_for_a_pop_but_an_offer_does(engine, monkeypatch):
    import time

    real = history.screen_pop_rows

    def slow(*arguments, **options):
        time.sleep(0.05)
        return real(*arguments, **options)

    monkeypatch.setattr(history, "screen_pop_rows", slow)

    async def scenario():
        pops = ScreenPops(engine)
        began = asyncio.get_running_loop().time()
        pops.start("k1", ADA, "gold")
        started_in = asyncio.get_running_loop().time() - began
        early = offer()
        pops.attach(early)                      # too early: not made yet
        await pops.ready(["k1", "nobody"])
        late = offer()
        pops.attach(late)
        await pops.close()
        return started_in, early, late, dict(pops.building)

    started_in, early, late, building = asyncio.run(scenario())
    assert started_in < 0.01
    assert not early.HasField("screen_pop") and late.screen_pop.customer_id == "c1"
    assert len(late.screen_pop.history) == 1 and building == {}

"""`vcc serve --db` pops the caller on the agent's screen and keeps the agent's wrap-up
(SPEC §7, issue 18): a caller known by ANI is offered with the profile (numbers masked),
the last 5 interactions and the offers that apply (highest priority first); CompleteContact
takes the disposition, notes and offer results; the finished contact becomes an interaction
with them, and the offers that popped count as eligible. On both runtimes."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
import sqlalchemy as sa

from cluster.client import VccClient
from cluster.customers import history
from cluster.store.db import open_engine
from cluster.store.migrate import upgrade
from cluster.store.models import (Customer, CustomerPhone, Interaction, MarketingOutcome,
                                  MarketingTarget)
from tests.integration.test_cli_serve import start, stop
from vcc.v1 import agent_control_pb2, common_pb2, crm_pb2, routing_pb2

pytestmark = pytest.mark.integration

CONFIG = """\
skills:
  care: {sl_threshold_s: 30, wrap_up_s: 0}
sites:
  east:
    agents:
      - {ids: [e1], skills: {care: 1}, channels: {chat: 1}}
"""
NOW = time.time()


def fill_store(url: str) -> None:
    engine = open_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(Customer.__table__.insert(), [{
            "customer_id": "cust-7", "name": "Ada", "tier": "gold",
            "address": "paid with 4111 1111 1111 1111", "attributes": {"segment": "retail"}}])
        connection.execute(CustomerPhone.__table__.insert(), [
            {"number": "+14155552671", "customer_id": "cust-7"}])
        connection.execute(MarketingTarget.__table__.insert(), [
            {"customer_id": "cust-7", "product": "fibre", "list_name": "q4"},
            {"customer_id": "cust-7", "product": "tv", "list_name": "q4"}])
    for index in range(6):
        history.add_interaction(engine, customer_id="cust-7", time=NOW - 1000 + index,
                                channel="voice", skill="care", agent_id=f"old{index}",
                                disposition="info", contact_id=f"past-{index}")
    history.put_offer(engine, "fibre-1", product="fibre", priority=5, value_cents=4000,
                      commission_cents=400)
    history.put_offer(engine, "tv-1", product="tv", priority=9, value_cents=2000,
                      commission_cents=200)
    history.put_offer(engine, "tv-old", product="tv", priority=99, valid_to=NOW - 3600)
    engine.dispose()


async def wait_for(condition, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(condition)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("not within the time")


@pytest.mark.parametrize("runtime", ["inprocess", "ray"])
def test_the_agent_sees_the_caller_and_the_wrap_up_becomes_history(tmp_path, runtime):
    if runtime == "ray" and os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("VCC_PURE_PYTHON=1: the Ray runtime runs in the compiled pass")
    url = f"sqlite:///{tmp_path}/vcc.db"
    fill_store(url)
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    process, port = start("--config", str(config), "--db", url, "--runtime", runtime)
    engine = open_engine(url)

    def interaction():
        with engine.connect() as connection:
            return connection.execute(sa.select(Interaction.__table__).where(
                Interaction.__table__.c.contact_id == "chat-1")).first()

    def outcomes():
        with engine.connect() as connection:
            return {row.offer_id: row for row in connection.execute(
                sa.select(MarketingOutcome.__table__))}

    async def scenario():
        async with VccClient(f"127.0.0.1:{port}") as client:
            agent = agent_control_pb2.AgentRequest(site="east", agent_id="e1")
            await client.agents.Login(agent, timeout=10)
            events = client.agents.StreamEvents(agent, timeout=60)
            await events.read()                                     # current state
            reply = await client.routing.RouteContact(routing_pb2.RouteContactRequest(
                contact=common_pb2.ContactSpec(contact_id="chat-1", site="east", skill="care",
                                               channel=common_pb2.CHANNEL_CHAT,
                                               ani="+1 (415) 555-2671")), timeout=10)
            assert reply.WhichOneof("decision") == "queued", reply
            ready = await client.agents.SetState(agent_control_pb2.SetStateRequest(
                site="east", agent_id="e1", state=common_pb2.AGENT_STATE_READY), timeout=10)
            (offer,) = ready.offers
            streamed = None
            while streamed is None:
                event = await events.read()
                if event.WhichOneof("event") == "offer":
                    streamed = event.offer
            await client.agents.RespondToOffer(agent_control_pb2.OfferResponse(
                site="east", agent_id="e1", contact_id="chat-1", accept=True), timeout=10)
            bad = agent_control_pb2.ContactRequest(
                site="east", agent_id="e1", contact_id="chat-1", disposition="sold",
                offer_results=[common_pb2.OfferResult(offer_id="tv-1", result="accepted")])
            with pytest.raises(Exception) as refused:
                await client.agents.CompleteContact(bad, timeout=10)
            assert "offer_results[0].order_reference" in str(refused.value)
            await client.agents.CompleteContact(agent_control_pb2.ContactRequest(
                site="east", agent_id="e1", contact_id="chat-1", disposition="sold",
                notes="card 5500 0000 0000 0004 on file",
                offer_results=[common_pb2.OfferResult(offer_id="tv-1", result="accepted",
                                                      order_reference="ORD-1"),
                               common_pb2.OfferResult(offer_id="fibre-1",
                                                      result="declined")]), timeout=10)
            events.cancel()
            found = await wait_for(interaction)
            return offer, streamed, found, await wait_for(
                lambda: len(outcomes()) == 2 and outcomes())

    try:
        offer, streamed, found, results = asyncio.run(asyncio.wait_for(scenario(), 90))
    finally:
        engine.dispose()
        assert stop(process) == 0
    assert offer.screen_pop == streamed.screen_pop
    pop = offer.screen_pop
    assert (pop.customer_id, pop.name, pop.tier) == ("cust-7", "Ada", "gold")
    assert list(pop.phones) == ["+*******2671"]
    assert pop.address == "paid with 4111 11** **** 1111"
    assert dict(pop.attributes) == {"segment": "retail"}
    assert [item.agent_id for item in pop.history] == ["old5", "old4", "old3", "old2", "old1"]
    assert pop.history[0].channel == common_pb2.CHANNEL_VOICE
    assert [item.offer_id for item in pop.offers] == ["tv-1", "fibre-1"]
    assert offer.data["customer_id"] == "cust-7"       # identified by ANI
    assert (found.customer_id, found.agent_id, found.channel, found.final_state,
            found.disposition) == ("cust-7", "e1", "chat", "completed", "sold")
    assert found.notes == "card 5500 00** **** 0004 on file"
    assert (results["tv-1"].result, results["tv-1"].order_reference,
            results["tv-1"].customer_id, results["fibre-1"].result) == (
        "accepted", "ORD-1", "cust-7", "declined")
    log = process.stderr.read()
    assert "4155552671" not in log and "555-2671" not in log
    assert crm_pb2                                          # the Crm messages import

"""The journaled CoreHost (cluster/durable.py): nothing is answered before it is durable, and
a router that dies is rebuilt from the store with every contact where it was.

SQLite files in a temporary directory; the host's clock is a fake one the test moves. A
"crash" is dropping the host without closing it, after its calls have returned: what they
returned for must be in the journal.
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from cluster.config import load_config
from cluster.durable import close_durable_host, open_durable_host
from cluster.host import HostClosed
from cluster.store.db import open_engine
from sites import events as ev
from sites.model import AgentState, ContactState


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def journal_rows(url) -> int:
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT count(*) FROM journal")).scalar_one()
    finally:
        engine.dispose()


def contact_states(host) -> dict:
    live = {cid: (name, state.contacts[cid].state, state.contacts[cid].agent_id)
            for name, state in host.sites.items() for cid in state.contacts}
    final = {cid: host.final_state(cid) for name, state in host.sites.items()
             for cid in state.finished if host.final_state(cid) is not None}
    return {"live": live, "final": final}


async def first_life(url, clock):
    """Agents in, contacts in, some answered and ended; returns what the host showed."""
    config = load_config()
    host, recovery = await open_durable_host(config, url, clock=clock)
    assert recovery.recovered == {} and sorted(recovery.started) == ["east", "west"]
    for agent in ("east-g0-0", "east-g0-1"):
        await host.submit("east", [ev.AgentLoggedIn(0, agent), ev.AgentReady(0, agent)])
        # Durable when the call returns: the journal holds both events.
    rows_after_agents = journal_rows(url)
    assert rows_after_agents >= 4
    clock.now += 1
    results = await host.submit("east", [ev.ContactArrived(0, f"c{i}", "billing")
                                         for i in range(5)])
    assert all(result.error is None for result in results)
    clock.now += 2
    # An answered contact: accepted, then connected; one caller hangs up while queued.
    offered = [cid for cid in ("c0", "c1", "c2", "c3", "c4")
               if host.sites["east"].contacts[cid].state is ContactState.OFFERED]
    assert len(offered) == 2        # two ready agents
    await host.submit(None, [ev.OfferAccepted(0, offered[0]), ev.ContactConnected(0, offered[0])])
    await host.submit(None, [ev.ContactAbandoned(0, "c4")])
    # A refused event is not journaled (and changes nothing).
    before = journal_rows(url)
    bad = await host.submit(None, [ev.ContactEnded(0, "nope")])
    assert bad[0].error is not None and bad[0].error.field == "contact_id"
    assert journal_rows(url) == before
    seen = contact_states(host)
    host.validate()
    return host, seen


def test_a_crashed_router_comes_back_with_every_contact_where_it_was(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    clock = FakeClock()
    crashed, seen = run(first_life(url, clock))
    assert seen["live"] and seen["final"]["c4"][0] is ContactState.ABANDONED
    # No close: the process is gone. Its calls returned, so their events are durable.

    async def second_life():
        clock.now += 5
        host, recovery = await open_durable_host(load_config(), url, clock=clock)
        assert set(recovery.recovered) == {"east", "west"} and recovery.started == []
        assert contact_states(host) == seen
        host.validate()
        # Time goes on from where the sites were, not from 0 (the core refuses going back).
        assert host.now() >= max(state.now for state in host.sites.values())
        # Every recovered contact can still be driven to its one final state.
        east = host.sites["east"]
        for _ in range(50):         # bounded: each pass moves every live contact one step on
            if not east.contacts:
                break
            for cid, contact in list(east.contacts.items()):
                if contact.state is ContactState.CONNECTED:
                    await host.submit(None, [ev.ContactEnded(0, cid)])
                elif contact.state is ContactState.OFFERED:
                    await host.submit(None, [ev.OfferAccepted(0, cid),
                                             ev.ContactConnected(0, cid)])
                elif contact.state is ContactState.WRAP_UP:
                    await host.submit("east", [ev.WrapUpDone(0, contact.agent_id)])
                elif contact.state is ContactState.QUEUED:
                    pass        # an agent takes it once one frees up
        assert not any(state.contacts for state in host.sites.values())
        finals = {cid: host.final_state(cid)[0] for cid in ("c0", "c1", "c2", "c3", "c4")}
        assert finals == {"c0": ContactState.COMPLETED, "c1": ContactState.COMPLETED,
                          "c2": ContactState.COMPLETED, "c3": ContactState.COMPLETED,
                          "c4": ContactState.ABANDONED}
        assert east.agents["east-g0-0"].state is AgentState.READY
        host.validate()
        await close_durable_host(host)

    run(second_life())
    # A third life sees the second one's ends too.

    async def third_life():
        host, recovery = await open_durable_host(load_config(), url, clock=clock)
        assert not any(state.contacts for state in host.sites.values())
        assert host.final_state("c0") is not None and host.final_state("c4")[0] is ContactState.ABANDONED
        await close_durable_host(host)
    run(third_life())


def test_contact_records_reach_the_store(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"

    async def life():
        host, _ = await open_durable_host(load_config(), url, clock=FakeClock())
        await host.submit("west", [ev.AgentLoggedIn(0, "west-g0-0"), ev.AgentReady(0, "west-g0-0")])
        await host.submit("west", [ev.ContactArrived(0, "r1", "billing", data={"card": "4111111111111111"})])
        await host.submit(None, [ev.OfferAccepted(0, "r1"), ev.ContactConnected(0, "r1"),
                                 ev.ContactEnded(0, "r1")])
        await host.submit("west", [ev.WrapUpDone(0, "west-g0-0")])
        await close_durable_host(host)
    run(life())
    engine = open_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT contact_id, final_state FROM contact_records")).all()
        dump = " ".join(str(row) for row in connection.execute(
            sa.text("SELECT * FROM contact_records")).all())
    engine.dispose()
    assert [(row[0], row[1]) for row in rows] == [("r1", "completed")]
    assert "4111111111111111" not in dump


def test_a_store_that_fails_stops_the_router_and_announces_nothing(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"

    async def life():
        host, _ = await open_durable_host(load_config(), url, clock=FakeClock())
        sub = host.subscribe_routing() if hasattr(host, "subscribe_routing") else None

        async def broken_flush():
            raise OSError("disk full")
        host.persistence.flush = broken_flush
        with pytest.raises(HostClosed):
            await host.submit("east", [ev.AgentLoggedIn(0, "east-g0-0")])
        assert host.closed
        if sub is not None:
            assert sub.drain() == []
        with pytest.raises(HostClosed):
            await host.submit("east", [ev.AgentReady(0, "east-g0-0")])
    run(life())

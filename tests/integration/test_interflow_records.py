"""The contact record of an interflowed contact, on both runtimes (issue 16 item 3): one row
per contact, starting where and when the caller first arrived, with the site that served it
and the service level judged from the first arrival; the serving site's statistics count
the wait from then too.

c1 arrives at east (only e1 there, not ready: it queues), waits 25 s, then w1 becomes ready
at west and pulls it (Best Service Routing), answers 2 s later and hangs up 30 s after: a
wait of 27 s from the first arrival, beyond billing's 20 s threshold, 2 s from the move.

- in-process: a CoreHost journaled to SQLite (`open_durable_host`), one Recorder for both
  sites;
- Ray: a RayHost with a SQLite `SiteStore`: each site actor records its own site, and the
  record travels with the contact (`ContactArrived.record`, journaled at west).
"""

from __future__ import annotations

import asyncio
import json

import pytest

# First: cluster.ray_runtime keeps Ray on loopback and must be imported before Ray.
from cluster import ray_runtime  # noqa: F401  # isort: skip

import sqlalchemy as sa

from cluster.config import parse_config
from cluster.host import Interflowed
from cluster.store.db import open_engine
from cluster.store.migrate import upgrade
from sites import events as ev
from sites.actions import OfferContact
from sites.model import ContactState
from tests.integration.conftest import TWO_SITES, FakeClock

pytestmark = pytest.mark.integration

DATA = {"ani": "+15551234567", "dnis": "+18005550100", "customer_id": "C-42",
        "account": "A-1"}
WAIT_AT_EAST_S, RING_S, TALK_S = 25.0, 2.0, 30.0


def rows(url, sql, **parameters) -> list:
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(sa.text(sql), parameters)]
    finally:
        engine.dispose()


def _json(payload):
    return json.loads(payload) if isinstance(payload, str) else payload   # SQLite: text


async def pulled_to_west(host, clock) -> tuple:
    """The story of the module docstring; (routed actions of the pull, west's statistics
    after the answer)."""
    await host.submit("west", [ev.AgentLoggedIn(0.0, "w1")])
    await host.submit("east", [ev.AgentLoggedIn(0.0, "e1")])
    clock.advance(1.0)
    results = await host.submit("east", [ev.ContactArrived(0.0, "c1", "billing", data=DATA)])
    assert results[0].error is None
    assert (await host.contact_view("c1")).state is ContactState.QUEUED
    clock.advance(WAIT_AT_EAST_S)
    results = await host.submit("west", [ev.AgentReady(0.0, "w1")])
    pulled = [routed.action for routed in results[0].actions
              if getattr(routed.action, "contact_id", None) == "c1"]
    clock.advance(RING_S)
    await host.submit(None, [ev.OfferAccepted(0.0, "c1")])
    statistics = await host.statistics("west", "billing")
    clock.advance(TALK_S)
    await host.submit(None, [ev.ContactEnded(0.0, "c1")])
    assert host.final_state("c1") == (ContactState.COMPLETED, "west")
    return pulled, statistics


def check(url, pulled, statistics, *, carried: bool) -> None:
    assert [type(action) for action in pulled] == [Interflowed, OfferContact], pulled
    assert (pulled[0].from_site, pulled[0].to_site) == ("east", "west")
    offer = pulled[1]
    assert offer.agent_id == "w1" and offer.data == DATA     # ANI, DNIS, customer id, data
    wait = WAIT_AT_EAST_S + RING_S
    assert (statistics.answered, statistics.asa_s, statistics.sl_pct) == (1, wait, 0.0)

    (record,) = rows(url, "SELECT * FROM contact_records")
    assert record["contact_id"] == "c1"
    assert (record["entry_site"], record["served_site"], record["final_site"]) == (
        "east", "west", "west")
    assert (record["ani"], record["dnis"], record["customer_id"]) == (
        "+*******4567", "+18005550100", "C-42")
    assert (record["final_state"], record["agent_id"], record["interflows"],
            record["offers"], record["queue_position"]) == ("completed", "w1", 1, 1, 1)
    assert record["offer_time"] - record["arrival_time"] == WAIT_AT_EAST_S
    assert record["answer_time"] - record["arrival_time"] == wait > record["sl_threshold_s"]
    assert record["end_time"] - record["answer_time"] == TALK_S

    arrivals = {row["site"]: (row["time"], _json(row["payload"])) for row in rows(
        url, "SELECT site, time, payload FROM journal WHERE event_type = 'ContactArrived'")}
    assert arrivals["east"][0] == record["arrival_time"]
    moved_at, payload = arrivals["west"]
    assert moved_at - record["arrival_time"] == WAIT_AT_EAST_S
    assert (payload["entry_site"], payload["first_arrival"], payload["data"]) == (
        "east", record["arrival_time"], DATA)
    if carried:     # the record east kept, handed on: its arrival and queue treatment there
        assert payload["record"]["arrivals"] == [["east", record["arrival_time"]]]
        assert payload["record"]["queue_position"] == 1
    else:           # one Recorder saw both sites
        assert "record" not in payload


def test_in_process_records_an_interflowed_contact_from_its_first_arrival(tmp_path):
    from cluster.durable import close_durable_host, open_durable_host

    url = f"sqlite:///{tmp_path}/vcc.db"
    clock = FakeClock(0.0)

    async def scenario():
        host, _ = await open_durable_host(parse_config(TWO_SITES, "test.yaml"), url,
                                          clock=clock)
        try:
            return await pulled_to_west(host, clock)
        finally:
            await close_durable_host(host)

    pulled, statistics = asyncio.run(asyncio.wait_for(scenario(), 60))
    check(url, pulled, statistics, carried=False)


@pytest.mark.usefixtures("module_ray")
def test_ray_records_an_interflowed_contact_from_its_first_arrival(tmp_path):
    from cluster.ray_host import RayHost
    from cluster.store.site_store import SiteStore
    from tests.integration.test_ray_host import EVERY_SITE_NO_SHEDDING

    url = f"sqlite:///{tmp_path}/vcc.db"
    engine = open_engine(url)
    upgrade(engine)         # as the gateway does before it starts journaled actors
    engine.dispose()
    clock = FakeClock(0.0)
    host = RayHost(parse_config(TWO_SITES, "test.yaml"), clock=clock, named=False,
                   store=SiteStore(url), call_timeout_s=20.0,
                   **EVERY_SITE_NO_SHEDDING)    # c1 must be pulled, whatever the load

    async def scenario():
        try:
            found = await pulled_to_west(host, clock)
            await host.check()
            return found
        finally:
            await host.close()

    try:
        pulled, statistics = asyncio.run(asyncio.wait_for(scenario(), 120))
    finally:
        host.kill_actors()
    check(url, pulled, statistics, carried=True)

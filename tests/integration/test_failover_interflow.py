"""An interflowed contact survives a SIGKILLed leader on the Ray runtime (issue 16 item 3).

Two `vcc serve --runtime ray --etcd` gateways on one PostgreSQL journal and a real etcd,
two sites (east: e1, west: w1) under Best Service Routing. A PBX link sends c1 to east with
ANI, DNIS, customer id and attached data; nobody is ready, so it queues there. After a
wait, w1 becomes ready at west and pulls c1 (interflow east -> west, offered to w1). The
leader is SIGKILLed; the standby takes over. On its resumed link the PBX gets c1's next
actions: the open offer again (from west, to w1, with all its data: its PBX link, the
contact's `origin`, went with it to west and was journaled there), then, once it answers
and hangs up, `finished` (completed at west). The serving site's statistics and the
contact's one record count its wait from its first arrival at east.

etcd or PostgreSQL missing: fail in CI, skip elsewhere. Every process started is killed and
the schema dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import pytest
import sqlalchemy as sa

from loadtests.failover_drill import close_link, serving
from tests.integration.etcd_server import require_etcd
from tests.integration.gateways import (ResumingPbx, diagnostics, leader_of, two_gateways,
                                        wait_for)
from tests.integration.postgres import URL as PG
from tests.integration.postgres import require_postgres

pytestmark = pytest.mark.integration

TTL_S = 3.0
WAIT_AT_EAST_S = 1.5
CONFIG = """\
skills:
  billing: {queueing: dqp, sl_threshold_s: 20, wrap_up_s: 0, offer_timeout_s: 120}
sites:
  east:
    agents:
      - {ids: [e1], skills: {billing: 1}}
  west:
    agents:
      - {ids: [w1], skills: {billing: 1}}
routing: {multisite: bsr, adjust_by: 10}
"""
SPEC = {"ani": "+15551234567", "dnis": "+18005550100", "customer_id": "C-42"}
ATTACHED = {"account": "A-1", "reason": "billing question"}


@pytest.fixture
def ray_gateways(tmp_path):
    """etcd, a fresh schema and two `--runtime ray` gateways (tests/integration/gateways.py)."""
    if os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0"):     # as test_failover.py
        pytest.skip("VCC_PURE_PYTHON=1: the Ray-runtime failover tests run in the compiled pass")
    require_etcd()
    require_postgres(PG)
    with two_gateways(tmp_path, CONFIG, "interflow", TTL_S, "ray") as built:
        yield built


def test_an_interflowed_contact_survives_a_sigkilled_ray_leader(ray_gateways):
    from vcc.v1 import agent_control_pb2, call_control_pb2, common_pb2, routing_pb2

    from cluster.client import VccClient

    gateways, engine = ray_gateways
    first = wait_for(lambda: leader_of(gateways), 60, step=0.2)
    assert first is not None, diagnostics(gateways)
    standby = next(g for g in gateways if g is not first)
    old_term = first.leading_term()
    took = {}

    async def scenario():
        async with VccClient([g.address for g in gateways]) as vcc:
            for site, agent in (("east", "e1"), ("west", "w1")):     # logged in, not ready
                await vcc.call(lambda c: c.agents.Login, agent_control_pb2.AgentRequest(
                    site=site, agent_id=agent), retry_for_s=30)
            link = vcc.pbx_link(f"pbx-{uuid.uuid4().hex[:8]}")
            await link.connect()
            pbx = ResumingPbx(link)
            receiver = asyncio.ensure_future(pbx.receive())
            try:
                link.send(call_control_pb2.PbxEvent(arrived=common_pb2.ContactSpec(
                    contact_id="c1", site="east", skill="billing", data=ATTACHED, **SPEC)))
                await link.flush()
                _, queued = await pbx.next("c1", "queued")
                assert queued.site == "east"
                await asyncio.sleep(WAIT_AT_EAST_S)
                await vcc.call(lambda c: c.agents.SetState, agent_control_pb2.SetStateRequest(
                    site="west", agent_id="w1", state=common_pb2.AGENT_STATE_READY),
                    retry_for_s=30)
                _, moved = await pbx.next("c1", "interflow")
                assert (moved.from_site, moved.to_site) == ("east", "west")
                before, offer = await pbx.next("c1", "route_to_agent")
                assert (offer.site, offer.agent_id) == ("west", "w1")
                assert dict(offer.data) == {**ATTACHED, **SPEC}

                killed_at = time.monotonic()
                first.signal(signal.SIGKILL)
                await asyncio.to_thread(first.process.wait, 5)
                leads = await asyncio.to_thread(
                    wait_for, lambda: serving(standby.address, 0.5), TTL_S + 15, 0.05)
                assert leads, diagnostics(gateways)
                took["s"] = time.monotonic() - killed_at

                # The new leader announces the open offer again on the resumed link: it
                # knows c1's link at west, and c1 kept its data there.
                stream, again = await pbx.next("c1", "route_to_agent", after_stream=before,
                                               timeout=60)
                assert (again.site, again.agent_id) == ("west", "w1")
                assert dict(again.data) == {**ATTACHED, **SPEC}
                link.send(call_control_pb2.PbxEvent(answered="c1"))
                await link.flush()
                statistics = await wait_answered(vcc)
                link.send(call_control_pb2.PbxEvent(ended="c1"))
                await link.flush()
                ended_on, finished = await pbx.next("c1", "finished", after_stream=before,
                                                    timeout=30)
                assert finished.final_state == common_pb2.CONTACT_STATE_COMPLETED
                assert finished.site == "west" and ended_on > before
                assert [kind for _, kind, payload in pbx.seen
                        if payload.contact_id == "c1" and kind == "finished"] == ["finished"]
                assert not [payload for _, kind, payload in pbx.seen if kind == "error"]
                return statistics
            finally:
                pbx.closing = True
                await close_link(link, receiver)

    async def wait_answered(vcc):
        """West's billing statistics once it counts c1 answered (bounded)."""
        request = routing_pb2.GetStatisticsRequest(site="west", skill="billing")
        deadline = time.monotonic() + 20
        while True:
            reply = await vcc.call(lambda c: c.routing.GetStatistics, request, retry_for_s=20)
            (skill,) = reply.skills
            if skill.answered or time.monotonic() > deadline:
                return skill
            await asyncio.sleep(0.1)

    statistics = asyncio.run(asyncio.wait_for(scenario(), 180))
    print(f"takeover {took['s']:.2f} s after SIGKILL")
    assert standby.leading_term() > old_term

    # One record: entry at east when it first arrived, served at west, SL from then.
    def record():
        with engine.connect() as connection:
            return connection.execute(sa.text(
                "SELECT * FROM contact_records WHERE contact_id = 'c1'")).mappings().all()
    rows = wait_for(record, 15, step=0.2)
    assert len(rows) == 1, rows
    row = rows[0]
    with engine.connect() as connection:
        arrivals = {site: (at, payload) for site, at, payload in connection.execute(sa.text(
            "SELECT site, time, payload FROM journal WHERE event_type = 'ContactArrived'"))}
    assert set(arrivals) == {"east", "west"}
    first_arrival, _ = arrivals["east"]
    moved_at, payload = arrivals["west"]
    assert moved_at - first_arrival >= WAIT_AT_EAST_S
    assert (payload["entry_site"], payload["first_arrival"]) == ("east", first_arrival)
    assert payload["data"] == {**ATTACHED, **SPEC} and payload["origin"]
    assert (row["entry_site"], row["served_site"], row["final_site"], row["final_state"],
            row["interflows"], row["agent_id"]) == ("east", "west", "west", "completed", 1,
                                                    "w1")
    assert row["arrival_time"] == first_arrival
    assert row["answer_time"] - row["arrival_time"] >= WAIT_AT_EAST_S
    # The serving site (recovered by the new leader) counts c1's wait from its first
    # arrival at east, not from its arrival at west.
    assert statistics.answered == 1, statistics
    assert statistics.asa_s == pytest.approx(row["answer_time"] - first_arrival, abs=1e-6)
    assert statistics.asa_s - (row["answer_time"] - moved_at) >= WAIT_AT_EAST_S
    assert (row["ani"], row["dnis"], row["customer_id"]) == (
        "+*******4567", "+18005550100", "C-42")

"""Blended campaigns in `vcc serve` (SPEC §6, issue 19 item 5): three agents serve an inbound
skill (support) and a progressive campaign's skill; the campaign blends with
`protect_inbound_sl_pct`. A fake PBX (test_dialer_pbx.py) dials what the router asks and
sends inbound calls on the same link. Checked, on both runtimes:
- nothing is dialled while an inbound caller waits;
- then the campaign holds agents (not ready, reason `outbound`) and dials for them, never
  more calls up at once than the agents inbound can spare (3 agents, a quiet inbound skill
  needs 1: at most 2), and each live answer is taken by an agent;
- an inbound call that comes meanwhile is answered; every contact ends in one final state;
- when the list is done every agent is ready again (released);
- a blended campaign whose agents serve no inbound skill is refused by name.
"""

from __future__ import annotations

import asyncio
import textwrap
import time

import grpc
import pytest

from cluster.client import VccClient
from tests.integration.test_cli_serve import start, stop
from tests.integration.test_dialer_pbx import CONFIG as OUTBOUND_ONLY, LIVE, FakePbx, number
from tests.twin_pass import compiled_pass_only
from vcc.v1 import admin_pb2, agent_control_pb2, common_pb2

pytestmark = pytest.mark.integration

# A one-second statistics window: the campaign trusts the inbound figures after 1 s (blend.py
# waits the window, at most 300 s) instead of five minutes.
CONFIG = textwrap.dedent("""\
    skills:
      support: {sl_threshold_s: 20, wrap_up_s: 0}
      outbound_sales: {sl_threshold_s: 2, wrap_up_s: 0}
    sites:
      east:
        statistics_window_s: 1
        agents:
          - {count: 3, skills: {support: 1, outbound_sales: 1},
             channels: {voice: 1, outbound: 1}}
    routing: {multisite: local}
    """)
AGENTS = [f"east-g0-{n}" for n in range(3)]
RECORDS = 12
SPARE = 2           # agents the campaign may take: 3, less 1 for the quiet inbound skill


class CountingPbx(FakePbx):
    """FakePbx that also notes how many campaign calls are up (dialled, not yet over)."""

    def __init__(self, client):
        super().__init__(client)
        self.up = set()
        self.most_up = 0

    def handle(self, action):
        kind = action.WhichOneof("action")
        if kind == "dial":
            self.up.add(action.dial.call_id)
            self.most_up = max(self.most_up, len(self.up))
        super().handle(action)
        if kind == "finished":
            self.up.discard(action.finished.contact_id)

    def send(self, **event):
        progress = event.get("call_progress")
        if progress is not None and progress.outcome != LIVE:
            self.up.discard(progress.call_id)
        super().send(**event)


def inbound(pbx, contact_id):
    pbx.send(arrived=common_pb2.ContactSpec(contact_id=contact_id, site="east",
                                            skill="support"))


async def agent_states(client) -> dict:
    reply = await client.admin.ListAgents(admin_pb2.ListRequest(site="east"), timeout=10)
    return {agent.agent_id: agent.state for agent in reply.agents}


async def blend(port):
    async with VccClient(f"127.0.0.1:{port}") as client:
        for agent in AGENTS:
            await client.agents.Login(agent_control_pb2.AgentRequest(
                site="east", agent_id=agent), timeout=10)
        await client.admin.PutCampaign(admin_pb2.Campaign(
            name="renewals", site="east", skill="outbound_sales", mode="progressive",
            protect_inbound_sl_pct=80), timeout=10)
        await client.admin.ImportCampaignList(admin_pb2.CampaignListRows(
            campaign="renewals", rows=[admin_pb2.CampaignListRow(
                id=f"r{index}", phone=number(index), timezone="America/New_York")
                for index in range(RECORDS)]), timeout=10)
        pbx = CountingPbx(client)
        reader = asyncio.ensure_future(pbx.run())
        try:
            # Nobody is ready: the inbound caller waits, and the campaign must not dial.
            inbound(pbx, "in-1")
            started = await client.admin.StartCampaign(
                admin_pb2.CampaignKey(name="renewals"), timeout=30)
            assert started.state == admin_pb2.CAMPAIGN_STATE_RUNNING
            await asyncio.sleep(2.5)
            assert not pbx.dials, "dialled while an inbound caller waited"
            for agent in AGENTS:
                await client.agents.SetState(agent_control_pb2.SetStateRequest(
                    site="east", agent_id=agent, state=common_pb2.AGENT_STATE_READY),
                    timeout=10)
            held_seen = set()
            sent_second = False
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:          # bounded: 60 s
                states = await agent_states(client)
                held_seen |= {agent for agent, state in states.items()
                              if state == common_pb2.AGENT_STATE_NOT_READY}
                if pbx.dials and not sent_second:
                    inbound(pbx, "in-2")                # a caller while the campaign dials
                    sent_second = True
                over = set(pbx.finished) | {call for call in pbx.dials if call not in pbx.live}
                if (len(pbx.dials) == RECORDS and over >= set(pbx.dials)
                        and {"in-1", "in-2"} <= set(pbx.finished)):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)        # releases, and anything late, show up now
            return pbx, held_seen, await agent_states(client)
        finally:
            pbx.close()
            reader.cancel()


@pytest.mark.parametrize("runtime", ["inprocess", "ray"])
def test_a_blended_campaign_dials_only_for_agents_inbound_can_spare(tmp_path, runtime):
    compiled_pass_only("campaign hosting in vcc serve, not the scheduler")
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    process, port = start("--runtime", runtime, "--config", str(config), "--db",
                          f"sqlite:///{tmp_path / 'vcc.db'}")
    try:
        pbx, held_seen, states = asyncio.run(asyncio.wait_for(blend(port), 150))
    finally:
        assert stop(process) == 0
    assert not pbx.errors
    assert len(pbx.dials) == RECORDS
    # Each call was dialled for an agent the campaign held; never more up than spared.
    assert all(dial.agent_id in AGENTS for dial in pbx.dials.values())
    assert 1 <= pbx.most_up <= SPARE, pbx.most_up
    assert held_seen, "no agent was ever held (not ready) for a call"
    # Each live answer was taken by an agent and ended once. (The agent held for it is
    # made ready just after the answer enters, at top: an idle agent of the skill may take
    # it first, as in `vcc simulate`; the held one is then free for inbound.)
    for call in pbx.live:
        assert pbx.finished.get(call) == [common_pb2.CONTACT_STATE_COMPLETED], call
        assert pbx.offers[call] in AGENTS, call
    # Inbound callers were answered; nothing else ended.
    for contact in ("in-1", "in-2"):
        assert pbx.finished.get(contact) == [common_pb2.CONTACT_STATE_COMPLETED], contact
    assert set(pbx.finished) == pbx.live | {"in-1", "in-2"}
    # The list is done: every agent the campaign held is ready again.
    assert set(states.values()) == {common_pb2.AGENT_STATE_READY}, states


def test_a_blended_campaign_needs_agents_with_inbound_skills(tmp_path):
    compiled_pass_only("campaign hosting in vcc serve, not the scheduler")
    config = tmp_path / "center.yaml"
    config.write_text(OUTBOUND_ONLY)
    process, port = start("--runtime", "inprocess", "--config", str(config), "--db",
                          f"sqlite:///{tmp_path / 'vcc.db'}")

    async def refused():
        async with VccClient(f"127.0.0.1:{port}") as client:
            await client.admin.PutCampaign(admin_pb2.Campaign(
                name="renewals", site="east", skill="outbound_sales", mode="progressive",
                protect_inbound_sl_pct=80), timeout=10)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await client.admin.StartCampaign(admin_pb2.CampaignKey(name="renewals"),
                                                 timeout=30)
            return raised.value
            # (a predictive campaign cannot blend: refused by PutCampaign, the core's check)

    try:
        error = asyncio.run(asyncio.wait_for(refused(), 60))
    finally:
        assert stop(process) == 0
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "protect_inbound_sl_pct" in error.details()
    assert "serve no inbound skill" in error.details()

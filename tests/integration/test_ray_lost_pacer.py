"""A campaign's pacer actor killed on the Ray runtime (as when its node is lost: Ray does
not restart a pacer) is rebuilt from the campaign journal by the host at the campaign's
next step, which it then applies: the campaign goes on dialling, each record once.
tests/unit/test_campaign_lost_pacer.py checks the rebuilt pacer against the old one."""

from __future__ import annotations

import asyncio
import time
import types

import pytest

from actors.site_actor import ActorUnavailable
from cluster.campaigns.definition import DEFAULTS
from cluster.campaigns.hosting import CampaignHost
from cluster.campaigns.journal import CampaignJournal
from cluster.config import parse_config
from cluster.store.db import open_engine
from cluster.store.migrate import upgrade
from sites import events as ev
from sites.dialer import events as dev
from sites.dialer.decisions import Dial
from tests.twin_pass import compiled_pass_test

CENTER = """
skills:
  sales: {sl_threshold_s: 20}
sites:
  east:
    agents:
      - {ids: [a1, a2], skills: {sales: 1}, channels: {outbound: 1}}
"""
RECORDS = 6
ROWS = [(f"r{n}", f"+1202555{n:04d}", "America/New_York", "") for n in range(RECORDS)]


@compiled_pass_test("a Ray variant: tests/unit/test_campaign_lost_pacer.py runs in both")
def test_a_killed_pacer_actor_is_rebuilt_and_its_campaign_dials_on(module_ray, tmp_path):
    from cluster.ray_host import RayHost

    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    upgrade(engine)
    host = RayHost(parse_config(CENTER, "center.yaml"), named=False)
    store = types.SimpleNamespace(list_rows=lambda name: list(ROWS))
    campaigns = CampaignHost(host, store, journal=CampaignJournal(engine))
    campaigns.token = 1
    dialled = []

    async def carry_out(hosted, decisions, now):
        dialled.extend(decision for decision in decisions if type(decision) is Dial)

    campaigns._carry_out = carry_out

    async def rows():
        return list(ROWS)

    async def main():
        try:
            await host.submit("east", [event for agent in ("a1", "a2") for event in (
                ev.AgentLoggedIn(0.0, agent), ev.AgentReady(0.0, agent))])
            document = {**DEFAULTS, "name": "c", "site": "east", "skill": "sales",
                        "mode": "progressive"}
            await campaigns.start(document, "draft", RECORDS, rows)
            hosted = campaigns.hosted["c"]
            hosted.state = "paused"             # the test paces it, one step at a time
            await campaigns._feed(hosted, lambda now: campaigns._pace_events(hosted, now))
            first = [dial.call_id for dial in dialled]
            assert len(first) == 2
            dead = hosted.pacer
            dead.kill(restart=False)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:          # bounded: until Ray says it is gone
                try:
                    await dead.snapshot()
                except ActorUnavailable:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the pacer's actor did not die")
            await campaigns._feed(hosted, lambda now: [dev.CallProgress(
                now, first[0], dev.CallOutcome.BUSY)])
            assert hosted.pacer is not dead
            await campaigns._feed(hosted, lambda now: campaigns._pace_events(hosted, now))
            return hosted.pacer
        finally:
            await campaigns.close()
            await host.close()

    try:
        pacer = asyncio.run(asyncio.wait_for(main(), 120))
        host.stop_pacer(pacer)
    finally:
        host.kill_actors()
        engine.dispose()
    # r0 busy, r1 still ringing: the rebuilt pacer dialled r2 for the agent r0's call freed.
    assert [(dial.call_id, dial.record_id) for dial in dialled] == [
        ("c-0", "r0"), ("c-1", "r1"), ("c-2", "r2")]

"""A campaign's host while a site's actor is being recovered (the Ray host answers
SiteUnavailable, a HostClosed, for that site meanwhile):

- a pace that cannot read its agents dials nothing and is tried again soon. Before, nothing
  armed the next one: a progressive campaign is paced on events, so with no call up and its
  agents already idle it waited for an event that never came, and dialled no more;
- a hold the site cannot apply is refused (the record is previewed next, once it can);
- a live answer the site cannot take is abandoned with the message at once, not left in
  silence with the pacer counting it up for ever.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import types

from actors.dialer_actor import DialerActor
from actors.site_actor import ActorUnavailable
from cluster.campaigns import hosting
from cluster.campaigns.definition import DEFAULTS
from cluster.campaigns.hosted import Hosted, Up
from cluster.campaigns.hosting import CampaignHost
from cluster.local_pacers import _LocalPacer
from cluster.ray_jobs import SiteUnavailable
from sites.dialer import events as dev
from sites.dialer.decisions import Connect, Dial, PlayMessage
from sites.dialer.do_not_call import DoNotCall
from sites.dialer.snapshot import Activity, AgentsSnapshot, AgentView
from sites.model import ContactState

RECORDS = 5
WAIT_S = 2.0


class _Host:
    """What a campaign's host uses of a host; the site is unavailable for the first
    `reads_failing` agent reads and `submits_failing` submits."""

    def __init__(self, agents=("a1", "a2"), reads_failing=0, submits_failing=0):
        self.agents = agents
        self.reads_failing, self.submits_failing = reads_failing, submits_failing
        self.reads = self.submits = 0
        self.submitted = []

    @staticmethod
    def now():
        return time.monotonic()

    @staticmethod
    def observe_applied(callback):
        pass

    @staticmethod
    def _fan_out(routed):
        pass

    @staticmethod
    async def contact_view(contact_id):
        return None                 # the live answer never reached the site

    @staticmethod
    def _unavailable(site):
        return SiteUnavailable(ActorUnavailable(site, "being recovered"))

    async def skill_agents(self, site, skill, outbound=None):
        self.reads += 1
        if self.reads <= self.reads_failing:
            raise self._unavailable(site)
        return AgentsSnapshot(tuple(AgentView(agent, Activity.IDLE) for agent in self.agents))

    async def submit(self, site, events, link_id=None):
        self.submits += 1
        if self.submits <= self.submits_failing:
            raise self._unavailable(site)
        self.submitted.extend(events)
        return [types.SimpleNamespace(error=None) for _ in events]

    async def submit_batch(self, batch, link_id=None):
        return await self.submit(batch[0][0], [event for _, event in batch])


def _campaign(host, mode):
    campaigns = CampaignHost(host, None)
    hosted = Hosted({**DEFAULTS, "name": "c", "site": "east", "skill": "sales",
                     "mode": mode}, "running", RECORDS)
    ids = tuple(f"r{n}" for n in range(RECORDS))
    hosted.pacer = _LocalPacer(DialerActor(hosted.config, ids, [0] * RECORDS, ((),),
                                           tuple(f"k{n}" for n in ids), DoNotCall()))
    campaigns.hosted[hosted.name] = hosted
    campaigns._link_for = lambda site: object()         # a PBX link serves the site
    sent = []
    campaigns._dial = lambda hosted, decision, now: sent.append(decision)
    campaigns._to_link = lambda hosted, up, decision, now: sent.append(decision)
    return campaigns, hosted, sent


async def _until(done, campaigns, hosted):
    deadline = time.monotonic() + WAIT_S
    while not done() and time.monotonic() < deadline:          # bounded
        await asyncio.sleep(0.01)
    campaigns.closed = True
    campaigns._cancel_timer(hosted)


def _paced(host):
    campaigns, hosted, sent = _campaign(host, "progressive")

    async def main():
        campaigns._pace_soon(hosted)
        await _until(lambda: len(sent) >= 2, campaigns, hosted)

    asyncio.run(main())
    return [dial.record_id for dial in sent if type(dial) is Dial]


def test_a_pace_whose_site_is_unavailable_is_tried_again(monkeypatch):
    monkeypatch.setattr(hosting, "PACE_RETRY_S", 0.05)
    host = _Host(reads_failing=3)
    assert _paced(host) == ["r0", "r1"]          # one call for each idle agent, once
    assert host.reads == 4                       # three refused reads, then the pace


def test_a_pace_that_reads_its_agents_dials_at_once():
    host = _Host()
    assert _paced(host) == ["r0", "r1"] and host.reads == 1


def test_a_preview_hold_the_site_cannot_apply_is_refused_and_previewed_again():
    host = _Host(agents=("a1",), submits_failing=1)
    campaigns, hosted, sent = _campaign(host, "preview")

    async def main():
        campaigns._pace_soon(hosted)
        await _until(lambda: hosted.previews, campaigns, hosted)

    asyncio.run(main())
    assert hosted.previews == {"a1": "r0"} and hosted.holding == {"a1"}
    assert [type(event).__name__ for event in host.submitted] == ["AgentHeld"]
    assert hosted.pacer.actor.campaign.in_preview() == [("a1", "r0")]
    assert sent == []


async def _answered_live(host, campaigns, hosted) -> Connect:
    """The pacer's first call (c-0), dialled for the one idle agent and answered live: the
    Connect the host is to carry out."""
    pacer = hosted.pacer.actor
    (dial,) = pacer.step([dev.Pace(0.0, await host.skill_agents("east", "sales"))],
                         0.0).decisions
    hosted.calls[dial.call_id] = Up(dial.record_id, "link-1")
    campaigns._calls[dial.call_id] = hosted
    (connect,) = pacer.step([dev.CallProgress(1.0, dial.call_id, dev.CallOutcome.LIVE)],
                            1.0).decisions
    assert type(connect) is Connect
    return connect


def test_a_live_answer_the_site_cannot_take_is_abandoned_with_the_message():
    host = _Host(agents=("a1",), submits_failing=1)
    campaigns, hosted, sent = _campaign(host, "progressive")
    pacer = hosted.pacer.actor

    async def main():
        connect = await _answered_live(host, campaigns, hosted)
        await campaigns._connect(hosted, connect, host.now())
        await _until(lambda: pacer.campaign.abandoned, campaigns, hosted)

    asyncio.run(main())
    assert pacer.campaign.abandoned == 1
    assert "c-0" not in [call[0] for call in pacer.campaign.open_calls()]
    assert [decision.call_id for decision in sent if type(decision) is PlayMessage] == ["c-0"]
    assert "c-0" not in hosted.calls


def test_a_live_answer_past_its_limit_is_checked_again_until_its_site_answers(monkeypatch):
    """The answer reached the site, then its actor went into recovery: past the 2 s limit
    the host cannot tell whether an agent took it, so it asks again (bounded) and abandons
    it, with the message, once the site says it still waits."""
    monkeypatch.setattr(hosting, "PACE_RETRY_S", 0.05)
    host = _Host(agents=("a1",))
    views = []

    async def contact_view(contact_id):
        views.append(contact_id)
        if len(views) <= 2:
            raise host._unavailable("east")
        return types.SimpleNamespace(state=ContactState.QUEUED)

    host.contact_view = contact_view
    campaigns, hosted, sent = _campaign(host, "progressive")
    pacer = hosted.pacer.actor

    async def main():
        connect = await _answered_live(host, campaigns, hosted)
        await campaigns._connect(hosted, dataclasses.replace(connect, within_s=0.05),
                                 host.now())
        await _until(lambda: pacer.campaign.abandoned, campaigns, hosted)

    asyncio.run(main())
    assert views == ["c-0"] * 3
    assert [type(event).__name__ for event in host.submitted] == [
        "ContactArrived", "ContactAbandoned"]
    assert pacer.campaign.abandoned == 1
    assert [decision.call_id for decision in sent if type(decision) is PlayMessage] == ["c-0"]

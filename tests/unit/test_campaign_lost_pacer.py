"""A campaign whose pacer is gone (its Ray actor died with its node; Ray does not restart
a pacer, actors/handles.py) goes on: the host rebuilds the pacer from the journal, as a
resume does (its newest snapshot and the entries after it), and gives it the events the
dead one never journaled. Before, every step of that campaign failed until the server
restarted: no dial, and live answers never connected."""

from __future__ import annotations

import asyncio
import time
import types

from actors.dialer_actor import DialerActor
from actors.site_actor import ActorUnavailable
from cluster.campaigns import hosting
from cluster.campaigns.definition import DEFAULTS
from cluster.campaigns.hosting import CampaignHost
from cluster.campaigns.journal import CampaignJournal
from cluster.local_pacers import _LocalPacer
from cluster.store.db import open_engine
from cluster.store.migrate import upgrade
from sites.calendars import WallClock
from sites.dialer import events as dev
from sites.dialer.decisions import Dial
from tests.unit.test_campaign_pace_retry import _Host

RECORDS = 12
ROWS = [(f"r{n}", f"+1202555{n:04d}", "America/New_York", "") for n in range(RECORDS)]


class _PacingHost(_Host):
    """The fake host of test_campaign_pace_retry, with the pacers' part of a host."""
    wall_clock = WallClock(1_780_000_000.0)
    plans = types.SimpleNamespace(calendars={})

    def __init__(self):
        super().__init__(agents=("a1", "a2"))
        self.pacers = []

    def start_pacer(self, name, *args):
        self.pacers.append(_LocalPacer(DialerActor(*args)))
        return self.pacers[-1]

    def stop_pacer(self, pacer):
        pass


class _Dead:
    """A pacer whose actor died."""

    async def step(self, events, now):
        raise ActorUnavailable("dialer-c", "the actor died unexpectedly")

    async def snapshot(self):
        raise ActorUnavailable("dialer-c", "the actor died unexpectedly")


def _campaign(tmp_path, snapshot_every):
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    upgrade(engine)
    host = _PacingHost()
    store = types.SimpleNamespace(list_rows=lambda name: list(ROWS))
    campaigns = CampaignHost(host, store, journal=CampaignJournal(engine, snapshot_every))
    campaigns.token = 1
    dialled = []

    async def carry_out(hosted, decisions, now):
        dialled.extend(decision for decision in decisions if type(decision) is Dial)

    campaigns._carry_out = carry_out
    return engine, host, campaigns, dialled


def test_a_lost_pacer_is_rebuilt_from_the_journal_and_decides_as_the_old_one(tmp_path):
    for snapshot_every in (1000, 3):            # from the start; from a snapshot
        directory = tmp_path / str(snapshot_every)
        directory.mkdir()
        engine, host, campaigns, dialled = _campaign(directory, snapshot_every)

        async def main():
            document = {**DEFAULTS, "name": "c", "site": "east", "skill": "sales",
                        "mode": "progressive"}
            await campaigns.start(document, "draft", RECORDS, _rows)
            hosted = campaigns.hosted["c"]
            hosted.state = "paused"             # the test paces it, one step at a time
            feed = campaigns._feed
            await feed(hosted, lambda now: campaigns._pace_events(hosted, now))
            first = [dial.call_id for dial in dialled]
            await feed(hosted, lambda now: [dev.CallProgress(now, first[0],
                                                             dev.CallOutcome.BUSY)])
            await feed(hosted, lambda now: campaigns._pace_events(hosted, now))
            await asyncio.sleep(0.2)            # a snapshot written beside the steps
            has_snapshot = campaigns.journal.read("c").pacer_state is not None
            assert has_snapshot == (snapshot_every == 3)
            survivor = hosted.pacer.actor       # what the dead actor had in it
            hosted.pacer = _Dead()
            # The dead actor's campaign takes a report; the rebuilt pacer applies it.
            await feed(hosted, lambda now: [dev.CallProgress(now, first[1],
                                                             dev.CallOutcome.NO_ANSWER)])
            rebuilt = hosted.pacer.actor
            assert rebuilt is not survivor and len(host.pacers) == 2
            stored = campaigns.journal.read("c", False)
            survivor.step(stored.steps[-1], stored.last_time)
            assert rebuilt.snapshot() == survivor.snapshot()
            # From here on both decide the same.
            before = len(dialled)
            await feed(hosted, lambda now: campaigns._pace_events(hosted, now))
            after = [(dial.call_id, dial.record_id) for dial in dialled[before:]]
            agents = await host.skill_agents("east", "sales")
            expected = survivor.step([dev.Pace(hosted.time, agents)], hosted.time).decisions
            assert after == [(dial.call_id, dial.record_id) for dial in expected]
            assert after, "the campaign dials again"
            return stored

        async def _rows():
            return list(ROWS)

        stored = asyncio.run(main())
        assert [type(event).__name__ for events in stored.steps for event in events] == [
            "Pace", "CallProgress", "Pace", "CallProgress"]
        engine.dispose()


def test_without_a_journal_a_lost_pacer_stays_lost(tmp_path):
    host = _PacingHost()
    campaigns = CampaignHost(host, None)

    async def main():
        document = {**DEFAULTS, "name": "c", "site": "east", "skill": "sales",
                    "mode": "progressive"}

        async def rows():
            return list(ROWS)

        await campaigns.start(document, "draft", RECORDS, rows)
        hosted = campaigns.hosted["c"]
        hosted.state = "paused"
        hosted.pacer = _Dead()
        try:
            await campaigns._feed(hosted, lambda now: [dev.Stop(now)])
        except ActorUnavailable:
            return True
        return False

    assert asyncio.run(main())


def _started(tmp_path):
    """A started progressive campaign, paced once (two calls ringing), its pacer dead."""
    engine, host, campaigns, dialled = _campaign(tmp_path, 1000)

    async def rows():
        return list(ROWS)

    async def start():
        document = {**DEFAULTS, "name": "c", "site": "east", "skill": "sales",
                    "mode": "progressive"}
        await campaigns.start(document, "draft", RECORDS, rows)
        hosted = campaigns.hosted["c"]
        hosted.state = "paused"
        await campaigns._feed(hosted, lambda now: campaigns._pace_events(hosted, now))
        hosted.pacer = _Dead()
        return hosted

    return engine, host, campaigns, start


def _journal_failing_once(journal) -> list:
    """The journal's first read fails (the store not answering); the reads made, kept."""
    read = journal.read
    reads = []

    def read_failing_once(*args):
        reads.append(args)
        if len(reads) == 1:
            raise OSError("the store is not answering")
        return read(*args)

    journal.read = read_failing_once
    return reads


def test_a_rebuild_that_fails_leaves_the_dead_pacer_for_the_next_step_to_try_again(
        tmp_path):
    engine, host, campaigns, start = _started(tmp_path)
    _journal_failing_once(campaigns.journal)

    async def main():
        hosted = await start()
        dead = hosted.pacer
        try:
            await campaigns._feed(hosted, lambda now: [dev.CallProgress(
                now, "c-0", dev.CallOutcome.BUSY)])
        except ActorUnavailable:
            pass
        else:
            raise AssertionError("a step its pacer could not take succeeded")
        assert hosted.pacer is dead and len(host.pacers) == 1      # nothing half-built
        await campaigns._feed(hosted, lambda now: [dev.CallProgress(
            now, "c-0", dev.CallOutcome.BUSY)])
        assert len(host.pacers) == 2 and hosted.pacer is host.pacers[-1]
        return hosted

    hosted = asyncio.run(main())
    assert [call[0] for call in hosted.pacer.actor.campaign.open_calls()] == ["c-1"]
    engine.dispose()


def test_a_campaign_this_host_no_longer_runs_is_not_rebuilt(tmp_path):
    engine, host, campaigns, start = _started(tmp_path)

    async def main():
        hosted = await start()
        del campaigns.hosted["c"]           # detached (a new term runs it), or deposed
        try:
            await campaigns._feed(hosted, lambda now: [dev.Stop(now)])
        except ActorUnavailable:
            return len(host.pacers)
        raise AssertionError("a step its pacer could not take succeeded")

    assert asyncio.run(main()) == 1         # no pacer started for it
    engine.dispose()


def test_a_pace_whose_pacer_could_not_be_rebuilt_yet_is_tried_again(tmp_path, monkeypatch):
    """A progressive campaign is paced on events: a pace that found its pacer gone and the
    store not answering must come back by itself, or nothing would ever dial again."""
    monkeypatch.setattr(hosting, "PACE_RETRY_S", 0.05)
    engine, host, campaigns, start = _started(tmp_path)
    campaigns._link_for = lambda site: object()         # a PBX link serves the site
    reads = _journal_failing_once(campaigns.journal)

    async def main():
        hosted = await start()                  # two calls dialled for the two agents
        host.agents = ("a1", "a2", "a3")        # a third agent is idle now
        hosted.state = "running"
        campaigns._pace_soon(hosted)
        deadline = time.monotonic() + 2.0
        while len(host.pacers) < 2 and time.monotonic() < deadline:     # bounded
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        campaigns.closed = True
        campaigns._cancel_timer(hosted)

    asyncio.run(main())
    assert len(reads) >= 2 and len(host.pacers) == 2        # failed once, then rebuilt
    engine.dispose()

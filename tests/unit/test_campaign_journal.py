"""The campaigns' journal (cluster/campaigns/journal.py): every pacer event survives the
store's JSON exactly (times included, so a replay sees what the pacer saw), a replay of the
journal rebuilds a pacer that decides as the original does from then on, and a second
server's claim deposes the first."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
import sqlalchemy as sa

from actors.dialer_actor import DialerActor
from cluster.campaigns.definition import DEFAULTS
from cluster.cli import build_parser
from cluster.campaigns.hosted import Hosted
from cluster.campaigns.hosting import CampaignHost
from cluster.campaigns.journal import (CampaignJournal, JournalConflict, PaceCodec, Replay,
                                       closed_entry, decode_event, encode_event,
                                       snapshot_state, start_entry, step_entry)
from cluster.store.db import open_engine
from cluster.local_pacers import _LocalPacer
from cluster.store.migrate import upgrade
from sites.dialer import events as dev
from sites.calendars import Calendar, WallClock
from sites.dialer.config import CampaignConfig, DialMode, Retry
from sites.dialer.decisions import Dial
from sites.dialer.do_not_call import DoNotCall
from sites.dialer.snapshot import Activity, AgentsSnapshot, AgentView, InboundSkill
from sites.errors import InvalidInput

EVERY_KIND = [
    dev.Pace(0.1 + 0.2, AgentsSnapshot(
        (AgentView("a1", Activity.IDLE), AgentView("a2", Activity.TALKING, 3.25, 10.0),
         AgentView("a3", Activity.WRAP_UP, until=1 / 3)),
        (InboundSkill("support", 87.5, 2, 40, 900.0, None, 20.0),))),
    dev.CallProgress(1.5, "c1", dev.CallOutcome.LIVE),
    dev.CallProgress(1.75, "c2", dev.CallOutcome.NO_ANSWER),
    dev.CallConnected(2.0, "c1"),
    dev.CallAbandoned(2.5, "c3"),
    dev.CallEnded(9.0, "c1", machine=True),
    dev.PreviewDone(9.5, "a1", dial=False),
    dev.HoldRefused(9.75, "a2"),
    dev.AgentGone(9.77, "a3"),
    dev.CallWindowChanged(9.8, Calendar.from_spec("callable", {
        "timezone": "Europe/Berlin", "weekly": {"mon-fri": "09:00-20:00"},
        "holidays": ["2026-12-25"],
        "overrides": [{"start": "2026-12-05T18:00:00+00:00", "end": "2026-12-05T21:00:00+00:00",
                       "state": "open", "reason": "evening drive"}]})),
    dev.Stop(10.0),
    dev.DoNotCallChanged(11.0, "global", (b"\x00\xffkey",), (b"old",)),
]


@pytest.mark.parametrize("event", EVERY_KIND, ids=lambda event: type(event).__name__)
def test_every_event_survives_the_store_json_exactly(event):
    stored = json.loads(json.dumps(encode_event(event)))
    assert decode_event(stored) == event


def test_paces_journal_only_what_changed_and_come_back_whole():
    def pace(time, *views):
        return dev.Pace(time, AgentsSnapshot(tuple(views)))
    idle = AgentView("a1", Activity.IDLE)
    talking = AgentView("a2", Activity.TALKING, 3.0, 10.0)
    paces = [pace(1.0, idle, talking), pace(2.0, idle, talking),
             pace(3.0, idle, AgentView("a2", Activity.WRAP_UP, until=14.0)),
             pace(4.0, AgentView("a3", Activity.IDLE), idle), pace(5.0)]
    writer, reader = PaceCodec(), PaceCodec()
    stored = [json.loads(json.dumps(encode_event(event, writer))) for event in paces]
    assert [len(entry["changed"]) for entry in stored] == [2, 0, 1, 1, 0]
    assert ["order" in entry for entry in stored] == [True, False, False, True, True]
    assert [decode_event(entry, reader) for entry in stored] == paces


def test_a_non_dialler_event_is_refused():
    with pytest.raises(TypeError):
        encode_event(object())


def _campaign():
    config = CampaignConfig("c", "sales", DialMode.PROGRESSIVE, ring_timeout_s=15.0)
    ids = tuple(f"r{n}" for n in range(30))
    return config, ids, [0] * len(ids), ((),), tuple(f"k{n}" for n in range(30))


def _pace(time, idle):
    return dev.Pace(time, AgentsSnapshot(tuple(AgentView(f"a{n}", Activity.IDLE)
                                               for n in range(idle))))


def test_a_replayed_pacer_decides_as_the_original_from_then_on():
    config, ids, groups, zones, keys = _campaign()
    original = DialerActor(config, ids, groups, zones, keys, DoNotCall(frozenset({"k1"})))
    steps, dials = [], []
    for step_events in ([_pace(0.0, 2)], [dev.CallProgress(1.0, "c-1", dev.CallOutcome.BUSY)],
                        [dev.DoNotCallChanged(1.5, "campaign", ("k3",), ())],
                        [_pace(2.0, 1)]):
        dials += original.step(step_events, step_events[-1].time).decisions
        steps.append(step_events)
    paces = PaceCodec()
    rows = [(1, start_entry({"k1"}, ()))] + [
        (seq, json.loads(json.dumps(step_entry(events, paces))))
        for seq, events in enumerate(steps, 2)]
    replay = Replay(rows)
    assert replay.next_seq == len(steps) + 2
    assert replay.lists_now() == ({"k1"}, {"k3"})
    rebuilt = DialerActor(config, ids, groups, zones, keys,
                          DoNotCall(replay.global_keys, replay.campaign_keys))
    resumed = rebuilt.replay(replay.steps, 2.0)
    assert resumed.dialled == original.campaign.dialled == 2
    assert [(call.call_id, call.state) for call in resumed.calls] == [
        (call[0], call[2]) for call in original.campaign.open_calls()]
    assert all(type(dial) is Dial for dial in dials)
    # From here on both decide the same (numbers k1 and k3 skipped by both).
    after = [_pace(3.0, 3)]
    assert rebuilt.step(after, 3.0).decisions == original.step(after, 3.0).decisions


def test_a_claim_deposes_the_server_that_wrote_before(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    upgrade(engine)
    journal = CampaignJournal(engine)
    assert journal.ends("c") == (False, False)
    journal.append("c", 1, start_entry((), ()), token=4)
    journal.append("c", 2, step_entry([dev.Stop(1.0)], PaceCodec()), token=4)
    journal.claim("c", 5)                   # the new leader's term
    with pytest.raises(JournalConflict):
        journal.append("c", 3, step_entry([dev.Stop(2.0)], PaceCodec()), token=4)  # old one's
    with pytest.raises(JournalConflict):
        journal.claim("c", 4)               # an older term cannot claim it back
    replay = journal.read("c")
    assert replay.started and replay.next_seq == 4 and len(replay.steps) == 1
    assert journal.ends("c") == (True, False)
    journal.append("c", 4, closed_entry(), token=5)
    assert journal.ends("c") == (True, True) and journal.read("c").closed
    engine.dispose()


# ---- call windows: the calendar and wall clock it started with, and each claim's ----------
UTC = dt.timezone.utc
NY, BERLIN = "America/New_York", "Europe/Berlin"
START = dt.datetime(2026, 3, 2, tzinfo=UTC).timestamp()        # a Monday
WINDOW = Calendar.from_spec("callable", {
    "timezone": BERLIN, "weekly": {"mon-fri": "09:00-20:00"}, "holidays": ["2026-03-13"],
    "overrides": [{"start": "2026-03-04T12:00:00+00:00", "end": "2026-03-04T13:00:00+00:00",
                   "state": "closed", "reason": "drill"}]})


def _windowed(call_window, clock):
    config = CampaignConfig("c", "sales", DialMode.PROGRESSIVE, call_window=call_window,
                            retries={"busy": Retry(900.0, 3)})
    ids = tuple(f"r{n}" for n in range(6))
    # r0, r2, r4 in New York; r1, r3, r5 in Berlin.
    return DialerActor(config, ids, [0, 1] * 3, ((NY,), (BERLIN,)),
                       tuple(f"k{n}" for n in range(6)), DoNotCall(), clock)


def test_a_calendar_survives_the_journal_whole():
    stored = json.loads(json.dumps(start_entry((), (), WINDOW, WallClock(START))))
    replay = Replay([(1, stored)])
    assert replay.call_window == WINDOW and replay.clock == WallClock(START)
    assert replay.call_window.overrides[0].reason == "drill"


def test_a_journal_without_window_or_clock_replays_without_them():
    # Written before call windows reached vcc serve.
    replay = Replay([(1, {"k": "start", "global": [], "campaign": []}), (2, {"k": "claim"}),
                     (3, step_entry([dev.Stop(1.0)], PaceCodec()))])
    assert replay.call_window is None and replay.clock is None
    assert replay.steps == [[dev.Stop(1.0)]] and replay.next_seq == 4


def test_a_windowed_campaign_replays_to_the_same_decisions_across_a_new_wall_clock(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    upgrade(engine)
    journal = CampaignJournal(engine)
    first, second = WallClock(START), WallClock(START + 5 * 3600.0)
    original = _windowed(WINDOW, first)
    journal.append("c", 1, start_entry((), (), WINDOW, first), token=1)
    decided, paces = [], PaceCodec()

    def run(events, token=1):
        decided.append(original.step(events, events[-1].time).decisions)
        seq = journal.read("c").next_seq
        journal.append("c", seq, step_entry(events, paces), token=token)

    # 10:00 UTC on the first clock: Berlin is open (11:00), New York is not (05:00).
    run([_pace(10 * 3600.0, 2)])
    assert [dial.record_id for dial in decided[0]] == ["r1", "r3"]
    run([dev.CallProgress(10 * 3600.0 + 5, "c-0", dev.CallOutcome.BUSY)])
    # A new term whose host's time 10:00 is 15:00 UTC: New York opens (10:00 there). Its
    # pacer switched there (it replayed up to its claim); the retry keeps its wall instant.
    journal.claim("c", 2, second)
    original.step([dev.ClockChanged(10 * 3600.0 + 5, second.start_epoch)], 10 * 3600.0 + 5)
    run([_pace(10 * 3600.0 + 60, 4)], token=2)       # c-1 still rings: 3 calls
    assert [dial.record_id for dial in decided[2]] == ["r1", "r0", "r2"]
    engine.dispose()

    replay = CampaignJournal(open_engine(f"sqlite:///{tmp_path}/vcc.db")).read("c")
    assert replay.call_window == WINDOW and replay.clock == first
    assert [type(events[0]) for events in replay.steps] == [
        dev.Pace, dev.CallProgress, dev.ClockChanged, dev.Pace]
    rebuilt = _windowed(replay.call_window, replay.clock)
    again = [rebuilt.step(events, events[-1].time).decisions for events in replay.steps]
    assert again[:2] + again[3:] == decided and again[2] == []
    after = [_pace(11 * 3600.0, 6)]
    assert rebuilt.step(after, 11 * 3600.0).decisions == original.step(after, 11 * 3600.0).decisions
    # Without the claim's clock the replay would read New York's window on the first clock.
    stale = _windowed(WINDOW, first)
    assert [stale.step(events, events[-1].time).decisions for events in replay.steps
            if type(events[0]) is not dev.ClockChanged][2] != decided[2]


def test_a_resumed_campaign_takes_a_re_sent_report_of_any_call_over_silently():
    hosted = Hosted({**DEFAULTS, "name": "c-east", "site": "east", "skill": "sales",
                     "mode": "progressive"}, "running", 30)
    hosted.dialled_before = 120_000             # more than a PBX holds unacknowledged
    hosted.calls["c-east-7"] = None             # still up: not over
    assert hosted.was_over("c-east-0") and hosted.was_over("c-east-119999")
    assert not hosted.was_over("c-east-7")          # up
    assert not hosted.was_over("c-east-120000")     # never dialled (by an earlier server)
    for other in ("c-1", "c-east-x", "c-east--1", "other-3", "c-east-", 5, None):
        assert not hosted.was_over(other)


# ---- snapshots: a resume reads the newest and replays only what follows ------------------
def _sqlite(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    upgrade(engine)
    return engine


def _journal_with_snapshots(engine, every: int):
    """A progressive campaign's journal of 12 steps (a do-not-call change at step 3, so
    before a snapshot) with a snapshot after every `every` entries, as a host writes them;
    (journal, the original pacer, its steps)."""
    journal = CampaignJournal(engine, snapshot_every=every)
    config, ids, groups, zones, keys = _campaign()
    original = DialerActor(config, ids, groups, zones, keys, DoNotCall(frozenset({"k1"})))
    journal.append("c", 1, start_entry({"k1"}, ()), token=1)
    paces, steps = PaceCodec(), []
    for n in range(12):
        time = float(n)
        if n == 3:
            events = [dev.DoNotCallChanged(time, "campaign", ("k4",), ())]
        elif n % 2 == 0:
            events = [_pace(time, 1 + n % 3)]
        else:
            up = [call for call in original.campaign.open_calls() if call[2] == "ringing"]
            events = [dev.CallProgress(time, up[0][0], dev.CallOutcome.BUSY)] if up else [
                _pace(time, 1)]
        original.step(events, time)
        steps.append(events)
        journal.append("c", n + 2, step_entry(events, paces), token=1)
        if (n + 2) % every == 0:
            journal.write_snapshot("c", n + 2, json.loads(json.dumps(
                snapshot_state(original.snapshot(), paces))), token=1)
    return journal, original, steps, config, (ids, groups, zones, keys)


def test_a_snapshot_and_the_entries_after_it_give_the_pacer_of_the_whole_journal(tmp_path):
    check_snapshots(_sqlite(tmp_path))


def check_snapshots(engine):
    """(Also run on PostgreSQL: tests/integration/test_store_postgres.py.)"""
    journal, original, steps, config, listing = _journal_with_snapshots(engine, every=5)
    replay = journal.read("c")
    assert replay.snapshot_seq == 10 and len(replay.steps) == 3     # entries 11, 12, 13
    assert replay.next_seq == 14 and replay.started
    assert replay.lists_now() == ({"k1"}, {"k4"})       # the change is in the snapshot
    assert replay.last_time == 11.0
    rebuilt = DialerActor(config, *listing, DoNotCall(replay.global_keys, replay.campaign_keys),
                          state=replay.pacer_state)
    resumed = rebuilt.replay(replay.steps, 11.0)
    assert rebuilt.snapshot() == original.snapshot()
    assert resumed.dialled == original.campaign.dialled > 0
    full = DialerActor(config, *listing, DoNotCall(frozenset({"k1"})))
    full.replay(steps, 11.0)
    assert full.snapshot() == original.snapshot()
    after = [_pace(12.0, 3)]
    assert rebuilt.step(after, 12.0).decisions == original.step(after, 12.0).decisions
    # The next pace is journaled against the snapshot's codec: read back whole.
    assert replay.paces.order == ["a0", "a1"]
    # Only the newest snapshot and the one before are kept.
    with journal.engine.connect() as connection:
        assert connection.execute(sa.text(
            "SELECT seq FROM campaign_snapshots ORDER BY seq")).scalars().all() == [5, 10]
    journal.engine.dispose()


def test_a_journal_whose_newest_entry_is_its_snapshot_replays_nothing_more(tmp_path):
    journal, original, _, config, listing = _journal_with_snapshots(_sqlite(tmp_path), every=13)
    replay = journal.read("c")
    assert replay.snapshot_seq == 13 and replay.steps == [] and replay.next_seq == 14
    journal.claim("c", 2)
    replay = journal.read("c")
    assert replay.next_seq == 15 and replay.steps == []     # a claim without a clock
    rebuilt = DialerActor(config, *listing, DoNotCall(replay.global_keys, replay.campaign_keys),
                          state=replay.pacer_state)
    assert rebuilt.replay(replay.steps, 11.0).dialled == original.campaign.dialled
    assert rebuilt.snapshot() == original.snapshot()
    journal.engine.dispose()


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_a_snapshot_interval_that_is_not_a_positive_integer_is_refused_by_name(value, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--campaign-snapshot-every", value])
    assert "--campaign-snapshot-every: must be an integer >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="snapshot_every"):
        CampaignJournal(None, snapshot_every=0)


# ---- a step refused in part: what the pacer applied is journaled and carried out ---------
def test_the_pacer_applies_the_events_it_does_not_refuse_and_says_so():
    config, ids, groups, zones, keys = _campaign()
    pacer = DialerActor(config, ids, groups, zones, keys, DoNotCall())
    assert [dial.call_id for dial in pacer.step([_pace(0.0, 2)], 0.0).decisions] == [
        "c-0", "c-1"]
    with pytest.raises(InvalidInput) as refused:        # every event refused: nothing changed
        pacer.step([dev.CallProgress(1.0, "nope", dev.CallOutcome.BUSY),
                    dev.CallProgress(1.0, "c-0", "busy")], 1.0)
    assert refused.value.field == "call_id"             # the first refusal
    assert [call[0] for call in pacer.campaign.open_calls()] == ["c-0", "c-1"]
    step = pacer.step([dev.CallProgress(1.0, "c-0", dev.CallOutcome.BUSY),
                       dev.CallProgress(1.0, "nope", dev.CallOutcome.BUSY),
                       dev.CallProgress(1.0, "c-1", dev.CallOutcome.BUSY)], 1.0)
    assert step.applied == [0, 2] and step.refused.field == "call_id"
    assert pacer.campaign.open_calls() == []            # both busy: the refusal between
    assert pacer.step([_pace(2.0, 2)], 2.0).refused is None     # a step refusing nothing


def test_a_step_refused_in_part_journals_the_events_the_pacer_applied(tmp_path):
    """The host journals exactly the events the pacer applied (those before and after the
    one it refused), and carries out their decisions, before it reports the refusal: the
    journal replays to the very pacer that goes on deciding (before, it journaled none)."""
    engine = _sqlite(tmp_path)
    journal = CampaignJournal(engine)
    config, ids, groups, zones, keys = _campaign()
    journal.append("c", 1, start_entry((), ()), token=1)
    hosted = Hosted({**DEFAULTS, "name": "c", "site": "east", "skill": "sales",
                     "mode": "progressive"}, "paused", len(ids))
    hosted.seq = 2
    live = DialerActor(config, ids, groups, zones, keys, DoNotCall())
    hosted.pacer = _LocalPacer(live)
    carried_out = []

    class _Host:
        @staticmethod
        def now():
            return 1.0

        @staticmethod
        def observe_applied(callback):
            pass

    campaigns = CampaignHost(_Host(), None, journal=journal)
    campaigns.token = 1

    async def carry_out(hosted, decisions, now):
        carried_out.extend(decisions)

    campaigns._carry_out = carry_out

    async def main():
        await campaigns._feed(hosted, lambda now: [_pace(0.0, 2)])
        with pytest.raises(InvalidInput) as refused:
            await campaigns._feed(hosted, lambda now: [
                dev.CallProgress(now, "c-0", dev.CallOutcome.BUSY),
                dev.CallProgress(now, "c-9", dev.CallOutcome.BUSY),
                dev.DoNotCallChanged(now, "campaign", ("k2",), ())])
        assert refused.value.field == "call_id"
        await campaigns._feed(hosted, lambda now: [_pace(now, 2)])    # c-1 still rings

    asyncio.run(main())
    replay = journal.read("c")
    assert [[type(event).__name__ for event in events] for events in replay.steps] == [
        ["Pace"], ["CallProgress", "DoNotCallChanged"], ["Pace"]]
    rebuilt = DialerActor(config, ids, groups, zones, keys,
                          DoNotCall(replay.global_keys, replay.campaign_keys))
    rebuilt.replay(replay.steps, 1.0)
    assert rebuilt.snapshot() == live.snapshot()
    # The pace after the refusal dialled for the agent the busy c-0 freed, skipping r2
    # (its number put on the campaign's list by the applied change).
    assert [(dial.call_id, dial.record_id) for dial in carried_out] == [
        ("c-0", "r0"), ("c-1", "r1"), ("c-2", "r3")]
    engine.dispose()

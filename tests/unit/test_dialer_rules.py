"""The rules every campaign keeps besides pacing (SPEC §6, issue 19 item 4): call windows in
the callee's time zone (DST-correct), the global and the campaign's do-not-call lists (keys
of numbers, changed while the campaign runs), in the pure pacer (sites/dialer)."""

from __future__ import annotations

import datetime as dt

import pytest

from sites.calendars import Calendar, WallClock
from sites.dialer import events as dev
from sites.dialer.call_list import CallList
from sites.dialer.campaign import Campaign
from sites.dialer.config import CampaignConfig, Retry
from sites.dialer.decisions import Dial, Preview, Release
from sites.dialer.do_not_call import DoNotCall
from sites.dialer.events import CallOutcome
from sites.dialer.snapshot import Activity, AgentsSnapshot, AgentView
from sites.dialer.windows import CallWindows
from sites.errors import InvalidInput

UTC = dt.timezone.utc
NY, LA, BERLIN = "America/New_York", "America/Los_Angeles", "Europe/Berlin"
# Time 0 of the core: Monday 2026-03-02 00:00 UTC (the US changes to summer time on Sunday
# 2026-03-08, Europe on Sunday 2026-03-29).
START = dt.datetime(2026, 3, 2, tzinfo=UTC).timestamp()
CLOCK = WallClock(START)
HOUR = 3600.0
# Nine to eight on weekdays (in the callee's zone); the calendar's own zone does not matter.
WINDOW = Calendar.from_spec("callable", {"timezone": BERLIN,
                                         "weekly": {"mon-fri": "09:00-20:00"},
                                         "holidays": ["2026-03-13"]})


def core(*fields) -> float:
    """Core time of a UTC date and time."""
    return CLOCK.core(dt.datetime(*fields, tzinfo=UTC).timestamp())


def agents(idle: int) -> AgentsSnapshot:
    return AgentsSnapshot(tuple(AgentView(f"a{n}", Activity.IDLE) for n in range(idle)))


def listed(zones_by_record: list, zone_sets: tuple, keys=None) -> CallList:
    ids = tuple(f"r{n}" for n in range(len(zones_by_record)))
    return CallList(ids, zones_by_record, zone_sets, keys)


def campaign(call_list: CallList, mode="progressive", window=WINDOW, dnc=None, **fields):
    config = CampaignConfig("c", "sales", mode=mode, call_window=window, **fields)
    return Campaign(config, call_list, CLOCK, dnc)


def dialled(decisions) -> list:
    return [decision.record_id for decision in decisions if type(decision) is Dial]


# ---- call windows ---------------------------------------------------------------------------
def test_the_window_is_the_callees_and_moves_with_their_daylight_saving_time():
    windows = CallWindows(WINDOW, CLOCK, ((NY,), (BERLIN,)))
    # Friday 6 March: New York is on EST (UTC-5): open 14:00-01:00 UTC.
    friday = core(2026, 3, 6, 12)
    assert windows.opens_at(0, friday) == core(2026, 3, 6, 14)
    assert windows.opens_at(0, core(2026, 3, 6, 15)) == core(2026, 3, 6, 15)   # open: now
    # Closed at 20:00 New York time, 01:00 UTC: next opening Monday 9 March, on EDT (UTC-4).
    assert windows.opens_at(0, core(2026, 3, 7, 1)) == core(2026, 3, 9, 13)
    # Berlin is still on CET (UTC+1) that Monday: 08:00 UTC; after 29 March on CEST: 07:00.
    assert windows.opens_at(1, core(2026, 3, 9, 0)) == core(2026, 3, 9, 8)
    assert windows.opens_at(1, core(2026, 3, 30, 0)) == core(2026, 3, 30, 7)
    # The calendar's holiday (Friday 13 March) is the callee's date: closed all that day.
    assert windows.opens_at(0, core(2026, 3, 13, 13)) == core(2026, 3, 16, 13)


def test_a_number_in_several_zones_is_called_only_when_all_are_open():
    windows = CallWindows(WINDOW, CLOCK, ((LA, NY), ()))
    # 09:00 in Los Angeles (PST, UTC-8) is 12:00 in New York: open in both from 17:00 UTC
    # until 20:00 in New York (01:00 UTC).
    assert windows.opens_at(0, core(2026, 3, 3, 14)) == core(2026, 3, 3, 17)
    assert windows.opens_at(0, core(2026, 3, 4, 0, 59)) == core(2026, 3, 4, 0, 59)
    assert windows.opens_at(0, core(2026, 3, 4, 1)) == core(2026, 3, 4, 17)
    assert windows.opens_at(1, core(2026, 3, 3, 14)) is None        # no zone: no window


def test_records_outside_their_window_wait_and_go_in_order_when_it_opens():
    # r0, r2: New York; r1, r3: Berlin; r4: unknown zone. Monday 2 March 10:00 UTC: Berlin
    # is open (11:00), New York is not (05:00).
    pacer = campaign(listed([0, 1, 0, 1, 2], ((NY,), (BERLIN,), ())))
    now = core(2026, 3, 2, 10)
    first = pacer.handle(dev.Pace(now, agents(5)))
    assert dialled(first) == ["r1", "r3"]
    assert pacer.figures()["skipped_unknown_zone"] == 1           # never dialled, counted
    assert pacer.call_list.next_due(now) == core(2026, 3, 2, 14)
    assert pacer.next_pace_at(now) is None                        # progressive: on events
    for decision in first:
        pacer.handle(dev.CallProgress(now + 15, decision.call_id, CallOutcome.NO_ANSWER))
    assert pacer.handle(dev.Pace(core(2026, 3, 2, 13, 59), agents(5))) == []
    assert dialled(pacer.handle(dev.Pace(core(2026, 3, 2, 14), agents(5)))) == ["r0", "r2"]


def test_a_retry_due_outside_its_window_waits_for_it_keeping_its_order():
    # Two Berlin records, busy at 19:50 Berlin time (18:50 UTC), retried after 15 minutes:
    # due at 20:05 Berlin, closed: they wait for Tuesday 09:00 Berlin, in their order.
    pacer = campaign(listed([0, 0], ((BERLIN,),)), retries={"busy": Retry(900.0, 2)})
    now = core(2026, 3, 2, 18, 50)
    calls = pacer.handle(dev.Pace(now, agents(2)))
    for call in calls:
        pacer.handle(dev.CallProgress(now + 3, call.call_id, CallOutcome.BUSY))
    assert pacer.handle(dev.Pace(core(2026, 3, 2, 19, 6), agents(2))) == []
    assert pacer.call_list.window_waits == 2
    assert pacer.call_list.next_due(core(2026, 3, 2, 19, 6)) == core(2026, 3, 3, 8)
    assert dialled(pacer.handle(dev.Pace(core(2026, 3, 3, 8), agents(2)))) == ["r0", "r1"]


def test_a_predictive_campaign_sleeps_until_the_window_opens():
    pacer = campaign(listed([0], ((NY,),)), mode="predictive")
    night = core(2026, 3, 2, 6)
    assert pacer.handle(dev.Pace(night, agents(3))) == []
    assert pacer.next_pace_at(night) == core(2026, 3, 2, 14)      # not every second
    assert pacer.next_pace_at(core(2026, 3, 2, 14)) == core(2026, 3, 2, 14) + 1.0


def test_a_new_wall_clock_reads_the_window_anew_and_keeps_waiting_retries_wall_instants():
    # A new leader counts its time from another origin: core time t is now an hour later on
    # the wall clock than it was (ClockChanged, journaled with its claim).
    pacer = campaign(listed([0, 0, 0], ((BERLIN,),)), retries={"busy": Retry(900.0, 2)})
    now = core(2026, 3, 2, 18, 50)              # 19:50 in Berlin: open
    calls = pacer.handle(dev.Pace(now, agents(1)))
    pacer.handle(dev.CallProgress(now + 3, calls[0].call_id, CallOutcome.BUSY))
    # Its retry waits for Tuesday 09:00 in Berlin (08:00 UTC), a wall-clock instant.
    assert pacer.handle(dev.Pace(core(2026, 3, 2, 19, 6), agents(1))) == []
    tuesday = dt.datetime(2026, 3, 3, 8, tzinfo=UTC).timestamp()
    assert pacer.call_list.next_due(core(2026, 3, 2, 19, 6)) == CLOCK.core(tuesday)
    later = WallClock(START + HOUR)
    pacer.handle(dev.ClockChanged(core(2026, 3, 2, 19, 7), later.start_epoch))
    # The same wall-clock instant on the new clock: an hour earlier in core time; so is
    # the window's opening for the fresh records.
    assert pacer.call_list.next_due(core(2026, 3, 2, 19, 7)) == later.core(tuesday)
    assert pacer.handle(dev.Pace(later.core(tuesday) - 1.0, agents(2))) == []
    assert dialled(pacer.handle(dev.Pace(later.core(tuesday), agents(2)))) == ["r0", "r1"]


def test_a_new_wall_clock_changes_nothing_without_a_window():
    pacer = campaign(listed([0, 0], ((NY,),)), window=None, retries={"busy": Retry(900.0, 2)})
    calls = pacer.handle(dev.Pace(10.0, agents(1)))
    pacer.handle(dev.CallProgress(13.0, calls[0].call_id, CallOutcome.BUSY))
    assert pacer.handle(dev.ClockChanged(14.0, START + HOUR)) == []
    assert pacer.call_list.next_due() == 913.0
    with pytest.raises(InvalidInput) as refused:
        pacer.handle(dev.ClockChanged(15.0, float("nan")))
    assert refused.value.field == "start_epoch"


def test_a_changed_calendar_is_read_from_the_change_on():
    # Admin closes the window for the afternoon (an emergency close: a dated override, the
    # same instant in every zone) while the campaign runs; later it opens it at night.
    pacer = campaign(listed([0, 0, 0, 1], ((BERLIN,), (NY,))))

    def pace(at, idle):
        """The records dialled at `at`; each call then goes unanswered at once."""
        calls = [d for d in pacer.handle(dev.Pace(at, agents(idle))) if type(d) is Dial]
        for call in calls:
            pacer.handle(dev.CallProgress(at, call.call_id, CallOutcome.NO_ANSWER))
        return [call.record_id for call in calls]

    now = core(2026, 3, 2, 10)                      # 11:00 in Berlin: open
    assert pace(now, 1) == ["r0"]
    closed = Calendar.from_spec("callable", {
        "timezone": BERLIN, "weekly": {"mon-fri": "09:00-20:00"}, "holidays": ["2026-03-13"],
        "overrides": [{"start": "2026-03-02T10:30:00+00:00", "end": "2026-03-02T12:00:00+00:00",
                       "state": "closed", "reason": "storm"}]})
    assert pacer.handle(dev.CallWindowChanged(now + 60, closed)) == []
    assert pace(core(2026, 3, 2, 10, 30), 2) == []
    assert pacer.call_list.next_due(core(2026, 3, 2, 10, 30)) == core(2026, 3, 2, 12)
    assert pace(core(2026, 3, 2, 12), 1) == ["r1"]
    # New York (07:00 there at 12:00 UTC) opens at 14:00 UTC; an override opens it now.
    night = Calendar.from_spec("callable", {
        "timezone": BERLIN, "weekly": {"mon-fri": "09:00-20:00"},
        "overrides": [{"start": "2026-03-02T12:00:00+00:00", "end": "2026-03-02T13:00:00+00:00",
                       "state": "open", "reason": "drive"}]})
    pacer.handle(dev.CallWindowChanged(core(2026, 3, 2, 12, 1), night))
    assert pace(core(2026, 3, 2, 12, 2), 2) == ["r2", "r3"]
    with pytest.raises(InvalidInput) as refused:
        pacer.handle(dev.CallWindowChanged(core(2026, 3, 2, 12, 3), "callable"))
    assert refused.value.field == "calendar"
    without = campaign(listed([0], ((NY,),)), window=None)
    with pytest.raises(InvalidInput):
        without.handle(dev.CallWindowChanged(1.0, night))


def test_without_a_window_zones_do_not_matter():
    pacer = campaign(listed([0, 1], ((NY,), ())), window=None)
    assert dialled(pacer.handle(dev.Pace(core(2026, 3, 2, 3), agents(2)))) == ["r0", "r1"]


# ---- do-not-call ----------------------------------------------------------------------------
def keyed(count: int) -> CallList:
    """Records r0.. whose numbers' keys are k0.. (the host's HMACs; any opaque values)."""
    return listed([0] * count, ((NY,),), tuple(f"k{n}".encode() for n in range(count)))


def test_numbers_on_either_list_are_never_dialled():
    pacer = campaign(keyed(5), window=None, dnc=DoNotCall(frozenset({b"k1"}), {b"k3"}))
    assert dialled(pacer.handle(dev.Pace(0.0, agents(5)))) == ["r0", "r2", "r4"]
    figures = pacer.figures()
    assert figures["skipped_do_not_call"] == 2 and figures["list_dialled"] == 3


def test_a_number_added_while_the_campaign_runs_is_skipped_at_its_turn_not_cut():
    pacer = campaign(keyed(4), window=None, retries={"busy": Retry(60.0, 3)})
    ringing, busy = pacer.handle(dev.Pace(0.0, agents(2)))
    pacer.handle(dev.CallProgress(3.0, busy.call_id, CallOutcome.BUSY))   # r1: retry at 63
    # r0 (ringing), r1 (waiting to be retried) and r2 (fresh) go on the lists now.
    assert pacer.handle(dev.DoNotCallChanged(4.0, "global", add=(b"k0", b"k1"))) == []
    pacer.handle(dev.DoNotCallChanged(4.0, "campaign", add=(b"k2",)))
    # The call ringing is not cut: it is answered and connected as any other.
    assert pacer.handle(dev.CallProgress(9.0, ringing.call_id, CallOutcome.LIVE))
    pacer.handle(dev.CallConnected(9.5, ringing.call_id))
    assert dialled(pacer.handle(dev.Pace(63.0, agents(1)))) == ["r3"]
    assert pacer.figures()["skipped_do_not_call"] == 2 and pacer.call_list.remaining == 0


def test_a_number_taken_off_a_list_is_dialled_again():
    pacer = campaign(keyed(2), window=None, dnc=DoNotCall(campaign_keys=frozenset({b"k0"})))
    pacer.handle(dev.DoNotCallChanged(0.0, "campaign", remove=(b"k0",)))
    assert dialled(pacer.handle(dev.Pace(1.0, agents(2)))) == ["r0", "r1"]


def test_a_number_listed_during_its_preview_is_not_dialled():
    pacer = campaign(keyed(2), mode="preview", window=None)
    assert pacer.handle(dev.Pace(0.0, agents(1))) == [Preview("a0", "r0")]
    pacer.handle(dev.DoNotCallChanged(5.0, "campaign", add=(b"k0",)))
    assert pacer.handle(dev.PreviewDone(10.0, "a0")) == [Preview("a0", "r1")]
    assert pacer.handle(dev.PreviewDone(20.0, "a0", dial=False)) == [Release("a0")]
    assert pacer.figures()["skipped_do_not_call"] == 1


def test_a_bad_list_change_is_refused_and_changes_nothing():
    pacer = campaign(keyed(2), window=None)
    for event, field in ((dev.DoNotCallChanged(1.0, "everyone", add=(b"k0",)), "scope"),
                         (dev.DoNotCallChanged(1.0, "global", add=(b"k0", 7)), "add"),
                         (dev.DoNotCallChanged(1.0, "global", add=b"k0"), "add")):
        with pytest.raises(InvalidInput) as error:
            pacer.handle(event)
        assert error.value.field == field
    assert dialled(pacer.handle(dev.Pace(2.0, agents(2)))) == ["r0", "r1"]


def test_the_global_list_is_shared_not_copied():
    shared = frozenset(f"k{n}".encode() for n in range(1000))
    first, second = DoNotCall(shared), DoNotCall(shared)
    first.change("global", remove=(b"k1",))
    assert first.lists["global"].base is shared is second.lists["global"].base
    assert b"k1" not in first and b"k1" in second


def test_a_preview_the_site_would_not_hold_for_goes_to_the_next_agent():
    # A live center: the agent a preview was meant for took an inbound contact meanwhile
    # (the site refused AgentHeld); the record is previewed next, nothing is counted.
    pacer = campaign(listed([0, 0], ((BERLIN,),)), mode="preview", window=None)
    first = pacer.handle(dev.Pace(10.0, agents(1)))
    assert first == [Preview("a0", "r0")] and pacer.in_preview() == [("a0", "r0")]
    assert pacer.handle(dev.HoldRefused(10.1, "a0")) == []
    assert pacer.in_preview() == [] and pacer.figures()["attempts"] == 0
    assert pacer.handle(dev.Pace(11.0, agents(1))) == [Preview("a0", "r0")]

"""Calendars (SPEC §10, issue 17 item 2): weekly hours, holidays and overrides in the
calendar's time zone, correct across the daylight-saving changes of 2026 and 2027."""

from __future__ import annotations

import bisect
import datetime as dt
import zoneinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sites.calendars import (DEFAULT_START_EPOCH, Calendar, Override, WallClock, parse_start)
from sites.errors import InvalidInput

UTC = dt.timezone.utc


def utc(*fields) -> float:
    return dt.datetime(*fields, tzinfo=UTC).timestamp()


def local(zone: str, *fields, fold=0) -> float:
    return dt.datetime(*fields, tzinfo=zoneinfo.ZoneInfo(zone), fold=fold).timestamp()


def calendar(zone="Europe/Berlin", weekly=None, holidays=(), overrides=()) -> Calendar:
    return Calendar.from_spec("c", {"timezone": zone, "weekly": weekly or {},
                                    "holidays": list(holidays), "overrides": list(overrides)})


def changes(cal: Calendar, start: float, count: int) -> list:
    """The next `count` changes from `start`, as (UTC datetime, open after)."""
    found, t = [], start
    for _ in range(count):
        t = cal.next_change(t)
        if t is None:
            break
        found.append((dt.datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M"),
                      cal.is_open(t)))
    return found


# ---- time mapping --------------------------------------------------------------------------
def test_the_default_start_is_monday_2026_01_05_midnight_utc():
    assert DEFAULT_START_EPOCH == utc(2026, 1, 5)
    assert dt.datetime.fromtimestamp(DEFAULT_START_EPOCH, UTC).weekday() == 0
    clock = WallClock()
    assert clock.epoch(0) == DEFAULT_START_EPOCH
    assert clock.epoch(3600.5) == DEFAULT_START_EPOCH + 3600.5
    assert clock.core(clock.epoch(123.25)) == 123.25


@pytest.mark.parametrize("text, expected", [
    ("2026-12-24T16:00:00+01:00", utc(2026, 12, 24, 15)),
    ("2026-12-24T16:00:00Z", utc(2026, 12, 24, 16)),
    ("2026-12-24 16:00:00-05:00", utc(2026, 12, 24, 21)),
    (dt.datetime(2026, 12, 24, 16, tzinfo=dt.timezone(dt.timedelta(hours=1))),
     utc(2026, 12, 24, 15)),
])
def test_start_is_iso_8601_with_an_offset(text, expected):
    assert parse_start(text) == expected


@pytest.mark.parametrize("value, words", [
    ("2026-12-24T16:00:00", "UTC offset"),
    (dt.datetime(2026, 12, 24, 16), "UTC offset"),
    (dt.date(2026, 12, 24), "with its UTC offset"),
    ("tomorrow", "not an ISO 8601"),
    (1767571200, "ISO 8601"),
    ("0001-01-01T00:00:00+00:00", "outside"),
])
def test_a_bad_start_is_refused(value, words):
    with pytest.raises(InvalidInput, match=words) as error:
        parse_start(value)
    assert error.value.field == "start"


# ---- weekly hours ----------------------------------------------------------------------------
def test_weekly_hours_follow_the_local_clock_across_the_spring_change():
    office = calendar(weekly={"mon-fri": "08:00-18:00", "sat": "09:00-13:00"})
    # Friday before the change: CET (UTC+1); Monday after: CEST (UTC+2).
    assert changes(office, utc(2026, 3, 27), 6) == [
        ("2026-03-27 07:00", True), ("2026-03-27 17:00", False),
        ("2026-03-28 08:00", True), ("2026-03-28 12:00", False),
        ("2026-03-30 06:00", True), ("2026-03-30 16:00", False)]


def test_weekly_hours_follow_the_local_clock_across_the_autumn_change_in_new_york():
    office = calendar("America/New_York", weekly={"mon-fri": "08:00-18:00"})
    assert changes(office, utc(2026, 10, 30), 4) == [
        ("2026-10-30 12:00", True), ("2026-10-30 22:00", False),     # EDT, UTC-4
        ("2026-11-02 13:00", True), ("2026-11-02 23:00", False)]     # EST, UTC-5


def test_several_windows_a_day_and_single_days():
    cal = calendar(weekly={"mon": "08:00-12:00,13:00-18:00", "wed": ["09:00-10:00"],
                           "fri": "closed", "sun": "00:00-24:00"})
    assert changes(cal, utc(2026, 1, 5), 7) == [
        ("2026-01-05 07:00", True), ("2026-01-05 11:00", False),
        ("2026-01-05 12:00", True), ("2026-01-05 17:00", False),
        ("2026-01-07 08:00", True), ("2026-01-07 09:00", False),
        ("2026-01-10 23:00", True)]
    assert cal.next_change(utc(2026, 1, 11, 12)) == utc(2026, 1, 11, 23)   # Sunday ends
    assert not cal.is_open(utc(2026, 1, 5, 11, 30))                        # lunch


def test_overlapping_and_touching_windows_merge_and_a_range_may_wrap():
    cal = calendar(weekly={"sun-tue": "08:00-12:00,11:00-13:00,13:00-14:00"})
    assert cal.weekly[6] == cal.weekly[0] == cal.weekly[1] == ((480, 840),)
    assert cal.weekly[2] == ()


# The 2026 and 2027 changes: (zone, date, UTC hour of the jump, forward?).
CHANGES = [
    ("Europe/Berlin", (2026, 3, 29), 1, True), ("Europe/Berlin", (2026, 10, 25), 1, False),
    ("Europe/Berlin", (2027, 3, 28), 1, True), ("Europe/Berlin", (2027, 10, 31), 1, False),
    ("America/New_York", (2026, 3, 8), 7, True), ("America/New_York", (2026, 11, 1), 6, False),
    ("America/New_York", (2027, 3, 14), 7, True), ("America/New_York", (2027, 11, 7), 6, False),
]
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.mark.parametrize("zone, date, jump_hour, forward", CHANGES)
def test_the_change_days_of_2026_and_2027(zone, date, jump_hour, forward):
    """Windows that touch the skipped or repeated hour (Berlin: 02:00-03:00 local; New York:
    02:00-03:00 skipped in March, 01:00-02:00 repeated in November)."""
    day = dt.date(*date)
    name = DAY_NAMES[day.weekday()]
    jump = utc(*date, jump_hour)
    hour = 2 if zone == "Europe/Berlin" or forward else 1     # the hour skipped or repeated
    h = f"{hour:02d}"
    assert day.weekday() == 6

    if forward:     # hour:00..hour+1:00 does not exist
        closes_at_jump = calendar(zone, {name: f"00:00-{h}:30"})
        assert changes(closes_at_jump, jump - 6 * 3600, 2) == [
            (_at(_midnight(zone, day)), True), (_at(jump), False)]
        opens_at_jump = calendar(zone, {name: f"{h}:30-{hour + 2:02d}:00"})
        assert changes(opens_at_jump, jump - 6 * 3600, 2) == [
            (_at(jump), True), (_at(jump + 3600), False)]
        empty = calendar(zone, {name: f"{h}:00-{hour + 1:02d}:00"})
        assert not any(empty.is_open(jump - 7200 + 60 * m) for m in range(240))
        week_later = day + dt.timedelta(days=7)
        assert empty.next_change(jump - 7200) == local(
            zone, week_later.year, week_later.month, week_later.day, hour)
        # The day is 23 hours long: a holiday then closes 23 hours.
        holiday = calendar(zone, {"mon-sun": "00:00-24:00"}, holidays=[day])
        start = holiday.next_change(jump - 86400)
        assert holiday.next_change(start) - start == 23 * 3600
    else:           # hour:00..hour+1:00 happens twice, first at jump - 3600
        first = jump - 3600
        until_first = calendar(zone, {name: f"00:00-{h}:30"})
        assert changes(until_first, first - 6 * 3600, 2) == [
            (_at(_midnight(zone, day)), True), (_at(first + 1800), False)]
        # The second hh:15 reads inside 00:00-hh:30 on the clock, but the window has ended.
        assert not until_first.is_open(jump + 900)
        from_first = calendar(zone, {name: f"{h}:30-{hour + 4:02d}:00"})
        assert from_first.next_change(first - 3600) == first + 1800
        both = calendar(zone, {name: f"{h}:00-{hour + 1:02d}:00"})
        assert changes(both, first - 3600, 2) == [(_at(first), True), (_at(jump + 3600), False)]
        assert all(both.is_open(first + 60 * m) for m in range(120))
        holiday = calendar(zone, {"mon-sun": "00:00-24:00"}, holidays=[day])
        start = holiday.next_change(jump - 86400)
        assert holiday.next_change(start) - start == 25 * 3600
        # Touching windows tile the day with no gap and no overlap.
        tiled = calendar(zone, {name: f"00:00-{h}:30,{h}:30-24:00"})
        assert tiled.weekly[6] == ((0, 1440),)
        split = Calendar("s", zone, weekly=((),) * 6 + (((0, hour * 60 + 30),),))
        other = Calendar("o", zone, weekly=((),) * 6 + (((hour * 60 + 30, 1440),),))
        for minute in range(-120, 240):
            t = first + 60 * minute
            assert split.is_open(t) != other.is_open(t) or not (
                _midnight(zone, day) <= t < _midnight(zone, day + dt.timedelta(days=1)))


def _midnight(zone, day: dt.date) -> float:
    return local(zone, day.year, day.month, day.day)


def _at(t: float) -> str:
    return dt.datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def test_a_zone_that_changes_at_midnight():
    """America/Santiago falls back at 24:00 to 23:00 (2026-04-05) and springs forward at 24:00
    to 01:00 (2026-09-06): the day's windows still tile, the holiday still closes one day."""
    zone = "America/Santiago"
    cal = calendar(zone, {"sat": "22:00-24:00", "sun": "00:00-01:30"})
    # Saturday 2026-04-04 22:00 -03 = 01:00 UTC; the clock shows 23:00 twice; Sunday 00:00 -04
    # is 04:00 UTC; 01:30 -04 is 05:30 UTC.
    assert changes(cal, utc(2026, 4, 4, 12), 2) == [("2026-04-05 01:00", True),
                                                    ("2026-04-05 05:30", False)]
    spring = calendar(zone, {"sun": "00:00-02:00"})
    # Sunday 2026-09-06 begins at 01:00 -03 (04:00 UTC): 00:00 is the jump.
    assert changes(spring, utc(2026, 9, 5, 12), 2) == [("2026-09-06 04:00", True),
                                                       ("2026-09-06 05:00", False)]


# ---- holidays and overrides -------------------------------------------------------------------
def test_holidays_close_the_whole_local_day():
    office = calendar(weekly={"mon-fri": "08:00-18:00"},
                      holidays=[dt.date(2026, 12, 25), "2027-01-01"])
    assert not office.is_open(local("Europe/Berlin", 2026, 12, 25, 10))
    assert office.is_open(local("Europe/Berlin", 2026, 12, 24, 10))
    assert office.next_change(local("Europe/Berlin", 2026, 12, 24, 18)) == \
        local("Europe/Berlin", 2026, 12, 28, 8)
    assert office.next_change(local("Europe/Berlin", 2026, 12, 31, 18)) == \
        local("Europe/Berlin", 2027, 1, 4, 8)


def test_overrides_win_and_the_last_listed_wins():
    office = calendar(weekly={"mon-fri": "08:00-18:00"}, holidays=["2026-12-25"], overrides=[
        {"start": "2026-12-25T10:00", "end": "2026-12-25T14:00", "state": "open"},
        {"start": dt.datetime(2026, 12, 25, 12, tzinfo=dt.timezone(dt.timedelta(hours=1))),
         "end": "2026-12-25T12:30:00+01:00", "state": "closed", "reason": "fire drill"}])
    berlin = "Europe/Berlin"
    assert changes(office, local(berlin, 2026, 12, 25), 4) == [
        ("2026-12-25 09:00", True), ("2026-12-25 11:00", False),
        ("2026-12-25 11:30", True), ("2026-12-25 13:00", False)]
    assert office.overrides[1].reason == "fire drill"


def test_an_emergency_close_is_an_override_added_last():
    office = calendar(weekly={"mon-fri": "08:00-18:00"})
    noon = local("Europe/Berlin", 2026, 1, 6, 12)
    closed = office.with_override(Override(noon, noon + 1800, open=False, reason="storm"))
    assert office.is_open(noon) and not closed.is_open(noon)
    assert closed.next_change(noon) == noon + 1800
    assert closed.next_change(noon - 600) == noon
    assert office.overrides == ()          # the original is unchanged (frozen)


def test_a_calendar_that_never_changes():
    assert calendar(weekly={}).next_change(utc(2026, 1, 5)) is None
    always = calendar(weekly={"mon-sun": "00:00-24:00"})
    assert always.is_open(utc(2026, 3, 29, 1, 30)) and always.next_change(utc(2026, 3, 1)) is None
    far = calendar(weekly={"mon-sun": "00:00-24:00"}, holidays=["2099-06-01"])
    assert far.next_change(utc(2026, 1, 5)) == local("Europe/Berlin", 2099, 6, 1)
    long_close = calendar(weekly={"mon-fri": "08:00-18:00"}, overrides=[
        {"start": "2026-01-01", "end": "2030-01-01", "state": "closed"}])
    assert long_close.next_change(utc(2026, 6, 1)) == local("Europe/Berlin", 2030, 1, 1, 8)


# ---- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, field, words", [
    ({"timezone": "Europe/Nowhere"}, "timezone", "unknown time zone"),
    ({"timezone": "../../etc/passwd"}, "timezone", "unknown time zone"),
    ({"timezone": 5}, "timezone", "IANA"),
    ({}, "timezone", "missing"),
    ({"timezone": "UTC", "hours": {}}, "hours", "unknown key"),
    ({"timezone": "UTC", "weekly": {"mo-fr": "08:00-18:00"}}, "weekly.mo-fr", "unknown days"),
    ({"timezone": "UTC", "weekly": {"mon-fri": "08:00-18:00", "fri": "09:00-10:00"}},
     "weekly.fri", "fri is given twice"),
    ({"timezone": "UTC", "weekly": {"mon": "25:00-26:00"}}, "weekly.mon", "00:00..24:00"),
    ({"timezone": "UTC", "weekly": {"mon": "08:60-09:00"}}, "weekly.mon", "00:00..24:00"),
    ({"timezone": "UTC", "weekly": {"mon": "24:00-24:00"}}, "weekly.mon", "only ends"),
    ({"timezone": "UTC", "weekly": {"mon": "18:00-08:00"}}, "weekly.mon", "past midnight"),
    ({"timezone": "UTC", "weekly": {"mon": "8-18"}}, "weekly.mon", "HH:MM"),
    ({"timezone": "UTC", "weekly": {"mon": "08:00"}}, "weekly.mon", "HH:MM-HH:MM"),
    ({"timezone": "UTC", "weekly": {"mon": 800}}, "weekly.mon", "quote it"),
    ({"timezone": "UTC", "weekly": "mon-fri"}, "weekly", "map days"),
    ({"timezone": "UTC", "holidays": ["2026-02-30"]}, "holidays[0]", "not a date"),
    ({"timezone": "UTC", "holidays": [dt.datetime(2026, 12, 25, 8)]}, "holidays[0]",
     "without a time"),
    ({"timezone": "UTC", "holidays": "2026-12-25"}, "holidays", "list of dates"),
    ({"timezone": "UTC", "overrides": [{"start": "2026-01-01", "end": "2025-01-01",
                                        "state": "closed"}]}, "overrides[0].end", "after start"),
    ({"timezone": "UTC", "overrides": [{"start": "2026-01-01", "end": "2026-01-02",
                                        "state": "shut"}]}, "overrides[0].state", "open or closed"),
    ({"timezone": "UTC", "overrides": [{"start": "2026-01-01", "state": "closed"}]},
     "overrides[0].end", "missing"),
    ({"timezone": "UTC", "overrides": [{"start": "noon", "end": "2026-01-02",
                                        "state": "closed"}]}, "overrides[0].start", "ISO 8601"),
    ({"timezone": "UTC", "overrides": [{"start": "2026-01-01", "end": "2026-01-02",
                                        "state": "closed", "why": "x"}]},
     "overrides[0].why", "unknown key"),
])
def test_bad_calendars_name_the_field(spec, field, words):
    with pytest.raises(InvalidInput, match=words) as error:
        Calendar.from_spec("c", spec)
    assert error.value.field == field


def test_an_override_without_an_offset_is_a_local_time():
    cal = calendar("America/New_York", overrides=[
        {"start": "2026-03-08T02:30", "end": "2026-03-08 04:00", "state": "open"}])
    # 02:30 does not exist that day: the override starts at the jump (07:00 UTC).
    assert cal.overrides[0].start == utc(2026, 3, 8, 7)
    assert cal.overrides[0].end == utc(2026, 3, 8, 8)


# ---- properties: is_open agrees with a minute-by-minute reading of the rules -----------------
ZONES = ["Europe/Berlin", "America/New_York", "Europe/London", "Australia/Lord_Howe",
         "America/Santiago", "UTC"]
# Days near the changes of 2026 and 2027 (Lord Howe moves by 30 minutes; Santiago at midnight).
AROUND = [dt.date(2026, 3, 29), dt.date(2026, 10, 25), dt.date(2027, 3, 28),
          dt.date(2027, 10, 31), dt.date(2026, 3, 8), dt.date(2026, 11, 1), dt.date(2027, 3, 14),
          dt.date(2027, 11, 7), dt.date(2026, 4, 5), dt.date(2026, 9, 6), dt.date(2026, 10, 4),
          dt.date(2027, 4, 4), dt.date(2026, 6, 15)]
TIMES = [0, 30, 60, 90, 120, 150, 180, 210, 240, 480, 720, 1050, 1380, 1410, 1440]


@st.composite
def windows(draw):
    cuts = sorted(draw(st.sets(st.sampled_from(TIMES) | st.integers(0, 1440), max_size=6)))
    pairs = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
    return ",".join(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}"
                    for a, b in pairs if a < b)


@st.composite
def setups(draw):
    zone = draw(st.sampled_from(ZONES))
    centre = draw(st.sampled_from(AROUND)) + dt.timedelta(days=draw(st.integers(-2, 1)))
    weekly = {day: draw(windows()) for day in DAY_NAMES if draw(st.booleans())}
    holidays = draw(st.lists(st.sampled_from([centre + dt.timedelta(days=d) for d in range(-2, 5)]),
                             max_size=2, unique=True))
    base = dt.datetime(centre.year, centre.month, centre.day, tzinfo=UTC).timestamp()
    overrides = []
    for _ in range(draw(st.integers(0, 2))):
        start = base + 60 * draw(st.integers(-1440, 4 * 1440))
        length = 60 * draw(st.integers(1, 2 * 1440))
        overrides.append({"start": dt.datetime.fromtimestamp(start, UTC),
                          "end": dt.datetime.fromtimestamp(start + length, UTC),
                          "state": draw(st.sampled_from(["open", "closed"]))})
    return zone, centre, weekly, holidays, overrides


def reference(zone, centre, weekly, holidays, overrides):
    """Open/closed minute by minute over three days from `centre` (UTC midnight), read from
    the rules directly: a time of day is the first minute the local clock reads it or later."""
    tz = zoneinfo.ZoneInfo(zone)
    origin = dt.datetime(centre.year, centre.month, centre.day, tzinfo=UTC).timestamp()
    first = origin - 3 * 86400
    minutes = [first + 60 * m for m in range(11 * 1440)]     # covers every day's 24:00
    walls = [dt.datetime.fromtimestamp(t, tz).replace(tzinfo=None) for t in minutes]
    rising, top = [], None
    for wall in walls:                       # the clock's running maximum is sorted
        top = wall if top is None or wall > top else top
        rising.append(top)

    def instant(day, minute):
        target = dt.datetime(day.year, day.month, day.day) + dt.timedelta(minutes=minute)
        return minutes[bisect.bisect_left(rising, target)]

    days = {}
    for text, hours in weekly.items():
        day = DAY_NAMES.index(text)
        days[day] = [tuple(int(p[:2]) * 60 + int(p[3:]) for p in w.split("-"))
                     for w in hours.split(",")] if hours else []
    open_spans, closed_spans = [], []
    for delta in range(-2, 6):
        day = centre + dt.timedelta(days=delta)
        for start, end in days.get(day.weekday(), []):
            open_spans.append((instant(day, start), instant(day, end)))
        if day in holidays:
            closed_spans.append((instant(day, 0), instant(day, 1440)))
    spans = [(o["start"].timestamp(), o["end"].timestamp(), o["state"] == "open")
             for o in overrides]

    def state(t):
        for start, end, is_open in reversed(spans):
            if start <= t < end:
                return is_open
        if any(a <= t < b for a, b in closed_spans):
            return False
        return any(a <= t < b for a, b in open_spans)

    scan = [origin - 86400 + 60 * m for m in range(3 * 1440)]
    return scan, [state(t) for t in scan]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setups(), st.integers(0, 3 * 1440 - 1), st.integers(0, 59))
def test_is_open_and_next_change_agree_with_a_minute_scan(setup, pick, second):
    zone, centre, weekly, holidays, overrides = setup
    cal = calendar(zone, weekly, holidays, overrides)
    scan, states = reference(*setup)
    assert [cal.is_open(t) for t in scan] == states
    # next_change from any instant is the first minute after it whose state differs.
    t = scan[pick] + second
    expected = next((scan[i] for i in range(pick + 1, len(scan)) if states[i] != states[pick]),
                    None)
    found = cal.next_change(t)
    if expected is not None:
        assert found == expected
    else:
        assert found is None or found > scan[-1]
    assert cal.is_open(t + 0.5 if second < 59 else t) == states[pick]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offsets=st.lists(st.floats(0, 40 * 86400), min_size=1, max_size=40))
def test_the_remembered_answer_is_the_answer_whatever_the_order_of_questions(offsets):
    """`is_open` remembers the interval its last answer holds for (plans ask again and
    again): asked in any order, across the 2026 spring change, it answers as if asked
    afresh."""
    cal = calendar(weekly={"mon-fri": "08:00-18:00", "sat": "09:00-13:00"},
                   holidays=["2026-04-03"],
                   overrides=[{"start": "2026-03-31T12:00", "end": "2026-04-01T10:00",
                               "state": "closed"}])
    start = local("Europe/Berlin", 2026, 3, 20)
    for offset in offsets:
        t = start + offset
        assert cal.is_open(t) == cal._open_at(t), t

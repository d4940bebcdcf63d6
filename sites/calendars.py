"""Calendars (SPEC §10): when a service is open, in the calendar's own time zone.

A calendar has weekly hours, holidays (closed all day) and dated overrides (open or closed
windows; an emergency close is one). It answers two questions about an instant:
`is_open(t)` and `next_change(t)`, the next instant the answer changes (for timers).

Time. Every instant here is POSIX time: seconds since 1970-01-01 00:00 UTC (leap seconds
not counted), as a float. The core's own clock counts seconds from an origin (a simulation
starts at 0; a live host at its start); `WallClock(start_epoch)` maps one to the other:
`epoch(t) = start_epoch + t`. A scenario's `start:` (ISO 8601 with offset, default Monday
2026-01-05 00:00 UTC) is the `start_epoch` of `vcc simulate`. Nothing here reads a clock.

What a time of day means. "08:00" on a date is the first instant at which the calendar's
local clock shows 08:00 or later on that date. Most days that is the one instant it shows
08:00; across daylight-saving changes it is defined too, with no surprise:
- spring forward (the clock jumps, e.g. Berlin 02:00 -> 03:00): a time in the skipped hour
  is the instant of the jump, so "01:00-02:30" closes at the jump (03:00 new time),
  "02:30-04:00" opens at the jump, and "02:00-03:00" is empty that day;
- fall back (an hour repeats, e.g. Berlin 03:00 -> 02:00): a repeated time is its first
  occurrence, so "00:00-02:30" closes at the first 02:30 and "02:30-06:00" opens there.
Each window is one interval of real time, windows that touch on paper touch in time, and
a holiday closes from its local 00:00 to the next local 00:00 (23, 24 or 25 hours).

What decides, for an instant: the last listed override covering it, else a holiday
covering it (closed), else the weekly hours. Windows end before their end time
(`[start, end)`); "24:00" ends a day. A window cannot run past midnight: write
"22:00-24:00" on one day and "00:00-06:00" on the next.

`Calendar.from_spec` reads the configuration's plain values (strings, dates and datetimes as
the YAML reader or an Admin request gives them) and raises `InvalidInput` naming the field.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import re
import zoneinfo
from dataclasses import dataclass, field

from sites.errors import InvalidInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
DEFAULT_START = "2026-01-05T00:00:00+00:00"        # a Monday (SPEC §10)
DEFAULT_START_EPOCH = 1_767_571_200.0              # the same instant as POSIX time
MAX_WINDOWS_PER_DAY = 48
MAX_HOLIDAYS = 2_000
MAX_OVERRIDES = 1_000
MAX_REASON = 200
MAX_ZONE_NAME = 64
# Instants outside these years are refused: zoneinfo's rules are meant for them, and an
# override ending in the year 9999 would put datetime arithmetic at its edge.
MIN_YEAR, MAX_YEAR = 1971, 2999

_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class WallClock:
    """Maps the core's time (seconds from its origin) to POSIX time and back."""
    start_epoch: float = DEFAULT_START_EPOCH

    def epoch(self, t: float) -> float:
        return self.start_epoch + t

    def core(self, epoch: float) -> float:
        return epoch - self.start_epoch


def parse_start(value, field_name: str = "start") -> float:
    """POSIX time of an ISO 8601 date and time with a UTC offset (`2026-12-24T16:00:00+01:00`,
    `...Z`), as text or as the datetime YAML makes of it unquoted."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(field_name, f"not an ISO 8601 date and time: {text[:60]!r} "
                                           "(e.g. 2026-12-24T16:00:00+01:00)") from None
    if not isinstance(value, dt.datetime):
        raise InvalidInput(field_name, "must be an ISO 8601 date and time with its UTC offset, "
                                       "e.g. 2026-12-24T16:00:00+01:00")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field_name, "give the UTC offset (e.g. +01:00, or Z for UTC): "
                                       f"{value.isoformat()} alone names no instant")
    _check_year(value.year, field_name)
    return value.timestamp()


def _check_year(year: int, field_name: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(field_name, f"year {year} is outside {MIN_YEAR}..{MAX_YEAR}")


@dataclass(frozen=True)
class Override:
    """`[start, end)` in POSIX seconds is open (`open` True) or closed, whatever the weekly
    hours and holidays say; a later override in the calendar's list wins over an earlier."""
    start: float
    end: float
    open: bool
    reason: str = ""

    def __post_init__(self):
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise InvalidInput(name, f"must be POSIX seconds; got {value!r}")
        if self.end <= self.start:
            raise InvalidInput("end", "must be after start")


@dataclass(frozen=True)
class Calendar:
    """Opening hours in `timezone` (an IANA name such as Europe/Berlin).

    `weekly[d]` (d = 0 Monday .. 6 Sunday) holds the day's open windows as sorted,
    disjoint, non-touching `(start_minute, end_minute)` pairs, 0 <= start < end <= 1440.
    """
    name: str
    timezone: str
    weekly: tuple = ((),) * 7
    holidays: frozenset = frozenset()        # datetime.date, in the calendar's zone
    overrides: tuple = ()                    # Override, in the order given
    _zone: zoneinfo.ZoneInfo = field(default=None, init=False, repr=False, compare=False)
    _days: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _constant: bool | None = field(default=None, init=False, repr=False, compare=False)
    _holiday_list: tuple = field(default=(), init=False, repr=False, compare=False)
    # The last answer of `is_open` and the interval of time it holds for ([from, until)):
    # plans ask the same calendar again and again within the same minutes. A pure cache:
    # the answer for an instant never depends on what was asked before.
    _known: list = field(default_factory=lambda: [math.inf, -math.inf, False], init=False,
                         repr=False, compare=False)

    def to_data(self) -> dict:
        """The calendar as the core holds it (minutes, dates, POSIX seconds), as JSON-ready
        data: read back (`from_data`) it is the same calendar, whatever the center's
        configuration says by then (campaign journals and snapshots keep it so)."""
        return {"name": self.name, "timezone": self.timezone,
                "weekly": [[list(window) for window in day] for day in self.weekly],
                "holidays": sorted(day.isoformat() for day in self.holidays),
                "overrides": [[o.start, o.end, o.open, o.reason] for o in self.overrides]}

    @classmethod
    def from_data(cls, data: dict) -> "Calendar":
        return cls(data["name"], data["timezone"],
                   tuple(tuple(tuple(window) for window in day) for day in data["weekly"]),
                   frozenset(dt.date.fromisoformat(day) for day in data["holidays"]),
                   tuple(Override(*override) for override in data["overrides"]))

    def __post_init__(self):
        object.__setattr__(self, "_zone", zone(self.timezone, "timezone"))
        if len(self.weekly) != 7:
            raise InvalidInput("weekly", "needs the windows of 7 days")
        weekly = tuple(_normalized(tuple(day), "weekly") for day in self.weekly)
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "overrides", tuple(self.overrides))
        if len(self.holidays) > MAX_HOLIDAYS:
            raise InvalidInput("holidays", f"at most {MAX_HOLIDAYS:,}")
        if len(self.overrides) > MAX_OVERRIDES:
            raise InvalidInput("overrides", f"at most {MAX_OVERRIDES:,}")
        for day in self.holidays:
            if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
                raise InvalidInput("holidays", f"each holiday is a date; got {day!r}")
            _check_year(day.year, "holidays")
        object.__setattr__(self, "_holiday_list", tuple(sorted(self.holidays)))
        # The weekly hours alone never change state when every day is closed, or every day
        # open around the clock: next_change must not look for a change that never comes.
        constant = all(not day for day in weekly) or all(day == ((0, DAY_MINUTES),)
                                                           for day in weekly)
        object.__setattr__(self, "_constant", constant)

    # ---- reading the configuration --------------------------------------------------------
    @classmethod
    def from_spec(cls, name: str, spec) -> "Calendar":
        """A calendar from `{timezone, weekly, holidays, overrides}` (SPEC §10); InvalidInput
        with the field (e.g. `weekly.mon-fri`, `overrides[2].end`) otherwise."""
        if not isinstance(spec, dict):
            raise InvalidInput("", "must be a mapping with timezone and weekly")
        _only(spec, {"timezone", "weekly", "holidays", "overrides"}, "")
        if "timezone" not in spec:
            raise InvalidInput("timezone", "required key is missing")
        tz = zone(spec["timezone"], "timezone")
        weekly = [None] * 7
        weekly_spec = spec.get("weekly")
        weekly_spec = {} if weekly_spec is None else weekly_spec
        if not isinstance(weekly_spec, dict):
            raise InvalidInput("weekly", 'must map days to hours, e.g. {mon-fri: "08:00-18:00"}')
        for days_text, hours in weekly_spec.items():
            where = f"weekly.{days_text}"
            windows = parse_windows(hours, where)
            for day in parse_days(days_text, where):
                if weekly[day] is not None:
                    raise InvalidInput(where, f"{DAYS[day]} is given twice")
                weekly[day] = windows
        holidays = set()
        holiday_spec = spec.get("holidays")
        holiday_spec = [] if holiday_spec is None else holiday_spec
        if not isinstance(holiday_spec, list):
            raise InvalidInput("holidays", "must be a list of dates, e.g. [2026-12-25]")
        for number, value in enumerate(holiday_spec):
            holidays.add(parse_date(value, f"holidays[{number}]"))
        overrides = []
        override_spec = spec.get("overrides")
        override_spec = [] if override_spec is None else override_spec
        if not isinstance(override_spec, list):
            raise InvalidInput("overrides", "must be a list of {start, end, state}")
        if len(override_spec) > MAX_OVERRIDES:
            raise InvalidInput("overrides", f"at most {MAX_OVERRIDES:,}")
        for number, value in enumerate(override_spec):
            overrides.append(parse_override(value, tz, f"overrides[{number}]"))
        return cls(name, tz.key, tuple(day or () for day in weekly), frozenset(holidays),
                   tuple(overrides))

    def with_override(self, override: Override) -> "Calendar":
        """This calendar with `override` added last (it wins): e.g. an emergency close."""
        return Calendar(self.name, self.timezone, self.weekly, self.holidays,
                        self.overrides + (override,))

    # ---- questions ----------------------------------------------------------------------------
    def is_open(self, t: float) -> bool:
        """Open at POSIX time `t`?"""
        known = self._known
        if known[0] <= t < known[1]:
            return known[2]
        state = self._open_at(t)
        change = self.next_change(t)
        known[0], known[1], known[2] = t, (math.inf if change is None else change), state
        return state

    def _open_at(self, t: float) -> bool:
        number = self._override_at(t)
        if number is not None:
            return self.overrides[number].open
        return self._base_open(t)

    def next_change(self, t: float) -> float | None:
        """The first instant after `t` at which `is_open` differs from `is_open(t)`; None if
        it never changes again. Always a whole second (windows start on minutes)."""
        state = self._open_at(t)
        at = t
        # Bounded: each step moves to the next instant where some rule starts or ends; runs of
        # steps without a change are bounded by the holidays and overrides passed, plus a
        # fortnight of weekly hours (the weekly hours change at least once a week, or twice a
        # week when a window falls in a skipped hour).
        for _ in range(64 + 2 * len(self.overrides) + 2 * len(self.holidays) + 16 * 100):
            candidate = self._next_boundary(at)
            if candidate is None:
                return None
            if self._open_at(candidate) != state:
                return float(candidate)
            at = candidate
        raise AssertionError(f"calendar {self.name!r}: no change found in bounded steps")

    def local(self, t: float) -> dt.datetime:
        """POSIX time `t` as an aware datetime in the calendar's zone (for messages)."""
        return dt.datetime.fromtimestamp(t, self._zone)

    # ---- the rules as intervals of POSIX seconds -------------------------------------------
    def instant(self, day: dt.date, minute: int) -> int:
        """The first instant at which the local clock shows `minute` (0..1440) of `day` or
        later (module docstring)."""
        return local_instant(self._zone, day, minute)

    def _day(self, day: dt.date) -> tuple:
        """(holiday interval or None, weekly open intervals) of `day`, in POSIX seconds."""
        cached = self._days.get(day)
        if cached is None:
            holiday = (self.instant(day, 0), self.instant(day, DAY_MINUTES)) \
                if day in self.holidays else None
            windows = []
            for start, end in self.weekly[day.weekday()]:
                interval = (self.instant(day, start), self.instant(day, end))
                if interval[0] < interval[1]:       # empty in a skipped hour
                    windows.append(interval)
            cached = (holiday, tuple(windows))
            if len(self._days) >= 512:
                self._days.clear()
            self._days[day] = cached
        return cached

    def _local_date(self, t: float) -> dt.date:
        return dt.datetime.fromtimestamp(t, self._zone).date()

    def _override_at(self, t: float):
        """The index of the last listed override covering `t`, or None."""
        for number in range(len(self.overrides) - 1, -1, -1):
            override = self.overrides[number]
            if override.start <= t < override.end:
                return number
        return None

    def _base_open(self, t: float) -> bool:
        """The weekly hours less the holidays. A day's intervals lie between its local
        midnights, so the instant's local date and its neighbours hold every candidate."""
        today = self._local_date(t)
        days = [today + dt.timedelta(days=delta) for delta in (-1, 0, 1)]
        for day in days:
            holiday = self._day(day)[0]
            if holiday is not None and holiday[0] <= t < holiday[1]:
                return False
        return any(start <= t < end for day in days for start, end in self._day(day)[1])

    def _next_boundary(self, t: float):
        """The first instant after `t` at which a rule that decides may start or end."""
        number = self._override_at(t)
        if number is not None:
            # Until it ends only an override listed after it can change anything.
            later = self.overrides[number + 1:]
            return min([self.overrides[number].end] + [o.start for o in later if o.start > t])
        candidates = [o.start for o in self.overrides if o.start > t]
        base = self._next_base_boundary(t)
        if base is not None:
            candidates.append(base)
        return min(candidates) if candidates else None

    def _next_base_boundary(self, t: float):
        today = self._local_date(t)
        # Inside a holiday the weekly hours do not matter until it ends.
        for delta in (-1, 0, 1):
            holiday = self._day(today + dt.timedelta(days=delta))[0]
            if holiday is not None and holiday[0] <= t < holiday[1]:
                return holiday[1]
        found = None
        first = bisect.bisect_left(self._holiday_list, today - dt.timedelta(days=1))
        for day in self._holiday_list[first:first + 4]:     # the next one starts after t
            start = self._day(day)[0][0]
            if start > t:
                found = start
                break
        if not self._constant:
            # A day's boundaries all come before the next day's: the first day with one after
            # `t` holds the earliest. A fortnight always has one (module docstring).
            for delta in range(-1, 16):
                day = today + dt.timedelta(days=delta)
                after = [edge for interval in self._day(day)[1] for edge in interval if edge > t]
                if after:
                    edge = min(after)
                    found = edge if found is None else min(found, edge)
                    break
        return found


def local_instant(tz: zoneinfo.ZoneInfo, day: dt.date, minute: int) -> int:
    """POSIX time of the first instant at which the clock of `tz` shows `minute` (0..1440)
    of `day` or later: the one instant it shows it; the first of two in a repeated hour; the
    jump itself for a skipped time."""
    if minute >= DAY_MINUTES:
        day, minute = day + dt.timedelta(days=1), minute - DAY_MINUTES
    naive = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60)
    first = int(naive.replace(tzinfo=tz, fold=0).timestamp())
    second = int(naive.replace(tzinfo=tz, fold=1).timestamp())
    if first <= second:         # shown once (equal), or twice: its first occurrence
        return first
    # Skipped: the clock jumps over `naive` at an instant in (second, first]; find the first
    # instant with the offset after the jump. At most ~20 halvings (a gap is under a day).
    after = dt.datetime.fromtimestamp(first, tz).utcoffset()
    low, high = second, first
    for _ in range(64):
        if high - low <= 1:
            break
        middle = (low + high) // 2
        if dt.datetime.fromtimestamp(middle, tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high


# ---- parsing helpers (shared with sites.plans) ------------------------------------------------
def zone(name, field_name: str) -> zoneinfo.ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(field_name, f"must be an IANA time zone name such as Europe/Berlin; "
                                       f"got {name!r}"[:200])
    if len(name) > MAX_ZONE_NAME:
        raise InvalidInput(field_name, f"at most {MAX_ZONE_NAME} characters")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(field_name, f"unknown time zone {name!r} (an IANA name such as "
                                       "Europe/Berlin, America/New_York or UTC)") from None


def _only(mapping: dict, allowed: set, where: str) -> None:
    for key in mapping:
        if key not in allowed:
            path = f"{where}.{key}" if where else str(key)
            raise InvalidInput(path, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def parse_days(text, field_name: str) -> list:
    """`mon-fri`, `sat`, `mon,wed,fri`, `sun-thu` (a range may wrap past Sunday)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(field_name, "days must be text such as mon-fri, sat or mon,wed")
    days = []
    for part in text.lower().split(","):
        part = part.strip()
        ends = [end.strip() for end in part.split("-")]
        if len(ends) > 2 or any(end not in DAYS for end in ends):
            raise InvalidInput(field_name, f"unknown days {part!r} (days: {', '.join(DAYS)}; "
                                           "a range such as mon-fri; a list such as mon,wed)")
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        span = (last - first) % 7
        for step in range(span + 1):
            day = (first + step) % 7
            if day in days:
                raise InvalidInput(field_name, f"{DAYS[day]} is given twice")
            days.append(day)
    return days


def parse_time(text: str, field_name: str, *, end: bool) -> int:
    match = _TIME.match(text)
    if not match:
        raise InvalidInput(field_name, f"not a time of day HH:MM: {text.strip()[:40]!r}")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes) or (hours == 24 and not end):
        raise InvalidInput(field_name, f"not a time of day 00:00..24:00: {text.strip()!r}"
                                       + ("" if end else " (24:00 only ends a window)"))
    return hours * 60 + minutes


def parse_windows(value, field_name: str) -> tuple:
    """`"08:00-18:00"`, `"08:00-12:00,13:00-18:00"`, a list of such, or `closed`/`""`."""
    if isinstance(value, list):
        parts = []
        for item in value:
            if not isinstance(item, str):
                raise InvalidInput(field_name, f'each window is text "HH:MM-HH:MM"; got {item!r}'
                                   [:200])
            parts.extend(item.split(","))
    elif isinstance(value, str):
        parts = [] if value.strip().lower() in ("", "closed") else value.split(",")
    elif value is None:
        parts = []
    else:
        raise InvalidInput(field_name, 'hours must be text such as "08:00-18:00" or '
                                       f'"08:00-12:00,13:00-18:00" (quote it); got {value!r}'
                           [:240])
    if len(parts) > MAX_WINDOWS_PER_DAY:
        raise InvalidInput(field_name, f"at most {MAX_WINDOWS_PER_DAY} windows a day")
    windows = []
    for part in parts:
        ends = part.split("-")
        if len(ends) != 2:
            raise InvalidInput(field_name, f"a window is HH:MM-HH:MM; got {part.strip()[:40]!r}")
        start = parse_time(ends[0], field_name, end=False)
        stop = parse_time(ends[1], field_name, end=True)
        if stop <= start:
            raise InvalidInput(field_name, f"window {part.strip()!r} ends before it starts "
                                           "(a window cannot run past midnight: write "
                                           "22:00-24:00 and 00:00-06:00 on the next day)")
        windows.append((start, stop))
    return _normalized(tuple(windows), field_name)


def _normalized(windows, field_name: str) -> tuple:
    """Sorted, overlapping or touching windows merged."""
    merged = []
    for start, end in sorted(windows):
        if not (isinstance(start, int) and isinstance(end, int)
                and 0 <= start < end <= DAY_MINUTES):
            raise InvalidInput(field_name, f"bad window {(start, end)!r}: minutes "
                                           "0 <= start < end <= 1440")
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def parse_date(value, field_name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise InvalidInput(field_name, f"a date without a time, e.g. 2026-12-25; got "
                                       f"{value.isoformat()}")
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(field_name, f"not a date YYYY-MM-DD: {value.strip()[:40]!r}") \
                from None
    if not isinstance(value, dt.date):
        raise InvalidInput(field_name, f"must be a date YYYY-MM-DD; got {value!r}"[:200])
    _check_year(value.year, field_name)
    return value


def parse_instant(value, tz: zoneinfo.ZoneInfo, field_name: str) -> float:
    """POSIX time of a date and time: with a UTC offset as given; without one, a time of the
    calendar's zone (module docstring: first instant the clock shows it); a date alone: its
    local 00:00."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.datetime.fromisoformat(text) if ("T" in text or " " in text) \
                else dt.date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(field_name, f"not an ISO 8601 date and time: {text[:60]!r} "
                                           "(e.g. 2026-12-24T16:00:00+01:00)") from None
    if isinstance(value, dt.datetime):
        _check_year(value.year, field_name)
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value.timestamp()
        if value.second or value.microsecond:
            raise InvalidInput(field_name, "a local time is given to the minute; give a UTC "
                                           "offset for seconds")
        return float(local_instant(tz, value.date(), value.hour * 60 + value.minute))
    if isinstance(value, dt.date):
        _check_year(value.year, field_name)
        return float(local_instant(tz, value, 0))
    raise InvalidInput(field_name, f"must be a date and time such as 2026-12-24T16:00:00+01:00; "
                                   f"got {value!r}"[:200])


def parse_override(value, tz: zoneinfo.ZoneInfo, field_name: str) -> Override:
    if not isinstance(value, dict):
        raise InvalidInput(field_name, "an override is {start, end, state: open|closed, reason?}")
    _only(value, {"start", "end", "state", "reason"}, field_name)
    for key in ("start", "end", "state"):
        if key not in value:
            raise InvalidInput(f"{field_name}.{key}", "required key is missing")
    start = parse_instant(value["start"], tz, f"{field_name}.start")
    end = parse_instant(value["end"], tz, f"{field_name}.end")
    if end <= start:
        raise InvalidInput(f"{field_name}.end", "must be after start")
    state = value["state"]
    if state not in ("open", "closed"):
        raise InvalidInput(f"{field_name}.state", f"must be open or closed; got {state!r}"[:200])
    reason = value.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise InvalidInput(f"{field_name}.reason", f"text of at most {MAX_REASON} characters")
    return Override(start, end, state == "open", reason)


__all__ = ["Calendar", "DAYS", "DEFAULT_START", "DEFAULT_START_EPOCH", "Override", "WallClock",
           "local_instant", "parse_start"]

"""Call windows (SPEC §6): a record is dialled only while the campaign's calendar (SPEC §10)
is open in the callee's time zone.

The calendar's weekly hours and holidays are read in the callee's zone: "mon-fri 09:00-20:00"
means nine to eight on the callee's clock, wherever the center is, and DST changes are the
callee's (sites/calendars.py defines times of day across them). Its dated overrides stay the
instants they name (an emergency close applies at the same moment to everyone).

A number whose prefix spans several zones (the host could not tell which) is called only
when the window is open in every one of them: the most restrictive reading, as a call at
the wrong hour is what the rule forbids. A group with no zone (unknown) has no window.

Time: the core counts seconds from its origin; `clock` (sites.calendars.WallClock) maps them
to POSIX time, as routing plans do. A live host that restarts counts from another origin:
the campaign replaces `clock` on a `ClockChanged` event.
"""

from __future__ import annotations

from sites.calendars import Calendar, WallClock

# How far ahead a common opening of several zones is looked for at one time. A record whose
# zones share no open minute within it is looked at again then (it waits, it is not lost).
SEARCH_HORIZON_S = 14 * 86_400.0


class CallWindows:
    """`calendar` in each zone of `zone_sets` (tuples of IANA names, by group)."""

    def __init__(self, calendar: Calendar, clock: WallClock, zone_sets):
        self.calendar = calendar
        self.clock = clock
        in_zone: dict = {}
        groups = []
        for zones in zone_sets:
            calendars = []
            for name in zones:
                if name not in in_zone:
                    in_zone[name] = Calendar(calendar.name, name, calendar.weekly,
                                             calendar.holidays, calendar.overrides)
                calendars.append(in_zone[name])
            groups.append(tuple(calendars))
        self._groups = tuple(groups)

    def opens_at(self, group: int, now: float) -> float | None:
        """`now` if group's window is open now, else the core time it opens next (or when to
        look again, past SEARCH_HORIZON_S); None: never (no zone, or a calendar that never
        opens again)."""
        calendars = self._groups[group]
        if not calendars:
            return None
        start = self.clock.epoch(now)
        at = start
        # Bounded: each round moves `at` to an opening of some zone's calendar, and the
        # horizon ends the search.
        while at - start <= SEARCH_HORIZON_S:
            moved = False
            for calendar in calendars:
                if not calendar.is_open(at):
                    change = calendar.next_change(at)
                    if change is None:
                        return None
                    at, moved = change, True
            if not moved:
                return now if at == start else self.clock.core(at)
        return self.clock.core(at)

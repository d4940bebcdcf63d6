"""The forecast of `vcc staff` (SPEC §11): a CSV of `interval_start,volume,aht_s`, read
strictly. Every problem is `file:line: column: problem` (cluster/customers/csv_rows.py, the
reader of the import files); nothing is staffed while any is left.

`interval_start` is a time of day (`08:30`) or a date and time (`2025-03-03 08:30`, or with
a `T`), the same form on every row, rising. Intervals are 15, 30 or 60 minutes long: the
gap between the first two rows, or `interval_min` when given (a file of one row needs it).
A longer gap is a closed period (no calls, no agents), a whole number of intervals.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from cluster.customers.csv_rows import ImportRefused, Problems, read_rows

COLUMNS = ("interval_start", "volume", "aht_s")
INTERVAL_MINUTES = (15, 30, 60)
MAX_FORECAST_BYTES = 16 * 1024 * 1024
MAX_INTERVALS = 31 * 96                 # a month of 15-minute intervals
MAX_VOLUME = 1_000_000                  # calls in one interval
MAX_AHT_S = 86_400.0
MAX_ERLANGS = 10_000                    # offered load of one interval (volume x AHT / length)
_TIME_OF_DAY = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])\Z")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?\Z|\.[0-9]+([eE][+-]?[0-9]+)?\Z")

ForecastError = ImportRefused


@dataclass(frozen=True)
class Interval:
    start: str              # as written
    offset_s: float         # from the first interval's start
    volume: float
    aht_s: float
    line: int


@dataclass(frozen=True)
class Forecast:
    path: str
    interval_s: float
    intervals: tuple

    @property
    def duration_s(self) -> float:
        return self.intervals[-1].offset_s + self.interval_s


def read_forecast(path: str, interval_min: int | None = None) -> Forecast:
    """The checked forecast of `path`; ForecastError with every problem found (up to 20)."""
    problems = Problems(path)
    intervals, kinds = [], []
    first = None
    total = [0]

    def count_bytes(size: int) -> None:
        total[0] += size
        if total[0] > MAX_FORECAST_BYTES:
            problems.add(1, "(file)", f"larger than {MAX_FORECAST_BYTES // 1024 ** 2} MiB")
            problems.raise_any()

    for row in read_rows(path, COLUMNS, COLUMNS, problems, count_bytes):
        if len(kinds) >= MAX_INTERVALS:
            problems.add(row.line, "(row)", f"more than {MAX_INTERVALS:,} intervals (a month "
                                            "of 15-minute ones): split the forecast")
            problems.raise_any()
        fields = row.fields
        start = _checked(problems, row.line, "interval_start", _start, fields["interval_start"])
        volume = _checked(problems, row.line, "volume",
                          lambda text: _number(text, MAX_VOLUME, zero=True), fields["volume"])
        aht = _checked(problems, row.line, "aht_s",
                       lambda text: _number(text, MAX_AHT_S, zero=volume == 0), fields["aht_s"])
        if start is None:
            kinds.append(None)
            continue
        kind, moment = start
        if first is None:
            first = (kind, moment, row.line)
        elif kind != first[0]:
            problems.add(row.line, "interval_start", f"{_forms[kind]}; line {first[2]} gives "
                                                     f"{_forms[first[0]]}: use one form")
            continue
        offset = (moment - first[1]).total_seconds()
        kinds.append(kind)
        if volume is not None and aht is not None:
            intervals.append(Interval(fields["interval_start"], offset, volume, aht, row.line))
    if not kinds:
        problems.add(1, "(file)", "no intervals: one row per interval after the header "
                                  f"({','.join(COLUMNS)})")
    problems.raise_any()
    interval_s = _interval_s(path, intervals, interval_min, problems)
    problems.raise_any()
    return Forecast(path, interval_s, tuple(intervals))


_forms = {"time": "a time of day (HH:MM)", "datetime": "a date and time (YYYY-MM-DD HH:MM)"}


def _checked(problems: Problems, line: int, column: str, check, text: str):
    try:
        return check(text)
    except ValueError as error:
        problems.add(line, column, str(error))
        return None


def _start(text: str) -> tuple:
    match = _TIME_OF_DAY.match(text)
    if match:
        return "time", datetime(2000, 1, 1, int(match[1]), int(match[2]))
    try:
        moment = datetime.fromisoformat(text) if len(text) <= 40 and "-" in text else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is not None:
        raise ValueError(f"{text[:40]!r} is not a time of day (08:30) or a date and time "
                         "(2025-03-03 08:30), without a time zone")
    return "datetime", moment


def _number(text: str, maximum: float, zero: bool) -> float:
    if not text:
        raise ValueError("empty (required)")
    if not _NUMBER.match(text):
        raise ValueError(f"{text[:40]!r} is not a number >= 0 (digits, a decimal point)")
    value = float(text)
    if not math.isfinite(value) or value > maximum:
        raise ValueError(f"{text[:40]} is more than {maximum:,.0f}")
    if value == 0 and not zero:
        raise ValueError("must be > 0 (0 only in an interval without calls)")
    return value


def _interval_s(path: str, intervals: list, interval_min: int | None,
                problems: Problems) -> float:
    """The intervals' length, checked against every gap between rows."""
    if interval_min is not None:
        length = 60.0 * interval_min
    elif len(intervals) < 2:
        problems.add(intervals[0].line if intervals else 1, "interval_start",
                     "one interval: say how long it is (--interval-min 15, 30 or 60)")
        return 0.0
    else:
        length = intervals[1].offset_s - intervals[0].offset_s
        if length / 60.0 not in INTERVAL_MINUTES:
            problems.add(intervals[1].line, "interval_start",
                         f"{_minutes(length)} after line {intervals[0].line}: intervals are "
                         f"15, 30 or 60 minutes long")
            return length
    for row in intervals:
        load = row.volume * row.aht_s / length
        if load > MAX_ERLANGS:
            problems.add(row.line, "volume", f"{row.volume:,g} calls of {row.aht_s:,g} s in "
                                             f"{_minutes(length)} are {load:,.0f} erlangs; at "
                                             f"most {MAX_ERLANGS:,} (split the queue)")
    for before, row in zip(intervals, intervals[1:]):
        gap = row.offset_s - before.offset_s
        if gap <= 0:
            problems.add(row.line, "interval_start",
                         f"not after line {before.line}'s {before.start!r}: intervals rise")
        elif gap % length:
            problems.add(row.line, "interval_start",
                         f"{_minutes(gap)} after line {before.line}: not a whole number of "
                         f"{_minutes(length)} intervals")
    return length


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} minutes"

"""What a `vcc report` asks for: the options parsed and checked (`ReportQuery`), and the
times shown as people read them."""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

BY = ("skill", "site", "class", "agent", "service", "dnis", "tier")
# The groupings by what a caller dialled (SPEC §10): their rows also say what became of the
# callers (self-served, IVR or queue abandons, busies, callbacks ...: reports/figures.py).
BY_ENTRY = ("service", "dnis")
# Groupings of callers, not of work agents do: their rows have no agent time (occupancy,
# not-ready time). By tier: the caller's customer tier (SPEC §7).
BY_CALLER = BY_ENTRY + ("tier",)
MAX_INTERVALS = 100_000           # a report is read by people: more rows than this is a mistake
MAX_INTERVAL_S = 366 * 86400.0    # --interval: a year (a leap one) at most
# --from/--to: seconds (the core's clock) or ISO times, within the years 1..9999 (what
# datetime can show; beyond, Python's time functions overflow).
MIN_TIME_S = -62_135_596_800.0    # 0001-01-01T00:00:00Z
MAX_TIME_S = 253_402_300_799.0    # 9999-12-31T23:59:59Z
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EPOCH_LIKE = 1e8                 # times above this are wall clock (epoch seconds), shown as ISO


class ReportError(ValueError):
    """A report request that cannot be served; `argument` names the option at fault."""

    def __init__(self, argument: str, problem: str):
        super().__init__(f"{argument}: {problem}")
        self.argument = argument


def parse_interval(text: str) -> float:
    """'15m', '1h', '1d', '900s' or '900' -> seconds."""
    text = str(text)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"must be a duration like 15m, 1h, 1d or 900s; "
                                         f"got {brief(text)}")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0; got {brief(text)}")
    if not seconds <= MAX_INTERVAL_S:       # inf too: 10**400 seconds
        raise argparse.ArgumentTypeError(f"at most 366d ({MAX_INTERVAL_S:,.0f} s); "
                                         f"got {brief(text)}")
    return seconds


def brief(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


def parse_time(text: str) -> float:
    """Seconds (the core's clock, as stored) or an ISO 8601 time (UTC unless it says)."""
    text = str(text).strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not (math.isfinite(value) and MIN_TIME_S <= value <= MAX_TIME_S):
            raise argparse.ArgumentTypeError(
                f"must be a finite number of seconds within the years 1..9999 "
                f"({MIN_TIME_S:,.0f} .. {MAX_TIME_S:,.0f}); got {brief(text)}")
        return value
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be seconds or an ISO time like 2026-03-02T08:00; got {brief(text)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        seconds = moment.timestamp()
    except (OverflowError, ValueError):     # 0001-01-01 with a negative offset
        seconds = math.inf
    if not MIN_TIME_S <= seconds <= MAX_TIME_S:
        raise argparse.ArgumentTypeError(f"must be within the years 1..9999 UTC; "
                                         f"got {brief(text)}")
    return seconds


def format_time(seconds: float) -> str:
    if seconds >= _EPOCH_LIKE:
        try:
            return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        except (OverflowError, ValueError, OSError):    # past the year 9999
            pass
    return f"{seconds:g}"


def duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class ReportQuery:
    start: float
    end: float
    interval_s: float = 900.0
    by: str = "skill"

    def __post_init__(self):
        if self.by not in BY:
            raise ReportError("--by", f"must be one of {', '.join(BY)}; got {self.by!r}")
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise ReportError("--interval", f"must be longer than 0; got {self.interval_s!r}")
        if self.interval_s > MAX_INTERVAL_S:
            raise ReportError("--interval", f"at most 366d ({MAX_INTERVAL_S:,.0f} s); got "
                                            f"{self.interval_s:g} s")
        for option, value in (("--from", self.start), ("--to", self.end)):
            if not (math.isfinite(value) and MIN_TIME_S <= value <= MAX_TIME_S + MAX_INTERVAL_S):
                raise ReportError(option, f"must be within the years 1..9999; got {value!r}")
        if not self.end > self.start:
            raise ReportError("--to", f"must be after --from ({format_time(self.end)} is not "
                                      f"after {format_time(self.start)})")
        count = math.floor(self.end / self.interval_s) - math.floor(self.start / self.interval_s)
        if count >= MAX_INTERVALS:
            raise ReportError("--interval", f"{count:,} intervals between --from and --to; "
                                            f"use a longer interval (at most {MAX_INTERVALS:,})")

    @property
    def agent_time(self) -> bool:
        """Whether its rows have agent time (agents serve skills and sites, not callers)."""
        return self.by not in BY_CALLER

    @property
    def outcomes(self) -> bool:
        """Whether its rows say what became of the callers (grouped by what they dialled)."""
        return self.by in BY_ENTRY

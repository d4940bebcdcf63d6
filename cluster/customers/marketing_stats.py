"""Inbound marketing statistics and the agents' ranking (SPEC §7), added up by the database.

One GROUP BY over `marketing_outcomes` joined with `marketing_offers` returns five sums per
group; only those come to Python, where the rates are taken. `vcc marketing report` /
`ranking` and the Marketing API's StreamRanking all call this module.

What the rows of `marketing_outcomes` mean (cluster/customers/history.py writes them):
- every row is one offer that was **eligible** on one contact: it popped on the agent's
  screen (`mark_eligible` writes it `not_presented`), or its result was recorded directly;
  one row per offer and contact, the latest report wins;
- **presented**: its result is `accepted` or `declined`; **accepted**: `accepted`;
- **revenue** = the offer's `value_cents` x accepted, **commission** = its
  `commission_cents` x accepted (the offer's value as it is now: the store keeps no price
  history);
- a row counts at its `time`: when the offer popped, or when its latest result was
  reported; rows without an agent count under the agent "" (shown `(none)`), and are in
  no ranking.
Rates: presentation rate = presented / eligible, success rate = accepted / presented (None
when the denominator is 0).

Periods are wall-clock periods of a time zone (UTC by default): an interval of whole days
starts at local midnight of the first day, a shorter one must divide a day and starts at
local midnight too. The database computes each row's local time from the zone's UTC offsets
over the range (a CASE over the few offset changes, found in Python with zoneinfo): on the
day the clocks go back, the repeated hour counts in the period it repeats.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from cluster.store.models import MarketingOffer, MarketingOutcome
from cluster.store.sqlfuncs import floor_

BY = ("agent", "product", "customer", "period")
DAY_S = 86400.0
MIN_INTERVAL_S = 60.0
MAX_SPAN_DAYS = 100_000         # ~274 years: how far a time zone's offsets are looked up
UTC = timezone.utc

_outcomes = MarketingOutcome.__table__
_offers = MarketingOffer.__table__
O, F = _outcomes.c, _offers.c
_EPOCH = datetime(1970, 1, 1)


class StatsError(ValueError):
    """A statistics request that cannot be served; `option` names what is at fault."""

    def __init__(self, option: str, problem: str):
        super().__init__(f"{option}: {problem}")
        self.option = option
        self.problem = problem


def time_zone(name: str | None):
    """The zone of an IANA name (None or "": UTC); StatsError naming --tz otherwise."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        shown = repr(name) if len(name) <= 60 else repr(name[:57] + "...")
        raise StatsError("--tz", f"unknown time zone {shown} (an IANA name: Europe/Paris, "
                                 f"America/New_York, UTC)") from None


@dataclasses.dataclass(frozen=True)
class Figures:
    eligible: int = 0
    presented: int = 0
    accepted: int = 0
    revenue_cents: int = 0
    commission_cents: int = 0

    @property
    def presentation_rate(self) -> float | None:
        return self.presented / self.eligible if self.eligible else None

    @property
    def success_rate(self) -> float | None:
        return self.accepted / self.presented if self.presented else None

    def __add__(self, other: "Figures") -> "Figures":
        return Figures(*(a + b for a, b in zip(dataclasses.astuple(self),
                                                dataclasses.astuple(other))))

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "presentation_rate": self.presentation_rate,
                "success_rate": self.success_rate}


@dataclasses.dataclass(frozen=True)
class StatsRow:
    group: str                  # agent id ("": none), product, or the period's local start
    figures: Figures
    start: float | None = None  # a period's start, seconds since the epoch


@dataclasses.dataclass(frozen=True)
class StatsQuery:
    """Statistics by `by`, over outcomes with `since` <= time < `until` (None: no bound);
    periods of `interval_s` in the zone `tz` (an IANA name; None: UTC)."""
    by: str = "agent"
    since: float | None = None
    until: float | None = None
    interval_s: float = DAY_S
    tz: str | None = None

    def __post_init__(self):
        if self.by not in BY:
            raise StatsError("--by", f"must be one of {', '.join(BY)}; got {self.by!r}")
        interval = self.interval_s
        if not (math.isfinite(interval) and interval >= MIN_INTERVAL_S) or not (
                interval % DAY_S == 0 if interval >= DAY_S else DAY_S % interval == 0):
            raise StatsError("--interval", f"must be whole days (1d, 7d) or divide a day "
                                           f"(15m, 1h, 6h), at least 1m; got {interval:g} s")
        if (self.since is not None and self.until is not None
                and not self.until > self.since):
            raise StatsError("--until", "must be after --since")
        time_zone(self.tz)

    @property
    def zone(self):
        return time_zone(self.tz)


def _count(condition):
    return sa.func.sum(sa.case((condition, 1), else_=0))


_ACCEPTED = O.result == "accepted"
_SUMS = (sa.func.count().label("eligible"),
         _count(O.result.in_(("accepted", "declined"))).label("presented"),
         _count(_ACCEPTED).label("accepted"),
         sa.func.sum(sa.case((_ACCEPTED, F.value_cents), else_=0)).label("revenue"),
         sa.func.sum(sa.case((_ACCEPTED, F.commission_cents), else_=0)).label("commission"))
_SOURCE = _outcomes.join(_offers, F.offer_id == O.offer_id)


def _figures(row) -> Figures:
    # int(): PostgreSQL sums BIGINT columns as NUMERIC (Decimal).
    return Figures(int(row.eligible), int(row.presented or 0), int(row.accepted or 0),
                   int(row.revenue or 0), int(row.commission or 0))


def _within(select, since, until):
    if since is not None:
        select = select.where(O.time >= since)
    if until is not None:
        select = select.where(O.time < until)
    return select


# ---- periods in a time zone ----------------------------------------------------------------
def _offset(zone, seconds: float) -> float:
    return datetime.fromtimestamp(seconds, zone).utcoffset().total_seconds()


def offset_changes(zone, first: float, last: float) -> list[tuple[float, float]]:
    """[(from this time on, UTC offset in seconds)] of `zone` between `first` and `last`,
    the first entry holding from the beginning: days sampled, each change found to the
    second by bisection."""
    if (last - first) / DAY_S > MAX_SPAN_DAYS:
        raise StatsError("--since", f"periods in a time zone span at most {MAX_SPAN_DAYS:,} "
                                    f"days; give --since and --until")
    changes = [(-math.inf, _offset(zone, first))]
    moment = first
    while moment < last:
        step = min(moment + DAY_S, last)
        if _offset(zone, step) != changes[-1][1]:
            low, high = moment, step             # the offset changes in (low, high]
            while high - low > 1:
                middle = math.floor((low + high) / 2)
                if _offset(zone, middle) == changes[-1][1]:
                    low = middle
                else:
                    high = middle
            changes.append((high, _offset(zone, high)))
        moment = step
    return changes


def _local_midnight(zone, seconds: float) -> float:
    """Local midnight of the day of `seconds`, as local wall-clock seconds since 1970-01-01."""
    local = datetime.fromtimestamp(seconds, zone).replace(tzinfo=None)
    return (local.replace(hour=0, minute=0, second=0, microsecond=0) - _EPOCH).total_seconds()


def _wall_to_utc(zone, wall: float) -> float:
    """Seconds since the epoch of a local wall-clock time (the earlier one when it repeats)."""
    return (_EPOCH + timedelta(seconds=wall)).replace(tzinfo=zone).timestamp()


def _period_label(wall: float, interval_s: float) -> str:
    moment = _EPOCH + timedelta(seconds=wall)
    if interval_s % DAY_S == 0:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M" if interval_s % 60 == 0 else "%Y-%m-%d %H:%M:%S")


def _time_range(connection, query: StatsQuery) -> tuple[float, float] | None:
    first, last = connection.execute(_within(
        sa.select(sa.func.min(O.time), sa.func.max(O.time)), query.since, query.until)).one()
    return None if first is None else (float(first), float(last))


def _period_statistics(connection, query: StatsQuery) -> list[StatsRow]:
    found = _time_range(connection, query)
    if found is None:
        return []
    zone = query.zone
    first, last = found
    changes = offset_changes(zone, first, last)
    if len(changes) == 1:
        offset = sa.literal(changes[0][1])
    else:
        offset = sa.case(*[(O.time < start, previous) for (_, previous), (start, _)
                           in zip(changes, changes[1:])], else_=changes[-1][1])
    anchor = _local_midnight(zone, first)
    bucket = floor_((O.time + offset - anchor) / query.interval_s).label("bucket")
    select = _within(sa.select(bucket, *_SUMS).select_from(_SOURCE),
                     query.since, query.until).group_by(bucket).order_by(bucket)
    rows = []
    for row in connection.execute(select):
        wall = anchor + int(row.bucket) * query.interval_s
        rows.append(StatsRow(_period_label(wall, query.interval_s), _figures(row),
                             _wall_to_utc(zone, wall)))
    return rows


def statistics(engine, query: StatsQuery) -> list[StatsRow]:
    """The rows of `query`, by agent id, product, customer id or period start (in that
    order; outcomes recorded without an agent or a customer under "")."""
    with engine.connect() as connection:
        if query.by == "period":
            return _period_statistics(connection, query)
        group = {"agent": sa.func.coalesce(O.agent_id, ""), "product": F.product,
                 "customer": sa.func.coalesce(O.customer_id, "")}[query.by]
        select = _within(sa.select(group.label("key"), *_SUMS).select_from(_SOURCE),
                         query.since, query.until).group_by(group).order_by(group)
        return [StatsRow(row.key, _figures(row)) for row in connection.execute(select)]


def total(rows: list[StatsRow]) -> Figures:
    out = Figures()
    for row in rows:
        out += row.figures
    return out


# ---- the ranking ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AgentRank:
    agent_id: str
    rank: int                   # 1 = first: by commission, then accepted (ties share it)
    figures: Figures


@dataclasses.dataclass(frozen=True)
class Ranking:
    time: float                 # when it was computed
    day_start: float            # "today": from local midnight (seconds since the epoch)
    day_end: float              # to the next one (23, 24 or 25 hours later)
    today: tuple                # AgentRank, best first
    to_date: tuple

    def same_standings(self, other: "Ranking | None") -> bool:
        """Whether `other` says the same (the time aside)."""
        return other is not None and (self.day_start, self.today, self.to_date) == (
            other.day_start, other.today, other.to_date)


def today(zone, now: float) -> tuple[float, float]:
    """(local midnight, the next local midnight) of the day of `now` in `zone`."""
    midnight = _local_midnight(zone, now)
    return _wall_to_utc(zone, midnight), _wall_to_utc(zone, midnight + DAY_S)


def _standings(connection, since: float | None, until: float | None) -> tuple:
    """Agents (those named) best first; RANK() gives tied agents the same rank."""
    commission = sa.func.sum(sa.case((_ACCEPTED, F.commission_cents), else_=0))
    rank = sa.func.rank().over(order_by=(commission.desc(), _count(_ACCEPTED).desc()))
    select = (_within(sa.select(O.agent_id, rank.label("rank"), *_SUMS).select_from(_SOURCE)
                      .where(O.agent_id.isnot(None)), since, until)
              .group_by(O.agent_id).order_by(sa.literal_column("rank"), O.agent_id))
    return tuple(AgentRank(row.agent_id, int(row.rank), _figures(row))
                 for row in connection.execute(select))


def ranking(engine, *, now: float, tz: str | None = None) -> Ranking:
    """The agents ranked by commission, then accepted offers: today (local midnight to
    midnight in `tz`, UTC by default) and to date; both read in one transaction."""
    start, end = today(time_zone(tz), now)
    with engine.begin() as connection:
        return Ranking(now, start, end, _standings(connection, start, end),
                       _standings(connection, None, None))

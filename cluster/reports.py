"""`vcc report`: interval and daily reports from the store (SPEC §8, issue 6).

Per interval (15 minutes by default, `--interval 1d` for daily) and per skill, site (of
entry), class (skill/priority/SO) or agent: offered, answered, abandoned, SL, SL2, ASA, AHT,
wrap-up, occupancy, not-ready time by reason and the EWT prediction error.

The database does the work: one GROUP BY over contact records and one over agent state
intervals return a few sums per (interval, group); only those sums come to Python, where the
ratios are taken. A contact counts in the interval it arrived in (whatever happened to it
later), so SL and ASA describe the callers of that interval. Agent time is split across the
intervals it spans.

Definitions (SPEC §2):
- SL = answered within the skill's threshold / answered; SL2 = the same / (answered +
  abandoned); ASA = mean wait of answered contacts (from first arrival);
- AHT = mean (talk + wrap-up) of completed contacts; wrap-up = their mean wrap-up time;
- occupancy = (busy + wrap-up time) / logged-in time; agents count for every skill they have;
- EWT error = actual wait - EWT announced at the first queue treatment, over answered contacts
  that were queued with a known EWT (mean, and mean of its absolute value); its RMSE, the
  RMSE of the best predictor that knows only the place in the queue (the mean wait of those
  contacts at each place, fitted on them), the ratio of the two and the mean error as a
  percentage of their mean wait (SPEC §8's EWT targets: ratio <= 1.10, |bias| <= 5 %). The
  place-only figure needs wait sums per place: a second GROUP BY adds the place.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone

import sqlalchemy as sa

from cluster.store.db import DEFAULT_URL, StoreUrlError, open_engine
from cluster.store.models import AgentSkill, AgentStateInterval, ContactRecord
from cluster.store.sqlfuncs import floor_, greatest, least

BY = ("skill", "site", "class", "agent")
MAX_INTERVALS = 100_000           # a report is read by people: more rows than this is a mistake
MAX_INTERVAL_S = 366 * 86400.0    # --interval: a year (a leap one) at most
# --from/--to: seconds (the core's clock) or ISO times, within the years 1..9999 (what
# datetime can show; beyond, Python's time functions overflow).
MIN_TIME_S = -62_135_596_800.0    # 0001-01-01T00:00:00Z
MAX_TIME_S = 253_402_300_799.0    # 9999-12-31T23:59:59Z
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EPOCH_LIKE = 1e8                 # times above this are wall clock (epoch seconds), shown as ISO

RECORDS = ContactRecord.__table__
INTERVALS = AgentStateInterval.__table__
AGENT_SKILLS = AgentSkill.__table__
R, I, S = RECORDS.c, INTERVALS.c, AGENT_SKILLS.c


class ReportError(ValueError):
    """A report request that cannot be served; `argument` names the option at fault."""

    def __init__(self, argument: str, problem: str):
        super().__init__(f"{argument}: {problem}")
        self.argument = argument


# ---- argument parsing ---------------------------------------------------------------------------
def parse_interval(text: str) -> float:
    """'15m', '1h', '1d', '900s' or '900' -> seconds."""
    text = str(text)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"must be a duration like 15m, 1h, 1d or 900s; "
                                         f"got {_brief(text)}")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0; got {_brief(text)}")
    if not seconds <= MAX_INTERVAL_S:       # inf too: 10**400 seconds
        raise argparse.ArgumentTypeError(f"at most 366d ({MAX_INTERVAL_S:,.0f} s); "
                                         f"got {_brief(text)}")
    return seconds


def _brief(text: str) -> str:
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
                f"({MIN_TIME_S:,.0f} .. {MAX_TIME_S:,.0f}); got {_brief(text)}")
        return value
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be seconds or an ISO time like 2026-03-02T08:00; got {_brief(text)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        seconds = moment.timestamp()
    except (OverflowError, ValueError):     # 0001-01-01 with a negative offset
        seconds = math.inf
    if not MIN_TIME_S <= seconds <= MAX_TIME_S:
        raise argparse.ArgumentTypeError(f"must be within the years 1..9999 UTC; "
                                         f"got {_brief(text)}")
    return seconds


def format_time(seconds: float) -> str:
    if seconds >= _EPOCH_LIKE:
        try:
            return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        except (OverflowError, ValueError, OSError):    # past the year 9999
            pass
    return f"{seconds:g}"


# ---- the query --------------------------------------------------------------------------------------
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


@dataclass
class Sums:
    """What the database adds up for one (interval, group)."""
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    within: int = 0
    wait_sum: float = 0.0
    handled: int = 0
    handle_sum: float = 0.0
    wrap_sum: float = 0.0
    ewt_count: int = 0
    ewt_error_sum: float = 0.0
    ewt_abs_error_sum: float = 0.0
    ewt_sq_error_sum: float = 0.0
    ewt_wait_sum: float = 0.0
    # place in the queue -> [contacts, wait sum, wait² sum]: the place-only benchmark is
    # fitted per place over whatever range is added up, so these cannot be pre-reduced.
    ewt_by_place: dict = field(default_factory=dict)
    logged_in_s: float = 0.0
    working_s: float = 0.0
    not_ready_s: dict = field(default_factory=dict)    # reason -> seconds

    def add(self, other: "Sums") -> None:
        for name in ("offered", "answered", "abandoned", "within", "wait_sum", "handled",
                     "handle_sum", "wrap_sum", "ewt_count", "ewt_error_sum", "ewt_abs_error_sum",
                     "ewt_sq_error_sum", "ewt_wait_sum", "logged_in_s", "working_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for place, (count, wait_sum, wait_sq_sum) in other.ewt_by_place.items():
            mine = self.ewt_by_place.setdefault(place, [0, 0.0, 0.0])
            mine[0] += count
            mine[1] += wait_sum
            mine[2] += wait_sq_sum
        for reason, seconds in other.not_ready_s.items():
            self.not_ready_s[reason] = self.not_ready_s.get(reason, 0.0) + seconds

    def figures(self) -> dict:
        def ratio(part, whole, scale=1.0):
            return scale * part / whole if whole else None
        return {
            "offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
            "sl_pct": ratio(self.within, self.answered, 100.0),
            "sl2_pct": ratio(self.within, self.answered + self.abandoned, 100.0),
            "asa_s": ratio(self.wait_sum, self.answered),
            "aht_s": ratio(self.handle_sum, self.handled),
            "wrap_up_s": ratio(self.wrap_sum, self.handled),
            "occupancy_pct": ratio(self.working_s, self.logged_in_s, 100.0),
            "logged_in_s": self.logged_in_s,
            "not_ready_s": sum(self.not_ready_s.values()),
            "not_ready_by_reason_s": dict(sorted(self.not_ready_s.items())),
            "ewt_error_s": ratio(self.ewt_error_sum, self.ewt_count),
            "ewt_abs_error_s": ratio(self.ewt_abs_error_sum, self.ewt_count),
            **self._ewt_accuracy(),
        }

    def _ewt_accuracy(self) -> dict:
        if not self.ewt_count:
            return dict.fromkeys(("ewt_rmse_s", "ewt_place_only_rmse_s", "ewt_rmse_ratio",
                                  "ewt_bias_pct"))
        rmse = math.sqrt(max(self.ewt_sq_error_sum, 0.0) / self.ewt_count)
        # Residual sum of squares around each place's mean wait; max() guards the rounding
        # of sum(w²) - sum(w)²/n when a place's waits are all equal.
        residual = sum(max(wait_sq_sum - wait_sum * wait_sum / count, 0.0)
                       for count, wait_sum, wait_sq_sum in self.ewt_by_place.values())
        place_only = math.sqrt(residual / self.ewt_count)
        return {"ewt_rmse_s": rmse, "ewt_place_only_rmse_s": place_only,
                "ewt_rmse_ratio": rmse / place_only if place_only > 0 else None,
                "ewt_bias_pct": (100.0 * self.ewt_error_sum / self.ewt_wait_sum
                                 if self.ewt_wait_sum > 0 else None)}


@dataclass
class Report:
    query: ReportQuery
    rows: list          # [(interval start, group, Sums)] by interval, then group
    totals: list        # [(group, Sums)] over the whole range
    reasons: list       # every not-ready reason seen
    classes: list       # [(class, Sums)] over the whole range (the ASA chart)

    def table(self) -> list:
        """Rows as flat dicts (what --csv writes)."""
        out = []
        for start, group, sums in self.rows:
            out.append(_flat(format_time(start), start, group, sums, self.reasons))
        for group, sums in self.totals:
            out.append(_flat("total", None, group, sums, self.reasons))
        return out


def _flat(label, start, group, sums, reasons) -> dict:
    figures = sums.figures()
    by_reason = figures.pop("not_ready_by_reason_s")
    row = {"interval": label, "interval_start_s": start, "group": group, **figures}
    for reason in reasons:
        row[f"not_ready_{reason or 'none'}_s"] = by_reason.get(reason, 0.0)
    return row


def _group_columns(by: str, contacts: bool):
    """The columns a report groups by, for contact records or agent intervals."""
    if by == "skill":
        return [R.skill] if contacts else [S.skill]
    if by == "site":
        return [R.entry_site] if contacts else [I.site]
    if by == "agent":
        return [R.served_site, R.agent_id] if contacts else [I.site, I.agent_id]
    return [R.skill, R.priority, R.service_objective_s] if contacts else None


def _group_label(by: str, values) -> str:
    if by == "class":
        skill, priority, objective = values
        return f"{skill}/{priority}/{objective:g}"
    return "/".join(str(value) for value in values)


def _contact_sums(connection, query: ReportQuery, by: str, bucketed: bool) -> dict:
    """{(bucket index or None, group label): Sums} from contact records."""
    answered = R.answer_time.isnot(None)
    wait = R.answer_time - R.arrival_time
    handled = sa.and_(R.final_state == "completed", answered)
    predicted = sa.and_(answered, R.ewt_predicted_s.isnot(None))
    error = wait - R.ewt_predicted_s
    groups = _group_columns(by, contacts=True)
    keys = ([floor_(R.arrival_time / query.interval_s).label("bucket")] if bucketed else []) + \
        [column.label(f"g{number}") for number, column in enumerate(groups)]
    statement = sa.select(
        *keys,
        sa.func.count().label("offered"),
        sa.func.sum(sa.case((answered, 1), else_=0)).label("answered"),
        sa.func.sum(sa.case((R.final_state == "abandoned", 1), else_=0)).label("abandoned"),
        sa.func.sum(sa.case((sa.and_(answered, wait <= R.sl_threshold_s), 1), else_=0))
        .label("within"),
        sa.func.sum(sa.case((answered, wait))).label("wait_sum"),
        sa.func.sum(sa.case((handled, 1), else_=0)).label("handled"),
        sa.func.sum(sa.case((handled, sa.func.coalesce(R.wrap_up_end_time, R.end_time)
                             - R.answer_time))).label("handle_sum"),
        sa.func.sum(sa.case((handled, sa.func.coalesce(R.wrap_up_end_time - R.end_time, 0.0))))
        .label("wrap_sum"),
        sa.func.sum(sa.case((predicted, 1), else_=0)).label("ewt_count"),
        sa.func.sum(sa.case((predicted, error))).label("ewt_error_sum"),
        sa.func.sum(sa.case((predicted, sa.func.abs(error)))).label("ewt_abs_error_sum"),
        sa.func.sum(sa.case((predicted, error * error))).label("ewt_sq_error_sum"),
        sa.func.sum(sa.case((predicted, wait))).label("ewt_wait_sum"),
    ).where(R.arrival_time >= query.start, R.arrival_time < query.end)
    by_place = (sa.select(*keys, R.queue_position.label("place"), sa.func.count().label("n"),
                          sa.func.sum(wait).label("wait_sum"),
                          sa.func.sum(wait * wait).label("wait_sq_sum"))
                .where(R.arrival_time >= query.start, R.arrival_time < query.end, predicted))
    if by == "agent":
        statement = statement.where(R.agent_id.isnot(None))
        by_place = by_place.where(R.agent_id.isnot(None))
    statement = statement.group_by(*keys)
    by_place = by_place.group_by(*keys, R.queue_position)
    out = {}
    for row in connection.execute(statement):
        mapping = row._mapping
        bucket = int(mapping["bucket"]) if bucketed else None
        label = _group_label(by, [mapping[f"g{n}"] for n in range(len(groups))])
        out[(bucket, label)] = Sums(
            offered=mapping["offered"], answered=mapping["answered"] or 0,
            abandoned=mapping["abandoned"] or 0, within=mapping["within"] or 0,
            wait_sum=mapping["wait_sum"] or 0.0, handled=mapping["handled"] or 0,
            handle_sum=mapping["handle_sum"] or 0.0, wrap_sum=mapping["wrap_sum"] or 0.0,
            ewt_count=mapping["ewt_count"] or 0, ewt_error_sum=mapping["ewt_error_sum"] or 0.0,
            ewt_abs_error_sum=mapping["ewt_abs_error_sum"] or 0.0,
            ewt_sq_error_sum=mapping["ewt_sq_error_sum"] or 0.0,
            ewt_wait_sum=mapping["ewt_wait_sum"] or 0.0)
    for row in connection.execute(by_place):
        mapping = row._mapping
        bucket = int(mapping["bucket"]) if bucketed else None
        label = _group_label(by, [mapping[f"g{n}"] for n in range(len(groups))])
        out[(bucket, label)].ewt_by_place[mapping["place"]] = [
            mapping["n"], mapping["wait_sum"] or 0.0, mapping["wait_sq_sum"] or 0.0]
    return out


def _agent_time(connection, query: ReportQuery, by: str) -> dict:
    """{(bucket index, group label, state, reason): seconds} of agent state intervals, each
    interval split over the report intervals it spans, by a join in the database: with
    `generate_series` on PostgreSQL (only the buckets each interval needs), elsewhere with a
    table of offsets 0..n (n the widest span in buckets)."""
    groups = _group_columns(by, contacts=False)
    if groups is None:
        return {}
    width = query.interval_s
    start = greatest(I.start_time, query.start)
    end = least(I.end_time, query.end)
    first = floor_(start / width)
    last = floor_(end / width)
    overlapping = sa.and_(I.start_time < query.end, I.end_time > query.start)
    if connection.dialect.name == "postgresql":
        series = sa.func.generate_series(sa.cast(first, sa.BigInteger),
                                         sa.cast(last, sa.BigInteger)).table_valued("b").render_derived(
            name="buckets").lateral()
        source = INTERVALS.join(series, sa.true())
        index = series.c.b
    else:
        widest = connection.execute(sa.select(sa.func.max(last - first)).where(overlapping)).scalar()
        if widest is None:
            return {}
        offsets = sa.select(sa.literal(0, sa.Integer).label("n")).cte("offsets", recursive=True)
        offsets = offsets.union_all(sa.select((offsets.c.n + 1).label("n"))
                                    .where(offsets.c.n < int(widest)))
        source = INTERVALS.join(offsets, offsets.c.n <= last - first)
        index = first + offsets.c.n
    seconds = least(end, (index + 1) * width) - greatest(start, index * width)
    if by == "skill":
        source = source.join(AGENT_SKILLS, sa.and_(S.site == I.site, S.agent_id == I.agent_id))
    keys = [index.label("bucket")] + [column.label(f"g{number}")
                                      for number, column in enumerate(groups)] + [
        I.state.label("state"), I.reason.label("reason")]
    statement = (sa.select(*keys, sa.func.sum(seconds).label("seconds"))
                 .select_from(source).where(overlapping).group_by(*keys))
    out = {}
    for row in connection.execute(statement):
        mapping = row._mapping
        if not mapping["seconds"] or mapping["seconds"] <= 0:
            continue
        label = _group_label(by, [mapping[f"g{n}"] for n in range(len(groups))])
        key = (int(mapping["bucket"]), label, mapping["state"], mapping["reason"])
        out[key] = out.get(key, 0.0) + mapping["seconds"]
    return out


def compute_report(engine, query: ReportQuery, *, classes: bool = True) -> Report:
    """The report of `query`; figures added up by the database (see the module doc).
    `classes`: also the totals per class (what the ASA chart shows)."""
    with engine.begin() as connection:     # one snapshot of the data for every query
        if connection.dialect.name == "postgresql":
            # The GROUP BYs sort or hash a row per record: in memory, not in temporary files.
            connection.execute(sa.text("SET LOCAL work_mem = '64MB'"))
        contacts = _contact_sums(connection, query, query.by, bucketed=True)
        agent_time = _agent_time(connection, query, query.by)
        per_class = (_contact_sums(connection, query, "class", bucketed=False)
                     if classes else {})
    cells: dict = {}
    for (bucket, group), sums in contacts.items():
        cells[(bucket, group)] = sums
    reasons = set()
    for (bucket, group, state, reason), seconds in agent_time.items():
        sums = cells.setdefault((bucket, group), Sums())
        sums.logged_in_s += seconds
        if state in ("busy", "wrap_up"):
            sums.working_s += seconds
        elif state == "not_ready":
            sums.not_ready_s[reason] = sums.not_ready_s.get(reason, 0.0) + seconds
            reasons.add(reason)
    rows = [(bucket * query.interval_s, group, cells[(bucket, group)])
            for bucket, group in sorted(cells)]
    totals: dict = {}
    for (_, group), sums in sorted(cells.items()):
        totals.setdefault(group, Sums()).add(sums)
    return Report(query, rows, sorted(totals.items()), sorted(reasons),
                  sorted((group, sums) for (_, group), sums in per_class.items()))


def time_range(engine) -> tuple[float, float] | None:
    """(first, last) time in the records (contact arrivals, agent intervals), or None when
    there are no contact records."""
    with engine.connect() as connection:
        first, last = connection.execute(
            sa.select(sa.func.min(R.arrival_time), sa.func.max(R.arrival_time))).one()
        if first is None:
            return None
        begins, ends = connection.execute(
            sa.select(sa.func.min(I.start_time), sa.func.max(I.end_time))).one()
    if begins is not None:
        first, last = min(first, begins), max(last, ends)
    return first, last


# ---- output ----------------------------------------------------------------------------------------
def _cell(value, digits=1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


# (figure, header, decimals); "vs place": EWT RMSE / the place-only predictor's (<= 1.10)
_COLUMNS = (("offered", "offered", 1), ("answered", "answered", 1), ("abandoned", "aband.", 1),
            ("sl_pct", "SL %", 1), ("sl2_pct", "SL2 %", 1), ("asa_s", "ASA s", 1),
            ("aht_s", "AHT s", 1), ("wrap_up_s", "wrap s", 1), ("occupancy_pct", "occ. %", 1),
            ("not_ready_s", "NR s", 1), ("ewt_error_s", "EWT err s", 1),
            ("ewt_rmse_s", "EWT RMSE s", 1), ("ewt_rmse_ratio", "vs place", 2))


def _text_table(title: str, headers: list, rows: list, left: int) -> str:
    """A plain fixed-width table: the first `left` columns left-aligned, the rest right.
    (Thousands of interval rows: a rich table takes seconds to lay out; this takes none.)"""
    widths = [max([len(header)] + [len(row[column]) for row in rows])
              for column, header in enumerate(headers)]

    def line(cells):
        return "  ".join(cell.ljust(width) if column < left else cell.rjust(width)
                         for column, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([title, line(headers), rule] + [line(row) for row in rows]) + "\n"


def render(report: Report, console) -> None:
    """The report as text tables: per interval, totals per group, not-ready time by reason."""
    query = report.query
    headers = [header for _, header, _ in _COLUMNS]

    def cells(label, group, sums):
        figures = sums.figures()
        return [label, group] + [_cell(figures[name], digits) for name, _, digits in _COLUMNS]

    span = f"{format_time(query.start)} .. {format_time(query.end)}"
    text = [_text_table(f"by {query.by}, {_duration(query.interval_s)} intervals, {span}",
                        ["interval", query.by] + headers,
                        [cells(format_time(start), group, sums)
                         for start, group, sums in report.rows], 2),
            _text_table("totals", ["", query.by] + headers,
                        [cells("total", group, sums) for group, sums in report.totals], 2)]
    if report.reasons:
        text.append(_text_table(
            "not-ready time by reason (s)",
            [query.by] + [reason or "(none)" for reason in report.reasons],
            [[group] + [_cell(sums.not_ready_s.get(reason, 0.0)) for reason in report.reasons]
             for group, sums in report.totals], 1))
    console.print("\n".join(text), end="", markup=False, highlight=False, soft_wrap=True)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def write_csv(report: Report, path: str) -> None:
    rows = report.table()
    fields = list(rows[0]) if rows else ["interval", "interval_start_s", "group"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})


def write_png(report: Report, path: str) -> None:
    """Two charts a supervisor looks at: volume and service level per interval (all groups
    together, SL per group when there are a few), and ASA per class against its SO."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    query = report.query
    per_interval: dict = {}
    per_group: dict = {}
    for start, group, sums in report.rows:
        per_interval.setdefault(start, Sums()).add(sums)
        per_group.setdefault(group, {})[start] = sums
    starts = sorted(per_interval)
    labels = [format_time(start) for start in starts]
    positions = list(range(len(starts)))
    figure, (volume, classes) = pyplot.subplots(
        2, 1, figsize=(max(9.0, 0.35 * len(starts) + 3), 10),
        gridspec_kw={"height_ratios": [3, 2], "hspace": 0.6})
    answered = [per_interval[start].answered for start in starts]
    abandoned = [per_interval[start].abandoned for start in starts]
    other = [per_interval[start].offered - a - b for start, a, b in zip(starts, answered, abandoned)]
    volume.bar(positions, answered, color="#4c9f70", label="answered")
    volume.bar(positions, abandoned, bottom=answered, color="#d1495b", label="abandoned")
    volume.bar(positions, other, bottom=[a + b for a, b in zip(answered, abandoned)],
               color="#b0b0b0", label="other (rejected, in progress)")
    volume.set_ylabel("contacts offered")
    volume.set_ylim(0, max([1] + [per_interval[start].offered for start in starts]) * 1.1)
    volume.set_title(f"volume and service level per {_duration(query.interval_s)} interval")
    level = volume.twinx()
    series = [("all", {start: per_interval[start] for start in starts})]
    if 1 < len(per_group) <= 6:
        series += sorted(per_group.items())
    for name, by_start in series:
        values = [by_start[start].figures()["sl_pct"] if start in by_start else None
                  for start in starts]
        level.plot(positions, [math.nan if value is None else value for value in values],
                   marker="o", linewidth=2.2 if name == "all" else 1.0,
                   label=f"SL % ({name})" if name != "all" else "SL % (all)")
    level.set_ylim(0, 105)
    level.set_ylabel("service level %")
    handles = volume.get_legend_handles_labels()
    more = level.get_legend_handles_labels()
    # Below the chart: over the bars it would hide the busiest intervals.
    volume.legend(handles[0] + more[0], handles[1] + more[1], loc="upper center",
                  bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=8, frameon=False)
    step = max(1, len(starts) // 24)
    volume.set_xticks(positions[::step], labels[::step], rotation=45, ha="right", fontsize=8)

    names = [name for name, sums in report.classes if sums.answered]
    asa = [report_sums.figures()["asa_s"] for _, report_sums in report.classes
           if report_sums.answered]
    objectives = [float(name.rsplit("/", 1)[1]) for name in names]
    rows = list(range(len(names)))
    classes.barh(rows, asa, color="#2e86ab", label="ASA")
    classes.scatter(objectives, rows, marker="|", s=400, color="black", label="service objective")
    classes.set_yticks(rows, names, fontsize=8)
    classes.set_xlabel("seconds")
    classes.set_title("ASA per class (skill/priority/SO)")
    classes.legend(loc="lower right", fontsize=8)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    pyplot.close(figure)


# ---- the command -----------------------------------------------------------------------------------
def add_report_parser(subparsers) -> argparse.ArgumentParser:
    """`vcc report` on an argparse subparsers object; runs `run_report` (args.run)."""
    parser = subparsers.add_parser(
        "report", help="interval reports from the store (SL, ASA, AHT, occupancy ...)",
        description="Interval and daily reports (SPEC §8) computed by the database from contact "
                    "records and agent state intervals.")
    parser.add_argument("--db", default=DEFAULT_URL,
                        help=f"database URL ({DEFAULT_URL}; PostgreSQL: "
                             "postgresql+psycopg://user@host:5432/db)")
    parser.add_argument("--from", dest="start", type=parse_time, metavar="TIME",
                        help="first arrival time: seconds or ISO time (the first record)")
    parser.add_argument("--to", dest="end", type=parse_time, metavar="TIME",
                        help="end, exclusive: seconds or ISO time (just after the last record)")
    parser.add_argument("--by", choices=BY, default="skill", help="group rows by (skill)")
    parser.add_argument("--interval", type=parse_interval, default=900.0, metavar="DURATION",
                        help="interval length: 15m, 30m, 1h, 1d, 900s ... (15m)")
    parser.add_argument("--csv", metavar="FILE", help="also write the rows as CSV")
    parser.add_argument("--png", metavar="FILE", help="also draw SL/volume and ASA charts")
    parser.set_defaults(run=run_report)
    return parser


def _fail(problem: str) -> int:
    print(f"vcc report: {problem}", file=sys.stderr)
    return 2


def run_report(args, console=None) -> int:
    """Exit code 0 with the report printed; 2 with `vcc report: <argument>: <problem>`."""
    if args.png and os.path.splitext(args.png)[1].lower() not in ("", ".png"):
        return _fail(f"--png: the chart is a PNG file (name.png); got {_brief(args.png)}")
    from cluster.arguments import DB_CONNECT_TIMEOUT_S, database_problem, shown_url

    # A report reads; it must not leave an empty database behind (create=False).
    problem = database_problem(args.db, create=False)
    if problem is not None:
        return _fail(f"--db: {problem}")
    shown = shown_url(args.db)      # never the password
    try:
        engine = open_engine(args.db, **({"connect_args": {"connect_timeout": DB_CONNECT_TIMEOUT_S}}
                                          if args.db.startswith("postgresql") else {}))
    except StoreUrlError as error:
        return _fail(f"--db: {error}")
    try:
        try:
            tables = set(sa.inspect(engine).get_table_names())
        except sa.exc.SQLAlchemyError as error:
            return _fail(f"--db: cannot open {shown}: {error.__class__.__name__}: "
                         f"{str(error).splitlines()[0][:200]}")
        if not {"contact_records", "agent_state_intervals"} <= tables:
            return _fail(f"--db: {shown} holds no vcc store (no contact records table)")
        start, end = args.start, args.end
        if start is None or end is None:
            found = time_range(engine)
            if found is None:
                return _fail(f"--db: {shown} has no contact records; nothing to report")
            if start is None:
                start = math.floor(found[0] / args.interval) * args.interval
            if end is None:
                end = (math.floor(found[1] / args.interval) + 1) * args.interval
        try:
            report = compute_report(engine, ReportQuery(start, end, args.interval, args.by),
                                    classes=bool(args.png))
        except ReportError as error:
            return _fail(str(error))
        if console is None:
            from rich.console import Console
            console = Console()
            if not console.is_terminal:     # a file or a pipe: no 80-column squeeze
                console = Console(width=200)
        render(report, console)
        for option, path, writer in (("--csv", args.csv, write_csv), ("--png", args.png, write_png)):
            if path:
                try:
                    writer(report, path)
                except (OSError, ValueError) as error:
                    return _fail(f"{option}: cannot write {path!r}: "
                                 f"{getattr(error, 'strerror', None) or error}")
        return 0
    finally:
        engine.dispose()

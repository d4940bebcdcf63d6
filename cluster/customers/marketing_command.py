"""`vcc marketing report` and `vcc marketing ranking`: the inbound marketing statistics and the
agents' ranking (cluster/customers/marketing_stats.py) as tables, CSV and a PNG chart.
A bad option is one line naming it, exit 2; a report never creates a database."""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from datetime import datetime

from cluster.store.db import DEFAULT_URL

OUTCOMES_TABLES = ("marketing_offers", "marketing_outcomes")
_FIGURES = (("eligible", "eligible"), ("presented", "presented"), ("accepted", "accepted"),
            ("presentation_rate", "pres. %"), ("success_rate", "success %"),
            ("revenue_cents", "revenue"), ("commission_cents", "commission"))


def _zone_name(text: str) -> str:
    from cluster.customers.marketing_stats import StatsError, time_zone

    try:
        time_zone(text)
    except StatsError as error:
        raise argparse.ArgumentTypeError(error.problem) from None
    return text


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=DEFAULT_URL,
                        help=f"database URL ({DEFAULT_URL}; PostgreSQL: "
                             "postgresql+psycopg://user@host:5432/db)")
    parser.add_argument("--tz", type=_zone_name, default=None, metavar="ZONE",
                        help="time zone of periods and of 'today' (IANA name, e.g. "
                             "Europe/Paris; UTC by default)")


def add_marketing_report_parsers(commands) -> None:
    """`report` and `ranking` under `vcc marketing`."""
    from cluster.customers.marketing_stats import BY
    from cluster.reports.request import parse_interval, parse_time

    report = commands.add_parser(
        "report", help="offers eligible, presented, accepted, rates, revenue and commission "
                       "by agent, product, customer or period",
        description="Statistics of the offers' outcomes (README: Customers and marketing data), added up by the database. "
                    "Presentation rate = presented / eligible; success rate = accepted / "
                    "presented; revenue and commission of accepted offers.")
    report.add_argument("--by", choices=BY, default="agent", help="group rows by (agent)")
    report.add_argument("--interval", type=parse_interval, default=86400.0, metavar="DURATION",
                        help="--by period: whole days (1d, 7d) or a part of a day (1h, 15m); "
                             "periods start at local midnight (1d)")
    report.add_argument("--since", type=parse_time, metavar="TIME",
                        help="from this time (ISO, UTC unless it says; or seconds)")
    report.add_argument("--until", type=parse_time, metavar="TIME",
                        help="until this time, exclusive")
    report.add_argument("--csv", metavar="FILE", help="also write the rows as CSV")
    report.add_argument("--png", metavar="FILE", help="also draw them as a PNG chart")
    _options(report)
    report.set_defaults(run=run_marketing_report)
    ranking = commands.add_parser(
        "ranking", help="the agents ranked by commission, then accepted offers: today and "
                        "to date")
    _options(ranking)
    ranking.set_defaults(run=run_ranking)


def _fail(command: str, problem: str) -> int:
    print(f"vcc marketing {command}: {problem}", file=sys.stderr)
    return 2


def _open(command: str, url: str):
    from cluster.arguments import open_existing_store

    engine, problem = open_existing_store(url, OUTCOMES_TABLES,
                                          "marketing data (no marketing_outcomes table)")
    if problem is not None:
        _fail(command, f"--db: {problem}")
    return engine


def _cells(figures) -> list[str]:
    from cluster.reports.render import format_cell

    values = figures.as_dict()
    out = []
    for name, _ in _FIGURES:
        value = values[name]
        if name.endswith("_rate"):
            out.append(format_cell(None if value is None else 100.0 * value))
        elif name.endswith("_cents"):
            out.append(format_cell(value / 100.0, 2))
        else:
            out.append(format_cell(value))
    return out


def _span(since: float | None, until: float | None, zone) -> str:
    def shown(seconds):
        return datetime.fromtimestamp(seconds, zone).strftime("%Y-%m-%d %H:%M")
    parts = ([f"from {shown(since)}"] if since is not None else []) + (
        [f"until {shown(until)}"] if until is not None else [])
    return " ".join(parts) or "all outcomes"


def run_marketing_report(args) -> int:
    from cluster.customers.marketing_stats import StatsError, StatsQuery, statistics, total
    from cluster.reports.render import text_table

    if args.png and os.path.splitext(args.png)[1].lower() not in ("", ".png"):
        return _fail("report", f"--png: the chart is a PNG file (name.png); got {args.png!r}")
    try:
        query = StatsQuery(by=args.by, since=args.since, until=args.until,
                           interval_s=args.interval, tz=args.tz)
    except StatsError as error:
        return _fail("report", str(error))
    engine = _open("report", args.db)
    if engine is None:
        return 2
    try:
        try:
            rows = statistics(engine, query)
        except StatsError as error:
            return _fail("report", str(error))
        zone = query.zone
        headers = [args.by] + [header for _, header in _FIGURES]
        title = (f"offers by {args.by}, {_span(args.since, args.until, zone)} ({zone}); "
                 f"revenue and commission in currency units")
        lines = [[row.group or "(none)"] + _cells(row.figures) for row in rows]
        lines.append(["total"] + _cells(total(rows)))
        print(text_table(title, headers, lines, 1), end="")
        for option, path, writer in (("--csv", args.csv, write_csv),
                                     ("--png", args.png, write_png)):
            if path:
                try:
                    writer(rows, args.by, path)
                except (OSError, ValueError) as error:
                    return _fail("report", f"{option}: cannot write {path!r}: "
                                           f"{getattr(error, 'strerror', None) or error}")
        return 0
    finally:
        engine.dispose()


def write_csv(rows, by: str, path: str) -> None:
    """One line per group: the counts, the rates (0..1, empty when undefined) and the money
    in cents; periods also with their start in seconds since the epoch."""
    names = [name for name, _ in _FIGURES]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([by] + (["period_start_s"] if by == "period" else []) + names)
        for row in rows:
            values = row.figures.as_dict()
            writer.writerow([row.group] + ([row.start] if by == "period" else []) +
                            ["" if values[name] is None else values[name] for name in names])


def write_png(rows, by: str, path: str) -> None:
    """Offers eligible, presented and accepted per group with the success rate, and revenue
    and commission per group."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import MaxNLocator

    labels = [row.group or "(none)" for row in rows]
    positions = list(range(len(rows)))
    figure, (counts, money) = pyplot.subplots(
        2, 1, figsize=(max(8.0, 0.5 * len(rows) + 3), 9), gridspec_kw={"hspace": 0.6})
    width = 0.27
    for shift, name, color in ((-width, "eligible", "#b0b0b0"), (0.0, "presented", "#2e86ab"),
                               (width, "accepted", "#4c9f70")):
        counts.bar([p + shift for p in positions], [getattr(row.figures, name) for row in rows],
                   width, label=name, color=color)
    counts.set_ylabel("offers")
    counts.yaxis.set_major_locator(MaxNLocator(integer=True))
    counts.set_title(f"offers by {by}")
    rate = counts.twinx()
    rate.plot(positions, [math.nan if row.figures.success_rate is None
                          else 100.0 * row.figures.success_rate for row in rows],
              marker="o", color="black", label="success %")
    rate.set_ylim(0, 105)
    rate.set_ylabel("success rate %")
    handles, names = counts.get_legend_handles_labels()
    more, more_names = rate.get_legend_handles_labels()
    counts.legend(handles + more, names + more_names, loc="upper center",
                  bbox_to_anchor=(0.5, -0.25), ncol=4, fontsize=8, frameon=False)
    money.bar([p - width / 2 for p in positions],
              [row.figures.revenue_cents / 100.0 for row in rows], width, label="revenue",
              color="#f2a541")
    money.bar([p + width / 2 for p in positions],
              [row.figures.commission_cents / 100.0 for row in rows], width,
              label="commission", color="#d1495b")
    money.set_ylabel("currency units")
    money.set_title(f"revenue and commission by {by}")
    money.legend(fontsize=8)
    step = max(1, len(rows) // 30)
    for axes in (counts, money):
        axes.set_xticks(positions[::step], labels[::step], rotation=45, ha="right", fontsize=8)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    pyplot.close(figure)


def run_ranking(args) -> int:
    from cluster.customers.marketing_stats import ranking, time_zone
    from cluster.reports.render import text_table

    engine = _open("ranking", args.db)
    if engine is None:
        return 2
    try:
        zone = time_zone(args.tz)
        standings = ranking(engine, now=time.time(), tz=args.tz)
    finally:
        engine.dispose()
    headers = ["rank", "agent"] + [header for _, header in _FIGURES]
    day = datetime.fromtimestamp(standings.day_start, zone).strftime("%Y-%m-%d")
    for title, entries in ((f"today, {day} ({zone})", standings.today),
                           ("to date", standings.to_date)):
        print(text_table(title, headers, [[str(entry.rank), entry.agent_id] +
                                          _cells(entry.figures) for entry in entries], 2)
              + ("" if entries else "(no offer outcomes)\n"))
    return 0

"""`vcc report` itself: its options, and the run from database URL to printed tables and
files; every problem is one line naming the option (exit 2)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from cluster.reports.charts import write_png
from cluster.reports.queries import compute_report, time_range
from cluster.reports.render import render, write_csv
from cluster.reports.request import (BY, ReportError, ReportQuery, brief, parse_interval,
                                     parse_time)
from cluster.store.db import DEFAULT_URL


def add_report_parser(subparsers) -> argparse.ArgumentParser:
    """`vcc report` on an argparse subparsers object; runs `run_report` (args.run)."""
    parser = subparsers.add_parser(
        "report", help="interval reports from the store (SL, ASA, AHT, occupancy ...)",
        description="Interval and daily reports (README: Persistence and reports) computed by the database from contact "
                    "records and agent state intervals.")
    parser.add_argument("--db", default=DEFAULT_URL,
                        help=f"database URL ({DEFAULT_URL}; PostgreSQL: "
                             "postgresql+psycopg://user@host:5432/db)")
    parser.add_argument("--from", dest="start", type=parse_time, metavar="TIME",
                        help="first arrival time: seconds or ISO time (the first record)")
    parser.add_argument("--to", dest="end", type=parse_time, metavar="TIME",
                        help="end, exclusive: seconds or ISO time (just after the last record)")
    parser.add_argument("--by", choices=BY + ("campaign",), default="skill",
                        help="group rows by (skill); service and dnis rows also count "
                             "self-served callers, IVR and queue abandons, busies, callbacks; "
                             "tier: the callers' customer tier, SL against its objective; "
                             "campaign: outbound attempts by outcome, abandon %%, penetration, "
                             "agent talk/wrap/idle minutes per logged-in hour")
    parser.add_argument("--interval", type=parse_interval, default=900.0, metavar="DURATION",
                        help="interval length: 15m, 30m, 1h, 1d, 900s ... (15m)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (by_<group> totals and intervals) "
                             "instead of the tables")
    parser.add_argument("--csv", metavar="FILE", help="also write the rows as CSV")
    parser.add_argument("--png", metavar="FILE", help="also draw SL/volume and ASA charts")
    parser.set_defaults(run=run_report)
    return parser


def _fail(problem: str) -> int:
    print(f"vcc report: {problem}", file=sys.stderr)
    return 2


def _emit(args, console, report, render_text, png_writer) -> int:
    """Print `report` (--json or text tables) and write its --csv and --png files: 0, or 2
    naming the option whose file cannot be written."""
    if args.json:
        print(json.dumps(report.as_json(), indent=1, allow_nan=False))
    else:
        if console is None:
            from rich.console import Console
            console = Console()
            if not console.is_terminal:     # a file or a pipe: no 80-column squeeze
                console = Console(width=200)
        render_text(report, console)
    for option, path, writer in (("--csv", args.csv, write_csv), ("--png", args.png, png_writer)):
        if path:
            try:
                writer(report, path)
            except (OSError, ValueError) as error:
                return _fail(f"{option}: cannot write {path!r}: "
                             f"{getattr(error, 'strerror', None) or error}")
    return 0


def run_report(args, console=None) -> int:
    """Exit code 0 with the report printed; 2 with `vcc report: <argument>: <problem>`."""
    if args.png and os.path.splitext(args.png)[1].lower() not in ("", ".png"):
        return _fail(f"--png: the chart is a PNG file (name.png); got {brief(args.png)}")
    from cluster.arguments import open_existing_store, shown_url

    if args.by == "campaign":
        return _run_campaign_report(args, console)
    # A report reads; it must not leave an empty database behind.
    engine, problem = open_existing_store(args.db, ("contact_records", "agent_state_intervals"),
                                          "vcc store (no contact records table)")
    if problem is not None:
        return _fail(f"--db: {problem}")
    shown = shown_url(args.db)      # never the password
    try:
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
        return _emit(args, console, report, render, write_png)
    finally:
        engine.dispose()


def _run_campaign_report(args, console) -> int:
    """`--by campaign`: from the campaigns' dial attempts (cluster/reports/campaigns.py)."""
    from cluster.arguments import open_existing_store, shown_url
    from cluster.reports.campaigns import (attempt_time_range, compute_campaign_report,
                                           render_campaigns, write_campaigns_png)

    engine, problem = open_existing_store(args.db, ("campaign_attempts", "campaign_records"),
                                          "campaign attempts (a store before revision 0008)")
    if problem is not None:
        return _fail(f"--db: {problem}")
    try:
        start, end = args.start, args.end
        if start is None or end is None:
            found = attempt_time_range(engine)
            if found is None:
                return _fail(f"--db: {shown_url(args.db)} has no campaign attempts; "
                             "nothing to report")
            if start is None:
                start = math.floor(found[0] / args.interval) * args.interval
            if end is None:
                end = (math.floor(found[1] / args.interval) + 1) * args.interval
        try:        # the same checks of --from, --to and --interval as the other groupings
            ReportQuery(start, end, args.interval, "skill")
        except ReportError as error:
            return _fail(str(error))
        report = compute_campaign_report(engine, start, end, args.interval)
        return _emit(args, console, report, render_campaigns, write_campaigns_png)
    finally:
        engine.dispose()

"""Blending measured and checked (issue 19 item 5): `python -m loadtests.blend_table`.

loadtests/examples/blended.yaml (30 agents serving a support line of 18 erlangs, and a
progressive renewals campaign between its calls) on 8-hour shifts, for each seed (1..5) and
each `protect_inbound_sl_pct` asked for (default 98, the example's): the same agents and the
same support traffic once with the campaign and once without it (the agents then simply
wait for support calls). One row per protect level: the support line's service level
(answered within 20 s / answered) with and without the campaign (mean over seeds), the
largest drop any seed saw, support callers who hung up both ways, and the campaign's
connected calls, abandons and the agents' utilization.

Checks, each seed on its own: the support SL with the campaign is within MAX_DROP_POINTS (2)
of the SL without it; the campaign connected calls; it abandoned at most its limit; no
contact is lost. Exit code 0 when all pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from rich.console import Console
from rich.table import Table

from loadtests.dialer_table import report_checks
from loadtests.scenario import load_scenario
from loadtests.simulator import Simulation

EXAMPLE = pathlib.Path(__file__).parent / "examples" / "blended.yaml"
MAX_DROP_POINTS = 2.0


def variant(scenario, protect: float | None, hours: float):
    """The example `hours` long with the campaign blending at `protect` (None: no campaign,
    the same agents and traffic)."""
    spec, = scenario.campaigns
    campaigns = () if protect is None else (dataclasses.replace(
        spec, config=dataclasses.replace(spec.config, protect_inbound_sl_pct=protect)),)
    return dataclasses.replace(scenario, duration_s=hours * 3600.0, campaigns=campaigns)


def run_one(task: tuple) -> tuple:
    protect, seed, hours = task
    scenario = variant(load_scenario(str(EXAMPLE)), protect, hours)
    report = Simulation(scenario, seed=seed).run().report
    inbound = {skill: row for skill, row in report["by_skill"].items()
               if skill in {stream.skill for stream in scenario.traffic}}
    (line,) = inbound.values()
    campaign = next(iter(report.get("campaigns", {}).values()), None)
    return task, line, campaign, report["contacts"]["lost"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.blend_table",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 1..N (default 5)")
    parser.add_argument("--hours", type=float, default=8.0, help="shift length (default 8)")
    parser.add_argument("--protect", default="98",
                        help="protect_inbound_sl_pct values, comma-separated (default 98, the example's)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    args = parser.parse_args(argv)
    try:
        levels = [float(text) for text in args.protect.split(",")]
    except ValueError:
        parser.error("--protect takes numbers, e.g. 90,95")
    if args.seeds < 1 or args.hours <= 0 or args.jobs < 1 or not all(
            0 <= level <= 100 for level in levels):
        parser.error("--seeds, --hours and --jobs must be positive, --protect within 0..100")
    limit = load_scenario(str(EXAMPLE)).campaigns[0].config.abandon_limit_pct
    seeds = range(1, args.seeds + 1)
    tasks = [(protect, seed, args.hours) for protect in [None, *levels] for seed in seeds]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = {task[:2]: rest for task, *rest in pool.map(run_one, tasks)}
    wall = time.perf_counter() - started

    console = Console(width=None if sys.stdout.isatty() else 120)
    table = Table(title=f"{EXAMPLE.name}: {args.hours:g}-hour shifts, seeds 1-{args.seeds}; "
                        "support SL = answered within 20 s / answered", title_justify="left")
    for column in ("protect %", "SL % blended", "SL % alone", "largest drop", "hung up blended",
                   "hung up alone", "connected", "abandoned", "util. min/h"):
        table.add_column(column, justify="right")
    failures = []
    for seed in seeds:
        if results[None, seed][2]:
            failures.append(f"without the campaign, seed {seed}: contacts lost")
    for protect in levels:
        drops, rows = [], []
        for seed in seeds:
            line, campaign, lost = results[protect, seed]
            alone = results[None, seed][0]
            drop = alone["sl_pct"] - line["sl_pct"]
            drops.append(drop)
            rows.append((line, alone, campaign))
            where = f"protect {protect:g} %, seed {seed}"
            if drop > MAX_DROP_POINTS:
                failures.append(f"{where}: support SL {line['sl_pct']} % is {drop:.2f} points "
                                f"below {alone['sl_pct']} % without the campaign")
            if not campaign["connected"]:
                failures.append(f"{where}: the campaign connected no call")
            if max(campaign["abandon_pct"], campaign["max_window_abandon_pct"]) > limit:
                failures.append(f"{where}: abandons {campaign['max_window_abandon_pct']} % > "
                                f"{limit:g} %")
            if lost:
                failures.append(f"{where}: {lost} contacts lost")
        table.add_row(
            f"{protect:g}", f"{statistics.mean(row[0]['sl_pct'] for row in rows):.2f}",
            f"{statistics.mean(row[1]['sl_pct'] for row in rows):.2f}", f"{max(drops):.2f}",
            f"{statistics.mean(row[0]['abandoned'] for row in rows):.1f}",
            f"{statistics.mean(row[1]['abandoned'] for row in rows):.1f}",
            f"{statistics.mean(row[2]['connected'] for row in rows):.0f}",
            f"{sum(row[2]['abandoned'] for row in rows)}",
            f"{statistics.mean(row[2]['agent_utilization_min_per_h'] for row in rows):.2f}")
    console.print(table)
    console.print(f"{len(tasks)} runs in {wall:.0f} s wall ({args.jobs} at once)")
    return report_checks(console, [
        f"support SL within {MAX_DROP_POINTS:g} points of the SL without the campaign, the "
        f"campaign connects calls and abandons <= {limit:g} %, nothing lost, every seed and "
        "protect level"], failures)


if __name__ == "__main__":
    sys.exit(main())

"""`vcc staff`: agents needed per forecast interval (SPEC §11), and with `--verify` or
`--iterate` the plan played through the simulator (loadtests/staff_verify.py).

A subcommand of `vcc` registered from here (setup.py, entry point group `vcc.commands`).
"""

from __future__ import annotations

import json
import os
import re
import sys

MAX_REPLICATIONS = 1000
MAX_CONTACTS = 5_000_000            # simulated over all replications of one --verify round
MAX_PATIENCE_S = 3600.0
MAX_THRESHOLD_S = 3600.0


DESCRIPTION = (
    "Agents needed per interval of FORECAST (a CSV of interval_start,volume,aht_s; 15, 30 or "
    "60-minute intervals): Erlang C, or Erlang A when callers hang up after --patience-s on "
    "average; then scheduled agents after shrinkage, and the predicted SL, ASA and occupancy. "
    "The SL target is held to SL2 (answered within the threshold over answered + abandoned), "
    "the SL itself when nobody abandons.")

# (flag, type, default, metavar, help) of the numeric options
_NUMBERS = (
    ("--max-occupancy", float, 0.85, "F",
     "agents busy at most this share of their time (default 0.85)"),
    ("--shrinkage", float, 0.3, "F",
     "share of scheduled time not on the phones: breaks, meetings, absence (default 0.3)"),
    ("--patience-s", float, None, "S",
     "callers hang up after S seconds on average (exponential): Erlang A instead of Erlang C"),
    ("--replications", int, 50, "N",
     "simulated days pooled per interval by --verify (default 50); the table's ± is the "
     "noise left (1.645 standard errors)"),
    ("--seed", int, 1, "N", "seed of the simulated callers (default 1)"),
)
# (flag, help) of the switches
_SWITCHES = (
    ("--json", "print the plan as one JSON object"),
    ("--verify", "play the forecast with the plan's agents through the simulator "
                 "(time-varying arrivals and staffing) and show the SL reached"),
    ("--iterate", "verify, then add agents where the simulation misses the target until "
                  "every interval meets it, and show what that costs"),
)


def add_staff_parser(commands) -> None:
    staff = commands.add_parser("staff", description=DESCRIPTION, help=(
        "agents needed per interval of a forecast (Erlang C, or Erlang A with --patience-s), "
        "checked by simulation with --verify"))
    staff.add_argument("forecast", metavar="FORECAST.csv", help="columns interval_start,volume,"
                       "aht_s: one row per interval, interval_start HH:MM or YYYY-MM-DD HH:MM")
    goal = staff.add_mutually_exclusive_group()
    goal.add_argument("--sl", metavar="PCT/S", default="80/20", help=(
        "service level target: PCT %% answered within S seconds (default 80/20)"))
    goal.add_argument("--asa", metavar="S", type=float, default=None, help=(
        "target instead: a mean wait of the answered of at most S seconds (the SL is then "
        "shown at 20 s)"))
    for flag, kind, default, metavar, text in _NUMBERS:
        staff.add_argument(flag, type=kind, default=default, metavar=metavar, help=text)
    staff.add_argument("--interval-min", type=int, choices=(15, 30, 60), default=None,
                       help="interval length (default: the gap between the first two rows)")
    for flag, text in _SWITCHES:
        staff.add_argument(flag, action="store_true", help=text)
    for flag, what in (("--csv", "also write the plan as CSV"),
                       ("--png", "also chart volume, agents and SL per interval")):
        staff.add_argument(flag, metavar="FILE", default=None, help=what)
    staff.set_defaults(run=_staff)


def _staff(args) -> int:
    def fail(problem: str) -> int:
        print(f"vcc staff: {problem}", file=sys.stderr)
        return 2

    problem, target = _target(args)
    if problem:
        return fail(problem)
    problem = _options_problem(args)
    if problem:
        return fail(problem)
    for flag, path in (("--csv", args.csv), ("--png", args.png)):
        if path and not os.path.isdir(os.path.dirname(path) or "."):
            # before the simulation, not after it
            return fail(f"{flag} {path}: no such directory")
    from cluster.arguments import file_problem
    from loadtests.forecast import MAX_FORECAST_BYTES, ForecastError, read_forecast

    problem = file_problem(args.forecast, MAX_FORECAST_BYTES)
    if problem:
        return fail(f"{args.forecast}: cannot read ({problem})")
    try:
        forecast = read_forecast(args.forecast, args.interval_min)
    except ForecastError as refused:
        for found in refused.problems:
            print(found, file=sys.stderr)
        return fail(f"{args.forecast}: {len(refused.problems)}"
                    f"{' or more' if refused.more else ''} problem(s)")
    from loadtests.staff_report import plan_report, render, write_csv
    from loadtests.staffing import plan

    plans = plan(forecast, target, args.max_occupancy, args.shrinkage, args.patience_s)
    verify = iteration = None
    if args.verify or args.iterate:
        verify, iteration = _simulate(args, forecast, target, plans)
        if isinstance(verify, str):
            return fail(verify)
    report = plan_report(forecast, plans, target, args.max_occupancy, args.shrinkage,
                         args.patience_s, verify, iteration)
    if verify is not None:
        report["verify"].update(replications=args.replications, seed=args.seed,
                                contacts=sum(outcome.offered for outcome in verify))
    if args.csv:
        try:
            write_csv(report, args.csv)
        except OSError as error:
            return fail(f"--csv {args.csv}: {error.strerror or error}")
    if args.png:
        from loadtests.staff_chart import write_png

        try:
            write_png(report, args.png)
        except (OSError, ValueError) as error:
            return fail(f"--png {args.png}: {getattr(error, 'strerror', None) or error}")
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        from rich.console import Console

        render(report, Console())
    return 0


def _target(args):
    """(problem, None) or (None, Target) from --sl / --asa."""
    from loadtests.staffing import Target

    if args.asa is not None:
        if not 0 < args.asa <= MAX_THRESHOLD_S:
            return f"--asa: seconds > 0 and at most {MAX_THRESHOLD_S:g}; got {args.asa:g}", None
        return None, Target(None, 20.0, args.asa)
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*/\s*([0-9]+(?:\.[0-9]+)?)\s*", args.sl)
    if not match:
        return f"--sl: PCT/S, e.g. 80/20 (80 % answered within 20 s); got {args.sl[:40]!r}", None
    percent, seconds = float(match[1]), float(match[2])
    if not 0 < percent < 100:
        return f"--sl: the percentage is above 0 and below 100; got {percent:g}", None
    if not 0 < seconds <= MAX_THRESHOLD_S:
        return (f"--sl: the threshold is seconds > 0 and at most {MAX_THRESHOLD_S:g}; got "
                f"{seconds:g}"), None
    return None, Target(percent, seconds)


def _options_problem(args) -> str | None:
    if not 0.1 <= args.max_occupancy <= 1:
        return f"--max-occupancy: a share from 0.1 to 1; got {args.max_occupancy:g}"
    if not 0 <= args.shrinkage < 1:
        return f"--shrinkage: a share from 0 to below 1; got {args.shrinkage:g}"
    if args.patience_s is not None and not 0 < args.patience_s <= MAX_PATIENCE_S:
        return (f"--patience-s: seconds > 0 and at most {MAX_PATIENCE_S:g}; got "
                f"{args.patience_s:g}")
    if not 1 <= args.replications <= MAX_REPLICATIONS:
        return f"--replications: 1 to {MAX_REPLICATIONS}; got {args.replications}"
    return None


def _simulate(args, forecast, target, plans):
    """(verify outcomes, Iteration or None), or (problem, None)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    from loadtests.staff_verify import Verifier

    expected = sum(interval.volume for interval in forecast.intervals) * args.replications
    if expected > MAX_CONTACTS:
        return (f"--verify: about {expected:,.0f} simulated contacts (volume x "
                f"--replications); at most {MAX_CONTACTS:,}: fewer replications or a "
                f"shorter forecast"), None
    verifier = Verifier(forecast, target, args.patience_s, args.seed, args.replications)
    agents = [item.agents for item in plans]
    stderr = Console(stderr=True)
    with Progress(TextColumn("simulating {task.description}:"), BarColumn(),
                  TextColumn("{task.completed} days"), console=stderr, transient=True,
                  disable=not stderr.is_terminal) as progress:
        task = progress.add_task("the plan", total=args.replications)

        def advance():
            progress.advance(task)

        verify = verifier.run(agents, advance)
        if not args.iterate:
            return verify, None
        progress.update(task, description="iterated staffing", completed=0, total=None)
        return verify, verifier.iterate(agents, progress=advance, first=verify)

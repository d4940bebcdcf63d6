"""`vcc demo`: the whole product in one command, on a fresh machine after `pip install .`.

1. starts the embedded cluster: `vcc serve` in its own process, on 127.0.0.1 with a free
   port, a throw-away SQLite store in a temporary directory, and the bundled dialled center
   (loadtests/examples/ivr_demo.yaml: two sites, two numbers, an office calendar, a menu, a
   backup skill, callbacks and a closed-hours message), its calendars reading the
   scenario's `start` (`--calendar-start`: the office is open, whatever the time here);
2. plays a minute of that center's traffic in real time through the real gRPC API with
   `loadtests.live.run_loadtest`: the PBX on a CallControl stream sends only the dialled
   number and the caller's number, answers the plans' prompts and menus as each caller of
   the trace decided, and the agents work on AgentControl (a progress bar on stderr);
   `--day` instead replays the bundled sample day (loadtests/traces/sample_day.csv, calls
   addressed to a skill) on the two-site configuration at ~1,000x;
   while it plays, the live wallboard (`vcc serve --http-port`, a free port) is served and its
   address printed: open it (or its kiosk view) in a browser on this machine;
3. prints the service report per site, skill, class and service as the load client saw
   it, then stops the server (SIGTERM: it commits its journal and contact records) and
   prints the report `vcc report` computes from those records;
4. removes everything it started, whatever happened (the server process, the store).

Exit code 0 when every contact reached a final state (`lost` 0), 1 otherwise, 2 when the
cluster could not be started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import sys
import tempfile
import time
from dataclasses import dataclass

import loadtests

SAMPLE_TRACE = pathlib.Path(loadtests.__file__).parent / "traces" / "sample_day.csv"
DEMO_CENTER = pathlib.Path(loadtests.__file__).parent / "examples" / "ivr_demo.yaml"
START_TIMEOUT_S = 120.0        # a Ray runtime takes seconds to start on a small machine
STOP_TIMEOUT_S = 60.0
TARGET_WALL_S = 30.0           # --day's default speed replays the sample in about this long
DEFAULT_SECONDS = 40.0         # of the dialled center's traffic, played at x1 (~1 min in all)
MIN_SECONDS, MAX_SECONDS = 5.0, 3600.0


@dataclass
class Show:
    """What one demo plays: the server's configuration, the contacts, how fast."""
    config_text: str
    trace: list
    speed: float
    server_args: list
    what: str                  # for the "replaying ..." line
    report_by: str             # the router's report: by skill or by service


def dialled_center(seconds: float, seed: int | None) -> Show:
    """A minute (`seconds`) of the bundled dialled center, at x1: the router's plan timers
    run in its wall seconds, so only real time keeps them what the trace's callers expect."""
    from datetime import datetime, timezone

    from loadtests.scenario import parse_scenario
    from loadtests.trace import generate_trace

    text = DEMO_CENTER.read_text()
    scenario = dataclasses.replace(parse_scenario(text, str(DEMO_CENTER)), duration_s=seconds)
    trace = generate_trace(scenario, seed=seed)
    start = datetime.fromtimestamp(scenario.start_epoch, timezone.utc).isoformat()
    seed_used = scenario.seed if seed is None else seed
    return Show(text, trace, 1.0, ["--calendar-start", start],
                f"{seconds:g} s of dialled traffic of {DEMO_CENTER.name} (seed {seed_used}; "
                f"calendars at {start})", "service")


def sample_day(speed: float | None) -> Show:
    from cluster.config import DEFAULT_CONFIG
    from loadtests.trace import read_trace

    trace = read_trace(str(SAMPLE_TRACE))
    span = max(contact.arrival_s for contact in trace) if trace else 0.0
    return Show(DEFAULT_CONFIG.read_text(), trace, speed or max(1.0, span / TARGET_WALL_S), [],
                f"{len(trace):,} contacts of {SAMPLE_TRACE.name}", "skill")


def run_demo(args) -> int:
    from rich.console import Console

    from loadtests.grpc_bench import ServerProcess
    from loadtests.live import LoadtestError, progress_display, render_loadtest, run_loadtest
    from loadtests.report import render_report

    console, stderr = Console(), Console(stderr=True)
    if args.day:
        show = sample_day(args.speed)
    elif args.speed is not None:
        print("vcc demo: --speed: only with --day (the dialled center plays in real time: "
              "its plans' timers run on the router's clock; shorten it with --seconds)",
              file=sys.stderr)
        return 2
    else:
        show = dialled_center(args.seconds, args.seed)
    trace, speed = show.trace, show.speed
    span = max(contact.arrival_s for contact in trace) if trace else 0.0
    with tempfile.TemporaryDirectory(prefix="vcc-demo-") as workdir:
        db_url = f"sqlite:///{workdir}/demo.db"
        stderr.print(f"vcc demo: starting the embedded cluster (2 sites, store {db_url}) ...")
        # Started in the temporary directory: `python -m` would otherwise import vcc from
        # the current directory (a source checkout without the compiled scheduler) instead
        # of the installed package.
        # The load client runs beside the cluster: a stall of this machine is not an
        # overload of the center, so the router sheds new contacts only past 1 s behind a
        # PBX link (serve's default: 50 ms; README, "Running a cluster").
        server = ServerProcess(show.config_text, runtime=args.runtime,
                               server_args=["--db", db_url, "--max-link-delay-ms", "1000",
                                            "--http-port", "0", *show.server_args],
                               cwd=workdir, via_cli=True,
                               startup_timeout_s=START_TIMEOUT_S, stop_timeout_s=STOP_TIMEOUT_S)
        try:
            server.__enter__()          # stops the server itself if it fails to start
        except RuntimeError as error:
            print(f"vcc demo: {error}", file=sys.stderr)
            return 2
        port = server.port
        try:
            if server.wallboard_url:
                stderr.print(f"vcc demo: wallboard at {server.wallboard_url} (kiosk view: "
                             f"{server.wallboard_url}kiosk) while the demo runs")
            stderr.print(f"vcc demo: cluster up on 127.0.0.1:{port}; playing {show.what} "
                         f"at x{speed:g} (~{span / speed:.0f} s)")
            display = progress_display(stderr, stderr.is_terminal and not args.no_progress)
            with display:
                task = display.add_task("demo", total=1.0, status="agents logging in")

                def progress(snapshot):
                    display.update(task, completed=snapshot["trace_s"] / max(snapshot["span_s"], 1e-9),
                                   status=f"{snapshot['sent']:,}/{snapshot['total']:,} sent  "
                                          f"{snapshot['final']:,} done  queued {snapshot['queued']:,}")
                began = time.monotonic()
                try:
                    report = asyncio.run(run_loadtest(f"127.0.0.1:{port}", trace, speed=speed,
                                                      progress=progress))
                except LoadtestError as error:
                    print(f"vcc demo: {error}", file=sys.stderr)
                    return 2
            console.rule("vcc demo: service report (what the PBX and agents saw)")
            render_report(report, console)
            render_loadtest(report["loadtest"], console)
            stderr.print(f"vcc demo: replay took {time.monotonic() - began:.1f} s; stopping "
                         "the cluster ...")
        finally:
            server.stop()
        code = server.returncode
        if code != 0:
            print(f"vcc demo: the server stopped with code {code}", file=sys.stderr)
            return 1
        _interval_report(db_url, console, speed, show.report_by)
        lost = report["contacts"]["lost"]
        console.print(f"vcc demo: done; contacts lost: {lost}")
        return 0 if lost == 0 else 1


def _interval_report(db_url: str, console, speed: float, by: str) -> None:
    """The report the router's own contact records give (what a supervisor reads). The
    router keeps wall-clock time: at x`speed` its seconds are `speed` trace seconds."""
    from cluster.reports import ReportQuery, compute_report, render, time_range
    from cluster.store.db import open_engine

    engine = open_engine(db_url)
    try:
        found = time_range(engine)
        if found is None:
            console.print("vcc demo: the store holds no contact records")
            return
        console.rule(f"vcc report --by {by}: the router's own contact records")
        if speed != 1:
            console.print(f"(times in the router's wall-clock seconds; the replay ran at "
                          f"x{speed:g}, so one of them is that many seconds of the trace)")
        start, end = found
        span = max(end - start, 1.0)
        # One interval over the whole replay: the demo is minutes of wall time.
        render(compute_report(engine, ReportQuery(start, start + span + 1.0, span + 1.0,
                                                  by)), console)
    finally:
        engine.dispose()


def add_demo_parser(commands) -> None:
    """`vcc demo` (cluster/cli.py calls this)."""
    demo = commands.add_parser(
        "demo", help="start the embedded cluster, play a minute of a dialled two-site "
                     "center (or --day: a sample day) through the gRPC API, print the "
                     "service reports, stop")
    from cluster.arguments import number
    from loadtests.live import MAX_SPEED, MIN_SPEED

    demo.add_argument("--seconds", type=number(MIN_SECONDS, MAX_SECONDS),
                      default=DEFAULT_SECONDS,
                      help=f"how much of the dialled center's traffic to play, in real time "
                           f"(default {DEFAULT_SECONDS:g}; {MIN_SECONDS:g}..{MAX_SECONDS:g})")
    demo.add_argument("--seed", type=number(0, 2**63 - 1, integer=True), default=None,
                      help="the traffic's random seed (default: the example's)")
    demo.add_argument("--day", action="store_true",
                      help="replay the bundled sample day instead (685 contacts addressed to "
                           "skills, two sites, at ~1,000x)")
    demo.add_argument("--speed", type=number(MIN_SPEED, MAX_SPEED), default=None,
                      help=f"with --day: replay speed (default: the sample in "
                           f"~{TARGET_WALL_S:.0f} s; {MIN_SPEED:g}..{MAX_SPEED:,g})")
    demo.add_argument("--runtime", choices=("ray", "inprocess"), default="ray",
                      help="where the site cores run (default: ray, as vcc serve)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    demo.set_defaults(run=run_demo)

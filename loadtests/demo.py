"""`vcc demo`: the whole product in one command, on a fresh machine after `pip install .`.

1. starts the embedded cluster: `vcc serve` in its own process, on 127.0.0.1 with a free
   port, the bundled two-site configuration (cluster/configs/two_sites.yaml), and a
   throw-away SQLite store in a temporary directory;
2. replays the bundled sample day (loadtests/traces/sample_day.csv) through the real gRPC
   API with `loadtests.live.run_loadtest`: the PBX on a CallControl stream, the agents on
   AgentControl (a progress bar on stderr while it runs);
3. prints the service report per site, skill and class as the load client saw it, then
   stops the server (SIGTERM: it commits its journal and contact records) and prints the
   interval report `vcc report` computes from those records;
4. removes everything it started, whatever happened (the server process, the store).

Exit code 0 when every contact reached a final state (`lost` 0), 1 otherwise, 2 when the
cluster could not be started.
"""

from __future__ import annotations

import asyncio
import pathlib
import sys
import tempfile
import time

import loadtests

SAMPLE_TRACE = pathlib.Path(loadtests.__file__).parent / "traces" / "sample_day.csv"
START_TIMEOUT_S = 120.0        # a Ray runtime takes seconds to start on a small machine
STOP_TIMEOUT_S = 60.0
TARGET_WALL_S = 30.0           # the default speed replays the sample in about this long


def run_demo(args) -> int:
    from rich.console import Console

    from cluster.config import DEFAULT_CONFIG
    from loadtests.grpc_bench import ServerProcess
    from loadtests.live import LoadtestError, progress_display, render_loadtest, run_loadtest
    from loadtests.report import render_report
    from loadtests.trace import read_trace

    console, stderr = Console(), Console(stderr=True)
    trace = read_trace(str(SAMPLE_TRACE))
    span = max(contact.arrival_s for contact in trace) if trace else 0.0
    speed = args.speed or max(1.0, span / TARGET_WALL_S)
    with tempfile.TemporaryDirectory(prefix="vcc-demo-") as workdir:
        db_url = f"sqlite:///{workdir}/demo.db"
        stderr.print(f"vcc demo: starting the embedded cluster (2 sites, store {db_url}) ...")
        # Started in the temporary directory: `python -m` would otherwise import vcc from
        # the current directory (a source checkout without the compiled scheduler) instead
        # of the installed package.
        # The demo replays a day at ~1,000x on whatever machine runs it, the load client
        # beside the cluster: a stall of that machine is not an overload of the center, so
        # the router sheds new contacts only past 1 s behind a PBX link (serve's default:
        # 50 ms; README, "Running a cluster").
        server = ServerProcess(DEFAULT_CONFIG.read_text(), runtime=args.runtime,
                               server_args=["--db", db_url, "--max-link-delay-ms", "1000"],
                               cwd=workdir,
                               startup_timeout_s=START_TIMEOUT_S, stop_timeout_s=STOP_TIMEOUT_S)
        try:
            server.__enter__()          # stops the server itself if it fails to start
        except RuntimeError as error:
            print(f"vcc demo: {error}", file=sys.stderr)
            return 2
        port = server.port
        try:
            stderr.print(f"vcc demo: cluster up on 127.0.0.1:{port}; replaying {len(trace):,} "
                         f"contacts of {SAMPLE_TRACE.name} at x{speed:g} "
                         f"(~{span / speed:.0f} s)")
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
        _interval_report(db_url, console, speed)
        lost = report["contacts"]["lost"]
        console.print(f"vcc demo: done; contacts lost: {lost}")
        return 0 if lost == 0 else 1


def _interval_report(db_url: str, console, speed: float) -> None:
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
        console.rule("vcc report --by skill: the router's own contact records")
        console.print(f"(times in the router's wall-clock seconds; the replay ran at x{speed:g}, "
                      "so one of them is that many seconds of the trace)")
        start, end = found
        span = max(end - start, 1.0)
        # One interval over the whole replay: the sample is minutes of wall time.
        render(compute_report(engine, ReportQuery(start, start + span + 1.0, span + 1.0,
                                                  "skill")), console)
    finally:
        engine.dispose()


def add_demo_parser(commands) -> None:
    """`vcc demo` (cluster/cli.py calls this)."""
    demo = commands.add_parser(
        "demo", help="start the embedded cluster, replay a sample day through the gRPC API, "
                     "print the service report, stop")
    from cluster.arguments import number
    from loadtests.live import MAX_SPEED, MIN_SPEED

    demo.add_argument("--speed", type=number(MIN_SPEED, MAX_SPEED), default=None,
                      help=f"replay speed (default: the sample in ~{TARGET_WALL_S:.0f} s; "
                           f"{MIN_SPEED:g}..{MAX_SPEED:,g})")
    demo.add_argument("--runtime", choices=("ray", "inprocess"), default="ray",
                      help="where the site cores run (default: ray, as vcc serve)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    demo.set_defaults(run=run_demo)

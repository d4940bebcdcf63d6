"""`vcc simulate`: a scenario through the routing core in simulated time (SPEC §5).

A subcommand of `vcc` registered from here (setup.py, entry point group `vcc.commands`):
the load-testing tools sit above the cluster, which never imports them (.importlinter).
"""

from __future__ import annotations

import json
import sys


def add_simulate_parser(commands) -> None:
    simulate = commands.add_parser(
        "simulate", help="run a scenario through the routing core in simulated time")
    simulate.add_argument("scenario", help="scenario YAML file (README: Scenario files)")
    simulate.add_argument("--json", action="store_true", help="print the report as one JSON object")
    simulate.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    simulate.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    simulate.add_argument("--db", metavar="URL", default=None,
                          help="also write the journal, contact records and agent intervals "
                               "of the simulated day to this new database, for `vcc report` "
                               "(times: simulated seconds from 0)")
    simulate.set_defaults(run=_simulate)


def _simulate(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from loadtests.report import render_report
    from loadtests.scenario import ScenarioError, load_scenario
    from loadtests.simulator import Simulation

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        print(f"vcc simulate: {error}", file=sys.stderr)
        return 2
    persistence = None
    if args.db:
        from sqlalchemy.exc import SQLAlchemyError

        from cluster.arguments import database_problem, shown_url
        from cluster.store.db import StoreUrlError

        problem = database_problem(args.db)
        if problem:
            print(f"vcc simulate: --db: {problem}", file=sys.stderr)
            return 2
        try:
            persistence = _simulation_store(args.db)
        except StoreUrlError as error:
            print(f"vcc simulate: --db: {error}", file=sys.stderr)
            return 2
        except SQLAlchemyError as error:     # e.g. a database of another application
            first = str(getattr(error, "orig", None) or error).strip().splitlines() or [""]
            print(f"vcc simulate: --db: cannot use {shown_url(args.db)}: "
                  f"{type(error).__name__}: {first[0][:200]}", file=sys.stderr)
            return 2
    simulation = Simulation(scenario, seed=args.seed)
    if persistence is not None:
        from loadtests.recorded import attach_simulation

        attach_simulation(simulation, persistence)
    stderr = Console(stderr=True)
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), console=stderr, transient=True,
                  disable=args.no_progress or not stderr.is_terminal) as progress:
        task = progress.add_task("simulate", total=scenario.duration_s)
        result = simulation.run(progress=lambda simulated: progress.update(task, completed=simulated))
    if persistence is not None:
        for name, state in simulation.sites.items():
            persistence.recorder.close_intervals(name, state.now)
        persistence.flush_now()
        persistence.journal.close()
        persistence.journal.engine.dispose()
    if args.json:
        print(json.dumps(result.report, indent=None, sort_keys=True))
    else:
        render_report(result.report, Console())
    return 0 if result.report["contacts"]["lost"] == 0 else 1


def _simulation_store(url: str):
    """A Persistence (journal, records) on a migrated database, for `vcc simulate --db`."""
    from cluster.store.db import StoreUrlError, open_engine
    from cluster.store.journal import Journal, journal_sites
    from cluster.store.migrate import upgrade
    from cluster.store.persistence import Persistence
    from cluster.store.records import Recorder

    engine = open_engine(url)
    upgrade(engine)
    if journal_sites(engine):
        engine.dispose()
        # Simulated time starts at 0 again: mixing two runs would make nonsense reports.
        raise StoreUrlError(f"{url!r} holds a journal already; use a new database")
    return Persistence(Journal(engine), Recorder())

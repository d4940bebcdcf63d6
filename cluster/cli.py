"""The `vcc` command. Subcommands stay thin: they parse arguments and call one function."""

from __future__ import annotations

import argparse
import json
import sys


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
    simulation = Simulation(scenario, seed=args.seed)
    stderr = Console(stderr=True)
    with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), console=stderr, transient=True,
                  disable=args.no_progress or not stderr.is_terminal) as progress:
        task = progress.add_task("simulate", total=scenario.duration_s)
        result = simulation.run(progress=lambda simulated: progress.update(task, completed=simulated))
    if args.json:
        print(json.dumps(result.report, indent=None, sort_keys=True))
    else:
        render_report(result.report, Console())
    return 0 if result.report["contacts"]["lost"] == 0 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcc", description="vcc: the virtual contact center routing cluster")
    commands = parser.add_subparsers(dest="command", required=True)
    simulate = commands.add_parser(
        "simulate", help="run a scenario through the routing core in simulated time")
    simulate.add_argument("scenario", help="scenario YAML file (SPEC §5)")
    simulate.add_argument("--json", action="store_true", help="print the report as one JSON object")
    simulate.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    simulate.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    simulate.set_defaults(run=_simulate)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())

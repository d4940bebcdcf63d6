"""The simulator's figures (issue 3), measured and checked: `python -m loadtests.sim_figures`.

1. speed: one simulated day of the 500-agent 2-site center (examples/day_500_agents.yaml)
   on the current scheduler backend; target >= 10,000 contacts per wall second, <= 10 s.
2. multi-site: examples/two_sites_bsr.yaml (east rho ~1.1, west ~0.6) run with
   `multisite: bsr`, with `multisite: local`, and as one pooled site holding every agent and
   all the traffic; target: BSR's SL within 5 points of pooled, local's not.
3. DQP: examples/dqp_two_classes.yaml (SO 20 s and 60 s, rho ~0.95, no abandons) with
   `queueing: dqp` and `fifo`; target: DQP's ASA ratio 60/20 within 25% of 3.0, FIFO's ~1.

Figures 2 and 3 are run for several seeds (--seeds) and each seed is checked on its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys

from rich.console import Console
from rich.table import Table

import native
from loadtests.scenario import load_scenario
from loadtests.simulator import Simulation
from sites.model import Queueing

EXAMPLES = pathlib.Path(__file__).parent / "examples"


def pooled(scenario, name="pooled"):
    """The same traffic and agents as one site: what perfect multi-site routing could do."""
    groups = [group for site_groups in scenario.sites.values() for group in site_groups]
    traffic = tuple(dataclasses.replace(stream, site=name) for stream in scenario.traffic)
    return dataclasses.replace(scenario, sites={name: groups}, traffic=traffic,
                               multisite="local")


def with_queueing(scenario, queueing: Queueing):
    skills = {name: dataclasses.replace(skill, queueing=queueing)
              for name, skill in scenario.skills.items()}
    return dataclasses.replace(scenario, skills=skills)


class Checks:
    def __init__(self, console):
        self.console, self.failed = console, 0

    def check(self, passed: bool, text: str):
        self.failed += not passed
        self.console.print(f"  {'PASS' if passed else 'FAIL'} {text}")


def speed(console, checks):
    scenario = load_scenario(str(EXAMPLES / "day_500_agents.yaml"))
    result = Simulation(scenario).run()
    run, contacts = result.report["run"], result.report["contacts"]
    console.print(f"[bold]1. speed[/] ({native.BACKEND} scheduler): {contacts['offered']:,} contacts, "
                  f"{scenario.duration_s:,.0f} simulated s in {run['wall_s']:.2f} s wall = "
                  f"{run['contacts_per_wall_s']:,} contacts/s, speed-up x{run['speedup']:,}, "
                  f"lost {contacts['lost']}")
    checks.check(run["contacts_per_wall_s"] >= 10_000 and run["wall_s"] <= 10,
                 f"{run['contacts_per_wall_s']:,} contacts/s (>= 10,000) and {run['wall_s']:.2f} s "
                 "(<= 10 s)")
    checks.check(contacts["lost"] == 0, f"lost {contacts['lost']} (= 0)")


def multisite(console, checks, seeds):
    bsr = load_scenario(str(EXAMPLES / "two_sites_bsr.yaml"))
    variants = {"pooled": pooled(bsr), "bsr": bsr,
                "local": dataclasses.replace(bsr, multisite="local")}
    table = Table(title="2. multi-site: two_sites_bsr.yaml (east rho ~1.1, west ~0.6)",
                  title_justify="left")
    for column in ("seed", "routing", "offered", "interflowed", "SL %", "ASA s", "lost"):
        table.add_column(column, justify="right")
    verdicts = []
    for seed in seeds:
        reports = {name: Simulation(scenario, seed=seed).run().report
                   for name, scenario in variants.items()}
        for name, report in reports.items():
            table.add_row(str(seed), name, f"{report['contacts']['offered']:,}",
                          f"{report['contacts']['interflowed']:,}",
                          f"{report['service']['sl_pct']:.2f}", f"{report['service']['asa_s']:.2f}",
                          str(report["contacts"]["lost"]))
        verdicts.append((seed, reports))
    console.print(table)
    for seed, reports in verdicts:
        pooled_sl = reports["pooled"]["service"]["sl_pct"]
        bsr_gap = abs(reports["bsr"]["service"]["sl_pct"] - pooled_sl)
        local_gap = abs(reports["local"]["service"]["sl_pct"] - pooled_sl)
        checks.check(bsr_gap <= 5, f"seed {seed}: bsr SL within {bsr_gap:.2f} points of pooled (<= 5)")
        checks.check(local_gap > 5, f"seed {seed}: local SL {local_gap:.2f} points from pooled (> 5)")
        checks.check(all(r["contacts"]["lost"] == 0 for r in reports.values()),
                     f"seed {seed}: lost 0 in all three runs")


def dqp_ratio(console, checks, seeds):
    base = load_scenario(str(EXAMPLES / "dqp_two_classes.yaml"))
    table = Table(title=f"3. DQP: dqp_two_classes.yaml ({base.duration_s / 3600:.0f} simulated h "
                        "each)", title_justify="left")
    for column in ("seed", "queueing", "offered", "ASA SO 20 s", "ASA SO 60 s", "ratio", "lost"):
        table.add_column(column, justify="right")
    verdicts = []
    for seed in seeds:
        for queueing in (Queueing.DQP, Queueing.FIFO):
            report = Simulation(with_queueing(base, queueing), seed=seed).run().report
            asa20 = report["by_class"]["support/medium/20"]["asa_s"]
            asa60 = report["by_class"]["support/medium/60"]["asa_s"]
            ratio = asa60 / asa20
            table.add_row(str(seed), queueing.name.lower(), f"{report['contacts']['offered']:,}",
                          f"{asa20:.1f}", f"{asa60:.1f}", f"{ratio:.3f}",
                          str(report["contacts"]["lost"]))
            verdicts.append((seed, queueing, ratio, report["contacts"]["lost"]))
    console.print(table)
    for seed, queueing, ratio, lost in verdicts:
        if queueing is Queueing.DQP:
            checks.check(abs(ratio - 3.0) <= 0.75, f"seed {seed}: dqp ratio {ratio:.3f} within 25% of 3.0")
        else:
            checks.check(abs(ratio - 1.0) <= 0.15, f"seed {seed}: fifo ratio {ratio:.3f} ~1 (+-0.15)")
        checks.check(lost == 0, f"seed {seed} {queueing.name.lower()}: lost {lost} (= 0)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.sim_figures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds for figures 2 and 3")
    parser.add_argument("--only", choices=("speed", "multisite", "dqp"), help="one figure only")
    args = parser.parse_args(argv)
    try:
        seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds: comma-separated integers expected, got {args.seeds!r}")
    console = Console()
    checks = Checks(console)
    figures = {"speed": lambda: speed(console, checks),
               "multisite": lambda: multisite(console, checks, seeds),
               "dqp": lambda: dqp_ratio(console, checks, seeds)}
    for name, figure in figures.items():
        if args.only in (None, name):
            figure()
    console.print(f"{checks.failed} check(s) failed" if checks.failed else "all checks passed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())

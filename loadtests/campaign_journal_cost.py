"""What a campaign's journal costs (issue 19 item 7): `python -m loadtests.campaign_journal_cost
[--agents 100] [--hours 8] [--seed 1]`.

Runs the predictive campaign of `loadtests/dialer_table.py` in `vcc simulate` for one shift,
records every event its pacer was fed, journals them as `vcc serve` would (one entry per
event: the host batches a few at most), and prints the journal's size as stored JSON, how
long reading it back takes (`Replay`: JSON to events) and how long a new pacer takes to
replay it: what a new leader spends before the campaign goes on (README, "A running
campaign survives a restart and a takeover").
"""

from __future__ import annotations

import argparse
import json
import time

from cluster.campaigns.journal import PaceCodec, Replay, start_entry, step_entry
from loadtests import dialer_table
from loadtests.scenario import load_scenario
from loadtests.simulator import Simulation
from sites.dialer import campaign as pacer_module
from sites.dialer.do_not_call import DoNotCall


def recorded_events(agents: int, hours: float, seed: int) -> tuple:
    """(the campaign's spec, every event its pacer handled in one simulated shift)."""
    scenario = dialer_table.variant(load_scenario(str(dialer_table.EXAMPLE)), agents,
                                    "predictive", hours)
    events = []
    handle = pacer_module.Campaign.handle

    def recording(self, event):
        events.append(event)
        return handle(self, event)

    pacer_module.Campaign.handle = recording
    try:
        Simulation(scenario, seed=seed).run()
    finally:
        pacer_module.Campaign.handle = handle
    return scenario.campaigns[0], events


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.campaign_journal_cost",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    spec, events = recorded_events(args.agents, args.hours, args.seed)
    simulated = time.perf_counter() - began
    paces = PaceCodec()
    texts = [json.dumps(start_entry((), ()))] + [json.dumps(step_entry([event], paces))
                                                 for event in events]
    size = sum(len(text) for text in texts)
    began = time.perf_counter()
    replay = Replay(enumerate((json.loads(text) for text in texts), 1))
    read_s = time.perf_counter() - began
    pacer = pacer_module.Campaign(spec.config, spec.call_list(), None,
                                  DoNotCall(spec.global_do_not_call, spec.do_not_call))
    began = time.perf_counter()
    for step in replay.steps:
        for event in step:
            pacer.handle(event)
    replay_s = time.perf_counter() - began
    print(f"predictive campaign, {args.agents} agents, {args.hours:g} h, seed {args.seed} "
          f"(simulated in {simulated:.1f} s):")
    print(f"  journal: {len(texts):,} entries, {size / 1e6:.1f} MB of JSON")
    print(f"  reading it back (JSON to events): {read_s:.2f} s")
    print(f"  a new pacer replaying it: {replay_s:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What a campaign's journal costs (issue 19 item 7): `python -m loadtests.campaign_journal_cost
[--agents 100] [--hours 8] [--seed 1] [--snapshot-every 2000]`.

Runs the predictive campaign of `loadtests/dialer_table.py` in `vcc simulate` for one shift,
records every event its pacer was fed, journals them as `vcc serve` would (one entry per
event: the host batches a few at most), and prints the journal's size as stored JSON, how
long reading it back takes (`Replay`: JSON to events) and how long a new pacer takes to
replay it: what a new leader would spend before the campaign goes on without snapshots.
Then the same with snapshots (what `vcc serve` does): the resume at the end of the shift
in the worst case, the newest snapshot `snapshot-every - 1` entries back: the snapshot's
size, the time to take and encode one, and the time to read it and the entries after it
back, restore a new pacer from it and replay them; the restored pacer must stand exactly
where the original does (README, "A running campaign survives a restart and a takeover").
"""

from __future__ import annotations

import argparse
import json
import time

from cluster.campaigns.journal import (SNAPSHOT_EVERY, PaceCodec, Replay, snapshot_state,
                                       start_entry, step_entry)
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
    parser.add_argument("--snapshot-every", type=int, default=SNAPSHOT_EVERY)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    spec, events = recorded_events(args.agents, args.hours, args.seed)
    simulated = time.perf_counter() - began
    paces = PaceCodec()
    # The newest snapshot, at the worst place: `snapshot_every - 1` entries before the end.
    cut = max(0, len(events) + 1 - args.snapshot_every)
    texts = [json.dumps(start_entry((), ()))]
    for number, event in enumerate(events):
        if number == cut:
            codec_at_cut = (dict(paces.views), list(paces.order))
        texts.append(json.dumps(step_entry([event], paces)))
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
    print(f"  without snapshots: reading it back (JSON to events) {read_s:.2f} s, a new "
          f"pacer replaying it {replay_s:.2f} s: {read_s + replay_s:.2f} s to resume")
    snapshot = _snapshot_resume(spec, events, texts, cut, codec_at_cut, pacer)
    print(f"  with a snapshot every {args.snapshot_every:,} entries, resumed at the end with "
          f"the newest {len(events) - cut:,} entries back:")
    print(f"    a snapshot: {snapshot['bytes'] / 1e3:,.0f} kB of JSON, taken and encoded in "
          f"{snapshot['take_s'] * 1e3:.1f} ms")
    print(f"    resume: reading the snapshot and the entries after it {snapshot['read_s']:.3f} "
          f"s, restoring {snapshot['restore_s']:.3f} s, replaying {snapshot['replay_s']:.3f} s:"
          f" {snapshot['read_s'] + snapshot['restore_s'] + snapshot['replay_s']:.3f} s")
    print(f"    the restored pacer stands where the original does: {snapshot['same']}")
    return 0 if snapshot["same"] else 1


def _snapshot_resume(spec, events: list, texts: list, cut: int, codec: tuple,
                     original) -> dict:
    """Take a snapshot after the first `cut` events, then resume from it and the entries
    after it, as `vcc serve` does (cluster/campaigns/resume.py)."""
    def fresh():
        return pacer_module.Campaign(spec.config, spec.call_list(), None,
                                     DoNotCall(spec.global_do_not_call, spec.do_not_call))
    writer = fresh()
    for event in events[:cut]:
        writer.handle(event)
    paces = PaceCodec()
    paces.views, paces.order = codec
    began = time.perf_counter()
    stored = json.dumps(snapshot_state(writer.snapshot(), paces))
    take_s = time.perf_counter() - began
    began = time.perf_counter()
    rows = [(1, json.loads(texts[0]))] + [(seq, json.loads(texts[seq - 1]))
                                          for seq in range(cut + 2, len(texts) + 1)]
    replay = Replay(rows, (cut + 1, json.loads(stored)))
    read_s = time.perf_counter() - began
    began = time.perf_counter()
    resumed = fresh()
    resumed.restore(replay.pacer_state)
    restore_s = time.perf_counter() - began
    began = time.perf_counter()
    for step in replay.steps:
        for event in step:
            resumed.handle(event)
    replay_s = time.perf_counter() - began
    return {"bytes": len(stored), "take_s": take_s, "read_s": read_s, "restore_s": restore_s,
            "replay_s": replay_s, "same": resumed.snapshot() == original.snapshot()}


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of the full site core: `python -m sites.bench [--json]`.

A site with 5,000 agents over 50 skills (3 skills each, levels 1..5, voice), all ready.
Two measurements per scheduler backend, each repeated over batches:
- `decision`: `handle(ContactArrived)` calls only, each of which routes the contact to an
  available agent (the core's arrival → offer decision; every timed call must produce an
  OfferContact or the run fails). Between timed batches the offered contacts are accepted
  and ended untimed so the agents are available again.
- `lifecycle`: arrival, accept and end of one contact (three events) per op, all timed.
Output: a table, or with --json one object per line with `backend`, `queued`, `op`,
`ops_per_s` (same format as `python -m native.bench`).
"""

from __future__ import annotations

import argparse
import json
import random
import time

from native import pyscheduler
from sites import events as ev
from sites.actions import OfferContact
from sites.model import AgentConfig, SiteConfig, SkillConfig
from sites.state import SiteState

SKILL_COUNT = 50
AGENT_COUNT = 5000
SKILLS_PER_AGENT = 3
TARGET_DECISIONS_PER_S = 100_000


def backends():
    found = []
    try:
        from native import _scheduler
        found.append(("native", _scheduler.Scheduler))
    except ImportError:
        print("native backend not built (pip install -e .); measuring the twin only")
    found.append(("python", pyscheduler.Scheduler))
    return found


def build_site(scheduler_factory, seed: int) -> SiteState:
    rng = random.Random(seed)
    skills = tuple(SkillConfig(f"skill{i}", wrap_up_s=0.0) for i in range(SKILL_COUNT))
    agents = tuple(
        AgentConfig(f"agent{i}", {f"skill{s}": rng.randint(1, 5)
                                  for s in rng.sample(range(SKILL_COUNT), SKILLS_PER_AGENT)})
        for i in range(AGENT_COUNT))
    site = SiteState(SiteConfig("bench", skills=skills, agents=agents),
                     scheduler_factory=scheduler_factory)
    for agent in agents:
        site.handle(ev.AgentLoggedIn(0.0, agent.agent_id))
        site.handle(ev.AgentReady(0.0, agent.agent_id))
    return site


class Clock:
    """Strictly increasing event times, so the core sees a plausible day."""

    def __init__(self):
        self.now = 1.0

    def next(self) -> float:
        self.now += 0.001
        return self.now


def measure_decisions(site: SiteState, batches: int, batch: int, seed: int) -> float:
    rng = random.Random(seed)
    clock = Clock()
    serial = 0
    elapsed = 0.0
    for _ in range(batches):
        arrivals = []
        for _ in range(batch):
            serial += 1
            arrivals.append(ev.ContactArrived(clock.next(), f"d{serial}",
                                              f"skill{rng.randrange(SKILL_COUNT)}"))
        handle = site.handle
        start = time.perf_counter()
        results = [handle(arrival) for arrival in arrivals]
        elapsed += time.perf_counter() - start
        for arrival, actions in zip(arrivals, results):
            if not isinstance(actions[0], OfferContact):
                raise SystemExit(f"bench setup error: {arrival.contact_id} was not offered")
            site.handle(ev.OfferAccepted(clock.next(), arrival.contact_id))
            site.handle(ev.ContactEnded(clock.next(), arrival.contact_id))
    return batches * batch / elapsed


def measure_lifecycles(site: SiteState, count: int, seed: int) -> float:
    rng = random.Random(seed)
    clock = Clock()
    clock.now = site.now + 1.0
    events = []
    for serial in range(count):
        contact_id = f"l{serial}"
        events.append(ev.ContactArrived(clock.next(), contact_id,
                                        f"skill{rng.randrange(SKILL_COUNT)}"))
        events.append(ev.OfferAccepted(clock.next(), contact_id))
        events.append(ev.ContactEnded(clock.next(), contact_id))
    handle = site.handle
    start = time.perf_counter()
    for event in events:
        handle(event)
    return count / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rows = []
    for name, factory in backends():
        site = build_site(factory, args.seed)
        # Each batch stays below the number of agents that can take a given skill.
        decisions = measure_decisions(site, args.batches, 200, args.seed)
        lifecycles = measure_lifecycles(site, 20_000, args.seed)
        site.validate()
        rows.append({"backend": name, "queued": 0, "op": "decision",
                     "ops_per_s": round(decisions)})
        rows.append({"backend": name, "queued": 0, "op": "lifecycle",
                     "ops_per_s": round(lifecycles)})
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(f"site core, {AGENT_COUNT} agents over {SKILL_COUNT} skills")
        print(f"{'backend':8} {'op':10} {'ops/s':>12}")
        for row in rows:
            print(f"{row['backend']:8} {row['op']:10} {row['ops_per_s']:>12,}")
    native_decisions = [r["ops_per_s"] for r in rows
                        if r["backend"] == "native" and r["op"] == "decision"]
    if native_decisions:
        verdict = "PASS" if native_decisions[0] >= TARGET_DECISIONS_PER_S else "FAIL"
        line = (f"check: native decisions/s {native_decisions[0]:,} >= "
                f"{TARGET_DECISIONS_PER_S:,}: {verdict}")
        print(json.dumps({"check": line}) if args.json else line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Soak: memory stays flat on a long run (issue 16 item 7).

`python -m loadtests.soak [--contacts 2000000] [--agents 100]` runs that many contacts
through one site of the in-process router (`CoreHost`, the runtime of `vcc serve --runtime
inprocess`, without gRPC or a store) at steady state: each batch of arrivals is offered to
ready agents, answered and ended, on a clock that moves 1 s per batch. It prints the
process's resident memory after a warm-up (10 % of the contacts) and at the end, and the
growth between them. Finished contacts are remembered only as the most recent
`sites.recent.FINISHED_KEPT` per site (and per router), so the growth should be ~0.
Bounded: it stops after --contacts contacts, or after --max-seconds of wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time

from cluster.config import parse_config
from cluster.host import CoreHost
from sites import events as ev
from sites.actions import OfferContact

CONFIG = """\
skills:
  billing: {{sl_threshold_s: 20}}
sites:
  east:
    agents:
      - {{count: {agents}, skills: {{billing: 1}}}}
"""


def resident_mib() -> float:
    gc.collect()
    with open(f"/proc/{os.getpid()}/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


async def soak(contacts: int, agents: int, max_seconds: float, report=print) -> dict:
    clock = Clock()
    host = CoreHost(parse_config(CONFIG.format(agents=agents), "soak.yaml"), clock=clock)
    for number in range(agents):
        agent_id = f"east-g0-{number}"
        await host.submit("east", [ev.AgentLoggedIn(0.0, agent_id), ev.AgentReady(0.0, agent_id)])
    batch = agents          # every agent takes one contact per batch: steady, nobody waits
    warm_at = contacts // 10
    figures = {}
    started = time.perf_counter()
    done = 0
    while done < contacts and time.perf_counter() - started < max_seconds:
        clock.now += 1.0
        count = min(batch, contacts - done)
        results = host.apply_batch([("east", ev.ContactArrived(0.0, f"c{done + n}", "billing"))
                                    for n in range(count)])
        offered = [result.actions for result in results]
        contact_ids = [item.action.contact_id for routed in offered for item in routed
                       if type(item.action) is OfferContact]
        clock.now += 0.5
        host.apply_batch([(None, ev.OfferAccepted(0.0, contact_id)) for contact_id in contact_ids])
        clock.now += 0.5
        host.apply_batch([(None, ev.ContactEnded(0.0, contact_id)) for contact_id in contact_ids])
        await host.tick()       # what the router's timer does: due timers (e.g. offers) go
        done += count
        if "warm_mib" not in figures and done >= warm_at:
            figures["warm_mib"] = resident_mib()
            report(f"{done:,} contacts: resident {figures['warm_mib']:.1f} MiB")
    figures["end_mib"] = resident_mib()
    figures["contacts"] = done
    figures["seconds"] = time.perf_counter() - started
    figures["live"] = len(host.live_contacts())
    figures["remembered"] = len(host.sites["east"].finished)
    await host.close()
    growth = 100.0 * (figures["end_mib"] - figures["warm_mib"]) / figures["warm_mib"]
    figures["growth_pct"] = growth
    report(f"{done:,} contacts: resident {figures['end_mib']:.1f} MiB; growth since 10 %: "
           f"{growth:+.2f} % (target <= 5 %); {figures['remembered']:,} final states "
           f"remembered, {figures['live']} live; {done / figures['seconds']:,.0f} contacts/s "
           f"for {figures['seconds']:.0f} s")
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=2_000_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args(argv)
    if args.contacts < 10 or args.agents < 1:
        parser.error("--contacts must be >= 10 and --agents >= 1")
    figures = asyncio.run(soak(args.contacts, args.agents, args.max_seconds))
    return 0 if figures["growth_pct"] <= 5.0 and figures["live"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

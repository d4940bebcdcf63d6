"""The simulator and the in-process router decide the same (issue 16 item 2).

A simulated hour of three sites under Best Service Routing (one overloaded: interflows on
arrival and pulls by idle agents; callers who abandon) records every world event it fed the
core: logins, arrivals, answers, hang-ups, abandons and Ticks, in order and with their
times. The same sequence is then replayed through a CoreHost (the runtime `vcc serve
--runtime inprocess` runs) on a clock that reads the recorded times. Every event the
simulator's core accepted must be accepted, and every contact must end the same way: final
state, the site and agent that answered it, when it was answered, how many times it moved.
The Ray runtime replays the same sequence in tests/integration/test_ray_host.py
(`test_the_simulator_and_the_ray_runtime_decide_the_same`), with this module's `replay`.
All three run the same rounds (cluster/runtime/rounds.py): one round per world event.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from cluster.config import ClusterConfig
from cluster.host import CoreHost
from loadtests.scenario import load_scenario, parse_scenario
from loadtests.simulator import Simulation
from sites import events as ev
from sites.actions import ContactFinished, OfferContact
from sites.calendars import WallClock
from sites.model import ContactState

EXAMPLES = Path(__file__).resolve().parents[2] / "loadtests" / "examples"

SCENARIO = """\
duration_s: 3600
seed: 11
skills:
  billing: {queueing: dqp, sl_threshold_s: 20}
  sales: {queueing: fifo, sl_threshold_s: 30, wrap_up_s: 5}
sites:
  east:
    agents:
      - {count: 6, skills: {billing: 1}}
      - {count: 2, skills: {billing: 2, sales: 1}}
  west:
    agents:
      - {count: 6, skills: {billing: 1, sales: 2}}
  north:
    agents:
      - {count: 4, skills: {sales: 1, billing: 3}}
routing: {multisite: bsr, adjust_by: 10}
traffic:
  - {site: east, skill: billing, rate_per_hour: 220, priority: medium,
     handle_time: {dist: exponential, mean_s: 150}, patience: {dist: exponential, mean_s: 120}}
  - {site: east, skill: billing, rate_per_hour: 30, priority: high, service_objective_s: 10,
     handle_time: {dist: exponential, mean_s: 150}}
  - {site: west, skill: sales, rate_per_hour: 60, priority: medium,
     handle_time: {dist: exponential, mean_s: 200}, patience: {dist: exponential, mean_s: 300}}
  - {site: north, skill: sales, rate_per_hour: 50, priority: low,
     handle_time: {dist: lognormal, mean_s: 240, sigma: 0.6}}
"""


# Events the host routes to wherever their contact is (no site given).
_CONTACT_EVENTS = (ev.OfferAccepted, ev.ContactEnded, ev.ContactAbandoned, ev.DigitsCollected,
                   ev.PromptFinished, ev.SelfServiceEnded, ev.CallbackChosen)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def outcomes_of_simulation(simulation) -> dict:
    return {record.contact_id: (record.final_state, record.served_site, record.agent_id,
                                record.answer_time, record.interflows)
            for record in simulation.records.values()}


def replay_config(scenario) -> ClusterConfig:
    return ClusterConfig("replay", scenario.skills, {}, scenario.site_configs(),
                         scenario.multisite, scenario.bsr, scenario.plans)


async def replay(scenario, world, host=None, clock=None) -> tuple[dict, int]:
    """Outcomes per contact of the world events replayed through a host (default: a new
    CoreHost; else `host` on `clock`, which the replay sets to each event's time). Time
    moves only with the world: every Tick the simulator made is replayed, so the host's
    own timer is kept off (it would tick at whatever moment the event loop got to it)."""
    created = host is None
    if created:
        clock = Clock()
        host = CoreHost(replay_config(scenario), clock=clock,
                        wall_clock=WallClock(scenario.start_epoch))
    host._arm_timer = lambda: None
    record = host.subscribe_routing(limit=10 ** 9)
    offered, answered, finished, moves = {}, {}, {}, {}
    refused = 0
    for site, event in world:
        clock.now = event.time
        if type(event) is ev.Tick:
            await host.tick()
        else:
            contact_id = getattr(event, "contact_id", None)
            target = None if type(event) in _CONTACT_EVENTS else site
            (result,) = await host.submit(target, [dataclasses.replace(event)])
            if result.error is not None:
                refused += 1
            elif type(event) is ev.OfferAccepted:
                answered[contact_id] = (offered[contact_id], event.time)
        for routed in record.drain():
            action = routed.action
            if type(action) is OfferContact:
                offered[action.contact_id] = (routed.site, action.agent_id)
            elif type(action) is ContactFinished:
                finished[action.contact_id] = action.final_state
            elif type(action).__name__ == "Interflowed":
                moves[action.contact_id] = moves.get(action.contact_id, 0) + 1
    outcomes = {}
    for contact_id, final_state in finished.items():
        (site, agent), answered_at = answered.get(contact_id, ((None, None), None))
        outcomes[contact_id] = (final_state, site, agent, answered_at, moves.get(contact_id, 0))
    if created:
        await host.close()
    return outcomes, refused


def test_the_simulator_and_the_in_process_router_decide_the_same():
    scenario = parse_scenario(SCENARIO, "replay.yaml")
    simulation = Simulation(scenario, record_world=True)
    simulation.run()
    expected = outcomes_of_simulation(simulation)
    # The scenario must exercise what it is about.
    states = [outcome[0] for outcome in expected.values()]
    assert states.count(ContactState.ABANDONED) >= 10
    assert sum(outcome[4] for outcome in expected.values()) >= 20      # interflows and pulls
    assert len(expected) >= 300 and None not in states

    got, refused = asyncio.run(replay(scenario, simulation.world))
    assert refused == 0
    assert_same(expected, got)


def assert_same(expected: dict, got: dict) -> None:
    differing = {contact_id: (expected[contact_id], got.get(contact_id))
                 for contact_id in expected if got.get(contact_id) != expected[contact_id]}
    assert not differing, f"{len(differing)} of {len(expected)} differ, e.g. " \
                          f"{sorted(differing.items())[:3]}"


@pytest.mark.parametrize("seed", [1, 2])
def test_replay_holds_for_other_days(seed):
    scenario = parse_scenario(SCENARIO.replace("seed: 11", f"seed: {seed}"), "replay.yaml")
    simulation = Simulation(scenario, record_world=True)
    simulation.run()
    got, refused = asyncio.run(replay(scenario, simulation.world))
    assert refused == 0
    assert got == outcomes_of_simulation(simulation)


def test_the_simulator_and_the_in_process_router_run_routing_plans_the_same():
    """The example center: menus, a backup skill, callbacks, self-service, the office
    closing half-way (issue 17: plans run identically wherever the core runs)."""
    scenario = load_scenario(str(EXAMPLES / "ivr_center.yaml"))
    simulation = Simulation(scenario, record_world=True)
    simulation.run()
    expected = outcomes_of_simulation(simulation)
    states = [outcome[0] for outcome in expected.values()]
    assert states.count(ContactState.SELF_SERVED) >= 20 and states.count(
        ContactState.COMPLETED) >= 50 and None not in states
    assert sum(record.callback for record in simulation.records.values()) >= 3
    got, refused = asyncio.run(replay(scenario, simulation.world))
    assert refused == 0
    assert_same(expected, got)

"""Routing plans on the Ray runtime (issue 17: plans run in the core, so every runtime runs
them identically): the example center's simulated hour — menus, a backup skill, callbacks,
self-service, the office closing half-way — replayed through site actors, one round per
event, ends every contact as the simulator did."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cluster.ray_host import RayHost
from loadtests.scenario import load_scenario
from loadtests.simulator import Simulation
from sites.calendars import WallClock
from tests.unit.test_replay import Clock, assert_same, outcomes_of_simulation, replay_config
from tests.unit.test_replay import replay as replay_world

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "loadtests" / "examples" / "ivr_center.yaml"


def test_the_simulator_and_the_ray_runtime_run_routing_plans_the_same(module_ray):
    scenario = load_scenario(str(EXAMPLE))
    simulation = Simulation(scenario, record_world=True)
    simulation.run()
    expected = outcomes_of_simulation(simulation)
    assert sum(record.callback for record in simulation.records.values()) >= 3
    clock = Clock()
    # Every site answers every round (late_after_s=None), as in test_ray_host's replay.
    host = RayHost(replay_config(scenario), clock=clock, named=False, late_after_s=None,
                   wall_clock=WallClock(scenario.start_epoch))

    async def go():
        try:
            outcome = await replay_world(scenario, simulation.world, host, clock)
            await host.check()
            return outcome
        finally:
            await host.close()

    try:
        got, refused = asyncio.run(asyncio.wait_for(go(), 300))
    finally:
        host.kill_actors()
    assert refused == 0
    assert_same(expected, got)


def test_admin_plans_reach_every_site_actor(module_ray):
    """Issue 17 item 5 on the Ray runtime: a document put through the gateway is checked
    whole, then every site actor runs it; a bad one changes nothing."""
    from cluster.config import parse_config
    from sites import events as ev
    from sites.actions import IvrTreatment
    from sites.plans import PlanError

    config = parse_config(EXAMPLE.read_text(), str(EXAMPLE))
    host = RayHost(config, named=False)

    async def go():
        try:
            document = dict(host.plan_document())
            bad = dict(document, plans={**document["plans"], "sales_open": [
                {"queue": {"skill": "nope", "priority": "low"}}]})
            with pytest.raises(PlanError) as error:
                await host.put_plans(bad)
            assert error.value.field == "plans.sales_open[0].queue.skill"
            document["plans"] = {**document["plans"], "sales_open": [
                {"announce": {"prompt": "changed", "seconds": 3}}, {"disconnect": {}}]}
            assert (await host.put_plans(document)) == document
            held = await host.handles["east"].send("plans_change").wait(10)
            assert held["document"] == document          # the actor runs the new version
            (result,) = await host.submit("east", [ev.ContactArrived(
                0.0, "r1", None, dnis="8005550199")])
            treatments = [r.action for r in result.actions if type(r.action) is IvrTreatment]
            # The office may be closed now (the calendar reads this machine's clock): the
            # closed-hours plan, unchanged, answers then.
            assert treatments[0].prompt in ("changed", "closed_message")
            await host.submit(None, [ev.ContactAbandoned(0.0, "r1")])
            # A site added after the change runs it too (CI's store fuzz found the new
            # site without it): its actor holds the change, to journal and recover.
            assert await host.put_site("north")
            held = await host.handles["north"].send("plans_change").wait(10)
            assert held["document"] == document
            await host.check()
        finally:
            await host.close()

    try:
        asyncio.run(asyncio.wait_for(go(), 120))
    finally:
        host.kill_actors()


def test_site_actors_promise_the_configuration_s_tiers(module_ray):
    """SPEC §7 on the Ray runtime: an arrival without priority gets its caller's tier's in
    the site actor (a gold caller who came second is offered first)."""
    from cluster.config import parse_config
    from sites import events as ev
    from sites.actions import OfferContact

    text = ("skills:\n  billing: {sl_threshold_s: 30}\nsites:\n  east:\n    agents:\n"
            "      - {ids: [e1], skills: {billing: 1}}\n"
            "tiers:\n  gold: {priority: high}\n  standard: {priority: low}\n")
    host = RayHost(parse_config(text, "center.yaml"), named=False)

    async def go():
        try:
            await host.submit("east", [ev.AgentLoggedIn(0.0, "e1")])
            await host.submit("east", [ev.ContactArrived(0.0, "anon", "billing", None)])
            await host.submit("east", [ev.ContactArrived(0.0, "vip", "billing", None,
                                                         tier="gold")])
            results = await host.submit("east", [ev.AgentReady(0.0, "e1")])
            offers = [routed.action.contact_id for result in results
                      for routed in result.actions if type(routed.action) is OfferContact]
            assert offers == ["vip"]
            await host.submit(None, [ev.ContactAbandoned(0.0, "vip"),
                                     ev.ContactAbandoned(0.0, "anon")])
            await host.check()
        finally:
            await host.close()

    try:
        asyncio.run(asyncio.wait_for(go(), 120))
    finally:
        host.kill_actors()

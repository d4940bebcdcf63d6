"""RayHost (cluster/ray_host.py): CoreHost's interface with the sites in Ray actors.

- a recorded event sequence (a simulator run) replayed through RayHost and through CoreHost,
  one site and two sites with `multisite: local`, gives the same routed actions, the same
  per-event results and the same final states; RayHost gets each step's events as
  concurrent submits (coalesced into rounds), CoreHost one after the other;
- two sites with BSR under a reactive load (arrivals, answers, hang-ups, abandons, agents
  going not ready and back): contacts move between sites, and every contact ends in
  exactly one final state, announced once;
- the gRPC API over `build_server(RayHost(...))`: a routed contact gets an offer;
- a site actor killed (it restarts): calls for that site get UNAVAILABLE while it is down,
  then the host works again — see `test_killed_site_actor_*` for what is lost;
- while a killed site actor restarts, its site's requests fail fast (SiteUnavailable) and
  the other site's submissions go through at once; it then serves with its journaled state.

- `RayHost.rebalance` after a node joins: a site actor moves to it with its contacts and
  agents, and routing goes on (no event lost).

One Ray instance for the whole module (module-scoped fixture, a head node on loopback; the
rebalance test adds a worker): it starts once and is shut down, with its temp dir, when the
module is done. Hosts are created with named=False and their actors killed at the end of
each test.
"""

from __future__ import annotations

import asyncio
import collections
import math
import copy
import os
import random
import time

import pytest

# First: cluster.ray_runtime keeps Ray on loopback and must be imported before Ray.
from cluster import ray_runtime  # isort: skip

import grpc

from actors.site_actor import ActorUnavailable
from cluster.config import ClusterConfig, parse_config
from cluster.host import CoreHost, Interflowed
from cluster.ray_host import RayHost, SiteUnavailable
from cluster.server import build_server
from loadtests.scenario import parse_scenario
from loadtests.simulator import Simulation
from sites import events as ev
from sites.actions import ContactFinished, ContactQueued, OfferContact
from sites.model import ContactState
from tests.integration.conftest import TWO_SITES, FakeClock
from cluster.client import PbxLink
from vcc.v1 import (
    agent_control_pb2,
    agent_control_pb2_grpc,
    call_control_pb2,
    call_control_pb2_grpc,
    common_pb2,
    routing_pb2,
    routing_pb2_grpc,
)

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 60.0

SCENARIO = """\
duration_s: 1800
seed: 11
skills:
  billing: {queueing: dqp, sl_threshold_s: 20, wrap_up_s: 5}
  sales: {queueing: fifo, sl_threshold_s: 30, agent_selection: best_skill}
sites:
  east:
    agents:
      - {count: 3, skills: {billing: 1, sales: 2}, wrap_up_s: 20}
      - {count: 2, skills: {sales: 1}, channels: {voice: 1, chat: 2}}
  west:
    agents:
      - {count: 3, skills: {billing: 1, sales: 1}}
routing: {multisite: local}
traffic:
  - {site: east, skill: billing, rate_per_hour: 300, priority: medium,
     handle_time: {dist: exponential, mean_s: 100}, patience: {dist: exponential, mean_s: 60}}
  - {site: east, skill: sales, rate_per_hour: 100, priority: high, channel: chat,
     handle_time: {dist: exponential, mean_s: 150}}
  - {site: west, skill: billing, rate_per_hour: 150, priority: low,
     handle_time: {dist: constant, mean_s: 90}, patience: {dist: exponential, mean_s: 120}}
"""

ONE_SITE = """\
duration_s: 1800
seed: 3
skills:
  billing: {queueing: dqp, sl_threshold_s: 20}
  sales: {queueing: dqp, sl_threshold_s: 30, agent_selection: least_occupied}
sites:
  main:
    agents:
      - {count: 4, skills: {billing: 1, sales: 2}, wrap_up_s: 10}
      - {count: 2, skills: {sales: 1}}
traffic:
  - {site: main, skill: billing, rate_per_hour: 250, priority: medium,
     handle_time: {dist: exponential, mean_s: 90}, patience: {dist: exponential, mean_s: 90}}
  - {site: main, skill: billing, rate_per_hour: 60, priority: top, service_objective_s: 5,
     handle_time: {dist: exponential, mean_s: 60}}
  - {site: main, skill: sales, rate_per_hour: 120, priority: high,
     handle_time: {dist: exponential, mean_s: 120}, patience: {dist: exponential, mean_s: 200}}
"""


@pytest.fixture(scope="module")
def local_cluster(module_ray):
    """One Ray for the module (conftest's `module_ray`): a head node on loopback, to which
    the rebalance test adds a worker node (an embedded instance cannot grow). Other tests
    place their actors over whatever nodes are alive."""
    return module_ray


@pytest.fixture
def embedded_ray(local_cluster):
    return local_cluster


@pytest.fixture
def runner():
    with asyncio.Runner() as loop_runner:
        yield lambda coroutine, timeout=RUN_TIMEOUT_S: loop_runner.run(
            asyncio.wait_for(coroutine, timeout))


def cluster_config(scenario) -> ClusterConfig:
    return ClusterConfig(scenario.path, dict(scenario.skills), {}, scenario.site_configs(),
                         scenario.multisite, scenario.bsr)


def recorded_steps(text: str) -> tuple:
    """(ClusterConfig, steps): the events a simulator run fed its cores from outside
    (arrivals, answers, hang-ups, abandons, agent log-ins) grouped per instant as
    (time, [(site, event)]), and ("tick", time) where the core asked for a Tick."""
    scenario = parse_scenario(text, "recorded.yaml")
    simulation = Simulation(scenario)
    log = []
    for name, state in simulation.sites.items():
        def recording(event, _site=name, _handle=state.handle):
            log.append((_site, copy.deepcopy(event)))
            return _handle(event)
        state.handle = recording
    simulation.run()
    steps = []
    for site, event in log:
        if type(event) is ev.Tick:
            steps.append(("tick", event.time))
        elif type(event) is ev.ContactInterflowed:
            raise AssertionError("the replayed scenarios are local: no interflow")
        elif steps and steps[-1][0] == event.time:
            steps[-1][1].append((site, event))
        else:
            steps.append((event.time, [(site, event)]))
    return cluster_config(scenario), steps


def routed_view(routed) -> tuple:
    return routed.site, routed.time, routed.action, routed.skill, routed.link_id


def result_view(results) -> list:
    return [([routed_view(item) for item in result.actions],
             None if result.error is None else (result.error.field, result.error.problem))
            for result in results]


async def replay(host, clock, steps, *, concurrently: bool) -> tuple:
    """Feed `steps` to `host` at their times; (every routed action fanned out, every
    event's result). With `concurrently`, a step's events are separate concurrent submits."""
    record = host.subscribe_routing(limit=10 ** 9)
    results = []
    for step in steps:
        if step[0] == "tick":
            clock.time = step[1]
            await host.tick()
            continue
        at, pairs = step
        clock.time = at
        pairs = [(site, copy.deepcopy(event)) for site, event in pairs]
        if concurrently:
            replies = await asyncio.gather(*(host.submit(site, [event]) for site, event in pairs))
            results.extend(result for reply in replies for result in reply)
        else:
            for site, event in pairs:
                results.extend(await host.submit(site, [event]))
        await host.tick()
    return [routed_view(item) for item in record.drain()], result_view(results)


@pytest.mark.usefixtures("embedded_ray")
@pytest.mark.parametrize("text", [ONE_SITE, SCENARIO], ids=["one_site", "two_sites_local"])
def test_replay_gives_the_same_decisions_as_core_host(runner, text):
    config, steps = recorded_steps(text)
    events = sum(len(step[1]) for step in steps if step[0] != "tick")
    assert events > 500 and sum(1 for step in steps if step[0] == "tick") > 50

    core_clock = FakeClock(0.0)
    core = CoreHost(config, clock=core_clock)
    expected = runner(replay(core, core_clock, steps, concurrently=False))

    ray_clock = FakeClock(0.0)
    # Every site answers every round (late_after_s=None): a late site's events are settled
    # when it answers, which moves its actions in the fan-out (cluster/runtime/ray_sites.py).
    host = RayHost(config, clock=ray_clock, named=False, late_after_s=None)
    try:
        got = runner(replay(host, ray_clock, steps, concurrently=True), timeout=120)
        runner(host.check())
        live = runner(host.handles[next(iter(config.sites))].live_contacts())
    finally:
        runner(host.close())
        host.kill_actors()
    routed, results = got
    kinds = collections.Counter(type(item[2]).__name__ for item in expected[0])
    assert kinds["OfferContact"] > 100 and kinds["ContactFinished"] > 100, kinds
    assert len(routed) == len(expected[0])
    for number, (mine, theirs) in enumerate(zip(routed, expected[0])):
        assert mine == theirs, f"routed action #{number} differs"
    assert results == expected[1]
    assert host.live_contacts() == core.live_contacts()
    assert {cid: host.final_state(cid) for cid in core._finished} == core._finished
    assert set(live) == {cid for cid in core.live_contacts()
                         if core._contacts[cid].site == next(iter(config.sites))}
    # Coalescing happened: fewer rounds than submits.
    assert host.rounds < events


# ---- BSR under a reactive load -------------------------------------------------------------
BSR_CONFIG = """\
skills:
  billing: {sl_threshold_s: 20, wrap_up_s: 0}
  sales: {sl_threshold_s: 30, wrap_up_s: 0, max_queue_length: 3}
sites:
  east:
    agents:
      - {ids: [e1, e2], skills: {billing: 1}}
      - {ids: [e3], skills: {sales: 1, billing: 2}}
  west:
    agents:
      - {ids: [w1, w2, w3], skills: {billing: 1, sales: 1}}
  north:
    agents:
      - {ids: [n1], skills: {sales: 1}}
routing: {multisite: bsr, adjust_by: 5}
"""


async def reactive_load(host, clock, *, steps=120, seed=4) -> tuple:
    """A bounded day of traffic driven by what the host says: arrivals mostly at east,
    offers answered, calls ended after a few steps, some callers abandoning, agents taking
    breaks. Returns (finished counts per contact, every contact id seen, interflows)."""
    rng = random.Random(seed)
    record = host.subscribe_routing(limit=10 ** 9)
    agents = {"east": ["e1", "e2", "e3"], "west": ["w1", "w2", "w3"], "north": ["n1"]}
    for site, ids in agents.items():
        await host.submit(site, [event for agent in ids for event in (
            ev.AgentLoggedIn(0.0, agent), ev.AgentReady(0.0, agent))])
    finished = collections.Counter()
    seen, interflows = set(), 0
    offered, connected, queued = {}, {}, set()
    number = 0
    for step in range(steps):
        clock.advance(2.0)
        calls = []
        for _ in range(rng.choice((0, 1, 2, 3))):
            number += 1
            site = "east" if rng.random() < 0.7 else rng.choice(("west", "north"))
            skill = "sales" if site == "north" or rng.random() < 0.3 else "billing"
            calls.append(host.submit(site, [ev.ContactArrived(0.0, f"c{number}", skill,
                                                              rng.choice(("high", "medium")))]))
        for contact_id in list(offered):
            calls.append(host.submit(None, [ev.OfferAccepted(0.0, contact_id)]))
            connected[contact_id] = step
            del offered[contact_id]
        for contact_id, since in list(connected.items()):
            if step - since >= rng.choice((2, 3, 5)):
                calls.append(host.submit(None, [ev.ContactEnded(0.0, contact_id)]))
                del connected[contact_id]
        for contact_id in list(queued):
            if rng.random() < 0.05:
                calls.append(host.submit(None, [ev.ContactAbandoned(0.0, contact_id)]))
                queued.discard(contact_id)
        if step % 15 == 7:
            site = rng.choice(list(agents))
            agent = rng.choice(agents[site])
            calls.append(host.submit(site, [ev.AgentNotReady(0.0, agent, "break")]))
            calls.append(host.submit(site, [ev.AgentReady(0.0, agent)]))
        # Refusals are expected now and then (an agent already on a call cannot take a
        # break the same way): what matters is that each contact ends once.
        await asyncio.gather(*calls)
        await host.tick()
        for routed in record.drain():
            action = routed.action
            contact_id = getattr(action, "contact_id", None)
            if contact_id is not None:
                seen.add(contact_id)
            kind = type(action)
            if kind is OfferContact:
                offered[contact_id] = step
                queued.discard(contact_id)
            elif kind is ContactQueued:
                queued.add(contact_id)
                offered.pop(contact_id, None)
            elif kind is Interflowed:
                interflows += 1
            elif kind is ContactFinished:
                finished[contact_id] += 1
                for pending in (offered, connected):
                    pending.pop(contact_id, None)
                queued.discard(contact_id)
    # Drain: everything still live is driven to an end, bounded.
    for _ in range(20):
        live = host.live_contacts()
        if not live:
            break
        clock.advance(1.0)
        for contact_id in live:
            view = await host.contact_view(contact_id)
            if view is None:
                continue
            if view.state in (ContactState.QUEUED, ContactState.OFFERED):
                await host.submit(None, [ev.ContactAbandoned(0.0, contact_id)])
            elif view.state is ContactState.CONNECTED:
                await host.submit(None, [ev.ContactEnded(0.0, contact_id)])
            else:
                await host.submit(view.site, [ev.WrapUpDone(0.0, view.agent_id)])
        await host.tick()
    for routed in record.drain():
        contact_id = getattr(routed.action, "contact_id", None)
        if contact_id is not None:
            seen.add(contact_id)
        if type(routed.action) is ContactFinished:
            finished[contact_id] += 1
    return finished, seen, interflows


@pytest.mark.usefixtures("embedded_ray")
def test_bsr_every_contact_ends_once(runner):
    config = parse_config(BSR_CONFIG, "bsr.yaml")
    clock = FakeClock(0.0)
    host = RayHost(config, clock=clock, named=False)
    try:
        finished, seen, interflows = runner(reactive_load(host, clock), timeout=120)
        runner(host.check())
    finally:
        runner(host.close())
        host.kill_actors()
    assert len(seen) > 150 and interflows > 5, (len(seen), interflows)
    assert not host.live_contacts()
    for contact_id in seen:
        assert finished[contact_id] == 1, (contact_id, finished[contact_id])
        assert host.final_state(contact_id) is not None, contact_id
    # The same load through CoreHost: the same promise (decisions may differ, see
    # cluster/ray_host.py), as a check that the load itself is sound.
    core_clock = FakeClock(0.0)
    core = CoreHost(config, clock=core_clock)
    core_finished, core_seen, _ = runner(reactive_load(core, core_clock))
    core.validate()
    assert all(core_finished[cid] == 1 for cid in core_seen)


def test_the_simulator_and_the_ray_runtime_decide_the_same(runner, embedded_ray):
    """Issue 16 item 2: one recorded world (three sites under BSR: interflows on arrival,
    pulls, abandons, missed offers) through the simulator and through the Ray runtime, one
    round per event: every contact ends the same way (final state, serving site, agent,
    answer time, moves). tests/unit/test_replay.py does the same for the in-process one."""
    from tests.unit.test_replay import SCENARIO, Clock, assert_same, outcomes_of_simulation
    from tests.unit.test_replay import replay as replay_world
    from tests.unit.test_replay import replay_config

    scenario = parse_scenario(SCENARIO, "replay.yaml")
    simulation = Simulation(scenario, record_world=True)
    simulation.run()
    expected = outcomes_of_simulation(simulation)
    assert sum(outcome[4] for outcome in expected.values()) >= 20      # interflows and pulls
    clock = Clock()
    # Every site answers every round here (late_after_s=None): a late site (one that has
    # not answered within a few ms, cluster/runtime/ray_sites.py) sits out Best Service
    # Routing for a moment, which would make decisions depend on this machine's load.
    host = RayHost(replay_config(scenario), clock=clock, named=False, late_after_s=None)
    try:
        got, refused = runner(replay_world(scenario, simulation.world, host, clock),
                              timeout=300)
        runner(host.check())
    finally:
        runner(host.close())
        host.kill_actors()
    assert refused == 0
    assert_same(expected, got)


# ---- the gRPC API over RayHost ---------------------------------------------------------------
async def _route(stub, contact_id, site="east"):
    return await stub.RouteContact(routing_pb2.RouteContactRequest(contact=common_pb2.ContactSpec(
        contact_id=contact_id, site=site, skill="billing")), timeout=10)


async def _login_ready(agents, site, agent_id):
    await agents.Login(agent_control_pb2.AgentRequest(site=site, agent_id=agent_id), timeout=10)
    await agents.SetState(agent_control_pb2.SetStateRequest(
        site=site, agent_id=agent_id, state=common_pb2.AGENT_STATE_READY), timeout=10)


@pytest.mark.usefixtures("embedded_ray")
def test_grpc_round_trip_and_a_killed_site_actor(runner):
    """Through gRPC: a contact at east with only w1 ready at west is offered to w1 (BSR);
    then west's actor is killed and restarts.

    What is lost with it (this host has no store): everything west held in memory. Its
    agents are logged out again (w1 must log in anew), and its contacts are gone: c1,
    connected to w1, stays in the host's directory at west, but west no longer knows it,
    so ending it is refused (INVALID_ARGUMENT, unknown contact) and c1 never reaches a
    final state through the router. East is untouched.
    """
    config = parse_config(TWO_SITES, "test.yaml")
    host = RayHost(config, named=False)

    async def scenario():
        server, port = build_server(host, address="127.0.0.1:0")
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        routing = routing_pb2_grpc.RoutingStub(channel)
        agents = agent_control_pb2_grpc.AgentControlStub(channel)
        try:
            await agents.Login(agent_control_pb2.AgentRequest(site="east", agent_id="e1"),
                               timeout=10)
            await _login_ready(agents, "west", "w1")
            reply = await _route(routing, "c1")
            assert reply.WhichOneof("decision") == "offer", reply
            assert (reply.offer.agent_id, reply.offer.site) == ("w1", "west")
            assert reply.interflow.to_site == "west"
            await agents.RespondToOffer(agent_control_pb2.OfferResponse(
                site="west", agent_id="w1", contact_id="c1", accept=True), timeout=10)

            host.handles["west"].kill(restart=True)
            # Ray kills asynchronously: poll a read of west until it fails (the old actor
            # is dead) and then answers again (the restarted one), at most 60 s.
            codes = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    await routing.GetEwt(routing_pb2.GetEwtRequest(
                        site="west", skill="billing"), timeout=10)
                    if codes:
                        break
                except grpc.aio.AioRpcError as error:
                    assert error.code() is grpc.StatusCode.UNAVAILABLE, error
                    assert "west" in error.details()
                    codes.append(error.code())
                await asyncio.sleep(0.02)
            assert codes, "west never answered UNAVAILABLE"
            assert time.monotonic() < deadline, "west never came back"
            await _login_ready(agents, "west", "w1")        # logged out by the restart
            info = await host.handles["west"].info()
            assert info.restarted
            # c1 is lost with west's memory: the router cannot end it.
            with pytest.raises(grpc.aio.AioRpcError) as lost:
                await agents.CompleteContact(agent_control_pb2.ContactRequest(
                    site="west", agent_id="w1", contact_id="c1"), timeout=10)
            assert lost.value.code() in (grpc.StatusCode.INVALID_ARGUMENT,
                                         grpc.StatusCode.FAILED_PRECONDITION)
            # The host works again: c2 at west goes to w1, at east it is queued or moved.
            reply = await _route(routing, "c2", site="west")
            assert reply.WhichOneof("decision") == "offer" and reply.offer.agent_id == "w1"
            await _login_ready(agents, "east", "e2")
            reply = await _route(routing, "c3")
            assert reply.WhichOneof("decision") == "offer" and reply.offer.agent_id == "e2"
            # A PBX link (CallControl.Connect: the servicer's synchronous apply_batch path):
            # e1 becomes ready at east, p1 arrives there and is routed to e1.
            await agents.SetState(agent_control_pb2.SetStateRequest(
                site="east", agent_id="e1", state=common_pb2.AGENT_STATE_READY), timeout=10)
            link = PbxLink(call_control_pb2_grpc.CallControlStub(channel), "pbx-1")
            await link.connect()
            link.send(call_control_pb2.PbxEvent(arrived=common_pb2.ContactSpec(
                contact_id="p1", site="east", skill="billing")),
                call_control_pb2.PbxEvent(arrived=common_pb2.ContactSpec(
                    contact_id="c1", site="east", skill="billing")))   # a duplicate id
            await link.flush()
            actions = link.actions()
            got = [await asyncio.wait_for(actions.__anext__(), 20) for _ in range(2)]
            await actions.aclose()
            kinds = {action.WhichOneof("action"): action for action in got}
            assert set(kinds) == {"route_to_agent", "error"}, got
            assert (kinds["route_to_agent"].route_to_agent.contact_id,
                    kinds["route_to_agent"].route_to_agent.agent_id) == ("p1", "e1")
            assert "duplicate" in kinds["error"].error.message, got
            link.close_stream()
        finally:
            await channel.close()
            await host.close()
            await server.stop(0)

    try:
        runner(scenario(), timeout=120)
    finally:
        host.kill_actors()


@pytest.mark.usefixtures("embedded_ray")
@pytest.mark.parametrize("started", ["with-store", "standby"])
def test_a_journaled_site_actor_killed_comes_back_with_its_contacts(runner, tmp_path, started):
    """The same kill as above with a store: west's actor journals to SQLite, so the
    restarted actor rebuilds west from it. c1 is still connected to w1 (nobody logs in
    again), the router ends it, and it reaches exactly one final state; c2 queued at west
    before the kill is still queued and is served after.

    `standby`: the actors were started as standbys and adopted the store (a new leader's,
    cluster/ray_runtime.py). Ray restarts one as a standby again, holding no site: the
    first call to reach it is refused as UNAVAILABLE (nothing applied), and the host hands
    it the store again before the next."""
    from cluster.ray_runtime import place_site_actors
    from cluster.store.site_store import SiteStore

    url = _migrated_sqlite(tmp_path)
    config = parse_config(TWO_SITES, "test.yaml")
    if started == "standby":
        standbys = place_site_actors(config.sites, named=False, standby=SiteStore(url))
        host = RayHost(config, store=SiteStore(url), handles=standbys, owns_handles=True)
        host.adopt_store()
    else:
        host = RayHost(config, named=False, store=SiteStore(url))

    async def scenario():
        server, port = build_server(host, address="127.0.0.1:0")
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        routing = routing_pb2_grpc.RoutingStub(channel)
        agents = agent_control_pb2_grpc.AgentControlStub(channel)
        try:
            await _login_ready(agents, "west", "w1")
            reply = await _route(routing, "c1", site="west")
            assert reply.WhichOneof("decision") == "offer" and reply.offer.agent_id == "w1"
            await agents.RespondToOffer(agent_control_pb2.OfferResponse(
                site="west", agent_id="w1", contact_id="c1", accept=True), timeout=10)
            reply = await _route(routing, "c2", site="west")
            assert reply.WhichOneof("decision") == "queued", reply
            before = await host.handles["west"].live_contacts()

            host.handles["west"].kill(restart=True)
            await _until_restarted(host.handles["west"])
            complete_c1 = agent_control_pb2.ContactRequest(site="west", agent_id="w1",
                                                           contact_id="c1")
            if started == "standby":
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await agents.CompleteContact(complete_c1, timeout=10)
                assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
                assert "standby" in refused.value.details(), refused.value.details()
                assert host.final_state("c1") is None
                await _until_recovered(host, "west")
            else:
                assert await host.handles["west"].live_contacts() == before
            # The router ends c1 (w1 was never logged out) and w1 then takes c2.
            await agents.CompleteContact(complete_c1, timeout=10)
            assert host.final_state("c1")[0] is ContactState.COMPLETED     # no wrap-up here
            view = await host.contact_view("c2")
            assert view is not None and view.state is ContactState.OFFERED and view.agent_id == "w1"
            await agents.RespondToOffer(agent_control_pb2.OfferResponse(
                site="west", agent_id="w1", contact_id="c2", accept=True), timeout=10)
            await agents.CompleteContact(agent_control_pb2.ContactRequest(
                site="west", agent_id="w1", contact_id="c2"), timeout=10)
            assert host.final_state("c2")[0] is ContactState.COMPLETED
            assert host.live_contacts() == []
            await host.check()
        finally:
            await channel.close()
            await host.close()
            await server.stop(0)

    try:
        runner(scenario(), timeout=120)
    finally:
        host.kill_actors()


def _migrated_sqlite(tmp_path) -> str:
    """The URL of a new SQLite store in `tmp_path`, migrated (as the gateway does before it
    starts journaled actors)."""
    from cluster.store.db import open_engine
    from cluster.store.migrate import upgrade

    url = f"sqlite:///{tmp_path}/sites.db"
    engine = open_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


# For tests of a window between steps, which a loaded machine must not move: every site
# answers every round (never late), and no new contact is shed while jobs wait.
EVERY_SITE_NO_SHEDDING = {"late_after_s": None, "max_queue_delay_s": 60.0}


async def _until_restarted(handle, timeout_s: float = 60.0) -> None:
    """Wait (bounded) until the actor behind `handle` answers as a restarted one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if (await handle.info()).restarted:
                break
        except ActorUnavailable:
            pass
        await asyncio.sleep(0.05)
    assert (await handle.info()).restarted


async def _until_recovered(host, site, timeout_s: float = 30.0) -> None:
    """Wait (bounded) until the host has resynced `site` (its background recovery)."""
    deadline = time.monotonic() + timeout_s
    while site in host._stale and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert site not in host._stale, f"{site} not recovered within {timeout_s} s"


def _process_gone(pid: int) -> bool:
    """Has the process `pid` (a Ray worker on this machine) exited? A zombie counts."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="watches the actor's process in /proc")
@pytest.mark.usefixtures("embedded_ray")
@pytest.mark.parametrize("ends_at_target_first", [False, True],
                         ids=["moved", "ended-at-the-target-before-the-source-came-back"])
def test_a_source_killed_mid_interflow_releases_its_recovered_copy(runner, tmp_path,
                                                                   ends_at_target_first):
    """The window between an interflow's two steps, with a store: c1 arrives at east (e1
    logged in, not ready) and BSR moves it to west (w1 ready): west accepts it (offers it to
    w1), then east's actor is killed (it restarts) just before east is told
    `ContactInterflowed`, so that call fails. The restarted east recovers c1 QUEUED from its
    journal while the directory has c1 at west. When the host resyncs east, east must let
    c1 go: otherwise e1 becoming ready at east would be offered c1 too (routed twice).
    Variant: c1 is answered and ended at west while east is still restarting (its resync
    fails meanwhile); east's recovered copy must not bring the finished c1 back."""
    from cluster.store.site_store import SiteStore

    url = _migrated_sqlite(tmp_path)
    config = parse_config(TWO_SITES, "test.yaml")
    clock = FakeClock(0.0)
    # The window under test is the interflow's, not a loaded machine's: late_after_s=None,
    # as a site late by 50 ms (the default) lets the round go on without it and c1 is never
    # moved (seen in CI with three test workers); and new contacts are not shed while a
    # job waits (30 ms by default: c2 was refused as overloaded in a parallel twin pass).
    host = RayHost(config, clock=clock, named=False, store=SiteStore(url), call_timeout_s=20.0,
                   **EVERY_SITE_NO_SHEDDING)
    record = host.subscribe_routing(limit=10 ** 6)
    release = host.protocol.release
    window = []         # the releases made with east's actor killed just before

    async def release_with_the_source_killed(releases, now):
        if releases and not window:
            # Between the two steps: west has accepted; east dies before its release.
            east = host.handles["east"]
            pid = east.send("info").result(20).pid
            east.kill(restart=True)
            deadline = time.monotonic() + 20
            while not _process_gone(pid) and time.monotonic() < deadline:     # bounded
                time.sleep(0.005)
            assert _process_gone(pid), "east's actor was not killed"
            window.append({source: list(group) for source, group in releases.items()})
        return await release(releases, now)

    host.protocol.release = release_with_the_source_killed
    resync = host._resync
    east_restarting = []        # while set: east's resync fails as if it were still restarting

    async def held_resync(site):
        if site == "east" and east_restarting:
            raise SiteUnavailable(ActorUnavailable(site, "still restarting (held by the test)"))
        return await resync(site)

    host._resync = held_resync

    def directory(site):
        return host.handles[site].send("directory").result(20)

    async def scenario():
        await host.submit("west", [ev.AgentLoggedIn(0.0, "w1"), ev.AgentReady(0.0, "w1")])
        await host.submit("east", [ev.AgentLoggedIn(0.0, "e1")])
        # Hold east's resync until the test has seen its recovered copy: east is resynced in
        # the background from the moment its release fails, and could be before the look
        # below.
        east_restarting.append(True)
        clock.advance(1.0)
        results = await host.submit("east", [ev.ContactArrived(0.0, "c1", "billing")])
        assert results[0].error is None
        # The window was hit: west took c1, east's release failed (east is to be resynced).
        assert window == [{"east": [("c1", "west")]}], window
        assert "east" in host._stale
        assert [type(routed.action) for routed in results[0].actions
                if getattr(routed.action, "contact_id", None) == "c1"][-2:] == [
                    Interflowed, OfferContact]
        assert host._contacts["c1"].site == "west"
        if ends_at_target_first:
            clock.advance(1.0)
            await host.submit(None, [ev.OfferAccepted(0.0, "c1")])
            clock.advance(5.0)
            await host.submit(None, [ev.ContactEnded(0.0, "c1")])
            assert host.final_state("c1") == (ContactState.COMPLETED, "west")
        await _until_restarted(host.handles["east"])
        # East recovered c1 from its journal, still queued: the copy the resync must release.
        assert "c1" in directory("east").live
        # Until it is resynced east's events fail fast; then e1 becomes ready there.
        with pytest.raises(SiteUnavailable):
            await host.submit("east", [ev.AgentReady(0.0, "e1")])
        east_restarting.clear()
        await _until_recovered(host, "east")
        clock.advance(1.0)
        results = await host.submit("east", [ev.AgentReady(0.0, "e1")])
        assert results[0].error is None
        east_view, west_view = directory("east"), directory("west")
        assert "c1" not in east_view.live, "east still holds c1 after its resync"
        assert east_view.finished.get("c1") is ContactState.INTERFLOWED
        if ends_at_target_first:
            assert "c1" not in west_view.live and "c1" not in host._contacts
            assert host.final_state("c1") == (ContactState.COMPLETED, "west")
        else:
            assert "c1" in west_view.live and host._contacts["c1"].site == "west"
            clock.advance(1.0)
            await host.submit(None, [ev.OfferAccepted(0.0, "c1")])
            clock.advance(5.0)
            await host.submit(None, [ev.ContactEnded(0.0, "c1")])
        # East routes again: c2 goes to e1.
        clock.advance(1.0)
        results = await host.submit("east", [ev.ContactArrived(0.0, "c2", "billing")])
        # Once in a full parallel run c2 got no action: refused as overloaded (a queued job
        # had waited past max_queue_delay_s), hence EVERY_SITE_NO_SHEDDING above. The
        # message says what the host and east held, should anything else come of it.
        assert any(type(routed.action) is OfferContact and routed.action.agent_id == "e1"
                   for routed in results[0].actions), (
            results[0].actions, results[0].error, directory("east"),
            host._contacts.get("c2"), sorted(host._stale))
        await host.submit(None, [ev.OfferAccepted(0.0, "c2")])
        clock.advance(5.0)
        await host.submit(None, [ev.ContactEnded(0.0, "c2")])
        await host.check()
        return record.drain()

    try:
        routed = runner(scenario(), timeout=150)
    finally:
        runner(host.close())
        host.kill_actors()
    offers = collections.Counter(item.action.contact_id for item in routed
                                 if type(item.action) is OfferContact)
    assert offers == {"c1": 1, "c2": 1}, offers     # offered (so answered) once each
    assert [(item.site, item.action.agent_id) for item in routed
            if type(item.action) is OfferContact and item.action.contact_id == "c1"] == [
                ("west", "w1")]
    finals = collections.Counter(item.action.contact_id for item in routed
                                 if type(item.action) is ContactFinished)
    assert finals == {"c1": 1, "c2": 1}, finals     # each contact ends exactly once
    assert host.final_state("c1") == (ContactState.COMPLETED, "west")
    assert host.final_state("c2") == (ContactState.COMPLETED, "east")
    assert host.live_contacts() == []


@pytest.mark.usefixtures("embedded_ray")
def test_a_new_leader_finishes_an_interflow_its_predecessor_cut_short(runner, tmp_path):
    """The old leader's host dies between an interflow's two steps: west accepted c1 (and
    offered it to w1) but east was never told to let it go, so both sites hold c1 live in
    the store. The next leader's host (`recover_directory` on the same actors) must keep one
    copy (west's, offered) and release east's: c1 is then offered nowhere else, e1 becoming
    ready at east gets nothing, and c1 ends once, at west."""
    from cluster.store.site_store import SiteStore

    url = _migrated_sqlite(tmp_path)
    config = parse_config(TWO_SITES, "test.yaml")
    clock = FakeClock(0.0)
    # c1 must be moved: no site left out as late, no contact shed (as in the test above).
    old = RayHost(config, clock=clock, named=False, store=SiteStore(url), call_timeout_s=20.0,
                  **EVERY_SITE_NO_SHEDDING)
    async def dies_before_the_release(releases, now):
        return {}

    old.protocol.release = dies_before_the_release      # the old leader dies before it

    def directory(site):
        return old.handles[site].send("directory").result(20)

    async def old_term():
        await old.submit("west", [ev.AgentLoggedIn(0.0, "w1"), ev.AgentReady(0.0, "w1")])
        await old.submit("east", [ev.AgentLoggedIn(0.0, "e1")])
        clock.advance(1.0)
        await old.submit("east", [ev.ContactArrived(0.0, "c1", "billing")])
        await old.close()

    new = None
    try:
        runner(old_term(), timeout=60)
        assert "c1" in directory("east").live and "c1" in directory("west").offers
        new = RayHost(config, clock=clock, named=False, store=SiteStore(url),
                      handles=old.handles, call_timeout_s=20.0, **EVERY_SITE_NO_SHEDDING)
        record = new.subscribe_routing(limit=10 ** 6)
        assert new.recover_directory() == {"east": 0, "west": 1}
        assert "c1" not in directory("east").live
        assert directory("east").finished.get("c1") is ContactState.INTERFLOWED
        assert new._contacts["c1"].site == "west"

        async def new_term():
            clock.advance(1.0)
            results = await new.submit("east", [ev.AgentReady(0.0, "e1")])
            assert not any(type(routed.action) is OfferContact for routed in results[0].actions)
            await new.submit(None, [ev.OfferAccepted(0.0, "c1")])
            clock.advance(5.0)
            await new.submit(None, [ev.ContactEnded(0.0, "c1")])
            await new.check()
            return record.drain()
        routed = runner(new_term(), timeout=60)
        assert [item.action.contact_id for item in routed
                if type(item.action) is OfferContact] == []         # offered once, before
        assert [item.action.contact_id for item in routed
                if type(item.action) is ContactFinished] == ["c1"]
        assert new.final_state("c1") == (ContactState.COMPLETED, "west")
        assert new.live_contacts() == []
    finally:
        if new is not None:
            runner(new.close())
        old.kill_actors()


@pytest.mark.usefixtures("embedded_ray")
def test_unavailable_site_fails_only_its_submissions(runner):
    config = parse_config(TWO_SITES, "test.yaml")
    host = RayHost(config, named=False)

    async def scenario():
        host.handles["west"].kill(restart=False)        # gone for good
        # ray.kill only asks for the kill: a call sent right after it may still be served.
        # Wait (bounded) until the actor is seen dead, then submit to both sites.
        for _ in range(100):
            try:
                await host.handles["west"].info()
            except ActorUnavailable:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("west's actor still answers 5 s after ray.kill")
        east, west = await asyncio.gather(
            host.submit("east", [ev.AgentLoggedIn(0.0, "e1")]),
            host.submit("west", [ev.AgentLoggedIn(0.0, "w1")]), return_exceptions=True)
        assert not isinstance(east, Exception) and east[0].error is None
        assert isinstance(west, SiteUnavailable) and west.site == "west"

    try:
        runner(scenario())
    finally:
        runner(host.close())
        host.kill_actors()


@pytest.mark.usefixtures("embedded_ray")
def test_a_restarting_site_actor_fails_fast_and_never_stalls_other_sites(runner, tmp_path):
    """Issue 16 item 5: west's actor is killed and Ray restarts it (with a store, so it
    rebuilds west from the journal). Once the host has seen it dead and until west is
    resynced, west's submissions and statistics fail fast with SiteUnavailable (gRPC
    UNAVAILABLE), while east's rounds go on: each east submission, made together with a
    west one, completes within 1 s (before, every round waited for west's resync, i.e. for
    its restart). The restarted actor takes 2 s to open its store (as recovering a long
    journal does), so that a stall would show. West then serves again with what it held: w1
    still logged in, wq still queued. Every accepted contact ends exactly once; a refused
    one never entered the router."""
    import dataclasses

    from cluster.store.site_store import SiteStore
    from sites.model import AgentState

    @dataclasses.dataclass(frozen=True)
    class SlowToReopen(SiteStore):
        """Defined here, so Ray sends it to the actor by value."""
        reopen_delay_s: float = 2.0

        def open(self, config):
            import ray
            if ray.get_runtime_context().was_current_actor_reconstructed:
                time.sleep(self.reopen_delay_s)
            return super().open(config)

    url = _migrated_sqlite(tmp_path)
    config = parse_config(TWO_SITES, "test.yaml")
    host = RayHost(config, named=False, store=SlowToReopen(url), call_timeout_s=20.0)
    record = host.subscribe_routing(limit=10 ** 6)

    async def timed(awaitable):
        """(its result or the SiteUnavailable it failed with, seconds it took)."""
        started = time.perf_counter()
        try:
            outcome = await awaitable
        except SiteUnavailable as error:
            outcome = error
        return outcome, time.perf_counter() - started

    async def scenario():
        # Nobody is ready at either site: nothing moves between them, wq stays queued.
        await host.submit("west", [ev.AgentLoggedIn(0.0, "w1"),
                                   ev.ContactArrived(0.0, "wq", "billing")])
        await host.submit("east", [ev.AgentLoggedIn(0.0, "e1")])
        west = host.handles["west"]
        pid = (await west.info()).pid

        west.kill(restart=True)
        # ray.kill is asynchronous: read west's statistics until the host sees its actor
        # dead (a call fails), at most 30 s. A call made once Ray knows the actor is
        # restarting waits for the restart instead, hence the polling from the kill on.
        deadline = time.monotonic() + 30
        seen_dead = None
        while seen_dead is None and time.monotonic() < deadline:     # bounded: 30 s
            outcome, _ = await timed(host.statistics("west", "billing"))
            if isinstance(outcome, SiteUnavailable):
                seen_dead = outcome
            else:
                await asyncio.sleep(0.01)
        assert seen_dead is not None and seen_dead.site == "west", "west was never seen dead"
        assert _process_gone(pid)

        # Until west is back: east's submissions go through at once, west's fail fast.
        accepted, refused, slowest_east = [], [], 0.0
        deadline = time.monotonic() + 60
        for n in range(600):                                # bounded: 600 tries, 60 s
            if time.monotonic() > deadline:
                break
            (east, east_s), (west_outcome, west_s), (stats, stats_s) = await asyncio.gather(
                timed(host.submit("east", [ev.ContactArrived(0.0, f"e-{n}", "billing")])),
                timed(host.submit("west", [ev.ContactArrived(0.0, f"w-{n}", "billing")])),
                timed(host.statistics("west", "billing")))
            assert not isinstance(east, Exception) and east[0].error is None, east
            accepted.append(f"e-{n}")
            slowest_east = max(slowest_east, east_s)
            assert east_s < 1.0, f"east's submission took {east_s:.2f} s while west restarted"
            if isinstance(west_outcome, SiteUnavailable):
                assert west_outcome.site == "west"
                assert west_s < 1.0, f"west's refusal took {west_s:.2f} s"
                assert f"w-{n}" not in host.live_contacts() and host.final_state(f"w-{n}") is None
                refused.append(f"w-{n}")
            else:
                assert west_outcome[0].error is None, west_outcome
                accepted.append(f"w-{n}")
                break           # west is back
            if isinstance(stats, SiteUnavailable):
                assert stats_s < 1.0, f"west's statistics failed after {stats_s:.2f} s"
            await asyncio.sleep(0.05)
        else:
            pytest.fail("600 tries and west never came back")
        assert accepted[-1].startswith("w-"), f"west not back within 60 s ({len(refused)} " \
                                              f"refused)"
        assert refused, "no west submission was refused while its actor restarted"
        assert "west" not in host._stale
        print(f"\nwest refused {len(refused)} submissions fast; east's slowest "
              f"{slowest_east * 1000:.0f} ms")

        # West serves with what it held before the kill (rebuilt from the journal).
        assert (await west.info()).restarted
        state, _ = await host.agent_state("west", "w1")
        assert state is AgentState.NOT_READY, state
        view = await host.contact_view("wq")
        assert view is not None and (view.site, view.state) == ("west", ContactState.QUEUED)
        await host.check()

        # Every contact accepted ends once: each is abandoned where it is now.
        for contact_id in host.live_contacts():
            (result,) = await host.submit(None, [ev.ContactAbandoned(0.0, contact_id)])
            assert result.error is None, (contact_id, result.error)
        assert host.live_contacts() == []
        await host.check()
        return accepted + ["wq"], refused

    try:
        accepted, refused = runner(scenario(), timeout=150)
    finally:
        runner(host.close())
        host.kill_actors()
    routed = record.drain()
    finished = collections.Counter(item.action.contact_id for item in routed
                                   if type(item.action) is ContactFinished)
    assert finished == collections.Counter(accepted), finished
    assert all(host.final_state(contact_id)[0] is ContactState.ABANDONED
               for contact_id in accepted)
    mentioned = {getattr(item.action, "contact_id", None) for item in routed}
    assert not mentioned & set(refused), mentioned & set(refused)


# ---- moving site actors to a new node ----------------------------------------------------------
def test_rebalance_moves_a_site_to_a_new_node_with_its_state(runner, local_cluster):
    """The head alone hosts both sites; a worker node joins; `rebalance` moves west there
    (the spreading rule: east on the head, west on the worker) with everything west held:
    its queued contact, its connected contact and its agents' states. A submit made just
    before the move is applied before it (the move drains waiting submits first, then
    blocks the gateway until the site answers on its new node)."""
    config = parse_config(TWO_SITES, "test.yaml")
    head = local_cluster.head_node_id
    for node in ray_runtime.list_nodes():
        if node.node_id != head:    # a worker left over by an earlier run of this test
            local_cluster.kill_node(node.node_id)
    host = RayHost(config, named=True)
    clock = FakeClock(0.0)
    host._clock, host._origin = clock, 0.0

    async def before_the_node():
        assert {(await handle.info()).node_id for handle in host.handles.values()} == {head}
        await host.submit("west", [ev.AgentLoggedIn(0.0, "w1"), ev.AgentReady(0.0, "w1")])
        clock.advance(1.0)
        await host.submit("west", [ev.ContactArrived(0.0, "c1", "billing")])
        await host.submit(None, [ev.OfferAccepted(0.0, "c1")])
        clock.advance(1.0)
        await host.submit("west", [ev.ContactArrived(0.0, "c2", "sales")])   # queued
        return await host.handles["west"].snapshot()

    async def move_and_go_on():
        move = asyncio.ensure_future(host.rebalance())
        await asyncio.sleep(0.05)
        during = asyncio.ensure_future(host.submit("east", [ev.AgentLoggedIn(0.0, "e1")]))
        moves = await move
        assert (await during)[0].error is None
        after = await host.handles["west"].snapshot()
        info = await host.handles["west"].info()
        east_info = await host.handles["east"].info()
        # West goes on where it was: c1 ends, c2 goes to w1, both end once.
        clock.advance(5.0)
        results = await host.submit(None, [ev.ContactEnded(0.0, "c1")])
        clock.advance(1.0)
        results += await host.submit(None, [ev.OfferAccepted(0.0, "c2")])
        results += await host.submit(None, [ev.ContactEnded(0.0, "c2")])
        results += await host.submit("west", [ev.WrapUpDone(0.0, "w1")])   # sales: wrap-up
        assert [result.error for result in results] == [None] * 4
        finals = collections.Counter(routed.action.contact_id for routed in record.drain()
                                     if type(routed.action) is ContactFinished)
        await host.check()
        return moves, after, info, east_info, finals

    record = host.subscribe_routing(limit=10 ** 6)
    try:
        before = runner(before_the_node())
        worker = local_cluster.add_node()       # Ray wants this on the main thread
        moves, after, info, east_info, finals = runner(move_and_go_on(), timeout=120)
        named = ray_runtime.SiteHandle.lookup("west").info_blocking().node_id
    finally:
        runner(host.close())
        host.kill_actors()
    assert [(site, target) for site, _, target in moves] == [("west", worker)]
    assert info.node_id == worker and named == worker and east_info.node_id == head
    assert after == before          # the whole site, bit for bit (SiteState.snapshot)
    assert finals == {"c1": 1, "c2": 1}
    assert host.final_state("c1")[0] is ContactState.COMPLETED


STOPPED_SITE = """\
skills:
  billing: {sl_threshold_s: 20}
sites:
  east:
    agents:
      - {count: 20, skills: {billing: 1}}
  west:
    agents:
      - {count: 20, skills: {billing: 1}}
routing: {multisite: bsr, adjust_by: 10}
"""


@pytest.mark.timing     # a latency budget: run alone (scripts/test)
@pytest.mark.skipif(not hasattr(os, "kill") or not os.path.isdir("/proc"),
                    reason="stops the actor's process with SIGSTOP")
@pytest.mark.usefixtures("embedded_ray")
def test_a_stopped_site_actor_delays_only_its_own_site(runner):
    """Issue 16 item 5: east's actor process is stopped (SIGSTOP) for 3 s while both sites
    take contacts (each one routed to an agent, answered, ended). West's contacts keep
    their route latency (p99 <= 50 ms, the runtime's target) meanwhile; east's, sent while
    it is stopped, complete once it runs again; every contact ends exactly once."""
    import signal

    config = parse_config(STOPPED_SITE, "stopped.yaml")
    host = RayHost(config, named=False, call_timeout_s=30.0)
    record = host.subscribe_routing(limit=10 ** 6)
    east_pid = host.handles["east"].send("info").result(20).pid

    async def lifecycle(site, contact_id, latencies):
        started = time.perf_counter()
        (result,) = await host.submit(site, [ev.ContactArrived(0.0, contact_id, "billing")])
        latencies.append(time.perf_counter() - started)
        assert result.error is None, result.error
        offered = [routed for routed in result.actions
                   if type(routed.action) is OfferContact
                   and routed.action.contact_id == contact_id]
        assert offered, f"{contact_id} was not offered at once: {result.actions}"
        await host.submit(None, [ev.OfferAccepted(0.0, contact_id)])
        await host.submit(None, [ev.ContactEnded(0.0, contact_id)])

    async def scenario():
        for site in ("east", "west"):
            agents = [agent.agent_id for agent in config.sites[site].agents]
            await host.submit(site, [event for agent in agents for event in (
                ev.AgentLoggedIn(0.0, agent), ev.AgentReady(0.0, agent))])
        west, east = [], []
        # Warm up both sites (first calls start their workers' code paths).
        await asyncio.gather(*(lifecycle(site, f"warm-{site}-{n}", [])
                               for site in ("east", "west") for n in range(5)))
        os.kill(east_pid, signal.SIGSTOP)
        try:
            stopped_at = time.perf_counter()
            east_pending = [asyncio.ensure_future(lifecycle("east", f"e-{n}", east))
                            for n in range(10)]
            # West's contacts arrive every 10 ms (open loop, as a PBX sends them): about
            # 300 of them, so that p99 is a percentile and not the one slowest contact.
            west_tasks = []
            while time.perf_counter() - stopped_at < 3.0:       # bounded: 3 s
                west_tasks.append(asyncio.ensure_future(
                    lifecycle("west", f"w-{len(west_tasks)}", west)))
                await asyncio.sleep(0.01)
            await asyncio.wait_for(asyncio.gather(*west_tasks), 30)
            assert not any(task.done() for task in east_pending), "east answered while stopped"
        finally:
            os.kill(east_pid, signal.SIGCONT)
        await asyncio.wait_for(asyncio.gather(*east_pending), 60)
        return west, east

    try:
        west, east = runner(scenario(), timeout=120)
        runner(host.check())
    finally:
        runner(host.close())
        host.kill_actors()
    assert len(west) >= 150, len(west)
    west.sort()
    p99 = west[math.ceil(len(west) * 0.99) - 1]
    assert p99 <= 0.050, f"west's route p99 {p99 * 1000:.1f} ms while east was stopped " \
                         f"(max {west[-1] * 1000:.1f} ms)"
    assert len(east) == 10 and min(east) >= 2.5, east     # they waited for east to run again
    finished = collections.Counter(routed.action.contact_id for routed in record.drain()
                                   if type(routed.action) is ContactFinished)
    expected = {f"w-{n}" for n in range(len(west))} | {f"e-{n}" for n in range(10)}
    assert expected <= set(finished) and all(finished[c] == 1 for c in expected)
    assert not host.live_contacts()


@pytest.mark.usefixtures("embedded_ray")
def test_past_the_queue_bound_new_contacts_are_refused_at_once(runner):
    """Issue 16 item 5: at most `max_waiting_events` events wait for a round; past that a
    new contact is refused at once (Overloaded: RESOURCE_EXHAUSTED over gRPC) and changes
    nothing, while events of contacts already in the router still wait their turn."""
    import grpc

    from cluster.host import Overloaded
    from cluster.servicers.errors import raise_first_error, status_of

    config = parse_config(STOPPED_SITE, "bound.yaml")
    host = RayHost(config, named=False, max_waiting_events=4)

    async def scenario():
        await host.submit("west", [ev.ContactArrived(0.0, "first", "billing")])
        # Ten submits made before the next round starts: four fit, six arrivals are refused;
        # the abandon of a contact already here is applied whatever the bound.
        submits = [host.submit("west", [ev.ContactArrived(0.0, f"c{n}", "billing")])
                   for n in range(10)]
        submits.append(host.submit(None, [ev.ContactAbandoned(0.0, "first")]))
        return await asyncio.gather(*submits)

    try:
        results = runner(scenario(), timeout=60)
        runner(host.check())
    finally:
        runner(host.close())
        host.kill_actors()
    refused = [n for n, (result,) in enumerate(results[:10])
               if isinstance(result.error, Overloaded)]
    assert refused == list(range(4, 10)), [r[0].error for r in results]
    assert all(results[n][0].error is None for n in range(4))
    assert results[10][0].error is None                 # the abandon was applied
    assert host.final_state("first")[0] is ContactState.ABANDONED
    assert set(host.live_contacts()) == {f"c{n}" for n in range(4)}   # nothing else changed
    code, details = status_of(results[5][0].error)
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED and "overloaded" in details
    with pytest.raises(Exception) as raised:
        raise_first_error(results[5], "contact.")
    assert raised.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert raised.value.field == "contact.contact_id"


@pytest.mark.skipif(not hasattr(os, "kill") or not os.path.isdir("/proc"),
                    reason="stops the actor's process with SIGSTOP")
@pytest.mark.usefixtures("embedded_ray")
def test_a_pull_a_late_site_stopped_is_made_once_it_answers(runner):
    """c1 waits at east (e1 logged in, not ready); east's actor is stopped (SIGSTOP) and w1
    becomes ready at west: the pull's survey of east comes too late, the round goes on
    without it, and w1 stays idle. Once east answers again, the host makes the pull it put
    off: c1 moves to west and is offered to w1, with no other event. Before, w1 stayed idle
    while c1 waited, until some other event (seen in CI: a Ray failover test's pull)."""
    import signal

    config = parse_config(TWO_SITES, "test.yaml")
    clock = FakeClock(0.0)
    host = RayHost(config, clock=clock, named=False, late_after_s=0.05)
    record = host.subscribe_routing(limit=10 ** 6)
    east_pid = host.handles["east"].send("info").result(20).pid

    def offered_to_w1(routed):
        return [item for item in routed if type(item.action) is OfferContact
                and item.action.contact_id == "c1" and item.action.agent_id == "w1"]

    async def scenario():
        await host.submit("west", [ev.AgentLoggedIn(0.0, "w1")])
        await host.submit("east", [ev.AgentLoggedIn(0.0, "e1")])
        clock.advance(1.0)
        (arrived,) = await host.submit("east", [ev.ContactArrived(0.0, "c1", "billing")])
        assert [type(item.action) for item in arrived.actions] == [ContactQueued]
        os.kill(east_pid, signal.SIGSTOP)
        try:
            clock.advance(1.0)
            (ready,) = await host.submit("west", [ev.AgentReady(0.0, "w1")])
            assert ready.error is None and not offered_to_w1(ready.actions)
            assert "east" in host._late, "east answered while stopped"
            await asyncio.sleep(0.3)
            assert not offered_to_w1(record.drain())
        finally:
            os.kill(east_pid, signal.SIGCONT)
        seen = []
        deadline = time.monotonic() + 20
        while not offered_to_w1(seen) and time.monotonic() < deadline:     # bounded
            await asyncio.sleep(0.05)
            seen += record.drain()
        assert offered_to_w1(seen), seen
        assert any(type(item.action) is Interflowed and item.action.contact_id == "c1"
                   for item in seen), seen
        await host.submit(None, [ev.OfferAccepted(0.0, "c1")])
        await host.submit(None, [ev.ContactEnded(0.0, "c1")])
        await host.check()

    try:
        runner(scenario(), timeout=60)
    finally:
        runner(host.close())
        host.kill_actors()
    assert host.final_state("c1") == (ContactState.COMPLETED, "west")

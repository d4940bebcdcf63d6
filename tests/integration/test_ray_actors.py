"""Site actors and the virtual center on real Ray, on loopback (SPEC §4, issue 5).

- without Ray: events, actions and reads pickle; the plain actor classes route with
  `ray.init` forbidden;
- one embedded node (`TestOneNode`): a recorded event sequence (a simulator run) routed
  through site actors gives exactly the actions of in-process cores; 1,000 events go in a
  few `handle_batch` calls; a crashed site actor comes back;
- two nodes on this machine (`TestTwoNodes`): a contact entering east with no agent ready
  goes, through the virtual center's BSR, to an idle agent at west; killing the node that
  hosts west brings west back on the head node, with the loss documented below.

Every Ray process must listen on 127.0.0.1 only: checked from /proc for every process this
test process started. Ray starts once per class (class-scoped fixtures: one Ray instance
per process at a time) and is shut down, its temp dir removed, when the class is done.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import os
import pickle
import socket
import struct
import time

import pytest

# First: cluster.ray_runtime keeps Ray on loopback and must be imported before Ray.
from cluster import ray_runtime  # isort: skip

import native
import ray
from actors.handles import ActorUnavailable, EventBatcher, VirtualCenterHandle
from actors.site_actor import LiveContact, SiteActor
from actors.virtual_center_actor import VirtualCenterActor
from loadtests.scenario import parse_scenario
from loadtests.simulator import Simulation
from sites import actions as act
from sites import events as ev
from sites.errors import InvalidInput
from sites.model import (
    AgentConfig,
    AgentState,
    Channel,
    ContactState,
    Priority,
    SiteConfig,
    SkillConfig,
)
from sites.state import SiteState
from sites.virtual_center import BsrConfig

pytestmark = pytest.mark.integration

CALL_TIMEOUT_S = 60.0

# A short two-site day with BSR, abandons, wrap-up, chat and FIFO: the recorded sequence.
SCENARIO = """\
duration_s: 3600
seed: 5
skills:
  billing: {queueing: dqp, sl_threshold_s: 20}
  sales: {queueing: fifo, sl_threshold_s: 30, agent_selection: best_skill}
sites:
  east:
    agents:
      - {count: 3, skills: {billing: 1, sales: 2}, wrap_up_s: 20}
      - {count: 2, skills: {sales: 1}, channels: {voice: 1, chat: 2}}
  west:
    agents:
      - {count: 3, skills: {billing: 1, sales: 1}}
routing: {multisite: bsr, adjust_by: 10}
traffic:
  - {site: east, skill: billing, rate_per_hour: 250, priority: medium,
     handle_time: {dist: exponential, mean_s: 100}, patience: {dist: exponential, mean_s: 60}}
  - {site: east, skill: sales, rate_per_hour: 80, priority: high, channel: chat,
     handle_time: {dist: exponential, mean_s: 150}}
  - {site: west, skill: billing, rate_per_hour: 80, priority: low,
     handle_time: {dist: constant, mean_s: 90}}
"""

BILLING = SkillConfig("billing", sl_threshold_s=20)


def run(coroutine, timeout: float = CALL_TIMEOUT_S):
    """Run one test coroutine on a fresh loop, bounded."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def one_agent_site(name: str, agent_id: str) -> SiteConfig:
    return SiteConfig(name, (BILLING,), (AgentConfig(agent_id, {"billing": 1}),))


# ---- what is checked everywhere --------------------------------------------------------------
def _process_tree(root: int) -> set:
    children: dict[int, list] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue            # exited meanwhile
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, ()))
    return tree


def _decode_address(hex_address: str) -> str:
    host = bytes.fromhex(hex_address)
    words = b"".join(struct.pack("<I", struct.unpack(">I", host[i:i + 4])[0])
                     for i in range(0, len(host), 4))
    return socket.inet_ntop(socket.AF_INET if len(words) == 4 else socket.AF_INET6, words)


def listening_sockets_of_this_process_tree() -> list:
    """(address, port, pid) of every TCP socket in LISTEN state that this process or one
    of its descendants (all Ray processes it started) holds, from /proc."""
    owners = {}
    for pid in _process_tree(os.getpid()):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    owners[int(link[8:-1])] = pid
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] != "0A":           # LISTEN
                    continue
                inode = int(fields[9])
                if inode in owners:
                    hex_address, hex_port = fields[1].split(":")
                    found.append((_decode_address(hex_address), int(hex_port, 16), owners[inode]))
    return found


def assert_ray_listens_on_loopback_only():
    sockets = listening_sockets_of_this_process_tree()
    gcs_port = int(ray.get_runtime_context().gcs_address.rsplit(":", 1)[1])
    assert gcs_port in {port for _, port, _ in sockets}, "the check did not see Ray's sockets"
    for address, port, pid in sockets:
        ip = ipaddress.ip_address(address)
        ip = getattr(ip, "ipv4_mapped", None) or ip
        assert ip.is_loopback, f"pid {pid} listens on {address}:{port}"
    return sockets


def final_states_by_contact(results) -> dict:
    """contact id -> the final states announced for it across sites, interflows left out
    (an interflowed contact is not final for the cluster: it goes on at its new site)."""
    finals: dict[str, list] = {}
    for actions in results:
        for action in actions:
            if type(action) is act.ContactFinished and (
                    action.final_state is not ContactState.INTERFLOWED):
                finals.setdefault(action.contact_id, []).append(action.final_state)
    return finals


# ---- no Ray ---------------------------------------------------------------------------------
def test_events_actions_and_reads_survive_pickling():
    state = SiteState(one_agent_site("east", "e1"))
    events = [ev.AgentLoggedIn(0.0, "e1"), ev.AgentReady(0.0, "e1"),
              ev.AgentNotReady(1.0, "e1", "break"), ev.AgentHeld(1.5, "e1", "preview"),
              ev.AgentLoggedOut(2.0, "e1"),
              ev.ContactArrived(3.0, "c1", "billing", Priority.HIGH, 15.0, Channel.CHAT,
                                {"account": "7"}),
              ev.ContactArrived(3.0, "c2", "billing", "top", None, "voice"),
              ev.OfferAccepted(4.0, "c1"), ev.ContactConnected(4.0, "c1"),
              ev.OfferRejected(4.0, "c1"), ev.OfferTimedOut(4.0, "c1"),
              ev.ContactEnded(5.0, "c1"), ev.ContactAbandoned(5.0, "c2"),
              ev.ContactInterflowed(5.0, "c2", "west"), ev.WrapUpDone(6.0, "e1"),
              ev.DigitsCollected(6.5, "c3", "2"), ev.PromptFinished(6.5, "c3"),
              ev.SelfServiceEnded(6.5, "c3", False), ev.CallbackChosen(6.5, "c3", True),
              ev.ContactArrived(6.5, "c4", None, dnis="8005550100", ani_prefix="+49"),
              ev.Tick(7.0)]
    assert {type(event) for event in events} == set(ev.EVENT_TYPES)
    actions = [act.OfferContact("c1", "e1", "billing", Channel.VOICE, 16.0, {"account": "7"}),
               act.OfferRevoked("c1", "e1", "abandoned"),
               act.ContactQueued("c1", "billing", Priority.LOW, 3, None),
               act.ContactRejected("c1", "queue_full"),
               act.AgentStateChanged("e1", AgentState.NOT_READY, "break"),
               act.ContactFinished("c1", ContactState.COMPLETED, "e1"),
               act.OfferContact("c3", "e1", "billing", Channel.VOICE, 16.0, {}, True),
               act.IvrTreatment("c3", "collect", "menu", 5.0, max_digits=1, variable="choice"),
               act.ContactFinished("c3", ContactState.SELF_SERVED, None)]
    reads = [state.status("billing", Channel.VOICE), state.statistics("billing"),
             LiveContact("c1", "billing", ContactState.QUEUED, None, 2, Channel.VOICE, 3.0),
             VirtualCenterActor(BsrConfig()).best_site(0.0, state.status("billing"), "c1", 2),
             one_agent_site("east", "e1"), BsrConfig(adjust_by=10)]
    for item in events + actions + reads:
        copy_ = pickle.loads(pickle.dumps(item))
        assert copy_ == item and type(copy_) is type(item), item
    # InvalidInput does not pickle by itself (its args hold only the message); actors/
    # registers a reducer so that a refused event's error crosses the actor boundary whole.
    error = pickle.loads(pickle.dumps(InvalidInput("agent_id", "unknown agent 'x'")))
    assert (type(error), error.field, error.problem) == (
        InvalidInput, "agent_id", "unknown agent 'x'")


def test_plain_actor_classes_route_without_ray(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the plain actor classes must not need Ray")

    monkeypatch.setattr(ray, "init", forbidden)
    east, west = SiteActor(one_agent_site("east", "e1")), SiteActor(one_agent_site("west", "w1"))
    west.handle_batch([ev.AgentLoggedIn(0.0, "w1"), ev.AgentReady(0.0, "w1")])
    [queued, refused] = east.handle_batch([ev.ContactArrived(1.0, "c1", "billing"),
                                           ev.AgentReady(1.0, "nobody")])
    assert type(queued[0]) is act.ContactQueued
    assert isinstance(refused, InvalidInput) and refused.field == "agent_id"
    center = VirtualCenterActor(BsrConfig())
    local = east.status("billing")
    decision = center.best_site(1.0, local, "c1", Priority.MEDIUM,
                                publish=[local, west.status("billing")])
    assert (decision.site, decision.reason) == ("west", "remote_available")
    assert center.remote_accepts(west.status("billing"), local.ewt_s[2], Priority.MEDIUM)
    with pytest.raises(InvalidInput):
        east.status("nonexistent")
    east.validate()
    west.validate()


# ---- one embedded node ----------------------------------------------------------------------
def record_simulation() -> tuple:
    """A short BSR simulation with every core call recorded: ({site: SiteConfig},
    [(site, event, actions)] in the order the cores saw them)."""
    simulation = Simulation(parse_scenario(SCENARIO, "recorded.yaml"))
    log = []
    for name, state in simulation.sites.items():
        def recording(event, _site=name, _handle=state.handle):
            actions = _handle(event)
            log.append((_site, copy.deepcopy(event), copy.deepcopy(actions)))
            return actions
        state.handle = recording
    simulation.run()
    return simulation.scenario.site_configs(), log


@pytest.fixture(scope="class")
def embedded():
    started = time.perf_counter()
    address = ray_runtime.start_embedded(num_cpus=2)
    print(f"\nembedded Ray up in {time.perf_counter() - started:.1f} s at {address}")
    try:
        yield address
    finally:
        ray_runtime.shutdown()


@pytest.mark.usefixtures("embedded")
class TestOneNode:
    def test_one_loopback_node(self):
        [node] = ray_runtime.list_nodes()
        assert node.alive and node.is_head and node.address == ray_runtime.LOOPBACK
        assert_ray_listens_on_loopback_only()

    def test_recorded_sequence_gives_the_same_actions_through_site_actors(self):
        configs, log = record_simulation()
        by_site = {name: [(event, actions) for site, event, actions in log if site == name]
                   for name in configs}
        assert all(len(entries) > 300 for entries in by_site.values()), \
            {name: len(entries) for name, entries in by_site.items()}
        assert any(type(event) is ev.ContactInterflowed for _, event, _ in log)
        assert any(type(event) is ev.ContactAbandoned for _, event, _ in log)

        # In-process cores fed the same sequence, none of the simulator's reads in between.
        in_process = {name: SiteState(config) for name, config in configs.items()}
        expected = {name: [in_process[name].handle(copy.deepcopy(event)) for event, _ in entries]
                    for name, entries in by_site.items()}
        for name, entries in by_site.items():
            assert expected[name] == [actions for _, actions in entries], name

        handles = ray_runtime.place_site_actors(configs, named=False)

        async def replay():
            got = {}
            for name, entries in by_site.items():
                events = [event for event, _ in entries]
                # Submitted back to back (pipelined): Ray keeps them in order.
                pending = [handles[name].handle_batch(events[start:start + 400])
                           for start in range(0, len(events), 400)]
                got[name] = [actions for batch in await asyncio.gather(*pending)
                             for actions in batch]
            snapshots = {name: await handle.snapshot() for name, handle in handles.items()}
            for handle in handles.values():
                await handle.validate()
            infos = [await handle.info() for handle in handles.values()]
            return got, snapshots, infos

        try:
            got, snapshots, infos = run(replay())
        finally:
            for handle in handles.values():
                handle.kill(restart=False)
        for name in configs:
            assert got[name] == expected[name], name
            assert snapshots[name] == in_process[name].snapshot(), name
        # The actors route with the backend this run is about (VCC_PURE_PYTHON reaches them).
        assert {info.backend for info in infos} == {native.BACKEND}

    def test_batcher_sends_1000_events_in_a_few_calls(self):
        agents = tuple(AgentConfig(f"a{n}", {"billing": 1}) for n in range(50))
        config = SiteConfig("batch", (BILLING,), agents)
        events = [ev.AgentLoggedIn(0.0, f"a{n}") for n in range(50)]
        events += [ev.AgentReady(0.0, f"a{n}") for n in range(50)]
        events += [ev.ContactArrived(1.0 + n, f"c{n}", "billing") for n in range(899)]
        events.insert(500, ev.AgentReady(400.0, "nobody"))      # refused; its neighbours not
        assert len(events) == 1000
        in_process = SiteState(config)
        expected = []
        for event in events:
            try:
                expected.append(in_process.handle(copy.deepcopy(event)))
            except InvalidInput as error:
                expected.append(error)
        [handle] = ray_runtime.place_site_actors([config], named=False).values()

        async def submit_all():
            batcher = EventBatcher({"batch": handle}, max_delay_s=0.005, max_events=250)
            futures = [batcher.submit("batch", event) for event in events]
            unknown = batcher.submit("nowhere", ev.Tick(0.0))
            results = await asyncio.gather(*futures, return_exceptions=True)
            with pytest.raises(InvalidInput):
                await unknown
            # Below max_events the delay closes the batch: 3 events, one call.
            later = [batcher.submit("batch", ev.Tick(2000.0 + n)) for n in range(3)]
            await asyncio.gather(*later)
            await batcher.close()
            return batcher, results

        try:
            batcher, results = run(submit_all())
        finally:
            handle.kill(restart=False)
        assert (batcher.batches, batcher.events) == (4 + 1, 1000 + 3)
        refused = results[500]
        assert isinstance(refused, InvalidInput) and refused.field == "agent_id"
        assert results[:500] + results[501:] == expected[:500] + expected[501:]
        offered = [action.contact_id for actions in results[100:] if isinstance(actions, list)
                   for action in actions if type(action) is act.OfferContact]
        assert offered[:3] == ["c0", "c1", "c2"] and len(offered) == 50

    def test_a_crashed_site_actor_comes_back_with_its_configured_state(self):
        config = one_agent_site("east", "e1")
        [handle] = ray_runtime.place_site_actors([config], named=False).values()

        async def crash_and_come_back():
            await handle.handle_batch([ev.AgentLoggedIn(0.0, "e1"), ev.AgentReady(0.0, "e1"),
                                       ev.ContactArrived(1.0, "c1", "billing")])
            before = await handle.info()
            handle.kill(restart=True)           # the process dies as in a crash
            info = await wait_for_restart(handle)
            return before, info, await handle.live_contacts(), await handle.agent_states()

        try:
            before, after, contacts, agents = run(crash_and_come_back())
        finally:
            handle.kill(restart=False)
        assert not before.restarted and after.restarted and after.pid != before.pid
        # Without a store the in-memory state is gone: what the configuration builds
        # (agents logged out, no contacts). With one, see TestJournaledSiteActor.
        assert contacts == {} and agents == {"e1": AgentState.LOGGED_OUT}


async def wait_for_restart(handle, timeout_s: float = 45.0):
    """Poll until the actor answers from a restarted process; its ActorInfo."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            info = await handle.info()
            if info.restarted:
                return info
        except ActorUnavailable:
            pass        # restarting: calls fail fast instead of waiting
        if time.monotonic() > deadline:
            raise AssertionError(f"{handle} did not come back in {timeout_s} s")
        await asyncio.sleep(0.2)


# ---- two nodes on this machine ----------------------------------------------------------------
@pytest.fixture(scope="class")
def two_nodes():
    started = time.perf_counter()
    cluster = ray_runtime.start_local_cluster(worker_nodes=1, num_cpus_per_node=1)
    print(f"\n2-node Ray up in {time.perf_counter() - started:.1f} s at {cluster.address}")
    try:
        [worker] = cluster.worker_node_ids()
        center = ray_runtime.start_virtual_center(BsrConfig(adjust_by=10), cluster.head_node_id,
                                                  named=False)
        yield cluster, cluster.head_node_id, worker, center
    finally:
        ray_runtime.shutdown()


@pytest.fixture
def east_west(two_nodes):
    """east on the head node, west on the worker node; fresh actors for each test."""
    cluster, head, worker, center = two_nodes
    handles = ray_runtime.place_site_actors(
        [one_agent_site("east", "e1"), one_agent_site("west", "w1")], [head, worker], named=False)
    yield handles["east"], handles["west"], center
    for handle in handles.values():
        handle.kill(restart=False)


async def route_arrival(center: VirtualCenterHandle, sites: dict, entry: str, arrival, log: list):
    """Arrive at `entry`, then Best Service Routing as loadtests/simulator.py drives it: a
    contact queued on arrival goes to the site BSR picks if that site accepts on look-ahead.

    Across actors the new site is told first (as cluster/host.py does): if it refused, the
    contact would still be queued where it was; the other order could lose it.
    """
    entered = (await sites[entry].handle_batch([arrival]))[0]
    log.append(entered)
    if not any(type(action) is act.ContactQueued for action in entered):
        return entry, None
    now, skill, priority = arrival.time, arrival.skill, Priority[arrival.priority.upper()]
    for handle in sites.values():       # fresh statuses: every site's clock at `now`
        log.append(await handle.tick(now))
    statuses = [status for handle in sites.values()
                for status in await handle.statuses([(skill, Channel.VOICE)])]
    local = next(status for status in statuses if status.site == entry)
    decision = await center.best_site(now, local, arrival.contact_id, priority, publish=statuses)
    if decision.site == entry:
        return entry, decision
    target = sites[decision.site]
    if not await center.remote_accepts(await target.status(skill), local.ewt_s[priority.value],
                                       priority):
        return entry, decision
    moved = (await target.handle_batch([ev.ContactArrived(
        now, arrival.contact_id, skill, arrival.priority, arrival.service_objective_s,
        arrival.channel, arrival.data)]))[0]
    left = (await sites[entry].handle_batch([ev.ContactInterflowed(
        now, arrival.contact_id, decision.site)]))[0]
    await center.note_interflow(arrival.contact_id)
    log.extend([moved, left])
    return decision.site, decision


class TestTwoNodes:
    def test_site_actors_run_on_their_nodes_on_loopback(self, two_nodes, east_west):
        cluster, head, worker, center = two_nodes
        east, west, _ = east_west
        assert {node.node_id for node in ray_runtime.list_nodes()} == {head, worker}
        assert all(node.address == ray_runtime.LOOPBACK for node in ray_runtime.list_nodes())
        assert east.info_blocking().node_id == head
        assert west.info_blocking().node_id == worker
        assert center.info_blocking().node_id == head
        sockets = assert_ray_listens_on_loopback_only()
        raylets = {pid for _, _, pid in sockets} & _pids_named("raylet")
        assert len(raylets) == 2, "both nodes' raylets were checked"

    def test_bsr_sends_a_contact_from_east_to_an_idle_agent_at_west(self, east_west):
        east, west, center = east_west
        sites = {"east": east, "west": west}

        async def scenario():
            log = []
            # e1 is logged in but not ready (east has staff, none available); w1 is ready.
            log += await east.handle_batch([ev.AgentLoggedIn(0.0, "e1")])
            log += await west.handle_batch([ev.AgentLoggedIn(0.0, "w1"), ev.AgentReady(0.0, "w1")])
            served_at, decision = await route_arrival(
                center, sites, "east", ev.ContactArrived(1.0, "c1", "billing", "medium"), log)
            assert (served_at, decision.site, decision.reason) == (
                "west", "west", "remote_available")
            assert await center.hops("c1") == 1
            offer = next(action for action in log[-2] if type(action) is act.OfferContact)
            assert (offer.contact_id, offer.agent_id) == ("c1", "w1")
            log += await west.handle_batch([ev.OfferAccepted(2.0, "c1"),
                                            ev.ContactEnded(30.0, "c1")])
            # With e1 ready, the next contact stays at east.
            log += await east.handle_batch([ev.AgentReady(3.0, "e1")])
            served_at, decision = await route_arrival(
                center, sites, "east", ev.ContactArrived(4.0, "c2", "billing", "high"), log)
            assert (served_at, decision) == ("east", None)     # offered at once, no BSR needed
            log += await east.handle_batch([ev.OfferAccepted(5.0, "c2"),
                                            ev.ContactEnded(40.0, "c2")])
            for handle in sites.values():
                await handle.validate()
            return (log, {name: await handle.live_contacts() for name, handle in sites.items()},
                    {name: await handle.final_states() for name, handle in sites.items()})

        log, live, finals = run(scenario())
        assert final_states_by_contact(log) == {"c1": [ContactState.COMPLETED],
                                                "c2": [ContactState.COMPLETED]}
        assert live == {"east": {}, "west": {}}
        assert finals == {"east": {"c1": ContactState.INTERFLOWED, "c2": ContactState.COMPLETED},
                          "west": {"c1": ContactState.COMPLETED}}

    def test_killing_the_node_of_west_restarts_west_on_the_head_node(self, two_nodes, east_west):
        """What holds when the node hosting west dies and west has no store (with one, see
        TestJournaledSiteActor):

        - west's actor comes back (max_restarts) on the head node, the only one left, and
          answers again; calls made while it restarts fail with ActorUnavailable;
        - east (other node) is untouched: its contacts, agents and routing go on;
        - the restarted west has exactly the state its configuration builds: agents logged
          out, no contact, no finished record, no statistics. Its contacts are LOST to the
          router: the connected call and the queued one are unknown to it now, so their
          final states are never reported (the PBX still has the calls).
        """
        cluster, head, worker, center = two_nodes
        east, west, _ = east_west

        async def before_the_kill():
            await east.handle_batch([ev.AgentLoggedIn(0.0, "e1"), ev.AgentReady(0.0, "e1"),
                                     ev.ContactArrived(1.0, "c10", "billing"),
                                     ev.OfferAccepted(2.0, "c10"),
                                     ev.ContactArrived(3.0, "c11", "billing")])
            await west.handle_batch([ev.AgentLoggedIn(0.0, "w1"), ev.AgentReady(0.0, "w1"),
                                     ev.ContactArrived(1.0, "c20", "billing"),
                                     ev.OfferAccepted(2.0, "c20"),
                                     ev.ContactArrived(3.0, "c21", "billing")])
            return await east.live_contacts(), await west.live_contacts(), await west.info()

        east_before, west_before, west_info = run(before_the_kill())
        assert {cid: c.state for cid, c in west_before.items()} == {
            "c20": ContactState.CONNECTED, "c21": ContactState.QUEUED}
        assert west_info.node_id == worker

        killed_at = time.perf_counter()
        cluster.kill_node(worker)

        async def after_the_kill():
            info = await wait_for_restart(west)
            back_after = time.perf_counter() - killed_at
            east_after = await east.live_contacts()
            await east.validate()
            lost = (await west.handle_batch([ev.ContactEnded(10.0, "c20")]))[0]
            restarted = (await west.live_contacts(), await west.final_states(),
                         await west.agent_states(), await west.clock(), await west.snapshot())
            # Both sites route again: c11 goes to e1 once c10 ends; w1 logs in anew at west.
            log = [await east.handle_batch([ev.ContactEnded(20.0, "c10"),
                                            ev.OfferAccepted(21.0, "c11"),
                                            ev.ContactEnded(50.0, "c11")])]
            log.append(await west.handle_batch([
                ev.AgentLoggedIn(30.0, "w1"), ev.AgentReady(30.0, "w1"),
                ev.ContactArrived(31.0, "c22", "billing"), ev.OfferAccepted(32.0, "c22"),
                ev.ContactEnded(60.0, "c22")]))
            for handle in (east, west):
                await handle.validate()
            remaining = (await east.live_contacts(), await west.live_contacts())
            return info, back_after, east_after, lost, restarted, log, remaining

        info, back_after, east_after, lost, restarted, log, remaining = run(after_the_kill())
        print(f"\nwest answered again {back_after:.1f} s after its node was killed")
        assert info.node_id == head and info.pid != west_info.pid
        assert [node.node_id for node in ray_runtime.list_nodes()] == [head]
        assert east_after == east_before                    # the other site: intact
        contacts, finals, agents, clock, snapshot = restarted
        assert (contacts, finals, agents, clock) == ({}, {}, {"w1": AgentState.LOGGED_OUT}, None)
        assert snapshot == SiteState(one_agent_site("west", "w1")).snapshot()
        assert isinstance(lost, InvalidInput) and "unknown contact 'c20'" in lost.problem
        # Every contact that survived ends in exactly one final state; c20 and c21 did not
        # survive (lost with west's memory) and have none.
        flat = [actions for batch in log for actions in batch]
        assert final_states_by_contact(flat) == {"c10": [ContactState.COMPLETED],
                                                 "c11": [ContactState.COMPLETED],
                                                 "c22": [ContactState.COMPLETED]}
        assert remaining == ({}, {})


def _pids_named(name: str) -> set:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if comm.read().strip() == name:
                        pids.add(int(entry))
            except OSError:
                continue
    return pids


# ---- with a journal: a site actor whose node dies comes back with its contacts ----------------
@pytest.fixture
def journaled_west(two_nodes, tmp_path):
    """west on a node of its own, journaling to a SQLite file (migrated once, first)."""
    from cluster.store.db import open_engine
    from cluster.store.migrate import upgrade
    from cluster.store.site_store import SiteStore

    cluster, head, _, _ = two_nodes
    url = f"sqlite:///{tmp_path}/sites.db"
    engine = open_engine(url)
    upgrade(engine)
    engine.dispose()
    node = cluster.add_node()
    handles = ray_runtime.place_site_actors([one_agent_site("west", "w1")], [node],
                                            named=False, store=SiteStore(url))
    yield cluster, head, node, handles["west"]
    handles["west"].kill(restart=False)


class TestJournaledSiteActor:
    def test_killing_the_node_of_a_journaled_site_loses_none_of_its_contacts(
            self, journaled_west):
        """The node hosting west dies; Ray restarts west on the head node, where its
        constructor rebuilds the site from the journal: the connected call and the queued
        one are still there, in the same states, and both end in one final state."""
        cluster, head, node, west = journaled_west

        async def before_the_kill():
            await west.handle_batch([ev.AgentLoggedIn(0.0, "w1"), ev.AgentReady(0.0, "w1"),
                                     ev.ContactArrived(1.0, "c20", "billing"),
                                     ev.OfferAccepted(2.0, "c20"),
                                     ev.ContactArrived(3.0, "c21", "billing")])
            return await west.live_contacts(), await west.snapshot(), await west.info()

        contacts_before, snapshot_before, info_before = run(before_the_kill())
        assert {cid: c.state for cid, c in contacts_before.items()} == {
            "c20": ContactState.CONNECTED, "c21": ContactState.QUEUED}
        assert info_before.node_id == node
        cluster.kill_node(node)

        async def after_the_kill():
            info = await wait_for_restart(west)
            back = (await west.live_contacts(), await west.snapshot())
            # The site goes on from where it was: c20 ends, w1 takes c21, c21 ends.
            log = [await west.handle_batch([ev.ContactEnded(10.0, "c20")])]
            log.append(await west.handle_batch([ev.WrapUpDone(11.0, "w1")])
                       if (await west.agent_states())["w1"] is AgentState.WRAP_UP else [])
            log.append(await west.handle_batch([ev.OfferAccepted(12.0, "c21"),
                                                ev.ContactEnded(40.0, "c21")]))
            await west.validate()
            return info, back, log, await west.live_contacts(), await west.final_states()

        info, (contacts_after, snapshot_after), log, remaining, finals = run(after_the_kill())
        assert info.node_id == head and info.pid != info_before.pid
        assert contacts_after == contacts_before and snapshot_after == snapshot_before
        assert not any(isinstance(result, Exception) for batch in log for result in batch), log
        assert remaining == {}
        assert finals == {"c20": ContactState.COMPLETED, "c21": ContactState.COMPLETED}

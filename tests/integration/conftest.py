"""A real vcc gRPC server on 127.0.0.1 (port 0) over an in-process CoreHost, for the
test_grpc_* tests.

Each `Cluster` owns one event loop (`asyncio.Runner`): the server, the host's timer and the
client channel all live on it, and a sync test drives it with `cluster.run(coroutine)`,
every call bounded by a timeout. The host's clock is a `FakeClock` the test moves.

Teardown checks the promise of SPEC §9 for every contact the test created: whatever is
still live is driven to an end (abandoned, ended, wrapped up), then each contact must have
exactly one final state, reported exactly once, and every invariant of the sites holds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib

import grpc
import pytest
from grpc_health.v1 import health_pb2_grpc

from cluster.config import parse_config
from cluster.host import CoreHost
from cluster.server import build_server
from sites import events as ev
from sites.actions import ContactFinished
from sites.model import ContactState
from vcc.v1 import (
    admin_pb2_grpc,
    agent_control_pb2,
    agent_control_pb2_grpc,
    call_control_pb2_grpc,
    common_pb2,
    routing_pb2,
    routing_pb2_grpc,
)

RPC_TIMEOUT_S = 5.0
RUN_TIMEOUT_S = 20.0

# Two sites with Best Service Routing; agents named so tests read well. Wrap-up is 0 for
# billing (a hang-up completes the contact) and 30 s for sales (WrapUpDone or the timeout).
TWO_SITES = """\
skills:
  billing: {sl_threshold_s: 20, service_objectives: {top: 5, high: 10}}
  sales: {sl_threshold_s: 30, wrap_up_s: 30, max_queue_length: 2}
sites:
  east:
    agents:
      - {ids: [e1, e2], skills: {billing: 1}}
      - {ids: [e3], skills: {sales: 1, billing: 2}, channels: {voice: 1, chat: 2}}
  west:
    agents:
      - {ids: [w1], skills: {billing: 1, sales: 1}}
routing: {multisite: bsr, adjust_by: 10}
"""


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0):
        self.time = start

    def __call__(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds


class Cluster:
    def __init__(self, config_text=TWO_SITES, *, host_options=None, server_options=None,
                 channel_options=()):
        self.clock = FakeClock()
        self.runner = asyncio.Runner()
        self.host = CoreHost(parse_config(config_text, "test.yaml"), clock=self.clock,
                             **(host_options or {}))
        self.server_options = server_options or {}
        self.channel_options = channel_options
        # Every action the host fans out, as the sites saw it (for the end-of-test checks).
        self.finished = collections.Counter()
        self.seen_contacts = set()

    def run(self, coroutine, timeout: float = RUN_TIMEOUT_S):
        return self.runner.run(asyncio.wait_for(coroutine, timeout))

    # ---- lifecycle ----
    async def _start(self):
        # The test's own record of everything: never overflows.
        self.recorder = self.host.subscribe_routing(limit=10 ** 9)
        self.server, self.port = build_server(self.host, address="127.0.0.1:0",
                                              **self.server_options)
        await self.server.start()
        # A channel of its own subchannels: gRPC shares them per address in a process, and
        # a port an earlier test's server had (closed since, and refused) would fail this
        # one's first calls at once (seen: `Connection refused` in the fuzz test's examples).
        self.channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{self.port}",
            options=[("grpc.use_local_subchannel_pool", 1), *self.channel_options])
        self.calls = call_control_pb2_grpc.CallControlStub(self.channel)
        self.agents = agent_control_pb2_grpc.AgentControlStub(self.channel)
        self.routing = routing_pb2_grpc.RoutingStub(self.channel)
        self.admin = admin_pb2_grpc.AdminStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def start(self):
        self.run(self._start())
        return self

    async def _stop(self):
        try:
            await self.channel.close()
        finally:
            await self.host.close()
            await self.server.stop(0)

    def stop(self):
        try:
            self.run(self._stop())
        finally:
            self.runner.close()

    # ---- request helpers ----
    @staticmethod
    def contact(contact_id, site, skill, **fields) -> common_pb2.ContactSpec:
        return common_pb2.ContactSpec(contact_id=contact_id, site=site, skill=skill, **fields)

    @staticmethod
    def agent_request(site, agent_id) -> agent_control_pb2.AgentRequest:
        return agent_control_pb2.AgentRequest(site=site, agent_id=agent_id)

    async def login_ready(self, site, *agent_ids):
        for agent_id in agent_ids:
            await self.agents.Login(self.agent_request(site, agent_id), timeout=RPC_TIMEOUT_S)
            await self.agents.SetState(agent_control_pb2.SetStateRequest(
                site=site, agent_id=agent_id, state=common_pb2.AGENT_STATE_READY),
                timeout=RPC_TIMEOUT_S)

    async def route(self, contact_id, site, skill, **fields) -> routing_pb2.RouteContactReply:
        return await self.routing.RouteContact(routing_pb2.RouteContactRequest(
            contact=self.contact(contact_id, site, skill, **fields)), timeout=RPC_TIMEOUT_S)

    def fingerprint(self, links=True):
        """Everything a refused request must leave as it was (a refused PBX event still
        moves its link's sequence numbers: pass links=False)."""
        host = self.host
        sites = {}
        for name, state in host.sites.items():
            sites[name] = (
                repr(sorted(state.skills.items())),
                repr(sorted((agent_id, agent.config, agent.state, agent.mode, agent.reason,
                             list(agent.load), agent.offer, dict(agent.wrap_ups))
                            for agent_id, agent in state.agents.items())),
                repr(sorted((cid, c.state, c.agent_id, c.skill, c.priority,
                             c.service_objective_s, c.data)
                            for cid, c in state.contacts.items())),
                repr(sorted(state.finished.items())))
        links = {link_id: (link.applied_event_seq, link.last_action_seq)
                 for link_id, link in host._links.items()} if links else None
        return (sites, repr(sorted((cid, e.site, e.link_id) for cid, e in host._contacts.items())),
                repr(sorted(host._finished.items())), links)   # objectives: in state.skills

    # ---- end-of-test checks ----
    def drain_record(self):
        for routed in self.recorder.drain():
            contact_id = getattr(routed.action, "contact_id", None)
            if contact_id is not None:
                self.seen_contacts.add(contact_id)
            if type(routed.action) is ContactFinished:
                self.finished[routed.action.contact_id] += 1

    async def finish_everything(self):
        """Drive every live contact to a final state the way the world would."""
        host = self.host
        for _ in range(20):       # bounded: each round moves every contact one step on
            live = host.live_contacts()
            if not live:
                return
            for contact_id in live:
                view = await host.contact_view(contact_id)
                if view is None:
                    continue
                if view.state in (ContactState.QUEUED, ContactState.OFFERED):
                    event = ev.ContactAbandoned(0.0, contact_id)
                elif view.state is ContactState.CONNECTED:
                    event = ev.ContactEnded(0.0, contact_id)
                else:
                    await host.submit(view.site, [ev.WrapUpDone(0.0, view.agent_id)])
                    continue
                await host.submit(None, [event])
        raise AssertionError(f"contacts never finished: {host.live_contacts()}")

    def check_every_contact_finished_once(self):
        self.run(self.finish_everything())
        self.drain_record()
        self.host.validate()
        assert not self.host.live_contacts()
        for contact_id in self.seen_contacts:
            assert self.host.final_state(contact_id) is not None, contact_id
            assert self.finished[contact_id] == 1, (contact_id, self.finished[contact_id])


@contextlib.contextmanager
def running_cluster(config_text=TWO_SITES, **options):
    cluster = Cluster(config_text, **options).start()
    try:
        yield cluster
        cluster.check_every_contact_finished_once()
    finally:
        cluster.stop()


@pytest.fixture
def cluster():
    with running_cluster() as running:
        yield running


@pytest.fixture
def make_cluster():
    """`with make_cluster(config_text, host_options=..., ...) as cluster:` for tests that need
    another configuration or limits (test modules do not import conftest)."""
    return running_cluster


def rpc_error(coroutine_call):
    """The status code of an awaited RPC that is expected to fail, and its details."""
    async def call():
        try:
            await coroutine_call
        except grpc.aio.AioRpcError as error:
            return error.code(), error.details()
        return grpc.StatusCode.OK, ""
    return call()


@pytest.fixture(scope="module")
def module_ray():
    """One local Ray cluster for a test module: a head node on loopback (2 CPUs), shut down
    after the module's last test. Imported here lazily: most integration modules need no Ray."""
    import time

    from cluster import ray_runtime

    started = time.perf_counter()
    cluster = ray_runtime.start_local_cluster(worker_nodes=0, num_cpus_per_node=2)
    print(f"\nRay up in {time.perf_counter() - started:.1f} s at {cluster.address}")
    try:
        yield cluster
    finally:
        ray_runtime.shutdown()

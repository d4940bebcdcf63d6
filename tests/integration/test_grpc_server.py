"""The server as a whole: health checking and reflection, limits answering
RESOURCE_EXHAUSTED (concurrent RPCs, slow stream readers), `serve` until SIGTERM with a
graceful shutdown, and the host's clock and timer."""

from __future__ import annotations

import asyncio
import os
import signal

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cluster.admission import Budgets
from cluster.config import load_config, parse_config
from cluster.host import CoreHost
from cluster.server import SERVICE_NAMES, serve
from tests.integration.conftest import TWO_SITES as TWO_SITES_TEXT
from sites import events as ev
from sites.actions import OfferRevoked
from vcc.v1 import (
    admin_pb2,
    agent_control_pb2,
    call_control_pb2,
    common_pb2,
    routing_pb2,
    routing_pb2_grpc,
)

pytestmark = pytest.mark.integration
T = 5.0
SLOW_READER = dict(host_options={"stream_queue_limit": 8},
                   channel_options=[("grpc.http2.lookahead_bytes", 1024),
                                    ("grpc.http2.bdp_probe", 0)])


def test_health_is_serving_for_every_service(cluster):
    async def scenario():
        statuses = {}
        for service in ("",) + SERVICE_NAMES:
            reply = await cluster.health.Check(health_pb2.HealthCheckRequest(service=service),
                                               timeout=T)
            statuses[service] = reply.status
        return statuses
    statuses = cluster.run(scenario())
    assert set(statuses.values()) == {health_pb2.HealthCheckResponse.SERVING}
    assert set(SERVICE_NAMES) == {"vcc.v1.CallControl", "vcc.v1.AgentControl",
                                  "vcc.v1.Routing", "vcc.v1.Admin", "vcc.v1.Crm",
                                  "vcc.v1.Marketing"}


def test_a_second_server_cannot_take_an_address_a_server_listens_on(cluster):
    """gRPC binds with SO_REUSEPORT by default: a second server on the same address would
    start and the kernel would split the connections between the two (a standby started on
    the leader's port would take half its PBX links). build_server turns it off."""
    from cluster.server import build_server

    host = CoreHost(parse_config(TWO_SITES_TEXT, "test.yaml"))
    try:
        with pytest.raises(RuntimeError, match="Failed to bind"):
            build_server(host, address=f"127.0.0.1:{cluster.port}")
    finally:
        cluster.run(host.close())


def test_reflection_lists_the_services(cluster):
    async def scenario():
        stub = reflection_pb2_grpc.ServerReflectionStub(cluster.channel)

        async def requests():
            yield reflection_pb2.ServerReflectionRequest(list_services="")
        async for reply in stub.ServerReflectionInfo(requests(), timeout=T):
            return {service.name for service in reply.list_services_response.service}
    names = cluster.run(scenario())
    assert set(SERVICE_NAMES) <= names
    assert "grpc.health.v1.Health" in names


def test_streams_and_unary_calls_have_budgets_of_their_own(make_cluster):
    """Idle event streams up to their budget do not block unary calls (issue 15: they used
    gRPC's one limit and locked everybody out); a stream past its budget is refused at once
    with RESOURCE_EXHAUSTED naming the budget, and once streams end new ones go through."""
    budgets = Budgets(unary=2, pbx_links=1, streams=2, streams_per_peer=2)
    with make_cluster(server_options={"budgets": budgets}) as cluster:
        async def scenario():
            held = [cluster.routing.StreamEvents(routing_pb2.StreamEventsRequest(), timeout=T)
                    for _ in range(2)]
            for call in held:
                await call.initial_metadata()
            sites = await cluster.admin.ListSites(admin_pb2.ListRequest(), timeout=T)
            third = cluster.routing.StreamEvents(routing_pb2.StreamEventsRequest(), timeout=T)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async for _ in third:
                    pass
            for call in held:
                call.cancel()
            await asyncio.sleep(0.05)
            again = cluster.routing.StreamEvents(routing_pb2.StreamEventsRequest(), timeout=T)
            await again.initial_metadata()
            running = dict(cluster.server.admission.running)
            again.cancel()
            return len(sites.sites), refused.value, running
        sites, refused, running = cluster.run(scenario())
    assert sites == 2
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-streams" in refused.details()
    assert running == {"unary": 0, "pbx": 0, "stream": 1}


async def _flood_agent_states(cluster, agent_id, rounds=300):
    """Many state changes with the longest reason codes (64 characters), yielding so the
    streams write."""
    await cluster.agents.Login(cluster.agent_request("east", agent_id), timeout=T)
    for number in range(rounds):
        state = common_pb2.AGENT_STATE_READY if number % 2 else common_pb2.AGENT_STATE_NOT_READY
        await cluster.agents.SetState(agent_control_pb2.SetStateRequest(
            site="east", agent_id=agent_id, state=state, reason=f"{number:03d}" + "r" * 61),
            timeout=T)


async def _status_after_reading(call, limit=10_000):
    read = 0
    try:
        for _ in range(limit):
            if await call.read() is grpc.aio.EOF:
                return grpc.StatusCode.OK, "", read
            read += 1
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details(), read
    return None, "", read


def test_a_slow_routing_stream_reader_gets_resource_exhausted(make_cluster):
    with make_cluster(**SLOW_READER) as cluster:
        async def scenario():
            slow = cluster.routing.StreamEvents(routing_pb2.StreamEventsRequest(), timeout=10)
            await slow.initial_metadata()
            await _flood_agent_states(cluster, "e1")
            return await _status_after_reading(slow)
        code, details, read = cluster.run(scenario())
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details, read)
        assert "reads too slowly" in details and read < 601
        # The host forgot the subscription: memory does not grow.
        assert len(cluster.host._routing_subs) == 1      # the test's own recorder


def test_a_slow_agent_stream_reader_gets_resource_exhausted(make_cluster):
    with make_cluster(**SLOW_READER) as cluster:
        async def scenario():
            slow = cluster.agents.StreamEvents(cluster.agent_request("east", "e2"), timeout=10)
            await slow.initial_metadata()
            await _flood_agent_states(cluster, "e2")
            return await _status_after_reading(slow)
        code, details, _ = cluster.run(scenario())
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
        assert not cluster.host._agent_subs


def test_an_acknowledgement_ahead_of_the_router_ends_the_pbx_stream(cluster):
    async def scenario():
        outbox = asyncio.Queue()

        async def requests():
            while (message := await outbox.get()) is not None:
                yield message
        outbox.put_nowait(call_control_pb2.PbxMessage(hello=call_control_pb2.PbxHello(link_id="p")))
        outbox.put_nowait(call_control_pb2.PbxMessage(hello=call_control_pb2.PbxHello(
            link_id="p", last_action_seq=99)))
        call = cluster.calls.Connect(requests(), timeout=T)
        code, details, _ = await _status_after_reading(call)
        outbox.put_nowait(None)
        return code, details
    code, details = cluster.run(scenario())
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("hello.last_action_seq: 99 is ahead")


def test_serve_runs_until_sigterm_and_shuts_down_gracefully():
    outcome = {}

    async def client(port):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(service="vcc.v1.Routing"),
                                       timeout=T)
            outcome["health"] = reply.status
            stream = routing_pb2_grpc.RoutingStub(channel).StreamEvents(
                routing_pb2.StreamEventsRequest(), timeout=T)
            await stream.initial_metadata()
            os.kill(os.getpid(), signal.SIGTERM)
            outcome["stream"] = (await _status_after_reading(stream))[0]

    async def main():
        tasks = []
        await serve(None, "127.0.0.1:0", grace_s=1.0,
                    started=lambda port: tasks.append(asyncio.ensure_future(client(port))))
        await asyncio.wait_for(tasks[0], T)

    previous = signal.getsignal(signal.SIGTERM)
    try:
        asyncio.run(asyncio.wait_for(main(), 20))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert outcome == {"health": health_pb2.HealthCheckResponse.SERVING,
                       "stream": grpc.StatusCode.OK}


# ---- the host's clock and timer ------------------------------------------------------------------
class SteppingClock:
    def __init__(self):
        self.time = 50.0

    def __call__(self):
        return self.time


def test_host_time_is_seconds_since_start_and_never_goes_backwards():
    clock = SteppingClock()
    host = CoreHost(load_config(), clock=clock)
    assert host.now() == 0.0
    clock.time += 2.5
    assert host.now() == 2.5
    clock.time -= 10          # a clock that jumps back does not take the host with it
    assert host.now() == 2.5
    clock.time += 20
    assert host.now() == 12.5


def test_the_timer_ticks_by_itself_and_is_cancelled_on_close():
    config = parse_config("""\
skills: {billing: {offer_timeout_s: 0.05}}
sites: {east: {agents: [{ids: [a], skills: {billing: 1}}]}}
""", "fast.yaml")

    async def scenario():
        host = CoreHost(config)          # the real monotonic clock
        record = host.subscribe_routing(limit=1000)
        await host.submit("east", [ev.AgentLoggedIn(0, "a"), ev.AgentReady(0, "a"),
                                   ev.ContactArrived(0, "c", "billing")])
        assert host._timer is not None
        revoked = []
        for _ in range(100):         # bounded: up to 2 s
            await asyncio.sleep(0.02)
            revoked = [r.action for r in record.drain() if type(r.action) is OfferRevoked]
            if revoked:
                break
        await host.submit(None, [ev.ContactAbandoned(0, "c")])
        await host.close()
        return revoked, host._timer, host.final_state("c")
    revoked, timer, final = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert revoked and revoked[0].reason == "offer_timeout"
    assert timer is None and final[0].value == "abandoned"


def test_the_timer_is_bounded_whatever_the_deadline():
    async def scenario():
        clock = SteppingClock()
        host = CoreHost(load_config(), clock=clock, max_timer_s=0.5)
        await host.submit("east", [ev.AgentLoggedIn(0, "east-g0-0"), ev.AgentReady(0, "east-g0-0"),
                                   ev.ContactArrived(0, "c", "billing")])    # offer: 15 s
        delay = host._timer.when() - asyncio.get_running_loop().time()
        clock.time += 16
        routed = await host.tick()
        await host.submit(None, [ev.ContactAbandoned(0, "c")])
        await host.close()
        return delay, [type(r.action).__name__ for r in routed]
    delay, routed = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert 0 < delay <= 0.5
    assert "OfferRevoked" in routed

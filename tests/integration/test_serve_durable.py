"""A router journaling to SQLite is SIGKILLed and started again on the same database: the
contacts it had accepted are still queued, and each still reaches one final state.

The server runs in its own process (`vcc serve --runtime inprocess --db URL`), on loopback;
tests/integration/test_ray_host.py kills a journaled site actor of the Ray runtime.
"""

import asyncio
import signal

import grpc
import pytest

from cluster.client import VccClient
from tests.integration.test_cli_serve import start as start_serve
from tests.integration.test_cli_serve import stop
from vcc.v1 import agent_control_pb2, common_pb2, routing_pb2


def start(db_url):
    return start_serve("--runtime", "inprocess", "--db", db_url)


def queued_and_staffed(reply):
    (skill,) = reply.skills
    return sum(skill.queued), skill.staffed


def test_sigkilled_router_recovers_its_contacts_from_the_journal(tmp_path):
    db_url = f"sqlite:///{tmp_path}/vcc.db"
    contacts = [f"call-{n}" for n in range(3)]
    process, port = start(db_url)
    try:
        async def before():
            async with VccClient(f"127.0.0.1:{port}") as client:
                await client.agents.Login(agent_control_pb2.AgentRequest(
                    site="east", agent_id="east-g0-0"), timeout=10)
                for contact_id in contacts:
                    reply = await client.routing.RouteContact(routing_pb2.RouteContactRequest(
                        contact=common_pb2.ContactSpec(contact_id=contact_id, site="east",
                                                       skill="billing")), timeout=10)
                    assert reply.WhichOneof("decision") == "queued"   # nobody is ready
                stats = await client.routing.GetStatistics(routing_pb2.GetStatisticsRequest(
                    site="east", skill="billing"), timeout=10)
                assert queued_and_staffed(stats) == (3, 1)
        asyncio.run(asyncio.wait_for(before(), 60))
    finally:
        # Killed, not stopped: nothing gets a chance to flush. What was answered is durable.
        assert stop(process, signal.SIGKILL) == -signal.SIGKILL

    process, port = start(db_url)
    try:
        async def after():
            async with VccClient(f"127.0.0.1:{port}") as client:
                stats = await client.routing.GetStatistics(routing_pb2.GetStatisticsRequest(
                    site="east", skill="billing"), timeout=10)
                assert queued_and_staffed(stats) == (3, 1)
                for contact_id in contacts:
                    reply = await client.routing.AbandonContact(
                        routing_pb2.AbandonContactRequest(site="east", contact_id=contact_id),
                        timeout=10)
                    assert reply.final_state == common_pb2.CONTACT_STATE_ABANDONED
                # One final state each: a second abandon is refused, naming the field.
                with pytest.raises(grpc.aio.AioRpcError) as again:
                    await client.routing.AbandonContact(routing_pb2.AbandonContactRequest(
                        site="east", contact_id=contacts[0]), timeout=10)
                assert again.value.code() is grpc.StatusCode.INVALID_ARGUMENT
                assert "contact_id" in again.value.details()
        asyncio.run(asyncio.wait_for(after(), 60))
    finally:
        assert stop(process) == 0

"""Every Admin RPC, through gRPC and the real journaling path, survives SIGTERM and SIGKILL of
`vcc serve --db` on both runtimes, with and without etcd leadership (issue 15: one
PutAgent on an existing agent made the store unrecoverable).

A sequence of changes uses every Admin RPC (sites added and deleted — one the configuration
file names, one added again after its deletion —, skills with service objectives, a
scheduler field changed, agents created, reconfigured while logged out and refused while
logged in, deleted; refusals included), then the configuration Admin shows is taken; the
server is stopped (SIGTERM), started on the same store, stopped again with SIGKILL and
started once more: each time Admin must show exactly the same, and a contact routes on
the recovered configuration. tests/unit/test_admin_journaling.py drives random sequences
through the host's journaling path.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import grpc
import pytest

from cluster.client import VccClient
from tests.integration.etcd_server import EtcdServer, require_etcd
from tests.integration.test_cli_serve import start, stop
from vcc.v1 import admin_pb2, agent_control_pb2, common_pb2, routing_pb2

pytestmark = pytest.mark.integration

CONFIG = """\
skills:
  billing: {sl_threshold_s: 20, service_objectives: {high: 10}}
  sales: {sl_threshold_s: 30}
sites:
  east:
    agents:
      - {count: 2, skills: {billing: 1}}
  west:
    agents:
      - {count: 1, skills: {billing: 1, sales: 2}}
routing: {multisite: bsr, adjust_by: 10}
"""
OK, REFUSED = "ok", "refused"


def skill(site, name, **fields):
    return admin_pb2.Skill(site=site, name=name, **fields)


def objective(priority, seconds):
    return admin_pb2.ServiceObjective(priority=priority, service_objective_s=seconds)


def agent(site, agent_id, skills, **fields):
    return admin_pb2.Agent(site=site, agent_id=agent_id, skills=[
        admin_pb2.SkillLevel(skill=name, level=level) for name, level in skills.items()], **fields)


# (rpc name, request, expected outcome): every Admin RPC that changes something, and the
# refusals that must change nothing.
CHANGES = [
    ("PutSite", admin_pb2.Site(name="north"), OK),
    ("PutSkill", skill("north", "chat", queueing=2,
                       service_objectives=[objective(common_pb2.PRIORITY_TOP, 5)]), OK),
    ("PutSkill", skill("east", "billing", sl_threshold_s=25, service_objectives=[
        objective(common_pb2.PRIORITY_HIGH, 12), objective(common_pb2.PRIORITY_LOW, 90)]), OK),
    ("PutSkill", skill("east", "chat", sl_threshold_s=40), OK),
    ("PutSkill", skill("east", "chat", queueing=2), OK),        # scheduler field: remove + add
    ("PutAgent", agent("north", "n1", {"chat": 1}), OK),
    ("PutAgent", agent("north", "n1", {"chat": 3}, capacities=[
        admin_pb2.ChannelCapacity(channel=common_pb2.CHANNEL_CHAT, capacity=2)]), OK),
    ("PutAgent", agent("east", "east-g0-0", {"billing": 2, "chat": 1}), OK),   # the bug
    ("PutAgent", agent("east", "e-new", {"chat": 4}, wrap_up_s=7), OK),
    ("DeleteAgent", admin_pb2.GetRequest(site="west", name="west-g0-0"), OK),
    ("PutSkill", skill("west", "extra"), OK),
    ("DeleteSkill", admin_pb2.GetRequest(site="west", name="extra"), OK),
    ("DeleteSkill", admin_pb2.GetRequest(site="east", name="billing"), REFUSED),   # in use
    # Deleted sites stay deleted (a tombstone ends their journal), even one the
    # configuration file names (west); one added again starts anew (south).
    ("PutSite", admin_pb2.Site(name="south"), OK),
    ("PutSkill", skill("south", "chat"), OK),
    ("DeleteSite", admin_pb2.GetRequest(name="south"), OK),
    ("PutSite", admin_pb2.Site(name="south"), OK),
    ("PutSkill", skill("south", "voice", sl_threshold_s=15), OK),
    ("DeleteSite", admin_pb2.GetRequest(name="west"), OK),
    ("DeleteSite", admin_pb2.GetRequest(name="east"), REFUSED),    # an agent logged in
    ("PutAgent", agent("east", "east-g0-1", {"nope": 1}), REFUSED),
]


async def view(client) -> dict:
    """Everything Admin shows, as bytes per site (deterministic serialization)."""
    sites = await client.admin.ListSites(admin_pb2.ListRequest(), timeout=10)
    shown = {}
    for site in sorted(item.name for item in sites.sites):
        skills = await client.admin.ListSkills(admin_pb2.ListRequest(site=site), timeout=10)
        agents = await client.admin.ListAgents(admin_pb2.ListRequest(site=site), timeout=10)
        shown[site] = (skills.SerializeToString(deterministic=True),
                       agents.SerializeToString(deterministic=True))
    return shown


async def wait_serving(client, timeout_s: float = 60.0) -> None:
    """Until this server leads (a standby answers UNAVAILABLE)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await client.admin.ListSites(admin_pb2.ListRequest(), timeout=5)
            return
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)


async def first_life(port) -> dict:
    async with VccClient(f"127.0.0.1:{port}") as client:
        await wait_serving(client)
        # A logged-in agent cannot be reconfigured: refused, nothing changes.
        await client.agents.Login(agent_control_pb2.AgentRequest(
            site="east", agent_id="east-g0-1"), timeout=10)
        outcomes = []
        for rpc, request, _ in CHANGES + [
                ("PutAgent", agent("east", "east-g0-1", {"billing": 5}), REFUSED)]:
            try:
                await getattr(client.admin, rpc)(request, timeout=20)
                outcomes.append(OK)
            except grpc.aio.AioRpcError as error:
                assert error.code() in (grpc.StatusCode.INVALID_ARGUMENT,
                                        grpc.StatusCode.FAILED_PRECONDITION), (rpc, error)
                outcomes.append(REFUSED)
        assert outcomes == [expected for *_, expected in CHANGES] + [REFUSED]
        # The sites' clocks run on past what the next life's clock starts at: a restarted
        # server must go on from the sites' time (the Ray runtime went back to 0 and refused
        # every event as going backwards).
        await asyncio.sleep(3.0)
        await client.agents.Logout(agent_control_pb2.AgentRequest(
            site="east", agent_id="east-g0-1"), timeout=10)
        return await view(client)


async def later_life(port, before, contact_id) -> None:
    async with VccClient(f"127.0.0.1:{port}") as client:
        await wait_serving(client)
        assert await view(client) == before
        assert set(before) == {"east", "north", "south"}
        # The recovered configuration routes: the reconfigured agent takes a chat.
        request = agent_control_pb2.AgentRequest(site="north", agent_id="n1")
        await client.agents.Login(request, timeout=10)
        await client.agents.SetState(agent_control_pb2.SetStateRequest(
            site="north", agent_id="n1", state=common_pb2.AGENT_STATE_READY), timeout=10)
        reply = await client.routing.RouteContact(routing_pb2.RouteContactRequest(
            contact=common_pb2.ContactSpec(contact_id=contact_id, site="north", skill="chat",
                                           channel=common_pb2.CHANNEL_CHAT)), timeout=10)
        assert reply.WhichOneof("decision") == "offer" and reply.offer.agent_id == "n1"
        # Left as it was found (the next life compares Admin's view again).
        abandoned = await client.routing.AbandonContact(routing_pb2.AbandonContactRequest(
            site="north", contact_id=contact_id), timeout=10)
        assert abandoned.final_state == common_pb2.CONTACT_STATE_ABANDONED
        await client.agents.Logout(request, timeout=10)


def check_admin_changes_survive_restarts(tmp_path, *flags):
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    arguments = ("--config", str(config), "--db", f"sqlite:///{tmp_path}/vcc.db", *flags)
    process, port = start(*arguments)
    try:
        before = asyncio.run(asyncio.wait_for(first_life(port), 120))
    finally:
        assert stop(process) == 0
    for life, signum in ((2, signal.SIGKILL), (3, signal.SIGTERM)):
        process, port = start(*arguments)
        try:
            asyncio.run(asyncio.wait_for(later_life(port, before, f"chat-{life}"), 120))
        finally:
            stop(process, signum)


@pytest.mark.parametrize("runtime", ["inprocess", "ray"])
def test_admin_changes_survive_restarts(tmp_path, runtime):
    if runtime == "ray" and os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("VCC_PURE_PYTHON=1: the Ray runtime's recovery runs in the compiled pass")
    check_admin_changes_survive_restarts(tmp_path, "--runtime", runtime)


@pytest.mark.parametrize("runtime", ["inprocess", "ray"])
def test_admin_changes_survive_restarts_under_etcd_leadership(tmp_path, runtime):
    if runtime == "ray" and os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("VCC_PURE_PYTHON=1: the Ray runtime's recovery runs in the compiled pass")
    require_etcd()
    etcd = EtcdServer("admin-recovery")
    try:
        etcd.start()
        check_admin_changes_survive_restarts(
            tmp_path, "--runtime", runtime, "--etcd", etcd.endpoint, "--etcd-ttl", "2",
            "--etcd-prefix", f"/vcc-test-{uuid.uuid4().hex[:8]}")
    finally:
        etcd.close()


def test_an_unrecoverable_store_stops_serve_with_one_paragraph_and_repair_fixes_it(tmp_path):
    """A journal as the old bug wrote it (AddAgent of an agent that exists, then its
    ReplaceAgent): `vcc serve` exits 1 with a message naming the entry and the way out,
    no traceback; `vcc store repair` skips the entry; then the server starts and shows the
    agent as the ReplaceAgent left it."""
    import subprocess
    import sys

    from cluster.config import load_config
    from cluster.durable import close_durable_host, open_durable_host
    from cluster.store.codec import ConfigChange
    from cluster.store.db import open_engine
    from cluster.store.journal import Journal
    from sites.model import AgentConfig

    url = f"sqlite:///{tmp_path}/vcc.db"

    async def create():
        host, _ = await open_durable_host(load_config(), url)
        await close_durable_host(host)

    asyncio.run(create())
    engine = open_engine(url)
    journal = Journal(engine)
    config = AgentConfig("east-g0-0", {"billing": 4})
    journal.append_now("east", [ConfigChange.add_agent(config), ConfigChange.replace_agent(config)])
    journal.close()
    engine.dispose()

    served = subprocess.run([sys.executable, "-m", "cluster.cli", "serve", "--port", "0",
                             "--runtime", "inprocess", "--db", url],
                            capture_output=True, text=True, timeout=60)
    assert served.returncode == 1
    assert "Traceback" not in served.stderr
    (message,) = [line for line in served.stderr.splitlines() if line.startswith("vcc serve:")]
    assert "journal entry 1 (AddAgent 'east-g0-0')" in message
    assert "vcc store repair --db URL" in message

    repaired = subprocess.run([sys.executable, "-m", "cluster.cli", "store", "repair",
                               "--db", url], capture_output=True, text=True, timeout=60)
    assert repaired.returncode == 0, repaired.stderr
    assert "skipped site 'east' entry 1" in repaired.stdout

    process, port = start("--runtime", "inprocess", "--db", url)
    try:
        async def shown():
            async with VccClient(f"127.0.0.1:{port}") as client:
                return await client.admin.GetAgent(admin_pb2.GetRequest(
                    site="east", name="east-g0-0"), timeout=10)
        reply = asyncio.run(asyncio.wait_for(shown(), 60))
        assert [(level.skill, level.level) for level in reply.skills] == [("billing", 4)]
    finally:
        assert stop(process) == 0

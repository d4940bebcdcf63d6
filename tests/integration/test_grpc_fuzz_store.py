"""Fuzz over orderings, with the store on: random sequences of calls to every unary RPC and
PBX-link messages, on a server journaling to SQLite (issue 15: the probe, in the suite).

Each example is a fresh server on a fresh database. Whatever the sequence: no call is
answered UNKNOWN or INTERNAL, an INVALID_ARGUMENT names its field, the sites' invariants
hold, the store recovers to exactly the state the server had (every site's snapshot
equal), and on the recovered router every contact can still reach one final state.
tests/integration/test_grpc_fuzz.py throws many more random values at each RPC alone.
"""

from __future__ import annotations

import itertools

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.config import parse_config
from cluster.durable import close_durable_host, open_durable_host
from tests.integration.conftest import TWO_SITES, Cluster
from tests.integration.test_grpc_fuzz import (RPC_TIMEOUT_S, SERVER_FAILURES, UINT64, UNARY,
                                              _prepare, messages, pbx_exchange)
from vcc.v1 import (admin_pb2, agent_control_pb2, call_control_pb2, common_pb2,
                    routing_pb2)

pytestmark = pytest.mark.integration
_numbers = itertools.count()

SITES = st.sampled_from(["east", "west"])
AGENT_IDS = st.sampled_from(["e1", "e2", "e3", "w1", "n1"])
SKILL_NAMES = st.sampled_from(["billing", "sales", "claims"])
# Random values rarely make a valid change; these do, in any order (the orderings are what
# this test is about: e.g. reconfiguring an agent that exists, then restarting).
plausible = st.one_of(
    st.builds(lambda site, agent_id, levels: ("admin", "PutAgent", admin_pb2.Agent(
        site=site, agent_id=agent_id, skills=[admin_pb2.SkillLevel(skill=skill, level=level)
                                              for skill, level in levels.items()])),
              SITES, AGENT_IDS, st.dictionaries(st.sampled_from(["billing", "sales"]),
                                                st.integers(1, 16), min_size=1, max_size=2)),
    st.builds(lambda site, name, threshold, objectives: ("admin", "PutSkill", admin_pb2.Skill(
        site=site, name=name, sl_threshold_s=threshold, service_objectives=[
            admin_pb2.ServiceObjective(priority=priority, service_objective_s=seconds)
            for priority, seconds in objectives.items()])),
              SITES, SKILL_NAMES, st.sampled_from([0.0, 15.0, 40.0]),
              st.dictionaries(st.integers(1, 4), st.sampled_from([5.0, 30.0]), max_size=2)),
    st.builds(lambda site, name: ("admin", "DeleteAgent", admin_pb2.GetRequest(
        site=site, name=name)), SITES, AGENT_IDS),
    st.builds(lambda site, name: ("admin", "DeleteSkill", admin_pb2.GetRequest(
        site=site, name=name)), SITES, SKILL_NAMES),
    st.builds(lambda site, agent_id, method: ("agents", method, agent_control_pb2.AgentRequest(
        site=site, agent_id=agent_id)), SITES, AGENT_IDS, st.sampled_from(["Login", "Logout"])),
    st.builds(lambda site, agent_id: ("agents", "SetState", agent_control_pb2.SetStateRequest(
        site=site, agent_id=agent_id, state=common_pb2.AGENT_STATE_READY)), SITES, AGENT_IDS),
    st.builds(lambda contact_id, site, skill: ("routing", "RouteContact",
                                               routing_pb2.RouteContactRequest(
        contact=common_pb2.ContactSpec(contact_id=contact_id, site=site, skill=skill))),
              st.text(alphabet="abc123", min_size=2, max_size=4), SITES, SKILL_NAMES))
random_calls = st.one_of(
    *[st.tuples(st.just(stub), st.just(method), messages(input_type))
      for stub, method, input_type in UNARY],
    st.tuples(st.just("pbx"), st.just("Connect"),
              st.tuples(st.lists(messages(call_control_pb2.PbxEvent.DESCRIPTOR), max_size=4),
                        st.one_of(st.none(), UINT64))))
calls = st.one_of(plausible, random_calls)


class StoredCluster(Cluster):
    """The test harness's server, on a journaled host (cluster/durable.py)."""

    def __init__(self, url: str):
        super().__init__(TWO_SITES)
        self.url = url
        self.config = parse_config(TWO_SITES, "fuzz.yaml")
        self.host, _ = self.runner.run(open_durable_host(self.config, url, clock=self.clock))


async def unary(cluster, stub, method, request):
    try:
        await getattr(getattr(cluster, stub), method)(request, timeout=RPC_TIMEOUT_S)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()
    return grpc.StatusCode.OK, ""


def snapshots(host) -> dict:
    return {name: state.snapshot() for name, state in sorted(host.sites.items())}


@settings(max_examples=100, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(calls, min_size=1, max_size=25))
def test_any_sequence_of_calls_leaves_a_recoverable_store(tmp_path, sequence):
    url = f"sqlite:///{tmp_path}/fuzz-{next(_numbers)}.db"
    cluster = StoredCluster(url).start()
    try:
        cluster.run(_prepare(cluster))
        for stub, method, request in sequence:
            if stub == "pbx":
                code, details = cluster.run(pbx_exchange(cluster, *request))
            else:
                code, details = cluster.run(unary(cluster, stub, method, request))
            assert code not in SERVER_FAILURES, (method, request, code, details)
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                assert ": " in details, details          # the field is named
            cluster.host.validate()
        before = snapshots(cluster.host)

        async def reopen():
            await cluster.channel.close()
            await cluster.server.stop(0)
            await close_durable_host(cluster.host)     # as a stopped server does
            recovered, _ = await open_durable_host(cluster.config, url, clock=cluster.clock)
            cluster.host = recovered
            assert snapshots(recovered) == before
            # Every contact can still end, once, on the recovered router.
            await cluster.finish_everything()
            recovered.validate()
            assert not recovered.live_contacts()
            await close_durable_host(recovered)
        cluster.run(reopen(), timeout=60)
    finally:
        cluster.runner.close()

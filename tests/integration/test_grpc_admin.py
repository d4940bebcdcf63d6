"""Admin over a real server: list/get/put/delete of sites, skills and agents applied live,
with NOT_FOUND and FAILED_PRECONDITION where the live state forbids a change; and the
SiteState methods behind them."""

from __future__ import annotations

import grpc
import pytest

from sites import events as ev
from sites.errors import InvalidInput
from sites.model import AgentConfig, SiteConfig, SkillConfig
from sites.state import SiteState
from vcc.v1 import admin_pb2, agent_control_pb2, common_pb2, routing_pb2

pytestmark = pytest.mark.integration
T = 5.0


async def failure(call):
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()
    raise AssertionError("the call succeeded")


def test_sites_list_get_put_delete(cluster):
    async def scenario():
        listed = await cluster.admin.ListSites(admin_pb2.ListRequest(), timeout=T)
        assert [site.name for site in listed.sites] == ["east", "west"]
        assert (await cluster.admin.GetSite(admin_pb2.GetRequest(name="east"), timeout=T)).name == "east"
        assert (await failure(cluster.admin.GetSite(admin_pb2.GetRequest(name="north"),
                                                    timeout=T)))[0] == grpc.StatusCode.NOT_FOUND
        await cluster.admin.PutSite(admin_pb2.Site(name="north"), timeout=T)
        await cluster.admin.PutSite(admin_pb2.Site(name="north"), timeout=T)     # idempotent
        assert "north" in cluster.host.sites
        # A new site gets skills and agents, takes contacts, and can go once it is quiet.
        await cluster.admin.PutSkill(admin_pb2.Skill(site="north", name="billing"), timeout=T)
        await cluster.admin.PutAgent(admin_pb2.Agent(
            site="north", agent_id="n1", skills=[admin_pb2.SkillLevel(skill="billing", level=1)]),
            timeout=T)
        await cluster.login_ready("north", "n1")
        code, details = await failure(cluster.admin.DeleteSite(admin_pb2.GetRequest(name="north"),
                                                               timeout=T))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "logged-in" in details
        await cluster.agents.SetState(agent_control_pb2.SetStateRequest(
            site="north", agent_id="n1", state=common_pb2.AGENT_STATE_NOT_READY), timeout=T)
        await cluster.agents.Logout(cluster.agent_request("north", "n1"), timeout=T)
        deleted = await cluster.admin.DeleteSite(admin_pb2.GetRequest(name="north"), timeout=T)
        assert deleted.deleted and "north" not in cluster.host.sites
        code, _ = await failure(cluster.admin.DeleteSite(admin_pb2.GetRequest(name="north"), timeout=T))
        assert code == grpc.StatusCode.NOT_FOUND
    cluster.run(scenario())


def test_skills_list_get_put_delete(cluster):
    async def scenario():
        listed = await cluster.admin.ListSkills(admin_pb2.ListRequest(site="east"), timeout=T)
        assert [skill.name for skill in listed.skills] == ["billing", "sales"]
        billing = await cluster.admin.GetSkill(admin_pb2.GetRequest(site="east", name="billing"), timeout=T)
        assert (billing.queueing, billing.sl_threshold_s, billing.widen_level) == (
            admin_pb2.QUEUEING_DQP, 20.0, 16)
        assert [(o.priority, o.service_objective_s) for o in billing.service_objectives] == [
            (common_pb2.PRIORITY_TOP, 5.0), (common_pb2.PRIORITY_HIGH, 10.0)]
        # A new skill with every field, read back the same.
        spec = admin_pb2.Skill(
            site="east", name="claims", queueing=admin_pb2.QUEUEING_FIFO, sl_threshold_s=40,
            agent_selection=admin_pb2.AGENT_SELECTION_BEST_SKILL, wrap_up_s=5, offer_timeout_s=9,
            max_queue_length=7, widen_level=3, widen_after_s=12,
            service_objectives=[admin_pb2.ServiceObjective(priority=common_pb2.PRIORITY_LOW,
                                                           service_objective_s=90)])
        created = await cluster.admin.PutSkill(spec, timeout=T)
        assert created == spec
        # Zero values are the documented defaults.
        plain = await cluster.admin.PutSkill(admin_pb2.Skill(site="east", name="plain"), timeout=T)
        assert (plain.sl_threshold_s, plain.offer_timeout_s, plain.widen_level,
                plain.max_queue_length, plain.agent_selection) == (
            20.0, 15.0, 16, 0, admin_pb2.AGENT_SELECTION_LONGEST_IDLE)
        # Live settings change in place while agents have the skill...
        billing.sl_threshold_s = 25
        billing.offer_timeout_s = 30
        del billing.service_objectives[:]
        changed = await cluster.admin.PutSkill(billing, timeout=T)
        assert changed.sl_threshold_s == 25 and not changed.service_objectives
        assert cluster.host.sites["east"].skills["billing"].offer_timeout_s == 30
        # ...but not the scheduler's settings, and the skill cannot go.
        billing.queueing = admin_pb2.QUEUEING_FIFO
        code, details = await failure(cluster.admin.PutSkill(billing, timeout=T))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and details.startswith("queueing:")
        code, details = await failure(cluster.admin.DeleteSkill(
            admin_pb2.GetRequest(site="east", name="billing"), timeout=T))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "agent(s)" in details
        # An unused skill changes anything, and goes.
        spec.queueing = admin_pb2.QUEUEING_DQP
        assert (await cluster.admin.PutSkill(spec, timeout=T)).queueing == admin_pb2.QUEUEING_DQP
        await cluster.admin.DeleteSkill(admin_pb2.GetRequest(site="east", name="claims"), timeout=T)
        code, _ = await failure(cluster.admin.GetSkill(
            admin_pb2.GetRequest(site="east", name="claims"), timeout=T))
        assert code == grpc.StatusCode.NOT_FOUND
        # A skill with a waiting contact cannot go either.
        await cluster.route("q1", "east", "plain")
        code, details = await failure(cluster.admin.DeleteSkill(
            admin_pb2.GetRequest(site="east", name="plain"), timeout=T))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "contact(s)" in details
    cluster.run(scenario())
    cluster.host.validate()


def test_agents_list_get_put_delete(cluster):
    async def scenario():
        listed = await cluster.admin.ListAgents(admin_pb2.ListRequest(site="east"), timeout=T)
        assert [agent.agent_id for agent in listed.agents] == ["e1", "e2", "e3"]
        e3 = await cluster.admin.GetAgent(admin_pb2.GetRequest(site="east", name="e3"), timeout=T)
        assert {(s.skill, s.level) for s in e3.skills} == {("sales", 1), ("billing", 2)}
        assert {(c.channel, c.capacity) for c in e3.capacities} == {
            (common_pb2.CHANNEL_VOICE, 1), (common_pb2.CHANNEL_CHAT, 2)}
        assert e3.state == common_pb2.AGENT_STATE_LOGGED_OUT
        new = admin_pb2.Agent(site="east", agent_id="e9",
                              skills=[admin_pb2.SkillLevel(skill="billing", level=4)],
                              call_selection=admin_pb2.CALL_SELECTION_SKILL_LEVEL, wrap_up_s=3)
        created = await cluster.admin.PutAgent(new, timeout=T)
        assert created.capacities[0].channel == common_pb2.CHANNEL_VOICE   # empty: voice 1
        assert created.state == common_pb2.AGENT_STATE_LOGGED_OUT
        # The new agent works at once.
        await cluster.login_ready("east", "e9")
        reply = await cluster.route("c1", "east", "billing")
        assert reply.offer.agent_id == "e9"
        # Logged in: no change, no delete.
        new.skills[0].level = 1
        code, details = await failure(cluster.admin.PutAgent(new, timeout=T))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and details.startswith("agent_id:")
        code, _ = await failure(cluster.admin.DeleteAgent(
            admin_pb2.GetRequest(site="east", name="e9"), timeout=T))
        assert code == grpc.StatusCode.FAILED_PRECONDITION
        await cluster.routing.AbandonContact(routing_pb2.AbandonContactRequest(contact_id="c1"),
                                             timeout=T)
        await cluster.agents.SetState(agent_control_pb2.SetStateRequest(
            site="east", agent_id="e9", state=common_pb2.AGENT_STATE_NOT_READY), timeout=T)
        await cluster.agents.Logout(cluster.agent_request("east", "e9"), timeout=T)
        # Logged out: reconfigured, then deleted; its agent stream ends.
        new.skills.append(admin_pb2.SkillLevel(skill="sales", level=2))
        changed = await cluster.admin.PutAgent(new, timeout=T)
        assert {(s.skill, s.level) for s in changed.skills} == {("billing", 1), ("sales", 2)}
        stream = cluster.agents.StreamEvents(cluster.agent_request("east", "e9"), timeout=T)
        await stream.read()
        await cluster.admin.DeleteAgent(admin_pb2.GetRequest(site="east", name="e9"), timeout=T)
        assert await stream.read() is grpc.aio.EOF
        code, _ = await failure(cluster.admin.GetAgent(
            admin_pb2.GetRequest(site="east", name="e9"), timeout=T))
        assert code == grpc.StatusCode.NOT_FOUND
        # A deleted agent cannot log in; the site still routes.
        code, details = await failure(cluster.agents.Login(cluster.agent_request("east", "e9"), timeout=T))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("agent_id:")
    cluster.run(scenario())
    cluster.host.validate()


# ---- the SiteState methods behind Admin ---------------------------------------------------------
def site():
    state = SiteState(SiteConfig("s", skills=(SkillConfig("a"), SkillConfig("b")),
                                 agents=(AgentConfig("x", {"a": 1}),)))
    return state


def test_remove_and_replace_agent_only_when_logged_out():
    state = site()
    state.handle(ev.AgentLoggedIn(1.0, "x"))
    for change in (lambda: state.remove_agent("x"),
                   lambda: state.replace_agent(AgentConfig("x", {"b": 1}))):
        with pytest.raises(InvalidInput):
            change()
    state.handle(ev.AgentLoggedOut(2.0, "x"))
    with pytest.raises(InvalidInput):
        state.replace_agent(AgentConfig("x", {"zzz": 1}))
    assert state.agents["x"].config.skills == {"a": 1}       # the refused change changed nothing
    state.replace_agent(AgentConfig("x", {"b": 1}))
    state.handle(ev.AgentLoggedIn(3.0, "x"))
    state.handle(ev.AgentReady(3.0, "x"))
    actions = state.handle(ev.ContactArrived(4.0, "c", "b"))
    assert actions[0].agent_id == "x"
    state.validate()
    state.handle(ev.ContactAbandoned(5.0, "c"))
    state.handle(ev.AgentNotReady(5.0, "x"))
    state.handle(ev.AgentLoggedOut(5.0, "x"))
    state.remove_agent("x")
    assert "x" not in state.agents
    # The removed agent's scheduler slot is never chosen again.
    assert state.handle(ev.ContactArrived(6.0, "d", "b"))[0].__class__.__name__ == "ContactQueued"
    state.validate()


def test_update_and_remove_skill():
    state = site()
    with pytest.raises(InvalidInput) as raised:
        state.update_skill(SkillConfig("a", queueing="fifo"))
    assert raised.value.field == "skills.a.queueing"
    state.update_skill(SkillConfig("a", sl_threshold_s=50, offer_timeout_s=3))
    assert state.skills["a"].sl_threshold_s == 50
    with pytest.raises(InvalidInput):
        state.remove_skill("a")        # agent x has it
    state.handle(ev.ContactArrived(1.0, "c", "b"))
    with pytest.raises(InvalidInput):
        state.remove_skill("b")        # contact c waits in it
    state.handle(ev.ContactAbandoned(2.0, "c"))
    state.remove_skill("b")
    assert "b" not in state.skills
    with pytest.raises(InvalidInput):
        state.statistics("b")
    state.add_skill(SkillConfig("b", queueing="fifo"))          # again, with another mode
    state.handle(ev.ContactArrived(3.0, "d", "b"))
    assert state.statistics("b").queued[2] == 1
    state.validate()

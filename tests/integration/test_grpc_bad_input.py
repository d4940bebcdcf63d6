"""Every kind of bad input to every unary RPC: INVALID_ARGUMENT whose details start with the
request field at fault, and nothing changed (SPEC §9). The size limits (cluster/api_limits.py)
are reached exactly without a refusal."""

from __future__ import annotations

import math

import grpc
import pytest

from vcc.v1 import admin_pb2, agent_control_pb2, common_pb2, routing_pb2

pytestmark = pytest.mark.integration
T = 5.0
C = common_pb2.ContactSpec
R = routing_pb2
A = agent_control_pb2
M = admin_pb2


def spec(**fields):
    base = dict(contact_id="new", site="east", skill="billing")
    base.update(fields)
    return C(**base)


def skill(**fields):
    base = dict(site="east", name="claims")
    base.update(fields)
    return M.Skill(**base)


def agent(**fields):
    base = dict(site="east", agent_id="e9", skills=[M.SkillLevel(skill="billing", level=1)])
    base.update(fields)
    return M.Agent(**base)


# (stub, method, request, field named first in the details, words in the details)
CASES = [
    ("routing", "RouteContact", R.RouteContactRequest(), "contact", "required"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(contact_id="")),
     "contact.contact_id", "required"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(contact_id="c" * 257)),
     "contact.contact_id", "at most"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(contact_id="q1")),
     "contact.contact_id", "duplicate"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(site="")), "contact.site",
     "required"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(site="mars")), "contact.site",
     "unknown site 'mars'"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(skill="x")), "contact.skill",
     "unknown skill 'x'"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(priority=9)),
     "contact.priority", "unknown priority"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(channel=42)),
     "contact.channel", "unknown channel"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(service_objective_s=-1)),
     "contact.service_objective_s", "finite"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(service_objective_s=math.nan)),
     "contact.service_objective_s", "finite"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(service_objective_s=math.inf)),
     "contact.service_objective_s", "finite"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(data={"k" * 300: "v"})),
     "contact.data", "keys"),
    # Issue 15 item 5: sizes and printable ids, names and phone numbers.
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(contact_id="c" * 129)),
     "contact.contact_id", "at most 128 characters"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(contact_id="c\x001")),
     "contact.contact_id", "printable"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(contact_id="c\n1")),
     "contact.contact_id", "U+000A"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(site="east\x1b")),
     "contact.site", "printable"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(skill="bill\u200bing")),
     "contact.skill", "printable"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(ani="1" * 33)),
     "contact.ani", "at most 32 characters"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(ani="+1555\x00")),
     "contact.ani", "printable"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(dnis="8" * 33)),
     "contact.dnis", "at most 32 characters"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(customer_id="k" * 129)),
     "contact.customer_id", "at most 128 characters"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(customer_id="k\x07")),
     "contact.customer_id", "printable"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(
        data={f"k{n}": "v" for n in range(65)})), "contact.data", "at most 64 keys"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(data={"notes": "n" * 16_380})),
     "contact.data", "at most 16384 bytes"),
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(data={"notes": "é" * 8_190})),
     "contact.data", "got 16385"),           # 2 bytes a character in UTF-8
    ("routing", "RouteContact", R.RouteContactRequest(contact=spec(
        data={f"k{n}": "v" * 500 for n in range(40)})), "contact.data", "bytes"),
    ("routing", "AbandonContact", R.AbandonContactRequest(contact_id="q" * 129), "contact_id",
     "at most 128"),
    ("routing", "GetEwt", R.GetEwtRequest(site="ea\tst", skill="billing"), "site", "printable"),
    ("agents", "Login", A.AgentRequest(site="east", agent_id="e" * 129), "agent_id",
     "at most 128"),
    ("agents", "Login", A.AgentRequest(site="east", agent_id="e1\x00"), "agent_id", "printable"),
    ("agents", "SetState", A.SetStateRequest(site="east", agent_id="e3", reason="r" * 65,
                                             state=common_pb2.AGENT_STATE_NOT_READY), "reason",
     "at most 64"),
    ("agents", "SetState", A.SetStateRequest(site="east", agent_id="e3", reason="lunch\r\n",
                                             state=common_pb2.AGENT_STATE_NOT_READY), "reason",
     "printable"),
    ("agents", "RespondToOffer", A.OfferResponse(site="east", agent_id="e3", contact_id="c1\x00"),
     "contact_id", "printable"),
    ("admin", "PutSite", M.Site(name="n" * 65), "name", "at most 64"),
    ("admin", "PutSite", M.Site(name="north\x00"), "name", "printable"),
    ("admin", "PutSkill", skill(name="s" * 65), "name", "at most 64"),
    ("admin", "PutAgent", agent(agent_id="a" * 129), "agent_id", "at most 128"),
    ("admin", "PutAgent", agent(agent_id="a\u2028b"), "agent_id", "printable"),
    ("admin", "GetAgent", M.GetRequest(site="east", name="e1\x7f"), "name", "printable"),
    ("routing", "AbandonContact", R.AbandonContactRequest(), "contact_id", "required"),
    ("routing", "AbandonContact", R.AbandonContactRequest(contact_id="nope"), "contact_id",
     "unknown contact"),
    ("routing", "AbandonContact", R.AbandonContactRequest(contact_id="c1"), "contact_id",
     "connected"),
    ("routing", "AbandonContact", R.AbandonContactRequest(contact_id="gone"), "contact_id",
     "already finished"),
    ("routing", "AbandonContact", R.AbandonContactRequest(site="mars", contact_id="q1"), "site",
     "unknown site"),
    ("routing", "AbandonContact", R.AbandonContactRequest(site="west", contact_id="q1"), "site",
     "is at site 'east'"),
    ("routing", "GetEwt", R.GetEwtRequest(skill="billing"), "site", "required"),
    ("routing", "GetEwt", R.GetEwtRequest(site="mars", skill="billing"), "site", "unknown site"),
    ("routing", "GetEwt", R.GetEwtRequest(site="east"), "skill", "required"),
    ("routing", "GetEwt", R.GetEwtRequest(site="east", skill="x"), "skill", "unknown skill"),
    ("routing", "GetEwt", R.GetEwtRequest(site="east", skill="billing", priority=7), "priority",
     "unknown priority"),
    ("routing", "GetStatistics", R.GetStatisticsRequest(site="mars"), "site", "unknown site"),
    ("routing", "GetStatistics", R.GetStatisticsRequest(site="east", skill="x"), "skill",
     "unknown skill"),
    ("routing", "GetStatistics", R.GetStatisticsRequest(skill="x"), "skill", "unknown skill"),
    ("agents", "Login", A.AgentRequest(agent_id="e1"), "site", "required"),
    ("agents", "Login", A.AgentRequest(site="east"), "agent_id", "required"),
    ("agents", "Login", A.AgentRequest(site="east", agent_id="nobody"), "agent_id", "unknown agent"),
    ("agents", "Login", A.AgentRequest(site="mars", agent_id="e1"), "site", "unknown site"),
    ("agents", "Login", A.AgentRequest(site="east", agent_id="e1"), "agent_id", "already logged in"),
    ("agents", "Logout", A.AgentRequest(site="east", agent_id="e1"), "agent_id", "in progress"),
    ("agents", "Logout", A.AgentRequest(site="east", agent_id="e2"), "agent_id", "logged out"),
    ("agents", "SetState", A.SetStateRequest(site="east", agent_id="e3",
                                             state=common_pb2.AGENT_STATE_BUSY), "state", "must be"),
    ("agents", "SetState", A.SetStateRequest(site="east", agent_id="e3", state=99), "state",
     "must be"),
    ("agents", "SetState", A.SetStateRequest(site="east", agent_id="e3", reason="r" * 300,
                                             state=common_pb2.AGENT_STATE_NOT_READY), "reason",
     "at most"),
    ("agents", "WrapUpDone", A.AgentRequest(site="east", agent_id="e3"), "agent_id",
     "no contact in wrap_up"),
    ("agents", "RespondToOffer", A.OfferResponse(site="east", agent_id="e3", contact_id="c1",
                                                 accept=True), "contact_id", "not offered"),
    ("agents", "RespondToOffer", A.OfferResponse(site="east", agent_id="e3", contact_id="zz"),
     "contact_id", "unknown contact"),
    ("agents", "RespondToOffer", A.OfferResponse(site="east", agent_id="e3"), "contact_id",
     "required"),
    ("agents", "CompleteContact", A.ContactRequest(site="east", agent_id="e3", contact_id="c1"),
     "contact_id", "not connected"),
    ("agents", "CompleteContact", A.ContactRequest(site="east", agent_id="e1", contact_id="q1"),
     "contact_id", "not connected"),
    ("admin", "GetSite", M.GetRequest(), "name", "required"),
    ("admin", "PutSite", M.Site(name=""), "name", "required"),
    ("admin", "PutSite", M.Site(name="n" * 257), "name", "at most"),
    ("admin", "ListSkills", M.ListRequest(), "site", "required"),
    ("admin", "ListSkills", M.ListRequest(site="mars"), "site", "unknown site"),
    ("admin", "GetSkill", M.GetRequest(site="east"), "name", ""),
    ("admin", "PutSkill", skill(site="mars"), "site", "unknown site"),
    ("admin", "PutSkill", skill(name=""), "name", "required"),
    ("admin", "PutSkill", skill(queueing=9), "queueing", "unknown"),
    ("admin", "PutSkill", skill(sl_threshold_s=-1), "sl_threshold_s", "> 0"),
    ("admin", "PutSkill", skill(sl_threshold_s=math.nan), "sl_threshold_s", "> 0"),
    ("admin", "PutSkill", skill(agent_selection=-2), "agent_selection", "unknown"),
    ("admin", "PutSkill", skill(wrap_up_s=-1), "wrap_up_s", ">= 0"),
    ("admin", "PutSkill", skill(wrap_up_s=math.inf), "wrap_up_s", ">= 0"),
    ("admin", "PutSkill", skill(offer_timeout_s=-1), "offer_timeout_s", "> 0"),
    ("admin", "PutSkill", skill(max_queue_length=-1), "max_queue_length", ">= 0"),
    ("admin", "PutSkill", skill(widen_level=17), "widen_level", "1..16"),
    ("admin", "PutSkill", skill(widen_after_s=-5), "widen_after_s", ">= 0"),
    ("admin", "PutSkill", skill(service_objectives=[M.ServiceObjective(service_objective_s=3)]),
     "service_objectives[0].priority", "required"),
    ("admin", "PutSkill", skill(service_objectives=[M.ServiceObjective(
        priority=common_pb2.PRIORITY_TOP)]), "service_objectives[0].service_objective_s", "> 0"),
    ("admin", "PutSkill", skill(service_objectives=[
        M.ServiceObjective(priority=common_pb2.PRIORITY_TOP, service_objective_s=3),
        M.ServiceObjective(priority=common_pb2.PRIORITY_TOP, service_objective_s=4)]),
     "service_objectives[1].priority", "twice"),
    ("admin", "PutAgent", agent(site=""), "site", "required"),
    ("admin", "PutAgent", agent(agent_id=""), "agent_id", "required"),
    ("admin", "PutAgent", agent(skills=[]), "skills", "at least one"),
    ("admin", "PutAgent", agent(skills=[M.SkillLevel(skill="x", level=1)]), "skills[0].skill",
     "unknown skill"),
    ("admin", "PutAgent", agent(skills=[M.SkillLevel(skill="billing", level=0)]),
     "skills[0].level", "1..16"),
    ("admin", "PutAgent", agent(skills=[M.SkillLevel(skill="billing", level=1),
                                        M.SkillLevel(skill="billing", level=2)]),
     "skills[1].skill", "twice"),
    ("admin", "PutAgent", agent(capacities=[M.ChannelCapacity(capacity=1)]),
     "capacities[0].channel", "required"),
    ("admin", "PutAgent", agent(capacities=[M.ChannelCapacity(channel=99, capacity=1)]),
     "capacities[0].channel", "unknown channel"),
    ("admin", "PutAgent", agent(capacities=[M.ChannelCapacity(channel=common_pb2.CHANNEL_CHAT)]),
     "capacities[0].capacity", ">= 1"),
    ("admin", "PutAgent", agent(call_selection=5), "call_selection", "unknown"),
    ("admin", "PutAgent", agent(wrap_up_s=-1), "wrap_up_s", ">= 0"),
    ("admin", "ListAgents", M.ListRequest(site="mars"), "site", "unknown site"),
    ("admin", "GetAgent", M.GetRequest(site="east"), "name", "required"),
    ("admin", "DeleteAgent", M.GetRequest(site="mars", name="e1"), "site", "unknown site"),
    ("admin", "DeleteSkill", M.GetRequest(site="east"), "name", "required"),
    ("admin", "DeleteSite", M.GetRequest(), "name", "required"),
]


async def prepare(cluster):
    """e1 busy on c1, e3 logged in and not ready, q1 queued at east, `gone` finished."""
    await cluster.login_ready("east", "e1")
    await cluster.agents.Login(cluster.agent_request("east", "e3"), timeout=T)
    await cluster.route("c1", "east", "billing")
    await cluster.agents.RespondToOffer(A.OfferResponse(site="east", agent_id="e1",
                                                        contact_id="c1", accept=True), timeout=T)
    await cluster.route("q1", "east", "billing")
    await cluster.route("gone", "east", "billing")
    await cluster.routing.AbandonContact(R.AbandonContactRequest(contact_id="gone"), timeout=T)


@pytest.mark.parametrize("stub,method,request_message,field,words", CASES,
                         ids=[f"{case[1]}-{case[3]}-{number}" for number, case in enumerate(CASES)])
def test_bad_input_is_invalid_argument_naming_the_field_and_changes_nothing(
        cluster, stub, method, request_message, field, words):
    async def scenario():
        await prepare(cluster)
        before = cluster.fingerprint()
        try:
            await getattr(getattr(cluster, stub), method)(request_message, timeout=T)
        except grpc.aio.AioRpcError as error:
            return before, error.code(), error.details()
        return before, grpc.StatusCode.OK, ""
    before, code, details = cluster.run(scenario())
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert details.startswith(f"{field}: "), details
    assert words in details, details
    assert cluster.fingerprint() == before


def test_input_at_the_limits_is_taken(cluster):
    """Issue 15 item 5: the limits are inclusive (128-character ids, 32-character ANI and
    DNIS, 64 data keys, 16 KiB of keys and values in UTF-8; 64-character site and skill
    names and reason codes), and attached data comes back whole in the offer."""
    data = {f"k{n:02d}": "v" * 200 for n in range(63)}
    data["notes"] = "é" * ((16 * 1024 - sum(len(k) + len(v) for k, v in data.items())
                           - len("notes")) // 2)
    assert sum(len(k.encode()) + len(v.encode()) for k, v in data.items()) == 16 * 1024
    contact_id, customer_id = "c" * 128, "k" * 128
    ani, dnis = "sip:" + "a" * 28, "tel:" + "d" * 28       # (no long digit runs: masked)

    async def scenario():
        await cluster.admin.PutSite(M.Site(name="s" * 64), timeout=T)
        await cluster.admin.PutSkill(skill(name="b" * 64), timeout=T)
        await cluster.admin.PutAgent(agent(agent_id="a" * 128), timeout=T)
        await cluster.agents.Login(A.AgentRequest(site="east", agent_id="a" * 128), timeout=T)
        await cluster.agents.SetState(A.SetStateRequest(
            site="east", agent_id="a" * 128, state=common_pb2.AGENT_STATE_NOT_READY,
            reason="r" * 64), timeout=T)
        await cluster.login_ready("east", "e1")
        return await cluster.route(contact_id, "east", "billing", ani=ani, dnis=dnis,
                                   customer_id=customer_id, data=data)
    reply = cluster.run(scenario())
    assert reply.offer.contact_id == contact_id and reply.offer.agent_id == "e1"
    assert dict(reply.offer.data) == {**data, "ani": ani, "dnis": dnis,
                                      "customer_id": customer_id}

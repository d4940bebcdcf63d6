"""Routing (CRM) and AgentControl (CTI) over a real server: the happy path of every RPC,
Best Service Routing through the API, default service objectives, masking at ingress."""

from __future__ import annotations

import grpc
import pytest

from cluster.servicers.convert import PRIORITY_IN
from vcc.v1 import agent_control_pb2, common_pb2, routing_pb2

pytestmark = pytest.mark.integration
T = 5.0


def test_route_contact_offers_to_a_ready_agent_and_the_agent_answers(cluster):
    async def scenario():
        await cluster.login_ready("east", "e1")
        reply = await cluster.routing.RouteContact(
            routing_pb2.RouteContactRequest(contact=cluster.contact("c1", "east", "billing")), timeout=T)
        assert reply.WhichOneof("decision") == "offer"
        assert (reply.offer.agent_id, reply.offer.site, reply.offer.skill) == ("e1", "east", "billing")
        assert reply.offer.offer_deadline_s > 0
        assert not reply.HasField("interflow")
        accepted = await cluster.agents.RespondToOffer(agent_control_pb2.OfferResponse(
            site="east", agent_id="e1", contact_id="c1", accept=True), timeout=T)
        assert accepted.state.state == common_pb2.AGENT_STATE_BUSY
        cluster.clock.advance(60)
        done = await cluster.agents.CompleteContact(agent_control_pb2.ContactRequest(
            site="east", agent_id="e1", contact_id="c1"), timeout=T)
        assert done.state.state == common_pb2.AGENT_STATE_READY
        stats = await cluster.routing.GetStatistics(
            routing_pb2.GetStatisticsRequest(site="east", skill="billing"), timeout=T)
        (row,) = stats.skills
        assert (row.answered, row.staffed, row.ready, row.aht_s) == (1, 1, 1, 60.0)
    cluster.run(scenario())
    assert cluster.host.final_state("c1")[0].value == "completed"


def test_route_contact_queues_then_best_service_routing_moves_it(cluster):
    async def scenario():
        await cluster.login_ready("east", "e1")
        first = await cluster.route("c1", "east", "billing")
        assert first.WhichOneof("decision") == "offer"
        # Nobody free, nobody staffed elsewhere: queued at the entry site, position and EWT.
        second = await cluster.route("c2", "east", "billing")
        assert second.WhichOneof("decision") == "queued"
        assert (second.queued.site, second.queued.position) == ("east", 1)
        assert second.queued.ewt_known and second.queued.ewt_s == 180.0   # 1 agent, AHT guess
        assert not second.HasField("interflow")
        ewt = await cluster.routing.GetEwt(routing_pb2.GetEwtRequest(
            site="east", skill="billing", priority=common_pb2.PRIORITY_MEDIUM), timeout=T)
        assert ewt.ewt_known and ewt.ewt_s > 0
        # An agent frees up at west with nothing to do: it pulls c2 (agent surplus).
        await cluster.login_ready("west", "w1")
        pulled = await cluster.host.contact_view("c2")
        assert (pulled.site, pulled.entry_site, pulled.agent_id) == ("west", "east", "w1")
        # Both busy: the next contact goes where the (penalised) EWT is lower, queued there.
        third = await cluster.route("c3", "east", "billing")
        assert third.WhichOneof("decision") == "queued"
        assert (third.interflow.from_site, third.interflow.to_site) == ("east", "west")
        assert third.queued.site == "west"
        # The CRM may name the entry site: the contact is found where it is now.
        abandoned = await cluster.routing.AbandonContact(
            routing_pb2.AbandonContactRequest(site="east", contact_id="c3"), timeout=T)
        assert abandoned.final_state == common_pb2.CONTACT_STATE_ABANDONED
    cluster.run(scenario())
    assert cluster.host.final_state("c3") == (cluster.host.final_state("c3")[0], "west")


def test_ewt_is_unknown_when_nobody_is_staffed(cluster):
    reply = cluster.run(cluster.routing.GetEwt(routing_pb2.GetEwtRequest(
        site="west", skill="sales"), timeout=T))
    assert not reply.ewt_known


def test_full_queue_rejects(cluster):
    async def scenario():
        # sales: max_queue_length 2 and nobody logged in anywhere.
        decisions = []
        for number in range(3):
            reply = await cluster.routing.RouteContact(routing_pb2.RouteContactRequest(
                contact=cluster.contact(f"s{number}", "west", "sales")), timeout=T)
            decisions.append(reply.WhichOneof("decision"))
        assert decisions == ["queued", "queued", "rejected"]
    cluster.run(scenario())
    assert cluster.host.final_state("s2")[0].value == "rejected"


def test_default_service_objective_per_priority(cluster):
    async def scenario():
        for contact_id, priority, objective in (("t", common_pb2.PRIORITY_TOP, 0),
                                                ("h", common_pb2.PRIORITY_HIGH, 0),
                                                ("m", common_pb2.PRIORITY_MEDIUM, 0),
                                                ("x", common_pb2.PRIORITY_TOP, 42)):
            await cluster.routing.RouteContact(routing_pb2.RouteContactRequest(
                contact=cluster.contact(contact_id, "west", "billing", priority=priority,
                                service_objective_s=objective)), timeout=T)
    cluster.run(scenario())
    site = cluster.host.sites["west"]
    objectives = {cid: site.contacts[cid].service_objective_s for cid in "thmx"}
    # top and high from the skill's table; medium has none there: the SL threshold; explicit wins.
    assert objectives == {"t": 5.0, "h": 10.0, "m": 20.0, "x": 42.0}
    assert PRIORITY_IN[common_pb2.PRIORITY_UNSPECIFIED].name == "MEDIUM"


def test_card_numbers_are_masked_before_they_reach_the_offer(cluster):
    async def scenario():
        await cluster.login_ready("east", "e1")
        spec = cluster.contact("c1", "east", "billing", data={"card": "4111 1111 1111 1111",
                                                      "note": "call back"})
        spec.ani = "+15551234567"
        reply = await cluster.routing.RouteContact(routing_pb2.RouteContactRequest(contact=spec),
                                                   timeout=T)
        return reply.offer.data
    data = cluster.run(scenario())
    assert data["card"] == "4111 11** **** 1111"
    assert data["note"] == "call back" and data["ani"] == "+15551234567"
    assert "4111 1111 1111 1111" not in repr(cluster.host.sites["east"].contacts["c1"].data)


def test_statistics_of_every_site_and_skill(cluster):
    reply = cluster.run(cluster.routing.GetStatistics(routing_pb2.GetStatisticsRequest(),
                                                      timeout=T))
    rows = {(row.site, row.skill) for row in reply.skills}
    assert rows == {("east", "billing"), ("east", "sales"), ("west", "billing"),
                    ("west", "sales")}
    for row in reply.skills:
        assert list(row.queued) == [0, 0, 0, 0]
        assert list(row.ewt_s) == [-1.0] * 4        # nobody staffed: unknown
    only_sales = cluster.run(cluster.routing.GetStatistics(
        routing_pb2.GetStatisticsRequest(skill="sales"), timeout=T))
    assert {row.site for row in only_sales.skills} == {"east", "west"}


def test_routing_event_stream_with_filters(cluster):
    async def scenario():
        everything = cluster.routing.StreamEvents(routing_pb2.StreamEventsRequest(), timeout=T)
        west_offers = cluster.routing.StreamEvents(routing_pb2.StreamEventsRequest(
            sites=["west"], kinds=["offer"]), timeout=T)
        sales_only = cluster.routing.StreamEvents(routing_pb2.StreamEventsRequest(
            skills=["sales"]), timeout=T)
        for call in (everything, west_offers, sales_only):
            await call.initial_metadata()          # subscribed before anything happens
        await cluster.login_ready("west", "w1")
        await cluster.routing.RouteContact(routing_pb2.RouteContactRequest(
            contact=cluster.contact("c1", "east", "billing")), timeout=T)   # BSR: to w1 at west
        kinds = [(await everything.read()).WhichOneof("event") for _ in range(6)]
        # w1: not_ready (login), ready; c1 queued at east, interflow, offer at west, w1 reserved
        assert kinds[:2] == ["agent_state", "agent_state"]
        assert kinds[2:6] == ["queued", "interflow", "offer", "agent_state"]
        offer = await west_offers.read()
        assert offer.offer.contact_id == "c1" and offer.offer.site == "west"
        # w1 has sales: its state changes pass the skill filter, billing contacts do not.
        states = [await sales_only.read() for _ in range(2)]
        assert {event.WhichOneof("event") for event in states} == {"agent_state"}
        for call in (everything, west_offers, sales_only):
            call.cancel()
    cluster.run(scenario())


def test_agent_control_happy_path_and_agent_stream(cluster):
    async def scenario():
        stream = cluster.agents.StreamEvents(cluster.agent_request("east", "e3"), timeout=T)
        first = await stream.read()
        assert first.state_changed.state == common_pb2.AGENT_STATE_LOGGED_OUT
        login = await cluster.agents.Login(cluster.agent_request("east", "e3"), timeout=T)
        assert login.state.state == common_pb2.AGENT_STATE_NOT_READY
        assert login.state.reason == "logged_in"
        paused = await cluster.agents.SetState(agent_control_pb2.SetStateRequest(
            site="east", agent_id="e3", state=common_pb2.AGENT_STATE_NOT_READY, reason="lunch"),
            timeout=T)
        assert (paused.state.state, paused.state.reason) == (common_pb2.AGENT_STATE_NOT_READY, "lunch")
        # A chat waits; going ready offers it at once (in the reply and on the stream).
        await cluster.routing.RouteContact(routing_pb2.RouteContactRequest(contact=cluster.contact(
            "chat1", "east", "sales", channel=common_pb2.CHANNEL_CHAT)), timeout=T)
        ready = await cluster.agents.SetState(agent_control_pb2.SetStateRequest(
            site="east", agent_id="e3", state=common_pb2.AGENT_STATE_READY), timeout=T)
        assert [offer.contact_id for offer in ready.offers] == ["chat1"]
        assert ready.state.state == common_pb2.AGENT_STATE_RESERVED
        declined = await cluster.agents.RespondToOffer(agent_control_pb2.OfferResponse(
            site="east", agent_id="e3", contact_id="chat1", accept=False), timeout=T)
        # Declined and offered again to the only agent who can take it.
        assert [offer.contact_id for offer in declined.offers] == ["chat1"]
        await cluster.agents.RespondToOffer(agent_control_pb2.OfferResponse(
            site="east", agent_id="e3", contact_id="chat1", accept=True), timeout=T)
        cluster.clock.advance(30)
        completed = await cluster.agents.CompleteContact(agent_control_pb2.ContactRequest(
            site="east", agent_id="e3", contact_id="chat1"), timeout=T)
        assert completed.state.state == common_pb2.AGENT_STATE_WRAP_UP   # sales: 30 s wrap-up
        done = await cluster.agents.WrapUpDone(cluster.agent_request("east", "e3"), timeout=T)
        assert done.state.state == common_pb2.AGENT_STATE_READY
        await cluster.agents.SetState(agent_control_pb2.SetStateRequest(
            site="east", agent_id="e3", state=common_pb2.AGENT_STATE_NOT_READY), timeout=T)
        out = await cluster.agents.Logout(cluster.agent_request("east", "e3"), timeout=T)
        assert out.state.state == common_pb2.AGENT_STATE_LOGGED_OUT
        seen = []
        for _ in range(100):          # bounded: about 20 events are expected
            event = await stream.read()
            kind = event.WhichOneof("event")
            seen.append(kind if kind != "state_changed" else common_pb2.AgentState.Name(
                event.state_changed.state))
            if seen[-1] == "AGENT_STATE_LOGGED_OUT":
                break
        stream.cancel()
        return seen
    seen = cluster.run(scenario())
    assert seen[0] == "AGENT_STATE_NOT_READY"
    assert seen.count("offer") == 2 and seen.count("offer_revoked") == 0
    assert "contact_finished" in seen and "AGENT_STATE_WRAP_UP" in seen
    assert cluster.host.final_state("chat1")[0].value == "completed"


def test_offer_timeout_comes_from_the_host_timer(cluster):
    async def scenario():
        await cluster.login_ready("east", "e1")
        reply = await cluster.routing.RouteContact(routing_pb2.RouteContactRequest(
            contact=cluster.contact("c1", "east", "billing")), timeout=T)
        assert reply.offer.agent_id == "e1"
        cluster.clock.advance(15.5)     # billing's offer timeout is 15 s
        await cluster.host.tick()
        return await cluster.host.contact_view("c1")
    view = cluster.run(scenario())
    # Nobody else is ready: the contact is offered to e1 again, never lost.
    assert view.state.value == "offered" and view.agent_id == "e1"


def test_agent_stream_of_an_unknown_agent_is_invalid(cluster):
    async def scenario():
        call = cluster.agents.StreamEvents(cluster.agent_request("east", "nobody"), timeout=T)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call.read()
        return raised.value
    error = cluster.run(scenario())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("agent_id: unknown agent 'nobody'")


def test_each_routing_decision_is_a_span_when_tracing_is_on(cluster):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from cluster import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install_tracer_provider(provider)
    try:
        async def scenario():
            await cluster.login_ready("west", "w1")
            await cluster.route("c1", "east", "billing")
            await cluster.route("c2", "east", "billing")
        cluster.run(scenario())
    finally:
        tracing.install_tracer_provider(None)
    spans = {span.attributes["vcc.contact_id"]: span for span in exporter.get_finished_spans()
             if span.name == "vcc.route_contact"}
    assert spans["c1"].attributes["vcc.decision"] == "offer"
    assert spans["c1"].attributes["vcc.to_site"] == "west"
    assert spans["c2"].attributes["vcc.decision"] == "queued"

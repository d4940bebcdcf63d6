"""The Python client (cluster/client.py) against a real server on 127.0.0.1 (port 0).

VccClient: a CRM routes a contact and reads statistics. PbxLink: batched events out,
every action in exactly once, acknowledgements every `ack_every` handled actions (the
router keeps actions until a later `hello` acknowledges them), and a stream closed
mid-call that resumes after `reconnect()` without losing or repeating an action or a
contact. The conftest teardown then checks that every contact the test made ended in
exactly one final state.
"""

from __future__ import annotations

import asyncio

import pytest

from cluster.client import VccClient
from vcc.v1 import agent_control_pb2, call_control_pb2, common_pb2, routing_pb2

pytestmark = pytest.mark.integration
RPC_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 5.0


def arrived(contact_id, site="east", skill="billing"):
    return call_control_pb2.PbxEvent(arrived=common_pb2.ContactSpec(
        contact_id=contact_id, site=site, skill=skill))


def contact_event(kind, contact_id):
    return call_control_pb2.PbxEvent(**{kind: contact_id})


class Reader:
    """Reads one stream of a PbxLink (`messages()`), every wait bounded."""

    def __init__(self, link):
        self.link = link
        self.messages = link.messages()
        self.actions = []        # every action yielded, in order

    async def next(self):
        message = await asyncio.wait_for(self.messages.__anext__(), READ_TIMEOUT_S)
        self.actions.extend(message.actions)
        return message

    async def until(self, done, max_messages=50):
        """Read until `done(self)` holds (at most `max_messages` messages)."""
        for _ in range(max_messages):
            if done(self):
                return
            await self.next()
        assert done(self), [(a.seq, a.WhichOneof("action")) for a in self.actions]

    def of_kind(self, kind):
        return [getattr(action, kind) for action in self.actions
                if action.WhichOneof("action") == kind]

    async def close(self):
        await self.messages.aclose()


async def wait_for_state(predicate, timeout_s=READ_TIMEOUT_S):
    """Poll server-side state the test cannot read from the stream (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def login_ready(vcc, site, *agent_ids):
    for agent_id in agent_ids:
        await vcc.agents.Login(agent_control_pb2.AgentRequest(site=site, agent_id=agent_id),
                               timeout=RPC_TIMEOUT_S)
        await vcc.agents.SetState(agent_control_pb2.SetStateRequest(
            site=site, agent_id=agent_id, state=common_pb2.AGENT_STATE_READY),
            timeout=RPC_TIMEOUT_S)


def test_vcc_client_routes_a_contact_and_reads_statistics(cluster):
    async def scenario():
        async with VccClient(f"127.0.0.1:{cluster.port}") as vcc:
            await login_ready(vcc, "east", "e1")
            before = await vcc.routing.GetStatistics(routing_pb2.GetStatisticsRequest(
                site="east", skill="billing"), timeout=RPC_TIMEOUT_S)
            reply = await vcc.routing.RouteContact(routing_pb2.RouteContactRequest(
                contact=common_pb2.ContactSpec(contact_id="crm-1", site="east",
                                               skill="billing", ani="+4930123")),
                timeout=RPC_TIMEOUT_S)
            assert reply.WhichOneof("decision") == "offer"
            assert (reply.offer.agent_id, reply.offer.site) == ("e1", "east")
            assert reply.offer.data["ani"] == "+4930123"
            during = await vcc.routing.GetStatistics(routing_pb2.GetStatisticsRequest(
                site="east", skill="billing"), timeout=RPC_TIMEOUT_S)
            agent = dict(site="east", agent_id="e1", contact_id="crm-1")
            await vcc.agents.RespondToOffer(agent_control_pb2.OfferResponse(
                **agent, accept=True), timeout=RPC_TIMEOUT_S)
            await vcc.agents.CompleteContact(agent_control_pb2.ContactRequest(**agent),
                                             timeout=RPC_TIMEOUT_S)
            after = await vcc.routing.GetStatistics(routing_pb2.GetStatisticsRequest(
                site="east", skill="billing"), timeout=RPC_TIMEOUT_S)
            return before.skills[0], during.skills[0], after.skills[0]
    before, during, after = cluster.run(scenario())
    assert (before.site, before.skill, before.staffed, before.ready) == ("east", "billing", 1, 1)
    assert (during.ready, during.answered) == (0, 0)          # e1 is ringing
    assert (after.ready, after.answered) == (1, 1) and sum(after.queued) == 0
    assert cluster.host.final_state("crm-1")[0].value == "completed"


def test_pbx_link_batches_events_and_gets_each_action_once(cluster):
    async def scenario():
        async with VccClient(f"127.0.0.1:{cluster.port}") as vcc:
            await login_ready(vcc, "east", "e1", "e2")
            await login_ready(vcc, "west", "w1")
            # What reaches the router: one host batch per PbxMessage.
            batches = []
            apply_batch = cluster.host.apply_batch

            def spy(batch, **options):
                batches.append(len(batch))
                return apply_batch(batch, **options)
            cluster.host.apply_batch = spy
            link = vcc.pbx_link("pbx-batch", max_batch=2)
            await link.connect()
            reader = Reader(link)
            # Five calls over both sites, flushed as three messages of at most two events.
            link.send(arrived("b1"), arrived("b2", site="west"), arrived("b3"),
                      arrived("b4", site="west"), arrived("b5"))
            await link.flush()
            # Three agents: three offers; two calls queue (Best Service Routing may move a
            # queued call to the other site, where it queues again).
            await reader.until(lambda r: link.acked_event_seq >= 5 and len(
                {a.contact_id for a in r.of_kind("route_to_agent") + r.of_kind("queued")}) == 5)
            offered = {offer.contact_id: offer for offer in reader.of_kind("route_to_agent")}
            queued = {q.contact_id for q in reader.of_kind("queued")}
            assert len(offered) == 3 and sorted(set(offered) | queued) == ["b1", "b2", "b3", "b4",
                                                                            "b5"]
            # Answer and hang up every offered call in one message; the queued ones follow.
            link.send(*[contact_event("answered", c) for c in offered],
                      *[contact_event("ended", c) for c in offered])
            await link.flush()
            await reader.until(lambda r: len(r.of_kind("finished")) >= 3
                               and len(r.of_kind("route_to_agent")) == 5)
            rest = [offer.contact_id for offer in reader.of_kind("route_to_agent")][3:]
            link.send(*[contact_event("answered", c) for c in rest],
                      *[contact_event("ended", c) for c in rest])
            await link.flush()
            await reader.until(lambda r: len(r.of_kind("finished")) == 5)
            await reader.close()
            link.close_stream()
            return reader.actions, link, batches
    actions, link, batches = cluster.run(scenario())
    assert batches == [2, 2, 1, 2, 2, 2, 2, 2]     # 5 arrivals, 3 + 3 events, 2 + 2 events
    seqs = [action.seq for action in actions]
    assert seqs == list(range(1, len(seqs) + 1))           # each action once, none missing
    assert not [a for a in actions if a.WhichOneof("action") == "error"]
    finished = [a.finished for a in actions if a.WhichOneof("action") == "finished"]
    assert sorted(f.contact_id for f in finished) == ["b1", "b2", "b3", "b4", "b5"]
    assert {f.final_state for f in finished} == {common_pb2.CONTACT_STATE_COMPLETED}
    assert link.acked_event_seq == 15 and link.unacknowledged == 0


def test_pbx_link_acknowledges_every_ack_every_actions(cluster):
    async def scenario():
        async with VccClient(f"127.0.0.1:{cluster.port}") as vcc:
            router_link = cluster.host.link("pbx-ack")
            link = vcc.pbx_link("pbx-ack", ack_every=3)
            await link.connect()
            reader = Reader(link)
            seen = []
            # Nobody is ready: each call gets one `queued` action. One call at a time, so
            # that each action comes in a message of its own.
            for n in range(1, 8):
                link.send(arrived(f"q{n}"))
                await link.flush()
                await reader.until(lambda r, n=n: len(r.actions) >= n)
                # Asking for message n means messages 1..n-1 were handled: the router is told
                # at 3 and at 6, never in between (bounded poll for the hello to arrive).
                handled = n - 1
                await wait_for_state(
                    lambda h=handled: router_link.acked_action_seq == 3 * (h // 3))
                seen.append(router_link.acked_action_seq)
            assert link.last_action_seq == 7
            link.acknowledge()          # the rest, on demand
            await wait_for_state(lambda: router_link.acked_action_seq == 7)
            link.send(*[contact_event("abandoned", f"q{n}") for n in range(1, 8)])
            await link.flush()
            await reader.until(lambda r: len(r.of_kind("finished")) == 7)
            await reader.close()
            link.close_stream()
            return seen, reader.actions
    seen, actions = cluster.run(scenario())
    assert seen == [0, 0, 0, 3, 3, 3, 6]
    assert [a.seq for a in actions] == list(range(1, 15))
    assert [a.WhichOneof("action") for a in actions] == ["queued"] * 7 + ["finished"] * 7


def test_pbx_link_resumes_after_close_stream_without_losing_or_repeating(cluster):
    async def scenario():
        async with VccClient(f"127.0.0.1:{cluster.port}") as vcc:
            await login_ready(vcc, "east", "e1", "e2")
            link = vcc.pbx_link("pbx-resume", ack_every=2)
            await link.connect()
            reader = Reader(link)
            link.send(arrived("r1"), arrived("r2"), arrived("r3"))
            await link.flush()
            await reader.until(lambda r: len(r.actions) >= 3)
            assert [a.WhichOneof("action") for a in reader.actions] == [
                "route_to_agent", "route_to_agent", "queued"]
            first = reader.actions

            # r1 answered; then r1's hang-up and r2's answer go out, the router applies them
            # (r1 ends, e1 takes r3), and the stream breaks before the link has read any of
            # that: the two events are unacknowledged, the actions unseen.
            link.send(contact_event("answered", "r1"))
            await link.flush()
            await reader.until(lambda r: link.acked_event_seq >= 4)
            link.send(contact_event("ended", "r1"), contact_event("answered", "r2"))
            await link.flush()
            router_link = cluster.host.link("pbx-resume")
            await wait_for_state(lambda: router_link.applied_event_seq >= 6)
            link.close_stream()
            await reader.close()
            pending = link.unacknowledged
            # While the link is down the calls go on: r2 talks, r3 rings at e1.
            assert (await cluster.host.contact_view("r2")).state.value == "connected"
            assert (await cluster.host.contact_view("r3")).state.value == "offered"

            await link.reconnect()
            again = Reader(link)
            await again.until(lambda r: link.acked_event_seq >= 6
                              and any(o.contact_id == "r3" for o in r.of_kind("route_to_agent")))
            link.send(contact_event("ended", "r2"), contact_event("answered", "r3"),
                      contact_event("ended", "r3"))
            await link.flush()
            await again.until(lambda r: {f.contact_id for f in r.of_kind("finished")} >= {
                "r1", "r2", "r3"})
            # A second break after everything was read: resuming repeats nothing.
            link.close_stream()
            await again.close()
            await link.reconnect()
            third = Reader(link)
            message = await third.next()
            link.close_stream()
            await third.close()
            return first, again.actions, pending, message, link
    first, later, pending, message, link = cluster.run(scenario())
    actions = first + later
    seqs = [action.seq for action in actions]
    assert seqs == list(range(1, len(seqs) + 1))      # none lost, none repeated
    assert not message.actions and message.acked_event_seq == 9
    assert pending == 2       # re-sent on reconnect; the router applied each once:
    assert not [a for a in actions if a.WhichOneof("action") == "error"]   # no error
    finished = [a.finished.contact_id for a in actions if a.WhichOneof("action") == "finished"]
    assert sorted(finished) == ["r1", "r2", "r3"]
    assert [o.contact_id for o in (a.route_to_agent for a in actions
                                   if a.WhichOneof("action") == "route_to_agent")] == [
        "r1", "r2", "r3"]
    for contact_id in ("r1", "r2", "r3"):
        assert cluster.host.final_state(contact_id)[0].value == "completed"
    assert link.unacknowledged == 0


def test_pbx_link_keeps_its_messages_under_the_byte_budget(cluster):
    """Issue 15 item 3: `PbxLink` sent 256 events per message whatever their size; 256
    arrivals carrying 16 KiB of attached data each (the most a contact may carry) passed
    the router's 4 MiB receive limit, and the router refused the message (the link could
    not go on). Now a message holds at most MAX_MESSAGE_BYTES (1 MiB), on a first send and
    on the re-send after a reconnect."""
    from cluster.api_limits import MAX_DATA_BYTES, MAX_MESSAGE_BYTES

    sizes, applied = [], []

    async def scenario():
        async with VccClient(f"127.0.0.1:{cluster.port}") as vcc:
            link = vcc.pbx_link("pbx-heavy")
            await link.connect()
            outbox = link._outbox
            put = outbox.put

            async def measured(message):
                sizes.append(message.ByteSize())
                await put(message)
            outbox.put = measured
            notes = "n" * (MAX_DATA_BYTES - len("notes"))
            events = []
            for number in range(300):
                event = arrived(f"heavy-{number}")
                event.arrived.data["notes"] = notes
                events.append(event)
            link.send(*events)
            await link.flush()
            # The stream breaks before anything went out: reconnecting re-sends all 300.
            link.close_stream()
            assert link.unacknowledged == 300
            apply_batch = cluster.host.apply_batch

            def spy(batch, **options):
                applied.append(len(batch))
                return apply_batch(batch, **options)
            cluster.host.apply_batch = spy
            await link.reconnect()
            reader = Reader(link)
            await reader.until(lambda r: link.acked_event_seq >= 300, max_messages=400)
            await reader.close()
            link.close_stream()
            return link
    link = cluster.run(scenario(), timeout=60)
    assert link.unacknowledged == 0
    assert len(sizes) >= 5 and max(sizes) <= MAX_MESSAGE_BYTES, sizes
    # The router applies each message's events as one batch: 1 MiB holds 63 such arrivals.
    assert sum(applied) == 300 and max(applied) <= MAX_MESSAGE_BYTES // MAX_DATA_BYTES, applied

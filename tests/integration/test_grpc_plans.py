"""Routing plans over the real API (issue 17 item 5): a PBX sends a contact with only its
dialled number, gets the plan's IVR treatments as RouterActions, reports prompt completion,
collected digits and the caller's callback answer as events; RouteContact answers a dialled
contact with its first treatment; bad IVR events are refused naming the field."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from vcc.v1 import call_control_pb2 as cc
from vcc.v1 import common_pb2, routing_pb2

pytestmark = pytest.mark.integration
STREAM_TIMEOUT_S = 15.0

CENTER = """\
skills:
  billing: {sl_threshold_s: 20}
  sales: {sl_threshold_s: 30}
sites:
  east:
    agents:
      - {ids: [e1], skills: {billing: 1}}
      - {ids: [s1], skills: {sales: 1}}
entry_points:
  "8005550100": {service: care}
services:
  care:
    max_lines: 10
    schedule: [{otherwise: menu}]
plans:
  menu:
    - announce: {prompt: welcome, seconds: 30}
    - collect: {prompt: main_menu, max_digits: 1, timeout_s: 30, into: choice}
    - queue: {skill: sales, priority: high}
      if: {digits: {choice: "2"}}
    - queue: {skill: billing, priority: medium}
    - callback: {}
      if: {ewt: {gt: 5}}
    - wait: {seconds: 600, treatment: music}
"""


def dialled(seq, contact_id, dnis="8005550100", ani="+4930123456"):
    return cc.PbxEvent(seq=seq, arrived=common_pb2.ContactSpec(
        contact_id=contact_id, site="east", dnis=dnis, ani=ani))


class Pbx:
    def __init__(self, cluster, link_id):
        self.outbox = asyncio.Queue()
        outbox = self.outbox

        async def requests():
            while True:
                message = await outbox.get()
                if message is None:
                    return
                yield message
        self.call = cluster.calls.Connect(requests(), timeout=STREAM_TIMEOUT_S)
        first = cc.PbxMessage()
        first.hello.CopyFrom(cc.PbxHello(link_id=link_id))
        outbox.put_nowait(first)

    def send(self, *events):
        self.outbox.put_nowait(cc.PbxMessage(events=list(events)))

    async def until_acked(self, seq, max_messages=50):
        actions = []
        for _ in range(max_messages):
            message = await self.call.read()
            assert message is not grpc.aio.EOF
            actions.extend(message.actions)
            if message.acked_event_seq >= seq:
                return actions
        raise AssertionError(f"event {seq} never acknowledged")


def of(actions, field):
    return [getattr(action, field) for action in actions if action.HasField(field)]


def test_a_dialled_call_runs_its_plan_through_the_pbx_link(make_cluster):
    with make_cluster(CENTER) as cluster:
        async def scenario():
            await cluster.login_ready("east", "s1")
            pbx = Pbx(cluster, "pbx-ivr")
            pbx.send(dialled(1, "c1"))
            (ivr,) = of(await pbx.until_acked(1), "ivr")
            assert (ivr.kind, ivr.prompt, ivr.seconds, ivr.site) == ("announce", "welcome",
                                                                    30.0, "east")
            # Digits now are refused (the contact is at its announce step), naming the field.
            pbx.send(cc.PbxEvent(seq=2, digits_collected=cc.CollectedDigits(
                contact_id="c1", digits="2")))
            (error,) = of(await pbx.until_acked(2), "error")
            assert (error.event_seq, error.field) == (2, "digits_collected.contact_id")
            assert "announce" in error.message
            pbx.send(cc.PbxEvent(seq=3, prompt_finished="c1"))
            (ivr,) = of(await pbx.until_acked(3), "ivr")
            assert (ivr.kind, ivr.prompt, ivr.max_digits) == ("collect", "main_menu", 1)
            pbx.send(cc.PbxEvent(seq=4, digits_collected=cc.CollectedDigits(
                contact_id="c1", digits="22")))
            (error,) = of(await pbx.until_acked(4), "error")
            assert error.field == "digits_collected.digits"
            pbx.send(cc.PbxEvent(seq=5, digits_collected=cc.CollectedDigits(
                contact_id="c1", digits="2")))
            (offer,) = of(await pbx.until_acked(5), "route_to_agent")
            assert (offer.contact_id, offer.agent_id, offer.skill) == ("c1", "s1", "sales")
            assert offer.data["dnis"] == "8005550100" and not offer.callback
            pbx.send(cc.PbxEvent(seq=6, answered="c1"), cc.PbxEvent(seq=7, ended="c1"))
            finished = of(await pbx.until_acked(7), "finished")
            assert [(f.contact_id, f.final_state) for f in finished] == [
                ("c1", common_pb2.CONTACT_STATE_COMPLETED)]
            cluster.seen_contacts.add("c1")
        cluster.run(scenario())


def test_a_caller_accepts_a_callback_and_the_agent_gets_it_at_its_turn(make_cluster):
    with make_cluster(CENTER) as cluster:
        async def scenario():
            await cluster.login_ready("east", "e1")
            pbx = Pbx(cluster, "pbx-cb")
            # e1 busy with a plain call; c1 then waits in billing and is offered a callback.
            pbx.send(cc.PbxEvent(seq=1, arrived=common_pb2.ContactSpec(
                contact_id="busy", site="east", skill="billing")))
            await pbx.until_acked(1)
            pbx.send(cc.PbxEvent(seq=2, answered="busy"), dialled(3, "c1"),
                     cc.PbxEvent(seq=4, prompt_finished="c1"),
                     cc.PbxEvent(seq=5, digits_collected=cc.CollectedDigits(
                         contact_id="c1", digits="1")))
            actions = await pbx.until_acked(5)
            assert [ivr.kind for ivr in of(actions, "ivr")] == ["announce", "collect",
                                                               "callback_offer"]
            assert of(actions, "queued")[0].contact_id == "c1"
            pbx.send(cc.PbxEvent(seq=6, callback_chosen=cc.CallbackAnswer(
                contact_id="c1", accepted=True)),
                cc.PbxEvent(seq=7, ended="c1"))      # the caller's leg: expected, no-op
            actions = await pbx.until_acked(7)
            assert of(actions, "error") == [] and of(actions, "finished") == []
            pbx.send(cc.PbxEvent(seq=8, ended="busy"))
            actions = await pbx.until_acked(8)
            offers = of(actions, "route_to_agent")
            assert [(o.contact_id, o.agent_id, o.callback) for o in offers] == [
                ("c1", "e1", True)]
            pbx.send(cc.PbxEvent(seq=9, answered="c1"), cc.PbxEvent(seq=10, ended="c1"))
            finished = of(await pbx.until_acked(10), "finished")
            assert ("c1", common_pb2.CONTACT_STATE_COMPLETED) in [
                (f.contact_id, f.final_state) for f in finished]
            cluster.seen_contacts.update({"busy", "c1"})
        cluster.run(scenario())


def test_route_contact_with_only_a_dialled_number_gets_its_first_treatment(make_cluster):
    with make_cluster(CENTER) as cluster:
        async def scenario():
            reply = await cluster.routing.RouteContact(routing_pb2.RouteContactRequest(
                contact=common_pb2.ContactSpec(contact_id="r1", site="east",
                                               dnis="8005550100")))
            assert reply.WhichOneof("decision") == "ivr"
            assert (reply.ivr.kind, reply.ivr.prompt) == ("announce", "welcome")
            code, details = await _error(cluster.routing.RouteContact(
                routing_pb2.RouteContactRequest(contact=common_pb2.ContactSpec(
                    contact_id="r2", site="east", dnis="999"))))
            assert code is grpc.StatusCode.INVALID_ARGUMENT and "contact.dnis" in details
            code, details = await _error(cluster.routing.RouteContact(
                routing_pb2.RouteContactRequest(contact=common_pb2.ContactSpec(
                    contact_id="r3", site="east", dnis="8005550100",
                    priority=common_pb2.PRIORITY_HIGH))))
            assert code is grpc.StatusCode.INVALID_ARGUMENT and "contact.priority" in details
            await cluster.routing.AbandonContact(routing_pb2.AbandonContactRequest(
                contact_id="r1"))
            cluster.seen_contacts.add("r1")
        cluster.run(scenario())


async def _error(call):
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()
    raise AssertionError("the call succeeded")

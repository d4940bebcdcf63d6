"""Admin of routing plans over the real API (issue 17 item 5): the document read and changed
whole or one item at a time, checked whole (INVALID_ARGUMENT naming the key, nothing
changed), an emergency close of a calendar, and contacts already in a plan finishing the
version they started."""

from __future__ import annotations

import json

import grpc
import pytest

from vcc.v1 import admin_pb2, common_pb2, routing_pb2

pytestmark = pytest.mark.integration

CENTER = """\
skills:
  billing: {sl_threshold_s: 20}
sites:
  east:
    agents:
      - {ids: [e1], skills: {billing: 1}}
calendars:
  office: {timezone: Europe/Berlin, weekly: {mon-sun: "00:00-24:00"}}
entry_points:
  "100": {service: care}
services:
  care:
    max_lines: 10
    schedule: [{calendar: office, plan: open}, {otherwise: closed}]
plans:
  open:
    - announce: {prompt: welcome, seconds: 60}
    - queue: {skill: billing, priority: medium}
  closed:
    - self_service: {prompt: closed_message, seconds: 20}
"""


async def dial(cluster, contact_id, dnis="100"):
    return await cluster.routing.RouteContact(routing_pb2.RouteContactRequest(
        contact=common_pb2.ContactSpec(contact_id=contact_id, site="east", dnis=dnis)))


async def refused(call):
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()
    raise AssertionError("the call succeeded")


def test_plans_are_read_changed_and_checked_whole(make_cluster):
    with make_cluster(CENTER) as cluster:
        admin = cluster.admin

        async def scenario():
            document = json.loads((await admin.GetPlans(admin_pb2.GetPlansRequest())).json)
            assert set(document) == {"calendars", "entry_points", "services", "plans"}
            assert document["entry_points"] == {"100": {"service": "care"}}
            names = await admin.ListPlanItems(admin_pb2.PlanItemKey(kind="plans"))
            assert list(names.names) == ["closed", "open"]
            # An unknown skill: refused naming the key; nothing changed.
            bad = dict(document, plans={**document["plans"],
                                        "open": [{"queue": {"skill": "nope",
                                                            "priority": "low"}}]})
            code, details = await refused(admin.PutPlans(admin_pb2.PlanDocument(
                json=json.dumps(bad))))
            assert code is grpc.StatusCode.INVALID_ARGUMENT
            assert details.startswith("json.plans.open[0].queue.skill:"), details
            # Deleting a plan a service still uses: refused, naming the service's key.
            code, details = await refused(admin.DeletePlanItem(admin_pb2.PlanItemKey(
                kind="plans", name="closed")))
            assert code is grpc.StatusCode.INVALID_ARGUMENT and "services.care" in details
            code, _ = await refused(admin.GetPlanItem(admin_pb2.PlanItemKey(
                kind="plans", name="nope")))
            assert code is grpc.StatusCode.NOT_FOUND
            code, details = await refused(admin.ListPlanItems(admin_pb2.PlanItemKey(
                kind="nonsense")))
            assert code is grpc.StatusCode.INVALID_ARGUMENT and details.startswith("kind:")
            unchanged = json.loads((await admin.GetPlans(admin_pb2.GetPlansRequest())).json)
            assert unchanged == document
            # A new number with its own service and plan, one item at a time.
            await admin.PutPlanItem(admin_pb2.PlanItem(kind="plans", name="sales", json=json.dumps(
                [{"announce": {"prompt": "sales_hello", "seconds": 5}},
                 {"queue": {"skill": "billing", "priority": "high"}}])))
            await admin.PutPlanItem(admin_pb2.PlanItem(kind="services", name="sales_line",
                                                       json=json.dumps({
                                                           "max_lines": 5,
                                                           "schedule": [{"otherwise": "sales"}]})))
            reply = await admin.PutPlanItem(admin_pb2.PlanItem(
                kind="entry_points", name="200", json=json.dumps({"service": "sales_line"})))
            assert json.loads(reply.json)["entry_points"]["200"] == {"service": "sales_line"}
            first = await dial(cluster, "c-sales", dnis="200")
            assert (first.ivr.kind, first.ivr.prompt) == ("announce", "sales_hello")
            await cluster.routing.AbandonContact(routing_pb2.AbandonContactRequest(
                contact_id="c-sales"))
            cluster.seen_contacts.add("c-sales")
        cluster.run(scenario())


def test_an_emergency_close_and_contacts_finishing_their_version(make_cluster):
    with make_cluster(CENTER) as cluster:
        admin = cluster.admin

        async def scenario():
            before = await dial(cluster, "c1")                      # in `open`, announcing
            assert before.ivr.prompt == "welcome"
            # The plan changes while c1 is in it: c1 goes on with the version it started.
            await admin.PutPlanItem(admin_pb2.PlanItem(kind="plans", name="open", json=json.dumps(
                [{"announce": {"prompt": "new_welcome", "seconds": 5}},
                 {"disconnect": {}}])))
            assert (await dial(cluster, "c2")).ivr.prompt == "new_welcome"
            code, details = await refused(admin.OverrideCalendar(admin_pb2.CalendarOverride(
                calendar="nope", end="2999-01-01T00:00:00+00:00")))
            assert code is grpc.StatusCode.NOT_FOUND and details.startswith("calendar:")
            code, details = await refused(admin.OverrideCalendar(admin_pb2.CalendarOverride(
                calendar="office")))
            assert code is grpc.StatusCode.INVALID_ARGUMENT and details.startswith("end:")
            reply = await admin.OverrideCalendar(admin_pb2.CalendarOverride(
                calendar="office", end="2999-01-01T00:00:00+00:00", reason="storm"))
            overrides = json.loads(reply.json)["calendars"]["office"]["overrides"]
            assert [(o["state"], o["reason"]) for o in overrides] == [("closed", "storm")]
            closed = await dial(cluster, "c3")
            assert (closed.ivr.kind, closed.ivr.prompt) == ("self_service", "closed_message")
            # c1's old version: after its announce it is queued in billing (the new one
            # would disconnect it).
            await cluster.host.submit(None, [_prompt_finished("c1")])
            assert cluster.host.sites["east"].contacts["c1"].skill == "billing"
            for contact_id in ("c1", "c2", "c3"):
                await cluster.routing.AbandonContact(routing_pb2.AbandonContactRequest(
                    contact_id=contact_id))
                cluster.seen_contacts.add(contact_id)
        cluster.run(scenario())


def _prompt_finished(contact_id):
    from sites import events as ev
    return ev.PromptFinished(0.0, contact_id)

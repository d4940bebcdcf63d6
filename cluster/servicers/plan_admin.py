"""Admin's routing-plan calls (README, "Routing plans"): the document in force, read or
changed whole or one item at a time, and dated calendar overrides (an emergency close).
`cluster/plan_admin.py` makes the new document; the host checks it whole and applies it."""

from __future__ import annotations

from cluster import plan_admin
from cluster.servicers import convert
from cluster.servicers.errors import invalid, unary
from vcc.v1 import admin_pb2


class PlanAdministration:
    """Admin's routing-plan calls (a mixin of AdminServicer: it uses `self.host`)."""

    def _reply(self, document: dict) -> admin_pb2.PlanDocument:
        return admin_pb2.PlanDocument(json=plan_admin.show(document))

    async def _put(self, document: dict) -> admin_pb2.PlanDocument:
        """The plans from now on; the campaigns whose call window names a calendar that
        changed read the new one at once (cluster/campaigns/hosting.py)."""
        source = await self.host.put_plans(document)
        campaigns = getattr(self, "campaigns", None)
        if campaigns is not None and campaigns.host is not None:
            await campaigns.calendars_changed(self.host.plans.calendars)
        return self._reply(source)

    @unary()
    async def GetPlans(self, request, context):
        return self._reply(self.host.plan_document())

    @unary("json.")
    async def PutPlans(self, request, context):
        document = plan_admin.parse_document(request.json, "")
        return await self._put(document)

    @unary()
    async def ListPlanItems(self, request, context):
        names = plan_admin.names(self.host.plan_document(), request.kind)
        return admin_pb2.ListPlanItemsReply(names=names)

    @unary()
    async def GetPlanItem(self, request, context):
        value = plan_admin.item(self.host.plan_document(), request.kind, request.name)
        return admin_pb2.PlanItem(kind=request.kind, name=request.name,
                                  json=plan_admin.show(value))

    @unary()
    async def PutPlanItem(self, request, context):
        plan_admin.kind_of(request.kind)
        name = convert.name(request.name, "name", limit=convert.MAX_NAME)
        value = plan_admin.parse_value(request.json, "json")
        document = plan_admin.with_item(self.host.plan_document(), request.kind, name, value)
        return await self._put(document)

    @unary()
    async def DeletePlanItem(self, request, context):
        document = plan_admin.without_item(self.host.plan_document(), request.kind,
                                           request.name)
        return await self._put(document)

    @unary()
    async def OverrideCalendar(self, request, context):
        calendar = convert.name(request.calendar, "calendar", limit=convert.MAX_NAME)
        start = request.start or plan_admin.now_iso(
            self.host.wall_clock.epoch(self.host.now()))
        if not request.end:
            raise invalid("end", "required: when the override ends")
        document = plan_admin.with_override(
            self.host.plan_document(), calendar, start, request.end,
            "open" if request.open else "closed", convert.text(request.reason, "reason"))
        return await self._put(document)


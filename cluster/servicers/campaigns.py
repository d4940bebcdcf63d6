"""Admin's campaign calls (SPEC §6): put, get, list, start, pause, stop, list import, a
statistics stream per campaign, and the do-not-call lists (add, remove, count: keys only in
the store, never a number back). A mixin of AdminServicer (same role: admin); the work is
in cluster/campaigns/ (store.py, hosting.py). Without a customer store (`vcc serve`
without `--db`) every call is FAILED_PRECONDITION: the lists live there.
"""

from __future__ import annotations

import asyncio
import math

import grpc

from cluster.campaigns import definition, rows
from cluster.customers import csv_rows
from cluster.servicers import convert
from cluster.servicers.errors import NO_STORE, RequestError, in_store, invalid, status_of, unary
from sites.errors import InvalidInput, NotFound
from vcc.v1 import admin_pb2

_STATES = {name: index + 1 for index, name in enumerate(definition.STATES)}
_FIGURES = ("attempts", "live_answers", "machines", "busy", "no_answer", "failed", "connected",
            "abandoned", "abandon_pct", "max_window_abandon_pct", "list_dialled",
            "calls_up", "retries_scheduled", "messages_played")
DEFAULT_INTERVAL_S = 2.0
MAX_NUMBERS_PER_CALL = 10_000


class CampaignAdministration:
    """Needs `self.campaigns` (a CampaignHost or None), `self.campaign_store` and
    `self.has_store` (whether the server has a customer store)."""

    async def _store(self):
        if self.campaigns is None:
            raise NO_STORE
        if not await self.campaigns.until_resumed():
            raise RequestError(grpc.StatusCode.UNAVAILABLE, "campaign",
                               "the router is still resuming its campaigns; retry shortly")
        return self.campaign_store

    async def _message(self, name: str) -> admin_pb2.Campaign:
        document, state, records = await in_store(None, (await self._store()).get, name)
        return definition.message_of(document, self.campaigns.state_of(name, state), records,
                                     admin_pb2.Campaign())

    @unary()
    async def PutCampaign(self, request, context):
        store = await self._store()
        convert.name(request.name, "name", limit=convert.MAX_NAME)
        if request.site not in self.host.site_names():
            raise invalid("site", f"unknown site {request.site[:64]!r}")
        if request.skill not in await self.host.skills_of(request.site):
            raise invalid("skill", f"unknown skill {request.skill[:64]!r} at site "
                                   f"{request.site!r}")
        document = definition.document_of(request)
        # InvalidInput naming the field (`call_window`: a calendar of the routing plans).
        definition.config_of(document,
                             definition.call_window_of(document, self.host.plans.calendars))
        if self.campaigns.state_of(request.name, "draft") == "running":
            raise RequestError(grpc.StatusCode.FAILED_PRECONDITION, "name",
                               f"campaign {request.name!r} is running: pause it first")
        await in_store(None, store.put, document)
        hosted = self.campaigns.hosted.get(request.name)
        if hosted is not None:          # paused here: it goes on with the new settings later
            raise RequestError(grpc.StatusCode.FAILED_PRECONDITION, "name",
                               f"campaign {request.name!r} has a pacer in this server: "
                               "its configuration is changed only before it starts")
        return await self._message(request.name)

    @unary()
    async def GetCampaign(self, request, context):
        await self._store()
        return await self._message(convert.name(request.name, "name"))

    @unary()
    async def ListCampaigns(self, request, context):
        store = await self._store()
        reply = admin_pb2.ListCampaignsReply()
        for document, state, records in await in_store(None, store.all):
            definition.message_of(document, self.campaigns.state_of(document["name"], state),
                                  records, reply.campaigns.add())
        return reply

    @unary()
    async def StartCampaign(self, request, context):
        store = await self._store()
        name = convert.name(request.name, "name")
        document, state, records = await in_store(None, store.get, name)
        await in_store(None, self.campaigns.load_secret)
        new_state = await self.campaigns.start(
            document, state, records, lambda: in_store(None, store.list_rows, name))
        await in_store(None, store.set_state, name, new_state)
        return await self._message(name)

    @unary()
    async def PauseCampaign(self, request, context):
        store = await self._store()
        name = convert.name(request.name, "name")
        await in_store(None, store.get, name)
        await in_store(None, store.set_state, name, self.campaigns.pause(name))
        return await self._message(name)

    @unary()
    async def StopCampaign(self, request, context):
        store = await self._store()
        name = convert.name(request.name, "name")
        await in_store(None, store.get, name)
        await in_store(None, store.set_state, name, await self.campaigns.stop(name))
        return await self._message(name)

    @unary()
    async def ImportCampaignList(self, request, context):
        store = await self._store()
        name = convert.name(request.campaign, "campaign")
        if len(request.rows) > rows.MAX_ROWS_PER_CALL:
            raise invalid("rows", f"at most {rows.MAX_ROWS_PER_CALL:,} rows a call; got "
                                  f"{len(request.rows):,}")
        checked, first = [], {}
        for index, row in enumerate(request.rows):
            try:
                values = rows.checked(row.id, row.phone, row.timezone, row.customer_id)
            except rows.RowError as error:
                raise invalid(f"rows[{index}].{error.column}", error.problem) from None
            if values[0] in first:
                raise invalid(f"rows[{index}].id", f"given twice (first as rows[{first[values[0]]}])")
            first[values[0]] = index
            checked.append(values)
        added, updated, unchanged, records = await in_store(None, store.import_rows, name,
                                                            checked)
        return admin_pb2.CampaignListReply(added=added, updated=updated, unchanged=unchanged,
                                           records=records)

    @unary()
    async def AddDoNotCall(self, request, context):
        return await self._change_do_not_call(request, add=True)

    @unary()
    async def RemoveDoNotCall(self, request, context):
        return await self._change_do_not_call(request, add=False)

    @unary()
    async def CountDoNotCall(self, request, context):
        campaign = await self._do_not_call_campaign(request.campaign)
        lists = self.campaigns.do_not_call
        return admin_pb2.DoNotCallReply(
            global_numbers=await in_store(None, lists.count, ""),
            campaign_numbers=await in_store(None, lists.count, campaign) if campaign else 0)

    async def _do_not_call_campaign(self, name: str) -> str:
        """"" (the global list) or the name of a campaign in the store."""
        store = await self._store()
        if not name:
            return ""
        name = convert.name(name, "campaign")
        try:
            await in_store(None, store.get, name)
        except NotFound:
            raise NotFound("campaign", f"no campaign {name!r}") from None
        return name

    async def _change_do_not_call(self, request, add: bool):
        campaign = await self._do_not_call_campaign(request.campaign)
        await in_store(None, self.campaigns.load_secret)
        if not request.numbers:
            raise invalid("numbers", "at least one number")
        if len(request.numbers) > MAX_NUMBERS_PER_CALL:
            raise invalid("numbers", f"at most {MAX_NUMBERS_PER_CALL:,} numbers a call; got "
                                     f"{len(request.numbers):,}")
        numbers = []
        for index, value in enumerate(request.numbers):
            try:
                numbers.append(csv_rows.phone(value, None))    # the problem masks the number
            except ValueError as error:
                raise invalid(f"numbers[{index}]", str(error)) from None
        lists = self.campaigns.do_not_call

        async def write(scope, add_keys, remove_keys):
            return await in_store(None, lists.change, scope, add_keys, remove_keys)

        added, removed, size = await self.campaigns.change_do_not_call(
            campaign, numbers if add else [], [] if add else numbers, write)
        changed = len(added) if add else len(removed)
        global_size = size if not campaign else await in_store(None, lists.count, "")
        return admin_pb2.DoNotCallReply(
            changed=changed, unchanged=len(numbers) - changed, global_numbers=global_size,
            campaign_numbers=size if campaign else 0)

    async def StreamCampaignStatistics(self, request, context):
        try:
            await self._store()
            name = convert.name(request.campaign, "campaign")
            interval = request.interval_s or DEFAULT_INTERVAL_S
            if not math.isfinite(interval) or not 0.2 <= interval <= 3600:
                raise invalid("interval_s", f"must be 0.2 .. 3600 (0: {DEFAULT_INTERVAL_S:g}); "
                                            f"got {request.interval_s!r}")
            _, _, stored_records = await in_store(None, self.campaign_store.get, name)
        except (RequestError, InvalidInput) as error:
            await context.abort(*status_of(error))
        last = None
        while True:
            try:
                state, time_s, figures = self.campaigns.hosted_figures(name)
            except NotFound:
                state, time_s, figures = "draft", 0.0, {}
            message = admin_pb2.CampaignStatistics(
                campaign=name, state=_STATES[state], time_s=time_s,
                records=figures.get("records", stored_records),
                **{key: figures.get(key, 0) for key in _FIGURES})
            if message != last:
                yield message
                last = message
            await asyncio.sleep(interval)

"""AgentControl (CTI): agent login, state, wrap-up, desktop offers, and a per-agent event stream."""

from __future__ import annotations

import grpc

from cluster.servicers import convert
from cluster.servicers.errors import invalid, raise_first_error, status_of, unary
from cluster.servicers.streams import OVERFLOW_DETAILS, Writer
from cluster.servicers.wrap_up import keep_disposition
from sites import events as ev
from sites.actions import OfferContact
from sites.errors import PreconditionFailed
from sites.model import ContactState
from vcc.v1 import agent_control_pb2, agent_control_pb2_grpc, common_pb2

_KIND_FIELD = {"offer": "offer", "offer_revoked": "offer_revoked",
               "agent_state": "state_changed", "finished": "contact_finished",
               "preview": "preview"}


def _agent(request) -> tuple[str, str]:
    return convert.name(request.site, "site"), convert.name(request.agent_id, "agent_id")


class AgentControlServicer(agent_control_pb2_grpc.AgentControlServicer):
    """`pops`: screen pops for the offers (cluster/customers/screen_pop.py); `customer_store`:
    the Engine that CompleteContact's disposition is written to (None: not written);
    `campaigns`: the campaigns' host (cluster/campaigns/hosting.py; None: no campaigns),
    whose preview campaigns give agents records to preview."""

    def __init__(self, host, *, pops=None, customer_store=None, campaigns=None):
        self.host = host
        self.pops = pops
        self.customer_store = customer_store
        self.campaigns = campaigns

    async def _apply(self, site, agent_id, event) -> agent_control_pb2.AgentReply:
        """Apply one event at the agent's site; reply with its state and the offers it got."""
        results = await self.host.submit(site, [event])
        raise_first_error(results)
        state, reason = await self.host.agent_state(site, agent_id)
        reply = agent_control_pb2.AgentReply(
            state=convert.agent_state(site, agent_id, state, reason))
        for routed in results[0].actions:
            action = routed.action
            if type(action) is OfferContact and action.agent_id == agent_id and routed.site == site:
                await self._pop_ready(action)
                reply.offers.append(convert.offer(routed.site, action, pops=self.pops))
        return reply

    @staticmethod
    async def _write_all(writer, events) -> bool:
        for event in events:
            if not await writer.write(event):
                return False
        return True

    async def _pop_ready(self, offer: OfferContact) -> None:
        """An offer waits for its caller's screen pop, if it is still being made."""
        if self.pops is not None and self.pops.building:
            await self.pops.ready((offer.contact_id,))

    @unary()
    async def Login(self, request, context):
        site, agent_id = _agent(request)
        return await self._apply(site, agent_id, ev.AgentLoggedIn(0.0, agent_id))

    @unary()
    async def Logout(self, request, context):
        site, agent_id = _agent(request)
        return await self._apply(site, agent_id, ev.AgentLoggedOut(0.0, agent_id))

    @unary()
    async def SetState(self, request, context):
        site, agent_id = _agent(request)
        reason = convert.text(request.reason, "reason")
        if request.state == common_pb2.AGENT_STATE_READY:
            event = ev.AgentReady(0.0, agent_id)
        elif request.state == common_pb2.AGENT_STATE_NOT_READY:
            event = ev.AgentNotReady(0.0, agent_id, reason)
        else:
            raise invalid("state", f"must be AGENT_STATE_READY or AGENT_STATE_NOT_READY; "
                                   f"got {request.state}")
        return await self._apply(site, agent_id, event)

    @unary()
    async def WrapUpDone(self, request, context):
        site, agent_id = _agent(request)
        return await self._apply(site, agent_id, ev.WrapUpDone(0.0, agent_id))

    async def _own_contact(self, request, expected: ContactState) -> tuple[str, str, str]:
        """(site, agent, contact) after checking the contact is `expected` with this agent."""
        site, agent_id = _agent(request)
        contact_id = convert.name(request.contact_id, "contact_id")
        await self.host.agent_state(site, agent_id)          # the agent exists at the site
        view = await self.host.contact_view(contact_id)
        if view is not None and (view.state is not expected or view.agent_id != agent_id
                                 or view.site != site):
            raise invalid("contact_id", f"contact {contact_id!r} is not {expected.value} "
                                        f"with agent {agent_id!r} at site {site!r}")
        return site, agent_id, contact_id

    @unary()
    async def RespondToOffer(self, request, context):
        site, agent_id, contact_id = await self._own_contact(request, ContactState.OFFERED)
        event = (ev.OfferAccepted if request.accept else ev.OfferRejected)(0.0, contact_id)
        return await self._apply(site, agent_id, event)

    @unary()
    async def CompleteContact(self, request, context):
        site, agent_id, contact_id = await self._own_contact(request, ContactState.CONNECTED)
        # Kept before the contact ends: a disposition that cannot be kept (an unknown offer)
        # refuses the request, and nothing changes.
        await keep_disposition(self.customer_store, self.pops, request, contact_id, agent_id)
        return await self._apply(site, agent_id, ev.ContactEnded(0.0, contact_id))

    @unary()
    async def FinishPreview(self, request, context):
        site, agent_id = _agent(request)
        name = convert.name(request.campaign, "campaign")
        record_id = convert.name(request.record_id, "record_id")
        if self.campaigns is None:
            raise PreconditionFailed("campaign", "no campaigns here (vcc serve without --db)")
        await self.campaigns.preview_done(site, agent_id, name, record_id, request.dial)
        state, reason = await self.host.agent_state(site, agent_id)
        return agent_control_pb2.AgentReply(
            state=convert.agent_state(site, agent_id, state, reason))

    async def StreamEvents(self, request, context):
        try:
            site, agent_id = _agent(request)
            # Subscribed before the current state is read: nothing happens in between.
            subscription = self.host.subscribe_agent(site, agent_id)
            state, reason = await self.host.agent_state(site, agent_id)
        except Exception as error:
            code, details = status_of(error)
            await context.abort(code, details)
        writer = Writer(context, subscription.stopped)
        try:
            await writer.start()
            current = [agent_control_pb2.AgentEvent(
                state_changed=convert.agent_state(site, agent_id, state, reason))]
            # A record it previews now (one sent meanwhile may come twice: the same record).
            if self.campaigns is not None and self.campaigns.host is not None:
                current += [agent_control_pb2.AgentEvent(preview=convert.payload(routed)[1])
                            for routed in self.campaigns.previews_for(site, agent_id)]
            if await self._write_all(writer, current):
                while True:
                    batch = await subscription.next_batch()
                    if not batch:
                        break
                    for routed in batch:
                        if type(routed.action) is OfferContact:
                            await self._pop_ready(routed.action)
                        field, message = convert.payload(routed, self.pops)
                        event = agent_control_pb2.AgentEvent(**{_KIND_FIELD[field]: message})
                        if not await writer.write(event):
                            break
        finally:
            writer.close()
            self.host.unsubscribe(subscription)
        if subscription.overflowed:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                OVERFLOW_DETAILS.format(limit=subscription.limit))

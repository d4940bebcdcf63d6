"""Routing (CRM): route a contact, abandon it, ask for EWT and statistics, follow events."""

from __future__ import annotations

import asyncio

import grpc

from cluster.figures import skill_statistics
from cluster.host import Interflowed
from cluster.servicers import convert
from cluster.servicers.errors import invalid, raise_first_error, status_of, unary
from cluster.servicers.streams import OVERFLOW_DETAILS, Writer
from cluster.tracing import routing_span
from sites import events as ev
from sites.actions import AgentStateChanged, ContactQueued, IvrTreatment, OfferContact
from vcc.v1 import common_pb2, routing_pb2, routing_pb2_grpc


def _ewt(value) -> float:
    return -1.0 if value is None else value


class RoutingServicer(routing_pb2_grpc.RoutingServicer):
    def __init__(self, host, callers=None, metrics=None):
        self.host = host
        self.callers = callers      # the caller's tier and pop (cluster/customers/callers.py)
        self.pops = callers.pops if callers is not None else None
        self.metrics = metrics      # route latency (cluster/metrics.py); None: not measured

    @unary(fields="contact.")
    async def RouteContact(self, request, context):
        received = asyncio.get_running_loop().time()
        reply = await self._route(request)
        if self.metrics is not None:
            self.metrics.route_latency.record(asyncio.get_running_loop().time() - received)
        return reply

    async def _route(self, request):
        if not request.HasField("contact"):
            raise invalid("contact", "required")
        site, arrival = convert.contact_arrival(request.contact, "contact.")
        if self.callers is not None:
            await self.callers.identify(arrival)
        with routing_span("vcc.route_contact", arrival.contact_id, site=site,
                          skill=arrival.skill) as span:
            (result,) = await self.host.submit(site, [arrival])
            if result.error is not None:
                span.set(decision="refused", error_field=result.error.field)
            else:
                decision, interflow = convert.decision(arrival.contact_id, result.actions)
                span.set(decision=convert.KIND[type(decision.action)], routed_site=decision.site,
                         to_site=interflow.action.to_site if interflow else None)
        raise_first_error([result], "contact.")
        reply = routing_pb2.RouteContactReply()
        action = decision.action
        kind = type(action)
        if kind is OfferContact:
            if self.pops is not None and self.pops.building:
                await self.pops.ready((action.contact_id,))
            convert.offer(decision.site, action, into=reply.offer, pops=self.pops)
        elif kind is ContactQueued:
            reply.queued.CopyFrom(convert.queue_treatment(decision.site, action))
        elif kind is IvrTreatment:
            reply.ivr.CopyFrom(convert.ivr_treatment(decision.site, action))
        else:
            reply.rejected.CopyFrom(convert.rejection(action))
        if interflow is not None:
            reply.interflow.CopyFrom(convert.interflow(interflow.action))
        return reply

    @unary()
    async def AbandonContact(self, request, context):
        contact_id = convert.name(request.contact_id, "contact_id")
        site = convert.name(request.site, "site", required=False) or None
        results = await self.host.submit(site, [ev.ContactAbandoned(0.0, contact_id)])
        raise_first_error(results)
        final = self.host.final_state(contact_id)
        return routing_pb2.AbandonContactReply(
            final_state=convert.CONTACT_STATE_OUT[final[0]] if final else
            common_pb2.CONTACT_STATE_UNSPECIFIED)

    @unary()
    async def GetEwt(self, request, context):
        site = convert.name(request.site, "site")
        skill = convert.name(request.skill, "skill")
        level = convert.priority(request.priority, "priority")
        statistics = await self.host.statistics(site, skill)
        ewt = statistics.ewt_s[level.value]
        return routing_pb2.GetEwtReply(ewt_known=ewt is not None, ewt_s=ewt or 0.0)

    @unary()
    async def GetStatistics(self, request, context):
        site = convert.name(request.site, "site", required=False)
        skill = convert.name(request.skill, "skill", required=False)
        sites = [site] if site else self.host.site_names()
        reply = routing_pb2.GetStatisticsReply()
        for name in sites:
            skills = await self.host.skills_of(name)
            if skill:
                if site and skill not in skills:
                    raise invalid("skill", f"unknown skill {skill!r} at site {site!r}")
                skills = [skill] if skill in skills else []
            for skill_name, s in await skill_statistics(self.host, name, skills):
                reply.skills.append(routing_pb2.SkillStatistics(
                    site=name, skill=skill_name, staffed=s.staffed, ready=s.ready,
                    queued=list(s.queued), oldest_wait_known=s.oldest_wait_s is not None,
                    oldest_wait_s=s.oldest_wait_s or 0.0, ewt_s=[_ewt(e) for e in s.ewt_s],
                    answered=s.answered, abandoned=s.abandoned, asa_s=s.asa_s or 0.0,
                    sl_pct=s.sl_pct or 0.0, sl2_pct=s.sl2_pct or 0.0, aht_s=s.aht_s or 0.0))
        if skill and not site and not reply.skills:
            raise invalid("skill", f"unknown skill {skill!r}")
        return reply

    def _filter(self, request):
        """The predicate of a StreamEvents request, after validating its filters."""
        known_sites = set(self.host.site_names())
        for number, site in enumerate(request.sites):
            convert.name(site, f"sites[{number}]")
            if site not in known_sites:
                raise invalid(f"sites[{number}]", f"unknown site {site!r}")
        for number, skill in enumerate(request.skills):
            convert.name(skill, f"skills[{number}]")
        for number, kind in enumerate(request.kinds):
            if kind not in convert.KINDS:
                raise invalid(f"kinds[{number}]", f"unknown kind {kind!r} (kinds: "
                                                  f"{', '.join(sorted(convert.KINDS))})")
        sites, skills, kinds = set(request.sites), set(request.skills), set(request.kinds)
        if not (sites or skills or kinds):
            return None
        host = self.host

        def accepts(routed) -> bool:
            action = routed.action
            if kinds and convert.KIND[type(action)] not in kinds:
                return False
            if sites and routed.site not in sites and not (
                    type(action) is Interflowed and action.to_site in sites):
                return False
            if skills:
                if type(action) is AgentStateChanged:
                    return host.agent_has_skill(routed.site, action.agent_id, skills)
                return routed.skill in skills
            return True
        return accepts

    async def StreamEvents(self, request, context):
        try:
            accepts = self._filter(request)
        except Exception as error:
            code, details = status_of(error)
            await context.abort(code, details)
        subscription = self.host.subscribe_routing(accepts)
        writer = Writer(context, subscription.stopped)
        try:
            # Headers now: the client knows it is subscribed before the first event.
            await writer.start()
            while True:
                batch = await subscription.next_batch()
                if not batch:
                    break
                for routed in batch:
                    if not await writer.write(convert.routing_event(routed)):
                        break
        finally:
            writer.close()
            self.host.unsubscribe(subscription)
        if subscription.overflowed:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                OVERFLOW_DETAILS.format(limit=subscription.limit))

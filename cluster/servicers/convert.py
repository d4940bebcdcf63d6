"""Translation between the vcc.v1 messages and the core's events and actions (no logic).

Input helpers validate what protobuf cannot: required names, bounded lengths, enum values
inside the known range (proto3 enums are open: any int arrives), finite numbers. Each names
the request field it checked.
"""

from __future__ import annotations

import math

from cluster.host import EventRejected, Interflowed
from cluster.masking import mask_data
from cluster.servicers.errors import invalid
from sites import events as ev
from sites.actions import (
    AgentStateChanged,
    ContactFinished,
    ContactQueued,
    ContactRejected,
    OfferContact,
    OfferRevoked,
)
from sites.model import AgentState, Channel, ContactState, Priority
from vcc.v1 import call_control_pb2, common_pb2, routing_pb2

MAX_NAME = 256          # ids and names: a PBX call id or agent login, not a document

PRIORITY_IN = {common_pb2.PRIORITY_UNSPECIFIED: Priority.MEDIUM}
PRIORITY_IN.update({common_pb2.Priority.Value(f"PRIORITY_{p.name}"): p for p in Priority})
PRIORITY_OUT = {p: common_pb2.Priority.Value(f"PRIORITY_{p.name}") for p in Priority}
CHANNEL_IN = {common_pb2.CHANNEL_UNSPECIFIED: Channel.VOICE}
CHANNEL_IN.update({common_pb2.Channel.Value(f"CHANNEL_{c.name}"): c for c in Channel})
CHANNEL_OUT = {c: common_pb2.Channel.Value(f"CHANNEL_{c.name}") for c in Channel}
AGENT_STATE_OUT = {s: common_pb2.AgentState.Value(f"AGENT_STATE_{s.name}") for s in AgentState}
CONTACT_STATE_OUT = {s: common_pb2.ContactState.Value(f"CONTACT_STATE_{s.name}")
                     for s in ContactState}
# The same for the per-action conversions, keyed by the members' raw values: hashing a plain
# Enum member is a Python call (Enum.__hash__), hashing its int or str value is not.
_CHANNEL_OUT_BY_VALUE = {c._value_: number for c, number in CHANNEL_OUT.items()}
_CONTACT_STATE_OUT_BY_VALUE = {s._value_: number for s, number in CONTACT_STATE_OUT.items()}


# ---- input ---------------------------------------------------------------------------------------
def name(value: str, field: str, *, required: bool = True) -> str:
    if not value:
        if required:
            raise invalid(field, "required")
        return value
    if len(value) > MAX_NAME:
        raise invalid(field, f"at most {MAX_NAME} characters; got {len(value)}")
    return value


def text(value: str, field: str) -> str:
    """Free text such as a reason code: may be empty, bounded like a name."""
    return name(value, field, required=False)


def priority(value: int, field: str) -> Priority:
    member = PRIORITY_IN.get(value)
    if member is None:
        raise invalid(field, f"unknown priority {value}")
    return member


def channel(value: int, field: str) -> Channel:
    member = CHANNEL_IN.get(value)
    if member is None:
        raise invalid(field, f"unknown channel {value}")
    return member


def finite(value: float, field: str, *, minimum: float = 0.0) -> float:
    if not math.isfinite(value) or value < minimum:
        raise invalid(field, f"must be a finite number >= {minimum:g}; got {value!r}")
    return value


def attached_data(spec) -> dict:
    """The contact's attached data, with ANI, DNIS and customer id for the screen pop."""
    # Most contacts carry none: converting an empty protobuf map costs ~3 µs, skipped.
    data = dict(spec.data) if len(spec.data) else {}
    for key in ("ani", "dnis", "customer_id"):
        value = getattr(spec, key)
        if value:
            data.setdefault(key, value)
    # Card numbers are masked here, at ingress, before the data reaches the core, an offer,
    # a span or a log (SPEC §9).
    return mask_data(data) if data else data


def contact_arrival(spec, prefix: str) -> tuple[str, ev.ContactArrived]:
    """(entry site, ContactArrived) of a ContactSpec; field names start with `prefix`."""
    contact_id, site, skill = spec.contact_id, spec.site, spec.skill
    # Fast path for the valid case (a PBX sends thousands a second); on a problem the
    # checks run one by one, in field order, so the first bad field is the one named.
    if not (contact_id and site and skill) or max(
            len(contact_id), len(site), len(skill)) > MAX_NAME:
        name(contact_id, prefix + "contact_id")
        name(site, prefix + "site")
        name(skill, prefix + "skill")
    level = PRIORITY_IN.get(spec.priority)
    if level is None:
        level = priority(spec.priority, prefix + "priority")
    kind = CHANNEL_IN.get(spec.channel)
    if kind is None:
        kind = channel(spec.channel, prefix + "channel")
    objective = spec.service_objective_s
    if objective != 0:
        if not math.isfinite(objective) or objective < 0:
            raise invalid(prefix + "service_objective_s",
                          f"must be a finite number > 0 (0: the skill's); got {objective!r}")
    if len(spec.data):
        for key in spec.data:
            if len(key) > MAX_NAME:
                raise invalid(prefix + "data", f"keys are at most {MAX_NAME} characters")
    return site, ev.ContactArrived(0.0, contact_id, skill, level, objective or None, kind,
                                   attached_data(spec))


# ---- output --------------------------------------------------------------------------------------
_DECISIONS = (OfferContact, ContactQueued, ContactRejected)


def decision(contact_id: str, routed_actions) -> tuple:
    """(Routed offer/queued/rejected, Routed Interflowed or None) of a contact's arrival.
    The last decision wins: after an interflow it is the new site's."""
    made, moved = None, None
    for routed in routed_actions:
        action = routed.action
        if getattr(action, "contact_id", None) != contact_id:
            continue
        if type(action) in _DECISIONS:
            made = routed
        elif type(action) is Interflowed:
            moved = routed
    return made, moved


def offer(site: str, action: OfferContact, into=None) -> common_pb2.Offer:
    """The Offer message of an action; `into`: an Offer field of a message being built,
    filled in place (no copy)."""
    message = common_pb2.Offer() if into is None else into
    message.contact_id = action.contact_id
    message.agent_id = action.agent_id
    message.site = site
    message.skill = action.skill
    message.channel = _CHANNEL_OUT_BY_VALUE[action.channel._value_]
    message.offer_deadline_s = action.deadline
    if action.data:
        message.data.update({str(k): str(v) for k, v in action.data.items()})
    return message


def queue_treatment(site: str, action: ContactQueued) -> common_pb2.QueueTreatment:
    known = action.ewt_s is not None
    return common_pb2.QueueTreatment(contact_id=action.contact_id, site=site,
                                     position=action.position, ewt_known=known,
                                     ewt_s=action.ewt_s if known else 0.0)


def rejection(action: ContactRejected) -> common_pb2.Rejection:
    return common_pb2.Rejection(contact_id=action.contact_id, reason=action.reason)


def interflow(action: Interflowed) -> common_pb2.Interflow:
    return common_pb2.Interflow(contact_id=action.contact_id, from_site=action.from_site,
                                to_site=action.to_site)


def finished(site: str, action: ContactFinished, into=None) -> common_pb2.ContactFinished:
    message = common_pb2.ContactFinished() if into is None else into
    message.contact_id = action.contact_id
    message.final_state = _CONTACT_STATE_OUT_BY_VALUE[action.final_state._value_]
    message.site = site
    return message


def agent_state(site: str, agent_id: str, state: AgentState, reason: str):
    return common_pb2.AgentStateChange(agent_id=agent_id, site=site,
                                       state=AGENT_STATE_OUT[state], reason=reason)


def offer_revoked(site: str, action: OfferRevoked) -> common_pb2.OfferRevoked:
    return common_pb2.OfferRevoked(contact_id=action.contact_id, agent_id=action.agent_id,
                                   site=site, reason=action.reason)


# The routing-event kinds (Routing.StreamEvents filters) and the oneof field of each.
KIND = {OfferContact: "offer", ContactQueued: "queued", Interflowed: "interflow",
        ContactRejected: "rejected", ContactFinished: "finished",
        OfferRevoked: "offer_revoked", AgentStateChanged: "agent_state"}
KINDS = frozenset(KIND.values())


def payload(routed):
    """(oneof field name shared by RoutingEvent and RouterAction, message) of a Routed action."""
    action, site = routed.action, routed.site
    kind = type(action)
    if kind is OfferContact:
        return "offer", offer(site, action)
    if kind is ContactQueued:
        return "queued", queue_treatment(site, action)
    if kind is Interflowed:
        return "interflow", interflow(action)
    if kind is ContactRejected:
        return "rejected", rejection(action)
    if kind is ContactFinished:
        return "finished", finished(site, action)
    if kind is OfferRevoked:
        return "offer_revoked", offer_revoked(site, action)
    if kind is AgentStateChanged:
        return "agent_state", agent_state(site, action.agent_id, action.state, action.reason)
    raise TypeError(f"no message for {kind.__name__}")


def routing_event(routed) -> routing_pb2.RoutingEvent:
    field, message = payload(routed)
    return routing_pb2.RoutingEvent(time_s=routed.time, **{field: message})


# RouterAction names some oneof fields differently from RoutingEvent.
_ROUTER_FIELD = {"offer": "route_to_agent", "rejected": "reject"}


def router_message(acked_event_seq: int, batch) -> call_control_pb2.RouterMessage:
    """A RouterMessage of (seq, Routed or EventRejected) pairs, built in place: each action is
    added to the message and the common ones (offers, finished) filled there. Building each
    action as a message of its own and then the RouterMessage from them copies every action
    twice (measured: about 3 times the cost per action)."""
    message = call_control_pb2.RouterMessage(acked_event_seq=acked_event_seq)
    add = message.actions.add
    for seq, item in batch:
        action = item.action if type(item) is not EventRejected else item
        kind = type(action)
        if kind is OfferContact:
            offer(item.site, action, into=add(seq=seq).route_to_agent)
        elif kind is ContactFinished:
            finished(item.site, action, into=add(seq=seq).finished)
        elif kind is EventRejected:
            error = add(seq=seq).error
            error.event_seq = item.event_seq
            error.contact_id = item.contact_id
            error.field = item.field
            error.message = item.problem
        else:
            field, payload_message = payload(item)
            getattr(add(seq=seq), _ROUTER_FIELD.get(field, field)).CopyFrom(payload_message)
    return message

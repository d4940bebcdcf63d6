"""Translation between the vcc.v1 messages and the core's events and actions (no logic).

Input helpers validate what protobuf cannot: required names, bounded lengths and sizes (the
limits of cluster/api_limits.py, documented in README "The gRPC API"), printable ids and
names, enum values inside the known range (proto3 enums are open: any int arrives), finite
numbers. Each names the request field it checked. Every RPC's ids, names, contacts and reason
codes pass through here, so the limits hold for all of them in one place.
"""

from __future__ import annotations

import math

from cluster.api_limits import (
    MAX_DATA_BYTES,
    MAX_DATA_KEYS,
    MAX_ID,
    MAX_MESSAGE_BYTES,
    MAX_NAME,
    MAX_NOTES,
    MAX_OFFER_RESULTS,
    MAX_PHONE,
)
from cluster.host import EventRejected, Interflowed
from cluster.host_interface import OutboundCall, RecordPreview
from sites.dialer.decisions import Drop, PlayMessage
from cluster.masking import mask_card_numbers, mask_data
from cluster.servicers.errors import invalid
from sites import events as ev
from sites.actions import (
    AgentStateChanged,
    ContactFinished,
    ContactQueued,
    ContactRejected,
    IvrTreatment,
    OfferContact,
    OfferRevoked,
)
from sites.model import AgentState, Channel, ContactState, Priority
from vcc.v1 import agent_control_pb2, call_control_pb2, common_pb2, routing_pb2

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
def name(value: str, field: str, *, required: bool = True, limit: int = MAX_ID) -> str:
    """An id or a name: at most `limit` characters (ids MAX_ID; site and skill names, when
    created, MAX_NAME), printable (no control characters, NUL, line breaks or invisible
    format characters: they would reach logs, records and other systems as they are)."""
    if not value:
        if required:
            raise invalid(field, "required")
        return value
    if len(value) > limit:
        raise invalid(field, f"at most {limit} characters; got {len(value)}")
    if not value.isprintable():
        raise invalid(field, _not_printable(value))
    return value


def _not_printable(value: str) -> str:
    position, char = next((i, c) for i, c in enumerate(value) if not c.isprintable())
    return (f"must be printable: no control, format or separator characters but the space "
            f"(character {position} is U+{ord(char):04X})")


def text(value: str, field: str) -> str:
    """A reason code: may be empty, bounded like a site or skill name, printable; card
    numbers in it are masked as it enters (SPEC §9), like attached data."""
    return mask_card_numbers(name(value, field, required=False, limit=MAX_NAME))


def notes(value: str, field: str) -> str:
    """Free text an agent wrote: may be empty, at most MAX_NOTES characters; line breaks
    and tabs allowed, other control characters not; card numbers masked as it enters."""
    if len(value) > MAX_NOTES:
        raise invalid(field, f"at most {MAX_NOTES} characters; got {len(value)}")
    bad = next((i for i, c in enumerate(value) if not c.isprintable() and c not in "\n\t"),
               None)
    if bad is not None:
        raise invalid(field, f"must be printable text (line breaks and tabs allowed): "
                             f"character {bad} is U+{ord(value[bad]):04X}")
    return mask_card_numbers(value)


def disposition(request, contact_id: str, agent_id: str):
    """The agent's wrap-up in a ContactRequest or Disposition message, checked; a falsy
    Disposition when it gives none."""
    from cluster.customers.dispositions import Disposition

    results = []
    if len(request.offer_results) > MAX_OFFER_RESULTS:
        raise invalid("offer_results", f"at most {MAX_OFFER_RESULTS}; got "
                                       f"{len(request.offer_results)}")
    for index, given in enumerate(request.offer_results):
        results.append(offer_result(given, f"offer_results[{index}]."))
    code = text(request.disposition, "disposition")
    return Disposition(contact_id, agent_id, code or None, notes(request.notes, "notes"),
                       tuple(results))


def offer_result(given, prefix: str = ""):
    """What became of an offer (an OfferResult, or the same fields of an OfferOutcome),
    checked; fields named after `prefix`. `accepted` needs its order reference (the store
    keeps one only with `accepted`)."""
    from cluster.customers.dispositions import OfferResult
    from cluster.store.models import OUTCOMES

    offer_id = name(given.offer_id, prefix + "offer_id", limit=MAX_NAME)
    if given.result not in OUTCOMES:
        raise invalid(prefix + "result", f"must be one of {', '.join(OUTCOMES)}; got "
                                         f"{given.result!r}")
    order = name(given.order_reference, prefix + "order_reference", required=False)
    if given.result == "accepted" and not order:
        raise invalid(prefix + "order_reference", "required when the offer is accepted")
    return OfferResult(offer_id, given.result, order or None)


def phone(value: str, field: str) -> str:
    """ANI or DNIS: may be empty, at most MAX_PHONE characters, printable."""
    return name(value, field, required=False, limit=MAX_PHONE)


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


def attached_data(spec, data: dict | None = None) -> dict:
    """The contact's attached data (`data`: `spec.data` as a dict, if already made), with
    ANI, DNIS and customer id for the screen pop."""
    if data is None:
        # Most contacts carry none: converting an empty protobuf map costs ~3 µs, skipped.
        data = dict(spec.data) if len(spec.data) else {}
    for key in ("ani", "dnis", "customer_id"):
        value = getattr(spec, key)
        if value:
            data.setdefault(key, value)
    # Card numbers are masked here, at ingress, before the data reaches the core, an offer,
    # a span or a log (SPEC §9).
    return mask_data(data) if data else data


def _data(spec, field: str) -> dict:
    """`spec.data` as a dict, within MAX_DATA_KEYS entries and MAX_DATA_BYTES of keys and
    values (UTF-8)."""
    return bounded_map(dict(spec.data), field)


def bounded_map(data: dict, field: str) -> dict:
    """A string map (attached data, a customer's attributes) within MAX_DATA_KEYS entries
    and MAX_DATA_BYTES of keys and values (UTF-8), keys at most MAX_ID characters."""
    if len(data) > MAX_DATA_KEYS:
        raise invalid(field, f"at most {MAX_DATA_KEYS} keys; got {len(data)}")
    size = 0
    for key, value in data.items():
        if len(key) > MAX_ID:
            raise invalid(field, f"keys are at most {MAX_ID} characters; got {len(key)}")
        size += len(key) + len(value)
    # A character is at most 4 bytes in UTF-8: count bytes only when it could matter.
    if size * 4 > MAX_DATA_BYTES:
        size = sum(len(key.encode()) + len(value.encode()) for key, value in data.items())
        if size > MAX_DATA_BYTES:
            raise invalid(field, f"at most {MAX_DATA_BYTES} bytes of keys and values (UTF-8); "
                                 f"got {size}")
    return data


def contact_arrival(spec, prefix: str) -> tuple[str, ev.ContactArrived]:
    """(entry site, ContactArrived) of a ContactSpec; field names start with `prefix`."""
    contact_id, site, skill = spec.contact_id, spec.site, spec.skill
    if not skill and spec.dnis:
        return _dialled_arrival(spec, prefix)
    # Fast path for the valid case (a PBX sends thousands a second); on a problem the
    # checks run one by one, in field order, so the first bad field is the one named.
    if not (contact_id and site and skill) or max(
            len(contact_id), len(site), len(skill)) > MAX_ID or not (
            contact_id.isprintable() and site.isprintable() and skill.isprintable()):
        name(contact_id, prefix + "contact_id")
        name(site, prefix + "site")
        name(skill, prefix + "skill")
    # Not given: the caller's customer tier's (SPEC §7; medium without tiers), in the core.
    level = None if spec.priority == common_pb2.PRIORITY_UNSPECIFIED \
        else PRIORITY_IN.get(spec.priority)
    if level is None and spec.priority != common_pb2.PRIORITY_UNSPECIFIED:
        level = priority(spec.priority, prefix + "priority")
    kind = CHANNEL_IN.get(spec.channel)
    if kind is None:
        kind = channel(spec.channel, prefix + "channel")
    objective = spec.service_objective_s
    if objective != 0:
        if not math.isfinite(objective) or objective < 0:
            raise invalid(prefix + "service_objective_s",
                          f"must be a finite number > 0 (0: the skill's); got {objective!r}")
    ani, dnis, customer_id = spec.ani, spec.dnis, spec.customer_id
    if ani or dnis or customer_id:
        phone(ani, prefix + "ani")
        phone(dnis, prefix + "dnis")
        name(customer_id, prefix + "customer_id", required=False)
    data = _data(spec, prefix + "data") if len(spec.data) else {}
    return site, ev.ContactArrived(0.0, contact_id, skill, level, objective or None, kind,
                                   attached_data(spec, data))


def _dialled_arrival(spec, prefix: str) -> tuple[str, ev.ContactArrived]:
    """A contact with a dialled number and no skill: its routing plan decides skill,
    priority and objective (README, "Routing plans"), so it may not give them."""
    contact_id = name(spec.contact_id, prefix + "contact_id")
    site = name(spec.site, prefix + "site")
    if spec.priority != common_pb2.PRIORITY_UNSPECIFIED:
        raise invalid(prefix + "priority", "a contact with a dialled number and no skill "
                                           "leaves the priority to its routing plan")
    if spec.service_objective_s != 0:
        raise invalid(prefix + "service_objective_s", "a contact with a dialled number and "
                                                      "no skill leaves it to its routing plan")
    kind = CHANNEL_IN.get(spec.channel)
    if kind is None:
        kind = channel(spec.channel, prefix + "channel")
    phone(spec.ani, prefix + "ani")
    dnis = phone(spec.dnis, prefix + "dnis")
    name(spec.customer_id, prefix + "customer_id", required=False)
    data = _data(spec, prefix + "data") if len(spec.data) else {}
    return site, ev.ContactArrived(0.0, contact_id, None, channel=kind,
                                   data=attached_data(spec, data), dnis=dnis)


# ---- output --------------------------------------------------------------------------------------
_DECISIONS = (OfferContact, ContactQueued, ContactRejected)


def decision(contact_id: str, routed_actions) -> tuple:
    """(Routed offer/queued/rejected, Routed Interflowed or None) of a contact's arrival.
    The last decision wins: after an interflow it is the new site's. A dialled number's
    contact may have none yet: its plan's first IVR treatment is the decision then."""
    made, moved, ivr = None, None, None
    for routed in routed_actions:
        action = routed.action
        if getattr(action, "contact_id", None) != contact_id:
            continue
        if type(action) in _DECISIONS:
            made = routed
        elif type(action) is Interflowed:
            moved = routed
        elif type(action) is IvrTreatment and ivr is None:
            ivr = routed
    return made or ivr, moved


def offer(site: str, action: OfferContact, into=None, pops=None) -> common_pb2.Offer:
    """The Offer message of an action; `into`: an Offer field of a message being built,
    filled in place (no copy). `pops` (cluster/customers/screen_pop.py): the caller's screen
    pop, for messages to the agent and the PBX (never to routing-event listeners)."""
    message = common_pb2.Offer() if into is None else into
    message.contact_id = action.contact_id
    message.agent_id = action.agent_id
    message.site = site
    message.skill = action.skill
    message.channel = _CHANNEL_OUT_BY_VALUE[action.channel._value_]
    message.offer_deadline_s = action.deadline
    if action.data:
        message.data.update({str(k): str(v) for k, v in action.data.items()})
    if action.callback:
        message.callback = True
    if pops is not None:
        pops.attach(message)
    return message


def ivr_treatment(site: str, action: IvrTreatment) -> common_pb2.IvrTreatment:
    message = common_pb2.IvrTreatment(contact_id=action.contact_id, site=site, kind=action.kind)
    for field in ("prompt", "seconds", "max_digits", "treatment", "to", "target", "reason"):
        value = getattr(action, field)
        if value is not None:
            setattr(message, field, value)
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
        OfferRevoked: "offer_revoked", AgentStateChanged: "agent_state", IvrTreatment: "ivr"}
KINDS = frozenset(KIND.values())


def payload(routed, pops=None):
    """(oneof field name shared by RoutingEvent and RouterAction, message) of a Routed action
    (`pops`: see `offer`)."""
    action, site = routed.action, routed.site
    kind = type(action)
    if kind is OfferContact:
        return "offer", offer(site, action, pops=pops)
    if kind is ContactQueued:
        return "queued", queue_treatment(site, action)
    if kind is Interflowed:
        return "interflow", interflow(action)
    if kind is ContactRejected:
        return "rejected", rejection(action)
    if kind is ContactFinished:
        if pops is not None:
            pops.forget(action.contact_id)
        return "finished", finished(site, action)
    if kind is OfferRevoked:
        return "offer_revoked", offer_revoked(site, action)
    if kind is AgentStateChanged:
        return "agent_state", agent_state(site, action.agent_id, action.state, action.reason)
    if kind is IvrTreatment:
        return "ivr", ivr_treatment(site, action)
    if kind is RecordPreview:
        return "preview", agent_control_pb2.PreviewRecord(
            campaign=action.campaign, record_id=action.record_id,
            customer_id=action.customer_id)
    raise TypeError(f"no message for {kind.__name__}")


def routing_event(routed) -> routing_pb2.RoutingEvent:
    field, message = payload(routed)
    return routing_pb2.RoutingEvent(time_s=routed.time, **{field: message})


# RouterAction names some oneof fields differently from RoutingEvent.
_ROUTER_FIELD = {"offer": "route_to_agent", "rejected": "reject"}


def router_message(acked_event_seq: int, batch, pops=None) -> call_control_pb2.RouterMessage:
    """A RouterMessage of (seq, Routed or EventRejected) pairs, built in place: each action is
    added to the message and the common ones (offers, finished) filled there. Building each
    action as a message of its own and then the RouterMessage from them copies every action
    twice (measured: about 3 times the cost per action). `pops`: see `offer`."""
    message = call_control_pb2.RouterMessage(acked_event_seq=acked_event_seq)
    add = message.actions.add
    for seq, item in batch:
        action = item.action if type(item) is not EventRejected else item
        kind = type(action)
        if kind is OfferContact:
            offer(item.site, action, into=add(seq=seq).route_to_agent, pops=pops)
        elif kind is ContactFinished:
            finished(item.site, action, into=add(seq=seq).finished)
        elif kind in _DIALLER_ACTIONS:
            _dialler_action(action, add(seq=seq))
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


_DIALLER_ACTIONS = frozenset({OutboundCall, Drop, PlayMessage})


def _dialler_action(action, into) -> None:
    """A campaign's action on its PBX link (README, "The PBX dial protocol")."""
    kind = type(action)
    if kind is OutboundCall:
        dial = into.dial
        dial.call_id, dial.campaign, dial.site = action.call_id, action.campaign, action.site
        dial.record_id, dial.phone_number = action.record_id, action.phone_number
        dial.ring_timeout_s, dial.amd = action.ring_timeout_s, action.amd
        dial.agent_id = action.agent_id or ""
    elif kind is Drop:
        into.hang_up = action.call_id
    else:
        into.play_message.call_id = action.call_id
        into.play_message.prompt = action.prompt


def _forget_finished(batch, pops) -> None:
    """The pops of the contacts that ended in `batch`, once its messages are made."""
    for _seq, item in batch:
        if type(item) is not EventRejected and type(item.action) is ContactFinished:
            pops.forget(item.action.contact_id)


# Bytes a repeated field adds around each element at most: its tag and a length prefix.
_ELEMENT_OVERHEAD = 6


def router_messages(acked_event_seq: int, batch, max_bytes: int = MAX_MESSAGE_BYTES,
                    pops=None) -> list:
    """`batch` as RouterMessages of at most `max_bytes` each (and in order): offers carry
    attached data, so a batch of hundreds (a resumed link's replay) can grow past the PBX's
    gRPC receive limit (4 MiB by default), and then the link could never resume. One action
    larger than `max_bytes` goes alone (with the API's limits one is at most ~20 KiB)."""
    messages = _router_messages(acked_event_seq, batch, max_bytes, pops)
    if pops is not None:
        _forget_finished(batch, pops)
    return messages


def _router_messages(acked_event_seq, batch, max_bytes, pops) -> list:
    message = router_message(acked_event_seq, batch, pops)
    if len(batch) <= 1 or message.ByteSize() <= max_bytes:
        return [message]
    messages, start, size = [], 0, 0
    room = max_bytes - call_control_pb2.RouterMessage(acked_event_seq=acked_event_seq).ByteSize()
    for index, action in enumerate(message.actions):
        cost = action.ByteSize() + _ELEMENT_OVERHEAD
        if index > start and size + cost > room:
            messages.append(router_message(acked_event_seq, batch[start:index], pops))
            start, size = index, 0
        size += cost
    messages.append(router_message(acked_event_seq, batch[start:], pops))
    return messages

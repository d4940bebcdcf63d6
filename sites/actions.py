"""Actions out of the site core: what the host (actor, gateway, simulator) must carry out.

Treat actions as immutable; they are not frozen only because frozen dataclasses are slow
to build (see sites/events.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sites.model import AgentState, Channel, ContactState, Priority


@dataclass(slots=True)
class OfferContact:
    """Ring the agent; the offer lapses at `deadline` unless accepted."""
    contact_id: str
    agent_id: str
    skill: str
    channel: Channel
    deadline: float
    data: dict
    # A callback (SPEC §10): the caller hung up keeping the place; once the agent accepts,
    # the PBX dials the caller's number (it has it: the core never holds phone numbers).
    callback: bool = False


@dataclass(slots=True)
class OfferRevoked:
    """Stop ringing: the contact abandoned or the agent left while the offer was open."""
    contact_id: str
    agent_id: str
    reason: str


@dataclass(slots=True)
class ContactQueued:
    """Queue treatment: position counts contacts of equal or higher priority, this one included."""
    contact_id: str
    skill: str
    priority: Priority
    position: int
    ewt_s: float | None               # None: nobody staffed or ready can serve it


@dataclass(slots=True)
class ContactRejected:
    contact_id: str
    reason: str


@dataclass(slots=True)
class AgentStateChanged:
    agent_id: str
    state: AgentState
    reason: str


@dataclass(slots=True)
class ContactFinished:
    """The contact reached its one final state."""
    contact_id: str
    final_state: ContactState
    agent_id: str | None


@dataclass(slots=True)
class IvrTreatment:
    """What the PBX's IVR does now with a contact in its routing plan (SPEC §10).

    `kind`: announce (play `prompt` for `seconds`), collect (play `prompt`, collect up to
    `max_digits` digits within `seconds`, report them as DigitsCollected), wait (`treatment`
    music, ringback or silence for `seconds`), self_service (`prompt`, up to `seconds`;
    report SelfServiceEnded), callback_offer (ask the caller; report CallbackChosen within
    `seconds`), route_out (transfer to `target`: a number, or a site when `to` is "site"),
    busy, voicemail, disconnect (after `prompt` if any). `reason` says why a plan ended a
    contact on its own (the loop guard).
    """
    contact_id: str
    kind: str
    prompt: str | None = None
    seconds: float | None = None
    max_digits: int | None = None
    variable: str | None = None           # collect: the plan variable the digits go into
    treatment: str | None = None
    to: str | None = None
    target: str | None = None
    reason: str | None = None

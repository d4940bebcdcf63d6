"""Events into the site core. Each carries the time it happened: the core has no clock.

Treat events as immutable. They are plain slotted dataclasses, not frozen ones, because
a frozen dataclass costs about 2 µs to build and the core handles 100,000 a second.

Ids are the outside world's (agent login, PBX call id); `SiteState.handle` validates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class AgentLoggedIn:
    time: float
    agent_id: str


@dataclass(slots=True)
class AgentLoggedOut:
    time: float
    agent_id: str


@dataclass(slots=True)
class AgentReady:
    time: float
    agent_id: str


@dataclass(slots=True)
class AgentNotReady:
    time: float
    agent_id: str
    reason: str = ""


@dataclass(slots=True)
class AgentHeld:
    """A campaign takes an idle agent out of routing (not ready, `reason`) for a call
    dialled for it (blending) or a record to preview (SPEC §6). Refused unless the agent is
    ready with no offer, no work and no wrap-up: the campaign's pace saw it idle, but in a
    live center an inbound contact may have reached it since, and holding it then would
    take that contact back."""
    time: float
    agent_id: str
    reason: str = "outbound"


@dataclass(slots=True)
class ContactArrived:
    time: float
    contact_id: str
    skill: str
    priority: object = "medium"           # Priority or its name
    service_objective_s: float | None = None   # None: the skill's SL threshold
    channel: object = "voice"             # Channel or its name
    data: dict = field(default_factory=dict)   # attached data, carried to the offer
    # Who owns the contact outside the core (the host's PBX link id); opaque to the core,
    # kept on the contact so that a router recovered from the journal knows it too.
    origin: str | None = None
    # A contact interflowed from another site (sites/rounds.py `arrival_of`) keeps where and
    # when it first arrived in the center; None: here, at `time`. Its service level, speed
    # of answer and wait count from `first_arrival` (SPEC §2: the caller's wait).
    entry_site: str | None = None
    first_arrival: float | None = None
    # The contact's record so far, when the site it left keeps contact records of its own
    # (a Ray site actor: cluster/store/records.py). Opaque to the core; journaled with the
    # arrival, so that the record goes on here, also after a recovery.
    record: dict | None = None
    # A contact that dialled an entry point (SPEC §10) arrives with `skill` None: its
    # service's routing plan decides. Never the caller's number: `ani_prefix` is the longest
    # of the configuration's `ani_prefix` values the number starts with (PlanConfig.
    # ani_prefix_of), all that plan conditions need, so that no phone number reaches the
    # core, its journal or its snapshots.
    dnis: str | None = None
    ani_prefix: str | None = None
    # The caller's customer tier (SPEC §7), as the gateway's customer lookup found it (None:
    # not known; the default tier applies). `priority` None: the tier's priority decides.
    tier: str | None = None


@dataclass(slots=True)
class OfferAccepted:
    """The agent accepted the offer (CTI); the contact is connected."""
    time: float
    contact_id: str


@dataclass(slots=True)
class ContactConnected:
    """The PBX reports the offered call answered; same effect as OfferAccepted, and
    whichever of the two arrives second is a no-op."""
    time: float
    contact_id: str


@dataclass(slots=True)
class OfferRejected:
    time: float
    contact_id: str


@dataclass(slots=True)
class OfferTimedOut:
    time: float
    contact_id: str


@dataclass(slots=True)
class ContactEnded:
    """The conversation ended. Before it was connected this is an abandon."""
    time: float
    contact_id: str


@dataclass(slots=True)
class ContactAbandoned:
    time: float
    contact_id: str


@dataclass(slots=True)
class WrapUpDone:
    """The agent finished after-call work on all its contacts in wrap-up."""
    time: float
    agent_id: str


@dataclass(slots=True)
class ContactInterflowed:
    """A queued contact leaves this site for `to_site` (the remote site accepted it)."""
    time: float
    contact_id: str
    to_site: str


@dataclass(slots=True)
class DigitsCollected:
    """The caller keyed `digits` at a plan's `collect` step (the PBX's IVR, or the
    simulator's caller model); "" when the caller keyed nothing before the timeout."""
    time: float
    contact_id: str
    digits: str


@dataclass(slots=True)
class PromptFinished:
    """The PBX finished playing an `announce` step's prompt (before its seconds ran out)."""
    time: float
    contact_id: str


@dataclass(slots=True)
class SelfServiceEnded:
    """The IVR's self-service step ended: `completed` the caller was served there;
    otherwise the caller asked for an agent and the plan goes on."""
    time: float
    contact_id: str
    completed: bool


@dataclass(slots=True)
class CallbackChosen:
    """The caller's answer to a plan's callback offer: `accepted` the caller hangs up and
    keeps the place; an agent is offered the callback at its turn."""
    time: float
    contact_id: str
    accepted: bool


@dataclass(slots=True)
class Tick:
    """Time passes: expire offers and wrap-ups, widen skills whose contacts waited enough."""
    time: float


EVENT_TYPES = (AgentLoggedIn, AgentLoggedOut, AgentReady, AgentNotReady, AgentHeld,
               ContactArrived, OfferAccepted, ContactConnected, OfferRejected, OfferTimedOut,
               ContactEnded, ContactAbandoned, ContactInterflowed, WrapUpDone, DigitsCollected,
               PromptFinished, SelfServiceEnded, CallbackChosen, Tick)

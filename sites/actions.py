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

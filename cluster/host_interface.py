"""What crosses between a host (cluster/host.py, cluster/ray_host.py) and the servicers:
routed actions and results as plain data, and the errors a host raises."""

from __future__ import annotations

from dataclasses import dataclass

from sites.errors import InvalidInput
from sites.model import ContactState


# ---- what crosses the interface ---------------------------------------------------------------
@dataclass(slots=True)
class Interflowed:
    """Best Service Routing moved a queued contact to another site (the host's own action;
    the core's ContactFinished(interflowed) at the old site is replaced by it)."""
    contact_id: str
    from_site: str
    to_site: str


@dataclass(slots=True)
class EventRejected:
    """A PBX event the router refused; nothing changed (sent on the link like an action)."""
    event_seq: int
    contact_id: str
    field: str
    problem: str


@dataclass(slots=True)
class Routed:
    """One action with where and when it happened, the skill it concerns (None for agent
    state) and the PBX link that owns the contact (None: not from a PBX). `link_only`: a
    final state said again to the link alone (`CoreHost._final_again`); the streams that
    follow agents and routing saw it once already. `agent_only`: for the desktops that
    follow its agent and nobody else (a record to preview)."""
    site: str
    time: float
    action: object
    skill: str | None = None
    link_id: str | None = None
    link_only: bool = False
    agent_only: bool = False


@dataclass(slots=True)
class EventResult:
    """What one submitted event did: its actions, or the error that left everything as it was."""
    actions: list
    error: InvalidInput | None = None


@dataclass(slots=True)
class ContactEntry:
    contact_id: str
    site: str                       # where it is now
    entry_site: str                 # where it arrived
    skill: str
    link_id: str | None
    # Counted as offered to a skill by the metrics (cluster/metrics.py): False only for an
    # arrival this process has not yet seen queued or offered (a recovered contact was
    # counted by the process that saw it arrive).
    offered: bool = True


@dataclass(frozen=True, slots=True)
class ContactView:
    contact_id: str
    site: str
    entry_site: str
    skill: str
    state: ContactState
    agent_id: str | None


class Overloaded(InvalidInput):
    """A new contact refused at once because too many events wait for the sites (gRPC
    RESOURCE_EXHAUSTED: the PBX applies its own overflow). Changes nothing, like any
    refusal; the Ray runtime's bounded queue raises it (cluster/ray_host.py)."""

    def __init__(self, limit: int):
        super().__init__("contact_id", f"overloaded: {limit:,} events wait for the sites; new "
                                       "contacts are refused until the router catches up")


class HostClosed(Exception):
    """The host is shutting down (gRPC UNAVAILABLE)."""


class NotLeader(HostClosed):
    """This process is a standby: another one leads (gRPC UNAVAILABLE, naming the leader's
    address so that clients go there; cluster/leader_gate.py)."""

    def __init__(self, leader_address: str = ""):
        self.leader_address = leader_address
        super().__init__(f"not the leader; the leader is at {leader_address}" if leader_address
                         else "not the leader; no leader is known yet, retry shortly")


@dataclass(slots=True)
class RecordPreview:
    """A preview campaign's `Preview` as the agent's desktop gets it (AgentEvent.preview):
    the record and its customer, never the number."""
    agent_id: str
    campaign: str
    record_id: str
    customer_id: str = ""


@dataclass(slots=True)
class OutboundCall:
    """A campaign's `Dial` as the PBX link gets it (the `dial` action): the callee's number
    is here and nowhere else outside the store (never logged, traced or recorded)."""
    call_id: str
    campaign: str
    site: str
    record_id: str
    phone_number: str
    ring_timeout_s: float
    amd: bool
    agent_id: str | None = None

    def __repr__(self) -> str:          # a log line that prints one shows no number
        return (f"OutboundCall({self.call_id!r}, campaign={self.campaign!r}, "
                f"record={self.record_id!r})")

"""Decisions out of a campaign's pacer: what the host (PBX link, simulator) must carry out.

Every call the pacer asked for ends through one of them or an event of the host's: a call
answered live is handed to an agent (`Connect`); an answering machine AMD detected is hung
up on (`Drop`); a live answer nobody was connected to within the limit hears the recorded
message (`PlayMessage`, SPEC §6: "they hear a recorded message"); busy, unanswered and
failed calls are over when the PBX reports them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Dial:
    """Dial the record's number now; ring at least `ring_timeout_s` before giving up.
    `agent_id`: the agent it is dialled for (preview, blending), whose the live answer is.
    `amd`: detect answering machines at the answer (report them as `machine`); without it
    every answer is reported `live` and reaches an agent, who leaves a message on a machine."""
    call_id: str
    record_id: str
    ring_timeout_s: float
    agent_id: str | None = None
    amd: bool = False


@dataclass(slots=True)
class Preview:
    """Show the record to the agent (screen pop), who holds for it until `PreviewDone`."""
    agent_id: str
    record_id: str


@dataclass(slots=True)
class Hold:
    """Take the agent out of routing (not ready, `reason`) for a call dialled for it: a
    blended campaign's agent, whom inbound work must not take while the call rings."""
    agent_id: str
    reason: str = "outbound"


@dataclass(slots=True)
class Release:
    """The agent the pacer held (previews, blending) has nothing more to do for the
    campaign: make it ready."""
    agent_id: str


@dataclass(slots=True)
class Connect:
    """A live answer: hand it to an agent of `skill` (to `agent_id` when the call was dialled
    for one: make that agent ready for it after the contact is queued, so that it is offered
    this contact first, at `priority`). Nobody connected within `within_s`: report
    `CallAbandoned`."""
    call_id: str
    skill: str
    agent_id: str | None
    within_s: float
    priority: str = "medium"


@dataclass(slots=True)
class Drop:
    """Hang up an answered call no agent takes: an answering machine AMD detected (SPEC §6
    `amd: on`, "machine -> drop")."""
    call_id: str


@dataclass(slots=True)
class PlayMessage:
    """The live answer was abandoned (nobody connected within the limit): play `prompt`, the
    recorded message the callee must hear (who called, a number to call back), then hang up."""
    call_id: str
    prompt: str

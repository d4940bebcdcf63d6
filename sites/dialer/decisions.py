"""Decisions out of a campaign's pacer: what the host (PBX link, simulator) must carry out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Dial:
    """Dial the record's number now; ring at least `ring_timeout_s` before giving up.
    `agent_id`: the agent it is dialled for (preview), whose the live answer is."""
    call_id: str
    record_id: str
    ring_timeout_s: float
    agent_id: str | None = None


@dataclass(slots=True)
class Preview:
    """Show the record to the agent (screen pop), who holds for it until `PreviewDone`."""
    agent_id: str
    record_id: str


@dataclass(slots=True)
class Release:
    """The agent the pacer held for previews has nothing more to preview: make it ready."""
    agent_id: str

"""Events into a campaign's pacer (`Campaign.handle`). Each carries the time it happened.

What became of a call the pacer asked for, reported by whoever places the calls (the PBX,
the simulator's world), and `Pace`: time to decide, with the agents of the campaign's skill
as they are now. Plain slotted dataclasses, like the site core's events (sites/events.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class CallOutcome(Enum):
    """The call's progress as the PBX reports it (SPEC §6)."""
    LIVE = "live"              # a person answered (with AMD off: answered, not known a machine)
    MACHINE = "machine"        # AMD detected an answering machine: dropped or a message left
    BUSY = "busy"
    NO_ANSWER = "no_answer"    # rang ring_timeout_s
    FAILED = "failed"          # the network refused it


@dataclass(slots=True)
class CallProgress:
    """The call was answered, or ended unanswered. After LIVE the call waits for an agent
    (the host hands it to the site core as an outbound contact of the campaign's skill)."""
    time: float
    call_id: str
    outcome: CallOutcome


@dataclass(slots=True)
class CallConnected:
    """An agent took the live answer (within the connect limit)."""
    time: float
    call_id: str


@dataclass(slots=True)
class CallAbandoned:
    """Nobody was connected within `connect_within_s`: the callee heard the recorded message."""
    time: float
    call_id: str


@dataclass(slots=True)
class CallEnded:
    """A connected call ended. `machine`: with AMD off, the agent found a machine."""
    time: float
    call_id: str
    machine: bool = False


@dataclass(slots=True)
class PreviewDone:
    """The agent finished previewing the record: `dial` it, or skip it."""
    time: float
    agent_id: str
    dial: bool = True


@dataclass(slots=True)
class HoldRefused:
    """The site would not hold the agent a blended campaign just dialled for, or a preview
    campaign gave a record to (a contact reached it since the pace: `sites.events.
    AgentHeld`), so the host did not send that call or preview: it is undone, and its record
    goes back to be dialled (or previewed) next."""
    time: float
    agent_id: str


@dataclass(slots=True)
class AgentGone:
    """An agent the campaign held (preview, blending) logged out: the campaign lets it go.
    A record it was previewing goes back to be previewed next by another agent; a call
    dialled for it goes on, and a live answer goes to any agent of the skill."""
    time: float
    agent_id: str


@dataclass(slots=True)
class Pace:
    """Time to decide: `agents` is the snapshot of the skill's agents now (snapshot.py)."""
    time: float
    agents: object


@dataclass(slots=True)
class Stop:
    """Dial nothing more (the shift or the campaign ends); calls in progress go on."""
    time: float


@dataclass(slots=True)
class DoNotCallChanged:
    """Keys (keyed hashes of numbers, do_not_call.py) added to or removed from the global
    do-not-call list or the campaign's (`scope`): in force from now on."""
    time: float
    scope: str
    add: tuple = ()
    remove: tuple = ()


@dataclass(slots=True)
class CallWindowChanged:
    """The calendar the campaign's call window names changed (Admin put new hours, or a
    dated override such as an emergency close): `calendar` (sites.calendars.Calendar)
    from now on. An event, so that a journal replay switches at the same step."""
    time: float
    calendar: object


@dataclass(slots=True)
class ClockChanged:
    """The host's time maps to wall-clock time as `WallClock(start_epoch)` from now on (a new
    leader or a restarted server counts its time from another origin). Only call windows
    read the wall clock; an event, so that a journal replay switches at the same step."""
    time: float
    start_epoch: float

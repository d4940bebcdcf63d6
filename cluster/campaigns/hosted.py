"""One campaign as the host in this process runs it (hosting.py), and each call its pacer
asked for until it is over: plain state, shared by hosting.py and resume.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from cluster.campaigns.definition import config_of
from cluster.campaigns.journal import PaceCodec


@dataclass(slots=True)
class Up:
    """A call the pacer asked for, until it is over."""
    record_id: str
    link_id: str | None         # None: dialled by an earlier server; whichever link reports it
    answered: bool = False      # live: an outbound contact at the site
    connected: bool = False
    abandoning: bool = False
    recovered: bool = False     # known from the journal: the PBX may report it again
    agent_id: str | None = None     # the agent it was dialled for (preview, blending)
    machine: bool = False       # AMD off: the call was connected, and it was a machine


class Hosted:
    """One campaign in this process."""

    def __init__(self, document: dict, state: str, records: int, call_window=None):
        """`call_window`: the calendar its pacer reads (the one it started with)."""
        self.document = document
        self.name, self.site, self.skill = document["name"], document["site"], document["skill"]
        self.config = config_of(document, call_window)
        self.call_window = call_window      # the calendar its pacer reads now
        self.state = state
        self.records = records
        self.pacer = None
        self.lock = asyncio.Lock()          # one step at a time, in the order asked
        self.phones: dict = {}              # record id -> number (from the store)
        self.customers: dict = {}           # record id -> customer id
        self.calls: dict[str, Up] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.pace_pending = False
        self.figures: dict = {}
        self.messages_played = 0
        self.time = 0.0                     # of the last step
        self.seq = 1                        # the journal's next entry
        self.resend: list = []              # call ids ringing when resumed: dial again
        # Calls dialled before this server resumed it (its call ids NAME-0 .. NAME-(n-1)):
        # those not up any more are over in the journal (a PBX's re-sent report).
        self.dialled_before = 0
        self.since_snapshot = 0             # journal entries since its pacer's last snapshot
        self.holding: set = set()           # agents held at the site (AgentHeld) for it
        self.previews: dict = {}            # agent id -> record id it is previewing
        self.deposed = False                # a newer server wrote its journal: dial nothing
        self.paces = PaceCodec()            # the journal's paces so far (journal.py)

    def was_over(self, call_id) -> bool:
        """Whether `call_id`, not up now, is one of its calls an earlier server dialled."""
        name, _, serial = call_id.rpartition("-") if isinstance(call_id, str) else ("", "", "")
        return (name == self.name and serial.isdigit() and int(serial) < self.dialled_before
                and call_id not in self.calls)

"""The leadership interface shared by every backend.

One node at a time leads the cluster (the router/gateway role). Leadership is a *term*: it
starts when a node wins a campaign and ends when it resigns, cannot renew in time, or sees
its claim gone. Each term has a fencing token, an integer that strictly grows from one term
to the next; every write a leader makes carries it, so the store can refuse a deposed
leader's late writes (a lease alone is not mutual exclusion: a paused process wakes up still
believing it leads).

`is_leader()` is answered from a monotonic deadline, not from the last message: a leader
whose renewals stop getting through stops being leader by its own clock, before the lease
that protects its claim can expire anywhere else.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    """Who leads, as a client needs to know it."""
    node_id: str
    address: str        # the leader's gRPC address: where clients are told to go
    token: int          # the term's fencing token

    @property
    def term(self) -> int:
        # A term is identified by its token: both grow together, one per new leadership.
        return self.token

    def encode(self) -> bytes:
        return json.dumps({"node_id": self.node_id, "address": self.address},
                          separators=(",", ":")).encode()

    @classmethod
    def decode(cls, value: bytes, token: int) -> "LeaderInfo":
        """The leader key's value; `token` comes from the key's create revision, never from
        the value (a value is whatever the writer claimed)."""
        try:
            document = json.loads(value)
            return cls(str(document["node_id"]), str(document.get("address", "")), token)
        except (ValueError, KeyError, TypeError):
            return cls(f"<unreadable {value[:40]!r}>", "", token)


class ChangeKind(enum.Enum):
    GAINED = "gained"                  # this node now leads (token: its new term)
    LOST = "lost"                      # this node stopped leading (reason says why)
    LEADER_CHANGED = "leader_changed"  # the leader as seen from here changed (or is None)


@dataclass(frozen=True, slots=True)
class LeadershipChange:
    kind: ChangeKind
    leader: LeaderInfo | None          # the leader as known when the change happened
    token: int | None = None           # GAINED/LOST: this node's term
    reason: str = ""
    at: float = 0.0                    # monotonic time of the change
    deadline: float | None = None      # LOST: the term's monotonic deadline when it ended
    renewed_at: float | None = None    # LOST: when the last successful renewal was sent


Listener = Callable[[LeadershipChange], None]


class Leadership(abc.ABC):
    """A node's view of the election; see the module doc.

    Lifecycle: `await campaign()` (run for leader; standby until it wins) or `await
    observe()` (only follow who leads), then `await close()`. Listeners get every change on
    the event loop, in order.
    """

    def __init__(self, node_id: str, address: str = "", *,
                 clock: Callable[[], float] = time.monotonic):
        if not node_id:
            raise ValueError("node_id must be a non-empty string")
        self.node_id = node_id
        self.address = address
        self.clock = clock
        self._listeners: list[Listener] = []
        self._leader: LeaderInfo | None = None
        # This node's term while it leads (token) and the monotonic time it ends unless
        # renewed (deadline), as ONE tuple: the backend (maybe on a thread of its own,
        # cluster/leadership/threaded.py) replaces it whole, and readers take it in one read,
        # so no reader ever pairs one term's token with another's deadline.
        self._term: tuple[int | None, float] = (None, float("-inf"))
        # Loop-bound on first use (Python >= 3.10), so a backend may be built before the loop.
        self._changed = asyncio.Condition()

    # ---- what it knows ---------------------------------------------------------------------
    @property
    def _token(self) -> int | None:
        return self._term[0]

    @_token.setter
    def _token(self, token: int | None) -> None:
        self._term = (token, self._term[1])

    @property
    def _deadline(self) -> float:
        return self._term[1]

    @_deadline.setter
    def _deadline(self, deadline: float) -> None:
        self._term = (self._term[0], deadline)

    def _leading_token(self) -> int | None:
        token, deadline = self._term            # one read: token and deadline of one term
        return token if token is not None and self.clock() < deadline else None

    def is_leader(self) -> bool:
        """True while this node holds a term and its deadline has not passed. Checked
        against the clock each time, so it turns False on time even if the event loop was
        stalled (a paused process) and nothing has run since."""
        return self._leading_token() is not None

    @property
    def token(self) -> int | None:
        """This node's fencing token while it leads, else None: the leadership check and the
        token in one read (one reading of the term and of the clock). A caller that must act
        as leader reads this once and uses that value; `is_leader()` then `token` may
        straddle the deadline (True, then None)."""
        return self._leading_token()

    @property
    def term(self) -> int | None:
        return self.token

    @property
    def deadline(self) -> float:
        """The monotonic time this node's current term ends unless renewed."""
        return self._term[1]

    def leader(self) -> LeaderInfo | None:
        """The leader as last seen (this node itself while it leads)."""
        token, deadline = self._term
        if token is not None and not self.clock() < deadline:
            return None       # our own term lapsed: do not advertise ourselves
        return self._leader

    # ---- telling others ----------------------------------------------------------------------
    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(change)` on every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait (at most `timeout` s) until `predicate()` holds after some change."""
        condition = self._changed
        try:
            async with condition:
                await asyncio.wait_for(condition.wait_for(predicate), timeout)
            return True
        except asyncio.TimeoutError:
            return predicate()

    def _emit(self, change: LeadershipChange) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:   # noqa: BLE001 - one bad listener must not stop leadership
                log.exception("leadership listener failed on %s", change.kind.value)
        condition = self._changed

        async def notify():
            async with condition:
                condition.notify_all()
        try:
            asyncio.get_running_loop().create_task(notify())
        except RuntimeError:
            pass

    def _set_leader(self, leader: LeaderInfo | None) -> None:
        if leader != self._leader:
            self._leader = leader
            self._emit(LeadershipChange(ChangeKind.LEADER_CHANGED, leader, at=self.clock()))

    # ---- the backend's part --------------------------------------------------------------------
    @abc.abstractmethod
    async def campaign(self, timeout: float | None = None) -> bool:
        """Run for leader from now on (as a standby until this node wins, and again after
        each lost term). Waits at most `timeout` s (None: do not wait) and returns
        `is_leader()`."""

    @abc.abstractmethod
    async def resign(self) -> None:
        """End this node's term now (if it leads) and stop campaigning."""

    @abc.abstractmethod
    async def observe(self) -> None:
        """Follow who leads without campaigning (a standby or a client-facing gateway)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Resign and release every resource; bounded in time."""


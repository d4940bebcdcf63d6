"""PBX links: each link's numbered outbound actions, kept until acknowledged, and the events
it had applied, across reconnects (cluster/servicers/call_control.py drives them)."""

from __future__ import annotations

import asyncio
from collections import deque

from sites.recent import RecentMap

MAX_ACTION_SEQ = 2 ** 63 - 1     # the store's integers are signed 64-bit
APPLIED_SEQS_KEPT = 65_536      # per link


class LinkStream:
    """The state of one connected Connect stream of a PBX link."""

    def __init__(self):
        self.wakeup = asyncio.Event()
        self.stopped = asyncio.Event()
        self.failure: tuple[str, str] | None = None     # (gRPC status name, details)
        self.acked_event_seq_sent = -1
        self.half_closed = False         # the PBX sent its last message
        self.drained = asyncio.Event()   # set after each write: the backlog shrank
        self.awaiting_commit: deque = deque()   # commit rounds this stream's acks wait for

    def fail(self, status: str, details: str) -> None:
        if self.failure is None:
            self.failure = (status, details)
        self.stopped.set()
        self.wakeup.set()
        self.drained.set()


class PbxLink:
    """One PBX link's numbered outbound actions and applied inbound events, kept across
    reconnects so that a PBX resuming with the same link id loses nothing.

    Invariant: `_sent` and `_unsent` hold, in seq order and without gaps, every action with
    seq > `acked_action_seq`, except the oldest ones dropped when more than `replay_window`
    were unacknowledged (`dropped_through` is the newest dropped seq). `_sent` were written
    to a stream and may be lost with it; a resuming stream gets them again.
    """

    def __init__(self, link_id: str, replay_window: int, stream_limit: int):
        self.link_id = link_id
        self.replay_window = replay_window
        self.stream_limit = stream_limit
        self.applied_event_seq = 0      # newest event applied: a re-sent copy is skipped
        # The seqs of the most recent events taken (applied or refused), to tell a re-send
        # from an event whose number goes backwards (one this link skipped).
        self._applied_seqs = RecentMap(APPLIED_SEQS_KEPT)
        self.committed_event_seq = 0    # newest acknowledged: applied and, with a store, durable
        self.next_action_seq = 1
        self.acked_action_seq = 0
        self.dropped_through = 0
        self._sent: deque = deque()
        self._unsent: deque = deque()
        self.stream: LinkStream | None = None
        # False until a stream attaches: a link this process built (a new leader, a
        # restart) may meet a PBX that already handled actions of an earlier process.
        self.attached_once = False
        # Only a host with a store can have had an earlier process: without one, a resume
        # ahead of the link is a PBX bug and is refused.
        self.may_rebase = False
        # The sites whose campaigns this link dials for (its hello's `sites`).
        self.sites: tuple = ()

    @property
    def last_action_seq(self) -> int:
        return self.next_action_seq - 1

    def note_applied(self, seq: int) -> None:
        self._applied_seqs[seq] = True

    def was_applied(self, seq: int) -> bool:
        """Is event `seq` (<= applied_event_seq) one this link took? Every seq this process
        took is noted before applied_event_seq moves; past the most recent
        APPLIED_SEQS_KEPT, an older one is taken for a re-send (it cannot be told)."""
        if seq in self._applied_seqs:
            return True
        return (len(self._applied_seqs) >= APPLIED_SEQS_KEPT
                and seq < next(iter(self._applied_seqs)))

    def push(self, item) -> None:
        seq = self.next_action_seq
        self.next_action_seq += 1
        self._unsent.append((seq, item))
        while len(self._sent) + len(self._unsent) > self.replay_window:
            dropped = self._sent.popleft() if self._sent else self._unsent.popleft()
            self.dropped_through = dropped[0]
        stream = self.stream
        if stream is not None:
            if len(self._unsent) > self.stream_limit:
                stream.fail("RESOURCE_EXHAUSTED",
                            f"link {self.link_id!r} is more than {self.stream_limit} actions "
                            "behind; reconnect to resume")
            stream.wakeup.set()

    def ack(self, last_action_seq: int) -> None:
        """The PBX handled every action up to `last_action_seq`."""
        if last_action_seq <= self.acked_action_seq:
            return
        self.acked_action_seq = last_action_seq
        for queue in (self._sent, self._unsent):
            while queue and queue[0][0] <= last_action_seq:
                queue.popleft()

    def check_resume(self, last_action_seq: int) -> tuple[str, str, str] | None:
        """Why a stream resuming after `last_action_seq` cannot be served, or None."""
        if last_action_seq > MAX_ACTION_SEQ:
            # The store numbers a resumed link after it (a 63-bit integer column): past
            # that it failed UNKNOWN in the database and the link was dead for good.
            return ("INVALID_ARGUMENT", "hello.last_action_seq",
                    f"must be at most {MAX_ACTION_SEQ}; got {last_action_seq}")
        if last_action_seq > self.last_action_seq and self.may_rebase and not self.attached_once:
            return None         # numbered by an earlier process: `attach` renumbers after it
        if last_action_seq > self.last_action_seq:
            return ("INVALID_ARGUMENT", "hello.last_action_seq",
                    f"{last_action_seq} is ahead of the last action sent on link "
                    f"{self.link_id!r} ({self.last_action_seq})")
        if last_action_seq < self.dropped_through:
            return ("DATA_LOSS", "hello.last_action_seq",
                    f"actions up to {self.dropped_through} were dropped (more than "
                    f"{self.replay_window} unacknowledged); resume with last_action_seq >= "
                    f"{self.dropped_through} to accept the gap")
        return None

    def attach(self, last_action_seq: int) -> LinkStream:
        """A new stream takes the link over and gets every unacknowledged action again."""
        if self.may_rebase and not self.attached_once and last_action_seq > self.last_action_seq:
            self._rebase(last_action_seq)
        self.attached_once = True
        self.ack(last_action_seq)
        if self.stream is not None:
            self.stream.fail("ABORTED", f"link {self.link_id!r} was taken over by a newer stream")
        self._unsent.extendleft(reversed(self._sent))
        self._sent.clear()
        self.stream = LinkStream()
        return self.stream

    def _rebase(self, last_action_seq: int) -> None:
        """Renumber the waiting actions right after `last_action_seq`: the PBX handled that
        many actions of an earlier router process (before a failover or a restart), so
        this link goes on from there, without a gap or a number used twice."""
        assert not self._sent, "a link that never attached has written nothing"
        pending = [item for _, item in self._unsent]
        self._unsent = deque((last_action_seq + 1 + number, item)
                             for number, item in enumerate(pending))
        self.acked_action_seq = self.dropped_through = last_action_seq
        self.next_action_seq = last_action_seq + 1 + len(pending)

    def detach(self, stream: LinkStream) -> None:
        if self.stream is stream:
            self.stream = None

    def take(self, limit: int) -> list:
        """Up to `limit` (seq, item) pairs not yet written to the current stream."""
        batch = []
        unsent, sent = self._unsent, self._sent
        while unsent and len(batch) < limit:
            pair = unsent.popleft()
            sent.append(pair)
            batch.append(pair)
        return batch

    @property
    def unsent(self) -> int:
        return len(self._unsent)

"""The embedded backend: one node, always the leader, token 1.

A single-process vcc (the default, `vcc serve` without etcd) needs no election, but the code
above it (the host, the journal) should not care which backend runs: this one has the same
interface, leads as soon as it campaigns, and never loses a term by itself.
"""

from __future__ import annotations

from cluster.leadership.base import ChangeKind, LeaderInfo, Leadership, LeadershipChange

IN_PROCESS_TOKEN = 1


class InProcessLeadership(Leadership):
    def __init__(self, node_id: str = "local", address: str = "", **options):
        super().__init__(node_id, address, **options)
        self._closed = False

    async def campaign(self, timeout: float | None = None) -> bool:
        if self._closed:
            raise RuntimeError("leadership is closed")
        if self._token is None:
            # Nothing can take the term away in one process: no deadline.
            self._term = (IN_PROCESS_TOKEN, float("inf"))
            me = LeaderInfo(self.node_id, self.address, IN_PROCESS_TOKEN)
            self._set_leader(me)
            self._emit(LeadershipChange(ChangeKind.GAINED, me, IN_PROCESS_TOKEN,
                                        "in-process: the only node", self.clock()))
        return self.is_leader()

    async def observe(self) -> None:
        return None       # nothing to follow: this node is the only one

    async def resign(self) -> None:
        if self._token is None:
            return
        token, self._term = self._token, (None, float("-inf"))
        self._set_leader(None)
        self._emit(LeadershipChange(ChangeKind.LOST, None, token, "resigned", self.clock()))

    async def close(self) -> None:
        await self.resign()
        self._closed = True

"""The wallboard's feed: one reader of the host's figures shared by every page.

While at least one page listens, the board (cluster/wallboard/board.py) is read every
PUSH_INTERVAL_S and each listener is handed the newest one: that keeps a page at most one
interval plus one read behind the router (measured in tests/integration/test_wallboard.py),
and the oldest wait ticking. With nobody listening nothing is read (a `/board.json` request
reads once, or takes a board younger than the interval).

Bounded whatever the browsers do: a listener holds only the newest board, never a queue of
them; a slow one skips boards it had no time for, and one whose write stays blocked longer
than WRITE_TIMEOUT_S is dropped (cluster/wallboard/http.py). Listeners are capped
(`max_clients`, like the gRPC stream budgets of cluster/admission.py); past the cap a page
is refused (HTTP 503) rather than slowing the others.

The marketing ranking is read from the store on the Marketing service's threads (the very
computation StreamRanking shares) at most every RANKING_EVERY_S, in a task of its own so
that a slow store never delays the router's figures.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from cluster.wallboard.board import campaign_panel, ranking_panel, read_board

log = logging.getLogger(__name__)

PUSH_INTERVAL_S = 0.5           # a board every this often while anyone listens
READ_TIMEOUT_S = 5.0            # a read of the host that takes longer is given up
RANKING_EVERY_S = 2.0           # the Marketing service's default StreamRanking interval
MAX_CLIENTS = 64                # pages listening at once


class TooManyClients(Exception):
    """The listener cap is reached."""


class Feed:
    def __init__(self, *, interval_s: float = PUSH_INTERVAL_S, max_clients: int = MAX_CLIENTS):
        self.interval_s = interval_s
        self.max_clients = max_clients
        self.host = None                # what the figures are read from (maybe a HostSwitch)
        self.gate = None                # cluster/leader_gate.py's LeaderGate, with --etcd
        self.targets: dict = {}         # skill -> SL target %
        self.ranking = None             # async () -> marketing_stats.Ranking, or None
        self.campaigns = None           # the server's CampaignHost, or None
        # Invariant: `version` counts the boards read; `latest` is the newest one encoded
        # (None before the first), read at monotonic time `latest_at`.
        self.version = 0
        self.latest: bytes | None = None
        self.latest_at = 0.0
        self.listeners = 0
        self._changed = asyncio.Condition()
        self._reading = asyncio.Lock()
        self._loop_task: asyncio.Task | None = None
        self._ranking_task: asyncio.Task | None = None
        self._ranking_panel = None
        self._ranking_at = float("-inf")
        self.closing = False

    def read_from(self, host, *, targets: dict, gate=None, ranking=None,
                  campaigns=None) -> None:
        """Boards are read from `host` from now on (with --etcd: the gate's HostSwitch, and
        the gate tells whether this process leads); `ranking`: the Marketing service's
        ranking reader, `campaigns`: the server's CampaignHost (None: no customer store, no
        ranking or campaign panel)."""
        self.host, self.gate, self.targets = host, gate, dict(targets)
        self.ranking, self.campaigns = ranking, campaigns

    # ---- reading ---------------------------------------------------------------------------
    def _standby(self) -> str | None:
        gate = self.gate
        if gate is None or gate.serving():
            return None
        leader = gate.leader_address()
        return f"standby: the leader is at {leader}" if leader else \
            "standby: no leader is known yet"

    def _refresh_ranking(self) -> None:
        """Start reading the ranking again if the last read is old and none is running."""
        if self.ranking is None or (self._ranking_task is not None
                                    and not self._ranking_task.done()):
            return
        if time.monotonic() - self._ranking_at < RANKING_EVERY_S:
            return
        self._ranking_at = time.monotonic()
        self._ranking_task = asyncio.get_running_loop().create_task(self._read_ranking())

    async def _read_ranking(self) -> None:
        try:
            self._ranking_panel = ranking_panel(await asyncio.wait_for(self.ranking(),
                                                                       READ_TIMEOUT_S))
        except Exception as error:      # noqa: BLE001 - the board shows the last one read
            log.debug("wallboard: no marketing ranking: %s", error)

    async def read(self) -> bytes:
        """Read a board now (one read at a time: concurrent callers share it), publish it
        to the listeners, return it encoded."""
        async with self._reading:
            if self.latest is not None and time.monotonic() - self.latest_at < self.interval_s / 2:
                return self.latest      # read while this caller waited for the lock
            board = await asyncio.wait_for(self._board(), READ_TIMEOUT_S)
            encoded = json.dumps(board, separators=(",", ":"), allow_nan=False).encode()
            async with self._changed:
                self.version += 1
                self.latest, self.latest_at = encoded, time.monotonic()
                self._changed.notify_all()
            return encoded

    async def _board(self) -> dict:
        host, standby = self.host, self._standby()
        if host is None:
            standby = "starting"
        if standby is not None:
            return await read_board(_NoSites(), {}, standby=standby)
        self._refresh_ranking()
        try:
            campaigns = campaign_panel(self.campaigns)
        except Exception as error:      # noqa: BLE001 - the router's figures still show
            log.debug("wallboard: no campaign figures: %s", error)
            campaigns = []
        return await read_board(host, self.targets, ranking=self._ranking_panel,
                                campaigns=campaigns)

    async def current(self) -> bytes:
        """A board no older than the push interval (`/board.json`)."""
        if self.latest is not None and time.monotonic() - self.latest_at < self.interval_s:
            return self.latest
        return await self.read()

    async def _run(self) -> None:
        """Read while anyone listens."""
        loop = asyncio.get_running_loop()
        while self.listeners and not self.closing:
            began = loop.time()
            try:
                await self.read()
            except asyncio.TimeoutError:
                log.warning("wallboard: the host's figures took more than %g s",
                            READ_TIMEOUT_S)
            except Exception:           # noqa: BLE001 - never let the feed die; next tick
                log.exception("wallboard: reading the board failed")
            await asyncio.sleep(max(0.0, self.interval_s - (loop.time() - began)))

    # ---- listening -------------------------------------------------------------------------
    def join(self) -> None:
        """A page starts listening; raises TooManyClients past the cap."""
        if self.listeners >= self.max_clients:
            raise TooManyClients()
        self.listeners += 1
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._run())

    def leave(self) -> None:
        self.listeners -= 1

    async def newer(self, seen: int) -> tuple[int, bytes] | None:
        """The newest board once there is one newer than version `seen`: (its version, it);
        None when the feed closes."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.closing or self.version > seen)
            if self.closing:
                return None
            return self.version, self.latest

    async def close(self) -> None:
        """End every listener's wait and stop reading."""
        self.closing = True
        async with self._changed:
            self._changed.notify_all()
        for task in (self._loop_task, self._ranking_task):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):     # noqa: BLE001 - stopping
                    pass


class _NoSites:
    """A host with no sites: what a standby (or a server still starting) shows."""

    @staticmethod
    def site_names() -> list:
        return []

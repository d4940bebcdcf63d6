"""Where a host's results go, and when: CoreHost's fan-out (a mixin; RayHost inherits it).

Every `Routed` a round produces goes to the PBX link that owns its contact, to the streams
of the agent it concerns and to the routing streams whose predicate accepts it. With a
store (`persistence`), nothing is announced before the journal has committed the events
behind it: results are held and delivered by flush rounds, one after another, so that a
busy host commits many batches per transaction (group commit); calls that must be durable
before they return await `_durable`. If the journal fails, the host announces nothing more
and stops (`_store_failed`).

Every queue here is bounded (cluster/subscriptions.py, cluster/runtime/links.py): a
consumer that falls behind is failed instead of growing memory.
"""

from __future__ import annotations

import asyncio
import logging

from cluster.host_interface import HostClosed
from cluster.runtime.links import PbxLink
from cluster.subscriptions import Subscription

log = logging.getLogger("cluster.host")


class FanOut:
    """The host's links, subscriptions and held results (a mixin: CoreHost sets
    `stream_queue_limit`, `link_replay_window`, `persistence` and `closed`)."""

    def _init_fan_out(self) -> None:
        self._agent_subs: dict[tuple, list] = {}            # (site, agent id) -> [Subscription]
        self._routing_subs: list[Subscription] = []
        self._links: dict[str, PbxLink] = {}
        self._held: list = []                   # applied, announced once durable
        self._next_round: asyncio.Future | None = None
        self._flusher: asyncio.Task | None = None

    def _fan_out(self, routed) -> None:
        if self.persistence is not None:
            # Held until the journal has the events behind them (see _flush_rounds).
            self._held.extend(routed)
            self._request_flush()
            return
        self._deliver(routed)

    def _deliver(self, routed) -> None:
        links, agent_subs, routing_subs = self._links, self._agent_subs, self._routing_subs
        if not agent_subs and not routing_subs:
            # Nobody follows agents or routing events (the usual case under PBX load):
            # only the owning links get actions.
            for item in routed:
                if item.link_id is not None:
                    link = links.get(item.link_id)
                    if link is not None:
                        link.push(item)
            return
        for item in routed:
            if item.link_id is not None:
                link = links.get(item.link_id)
                if link is not None:
                    link.push(item)
                if item.link_only:
                    continue
            if agent_subs:          # no desktop follows an agent: no key to build per action
                agent_id = getattr(item.action, "agent_id", None)
                if agent_id is not None:
                    for sub in agent_subs.get((item.site, agent_id), ()):
                        sub.push(item)
            if item.agent_only:
                continue
            for sub in routing_subs:
                if sub.accepts is None or sub.accepts(item):
                    sub.push(item)

    def subscribe_agent(self, site: str, agent_id: str) -> Subscription:
        """Offers, revoked offers, state changes and finished contacts of one agent."""
        self._agent(site, agent_id)
        sub = Subscription(self.stream_queue_limit)
        sub.agent_key = (site, agent_id)
        self._agent_subs.setdefault(sub.agent_key, []).append(sub)
        return sub

    def subscribe_routing(self, accepts=None, *, limit: int | None = None) -> Subscription:
        """Every routing action the predicate accepts (None: all), at most `limit` waiting
        (default: the host's stream queue limit)."""
        sub = Subscription(limit or self.stream_queue_limit, accepts)
        self._routing_subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        if sub.agent_key is None:
            if sub in self._routing_subs:
                self._routing_subs.remove(sub)
            return
        subs = self._agent_subs.get(sub.agent_key, [])
        if sub in subs:
            subs.remove(sub)
            if not subs:
                del self._agent_subs[sub.agent_key]

    def link(self, link_id: str) -> PbxLink:
        """The PBX link with this id, created on first use and kept across reconnects."""
        link = self._links.get(link_id)
        if link is None:
            link = self._links[link_id] = PbxLink(link_id, self.link_replay_window,
                                                   self.stream_queue_limit)
            link.may_rebase = self.persistence is not None
        return link

    def _close_agent_streams(self, matches) -> None:
        for key in [key for key in self._agent_subs if matches(key)]:
            for sub in self._agent_subs.pop(key):
                sub.close()

    # ---- durability (with a store) ----------------------------------------------------------
    def _request_flush(self) -> asyncio.Future:
        """The future of the flush round that will include everything applied so far.

        Rounds run one after another: while one is being committed, whatever is applied
        meanwhile waits for the next, so a busy host commits many batches per transaction
        (group commit) and a quiet one commits each batch at once."""
        if self._next_round is None:
            self._next_round = asyncio.get_running_loop().create_future()
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.get_running_loop().create_task(self._flush_rounds())
        return self._next_round

    async def _flush_rounds(self) -> None:
        while self._next_round is not None:
            round_done, self._next_round = self._next_round, None
            held, self._held = self._held, []
            try:
                # flush() takes the entries collected so far before it first awaits: this
                # round covers exactly what was applied before it started.
                await self.persistence.flush()
            except Exception as error:
                self._store_failed(error, round_done)
                return
            self._deliver(held)
            round_done.set_result(None)

    def _store_failed(self, error, round_done) -> None:
        """The journal could not commit: the sites are ahead of it. Announce nothing more
        and stop, so that PBXs fail over and a restart recovers from what is durable."""
        log.error("the store failed; the router stops: %s: %s", type(error).__name__, error)
        failure = HostClosed()
        for waiting in (round_done, self._next_round):
            if waiting is not None and not waiting.done():
                waiting.set_exception(failure)
                waiting.exception()         # retrieved: no "never retrieved" warning
        self._next_round = None
        self._held = []
        self.closed = True
        for link in self._links.values():
            if link.stream is not None:
                link.stream.fail("UNAVAILABLE", "the router's store failed; reconnect to resume")

    async def drain(self) -> None:
        """Wait until every flush round started so far has committed (shutdown)."""
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            await asyncio.shield(flusher)

    async def _durable(self) -> None:
        """Return once everything applied so far is committed and announced. Shielded: a
        cancelled caller (a closed stream) must not cancel the round other callers share."""
        if self.closed:
            raise HostClosed()
        await asyncio.shield(self._request_flush())

    def _end_streams(self) -> None:
        """The host stops: subscriptions close, PBX links fail over."""
        for sub in list(self._routing_subs):
            sub.close()
        for subs in self._agent_subs.values():
            for sub in subs:
                sub.close()
        for link in self._links.values():
            if link.stream is not None:
                link.stream.fail("UNAVAILABLE", "the router is shutting down; reconnect to resume")

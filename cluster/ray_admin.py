"""Administration of a RayHost's sites: Admin writes, run in order with the rounds, and
moving a site actor to another node (`vcc rebalance`)."""

from __future__ import annotations

import logging
import time as _time

from actors.handles import SiteHandle, site_actor_name
from cluster import plan_admin
from actors.site_actor import ActorUnavailable
from cluster.host import NotFound
from cluster.ray_jobs import SiteUnavailable
from sites.model import SiteConfig

log = logging.getLogger("cluster.ray_host")


class RayAdministration:
    """RayHost's administration (a mixin: it uses the host's state)."""

    async def skill(self, site, name) -> tuple:
        self._site(site)
        configs = await self._read(site, "skill_configs")
        config = configs.get(name)
        if config is None:
            raise NotFound("name", f"no skill {name!r} at site {site!r}")
        return config

    async def agent(self, site, agent_id) -> tuple:
        self._site(site)
        view = await self._read(site, "agent_view", agent_id)
        if view is None:
            raise NotFound("name", f"no agent {agent_id!r} at site {site!r}")
        return view[0], view[1]

    async def agents_of(self, site) -> list:
        self._site(site)
        return await self._read(site, "agents_view")

    # Writes run in order with the rounds (`_serialized`): a round never sees half a change.
    async def put_site(self, name) -> bool:
        async def put() -> bool:
            if name in self.handles:
                return False
            # A new site runs the center's plans, as every other site (CoreHost.put_site).
            handle = SiteHandle.create(SiteConfig(name, plans=self.plans, tiers=self.tiers,
                                                  wall_start=self.wall_clock.start_epoch),
                                       name=site_actor_name(name) if self._named else None,
                                       store=self.store)
            self.handles[name] = handle
            self._owned.add(name)
            self._site_skills[name] = set()
            self._agent_configs[name] = {}
            self._queued[name] = {}
            try:
                await self._ask_async(name, "info")        # started and answering
                if self.plans_change is not None:          # journaled with its site
                    await self._ask_async(name, "put_plans", self.plans_change)
            except SiteUnavailable:
                self._forget_site(name)
                handle.kill(restart=False)
                raise
            return True
        return await self._serialized(put)

    def _forget_site(self, name) -> None:
        self.handles.pop(name, None)
        self._owned.discard(name)
        for mirror in (self._site_skills, self._agent_configs, self._queued):
            mirror.pop(name, None)
        self._deadlines.pop(name, None)
        self._stale.discard(name)   # a site gone is not recovered

    async def delete_site(self, name) -> None:
        async def delete() -> None:
            handle = self.handles.get(name)
            if handle is None:
                raise NotFound("name", f"no site {name!r}")
            self._answering(name)
            # With a store the actor also ends its journal with a tombstone (CoreHost too).
            await self._ask_async(name, "retire")
            self._forget_site(name)
            handle.kill(restart=False)
            self._close_agent_streams(lambda key: key[0] == name)
        await self._serialized(delete)

    async def put_skill(self, site, config) -> bool:
        async def put() -> bool:
            self._site(site)
            self._answering(site)
            new = await self._ask_async(site, "put_skill", config)
            self._site_skills[site].add(config.name)
            return new
        return await self._serialized(put)

    def center_skills(self) -> set:
        return {name for skills in self._site_skills.values() for name in skills}

    async def put_plans(self, document: dict) -> dict:
        """As CoreHost.put_plans, at every site actor. Every site must be answering first
        (a late or recovering one fails the call fast, UNAVAILABLE, and nothing changes)."""
        async def put() -> dict:
            config, change = plan_admin.checked_change(document, self.center_skills(),
                                                       self.handles)
            for site in self.handles:
                self._answering(site)
            for site in sorted(self.handles):
                await self._ask_async(site, "put_plans", change)
            self.plans, self.plans_change = config, change
            return config.source
        return await self._serialized(put)

    async def delete_skill(self, site, name) -> None:
        async def delete() -> None:
            self._site(site)
            self._answering(site)
            await self._ask_async(site, "delete_skill", name)
            self._site_skills[site].discard(name)
        await self._serialized(delete)

    async def put_agent(self, site, config) -> bool:
        async def put() -> bool:
            self._site(site)
            self._answering(site)
            new = await self._ask_async(site, "put_agent", config)
            self._agent_configs[site][config.agent_id] = config
            return new
        return await self._serialized(put)

    async def delete_agent(self, site, agent_id) -> None:
        async def delete() -> None:
            self._site(site)
            self._answering(site)
            await self._ask_async(site, "delete_agent", agent_id)
            self._agent_configs[site].pop(agent_id, None)
            self._close_agent_streams(lambda key: key == (site, agent_id))
        await self._serialized(delete)

    # ---- moving a site (vcc rebalance) ----------------------------------------------------------
    async def rebalance(self, nodes=None) -> list:
        """Place the site actors by the spreading rule (`ray_runtime.spread`, sites in this
        host's order) over `nodes` (default: the alive Ray nodes), moving each site actor
        that runs elsewhere with `move_site`. [(site, from node, to node)] of the moves."""
        from cluster import ray_runtime

        plan = ray_runtime.spread(list(self.handles),
                                  ray_runtime.list_nodes() if nodes is None else nodes)
        moves = []
        for site, target in plan.items():
            if site not in self.handles:
                continue        # deleted meanwhile
            where = (await self._read(site, "info")).node_id
            if where != target:
                await self._serialized(self._move_job(site, target))
                moves.append((site, where, target))
        return moves

    def _move_job(self, site, node_id):
        async def move() -> None:
            self.move_site(site, node_id)
        return move

    def move_site(self, site, node_id, *, timeout_s: float = 60.0) -> None:
        """Move a site's actor to `node_id` without losing an event.

        One blocking step, run in order with the rounds (`rebalance`; no round can run
        meanwhile; the gateway waits, typically about a second): snapshot the old actor, kill it, start the new one on the node under the
        same Ray name with the site's current configuration (what a later restart rebuilds
        from), load the snapshot into it, switch the host over. If the new actor does not
        answer within `timeout_s` (e.g. the node went away), it is started on any alive node
        with the same snapshot instead: the site is never left without its state.
        """
        self._site(site)
        old = self.handles[site]
        snapshot = self._ask(site, "snapshot")
        skills = self._ask(site, "skill_configs")
        config = SiteConfig(site, tuple(skills.values()),
                            tuple(self._agent_configs[site].values()))
        old.kill(restart=False)
        name = site_actor_name(site) if self._named else None
        new = self._start_actor(config, node_id, name, timeout_s)
        if new is None:
            log.warning("site %s could not start on node %s; starting it anywhere", site,
                        node_id)
            new = self._start_actor(config, None, name, timeout_s)
            if new is None:
                raise SiteUnavailable(ActorUnavailable(site, "could not be started again "
                                                             "after a move"))
        self.handles[site] = new
        self._owned.add(site)
        self._ask(site, "load_snapshot", snapshot)
        log.info("site %s moved to node %s", site, self._ask(site, "info").node_id)

    def _start_actor(self, config, node_id, name, timeout_s):
        """A new site actor answering within `timeout_s`, or None. A name still held by
        the actor just killed (Ray frees it once that one is dead) is waited for."""
        deadline = _time.monotonic() + timeout_s
        while True:         # bounded by the deadline
            try:
                handle = SiteHandle.create(config, node_id=node_id, name=name, store=self.store)
                break
            except ValueError:          # the name is taken: the old actor is not dead yet
                if _time.monotonic() > deadline:
                    return None
                _time.sleep(0.05)
        try:
            handle.send("info").result(max(deadline - _time.monotonic(), 1.0))
        except ActorUnavailable:
            handle.kill(restart=False)
            return None
        return handle

"""How a RayHost comes back in step with its site actors: a new leader's directory from what
the recovered sites hold, and a restarted actor's site resynced before it is used again.

A site whose actor failed a call (it died and Ray restarts it, or it did not answer within
`call_timeout_s`) is `_stale`: it is resynced in the background, one task per site
(`_recover`), while every request for it fails fast with SiteUnavailable (gRPC UNAVAILABLE:
the caller retries) and it sits out Best Service Routing and ticks, as a late site does
(cluster/ray_late.py). Why in the background: waiting for a restarting actor takes seconds,
and a round that waited for it would hold up every other site's contacts meanwhile."""

from __future__ import annotations

import asyncio
import logging

from actors.site_actor import ActorUnavailable
from cluster.host import ContactEntry, HostClosed, Routed
from cluster.runtime.rounds import run_now
from sites.model import ContactState
from sites.plans import parse_plan_config

log = logging.getLogger("cluster.ray_host")


class Recovery:
    """RayHost's recovery (a mixin: it uses the host's state)."""

    def _load_mirrors(self) -> None:
        """Read each site's skills and agents back from its actor (blocking)."""
        calls = {site: (handle.send("skill_configs"), handle.send("agents_view"),
                        handle.send("plans_change"))
                 for site, handle in sorted(self.handles.items())}
        for site, (skills, agents, plans) in calls.items():
            self._site_skills[site] = set(skills.result(self.call_timeout_s))
            self._agent_configs[site] = {config.agent_id: config
                                         for config, _ in agents.result(self.call_timeout_s)}
            change = plans.result(self.call_timeout_s)
            if change is not None:      # plans Admin put in an earlier run: newer than the file's
                self.plans = parse_plan_config(change["document"], change["skills"],
                                               change.get("sites"))
                self.plans_change = change

    def _mark_stale(self, site) -> None:
        """The site's actor failed a call: out of service until it is resynced."""
        self._stale.add(site)
        self._recover_in_background(site)

    def _resync_stale(self) -> None:
        """Make sure every stale site is being resynced (a site marked stale where no event
        loop ran, or whose recovery gave up, gets a new try); never waits for it."""
        for site in sorted(self._stale):
            self._recover_in_background(site)

    def _recovering(self, site) -> ActorUnavailable | None:
        """If `site` is being recovered, what its requests fail with now (instead of waiting
        for its actor to come back, or reaching it before its directory is in step)."""
        if site not in self._stale:
            return None
        self._recover_in_background(site)
        return ActorUnavailable(site, "is being recovered (its actor failed; restarting or "
                                      "not answering); retry")

    def _recover_in_background(self, site) -> None:
        task = self._resyncs.get(site)
        if (task is not None and not task.done()) or self.closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:        # blocking startup code: the first round starts it
            return
        self._resyncs[site] = loop.create_task(self._recover(site))

    async def _recover(self, site) -> None:
        """Try to resync `site` until it is in step again, pausing between tries, for at most
        `recovery_timeout_s` (each try is bounded by `call_timeout_s`). A site still stale
        then keeps failing fast; its next request or round starts a new recovery."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.recovery_timeout_s
        pause = 0.05
        while site in self._stale and not self.closed:
            try:
                await self._resync(site)
            except HostClosed:      # SiteUnavailable: still restarting; or the host stopped
                pass
            except Exception:       # a bug: keep the site out of service, say why
                log.exception("resyncing site %s failed", site)
            if site not in self._stale or self.closed:
                break
            if loop.time() + pause > deadline:
                log.warning("site %s not recovered within %.0f s: its requests fail fast "
                            "until a later try succeeds", site, self.recovery_timeout_s)
                return
            await asyncio.sleep(pause)
            pause = min(2 * pause, 1.0)

    async def _stop_recoveries(self) -> None:
        tasks = [task for task in self._resyncs.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._resyncs.clear()

    async def _resync(self, site) -> None:
        """Bring the directory in step with a site actor that was restarted and rebuilt from
        the store. A call that failed may or may not have been applied (and committed)
        before the actor died: what the site has now is the truth. A contact the site holds
        live is (again) listed there; one the directory lists there that the site finished
        gets its final state; one the site never committed leaves the directory: the event
        that brought it was not acknowledged, so its PBX sends it again. A contact the site
        holds live that the directory has at (or finished at) another site was interflowed
        there: the site is told `ContactInterflowed` again (`_release`) and the directory
        keeps it where it went.

        Without a store there is nothing to resync from: the site is back once its actor
        answers (rebuilt from its configuration; see cluster/ray_host.py on what is lost).

        The actor is asked here, outside the rounds (it may take seconds to restart); the
        directory is brought in step in order with the rounds (`_serialized`), as no round
        may see it half done. Nothing reaches the site in between (it is stale), so what it
        said is still what it holds."""
        if self.store is None:
            await self._ask_async(site, "info")
            self._stale.discard(site)
            self._arm_timer()       # its deadlines count again
            return
        # A standby actor restarted by Ray holds no site until it is given the store
        # again (actors/site_actor.py); any other actor has it already (no-op).
        await self._ask_async(site, "adopt", self.store)
        view = await self._ask_async(site, "directory")
        await self._serialized(lambda: self._in_step(site, view))

    async def _in_step(self, site, view) -> None:
        """`_resync`'s second half: the directory in step with `view` (the site's directory)."""
        self._stale.discard(site)
        self._note(site, view)
        self._arm_timer()           # its deadlines count again
        dropped = finished = 0
        for contact_id, entry in list(self._contacts.items()):
            if entry.site != site or contact_id in view.live:
                continue
            del self._contacts[contact_id]
            final = view.finished.get(contact_id)
            if final is not None and final is not ContactState.INTERFLOWED:
                self._finished[contact_id] = self._final(final, site)
                finished += 1
            else:
                dropped += 1
        added = 0
        moved = []                  # (contact id, the site it went to)
        for contact_id, (skill, origin) in view.live.items():
            entry = self._contacts.get(contact_id)
            ended = self._finished.get(contact_id)
            elsewhere = entry.site if entry is not None else (
                ended[1] if ended is not None else site)
            if elsewhere != site:
                moved.append((contact_id, elsewhere))
            elif entry is None:
                self._contacts[contact_id] = ContactEntry(contact_id, site, site, skill, origin)
                added += 1
        released = {}
        if moved:
            # Why: this site was the source of interflows whose target accepted (the contact
            # is live there, or already finished there) but whose `ContactInterflowed` did not
            # reach it: the actor died between the two steps of `_interflow` and recovered
            # the contacts still queued from its journal. Left alone, such a contact would be
            # routed here too (offered to an agent of this site while the target has it), i.e.
            # routed twice. So it is released here now, with the very call `_interflow` makes
            # (the Interflowed itself was announced then); the directory keeps it where it
            # went. If this call fails, the site is stale again and the next resync retries.
            now = self.now()
            released = await self.protocol.release({site: moved}, now)
            self._fan_out(self._convert(
                site, [action for actions in released.values() for action in actions], now))
        log.info("site %s resynced after a restart: %d live, %d listed again, %d found "
                 "finished, %d never committed, %d of %d interflowed elsewhere released",
                 site, len(view.live), added, finished, dropped, len(released), len(moved))
        self.retry_pulls()          # pulls its missing surveys stopped (cluster/ray_late.py)

    def recover_directory(self) -> dict:
        """A new host on actors that recovered their sites from the store (a new leader,
        cluster/leader_gate.py): its contact directory, finished contacts, PBX links (a
        contact's journaled origin) and clock from what the sites hold (blocking Ray calls:
        call before serving). {site: live contacts}.

        As CoreHost._rebuild_directory does, every open offer is announced again on its
        contact's link: the old leader may have died with it in flight (a PBX that had it
        already sees the same contact offered to the same agent, which changes nothing).

        A contact live at two sites is an interflow the old leader did not finish (it died
        between the target's acceptance and the source's release): one copy is kept (the
        one offered to an agent, if any) and the other site releases its copy
        (`ContactInterflowed`, as `_interflow` would have), so it is never routed twice."""
        self._load_mirrors()
        views = {site: self._ask(site, "directory") for site in sorted(self.handles)}
        clocks = [self._ask(site, "clock") for site in sorted(self.handles)]
        resume_at = max((value for value in clocks if value is not None), default=0.0)
        if resume_at > self._now:           # the sites refuse time that goes backwards
            self._origin = self._clock() - resume_at
            self._now = resume_at
        moved_from = {contact_id: site for site, view in views.items()
                      for contact_id, final in view.finished.items()
                      if final is ContactState.INTERFLOWED}
        for contact_id in moved_from:
            self.center.note_interflow(contact_id)
        releases = _halves_to_release(views)
        for site, group in releases.items():
            for contact_id, kept in group:
                moved_from[contact_id] = site
                self.center.note_interflow(contact_id)
        released_at = {(site, contact_id) for site, group in releases.items()
                       for contact_id, _ in group}
        for site, view in views.items():
            self._note(site, view)
            for contact_id, (skill, origin) in view.live.items():
                if (site, contact_id) in released_at:
                    continue
                self._contacts[contact_id] = ContactEntry(
                    contact_id, site, moved_from.get(contact_id, site), skill, origin)
                if origin is None:
                    continue
                link = self.link(origin)
                offer = view.offers.get(contact_id)
                if offer is not None:
                    link.push(Routed(site, self._now, offer, skill, origin))
            for contact_id, final in view.finished.items():
                if final is not ContactState.INTERFLOWED:
                    self._finished[contact_id] = self._final(final, site)
        if releases:
            self._ray_sites.blocking = True         # before serving: no event loop needed
            try:
                released = run_now(self.protocol.release(releases, self._now))
            finally:
                self._ray_sites.blocking = False
            log.warning("recovery: %d contact(s) were live at two sites (an interflow cut "
                        "short by the previous leader); released %d: %s", len(released_at),
                        len(released), sorted(released))
        return {site: len(view.live) - sum(1 for where, _ in released_at if where == site)
                for site, view in views.items()}

    def adopt_store(self) -> None:
        """Hand `store` to every site actor started as a standby (each recovers its site
        from it, all at once; blocking: call before serving). Actors that have a store
        already are unchanged."""
        calls = {site: handle.send("adopt", self.store)
                 for site, handle in sorted(self.handles.items())}
        for site, call in calls.items():
            call.result(self.call_timeout_s)


def _halves_to_release(views) -> dict:
    """{site: [(contact id, the site keeping it)]} for every contact live at more than one
    of `views` ({site: SiteDirectory}): the copy offered to an agent is kept (the other is
    queued: an interflow moves only queued contacts), else the one at the last site in name
    order (either is a valid place for it; one rule keeps recovery deterministic)."""
    holders: dict = {}
    for site in sorted(views):
        for contact_id in views[site].live:
            holders.setdefault(contact_id, []).append(site)
    releases: dict = {}
    for contact_id, sites in holders.items():
        if len(sites) < 2:
            continue
        offered = [site for site in sites if contact_id in views[site].offers]
        kept = offered[0] if offered else sites[-1]
        for site in sites:
            if site != kept:
                releases.setdefault(site, []).append((contact_id, kept))
    return releases

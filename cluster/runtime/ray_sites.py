"""The sites of a round in Ray site actors: the Ray runtime's backend of
`cluster.runtime.rounds.Rounds` (the in-process one is cluster/runtime/local_sites.py).

Each question of a round is one call per site actor concerned, all submitted before any
answer is awaited (so the actors work concurrently, and the gateway's event loop serves
other requests meanwhile), through the host's `_gather_async`, which turns a failed call
into its exception (the site is then resynced before it is used again,
cluster/ray_host.py). The actor answers with `sites.rounds.SiteRounds`, like a local site.

What the round reads without a call comes from the actors' earlier answers, kept here by
the host (`RayHost._note`): each site's next deadline and queue lengths; the skills and
agents of each site are the host's mirrors, kept by its Admin writes.
"""

from __future__ import annotations


class RaySites:
    def __init__(self, host):
        self.host = host            # a RayHost: handles, _gather, _note and the mirrors
        # Before the host serves (recovery), a round may block: it then runs with
        # `cluster.runtime.rounds.run_now`, without an event loop of its own.
        self.blocking = False

    async def _calls(self, method: str, arguments_by_site: dict) -> dict:
        host = self.host
        calls = {site: host.handles[site].send(method, *arguments)
                 for site, arguments in arguments_by_site.items()}
        answers = host._gather(calls) if self.blocking else await host._gather_async(calls)
        for site, answer in answers.items():
            if not isinstance(answer, Exception):
                host._note(site, answer)
        return answers

    # ---- what a round asks --------------------------------------------------------------------
    def count(self) -> int:
        return len(self.host.handles)

    async def handle_rounds(self, events_by_site: dict) -> dict:
        return await self._calls("handle_round", {site: (events,)
                                            for site, events in events_by_site.items()})

    async def handle_one(self, site: str, event):
        """One event at one site: its actions, why it was refused, or why the site failed."""
        answer = (await self.handle_rounds({site: [event]}))[site]
        return answer if isinstance(answer, Exception) else answer.results[0]

    async def surveys(self, requests: dict) -> dict:
        return await self._calls("survey", requests)

    async def accept_interflows(self, arrivals_by_site: dict) -> dict:
        return await self._calls("accept_interflows", {site: (arrivals,)
                                                 for site, arrivals in arrivals_by_site.items()})

    async def ticks_due(self, now: float) -> dict:
        host = self.host
        # With a store, a site still out of step (its actor restarting) is ticked once it
        # is resynced (without one there is nothing to resync from).
        waiting = host._stale if host.store is not None else ()
        due = sorted(site for site, at in host._deadlines.items()
                     if at <= now and site not in waiting)
        return await self._calls("tick_due", {site: (now,) for site in due})

    def with_skill(self, skill: str) -> list:
        return [site for site, skills in self.host._site_skills.items() if skill in skills]

    def agent_config(self, site: str, agent_id: str):
        return self.host._agent_configs.get(site, {}).get(agent_id)

    def queued_elsewhere(self, site: str, skill: str) -> bool:
        for name, queued in self.host._queued.items():
            if name != site and queued.get(skill):
                return True
        return False

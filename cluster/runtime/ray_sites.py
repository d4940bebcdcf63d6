"""The sites of a round in Ray site actors: the Ray runtime's backend of
`cluster.runtime.rounds.Rounds` (the in-process one is cluster/runtime/local_sites.py).

Each question of a round is one call per site actor concerned, all submitted before any
answer is awaited (so the actors work concurrently, and the gateway's event loop serves
other requests meanwhile). The actor answers with `sites.rounds.SiteRounds`, like a local
site.

A slow site delays only itself, and so does a failed one: a site whose actor failed a call is
being recovered (cluster/ray_recovery.py); its events fail at once and it takes no part in
Best Service Routing until it is back. A round waits for a site's answer at most four times as
long as sites have lately taken to answer (at least 20 ms, at most `RayHost.late_after_s`);
then the site is `Late`: the round goes on, and the host settles that
site's events when its answer comes, in order, `RayHost.later`); while a site has answers
outstanding, later rounds do not wait for it at all, and it takes no part in Best Service
Routing (no survey, no tick, no interflow) until it has caught up. A survey or a tick that
comes late is settled the same way (its actions are never lost). The two steps of an
interflow (the target accepts, the source lets go) are awaited in full: they go only to
sites that have just answered a survey, and the directory must know where the contact is.

What the round reads without a call comes from the actors' earlier answers, kept here by
the host (`RayHost._note`): each site's next deadline and queue lengths; the skills and
agents of each site are the host's mirrors, kept by its Admin writes.
"""

from __future__ import annotations

import asyncio
import time

from cluster.runtime.rounds import Late


class RaySites:
    def __init__(self, host):
        self.host = host            # a RayHost: handles, _gather, _note, late sites, mirrors
        # Before the host serves (recovery), a round may block: it then runs with
        # `cluster.runtime.rounds.run_now`, without an event loop of its own.
        self.blocking = False

    def _available(self, site: str) -> bool:
        """May a round ask this site a cross-site question now?"""
        host = self.host
        return site in host.handles and site not in host._late and site not in host._stale

    async def _calls(self, method: str, arguments_by_site: dict, *,
                     patience: float | None = None, settle_late=None) -> dict:
        """{site: answer, the exception, or Late}. With `patience`, a site that has not
        answered by then is Late and its answer goes to `settle_late(site, call)` when it
        comes; a site already late is not waited for at all."""
        host = self.host
        calls = {site: host.handles[site].send(method, *arguments)
                 for site, arguments in arguments_by_site.items()}
        if self.blocking:
            answers = host._gather(calls)
        elif patience is None or settle_late is None:
            answers = await host._gather_async(calls)
        else:
            answers = {}
            waiting = {}
            for site, call in calls.items():
                task = host._answer_of(site, call)
                if site in host._late:
                    answers[site] = settle_late(site, task)       # in order, after the others
                else:
                    waiting[site] = task
            if waiting:
                started = time.perf_counter()
                done, _ = await asyncio.wait(waiting.values(), timeout=patience)
                waited = time.perf_counter() - started
                host.ray_seconds += waited
                if len(done) == len(waiting):
                    host._answered_in(waited)
            host.ray_calls += len(calls)
            for site, task in waiting.items():
                if task.done():
                    answers[site] = task.result()
                else:
                    answers[site] = settle_late(site, task)
        for site, answer in answers.items():
            if not isinstance(answer, Exception):
                host._note(site, answer)
        return answers

    # ---- what a round asks --------------------------------------------------------------------
    def count(self) -> int:
        return len(self.host.handles)

    async def handle_rounds(self, events_by_site: dict, may_be_late: bool = False) -> dict:
        # A site being recovered (its actor failed a call) gets nothing: its events fail at
        # once (their callers retry), rather than wait for its actor to come back.
        host = self.host
        refused = {}
        arguments = {}
        for site, events in events_by_site.items():
            recovering = host._recovering(site)
            if recovering is None:
                arguments[site] = (events,)
            else:
                refused[site] = recovering
        if not may_be_late or host.late_after_s is None:
            answers = await self._calls("handle_round", arguments)
        else:
            answers = await self._calls("handle_round", arguments, patience=host.patience(),
                                        settle_late=self._late_events)
        answers.update(refused)
        return answers

    def _late_events(self, site, task) -> Late:
        # The round hands the events' items to the host with this (`RoundHost.later`).
        return Late(site, task)

    async def handle_one(self, site: str, event, may_be_late: bool = False):
        """One event at one site: its actions, why it was refused, why the site failed, or
        Late."""
        answer = (await self.handle_rounds({site: [event]}, may_be_late))[site]
        return answer if isinstance(answer, Exception) else answer.results[0]

    async def surveys(self, requests: dict) -> dict:
        requests = {site: arguments for site, arguments in requests.items()
                    if self._available(site)}
        return await self._calls("survey", requests, patience=self.host.patience(),
                                 settle_late=self._late_actions)

    def _late_actions(self, site, task) -> Late:
        """A survey or a tick that came late: its actions are settled when it answers."""
        self.host.later_actions(site, task)
        return Late(site, task)

    async def accept_interflows(self, arrivals_by_site: dict) -> dict:
        return await self._calls("accept_interflows", {site: (arrivals,)
                                                       for site, arrivals in
                                                       arrivals_by_site.items()})

    async def ticks_due(self, now: float) -> dict:
        host = self.host
        # A site being recovered (its actor failed a call) is ticked once it is back; a late
        # site once it has caught up.
        due = sorted(site for site, at in host._deadlines.items()
                     if at <= now and site not in host._stale and site not in host._late)
        return await self._calls("tick_due", {site: (now,) for site in due},
                                 patience=host.patience(), settle_late=self._late_actions)

    def with_skill(self, skill: str) -> list:
        return [site for site, skills in self.host._site_skills.items()
                if skill in skills and self._available(site)]

    def agent_config(self, site: str, agent_id: str):
        return self.host._agent_configs.get(site, {}).get(agent_id)

    def queued_elsewhere(self, site: str, skill: str) -> bool:
        for name, queued in self.host._queued.items():
            if name != site and queued.get(skill) and self._available(name):
                return True
        return False

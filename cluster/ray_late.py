"""Late sites of a RayHost: a site actor that has not answered a round in time (stopped,
overloaded) is waited for no longer; its answers are settled when they come, in the order
its calls were made (cluster/runtime/ray_sites.py says when a site is late)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from actors.site_actor import ActorUnavailable
from cluster.host_interface import HostClosed
from cluster.ray_jobs import SiteUnavailable, _resolve
from cluster.runtime.rounds import holder

log = logging.getLogger("cluster.ray_host")


class LateSites:
    """RayHost's part that settles late answers (a mixin: it uses the host's state)."""

    def _answer_of(self, site, call) -> asyncio.Task:
        """A task with the call's answer, or the exception it failed with (never raised)."""
        async def answer():
            try:
                return await call.wait(self.call_timeout_s)
            except Exception as error:
                return self._failed_call(site, error)
        return asyncio.get_running_loop().create_task(answer())

    def patience(self) -> float | None:
        """How long a round waits for a site before it goes on without it: four times the
        recent answer time (a smoothed average), within 20 ms .. `late_after_s` (None:
        as long as a call may take, `call_timeout_s`; no site is ever late)."""
        if self.late_after_s is None:
            return None
        return min(self.late_after_s, max(0.020, 4.0 * self._answer_time))

    def _answered_in(self, seconds: float) -> None:
        self._answer_time += 0.1 * (seconds - self._answer_time)

    def later(self, site, items, late) -> None:
        """RoundHost: settle `items` when their late site answers (in order with its other
        late answers); their callers wait until then, the other sites do not."""
        for item in items:
            item.owner.late += 1
        self._chain(site, late.call, lambda answer: self._settle_late(site, items, answer))

    def later_actions(self, site, task) -> None:
        """A late survey or tick: its actions are settled when it answers."""
        def settle(answer) -> None:
            if isinstance(answer, Exception):
                log.warning("site %s: a late call failed: %s", site, answer)
                return
            self._note(site, answer)
            actions = answer.actions if hasattr(answer, "actions") else answer.results
            self._after_late(site, actions)
        self._chain(site, task, settle)

    def _chain(self, site, task, settle) -> None:
        chain = self._late.get(site)
        if chain is None:
            chain = self._late[site] = deque()
            log.warning("site %s is late (no answer within %.3f s): rounds go on without it",
                        site, self.patience())
            asyncio.get_running_loop().create_task(self._catch_up(site, chain))
        chain.append((task, settle))

    async def _catch_up(self, site, chain) -> None:
        """Settle a late site's answers in the order its calls were made; it takes part in
        rounds again once none is outstanding."""
        try:
            while chain:            # bounded: each call answers or fails within its timeout
                task, settle = chain[0]
                answer = await task
                chain.popleft()
                try:
                    settle(answer)
                except Exception:
                    log.exception("settling a late answer of site %s failed", site)
        finally:
            if self._late.get(site) is chain:
                del self._late[site]
            log.info("site %s caught up", site)
            self._arm_timer()       # its deadlines count again
            self.retry_pulls()

    # ---- pulls a late site stopped -------------------------------------------------------------
    def pull_later(self, site, agent_id) -> None:
        """Rounds: a pull a missing survey stopped (a site late or being recovered), tried
        again once no site is late (`retry_pulls`)."""
        self._deferred_pulls.add((site, agent_id))

    def retry_pulls(self) -> None:
        """Once no site is late: the pulls put off, in order with the rounds. A pull whose
        agent is no longer ready, or whose contact went, does nothing."""
        if self._deferred_pulls and not self._late and not self.closed:
            asyncio.get_running_loop().create_task(self._retry_pulls())

    async def _retry_pulls(self) -> None:
        try:
            await self._serialized(self._pull_job)
        except HostClosed:
            pass
        except Exception:       # a bug: say so; the next catch-up tries again
            log.exception("retrying the pulls late sites stopped failed")

    async def _pull_job(self) -> None:
        pending, self._deferred_pulls = sorted(self._deferred_pulls), set()
        if not pending:
            return
        now = self.now()
        fanned = []
        owner = holder()
        try:
            await self.protocol.pull([(owner, site, agent) for site, agent in pending], now,
                                     fanned)
        finally:
            self._fan_out(fanned)
            self._arm_timer()

    def _settle_late(self, site, items, answer) -> None:
        now = self.now()
        fanned = []
        try:
            if isinstance(answer, Exception):
                for item in items:
                    item.failed = answer
                    self.refused(item, now)
            else:
                self._note(site, answer)
                for item, outcome in zip(items, answer.results):
                    self.protocol.settle(item, outcome, now, fanned)
        finally:
            self._fan_out(fanned)
            self._arm_timer()
            for item in items:
                job = item.owner
                job.late -= 1
                if not job.late:
                    _resolve(job)

    def _after_late(self, site, actions) -> None:
        now = self.now()
        fanned = []
        try:
            fanned.extend(self.convert(site, actions, now))
        finally:
            self._fan_out(fanned)
            self._arm_timer()

    def _answering(self, site) -> None:
        """A call that would wait behind a late site's outstanding ones, or for a site actor
        being recovered (cluster/ray_recovery.py), fails fast instead (UNAVAILABLE: retry),
        so that it does not hold up the rounds of every other site."""
        recovering = self._recovering(site)
        if recovering is not None:
            raise SiteUnavailable(recovering)
        if site in self._late:
            raise SiteUnavailable(ActorUnavailable(site, "has not answered for a while "
                                                         "(late); retry"))

"""RayHost: CoreHost's interface with every site's core in a Ray site actor.

`cluster.server.build_server(RayHost(...))` and every servicer work unchanged: RayHost is a
`CoreHost` that keeps the gateway-side parts (clock, contact directory, PBX links,
subscriptions and fan-out, default service objectives, the Best Service Routing decisions
through an in-process `VirtualCenter`) and sends everything that reads or changes a site to
its `SiteActor`, through `actors.handles.SiteHandle` only.

Rounds. A Ray call costs about a millisecond (ARCHITECTURE.md), so events are not sent one
call each: a round sends the events of a batch as ONE `handle_round` call per site actor,
all sites' calls submitted before any result is collected (so they run concurrently), and
every `submit` / `submit_batch` waiting when a round starts is taken into it (up to
`max_round_events` events). A round is atomic, like CoreHost's core calls: it runs on the
event loop and blocks it while it collects the actors' results (about one Ray round trip,
~1-2 ms), so nothing interleaves with it, and every actor sees its events in exactly the
order the gateway decided (the order of the `submit` / `apply_batch` calls, then the order
inside each). Why blocking rather than awaiting: the PBX servicer applies a message with the
synchronous `apply_batch` (results at once, acknowledgements after `committed()`), and an
awaited round in flight could not be finished from inside it. Timer ticks, statistics reads
that advance a clock, administration writes and site moves are blocking rounds too; plain
reads (agent state, skills, contact views) are awaited. Each round's events are stamped
with one host time. The round itself, Best Service Routing follow-ups included, is
`cluster.runtime.rounds.Rounds`, the one every runtime runs, here over the site actors
(`cluster.runtime.ray_sites.RaySites`: each of its questions is one call per site actor
concerned, all submitted before any answer is collected). So the Ray runtime decides what
the in-process runtime and the simulator decide for the same rounds
(tests/integration/test_ray_host.py replays the simulator's recorded BSR world through it);
under load its rounds are larger (whatever waits), which only moves round boundaries.
The price of blocking: while a round waits on Ray the gateway serves no other request (a
site actor that hangs blocks it for up to `call_timeout_s`).

Failures: a site actor that is restarting or dead (or does not answer within
`call_timeout_s`, which the gateway then waits at most) fails the submissions that had
events for it with `SiteUnavailable` (gRPC UNAVAILABLE; PBX links are told to reconnect),
after everything applied elsewhere was announced. An event in flight when the actor died
may or may not have been applied. With a store (`vcc serve --db`, the embedded default
of `vcc demo`), every actor commits before it answers and a restarted actor rebuilds its
site from the journal; before the next round touches it, the host brings its directory in
step with what the site holds (`_resync`). Without a store, a restarted actor is rebuilt
from its configuration only: its agents are logged out and its contacts are gone; the
directory still lists them at that site, events for them are refused by the restarted site
(unknown contact), and they never reach a final state through the router. Admin changes
made since startup are lost at that site too (the gateway's mirror of agents and skills
keeps them, so it may disagree with the site until they are made again).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time as _time
from collections import deque

from actors.handles import SiteHandle, site_actor_name
from actors.site_actor import ActorUnavailable
from cluster.host import (
    ContactEntry,
    ContactView,
    CoreHost,
    EventResult,
    HostClosed,
    NotFound,
    Overloaded,
    PreconditionFailed,
    Routed,
)
from cluster.runtime.ray_sites import RaySites
from cluster.runtime.rounds import Item, Rounds, run_now
from sites.events import ContactArrived
from sites.errors import InvalidInput
from sites.model import ContactState, SiteConfig

log = logging.getLogger(__name__)



class SiteUnavailable(HostClosed):
    """A site actor is restarting or gone: the request may be retried (gRPC UNAVAILABLE).
    A HostClosed so that every servicer (unary and PBX links) answers UNAVAILABLE."""

    def __init__(self, error: ActorUnavailable):
        super().__init__(str(error))
        self.site = error.actor
        self.detail = error.detail


class _Job:
    """A `submit` / `apply_batch` waiting for a round (`pairs`; future: its results), or a
    `task` run in order with the rounds (future: its result)."""
    __slots__ = ("pairs", "link_id", "future", "task", "overloaded", "items", "late")

    def __init__(self, pairs, link_id, future, task=None):
        self.pairs = pairs
        self.link_id = link_id
        self.future = future
        self.task = task
        self.overloaded = ()        # indexes of arrivals refused: the queue was full
        self.items = ()             # its round's items
        self.late = 0               # of them, how many wait for a late site


def _fail(job, error) -> None:
    if not job.future.done():
        job.future.set_exception(error)


def _resolve(job) -> None:
    """A job's round (and its late sites) done: its results, or the first failure."""
    if job.future.done():
        return
    failure = next((item.failed for item in job.items if item.failed is not None), None)
    if failure is not None:
        job.future.set_exception(SiteUnavailable(failure) if isinstance(
            failure, ActorUnavailable) else failure)
    else:
        job.future.set_result([_result(item) for item in job.items])


class RayHost(CoreHost):
    """CoreHost with every site in a `SiteActor` (see the module docstring)."""

    def __init__(self, config, *, clock=None, handles=None, named: bool = True,
                 max_round_events: int = 4096, call_timeout_s: float = 30.0,
                 batch_window_s: float = 0.001, store=None, owns_handles: bool = False,
                 max_waiting_events: int = 16384, late_after_s: float | None = 0.05,
                 **options):
        """`config`: a `cluster.config.ClusterConfig`. `handles`: {site: SiteHandle} of actors
        already started with these sites' configurations (default: one per site, spread over
        the alive Ray nodes by `cluster.ray_runtime.place_site_actors`; Ray must be
        initialised). `named`: register the actors it creates as `site_actor_name(site)`
        (for `vcc status`; a second host in the same Ray namespace needs named=False).
        `call_timeout_s`: the longest a round waits for a site actor (then: unavailable).
        `batch_window_s`: how long a `submit` waits for others to join its round.
        `max_waiting_events`: events that may wait for a round; past it a new arrival is
        refused at once (`Overloaded`: RESOURCE_EXHAUSTED), other events still wait.
        `late_after_s`: the longest a round waits for a site's answer before it goes on
        without it (the site is late: cluster/runtime/ray_sites.py; `patience`).
        `store`: a `cluster.store.site_store.SiteStore` (its database already migrated): every
        site actor journals its site there, commits before it answers, and a restarted actor
        recovers its site from it; the host then brings its directory in step (`_resync`).
        `owns_handles`: the given `handles` are this host's to kill (`kill_actors`), e.g. a
        new leader's standby actors (cluster/ray_runtime.py), adopted with `adopt_store`.
        Other options as CoreHost's (`persistence` is the in-process host's, not used here)."""
        site_configs = dict(config.sites)
        # CoreHost builds the gateway-side parts; no SiteState lives here.
        empty = dataclasses.replace(config, sites={})
        if clock is not None:
            options["clock"] = clock
        super().__init__(empty, **options)
        self._named = named
        self.store = store
        self._stale: set = set()    # sites whose actor failed a call: resync before use
        self._owned = set()         # sites whose actors this host created (and kills)
        if handles is None:
            from cluster import ray_runtime
            handles = ray_runtime.place_site_actors(site_configs, named=named, store=store)
            self._owned.update(handles)
        elif owns_handles:
            self._owned.update(handles)
        self.handles: dict[str, SiteHandle] = dict(handles)
        # Mirrors of what the servicers must know without a Ray call (agent_has_skill is
        # synchronous; skills decide which sites a survey asks). Kept by admin writes; with
        # a store they are read back from the actors (`_load_mirrors`): a recovered site
        # holds the Admin changes of earlier runs, which the configuration file does not.
        self._site_skills = {name: {skill.name for skill in cfg.skills}
                             for name, cfg in site_configs.items()}
        self._agent_configs = {name: {agent.agent_id: agent for agent in cfg.agents}
                               for name, cfg in site_configs.items()}
        self._deadlines: dict[str, float] = {}          # site -> its next deadline
        self._queued: dict[str, dict] = {name: {} for name in site_configs}
        self.max_round_events = max_round_events
        self.call_timeout_s = call_timeout_s
        self.batch_window_s = batch_window_s
        self.max_waiting_events = max_waiting_events
        self.late_after_s = late_after_s
        self._answer_time = (late_after_s or 0.05) / 4   # smoothed: how long sites take to answer
        self._late: dict[str, deque] = {}       # site -> its outstanding late answers
        self._jobs: deque = deque()
        self._waiting_events = 0
        self._drainer: asyncio.Task | None = None
        self._tick_pending = False
        # Figures for benchmarks: rounds run and how long they waited on the actors.
        self.rounds = 0
        self._ray_sites = RaySites(self)
        self.protocol = Rounds(self._ray_sites, self, self.center, bsr=self.bsr,
                               hop_limit=self.hop_limit)
        self.ray_calls = 0
        self.ray_seconds = 0.0

    def _load_mirrors(self) -> None:
        """Read each site's skills and agents back from its actor (blocking)."""
        calls = {site: (handle.send("skill_configs"), handle.send("agents_view"))
                 for site, handle in sorted(self.handles.items())}
        for site, (skills, agents) in calls.items():
            self._site_skills[site] = set(skills.result(self.call_timeout_s))
            self._agent_configs[site] = {config.agent_id: config
                                         for config, _ in agents.result(self.call_timeout_s)}

    # ---- plumbing ---------------------------------------------------------------------------
    def _gather(self, calls: dict) -> dict:
        """{key: PendingCall} (all already submitted) -> {key: result or the exception},
        blocking (startup and recovery only: before the host serves)."""
        if not calls:
            return {}
        started = _time.perf_counter()
        outcomes = {}
        for key, call in calls.items():
            try:
                outcomes[key] = call.result(self.call_timeout_s)
            except Exception as error:
                outcomes[key] = self._failed_call(key, error)
        self.ray_seconds += _time.perf_counter() - started
        self.ray_calls += len(calls)
        return outcomes

    async def _gather_async(self, calls: dict) -> dict:
        """`_gather` awaited: the gateway serves other requests meanwhile."""
        if not calls:
            return {}
        started = _time.perf_counter()
        keys = list(calls)
        timeout = self.call_timeout_s
        answers = await asyncio.gather(*(calls[key].wait(timeout) for key in keys),
                                       return_exceptions=True)
        outcomes = {}
        for key, answer in zip(keys, answers):
            if isinstance(answer, asyncio.CancelledError):
                raise answer
            outcomes[key] = self._failed_call(key, answer) if isinstance(
                answer, Exception) else answer
        self.ray_seconds += _time.perf_counter() - started
        self.ray_calls += len(calls)
        return outcomes

    def _failed_call(self, key, error) -> Exception:
        """What a round sees of a failed call; a site whose actor failed is resynced before
        it is used again."""
        if isinstance(error, ActorUnavailable) and key in self.handles:
            self._stale.add(key)
        elif _refused_as_stale(error):
            return self._fenced(key, error)
        return error

    def _note(self, site, round_result) -> None:
        """Keep what a call said about the site's next deadline and queue lengths."""
        deadline = round_result.next_deadline
        if deadline is None:
            self._deadlines.pop(site, None)
        else:
            self._deadlines[site] = deadline
        self._queued[site] = round_result.queued

    def _ask(self, site, method, *args):
        """One blocking call on a site's actor (startup, recovery, `move_site`)."""
        try:
            return self.handles[site].send(method, *args).result(self.call_timeout_s)
        except Exception as error:
            raise self._ask_error(site, error) from None

    async def _ask_async(self, site, method, *args):
        """One awaited call on a site's actor, errors as the servicers expect them."""
        try:
            return await self.handles[site].send(method, *args).wait(self.call_timeout_s)
        except Exception as error:
            raise self._ask_error(site, error) from None

    def _ask_error(self, site, error) -> Exception:
        if isinstance(error, ActorUnavailable):
            self._stale.add(site)
            return SiteUnavailable(error)
        if _refused_as_stale(error):
            return self._fenced(site, error)
        return error

    def _fenced(self, site, error) -> HostClosed:
        """A site actor's commit was refused: the journal holds a newer leader's token
        (cluster/leader_gate.py). This host's term is over: stop like on a store failure
        (announce nothing more; the leader gate sees `closed` and steps down)."""
        if not self.closed:
            log.error("site %s: the journal refused this host's commit (%s): a newer leader "
                      "claimed the sites; stopping", site, error)
            self._store_failed(error, None)
        return HostClosed()

    async def _read(self, site, call):
        """An awaited read (changes nothing, so it may overlap rounds)."""
        try:
            return await call
        except ActorUnavailable as error:
            raise SiteUnavailable(error) from None

    # ---- the write path -----------------------------------------------------------------------
    # Every write goes through one queue of jobs, run in order by one task (`_drain`):
    # events (batched into rounds), and tasks that must be ordered with them (ticks,
    # statistics reads that advance a site's clock, administration writes). A round awaits
    # the site actors, so the gateway's event loop serves other requests meanwhile.
    async def submit(self, site, events, *, link_id=None) -> list:
        return await self._enqueue([(site, event) for event in events], link_id)

    async def submit_batch(self, batch, *, link_id=None) -> list:
        return await self._enqueue(list(batch), link_id)

    def apply_batch(self, batch, *, link_id=None):
        """The PBX servicer's path: an awaitable of the results (a future), the batch queued
        for a round in the order of the calls."""
        return self._queue(list(batch), link_id)

    def committed(self):
        # Nothing to wait for: with a store, each site actor committed before it answered,
        # so what a round applied is durable when the round returns.
        return None

    def _submit(self, pairs, link_id):          # CoreHost's synchronous path: not used here
        raise TypeError("RayHost applies events in awaited rounds: use submit / apply_batch")

    async def _enqueue(self, pairs, link_id) -> list:
        return await self._queue(pairs, link_id)

    def _queue(self, pairs, link_id) -> asyncio.Future:
        if self.closed:
            raise HostClosed()
        future = asyncio.get_running_loop().create_future()
        job = _Job(pairs, link_id, future)
        if self._waiting_events + len(pairs) > self.max_waiting_events:
            # Past the bound new contacts are refused now (the PBX applies its own
            # overflow), rather than waiting seconds behind the queue; events of contacts
            # already here still wait: they end what exists.
            job.overloaded = {index for index, (_, event) in enumerate(pairs)
                              if type(event) is ContactArrived}
        self._waiting_events += len(pairs)
        self._jobs.append(job)
        self._start_drain()
        return future

    async def _serialized(self, task):
        """Run `task` (an async callable) in order with the rounds; its result."""
        if self.closed:
            raise HostClosed()
        future = asyncio.get_running_loop().create_future()
        self._jobs.append(_Job(None, None, future, task))
        self._start_drain()
        return await future

    def _start_drain(self) -> None:
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        # Not at once: submits made meanwhile join the first round (later ones gather
        # while a round waits on the actors).
        await asyncio.sleep(self.batch_window_s)
        while self._jobs:               # bounded: each pass takes at least one job
            job = self._jobs[0]
            if job.task is None:
                await self._run_waiting()
                continue
            self._jobs.popleft()
            if self.closed:
                _fail(job, HostClosed())
                continue
            try:
                result = await job.task()
            except Exception as error:
                _fail(job, error)
            else:
                if not job.future.done():
                    job.future.set_result(result)

    async def _run_waiting(self) -> None:
        """One round over the event jobs waiting (at most `max_round_events` events, at
        least one job); resolves their futures."""
        jobs, events = [], 0
        queue = self._jobs
        while queue and queue[0].task is None and (
                not jobs or events + len(queue[0].pairs) <= self.max_round_events):
            job = queue.popleft()
            jobs.append(job)
            events += len(job.pairs)
        self._waiting_events -= events
        if self.closed:
            for job in jobs:
                _fail(job, HostClosed())
            return
        items = []
        for job in jobs:
            job.items = []
            for index, (site, event) in enumerate(job.pairs):
                item = Item(job, site, event, job.link_id)
                if index in job.overloaded:
                    item.error = Overloaded(self.max_waiting_events)
                items.append(item)
                job.items.append(item)
        try:
            await self._run_round(items)
        except Exception as error:      # a bug: the callers see it
            log.exception("round failed")
            for job in jobs:
                _fail(job, error)
            return
        for job in jobs:
            if not job.late:            # else: once its late site has answered (`later`)
                _resolve(job)

    # ---- late sites (cluster/runtime/ray_sites.py) ----------------------------------------
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
        recent answer time (a smoothed average), within 10 ms .. `late_after_s` (None:
        as long as a call may take, `call_timeout_s`; no site is ever late)."""
        if self.late_after_s is None:
            return None
        return min(self.late_after_s, max(0.010, 4.0 * self._answer_time))

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

    async def _resync_stale(self) -> None:
        """Resync every site whose actor failed a call, before a round or a tick uses it: a
        restarted site may hold a copy of a contact that was interflowed away, which must
        be released before anything could offer it (`_resync`)."""
        if self._stale and self.store is not None:
            for site in sorted(self._stale):
                try:
                    await self._resync(site)
                except SiteUnavailable:
                    pass            # still restarting: its events fail in this round

    async def _run_round(self, items) -> None:
        await self._resync_stale()
        now = self.now()
        fanned = []
        try:
            await self.protocol.run(items, now, fanned)
        finally:
            # Whatever was applied is announced, even if a follow-up failed.
            self._fan_out(fanned)
            self._arm_timer()
            self.rounds += 1

    def prepare(self, item, now) -> str:
        if item.error is not None:      # refused before the round: overloaded
            raise item.error
        return super().prepare(item, now)

    async def _resync(self, site) -> None:
        """Bring the directory in step with a site actor that was restarted and rebuilt from
        the store. A call that failed may or may not have been applied (and committed)
        before the actor died: what the site has now is the truth. A contact the site holds
        live is (again) listed there; one the directory lists there that the site finished
        gets its final state; one the site never committed leaves the directory: the event
        that brought it was not acknowledged, so its PBX sends it again. A contact the site
        holds live that the directory has at (or finished at) another site was interflowed
        there: the site is told `ContactInterflowed` again (`_release`) and the directory
        keeps it where it went."""
        if self.store is not None:
            # A standby actor restarted by Ray holds no site until it is given the store
            # again (actors/site_actor.py); any other actor has it already (no-op).
            await self._ask_async(site, "adopt", self.store)
        view = await self._ask_async(site, "directory")
        self._stale.discard(site)
        self._note(site, view)
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

    def refused(self, item, now) -> list:
        """An event refused (item.error) or not applied: its arrival leaves the directory;
        a PBX re-sending an event of a finished contact hears its final state again."""
        if item.arrival_id is not None:
            self._contacts.pop(item.arrival_id, None)
            item.arrival_id = None
        if item.error is None:
            return []
        return self._final_again(item.event, item.link_id, now)

    def _site(self, site_name) -> str:
        if not isinstance(site_name, str) or site_name not in self.handles:
            raise InvalidInput("site", f"unknown site {site_name!r}")
        return site_name

    def _agent(self, site, agent_id):
        self._site(site)
        config = self._agent_configs[site].get(agent_id) if isinstance(agent_id, str) else None
        if config is None:
            raise InvalidInput("agent_id", f"unknown agent {agent_id!r} at site {site!r}")
        return config

    # ---- timers --------------------------------------------------------------------------------
    def _earliest_deadline(self) -> float | None:
        # What the actors said with their last answers: no Ray call to arm a timer.
        return min(self._deadlines.values()) if self._deadlines else None

    def _timer_fired(self) -> None:
        if not self._tick_pending:      # one tick waits at most: it ticks whatever is due
            self._tick_pending = True
            self._jobs.append(_Job(None, None, asyncio.get_running_loop().create_future(),
                                   self._tick_job))
            self._start_drain()

    def _arm_timer(self) -> None:
        if not self._tick_pending:      # the waiting tick re-arms the timer when it ran
            super()._arm_timer()

    async def tick(self) -> list:
        """A Tick now at every site with a due deadline, with BSR pulls after it (after
        the rounds queued before it)."""
        return await self._serialized(self._tick_job)

    async def _tick_job(self) -> list:
        self._tick_pending = False
        await self._resync_stale()
        now = self.now()
        fanned = []
        try:
            await self.protocol.tick(now, fanned)
        finally:
            self._fan_out(fanned)
            self._arm_timer()
        return fanned

    # ---- queries ---------------------------------------------------------------------------
    def site_names(self) -> list:
        return sorted(self.handles)

    async def agent_state(self, site, agent_id) -> tuple:
        self._agent(site, agent_id)
        view = await self._read(site, self.handles[site].agent_view(agent_id))
        if view is None:
            raise InvalidInput("agent_id", f"unknown agent {agent_id!r} at site {site!r}")
        return view[1], view[2]

    async def agent_skills(self, site, agent_id) -> dict:
        return dict(self._agent(site, agent_id).skills)

    def agent_has_skill(self, site, agent_id, skills) -> bool:
        config = self._agent_configs.get(site, {}).get(agent_id)
        return config is not None and any(skill in config.skills for skill in skills)

    async def contact_view(self, contact_id) -> ContactView | None:
        entry = self._contacts.get(contact_id)
        if entry is None:
            return None
        view = await self._read(entry.site, self.handles[entry.site].contact_view(contact_id))
        if view is None:
            return None
        return ContactView(contact_id, entry.site, entry.entry_site, entry.skill, view[0], view[1])

    async def statistics(self, site, skill):
        self._site(site)
        if not isinstance(skill, str) or skill not in self._site_skills[site]:
            raise InvalidInput("skill", f"unknown skill {skill!r} at site {site!r}")
        return await self._serialized(lambda: self._statistics_job(site, skill))

    def _answering(self, site) -> None:
        """A call that would wait behind a late site's outstanding ones fails fast instead
        (UNAVAILABLE: retry), so that it does not hold up the rounds of every other site."""
        if site in self._late:
            raise SiteUnavailable(ActorUnavailable(site, "has not answered for a while "
                                                         "(late); retry"))

    async def _statistics_job(self, site, skill):
        self._answering(site)
        now = self.now()
        fanned = []
        try:
            actions, statistics, bookkeeping = await self._ask_async(
                site, "statistics_at", skill, now)
            self._note(site, bookkeeping)
            await self.protocol.after(site, actions, now, fanned)
        finally:
            self._fan_out(fanned)
            self._arm_timer()
        return statistics

    async def skills_of(self, site) -> list:
        self._site(site)
        return sorted(self._site_skills[site])

    # ---- administration (blocking: ordered with rounds) ----------------------------------------
    async def skill(self, site, name) -> tuple:
        self._site(site)
        configs = await self._read(site, self.handles[site].skill_configs())
        config = configs.get(name)
        if config is None:
            raise NotFound("name", f"no skill {name!r} at site {site!r}")
        return config

    async def agent(self, site, agent_id) -> tuple:
        self._site(site)
        view = await self._read(site, self.handles[site].agent_view(agent_id))
        if view is None:
            raise NotFound("name", f"no agent {agent_id!r} at site {site!r}")
        return view[0], view[1]

    async def agents_of(self, site) -> list:
        self._site(site)
        return await self._read(site, self.handles[site].agents_view())

    # Writes run in order with the rounds (`_serialized`): a round never sees half a change.
    async def put_site(self, name) -> bool:
        async def put() -> bool:
            if name in self.handles:
                return False
            handle = SiteHandle.create(SiteConfig(name),
                                       name=site_actor_name(name) if self._named else None,
                                       store=self.store)
            self.handles[name] = handle
            self._owned.add(name)
            self._site_skills[name] = set()
            self._agent_configs[name] = {}
            self._queued[name] = {}
            try:
                await self._ask_async(name, "info")        # started and answering
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

    async def delete_site(self, name) -> None:
        async def delete() -> None:
            handle = self.handles.get(name)
            if handle is None:
                raise NotFound("name", f"no site {name!r}")
            if self.store is not None:
                # As CoreHost: the journal has no tombstone for a site yet, so the next
                # start would recover it.
                raise PreconditionFailed("name", "sites cannot be deleted while the store is "
                                                 "on; remove the site from the configuration "
                                                 "file")
            await self._ask_async(name, "check_removable")
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
            where = (await self._read(site, self.handles[site].info())).node_id
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

    # ---- lifecycle and checks ----------------------------------------------------------------
    async def close(self) -> None:
        # The figures loadtests/cluster_bench.py reads from the server's log.
        log.info("ray host: %d rounds, %d site actor calls, %.3f s waiting on site actors",
                 self.rounds, self.ray_calls, self.ray_seconds)
        await super().close()
        drainer = self._drainer
        if drainer is not None and not drainer.done():
            # A round in flight finishes (bounded by the call timeout); queued jobs fail.
            await asyncio.wait([drainer], timeout=self.call_timeout_s)
        while self._jobs:
            _fail(self._jobs.popleft(), HostClosed())

    def link(self, link_id: str):
        created = link_id not in self._links
        link = super().link(link_id)
        if created:
            # With a store an earlier process (a previous leader) may have numbered it.
            link.may_rebase = self.store is not None
        return link

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

    def kill_actors(self) -> None:
        """Kill the site actors this host started (call after `close`)."""
        for site in sorted(self._owned):
            handle = self.handles.get(site)
            if handle is not None:
                try:
                    handle.kill(restart=False)
                except Exception as error:      # already gone: nothing to undo
                    log.debug("killing site actor %s: %s", site, error)
        self._owned.clear()

    def validate(self) -> None:
        raise TypeError("RayHost: use `await host.check()` (the sites live in actors)")

    async def check(self) -> None:
        """Assert the invariants of every site and of the contact directory (tests)."""
        live = set()
        for name, handle in sorted(self.handles.items()):
            await handle.validate()
            for contact_id in await handle.live_contacts():
                assert contact_id not in live, f"contact {contact_id} live at two sites"
                live.add(contact_id)
                assert self._contacts[contact_id].site == name, contact_id
        assert live == set(self._contacts), "directory out of step with the sites"
        assert not (live & set(self._finished)), "a contact both live and finished"


def _result(item) -> EventResult:
    return EventResult(item.out, item.error)


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


def _refused_as_stale(error) -> bool:
    """Did a site actor's call fail because the journal refused its fencing token?

    The refusal reaches the gateway as a RayTaskError whose cause is the StaleLeaderError
    (it pickles with its parts), and afterwards, once that actor's journal has stopped, as a
    JournalError cause ("the journal stopped after a failed write: fencing token ...
    refused"); the text check covers a Ray that could not carry the exception itself."""
    from cluster.store.journal import JournalError, StaleLeaderError

    cause = getattr(error, "cause", None)
    if isinstance(error, StaleLeaderError) or isinstance(cause, StaleLeaderError):
        return True
    if isinstance(cause, JournalError) and "fencing token" in str(cause) \
            and "refused" in str(cause):
        return True
    return "cluster.store.journal.StaleLeaderError:" in str(error)

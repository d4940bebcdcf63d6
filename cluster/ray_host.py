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
`max_round_events` events). Rounds are awaited, never blocking the event loop: one queue of
jobs (cluster/ray_jobs.py: event rounds, timer ticks, statistics reads that advance a clock,
Admin writes, site moves) is run in order by one task, so every actor sees its events in
exactly the order the gateway decided (the order of the `submit` / `apply_batch` calls,
then the order inside each), and the event loop serves other requests meanwhile; the PBX
servicer awaits its batch's round. Each round's events are stamped with one host time. The
round itself, Best Service Routing follow-ups included, is
`cluster.runtime.rounds.Rounds`, the one every runtime runs, here over the site actors
(`cluster.runtime.ray_sites.RaySites`: each of its questions is one call per site actor
concerned, all submitted before any answer is collected). So the Ray runtime decides what
the in-process runtime and the simulator decide for the same rounds
(tests/integration/test_ray_host.py replays the simulator's recorded BSR world through it);
under load its rounds are larger (whatever waits), which only moves round boundaries. A
slow site delays only itself: a round waits for it at most a few recent answer times, then
goes on without it (cluster/ray_late.py). Past `max_waiting_events` or `max_queue_delay_s`
a new contact is refused at once (`Overloaded`).

Failures: a site actor that is restarting or dead (or does not answer within
`call_timeout_s`, which the gateway then waits at most) fails the submissions that had
events for it with `SiteUnavailable` (gRPC UNAVAILABLE; PBX links are told to reconnect),
after everything applied elsewhere was announced. An event in flight when the actor died
may or may not have been applied. From then on the site is being recovered (in the
background, cluster/ray_recovery.py): its requests fail fast with `SiteUnavailable` and it
sits out Best Service Routing, while the other sites' rounds go on. With a store (`vcc serve
--db`, the embedded default of `vcc demo`), every actor commits before it answers and a
restarted actor rebuilds its site from the journal; the host then brings its directory in
step with what the site holds (`_resync`) before the site serves again. Without a store, a
restarted actor is rebuilt from its configuration only (the site serves again once its actor
answers): its agents are logged out and its contacts are gone; the directory still lists
them at that site, events for them are refused by the restarted site (unknown contact), and
they never reach a final state through the router. Admin changes made since startup are
lost at that site too (the gateway's mirror of agents and skills keeps them, so it may
disagree with the site until they are made again).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time as _time
from collections import deque

from actors.handles import DialerHandle, SiteHandle
from actors.site_actor import ActorUnavailable
from cluster.host import ContactView, CoreHost, HostClosed, Overloaded
from cluster.ray_admin import RayAdministration
from cluster.ray_jobs import SiteUnavailable, _fail, _Job, _resolve  # noqa: F401 (API)
from cluster.ray_late import LateSites
from cluster.ray_recovery import Recovery
from cluster.runtime.ray_sites import RaySites
from cluster.runtime.rounds import Item, Rounds
from sites.events import ContactArrived
from sites.errors import InvalidInput

log = logging.getLogger(__name__)



class RayHost(LateSites, Recovery, RayAdministration, CoreHost):
    """CoreHost with every site in a `SiteActor` (see the module docstring)."""

    def __init__(self, config, *, clock=None, handles=None, named: bool = True,
                 max_round_events: int = 4096, call_timeout_s: float = 30.0,
                 batch_window_s: float = 0.0, store=None, owns_handles: bool = False,
                 max_waiting_events: int = 16384, max_queue_delay_s: float = 0.03,
                 late_after_s: float | None = 0.05, recovery_timeout_s: float = 120.0,
                 **options):
        """`config`: a `cluster.config.ClusterConfig`. `handles`: {site: SiteHandle} of actors
        already started with these sites' configurations (default: one per site, spread over
        the alive Ray nodes by `cluster.ray_runtime.place_site_actors`; Ray must be
        initialised). `named`: register the actors it creates as `site_actor_name(site)`
        (for `vcc status`; a second host in the same Ray namespace needs named=False).
        `call_timeout_s`: the longest a round waits for a site actor (then: unavailable).
        `batch_window_s`: how long a `submit` waits for others to join its round when no
        round is under way (0: one turn of the event loop; while a round waits on the
        actors, submits gather for the next one anyway).
        `max_waiting_events`: events that may wait for a round, and `max_queue_delay_s`:
        how long the oldest of them may have waited; past either a new arrival is refused
        at once (`Overloaded`: RESOURCE_EXHAUSTED), other events still wait.
        `late_after_s`: the longest a round waits for a site's answer before it goes on
        without it (the site is late: cluster/runtime/ray_sites.py; `patience`).
        `recovery_timeout_s`: how long one background recovery of a failed site actor tries
        (cluster/ray_recovery.py); its next request starts another.
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
        # The actors run the center's routing plans, their calendars on this gateway's time.
        site_configs = {name: dataclasses.replace(site, wall_start=self.wall_clock.start_epoch,
                                                  plans=self.plans if self.plans else site.plans)
                        for name, site in site_configs.items()}
        self._named = named
        self.store = store
        self._stale: set = set()    # sites whose actor failed a call: being resynced
        self._resyncs: dict = {}    # site -> its background recovery task
        self.recovery_timeout_s = recovery_timeout_s
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
        self.max_queue_delay_s = max_queue_delay_s
        self.late_after_s = late_after_s
        self._answer_time = (late_after_s or 0.05) / 4   # smoothed: how long sites take to answer
        self._late: dict[str, deque] = {}       # site -> its outstanding late answers
        self._deferred_pulls: set = set()       # (site, agent) pulls a late site stopped
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
            self._mark_stale(key)
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
            self._mark_stale(site)
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

    async def _read(self, site, method, *args):
        """An awaited read of the site's actor `method` (changes nothing, so it may overlap
        rounds); fails fast while the site is being recovered."""
        recovering = self._recovering(site)
        if recovering is not None:
            raise SiteUnavailable(recovering)
        try:
            return await getattr(self.handles[site], method)(*args)
        except ActorUnavailable as error:
            self._mark_stale(site)
            raise SiteUnavailable(error) from None

    # ---- the write path -----------------------------------------------------------------------
    # Every write goes through one queue of jobs, run in order by one task (`_drain`):
    # events (batched into rounds), and tasks that must be ordered with them (ticks,
    # statistics reads that advance a site's clock, administration writes). A round awaits
    # the site actors, so the gateway's event loop serves other requests meanwhile.
    async def submit(self, site, events, *, link_id=None) -> list:
        return await self._queue([(site, event) for event in events], link_id)

    async def submit_batch(self, batch, *, link_id=None) -> list:
        return await self._queue(list(batch), link_id)

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

    def _queue(self, pairs, link_id) -> asyncio.Future:
        if self.closed:
            raise HostClosed()
        future = asyncio.get_running_loop().create_future()
        job = _Job(pairs, link_id, future)
        now = job.queued_at
        jobs = self._jobs
        if self._waiting_events + len(pairs) > self.max_waiting_events or (
                jobs and now - jobs[0].queued_at > self.max_queue_delay_s):
            # Overloaded: new contacts are refused now (the PBX applies its own overflow)
            # rather than waiting behind the queue, so that those accepted keep their
            # latency; events of contacts already here still wait: they end what exists.
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
                # Let the callers of the round just ended go on first: a PBX link that
                # waited for its batch submits its next one now, and it joins the next
                # round instead of waiting for the one after.
                await asyncio.sleep(0)
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

    async def _run_round(self, items) -> None:
        self._resync_stale()        # in the background: a stale site's events fail fast
        now = self.now()
        fanned = []
        began = _time.perf_counter()
        try:
            await self.protocol.run(items, now, fanned)
        finally:
            # Whatever was applied is announced, even if a follow-up failed.
            self._fan_out(fanned)
            self._arm_timer()
            self.rounds += 1
            if self.metrics is not None:
                self.metrics.ray_round(_time.perf_counter() - began)

    def prepare(self, item, now) -> str:
        if item.error is not None:      # refused before the round: overloaded
            raise item.error
        return super().prepare(item, now)

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
        # What the actors said with their last answers: no Ray call to arm a timer. A late
        # or recovering site is not ticked (`RaySites.ticks_due`), so its deadline, often
        # already past, must not arm the timer: that was a tick every loop pass while it
        # was late, which starved the gateway (issue 16's overload). It is armed again
        # when the site is back (`_catch_up`, `_resync`).
        late, stale = self._late, self._stale
        due = [at for site, at in self._deadlines.items()
               if site not in late and site not in stale]
        return min(due) if due else None

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
        self._resync_stale()        # in the background: stale sites are not ticked
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
        view = await self._read(site, "agent_view", agent_id)
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
        view = await self._read(entry.site, "contact_view", contact_id)
        if view is None:
            return None
        return ContactView(contact_id, entry.site, entry.entry_site, entry.skill, view[0], view[1])

    async def statistics(self, site, skill):
        self._site(site)
        if not isinstance(skill, str) or skill not in self._site_skills[site]:
            raise InvalidInput("skill", f"unknown skill {skill!r} at site {site!r}")
        return await self._serialized(lambda: self._statistics_job(site, skill))

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

    def start_pacer(self, name, *args):
        """A campaign's pacer in a Ray DialerActor of its own (SPEC §6: one per campaign)."""
        return DialerHandle.create(name, *args)

    def stop_pacer(self, pacer) -> None:
        pacer.kill(restart=False)

    async def skill_agents(self, site, skill, outbound=None):
        self._check_skill(site, skill)
        return await self._read(site, "skill_agents", skill, self.now(), outbound)

    async def blend_problem(self, site, skill, outbound):
        self._check_skill(site, skill)
        return await self._read(site, "blend_problem", skill, outbound)

    def _check_skill(self, site, skill) -> None:
        self._site(site)
        if not isinstance(skill, str) or skill not in self._site_skills[site]:
            raise InvalidInput("skill", f"unknown skill {skill!r} at site {site!r}")

    async def journal_commit_seconds(self) -> list:
        """CoreHost's, from every site actor (each commits its own site's journal); a site
        being recovered or late answers nothing this time."""
        if self.store is None:
            return []
        sites = sorted(self.handles)
        answers = await asyncio.gather(*(self._read(site, "commit_seconds") for site in sites),
                                       return_exceptions=True)
        return [seconds for answer in answers if isinstance(answer, list) for seconds in answer]

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
        await self._stop_recoveries()

    def link(self, link_id: str):
        created = link_id not in self._links
        link = super().link(link_id)
        if created:
            # With a store an earlier process (a previous leader) may have numbered it.
            link.may_rebase = self.store is not None
        return link

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

"""The only code that talks to Ray about vcc's actors: thin handles and the event batcher.

Like Ray Serve's `_private/` wrappers: `SiteActor` and `VirtualCenterActor` stay plain
classes (importable and unit-testable without Ray); this module makes them Ray actors,
creates them, and calls them. Nothing else in vcc calls `.remote()`.

Every handle method submits its Ray call at once, when it is called, and returns an
awaitable of the result (or, with `send`, a `PendingCall` whose `result(timeout)` blocks:
for cluster/ray_host.py's rounds, which must finish atomically on the gateway's loop). So calls made one after the other from one process reach the
actor in that order (Ray runs a caller's calls to a non-async actor in submission order)
however late their results are awaited, and a grpc.aio gateway awaits results without
blocking its loop. Await every result (an unawaited one is a coroutine never run).

Errors, translated so that callers need not know Ray:
- `InvalidInput` raised by the core comes back as itself;
- the actor is restarting or gone: `ActorUnavailable` (gRPC UNAVAILABLE). A call in flight
  when the actor died may or may not have been applied; calls are never retried by Ray
  (`max_task_retries=0`) because core events are not idempotent.
"""

from __future__ import annotations

import asyncio
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass

# Loopback unless the operator says otherwise: must be set before Ray is first imported
# (cluster/ray_runtime.py explains; it does the same for processes that import it first).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray  # noqa: E402
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

import native  # noqa: E402
from actors.site_actor import (  # noqa: E402,F401
    ActorUnavailable, SiteActor, SiteNotAdopted)
from actors.virtual_center_actor import VirtualCenterActor  # noqa: E402
from actors.dialer_actor import DialerActor  # noqa: E402
from sites.errors import InvalidInput  # noqa: E402
from sites.model import Channel  # noqa: E402

# The round's calls (cluster/runtime/ray_sites.py), many events or actions each: their
# arguments and results go as one C pickle (`SiteActor.packed`), which costs the gateway a
# fraction of what Ray's cloudpickle of the same objects does (measured: README).
PACKED = frozenset({"handle_round", "survey", "tick_due", "accept_interflows"})

VIRTUAL_CENTER = "virtual-center"              # ActorInfo.name of the virtual center actor
VIRTUAL_CENTER_ACTOR_NAME = "vcc-virtual-center"


def site_actor_name(site: str) -> str:
    """The Ray actor name of a site's actor (for `SiteHandle.lookup` from another driver)."""
    return f"vcc-site:{site}"


@dataclass(frozen=True, slots=True)
class ActorInfo:
    name: str               # the site's name, or VIRTUAL_CENTER
    node_id: str            # the Ray node the actor runs on now
    pid: int
    restarted: bool         # this process is a restart: its state was rebuilt from config
    backend: str            # the scheduler backend it routes with (native.BACKEND)


# ---- the Ray actor classes: the plain classes plus where-am-I ------------------------------
class _InRay:
    def info(self) -> ActorInfo:
        context = ray.get_runtime_context()
        return ActorInfo(self._info_name(), context.get_node_id(), os.getpid(),
                         context.was_current_actor_reconstructed, native.BACKEND)


class RaySiteActor(_InRay, SiteActor):
    def _info_name(self) -> str:
        return self.site


class RayVirtualCenterActor(_InRay, VirtualCenterActor):
    def _info_name(self) -> str:
        return VIRTUAL_CENTER


class RayDialerActor(_InRay, DialerActor):
    def _info_name(self) -> str:
        return f"dialer:{self.campaign.config.name}"


_RemoteSiteActor = ray.remote(RaySiteActor)
_RemoteDialerActor = ray.remote(RayDialerActor)
_RemoteVirtualCenterActor = ray.remote(RayVirtualCenterActor)


# What an actor asks of its node: a sliver of CPU (placement is explicit, and batching, not
# CPU accounting, bounds an actor's load), but not 0: measured here with Ray 2.60, soft node
# affinity put 10 of 28 zero-resource actors on another node than the one asked for, and
# none of 24 asking for 0.001 CPU. 0.01 lets a 1-CPU node hold 100 actors.
ACTOR_CPUS = 0.01


def _actor_options(name, node_id, max_restarts, num_cpus) -> dict:
    options = {"max_restarts": max_restarts, "max_task_retries": 0, "num_cpus": num_cpus}
    if name is not None:
        options["name"] = name
    if node_id is not None:
        # soft: if that node dies, the restarted actor goes to another live node.
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=True)
    return options


class PendingCall:
    """A call already submitted to an actor, whose result a caller collects with `wait`
    (awaited: a gateway round, see cluster/ray_host.py) or `result` (blocking: startup)."""
    __slots__ = ("actor", "ref", "packed")

    def __init__(self, actor: str, ref, packed: bool = False):
        self.actor = actor
        self.ref = ref
        self.packed = packed        # the result is a pickle (`_Handle.send`)

    def result(self, timeout_s: float):
        """Block until the result; errors translated as for awaited calls. No answer within
        `timeout_s`: ActorUnavailable (the call may still run later)."""
        try:
            result = ray.get(self.ref, timeout=timeout_s)
            return pickle.loads(result) if self.packed else result
        except RayActorError as error:
            raise ActorUnavailable(self.actor, str(error).splitlines()[0]) from None
        except GetTimeoutError:
            raise ActorUnavailable(self.actor, f"no answer within {timeout_s:g} s") from None
        except RayTaskError as error:
            _translate(self.actor, error)

    async def wait(self, timeout_s: float):
        """`result` awaited: the event loop goes on meanwhile (a gateway round)."""
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(self.ref.future()), timeout_s)
            return pickle.loads(result) if self.packed else result
        except RayActorError as error:
            raise ActorUnavailable(self.actor, str(error).splitlines()[0]) from None
        except asyncio.TimeoutError:
            raise ActorUnavailable(self.actor, f"no answer within {timeout_s:g} s") from None
        except RayTaskError as error:
            _translate(self.actor, error)


def _translate(actor: str, error: RayTaskError):
    """Raise what a caller should see of an error the actor raised."""
    if isinstance(error.cause, InvalidInput):      # NotFound, PreconditionFailed too
        raise error.cause from None
    if isinstance(error.cause, SiteNotAdopted):
        # A standby restarted by Ray holds no site: unavailable until adopted again.
        raise ActorUnavailable(actor, str(error.cause)) from None
    raise error


class _Handle:
    def __init__(self, name: str, actor):
        self.name = name
        self._actor = actor

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def _submit(self, method: str, args: tuple):
        """Submit now: (the Ray reference, whether its result is a pickle)."""
        if method in PACKED:
            return self._actor.packed.remote(
                method, pickle.dumps(args, pickle.HIGHEST_PROTOCOL)), True
        return getattr(self._actor, method).remote(*args), False

    def _call(self, method: str, *args):
        """Submit now; an awaitable of the result."""
        return self._result(*self._submit(method, args))

    def send(self, method: str, *args) -> PendingCall:
        """Submit a call of the actor's `method` now; its `PendingCall` (for callers that
        collect results by blocking; calls are ordered with awaited ones as submitted)."""
        return PendingCall(self.name, *self._submit(method, args))

    async def _result(self, ref, packed: bool = False):
        try:
            result = await ref
            return pickle.loads(result) if packed else result
        except RayActorError as error:
            raise ActorUnavailable(self.name, str(error).splitlines()[0]) from None
        except RayTaskError as error:
            _translate(self.name, error)

    def info(self):
        """Awaitable `ActorInfo`: where the actor runs and whether it was restarted."""
        return self._call("info")

    def info_blocking(self, timeout_s: float = 60.0) -> ActorInfo:
        """`info` for bootstrap code and tests outside an event loop (blocks)."""
        return self._blocking("info", timeout_s)

    def _blocking(self, method: str, timeout_s: float, *args):
        try:
            return ray.get(getattr(self._actor, method).remote(*args), timeout=timeout_s)
        except RayActorError as error:
            raise ActorUnavailable(self.name, str(error).splitlines()[0]) from None
        except GetTimeoutError:
            raise TimeoutError(f"actor {self.name!r} did not answer in {timeout_s} s") from None

    def kill(self, *, restart: bool) -> None:
        """Kill the actor's process; with `restart` Ray starts it again (a fresh state from its
        configuration, as after a crash), otherwise it is gone for good."""
        ray.kill(self._actor, no_restart=not restart)


class SiteHandle(_Handle):
    """A site actor seen from a gateway, the runtime or a test. Methods return awaitables
    (the call is already submitted); see the module docstring for ordering and errors."""

    @classmethod
    def create(cls, config, *, node_id: str | None = None, name: str | None = None,
               max_restarts: int = -1, num_cpus: float = ACTOR_CPUS,
               store=None, standby=None) -> "SiteHandle":
        """Start an actor for the site `config` describes (sites.model.SiteConfig).

        `store`: where the actor journals its site and recovers it from when (re)started
        (e.g. `cluster.store.site_store.SiteStore`; None: memory only). `standby`: with no
        `store`, start a standby that holds no site until `adopt(store)` (SiteActor), warmed
        up with this store (its `warm()`).

        `node_id`: the Ray node to place it on (soft: another live node if that one is gone);
        `name`: a Ray actor name for `lookup` (e.g. `site_actor_name(site)`);
        `max_restarts`: how often Ray brings a crashed actor back (-1: always).
        """
        actor = _RemoteSiteActor.options(
            **_actor_options(name, node_id, max_restarts, num_cpus)).remote(
            config, store, standby=standby)
        return cls(config.name, actor)

    @classmethod
    def lookup(cls, site: str) -> "SiteHandle":
        """The running actor of `site`, created by `create(..., name=site_actor_name(site))`
        in this Ray namespace (ValueError if there is none)."""
        return cls(site, ray.get_actor(site_actor_name(site)))

    def handle_batch(self, events):
        """Apply `events` (sites.events, each carrying its time) in order; awaitable of one
        result per event: its list of actions, or the exception that refused it
        (`InvalidInput`; `CoreFailure` / `EventNotApplied` after a bug in the core)."""
        return self._call("handle_batch", list(events))

    def tick(self, now: float):
        """Awaitable of the actions of letting time pass to `now`."""
        return self._call("tick", now)

    def next_deadline(self):
        return self._call("next_deadline")

    def status(self, skill: str, channel=Channel.VOICE):
        """Awaitable `SkillStatus` as of the site's clock (tick first for a fresh one)."""
        return self._call("status", skill, channel)

    def statuses(self, keys=None):
        """Awaitable list of `SkillStatus` for (skill, channel) pairs (None: all skills, voice)."""
        return self._call("statuses", keys)

    def statistics(self, skill: str):
        return self._call("statistics", skill)

    def best_queued_contact(self, skill: str, channel, now: float):
        return self._call("best_queued_contact", skill, channel, now)

    def live_contacts(self):
        """Awaitable dict contact id -> `actors.site_actor.LiveContact`."""
        return self._call("live_contacts")

    def final_states(self):
        return self._call("final_states")

    def agent_states(self):
        return self._call("agent_states")

    def clock(self):
        return self._call("clock")

    def snapshot(self):
        return self._call("snapshot")

    def validate(self):
        return self._call("validate")

    # The gateway's rounds and administration (cluster/ray_host.py; see SiteActor).
    def handle_round(self, events):
        """Awaitable `RoundResult`: `handle_batch` plus next deadline and queue lengths."""
        return self._call("handle_round", list(events))

    def tick_due(self, now: float):
        return self._call("tick_due", now)

    def survey(self, now: float, keys=(), contact_ids=(), agent_ids=()):
        """Awaitable `Survey` (one BSR look at the site as of `now`)."""
        return self._call("survey", now, list(keys), list(contact_ids), list(agent_ids))

    def accept_interflows(self, arrivals):
        return self._call("accept_interflows", list(arrivals))

    def statistics_at(self, skill: str, now: float):
        return self._call("statistics_at", skill, now)

    def put_skill(self, config):
        return self._call("put_skill", config)

    def delete_skill(self, name: str):
        return self._call("delete_skill", name)

    def put_agent(self, config):
        return self._call("put_agent", config)

    def delete_agent(self, agent_id: str):
        return self._call("delete_agent", agent_id)

    def check_removable(self):
        return self._call("check_removable")

    def agent_view(self, agent_id: str):
        return self._call("agent_view", agent_id)

    def agents_view(self):
        return self._call("agents_view")

    def skill_configs(self):
        return self._call("skill_configs")

    def contact_view(self, contact_id: str):
        return self._call("contact_view", contact_id)

    def summary(self):
        return self._call("summary")

    def skill_agents(self, skill: str, now: float, outbound=None):
        """Awaitable of the ready agents of `skill` as a campaign's pacer sees them
        (sites.dialer.snapshot.AgentsSnapshot; `outbound`: SiteActor.skill_agents)."""
        return self._call("skill_agents", skill, now, outbound)

    def blend_problem(self, skill: str, outbound):
        """Awaitable of SiteActor.blend_problem."""
        return self._call("blend_problem", skill, outbound)

    def commit_seconds(self):
        return self._call("commit_seconds")

    def summary_blocking(self, timeout_s: float = 10.0) -> dict:
        """`summary` for a command-line driver outside an event loop (`vcc status`)."""
        return self._blocking("summary", timeout_s)

    def load_snapshot(self, snapshot: dict):
        return self._call("load_snapshot", snapshot)


class VirtualCenterHandle(_Handle):
    """The virtual center actor (Best Service Routing across sites)."""

    @classmethod
    def create(cls, config, *, node_id: str | None = None,
               name: str | None = VIRTUAL_CENTER_ACTOR_NAME, max_restarts: int = -1,
               num_cpus: float = ACTOR_CPUS) -> "VirtualCenterHandle":
        """Start the virtual center for `config` (sites.virtual_center.BsrConfig)."""
        actor = _RemoteVirtualCenterActor.options(
            **_actor_options(name, node_id, max_restarts, num_cpus)).remote(config)
        return cls(VIRTUAL_CENTER, actor)

    @classmethod
    def lookup(cls) -> "VirtualCenterHandle":
        return cls(VIRTUAL_CENTER, ray.get_actor(VIRTUAL_CENTER_ACTOR_NAME))

    def publish(self, statuses):
        """Publish many sites' `SkillStatus`es in one call."""
        return self._call("publish", list(statuses))

    def best_site(self, now: float, local, contact_id: str, priority, publish=()):
        """Awaitable `RouteDecision`; `publish`: statuses to take first, in the same call."""
        return self._call("best_site", now, local, contact_id, priority, list(publish))

    def remote_accepts(self, remote_now, local_ewt_s, priority):
        return self._call("remote_accepts", remote_now, local_ewt_s, priority)

    def note_interflow(self, contact_id: str):
        """Awaitable of the contact's number of moves after this one."""
        return self._call("note_interflow", contact_id)

    def hops(self, contact_id: str):
        return self._call("hops", contact_id)

    def site_to_pull_from(self, now: float, idle_site: str, skill: str, channel=Channel.VOICE,
                          publish=()):
        return self._call("site_to_pull_from", now, idle_site, skill, channel, list(publish))


# ---- batching ---------------------------------------------------------------------------------
class EventBatcher:
    """Collects events per site for up to `max_delay_s` (or `max_events`) and sends them in
    one `handle_batch` call; each `submit` gets a future of its own event's actions.

    Invariant: a site's events reach its actor in `submit` order. Batches are submitted to
    Ray in the order they close, and Ray runs one caller's calls to an actor in order, so
    several batches of one site may be in flight at once (pipelining) without reordering.

    Use from one event loop. A submitted event is sent even if its caller stops waiting.
    """

    def __init__(self, sites: Mapping[str, SiteHandle], *, max_delay_s: float = 0.002,
                 max_events: int = 1000):
        if max_delay_s < 0 or max_events < 1:
            raise ValueError("max_delay_s must be >= 0 and max_events >= 1")
        self.sites = sites
        self.max_delay_s = max_delay_s
        self.max_events = max_events
        self.batches = 0            # handle_batch calls sent
        self.events = 0             # events sent in them
        self.closed = False
        self._pending: dict[str, list] = {}         # site -> [(event, future)]
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._in_flight: set = set()

    def submit(self, site: str, event) -> asyncio.Future:
        """Queue `event` for `site`; a future of its list of actions. The future fails with
        `InvalidInput` (event refused, or unknown site), `ActorUnavailable`, or a core error."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self.closed:
            future.set_exception(RuntimeError("the event batcher is closed"))
            return future
        if site not in self.sites:
            future.set_exception(InvalidInput("site", f"unknown site {site!r}"))
            return future
        pending = self._pending.setdefault(site, [])
        pending.append((event, future))
        if len(pending) >= self.max_events:
            self._send(site)
        elif len(pending) == 1:
            self._timers[site] = loop.call_later(self.max_delay_s, self._send, site)
        return future

    def _send(self, site: str) -> None:
        timer = self._timers.pop(site, None)
        if timer is not None:
            timer.cancel()
        batch = self._pending.pop(site, None)
        if not batch:
            return
        futures = [future for _, future in batch]
        try:
            result = self.sites[site].handle_batch([event for event, _ in batch])
        except Exception as error:      # e.g. an event that cannot be pickled: nothing was sent
            _fail(futures, error)
            return
        self.batches += 1
        self.events += len(batch)
        task = asyncio.ensure_future(self._deliver(result, futures))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    @staticmethod
    async def _deliver(result, futures) -> None:
        try:
            results = await result
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        except Exception as error:
            _fail(futures, error)
            return
        if len(results) != len(futures):
            _fail(futures, RuntimeError(f"{len(results)} results for {len(futures)} events"))
            return
        for future, outcome in zip(futures, results):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def flush(self) -> None:
        """Send every pending event now and wait until every sent batch has its results."""
        for site in list(self._pending):
            self._send(site)
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)

    async def close(self) -> None:
        """Refuse new events, then flush."""
        self.closed = True
        await self.flush()


def _fail(futures, error) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(error)


class DialerHandle(_Handle):
    """A campaign's pacer in its own Ray actor (actors/dialer_actor.py): one per campaign
    (SPEC §6), created when the campaign starts and killed when it is stopped or the host
    closes. Not restarted by Ray: a restarted one would start from nothing; the host
    resumes a campaign from its journal instead (cluster/campaigns/resume.py), at a restart
    or a takeover, and rebuilds a pacer whose actor died at the campaign's next step
    (`rebuild_lost_pacer`)."""

    @classmethod
    def create(cls, name: str, *args, num_cpus: float = ACTOR_CPUS) -> "DialerHandle":
        actor = _RemoteDialerActor.options(
            **_actor_options(None, None, 0, num_cpus)).remote(*args)
        return cls(name, actor)

    def step(self, events: list, now: float):
        """Awaitable of the `Step` of applying `events` (DialerActor.step)."""
        return self._call("step", list(events), now)

    def replay(self, steps: list, now: float):
        """Awaitable of where the pacer stands after journaled `steps` (DialerActor.replay)."""
        return self._call("replay", list(steps), now)

    def snapshot(self):
        """Awaitable of the pacer's state (DialerActor.snapshot)."""
        return self._call("snapshot")

"""CoreHost: the sites' routing cores hosted in-process, behind a batch interface.

The gateways (cluster/servicers/) never touch a `SiteState`: they hand events to
`CoreHost.submit(site, events)` (or `submit_batch([(site, event), ...])` for a PBX message
whose events go to several sites) and get each event's actions back. The Ray runtime will put
the same interface in front of site actors, so everything that crosses it is plain data
(core events in, `Routed` actions out) and every call is a coroutine.

What the host adds around the pure cores (sites/):
- time: a monotonic clock (injectable; tests use a fake one) read as seconds since the host
  started and never going backwards; every event is stamped with it on entry;
- timers: a Tick at the earliest `next_deadline()` of any site, from one bounded asyncio
  timer (re-armed after every batch, cancelled on close);
- Best Service Routing exactly as the simulator drives `VirtualCenter`: a contact queued on
  arrival goes to a better site if that site accepts on look-ahead (`hop_limit` moves at
  most), and an agent who becomes ready with nothing to do pulls the longest-waiting
  contact of its skills from another site;
- a directory of contacts: where each one is, which PBX link owns it, and its one final
  state (a contact interflowed away is not final: it goes on at the new site);
- fan-out of actions to subscribers: per-agent streams, routing-event streams, and the PBX
  link that owns the contact (cluster/fan_out.py). Every queue is bounded; a consumer that
  falls behind is failed (its stream ends with RESOURCE_EXHAUSTED) instead of growing memory.

One asyncio loop, no threads: the core calls are synchronous, so a batch is applied
atomically with respect to every other coroutine.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time as _time
from itertools import repeat

# What crosses the interface, the streams' queues and PBX links: imported from here too.
from cluster.host_interface import (  # noqa: F401
    ContactEntry,
    ContactView,
    EventRejected,
    EventResult,
    HostClosed,
    Interflowed,
    NotLeader,
    Overloaded,
    Routed,
)
from cluster.applied_hooks import AppliedHooks
from cluster.fan_out import FanOut
from cluster.local_pacers import LocalPacers
from cluster.runtime.links import APPLIED_SEQS_KEPT, MAX_ACTION_SEQ, LinkStream, PbxLink  # noqa: F401
from cluster.runtime.local_sites import LocalSites
from cluster.runtime.rounds import Item, Rounds, run_now
from cluster.subscriptions import Subscription  # noqa: F401
from sites import admin
from sites import events as ev
from sites.actions import AgentStateChanged, ContactFinished, ContactQueued, OfferContact
from sites.errors import InvalidInput, NotFound, PreconditionFailed  # noqa: F401 (API)
from sites.model import ContactState, SiteConfig
from cluster import plan_admin
from sites.calendars import WallClock
from sites.plans import PlanConfig, parse_plan_config
from sites.recent import RecentMap
from sites.state import SiteState
from sites.virtual_center import VirtualCenter

log = logging.getLogger(__name__)

_CONTACT_EVENTS = (ev.OfferAccepted, ev.ContactConnected, ev.OfferRejected, ev.OfferTimedOut,
                   ev.ContactEnded, ev.ContactAbandoned,
                   # what the PBX's IVR reports of a contact in its routing plan (SPEC §10)
                   ev.DigitsCollected, ev.PromptFinished, ev.SelfServiceEnded,
                   ev.CallbackChosen)
_AGENT_EVENTS = (ev.AgentLoggedIn, ev.AgentLoggedOut, ev.AgentReady, ev.AgentNotReady,
                 ev.AgentHeld, ev.WrapUpDone)


# ---- the host ------------------------------------------------------------------------------------
class CoreHost(AppliedHooks, LocalPacers, FanOut):
    """Every site's `SiteState` and one `VirtualCenter`; the only caller of `.handle`.
    Where its results go, and when (held until durable): cluster/fan_out.py."""

    def __init__(self, config, *, clock=_time.monotonic, scheduler_factory=None,
                 stream_queue_limit: int = 4096, link_replay_window: int = 65536,
                 link_stall_timeout_s: float = 10.0, max_timer_s: float = 1.0,
                 sites: dict | None = None, persistence=None, start_time: float = 0.0,
                 wall_clock: WallClock | None = None):
        """`config` is a `cluster.config.ClusterConfig`; `clock` a monotonic source in seconds.

        Limits: at most `stream_queue_limit` items wait for any one stream;
        a PBX link keeps at most `link_replay_window` unacknowledged actions for a resume;
        a PBX that does not read for `link_stall_timeout_s` while its link is backed up
        gets RESOURCE_EXHAUSTED.

        `sites` ({name: SiteState}) replaces the sites the configuration describes, e.g. sites
        recovered from the store (cluster/durable.py builds both); `persistence` (a
        `cluster.store.persistence.Persistence` the sites are attached to) makes the host
        announce nothing before it is durable: actions reach PBX links and streams, and
        calls return (so a PBX gets its acknowledgement), only once the journal has committed
        the events behind them. `start_time` is the host's time at start (a recovered host
        goes on from the newest time its sites have seen: the core refuses time going back).
        `wall_clock` maps the host's time to POSIX time for the plans' calendars (default:
        the host's start is now); a replay of a simulated day gives the scenario's start.
        """
        self._clock = clock
        self._origin = clock() - start_time
        # When this host began to serve (time.monotonic): a new leader's first seconds are
        # its warm-up, in which PBX links are not shed (cluster/servicers/link_load.py).
        # Built after its recovery, or restamped by the leader gate once it serves.
        self.serving_since = _time.monotonic()
        self._now = start_time
        self._scheduler_factory = scheduler_factory
        self.sites: dict[str, SiteState] = dict(sites) if sites is not None else {
            name: SiteState(site_config, scheduler_factory=scheduler_factory)
            for name, site_config in config.sites.items()}
        # Routing plans (SPEC §10): calendars read the wall-clock time of the host's time.
        self.plans = getattr(config, "plans", None) or PlanConfig()
        self.tiers = getattr(config, "tiers", None) or None     # SPEC §7: every site's
        calendar_start = getattr(config, "calendar_start", None)
        self.wall_clock = wall_clock or WallClock(
            (_time.time() if calendar_start is None else calendar_start) - start_time)
        # Sites recovered from the store may hold plans Admin put in an earlier run: those
        # are newer than the configuration file's.
        change = next((state.plans.change for state in self.sites.values()
                       if state.plans.change is not None), None)
        if change is not None:
            self.plans = parse_plan_config(change["document"], change["skills"],
                                           change.get("sites"))
        # The Admin change in force (None: the configuration file's plans); a site added
        # later gets it too, so every site runs, journals and recovers the same plans.
        self.plans_change = change
        for state in self.sites.values():
            self._use_center_settings(state)
        self.bsr = config.multisite == "bsr"
        self.center = VirtualCenter(config.bsr)
        self.hop_limit = config.bsr.hop_limit
        # Events reach the sites, and Best Service Routing runs between them, in rounds:
        # the one implementation, shared with the Ray runtime and the simulator
        # (cluster/runtime/rounds.py), here over this process's sites.
        self.protocol = Rounds(LocalSites(self.sites), self, self.center, bsr=self.bsr,
                               hop_limit=self.hop_limit)
        self.stream_queue_limit = stream_queue_limit
        self.link_replay_window = max(link_replay_window, stream_queue_limit)
        self.link_stall_timeout_s = link_stall_timeout_s
        self.max_timer_s = max_timer_s
        self._contacts: dict[str, ContactEntry] = {}        # live, cluster-wide
        self._finished = RecentMap()        # contact id -> (final state, site), the most recent
        self._final_pairs: dict[tuple, tuple] = {}           # (state value, site) -> value
        self._init_fan_out()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self.closed = False
        self.persistence = persistence
        # The counters of cluster/metrics.py (`Metrics.attach`); None: no metrics, no cost.
        self.metrics = None
        # Told of every event a site applied, with its core actions (`observe_applied`):
        # the campaigns' host follows its outbound calls there (cluster/campaigns/).
        self._applied_observers: list = []
        if sites is not None:
            self._rebuild_directory()

    # ---- time -------------------------------------------------------------------------------
    def now(self) -> float:
        """Seconds since the host started; never goes backwards, whatever the clock does."""
        reading = self._clock() - self._origin
        if reading > self._now:
            self._now = reading
        return self._now

    # ---- the write path -----------------------------------------------------------------------
    async def submit(self, site: str | None, events, *, link_id: str | None = None) -> list:
        """Apply `events` in order at `site`; one `EventResult` per event.

        Every event is stamped with the host's time. `site` may be None for contact events
        (answered, ended, ...): each then goes to wherever its contact is now. A contact
        that arrives from a PBX link (`link_id`) is owned by that link: its actions are
        queued there. A bad event gets its `InvalidInput` in its result and changes
        nothing; the others are applied.
        """
        results = self._submit(zip(repeat(site), events), link_id)
        if self.persistence is not None:
            await self._durable()
        return results

    def apply_batch(self, batch, *, link_id: str | None = None) -> list:
        """`submit_batch` without waiting for the store: the results now; the actions reach
        links and streams once committed, and `committed()` tells when that is. A PBX
        stream keeps reading while earlier batches commit (its acknowledgements wait)."""
        return self._submit(batch, link_id)

    def committed(self) -> asyncio.Future | None:
        """A future that resolves once everything applied so far is committed and its
        actions announced (HostClosed if the store failed); None without a store."""
        if self.persistence is None:
            return None
        if self.closed:
            raise HostClosed()
        return self._request_flush()

    async def submit_batch(self, batch, *, link_id: str | None = None) -> list:
        """`submit` for a batch whose events go to different sites: `batch` is a list of
        (site or None, event) pairs, applied in order as one batch. A PBX message mixes
        arrivals at several sites with contact events: one call, one fan-out and one timer
        check for all of it instead of one per run of same-site events."""
        results = self._submit(batch, link_id)
        if self.persistence is not None:
            await self._durable()
        return results

    def _submit(self, pairs, link_id) -> list:
        """One round of `pairs` (see cluster/runtime/rounds.py); one EventResult each."""
        if self.closed:
            raise HostClosed()
        now = self.now()
        items = [Item(None, site, event, link_id) for site, event in pairs]
        fanned = []
        try:
            run_now(self.protocol.run(items, now, fanned))
        finally:
            # Whatever was applied is announced, even if a later event hit a bug.
            self._fan_out(fanned)
            self._arm_timer()
        results = []
        for item in items:
            if item.failed is not None:
                raise item.failed           # a bug in the core: the caller sees it
            results.append(EventResult(item.out, item.error))
        return results

    async def tick(self) -> list:
        """Apply a Tick now at every site with a due deadline (the timer does this by itself;
        tests with a fake clock call it after moving the clock)."""
        if self.closed:
            raise HostClosed()
        routed = self._tick_due(self.now())
        self._fan_out(routed)
        self._arm_timer()
        if self.persistence is not None:
            await self._durable()
        return routed

    def _final_again(self, event, link_id, now) -> list:
        """A PBX link re-sent an event about a contact that has already finished: tell the
        link its final state again (besides refusing the event). The PBX re-sends events it
        had no acknowledgement for; after a failover or a restart, the router that finished
        the contact may have died before its `finished` action reached the link, and the new
        one, which recovered the end from the journal, would otherwise never say it."""
        if link_id is None or type(event) not in _CONTACT_EVENTS:
            return []
        finished = self._finished.get(getattr(event, "contact_id", None))
        if finished is None:
            return []
        final_state, site = finished
        return [Routed(site, now, ContactFinished(event.contact_id, final_state, None),
                       None, link_id, link_only=True)]

    def _site(self, site_name) -> SiteState:
        state = self.sites.get(site_name) if isinstance(site_name, str) else None
        if state is None:
            raise InvalidInput("site", f"unknown site {site_name!r}")
        return state

    def _site_of_contact(self, site_name, contact_id) -> str:
        if not isinstance(contact_id, str) or not contact_id:
            raise InvalidInput("contact_id", f"must be a non-empty string; got {contact_id!r}")
        entry = self._contacts.get(contact_id)
        if entry is None:
            finished = self._finished.get(contact_id)
            if finished is not None:
                raise InvalidInput("contact_id", f"contact {contact_id!r} already finished "
                                                 f"({finished[0].value})")
            raise InvalidInput("contact_id", f"unknown contact {contact_id!r}")
        if site_name is not None and site_name not in (entry.site, entry.entry_site):
            self._site(site_name)
            raise InvalidInput("site", f"contact {contact_id!r} is at site {entry.site!r}, "
                                       f"not {site_name!r}")
        return entry.site

    def _admit_arrival(self, site_name, event, link_id) -> None:
        """What the gateway checks and fills in before a site sees an arrival: a contact id
        new to the whole cluster, the PBX link that owns it, and the service objective of
        its priority when it came without one."""
        contact_id = event.contact_id
        if not isinstance(contact_id, str) or not contact_id:
            raise InvalidInput("contact_id", f"must be a non-empty string; got {contact_id!r}")
        # Contact ids are the cluster's, not one site's: an interflowed contact keeps its id.
        if contact_id in self._contacts or contact_id in self._finished:
            raise InvalidInput("contact_id", f"duplicate contact id {contact_id!r}")
        if link_id is not None:
            event.origin = link_id      # journaled with the contact: ownership survives a failover
        if event.skill is None and isinstance(event.data, dict):
            # A dialled number's plan may test the caller's number prefix: the longest
            # configured prefix it starts with is all it needs (PlanConfig.ani_prefix_of).
            event.ani_prefix = self.plans.ani_prefix_of(event.data.get("ani"))

    # ---- RoundHost (cluster/runtime/rounds.py) -------------------------------------------
    def prepare(self, item, now) -> str:
        """Stamp the event and check at the gateway what the sites cannot: the site it goes
        to (a contact event goes where its contact is now), arrivals' ids, the link that
        owns them. An arrival enters the directory now, so that later events of the round
        find it; it leaves again if its site refuses it (`refused`)."""
        event, site_name = item.event, item.site
        event.time = now
        kind = type(event)
        if kind is ev.ContactArrived:
            self._site(site_name)
            self._admit_arrival(site_name, event, item.link_id)
            contact_id = event.contact_id
            self._contacts[contact_id] = ContactEntry(contact_id, site_name, site_name,
                                                      event.skill, item.link_id, False)
            item.arrival_id = contact_id
            return site_name
        if kind in _CONTACT_EVENTS:
            return self._site_of_contact(site_name, event.contact_id)
        if kind in _AGENT_EVENTS:
            self._site(site_name)
            return site_name
        raise InvalidInput("event", f"cannot submit {kind.__name__}")

    def refused(self, item, now) -> list:
        """An event refused (item.error) or not applied: its arrival leaves the directory;
        a PBX re-sending an event of a finished contact hears its final state again."""
        if item.arrival_id is not None:
            self._contacts.pop(item.arrival_id, None)
            item.arrival_id = None
        if item.error is None:
            return []
        return self._final_again(item.event, item.link_id, now)

    def _convert(self, site_name, actions, now) -> list:
        """Core actions as `Routed`, keeping the contact directory in step."""
        out = []
        append = out.append
        contacts = self._contacts
        metrics = self.metrics          # None: no metrics (`vcc serve` without --metrics-port)
        for action in actions:
            kind = type(action)
            if kind is AgentStateChanged:
                append(Routed(site_name, now, action))
                continue
            entry = contacts.get(action.contact_id)
            link_id = entry.link_id if entry is not None else None
            if kind is ContactFinished:
                if action.final_state is ContactState.INTERFLOWED:
                    continue        # not final for the cluster: `_interflow` says where it went
                contacts.pop(action.contact_id, None)
                self._finished[action.contact_id] = self._final(action.final_state, site_name)
                if metrics is not None and entry is not None:
                    metrics.finished(site_name, entry, action.final_state)
            if kind is OfferContact or kind is ContactQueued:
                skill = action.skill
                if entry is not None:
                    if entry.skill != skill:
                        entry.skill = skill     # a plan queued it, or it was answered elsewhere
                    if not entry.offered and metrics is not None:
                        metrics.offered(site_name, entry)
            else:
                skill = entry.skill if entry is not None else None
            append(Routed(site_name, now, action, skill, link_id))
        return out

    def _final(self, final_state, site_name) -> tuple:
        """The one shared (final state, site) tuple: a finished contact then adds no object
        the garbage collector has to scan again and again (only a dict entry). Looked up by
        the state's raw value: hashing an Enum member is a Python call."""
        key = (final_state._value_, site_name)
        pair = self._final_pairs.get(key)
        if pair is None:
            pair = self._final_pairs[key] = (final_state, site_name)
        return pair

    convert = _convert      # RoundHost: the host's results of a site's actions

    def moved(self, contact_id, from_site, to_site, now) -> list | None:
        """RoundHost: a contact went to another site (None: not in the directory)."""
        entry = self._contacts.get(contact_id)
        if entry is None:
            return None
        entry.site = to_site
        return [Routed(from_site, now, Interflowed(contact_id, from_site, to_site),
                       entry.skill, entry.link_id)]

    # ---- metrics (cluster/metrics.py) ----------------------------------------------------------
    # ---- timers --------------------------------------------------------------------------------
    def _tick_due(self, now) -> list:
        fanned = []
        run_now(self.protocol.tick(now, fanned))
        return fanned

    def _earliest_deadline(self) -> float | None:
        """The earliest time a Tick may change something at some site, or None."""
        deadlines = [d for d in (state.next_deadline() for state in self.sites.values())
                     if d is not None]
        return min(deadlines) if deadlines else None

    def _timer_fired(self) -> None:
        """What the timer does: a Tick at every site with a due deadline."""
        self._fan_out(self._tick_due(self.now()))

    def _arm_timer(self) -> None:
        if self.closed:
            return
        at = self._earliest_deadline()
        if at is None:
            return
        if self._timer is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        # Bounded: a clock that is not the loop's (or a fake one) is looked at again soon.
        delay = min(max(at - self.now(), 0.0), self.max_timer_s)
        self._timer_at = at
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        if self.closed:
            return
        try:
            self._timer_fired()
        except Exception:       # never let a timer kill the loop; the next one retries
            log.exception("tick failed")
        self._arm_timer()

    # ---- queries ---------------------------------------------------------------------------
    def _agent(self, site: str, agent_id: str):
        state = self._site(site)
        agent = state.agents.get(agent_id) if isinstance(agent_id, str) else None
        if agent is None:
            raise InvalidInput("agent_id", f"unknown agent {agent_id!r} at site {site!r}")
        return agent

    def site_names(self) -> list:
        return sorted(self.sites)

    async def agent_state(self, site: str, agent_id: str) -> tuple:
        """(AgentState, not-ready reason) of an agent."""
        agent = self._agent(site, agent_id)
        return agent.state, agent.announced_reason

    async def agent_skills(self, site: str, agent_id: str) -> dict:
        return dict(self._agent(site, agent_id).config.skills)

    def agent_has_skill(self, site: str, agent_id: str, skills) -> bool:
        state = self.sites.get(site)
        agent = state.agents.get(agent_id) if state is not None else None
        return agent is not None and any(skill in agent.config.skills for skill in skills)

    async def contact_view(self, contact_id: str) -> ContactView | None:
        entry = self._contacts.get(contact_id)
        if entry is None:
            return None
        contact = self.sites[entry.site].contacts[contact_id]
        return ContactView(contact_id, entry.site, entry.entry_site, entry.skill, contact.state,
                           contact.agent_id)

    def final_state(self, contact_id: str):
        """(ContactState, site) of a finished contact, or None while it is live or unknown."""
        return self._finished.get(contact_id)

    def live_contacts(self) -> list:
        return list(self._contacts)

    async def statistics(self, site: str, skill: str):
        """Real-time statistics of one skill at one site, as of now."""
        state = self._site(site)
        if not isinstance(skill, str) or skill not in state.skills:
            raise InvalidInput("skill", f"unknown skill {skill!r} at site {site!r}")
        now = self.now()
        routed = []
        if state.now < now:     # fresh statistics: the site's clock brought to now
            run_now(self.protocol.after(site, state.handle(ev.Tick(now)), now, routed))
        self._fan_out(routed)
        self._arm_timer()
        return state.statistics(skill)

    async def skills_of(self, site: str) -> list:
        return sorted(self._site(site).skills)

    async def journal_commit_seconds(self) -> list:
        """How long each journal transaction took since the last call, in seconds ([]
        without a store; the first call starts the timing): the metrics' commit latency."""
        if self.persistence is None:
            return []
        return self.persistence.journal.commit_seconds()

    # ---- administration -------------------------------------------------------------------
    async def skill(self, site: str, name: str):
        """The SkillConfig of a skill (its default service objectives included)."""
        state = self._site(site)
        config = state.skills.get(name)
        if config is None:
            raise NotFound("name", f"no skill {name!r} at site {site!r}")
        return config

    async def agent(self, site: str, agent_id: str) -> tuple:
        """(AgentConfig, AgentState) of an agent."""
        state = self._site(site)
        agent = state.agents.get(agent_id)
        if agent is None:
            raise NotFound("name", f"no agent {agent_id!r} at site {site!r}")
        return agent.config, agent.state

    async def agents_of(self, site: str) -> list:
        state = self._site(site)
        return [(agent.config, agent.state) for _, agent in sorted(state.agents.items())]

    async def put_site(self, name: str) -> bool:
        """Create an empty site; True if it is new (an existing one is left as it is)."""
        if name in self.sites:
            return False
        state = SiteState(SiteConfig(name), scheduler_factory=self._scheduler_factory)
        self._use_center_settings(state)            # before its first snapshot holds them
        if self.persistence is not None:
            self.persistence.start_site(state)      # its snapshot makes it recoverable
        self.sites[name] = state
        return True

    async def _journal_admin(self) -> None:
        """An administrative change is answered once the journal has it."""
        if self.persistence is not None:
            await self._durable()

    async def delete_site(self, name: str) -> None:
        state = self.sites.get(name)
        if state is None:
            raise NotFound("name", f"no site {name!r}")
        admin.check_removable(state)
        if self.persistence is not None:
            # A tombstone ends its journal: no restart or takeover brings it back.
            await self.persistence.delete_site(name)
        del self.sites[name]
        self._close_agent_streams(lambda key: key[0] == name)

    async def put_skill(self, site: str, config) -> bool:
        """Create or change a skill; True if it is new (the rules: sites/admin.py)."""
        new = admin.put_skill(self._site(site), config)
        await self._journal_admin()
        return new

    async def delete_skill(self, site: str, name: str) -> None:
        admin.delete_skill(self._site(site), name)
        await self._journal_admin()

    async def put_agent(self, site: str, config) -> bool:
        """Create an agent, or reconfigure a logged-out one; True if it is new."""
        new = admin.put_agent(self._site(site), config)
        await self._journal_admin()
        return new

    async def delete_agent(self, site: str, agent_id: str) -> None:
        admin.delete_agent(self._site(site), agent_id)
        self._close_agent_streams(lambda key: key == (site, agent_id))
        await self._journal_admin()

    # ---- routing plans (the document edits: cluster/plan_admin.py) ------------------------------
    def _use_center_settings(self, state: SiteState) -> None:
        """The center's routing plans and customer tiers, at one of its sites."""
        state.plans.use(self.plans, self.wall_clock)
        state.plans.change = self.plans_change
        if self.tiers is not None:      # configuration too (a recovered site has none)
            state.tiers = self.tiers

    def plan_document(self) -> dict:
        """The center's routing plans in force, as plain JSON values."""
        return self.plans.source

    def center_skills(self) -> set:
        """Every skill name of the center (what a plan may queue in)."""
        return {name for state in self.sites.values() for name in state.skills}

    async def put_plans(self, document: dict) -> dict:
        """The center's routing plans from now on, checked whole first (PlanError naming
        the key; nothing changes); journaled at every site. The document in force."""
        config, change = plan_admin.checked_change(document, self.center_skills(), self.sites)
        for state in self.sites.values():
            state.put_plans(change)
        self.plans, self.plans_change = config, change
        await self._journal_admin()
        return config.source

    # ---- recovery (with a store) ------------------------------------------------------------
    def _rebuild_directory(self) -> None:
        """The contact directory of recovered sites: every live contact where it is, with
        the site it entered at (a contact interflowed away is final `interflowed` at its old
        site), and every finished one. A contact's PBX link is its journaled `origin`: the
        link is built at once (actions wait there for the PBX to resume), and every open
        offer is announced on it again, since the PBX may never have received it (the
        process that made it may have died with it in flight; a PBX that had it already
        sees an offer of the same contact to the same agent, which changes nothing)."""
        moved_from = {}
        for name, state in self.sites.items():
            for contact_id, final in state.finished.items():
                if final is ContactState.INTERFLOWED:
                    moved_from[contact_id] = name
                    self.center.note_interflow(contact_id)
        now = self.now()
        for name, state in self.sites.items():
            for contact_id, contact in state.contacts.items():
                origin = getattr(contact, "origin", None)
                self._contacts[contact_id] = ContactEntry(
                    contact_id, name, moved_from.get(contact_id, name), contact.skill, origin)
                if origin is None:
                    continue
                link = self.link(origin)
                if contact.state is ContactState.OFFERED:
                    link.push(Routed(name, now, OfferContact(
                        contact_id, contact.agent_id, contact.skill, contact.channel,
                        contact.offer_deadline, contact.data, contact.callback),
                        contact.skill, origin))
            for contact_id, final in state.finished.items():
                if final is not ContactState.INTERFLOWED:
                    self._finished[contact_id] = self._final(final, name)

    # ---- lifecycle and checks ----------------------------------------------------------------
    async def close(self) -> None:
        """Stop the timer and end every stream (subscriptions close, PBX links fail over)."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._end_streams()

    def validate(self) -> None:
        """Assert the invariants of every site and of the contact directory (tests)."""
        live = set()
        for name, state in self.sites.items():
            state.validate()
            for contact_id in state.contacts:
                assert contact_id not in live, f"contact {contact_id} live at two sites"
                live.add(contact_id)
                assert self._contacts[contact_id].site == name, contact_id
        assert live == set(self._contacts), "directory out of step with the sites"
        assert not (live & set(self._finished)), "a contact both live and finished"

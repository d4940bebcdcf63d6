"""The routing core of one site: `SiteState.handle(event) -> [action, ...]`.

Pure and deterministic (like dask's worker state machine): no clock, no I/O; time arrives
with each event and the same events in the same order give the same actions. Timers
(offer and wrap-up timeouts, widening) advance only on `Tick`, so the host decides how
often time is looked at. Every handler validates its event completely before it changes
anything, so `InvalidInput` leaves the state exactly as it was.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from enum import Enum
from itertools import count

import native
from sites import events as ev
from sites.actions import (
    AgentStateChanged,
    ContactFinished,
    ContactQueued,
    ContactRejected,
    OfferContact,
    OfferRevoked,
)
from sites.errors import InvalidInput
from sites.ewt import ServiceEstimates, expected_wait
from sites.model import (
    FINAL_STATES,
    Agent,
    AgentConfig,
    AgentMode,
    AgentSelection,
    AgentState,
    Channel,
    Contact,
    ContactState,
    Priority,
    Queueing,
    SiteConfig,
    SkillConfig,
    check_number,
    enum_lookup,
    parse_enum,
)
from sites.calendars import WallClock
from sites.plan_runner import PlanRun, PlanRunner
from sites.plans import parse_plan_config
from sites.tiers import TierConfig
from sites.recent import RecentMap
from sites.statistics import RollingSkillCounters, SkillStatistics, SkillStatus

_VOICE = Channel.VOICE.value
_OUTBOUND = Channel.OUTBOUND.value
# An agent's load with nothing connected: `load != _NO_LOAD` is `any(load)` (counts are never
# negative) without building an iterator, on every refresh of an agent.
_NO_LOAD = [0] * len(Channel)
_CHANNELS = tuple(Channel)
_PRIORITIES = tuple(Priority)
_PRIORITY_LOOKUP = enum_lookup(Priority)
_CHANNEL_LOOKUP = enum_lookup(Channel)
# The enum members the handlers compare with, as module globals: in Python 3.11 reading
# `ContactState.QUEUED` goes through EnumType's __getattr__ hook (~70 ns; a global ~10 ns),
# and a decision reads a dozen of them.
_MODE_LOGGED_OUT = AgentMode.LOGGED_OUT
_MODE_NOT_READY = AgentMode.NOT_READY
_MODE_READY = AgentMode.READY
_SELECT_ROUND_ROBIN = AgentSelection.ROUND_ROBIN
_AGENT_BUSY = AgentState.BUSY
_AGENT_LOGGED_OUT = AgentState.LOGGED_OUT
_AGENT_NOT_READY = AgentState.NOT_READY
_AGENT_READY = AgentState.READY
_AGENT_RESERVED = AgentState.RESERVED
_AGENT_WRAP_UP = AgentState.WRAP_UP
_CONTACT_ABANDONED = ContactState.ABANDONED
_CONTACT_COMPLETED = ContactState.COMPLETED
_CONTACT_CONNECTED = ContactState.CONNECTED
_CONTACT_INTERFLOWED = ContactState.INTERFLOWED
_CONTACT_IN_IVR = ContactState.IN_IVR
_CONTACT_OFFERED = ContactState.OFFERED
_CONTACT_QUEUED = ContactState.QUEUED
_CONTACT_REJECTED = ContactState.REJECTED
_CONTACT_WRAP_UP = ContactState.WRAP_UP
# The last priority: "queued at this priority or above" is then the skill's whole queue.
_LAST_PRIORITY = max(priority.value for priority in Priority)
# On the arrival path enum codes are read as `member._value_` (the member's own attribute):
# `member.value` is a Python-level descriptor in 3.11, ~0.1 µs a read. Likewise a dict keyed
# by an enum member calls Enum.__hash__, written in Python.

SNAPSHOT_FORMAT = 1     # of `SiteState.snapshot()`; bump when its shape changes
# Agent fields a snapshot carries as they are (numbers, strings, lists).
_AGENT_PLAIN_FIELDS = ("reason", "offer", "missed_offers", "idle_since", "logged_in_at",
                       "work_time", "work_started", "announced_reason", "channels_mask")


class SiteState:
    """All agents, queues and contacts of one site (or shard)."""

    def __init__(self, config: SiteConfig, scheduler_factory=None):
        self.config = config
        self.name = config.name
        self.now = -math.inf
        self.scheduler = (scheduler_factory or native.Scheduler)()
        self.skills: dict[str, SkillConfig] = {}
        self._skill_index: dict[str, int] = {}
        self._skill_names: list[str] = []
        self._counters: dict[str, RollingSkillCounters] = {}
        # What the EWT learns per skill (handle time, abandonment), with a longer memory
        # than the statistics window: a 15-minute AHT made the EWT noisy (issue 17).
        self._estimates: dict[str, ServiceEstimates] = {}
        # Invariant: staffed[i] = logged-in agents with skill i; serving[i] = those in ready mode.
        self._staffed: list[int] = []
        self._serving: list[int] = []
        self.agents: dict[str, Agent] = {}
        self._agent_by_index: list[Agent] = []
        self.contacts: dict[str, Contact] = {}          # not yet final
        # Live contacts that first arrived before they arrived here (interflowed in after a
        # wait elsewhere): the longest wait of `statistics` counts from their first arrival.
        self._moved_in: dict[str, Contact] = {}
        # contact id -> its one final state, for the most recent contacts (sites/recent.py)
        self.finished: RecentMap = RecentMap()
        self._contact_by_handle: dict[int, Contact] = {}
        self._offer_timers: list = []    # heap of (deadline, order, contact id); stale entries skipped
        self._wrap_up_timers: list = []  # heap of (deadline, order, agent id, contact id)
        self._widen_timers: list = []   # heap of times a queued contact passes a widen threshold
        self._timer_order = count()
        # Scheduler inputs the scheduler cannot report back, kept so that `snapshot()` can
        # rebuild an equal scheduler through its public API: the SO classes each skill
        # registered (it refuses a 17th), each agent's last selection key (idle since,
        # occupancy) and the order of round-robin assignments.
        self._so_classes: list[dict] = []       # per skill index: SO -> None, first seen first
        self._selection_keys: list[tuple] = []  # per agent index
        self._round_robin: dict = {}            # (agent index, skill index) -> assignment number
        self._round_robin_clock = count(1)
        self.plans = PlanRunner(self)           # routing plans (SPEC §10): sites/plan_runner.py
        self.tiers = config.tiers or TierConfig()   # customer tiers (SPEC §7): sites/tiers.py
        if config.plans is not None:
            self.plans.use(config.plans, None if config.wall_start is None
                           else WallClock(config.wall_start))
        self._handlers = {
            ev.AgentLoggedIn: self._agent_logged_in,
            ev.AgentLoggedOut: self._agent_logged_out,
            ev.AgentReady: self._agent_ready,
            ev.AgentNotReady: self._agent_not_ready,
            ev.AgentHeld: self._agent_held,
            ev.ContactArrived: self._contact_arrived,
            ev.OfferAccepted: self._offer_accepted,
            ev.ContactConnected: self._offer_accepted,
            ev.OfferRejected: self._offer_missed,
            ev.OfferTimedOut: self._offer_missed,
            ev.ContactEnded: self._contact_ended,
            ev.ContactAbandoned: self._contact_abandoned,
            ev.ContactInterflowed: self._contact_interflowed,
            ev.WrapUpDone: self._wrap_up_done,
            ev.DigitsCollected: self.plans.digits_collected,
            ev.PromptFinished: self.plans.prompt_finished,
            ev.SelfServiceEnded: self.plans.self_service_ended,
            ev.CallbackChosen: self.plans.callback_chosen,
            ev.Tick: self._tick,
        }
        for skill in config.skills:
            self.add_skill(skill)
        for agent in config.agents:
            self.add_agent(agent)

    # ---- configuration --------------------------------------------------------------
    def add_skill(self, skill: SkillConfig) -> None:
        if skill.name in self.skills:
            raise InvalidInput("skill.name", f"skill {skill.name!r} already exists")
        index = self.scheduler.add_skill(skill.queueing.value, skill.agent_selection.value,
                                         skill.widen_level, skill.widen_after_s)
        self.skills[skill.name] = skill
        self._skill_index[skill.name] = index
        self._skill_names.append(skill.name)
        self._counters[skill.name] = RollingSkillCounters(self.config.statistics_window_s,
                                                          skill.sl_threshold_s)
        self._estimates[skill.name] = ServiceEstimates()
        self._staffed.append(0)
        self._serving.append(0)
        self._so_classes.append({})

    # Configuration methods never call one another: a host may wrap each public one to
    # journal it (cluster/store/persistence.py), and one change must make one entry.
    def add_agent(self, config: AgentConfig) -> None:
        if config.agent_id in self.agents:
            raise InvalidInput("agent.agent_id", f"agent {config.agent_id!r} already exists")
        self._install_agent(config)

    def _install_agent(self, config: AgentConfig) -> None:
        for skill in config.skills:
            if skill not in self.skills:
                raise InvalidInput(f"agents.{config.agent_id}.skills",
                                   f"unknown skill {skill!r}")
        index = self.scheduler.add_agent(
            [(self._skill_index[skill], level) for skill, level in config.skills.items()],
            config.call_selection.value)
        agent = Agent(config, index, frozenset(self._skill_index[s] for s in config.skills))
        self.agents[config.agent_id] = agent
        self._agent_by_index.append(agent)
        self._selection_keys.append((0.0, 0.0))

    # Administration of a live site. The scheduler cannot forget an agent or a skill, so a
    # removed agent keeps its scheduler slot with no channel available (never chosen), and
    # a removed skill keeps its index with no agent and no contact (never queried).
    def remove_agent(self, agent_id: str) -> None:
        """Forget a logged-out agent."""
        agent = self._agent(agent_id)
        if agent.mode is not _MODE_LOGGED_OUT:
            raise InvalidInput("agent_id", f"agent {agent_id!r} is logged in")
        del self.agents[agent_id]

    def replace_agent(self, config: AgentConfig) -> None:
        """Give a logged-out agent a new configuration (skills, levels, capacities)."""
        agent = self._agent(config.agent_id)
        if agent.mode is not _MODE_LOGGED_OUT:
            raise InvalidInput("agent_id", f"agent {config.agent_id!r} is logged in")
        for skill in config.skills:
            if skill not in self.skills:
                raise InvalidInput(f"agents.{config.agent_id}.skills", f"unknown skill {skill!r}")
        del self.agents[config.agent_id]
        self._install_agent(config)

    def update_skill(self, config: SkillConfig) -> None:
        """Change the settings of a skill that the scheduler does not hold (thresholds,
        timeouts, queue limit, AHT estimate); queueing, agent selection and widening are
        fixed while the skill exists."""
        current = self.skills.get(config.name)
        if current is None:
            raise InvalidInput("skill.name", f"unknown skill {config.name!r}")
        for name in ("queueing", "agent_selection", "widen_level", "widen_after_s"):
            if getattr(config, name) != getattr(current, name):
                raise InvalidInput(f"skills.{config.name}.{name}",
                                   "cannot change while the skill exists")
        self.skills[config.name] = config
        self._counters[config.name].sl_threshold_s = config.sl_threshold_s

    def put_plans(self, change: dict) -> None:
        """The center's routing plans from now on (Admin; SPEC §10). `change`: {"document":
        the four keys as plain values, "skills": the center's skill names, "sites": its
        site names}; checked whole (PlanError naming the key) before anything changes. A
        contact already in a plan finishes the version it started."""
        config = parse_plan_config(change["document"], change["skills"], change.get("sites"))
        self.plans.use(config)
        self.plans.change = change

    def remove_skill(self, name: str) -> None:
        """Forget a skill that no agent has and no live contact uses."""
        if name not in self.skills:
            raise InvalidInput("skill.name", f"unknown skill {name!r}")
        users = sum(1 for agent in self.agents.values() if name in agent.config.skills)
        if users:
            raise InvalidInput("skill.name", f"{users} agent(s) have skill {name!r}")
        live = sum(1 for contact in self.contacts.values() if contact.skill == name)
        if live:
            raise InvalidInput("skill.name", f"{live} contact(s) of skill {name!r} are in progress")
        del self.skills[name]
        del self._skill_index[name]
        del self._counters[name]
        del self._estimates[name]

    # ---- the one entry point ---------------------------------------------------------
    def handle(self, event) -> list:
        """Apply one event at its time; return the actions the host must carry out."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise InvalidInput("event", f"unknown event type {type(event).__name__}")
        time = event.time
        # A float, the usual time, passes the type test at once.
        if type(time) is not float and (isinstance(time, bool) or not isinstance(
                time, (int, float))) or not math.isfinite(time):
            raise InvalidInput("time", f"must be a finite number; got {time!r}")
        if time < self.now:
            raise InvalidInput("time", f"goes backwards: {time!r} is before {self.now!r}")
        actions: list = []
        handler(event, actions)
        self.now = time
        return actions

    # ---- lookups that validate ---------------------------------------------------------
    def _agent(self, agent_id) -> Agent:
        if not isinstance(agent_id, str):
            raise InvalidInput("agent_id", f"must be a string; got {agent_id!r}")
        agent = self.agents.get(agent_id)
        if agent is None:
            raise InvalidInput("agent_id", f"unknown agent {agent_id!r}")
        return agent

    def _logged_in_agent(self, agent_id) -> Agent:
        agent = self._agent(agent_id)
        if agent.mode is _MODE_LOGGED_OUT:
            raise InvalidInput("agent_id", f"agent {agent_id!r} is logged out")
        return agent

    def _contact(self, contact_id, *expected: ContactState) -> Contact:
        if not isinstance(contact_id, str):
            raise InvalidInput("contact_id", f"must be a string; got {contact_id!r}")
        contact = self.contacts.get(contact_id)
        if contact is None:
            final = self.finished.get(contact_id)
            if final is not None:
                raise InvalidInput("contact_id",
                                   f"contact {contact_id!r} already finished ({final.value})")
            raise InvalidInput("contact_id", f"unknown contact {contact_id!r}")
        if expected and contact.state not in expected:
            wanted = " or ".join(state.value for state in expected)
            raise InvalidInput("contact_id",
                               f"contact {contact_id!r} is {contact.state.value}, not {wanted}")
        return contact

    # ---- agent events -------------------------------------------------------------------
    def _agent_logged_in(self, event, actions):
        agent = self._agent(event.agent_id)
        if agent.mode is not _MODE_LOGGED_OUT:
            raise InvalidInput("agent_id", f"agent {event.agent_id!r} is already logged in")
        # Avaya habit: a fresh login starts in not_ready until the agent says ready.
        agent.mode = _MODE_NOT_READY
        agent.reason = "logged_in"
        agent.logged_in_at = agent.idle_since = event.time
        agent.work_time = 0.0
        agent.missed_offers = 0
        for skill in agent.skill_indexes:
            self._staffed[skill] += 1
        self._refresh_agent(agent, event.time, actions)

    def _agent_logged_out(self, event, actions):
        agent = self._logged_in_agent(event.agent_id)
        in_progress = sum(agent.load) + len(agent.wrap_ups)
        if in_progress:
            raise InvalidInput("agent_id", f"agent {event.agent_id!r} still has "
                                           f"{in_progress} contact(s) in progress")
        self._leave_ready_mode(agent)
        for skill in agent.skill_indexes:
            self._staffed[skill] -= 1
        agent.mode = _MODE_LOGGED_OUT
        agent.reason = ""
        self._release_agent(agent, event.time, actions, "agent_logged_out")

    def _agent_ready(self, event, actions):
        agent = self._logged_in_agent(event.agent_id)
        if agent.mode is _MODE_READY:
            return
        agent.mode = _MODE_READY
        agent.reason = ""
        agent.missed_offers = 0
        for skill in agent.skill_indexes:
            self._serving[skill] += 1
        if agent.work_started is None:
            agent.idle_since = event.time
        self._refresh_agent(agent, event.time, actions)
        self._dispatch_agent(agent, event.time, actions)

    def _agent_not_ready(self, event, actions):
        agent = self._logged_in_agent(event.agent_id)
        if not isinstance(event.reason, str):
            raise InvalidInput("reason", f"must be a string; got {event.reason!r}")
        self._leave_ready_mode(agent)
        agent.mode = _MODE_NOT_READY
        agent.reason = event.reason
        self._release_agent(agent, event.time, actions, "agent_not_ready")

    def _agent_held(self, event, actions):
        agent = self._logged_in_agent(event.agent_id)
        if (agent.mode is not _MODE_READY or agent.offer is not None or agent.wrap_ups
                or agent.load != _NO_LOAD):
            raise InvalidInput("agent_id", f"agent {event.agent_id!r} is not idle (ready with "
                                           "no contact): a contact or its desktop took it "
                                           "since the campaign's pace")
        self._agent_not_ready(event, actions)

    def _release_agent(self, agent: Agent, now: float, actions: list, reason: str) -> None:
        """After the agent left ready mode: hand back an open offer, announce the state."""
        if agent.offer is not None:
            # The mode changed first, so the withdrawn contact cannot go back to this agent.
            self._withdraw_offer(self.contacts[agent.offer], agent, now, actions,
                                 reason=reason, missed=False)
        else:
            self._refresh_agent(agent, now, actions)

    def _leave_ready_mode(self, agent: Agent) -> None:
        if agent.mode is _MODE_READY:
            for skill in agent.skill_indexes:
                self._serving[skill] -= 1

    # ---- contact events -----------------------------------------------------------------
    def _contact_arrived(self, event, actions):
        contact_id = event.contact_id
        if not isinstance(contact_id, str) or not contact_id:
            raise InvalidInput("contact_id", f"must be a non-empty string; got {contact_id!r}")
        if contact_id in self.contacts or contact_id in self.finished:
            raise InvalidInput("contact_id", f"duplicate contact id {contact_id!r}")
        if event.skill is None and event.dnis is not None:
            self.plans.arrive(event, actions)       # the dialled number's plan decides
            return
        skill = self.skills.get(event.skill) if isinstance(event.skill, str) else None
        if skill is None:
            raise InvalidInput("skill", f"unknown skill {event.skill!r}")
        priority, channel, entry_site, first_arrival = self._arrival_fields(event)
        if event.service_objective_s is None:
            service_objective = self.objective_for(skill, priority, event.tier)
        else:
            service_objective = check_number(event.service_objective_s, "service_objective_s",
                                             0, exclusive=True)
        skill_index = self._skill_index[skill.name]
        agent_index = self._agent_for_new(skill, skill_index, channel._value_)
        if agent_index is None:
            self.finished[contact_id] = _CONTACT_REJECTED
            actions.append(ContactRejected(contact_id, "queue_full"))
            actions.append(ContactFinished(contact_id, _CONTACT_REJECTED, None))
            return
        # The queue place is taken at this site's arrival time, also for a contact
        # interflowed here after a wait elsewhere (only its service level, speed of answer
        # and longest wait count from its first arrival). Best Service Routing moved it on
        # this site's EWT for a contact entering now at its priority, i.e. behind the
        # contacts already waiting here (or to an agent free here), so the EWT it was moved
        # on holds; and the scheduler's classes are FIFO by arrival (DQP ranks class heads
        # by wait/SO; widening and the oldest arrival read the heads), which an earlier
        # time put at a tail would break. The cost: DQP ranks it by its wait here.
        try:
            handle = self._enqueue_new(skill_index, channel._value_, priority, service_objective,
                                       event.time)
        except ValueError as error:      # e.g. a 17th service objective class on this skill
            raise InvalidInput("service_objective_s", str(error)) from None
        contact = Contact(contact_id, skill.name, priority, service_objective, channel,
                          event.data, event.time, entry_site, first_arrival)
        contact.handle = handle
        contact.origin = event.origin
        contact.tier = event.tier
        self.contacts[contact_id] = contact
        if first_arrival < event.time:
            self._moved_in[contact_id] = contact
        self._contact_by_handle[handle] = contact
        self._offer_or_queue(contact, handle, skill, priority, agent_index, event.time, actions)

    # ---- a new queue entry: the arrival decision, shared by arrivals and plans' queue steps --
    def _agent_for_new(self, skill, skill_index, channel_code):
        """The agent a new contact of `skill` is offered to at once (NO_AGENT: it queues);
        None when nobody is available and the skill's queue is full."""
        scheduler = self.scheduler
        agent_index = scheduler.best_agent(skill_index, channel_code)
        if agent_index == native.NO_AGENT and skill.widen_after_s == 0:
            agent_index = scheduler.best_agent(skill_index, channel_code, True)
        if (agent_index == native.NO_AGENT and skill.max_queue_length is not None
                and scheduler.queued_total(skill_index) >= skill.max_queue_length):
            return None
        return agent_index

    def _enqueue_new(self, skill_index, channel_code, priority, service_objective, now):
        """A scheduler entry at `now` (ValueError: a 17th service objective class)."""
        handle = self.scheduler.enqueue(skill_index, channel_code, priority._value_,
                                        service_objective, now)
        classes = self._so_classes[skill_index]
        if service_objective not in classes:
            classes[service_objective] = None
        return handle

    def _offer_or_queue(self, contact, handle, skill, priority, agent_index, now, actions):
        """Offer the new entry to `agent_index`, or give it queue treatment."""
        if agent_index != native.NO_AGENT:
            self.scheduler.detach(handle)
            self._offer(contact, self._agent_by_index[agent_index], now, actions)
            return
        if skill.widen_after_s > 0 and skill.widen_level < native.MAX_LEVEL:
            heapq.heappush(self._widen_timers, now + skill.widen_after_s)
        actions.append(self._queue_treatment_in(contact.contact_id, skill.name, priority, now))

    def objective_for(self, skill, priority, tier_name) -> float:
        """The service objective of a contact that gives none: its caller's tier's, else
        the skill's for its priority, else the skill's SL threshold."""
        tier = self.tiers.of(tier_name)
        if tier is not None and tier.service_objective_s is not None:
            return tier.service_objective_s
        if skill.service_objectives:
            return skill.service_objectives.get(priority, skill.sl_threshold_s)
        return skill.sl_threshold_s

    def priority_for(self, tier_name) -> Priority:
        """The priority of a contact that gives none: its caller's tier's (medium without
        tiers)."""
        return self.tiers.priority_of(tier_name)

    def _arrival_fields(self, event) -> tuple:
        """(priority, channel, entry site, first arrival) of an arrival, validated."""
        tier = event.tier
        if tier is not None and (not isinstance(tier, str) or not tier or len(tier) > 64):
            raise InvalidInput("tier", f"must be a tier name of 1..64 characters; got {tier!r}")
        # The tables know the names and the members; anything else, unhashable values
        # included, goes to parse_enum, which names the problem.
        try:
            priority = _PRIORITY_LOOKUP.get(event.priority)
        except TypeError:
            priority = None
        if priority is None:
            priority = (self.priority_for(tier) if event.priority is None
                        else parse_enum(Priority, event.priority, "priority"))
        try:
            channel = _CHANNEL_LOOKUP.get(event.channel)
        except TypeError:
            channel = None
        if channel is None:
            channel = parse_enum(Channel, event.channel, "channel")
        if not isinstance(event.data, dict):
            raise InvalidInput("data", f"must be a mapping; got {type(event.data).__name__}")
        entry_site, first_arrival = event.entry_site, event.first_arrival
        if entry_site is None:
            entry_site = self.name
        elif not isinstance(entry_site, str) or not entry_site:
            raise InvalidInput("entry_site", f"must be a non-empty string; got {entry_site!r}")
        if first_arrival is None:
            first_arrival = event.time
        else:
            first_arrival = check_number(first_arrival, "first_arrival")
            if first_arrival > event.time:
                raise InvalidInput("first_arrival", f"must not be after the arrival here "
                                                    f"({event.time!r}); got {first_arrival!r}")
        return priority, channel, entry_site, first_arrival

    # ---- routing-plan contacts (the interpreter is sites/plan_runner.py) -------------------
    def _new_plan_contact(self, event) -> Contact:
        """Register a contact that dialled an entry point, in the IVR, in no queue yet."""
        priority, channel, entry_site, _ = self._arrival_fields(event)
        # Its wait for an agent (service level, speed of answer) starts when a plan queues
        # it, not at the call's arrival in the IVR: first_arrival is set then.
        contact = Contact(event.contact_id, None, priority, None, channel, event.data,
                          event.time, entry_site, event.time)
        contact.state = _CONTACT_IN_IVR
        contact.origin = event.origin
        contact.tier = event.tier
        self.contacts[contact.contact_id] = contact
        return contact

    def _queued_in(self, contact: Contact, skill_name: str) -> bool:
        return contact.skill == skill_name and contact.handle != native.NO_CONTACT or bool(
            contact.also_queued and skill_name in contact.also_queued.values())

    @staticmethod
    def _skill_count(contact: Contact) -> int:
        if contact.handle == native.NO_CONTACT:
            return 0
        return 1 + (len(contact.also_queued) if contact.also_queued else 0)

    def _queue_in_skill(self, contact, skill, priority, service_objective, now, actions):
        """A plan's `queue` step: wait in `skill` too (or first), or be offered at once.

        Nothing happens when the skill's queue is full with nobody available, or when it
        would be the skill's 17th service objective class: the plan goes on (its next step
        may queue a backup skill)."""
        skill_index = self._skill_index[skill.name]
        if priority is None:                # the step leaves it to the caller's tier
            priority = self.priority_for(contact.tier)
        if service_objective is None:
            service_objective = self.objective_for(skill, priority, contact.tier)
        agent_index = self._agent_for_new(skill, skill_index, contact.channel_code)
        if agent_index is None:
            return
        try:
            handle = self._enqueue_new(skill_index, contact.channel_code, priority,
                                       service_objective, now)
        except ValueError:          # a 17th service objective class on this skill
            return
        self._contact_by_handle[handle] = contact
        if contact.handle == native.NO_CONTACT:         # its first skill
            contact.skill, contact.priority = skill.name, priority
            contact.service_objective_s = service_objective
            contact.handle = handle
            contact.arrival_time = contact.first_arrival = now
            contact.state = _CONTACT_QUEUED
        else:
            if contact.also_queued is None:
                contact.also_queued = {}
            contact.also_queued[handle] = skill.name
        self._offer_or_queue(contact, handle, skill, priority, agent_index, now, actions)

    def _set_contact_priority(self, contact, priority, now, actions) -> None:
        """A plan's `priority` step: every queue it waits in, placed by its waiting time."""
        scheduler = self.scheduler
        scheduler.set_priority(contact.handle, priority.value)
        for handle in contact.also_queued or ():
            scheduler.set_priority(handle, priority.value)
        contact.priority = priority
        actions.append(self._queue_treatment(contact, now))

    def _own_ewt(self, contact, now):
        """A queued contact's EWT: the shortest over the skills it waits in (the first
        agent of any answers it); None when not queued or nobody can serve it."""
        if contact.state is not _CONTACT_QUEUED:
            return None
        best = None
        for handle in (contact.handle, *(contact.also_queued or ())):
            skill, _, priority, *_ = self.scheduler.contact_info(handle)
            ewt = self._queue_treatment_in(contact.contact_id, self._skill_names[skill],
                                           _PRIORITIES[priority], now).ewt_s
            if ewt is not None and (best is None or ewt < best):
                best = ewt
        return best

    def _take_from_other_queues(self, contact) -> None:
        """An agent is being offered a contact that waits in several skills: the handle it
        was taken by becomes the contact's skill; the others leave their queues, keeping
        their places (detached) in case the offer fails."""
        scheduler = self.scheduler
        others = contact.also_queued
        if scheduler.is_queued(contact.handle):         # taken through another skill
            taken = next(handle for handle in others if not scheduler.is_queued(handle))
            skill, _, priority, service_objective, *_ = scheduler.contact_info(taken)
            del others[taken]
            others[contact.handle] = contact.skill
            contact.handle = taken
            contact.skill = self._skill_names[skill]
            contact.priority = _PRIORITIES[priority]
            contact.service_objective_s = service_objective
        for handle in others:
            if scheduler.is_queued(handle):
                scheduler.detach(handle)

    def movable(self, contact: Contact) -> bool:
        """May Best Service Routing move this queued contact to another site? Not one in a
        routing plan, waiting in several skills or holding a callback: its plan, places and
        promise live here (a known limit: README, "Routing plans")."""
        return contact.plan_run is None and not contact.also_queued and not contact.callback

    def _offer_accepted(self, event, actions):
        contact = self._contact(event.contact_id, _CONTACT_OFFERED, _CONTACT_CONNECTED)
        if contact.state is _CONTACT_CONNECTED:
            return      # the second of OfferAccepted / ContactConnected
        agent = self.agents[contact.agent_id]
        self._forget_handle(contact)
        if contact.plan_run is not None:
            self.plans.answered(contact)
        contact.state = _CONTACT_CONNECTED
        contact.answer_time = event.time
        contact.offer_deadline = None
        agent.offer = None
        agent.load[contact.channel_code] += 1
        agent.missed_offers = 0
        # The caller's wait: from its first arrival in the center (an interflowed contact
        # waited at its entry site too).
        waited = event.time - contact.first_arrival
        self._counters[contact.skill].note_answer(event.time, waited)
        self._estimates[contact.skill].note_left_queue(waited, abandoned=False)
        self._refresh_agent(agent, event.time, actions)
        self._dispatch_agent(agent, event.time, actions)

    def _offer_missed(self, event, actions):
        contact = self._contact(event.contact_id, _CONTACT_OFFERED)
        agent = self.agents[contact.agent_id]
        self._withdraw_offer(contact, agent, event.time, actions, reason=None, missed=True)

    def _contact_ended(self, event, actions):
        contact = self._contact(event.contact_id, _CONTACT_QUEUED, _CONTACT_OFFERED,
                                _CONTACT_CONNECTED, _CONTACT_IN_IVR)
        if contact.callback and contact.state is _CONTACT_QUEUED:
            return      # the leg the caller hung up when accepting the callback: expected
        if contact.state is not _CONTACT_CONNECTED:
            self._abandon(contact, event.time, actions)
            return
        agent = self.agents[contact.agent_id]
        skill = self.skills[contact.skill]
        agent.load[contact.channel_code] -= 1
        contact.end_time = event.time
        wrap_up_s = agent.config.wrap_up_s if agent.config.wrap_up_s is not None else skill.wrap_up_s
        if wrap_up_s > 0:
            contact.state = _CONTACT_WRAP_UP
            deadline = event.time + wrap_up_s
            agent.wrap_ups[contact.contact_id] = deadline
            heapq.heappush(self._wrap_up_timers, (deadline, next(self._timer_order),
                                                  agent.config.agent_id, contact.contact_id))
        else:
            self._complete(contact, agent, event.time, actions)
        self._refresh_agent(agent, event.time, actions)
        self._dispatch_agent(agent, event.time, actions)

    def _contact_abandoned(self, event, actions):
        contact = self._contact(event.contact_id, _CONTACT_QUEUED, _CONTACT_OFFERED,
                                _CONTACT_IN_IVR)
        self._abandon(contact, event.time, actions)

    def _contact_interflowed(self, event, actions):
        contact = self._contact(event.contact_id, _CONTACT_QUEUED)
        if not isinstance(event.to_site, str) or not event.to_site or event.to_site == self.name:
            raise InvalidInput("to_site", f"must name another site; got {event.to_site!r}")
        self._finish(contact, _CONTACT_INTERFLOWED, event.time, actions)

    def _wrap_up_done(self, event, actions):
        agent = self._logged_in_agent(event.agent_id)
        if not agent.wrap_ups:
            raise InvalidInput("agent_id", f"agent {event.agent_id!r} has no contact in wrap_up")
        for contact_id in list(agent.wrap_ups):
            self._complete(self.contacts[contact_id], agent, event.time, actions)
        self._refresh_agent(agent, event.time, actions)
        self._dispatch_agent(agent, event.time, actions)

    def _tick(self, event, actions):
        now = event.time
        offers = self._offer_timers
        while offers and offers[0][0] <= now:
            timer = heapq.heappop(offers)
            if self._offer_timer_live(timer):
                contact = self.contacts[timer[2]]
                self._withdraw_offer(contact, self.agents[contact.agent_id], now, actions,
                                     reason="offer_timeout", missed=True)
        wrap_ups = self._wrap_up_timers
        while wrap_ups and wrap_ups[0][0] <= now:
            timer = heapq.heappop(wrap_ups)
            if self._wrap_up_timer_live(timer):
                _, _, agent_id, contact_id = timer
                agent = self.agents[agent_id]
                self._complete(self.contacts[contact_id], agent, now, actions)
                self._refresh_agent(agent, now, actions)
                self._dispatch_agent(agent, now, actions)
        widen_timers = self._widen_timers
        while widen_timers and widen_timers[0] <= now:
            heapq.heappop(widen_timers)
        self._widen(now, actions)
        if self.plans.timers:
            self.plans.tick(now, actions)

    def next_deadline(self) -> float | None:
        """The earliest time a Tick may change something (offer or wrap-up timeout, widening).

        Hosts that do not tick on a fixed period (the simulator) tick at this time.
        """
        # Answered offers and wrap-ups ended early leave their timers in the heaps (removing
        # one from the middle costs more than skipping it). Dropped here, not only when due:
        # otherwise, 15 s after traffic began, a stale timer came due at nearly every moment
        # and hosts ticked sites that had nothing to do (on Ray one more round each, ~1 in 3
        # under load: issue 16).
        offers, wrap_ups = self._offer_timers, self._wrap_up_timers
        while offers and not self._offer_timer_live(offers[0]):
            heapq.heappop(offers)
        while wrap_ups and not self._wrap_up_timer_live(wrap_ups[0]):
            heapq.heappop(wrap_ups)
        deadlines = [heap[0][0] for heap in (offers, wrap_ups) if heap]
        if self._widen_timers:
            deadlines.append(self._widen_timers[0])
        if self.plans.timers:
            deadlines.append(self.plans.timers[0][0])
        return min(deadlines) if deadlines else None

    def _offer_timer_live(self, timer) -> bool:
        """Whether an offer timer (deadline, order, contact id) still times out an offer."""
        contact = self.contacts.get(timer[2])
        return (contact is not None and contact.state is _CONTACT_OFFERED
                and contact.offer_deadline == timer[0])

    def _wrap_up_timer_live(self, timer) -> bool:
        """Whether a wrap-up timer (deadline, order, agent id, contact id) still ends a
        wrap-up (a stale one, its wrap-up ended early, may outlive its agent: logged out
        and removed through Admin since)."""
        agent = self.agents.get(timer[2])
        return agent is not None and agent.wrap_ups.get(timer[3]) == timer[0]

    def _widen(self, now, actions):
        """Offer contacts that waited long enough to agents above the skill's widen level."""
        scheduler = self.scheduler
        for name, skill in self.skills.items():
            if skill.widen_level >= native.MAX_LEVEL:
                continue
            index = self._skill_index[name]
            if not scheduler.queued_total(index):
                continue
            for channel in _CHANNELS:
                # Bounded: every offer makes one available agent unavailable.
                while True:
                    agent_index = scheduler.best_agent(index, channel.value, True)
                    if agent_index == native.NO_AGENT:
                        break
                    handle = scheduler.take_best_contact(agent_index, now)
                    if handle == native.NO_CONTACT:
                        break
                    self._offer(self._contact_by_handle[handle], self._agent_by_index[agent_index],
                                now, actions)

    # ---- transitions shared by several events ----------------------------------------------
    def _offer(self, contact: Contact, agent: Agent, now: float, actions: list) -> None:
        if contact.also_queued:
            self._take_from_other_queues(contact)
        skill = self.skills[contact.skill]
        contact.state = _CONTACT_OFFERED
        contact.agent_id = agent.config.agent_id
        contact.offer_deadline = deadline = now + skill.offer_timeout_s
        agent.offer = contact.contact_id
        heapq.heappush(self._offer_timers, (deadline, next(self._timer_order), contact.contact_id))
        if skill.agent_selection is _SELECT_ROUND_ROBIN:
            skill_index = self._skill_index[skill.name]
            self.scheduler.note_assignment(agent.index, skill_index)
            self._round_robin[(agent.index, skill_index)] = next(self._round_robin_clock)
        actions.append(OfferContact(contact.contact_id, agent.config.agent_id, skill.name,
                                    contact.channel, deadline, contact.data, contact.callback))
        self._refresh_agent(agent, now, actions)

    def _withdraw_offer(self, contact, agent, now, actions, reason, missed):
        """Take an open offer back: the contact returns to its original queue position
        (in every skill it waits in)."""
        self.scheduler.requeue(contact.handle)
        for handle in contact.also_queued or ():
            self.scheduler.requeue(handle)
        contact.state = _CONTACT_QUEUED
        contact.agent_id = None
        contact.offer_deadline = None
        agent.offer = None
        if reason is not None:
            actions.append(OfferRevoked(contact.contact_id, agent.config.agent_id, reason))
        if missed:
            agent.missed_offers += 1
            if (agent.missed_offers >= self.config.auto_pause_after_misses
                    and agent.mode is _MODE_READY):
                self._leave_ready_mode(agent)
                agent.mode = _MODE_NOT_READY
                agent.reason = "auto_pause"
        # Another available agent gets the contact first, then the one that missed it is
        # refreshed (and may take it back if it is the only one).
        self._place_queued(contact, now, actions)
        self._refresh_agent(agent, now, actions)
        self._dispatch_agent(agent, now, actions)
        if contact.plan_run is not None:
            self.plans.offer_ended(contact, now, actions)

    def _place_queued(self, contact, now, actions):
        """Offer a requeued contact to an available agent, or give it queue treatment.

        The skill's best available agent may rank another contact first (e.g. one that
        passed a widening threshold since the last Tick); it then gets that one, and the
        next available agent is asked. Bounded: each round makes one agent unavailable.
        """
        scheduler = self.scheduler
        skill_index = self._skill_index[contact.skill]
        while True:
            agent_index = scheduler.best_agent(skill_index, contact.channel_code)
            if agent_index == native.NO_AGENT:
                actions.append(self._queue_treatment(contact, now))
                return
            handle = scheduler.take_best_contact(agent_index, now)
            self._offer(self._contact_by_handle[handle], self._agent_by_index[agent_index],
                        now, actions)
            if handle == contact.handle:
                return

    def _abandon(self, contact, now, actions):
        self._leave(contact, _CONTACT_ABANDONED, now, actions)
        if contact.skill is not None:           # None: hung up in the IVR, before any queue
            self._counters[contact.skill].note_abandon(now)
            self._estimates[contact.skill].note_left_queue(now - contact.first_arrival,
                                                           abandoned=True)

    def _leave(self, contact, final_state, now, actions):
        """A contact nobody served ends (abandoned, or its plan ended it): an open offer is
        revoked and its agent freed for the next contact."""
        if contact.state is _CONTACT_OFFERED:
            agent = self.agents[contact.agent_id]
            agent.offer = None
            contact.agent_id = None     # nobody served it
            reason = "abandoned" if final_state is _CONTACT_ABANDONED else final_state.value
            actions.append(OfferRevoked(contact.contact_id, agent.config.agent_id, reason))
            self._finish(contact, final_state, now, actions)
            self._refresh_agent(agent, now, actions)
            self._dispatch_agent(agent, now, actions)
        else:
            self._finish(contact, final_state, now, actions)

    def _complete(self, contact, agent, now, actions):
        agent.wrap_ups.pop(contact.contact_id, None)
        self._counters[contact.skill].note_handled(now, now - contact.answer_time)
        self._estimates[contact.skill].note_handled(now - contact.answer_time)
        self._finish(contact, _CONTACT_COMPLETED, now, actions)

    def _finish(self, contact, final_state, now, actions):
        self._forget_handle(contact)
        if contact.plan_run is not None:
            self.plans.release(contact)
        contact.state = final_state
        contact.end_time = contact.end_time if contact.end_time is not None else now
        del self.contacts[contact.contact_id]
        if self._moved_in:
            self._moved_in.pop(contact.contact_id, None)
        self.finished[contact.contact_id] = final_state
        actions.append(ContactFinished(contact.contact_id, final_state, contact.agent_id))

    def _forget_handle(self, contact):
        if contact.handle != native.NO_CONTACT:
            self.scheduler.remove(contact.handle)
            del self._contact_by_handle[contact.handle]
            contact.handle = native.NO_CONTACT
        if contact.also_queued:
            for handle in contact.also_queued:
                self.scheduler.remove(handle)
                del self._contact_by_handle[handle]
            contact.also_queued = None

    def _queue_treatment(self, contact, now) -> ContactQueued:
        return self._queue_treatment_in(contact.contact_id, contact.skill, contact.priority, now)

    def _queue_treatment_in(self, contact_id, skill_name, priority, now) -> ContactQueued:
        skill_index = self._skill_index[skill_name]
        place = self._queued_up_to(skill_index, priority._value_)
        return ContactQueued(contact_id, skill_name, priority, place,
                             self._ewt(skill_index, place, 0))

    def _ewt(self, skill_index, place, available):
        serving = self._serving[skill_index]
        if serving <= 0 or place <= available:
            # Nobody serves the skill (None), or an agent is free for this place (0 s):
            # expected_wait needs no handle time or abandonment rate to say so.
            return expected_wait(place, available, serving, 0.0)
        name = self._skill_names[skill_index]
        estimates = self._estimates[name]
        aht = estimates.aht()
        if aht is None:
            aht = self.skills[name].aht_estimate_s
        return expected_wait(place, available, serving, aht, estimates.abandon_rate_per_s())

    # ---- agent availability ------------------------------------------------------------------
    def _channels_mask(self, agent: Agent) -> int:
        """Channels the agent can be offered now (SPEC §3: capacity; voice blocks others).
        An outbound call is a phone call too: it blocks the other channels, voice included,
        as a voice call blocks outbound (a blended agent talks to one caller at a time)."""
        if agent.mode is not _MODE_READY or agent.offer is not None or agent.wrap_ups:
            return 0
        load = agent.load
        blocks = agent.config.voice_blocks_others
        on_voice = load[_VOICE] > 0 and blocks
        on_outbound = load[_OUTBOUND] > 0 and blocks
        mask = 0
        for code, capacity in agent.capacities:
            if load[code] < capacity and not (on_voice and code != _VOICE) and not (
                    on_outbound and code != _OUTBOUND):
                mask |= 1 << code
        return mask

    def _refresh_agent(self, agent: Agent, now: float, actions: list) -> None:
        """Re-key the agent in the scheduler and announce a changed state."""
        busy = agent.wrap_ups or agent.load != _NO_LOAD
        if busy and agent.work_started is None:
            agent.work_started = now
        elif not busy and agent.work_started is not None:
            agent.work_time += now - agent.work_started
            agent.work_started = None
            agent.idle_since = now
        mask = self._channels_mask(agent)
        if mask or agent.channels_mask:     # unavailable before and after: nothing to re-key
            occupancy = self._occupancy(agent, now) if mask else 0.0
            self.scheduler.set_agent_availability(agent.index, mask, agent.idle_since, occupancy)
            agent.channels_mask = mask
            self._selection_keys[agent.index] = (agent.idle_since, occupancy)
        state = self._derived_state(agent)
        reason = agent.reason if state is _AGENT_NOT_READY else ""
        if state is not agent.state or reason != agent.announced_reason:
            agent.state = state
            agent.announced_reason = reason
            actions.append(AgentStateChanged(agent.config.agent_id, state, reason))

    def _dispatch_agent(self, agent: Agent, now: float, actions: list) -> None:
        """Offer the agent its best queued contact; call right after `_refresh_agent`."""
        if agent.channels_mask:
            handle = self.scheduler.take_best_contact(agent.index, now)
            if handle != native.NO_CONTACT:
                self._offer(self._contact_by_handle[handle], agent, now, actions)

    @staticmethod
    def _derived_state(agent: Agent) -> AgentState:
        if agent.mode is _MODE_LOGGED_OUT:
            return _AGENT_LOGGED_OUT
        if agent.offer is not None:
            return _AGENT_RESERVED
        if agent.load != _NO_LOAD:
            return _AGENT_BUSY
        if agent.wrap_ups:
            return _AGENT_WRAP_UP
        if agent.mode is _MODE_NOT_READY:
            return _AGENT_NOT_READY
        return _AGENT_READY

    def agent_occupancy(self, agent_id: str, now: float | None = None) -> float:
        """(busy + wrap-up time) / logged-in time of an agent up to now (or up to `now`, a
        time from the last event on, nothing having happened since)."""
        return self._occupancy(self._agent(agent_id), self.now if now is None else now)

    @staticmethod
    def _occupancy(agent: Agent, now: float) -> float:
        logged_in = now - agent.logged_in_at
        if logged_in <= 0:
            return 0.0
        working = agent.work_time + (now - agent.work_started if agent.work_started is not None else 0.0)
        return working / logged_in

    # ---- what the virtual center sees ----------------------------------------------------------------
    def status(self, skill_name: str, channel: Channel = Channel.VOICE) -> SkillStatus:
        """This site's published status for one skill and channel (cheap: no agent scan)."""
        index = self._skill_index[skill_name]
        scheduler = self.scheduler
        available = self._available(skill_name, index, channel.value)
        queued = [scheduler.queued_count(index, p) for p in range(len(_PRIORITIES))]
        ewt = []
        ahead = 0
        for waiting in queued:
            ahead += waiting
            ewt.append(self._ewt(index, ahead + 1, available))
        # By arrival here, as the queue orders them (an agent that pulls from the site takes
        # its head); `statistics` reports the longest wait since the first arrival.
        oldest = scheduler.oldest_arrival(index) if ahead else None
        return SkillStatus(self.name, skill_name, channel, self.now, self._staffed[index],
                           available, tuple(ewt), sum(queued), oldest)

    def _available(self, skill_name: str, index: int, channel_code: int) -> int:
        """Agents who could take a new contact of the skill now (as `status` publishes)."""
        scheduler = self.scheduler
        available = scheduler.available_count(index, channel_code)
        if self.skills[skill_name].widen_after_s == 0:
            available += scheduler.available_count(index, channel_code, True)
        return available

    def new_contact_ewt(self, skill_name: str, priority: Priority,
                        channel: Channel = Channel.VOICE):
        """`status(skill, channel).ewt_s[priority]` without the other priorities' figures:
        the EWT of a contact entering now at `priority` (a plan's `ewt` condition)."""
        index = self._skill_index[skill_name]
        ahead = self._queued_up_to(index, priority._value_)
        return self._ewt(index, ahead + 1, self._available(skill_name, index, channel._value_))

    def _queued_up_to(self, skill_index: int, top: int) -> int:
        """Contacts queued in a skill at priority code `top` or a more urgent one."""
        scheduler = self.scheduler
        if top == _LAST_PRIORITY:
            return scheduler.queued_total(skill_index)      # every priority
        ahead = 0
        for priority in range(top + 1):
            ahead += scheduler.queued_count(skill_index, priority)
        return ahead

    def queued_total(self, skill_name: str) -> int:
        return self.scheduler.queued_total(self._skill_index[skill_name])

    def best_queued_contact(self, skill_name: str, channel: Channel, now: float):
        """The queued contact of a skill this site would serve next, or None (a peek)."""
        index = self._skill_index[skill_name]
        for priority in range(len(_PRIORITIES)):
            handle = self.scheduler.head(index, channel.value, priority, now)
            if handle != native.NO_CONTACT:
                contact = self._contact_by_handle[handle]
                return contact if self.movable(contact) else None
        return None

    # ---- real-time statistics ------------------------------------------------------------------
    def statistics(self, skill_name: str) -> SkillStatistics:
        skill = self.skills.get(skill_name)
        if skill is None:
            raise InvalidInput("skill", f"unknown skill {skill_name!r}")
        index = self._skill_index[skill_name]
        now = self.now if math.isfinite(self.now) else 0.0
        queued = tuple(self.scheduler.queued_count(index, p.value) for p in _PRIORITIES)
        # An agent above the widen level is not ready for a new contact of this skill.
        immediate_level = skill.widen_level if skill.widen_after_s > 0 else native.MAX_LEVEL
        ready = sum(1 for agent in self.agents.values()
                    if index in agent.skill_indexes and agent.channels_mask
                    and agent.config.skills[skill_name] <= immediate_level)
        ewt = []
        ahead = 0
        for priority in _PRIORITIES:
            ahead += queued[priority.value]
            ewt.append(self._ewt(index, ahead + 1, ready))
        oldest = self.scheduler.oldest_arrival(index)
        if oldest is not None and self._moved_in:
            # The queue has the time each contact arrived here; a contact interflowed in
            # waited since its first arrival.
            for contact in self._moved_in.values():
                if (contact.skill == skill_name and contact.state is _CONTACT_QUEUED
                        and contact.first_arrival < oldest):
                    oldest = contact.first_arrival
        answered, abandoned, asa, sl, sl2, aht = self._counters[skill_name].snapshot(now)
        return SkillStatistics(
            skill=skill_name, staffed=self._staffed[index], serving=self._serving[index],
            ready=ready, queued=queued,
            oldest_wait_s=None if oldest is None else now - oldest,
            ewt_s=tuple(ewt), answered=answered, abandoned=abandoned, asa_s=asa, sl_pct=sl,
            sl2_pct=sl2, aht_s=aht)

    # ---- invariants ------------------------------------------------------------------------------
    def validate(self) -> None:
        """Assert every invariant of the site (used by tests; O(agents + contacts))."""
        scheduler = self.scheduler
        assert not (self.contacts.keys() & self.finished.keys()), "contact both live and final"
        for final in self.finished.values():
            assert final in FINAL_STATES, final
        handles = 0
        load = {agent_id: [0] * len(Channel) for agent_id in self.agents}
        wrap = {agent_id: set() for agent_id in self.agents}
        for contact in self.contacts.values():
            state = contact.state
            assert state not in FINAL_STATES, contact.contact_id
            others = contact.also_queued or {}
            assert len(others) < 3, "waits in more than 3 skills"
            if state is _CONTACT_QUEUED:
                assert scheduler.is_queued(contact.handle), contact.contact_id
                assert all(scheduler.is_queued(handle) for handle in others)
                assert contact.agent_id is None
            elif state is _CONTACT_IN_IVR:
                assert contact.plan_run is not None and contact.handle == native.NO_CONTACT
                assert not others and contact.agent_id is None
            elif state is _CONTACT_OFFERED:
                assert contact.handle != native.NO_CONTACT and not scheduler.is_queued(contact.handle)
                assert not any(scheduler.is_queued(handle) for handle in others)
                agent = self.agents[contact.agent_id]
                assert agent.offer == contact.contact_id
                assert contact.skill in agent.config.skills, "offer to an agent lacking the skill"
                # An offer is never *made* to an agent in wrap_up (the mask is 0 then); a
                # chat that ends while a call rings may start wrap_up under an open offer.
            else:
                assert contact.handle == native.NO_CONTACT
                if state is _CONTACT_CONNECTED:
                    load[contact.agent_id][contact.channel.value] += 1
                else:
                    wrap[contact.agent_id].add(contact.contact_id)
            if contact.handle != native.NO_CONTACT:
                handles += 1
                assert self._contact_by_handle[contact.handle] is contact
            for handle, skill_name in others.items():
                handles += 1
                assert self._contact_by_handle[handle] is contact
                assert self._skill_names[scheduler.contact_info(handle)[0]] == skill_name
            if contact.plan_run is not None:    # answered: its plan is over
                assert state in (_CONTACT_IN_IVR, _CONTACT_QUEUED, _CONTACT_OFFERED)
            assert not (contact.callback and contact.plan_run is not None)
        assert handles == len(self._contact_by_handle) == scheduler.contact_count()
        lines: dict = {}
        for contact in self.contacts.values():
            if contact.plan_run is not None and contact.plan_run.holds_line:
                lines[contact.plan_run.service] = lines.get(contact.plan_run.service, 0) + 1
        assert lines == {service: used for service, used in self.plans.lines.items() if used}
        staffed = [0] * len(self._skill_names)
        serving = [0] * len(self._skill_names)
        for agent_id, agent in self.agents.items():
            assert agent.load == load[agent_id], f"agent {agent_id} load mismatch"
            assert set(agent.wrap_ups) == wrap[agent_id]
            for channel, used in enumerate(agent.load):
                assert used <= agent.config.channels.get(_CHANNELS[channel], 0), \
                    f"agent {agent_id} above capacity"
            if agent.offer is not None:
                assert self.contacts[agent.offer].state is _CONTACT_OFFERED
            assert scheduler.agent_channels(agent.index) == self._channels_mask(agent) \
                == agent.channels_mask
            assert agent.state is self._derived_state(agent)
            if agent.mode is not _MODE_LOGGED_OUT:
                for skill in agent.skill_indexes:
                    staffed[skill] += 1
                    serving[skill] += agent.mode is _MODE_READY
            else:
                assert agent.offer is None and not any(agent.load) and not agent.wrap_ups
        assert staffed == self._staffed and serving == self._serving
        assert self._moved_in.keys() == {contact_id for contact_id, contact
                                         in self.contacts.items()
                                         if contact.first_arrival < contact.arrival_time}
        assert all(self._moved_in[contact_id] is self.contacts[contact_id]
                   for contact_id in self._moved_in)


    # ---- snapshots (cluster/store: a site is its last snapshot + the journal after it) ------
    def snapshot(self) -> dict:
        """The whole site as JSON-able data; `SiteState.restore` builds from it a state that
        is equal and decides identically (the core is deterministic).

        It is also the canonical dump recovery tests compare, so it holds no scheduler handle
        and no scheduler sequence number: contacts with a place in the scheduler carry their
        rank in arrival-sequence order (`queue`), which is all the queues' order depends on.
        """
        scheduler = self.scheduler
        handles = []
        for contact in self.contacts.values():
            if contact.handle != native.NO_CONTACT:
                handles.append(contact.handle)
                handles.extend(contact.also_queued or ())
        handles.sort(key=lambda handle: scheduler.contact_info(handle)[5])
        rank = {handle: place for place, handle in enumerate(handles)}
        # Reading a counter consumes a number: put an equal counter back.
        next_order = next(self._timer_order)
        self._timer_order = count(next_order)
        next_assignment = next(self._round_robin_clock)
        self._round_robin_clock = count(next_assignment)
        config = self.config
        return {
            "format": SNAPSHOT_FORMAT,
            "site": {"name": self.name,
                     "auto_pause_after_misses": config.auto_pause_after_misses,
                     "statistics_window_s": config.statistics_window_s},
            "now": self.now if math.isfinite(self.now) else None,
            "skill_names": list(self._skill_names),       # by scheduler index, removed ones too
            "skills": [[self._skill_index[name], config_to_dict(skill)]
                       for name, skill in self.skills.items()],
            "counters": {name: _counters_to_dict(counters)
                         for name, counters in self._counters.items()},
            "service_estimates": {name: estimates.to_list()
                                  for name, estimates in self._estimates.items()},
            "staffed": list(self._staffed),
            "serving": list(self._serving),
            "so_classes": [list(classes) for classes in self._so_classes],
            "agents": [self._agent_to_dict(agent) for agent in self._agent_by_index],
            "live_agents": [[agent_id, agent.index] for agent_id, agent in self.agents.items()],
            "selection_keys": [list(key) for key in self._selection_keys],
            "round_robin": sorted(([agent, skill, number] for (agent, skill), number
                                   in self._round_robin.items()), key=lambda item: item[2]),
            "round_robin_next": next_assignment,
            "contacts": [self._contact_record(contact, rank)
                         for contact in self.contacts.values()],
            "finished": [[contact_id, final.value] for contact_id, final in self.finished.items()],
            # Live timers only, sorted: which stale ones a heap still holds depends on when
            # its host last asked `next_deadline` (it drops them), not on the events, and a
            # recovered site must snapshot equal to the one that wrote its journal.
            "offer_timers": sorted(list(timer) for timer in self._offer_timers
                                   if self._offer_timer_live(timer)),
            "wrap_up_timers": sorted(list(timer) for timer in self._wrap_up_timers
                                     if self._wrap_up_timer_live(timer)),
            "widen_timers": list(self._widen_timers),
            "timer_order": next_order,
            **self._plans_snapshot(),
        }

    def _contact_record(self, contact: Contact, rank: dict) -> dict:
        record = _contact_to_dict(contact, rank.get(contact.handle))
        if contact.handle != native.NO_CONTACT:
            # The place key of its queue entry (a contact answered through another skill
            # than its first took that skill's entry, queued at another time).
            record["queue_arrival"] = self.scheduler.contact_info(contact.handle)[4]
        if contact.also_queued:
            record["also_queued"] = sorted(
                [rank[handle], skill_name, *self.scheduler.contact_info(handle)[2:5]]
                for handle, skill_name in contact.also_queued.items())
        if contact.plan_run is not None:
            record["plan_run"] = contact.plan_run.to_dict()
        if contact.callback:
            record["callback"] = True
        return record

    def _plans_snapshot(self) -> dict:
        plans = self.plans
        # Plans Admin put replace the configuration file's: a snapshot keeps them.
        kept = {"plans_change": plans.change} if plans.change is not None else {}
        if not plans.timers and not any(plans.lines.values()):
            return kept
        next_order = next(plans._order)
        plans._order = count(next_order)
        return {**kept, "plan_timers": [list(timer) for timer in plans.timers],
                "plan_timer_order": next_order,
                "plan_lines": {service: used for service, used in plans.lines.items() if used}}

    def _agent_to_dict(self, agent: Agent) -> dict:
        # The scheduler's (skill index, level) pairs in the order the agent was registered;
        # a removed agent's skills may since have been removed and re-added under new indexes.
        index_of = {self._skill_names[index]: index for index in agent.skill_indexes}
        record = {"config": config_to_dict(agent.config),
                  "skills": [[index_of[name], level]
                             for name, level in agent.config.skills.items()],
                  "mode": agent.mode.value, "state": agent.state.value, "load": list(agent.load),
                  "wrap_ups": [[contact_id, deadline]
                               for contact_id, deadline in agent.wrap_ups.items()]}
        for name in _AGENT_PLAIN_FIELDS:
            record[name] = getattr(agent, name)
        return record

    @classmethod
    def restore(cls, snapshot: dict, scheduler_factory=None, plans=None,
                clock=None) -> "SiteState":
        """The state `snapshot()` described, on a new scheduler built through its public API
        (skills and agents in their index order, SO classes, queued contacts in arrival
        order, availability and round-robin bookkeeping).

        `plans` (a PlanConfig) and `clock` (a WallClock): the routing plans the site runs;
        a contact in a plan goes on with the plan of its name in `plans`."""
        if snapshot.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown site snapshot format {snapshot.get('format')!r}")
        site = snapshot["site"]
        skills = {index: SkillConfig(**fields) for index, fields in snapshot["skills"]}
        slot_configs = [AgentConfig(**record["config"]) for record in snapshot["agents"]]
        settings = dict(auto_pause_after_misses=site["auto_pause_after_misses"],
                        statistics_window_s=site["statistics_window_s"])
        state = cls(SiteConfig(site["name"], **settings), scheduler_factory=scheduler_factory)
        if plans is not None:
            state.plans.use(plans, clock)
        if "plans_change" in snapshot:          # Admin's plans, newer than `plans`
            state.put_plans(snapshot["plans_change"])
        state.config = SiteConfig(site["name"], tuple(skills.values()),
                                  tuple(slot_configs[index] for _, index in snapshot["live_agents"]),
                                  **settings)
        scheduler = state.scheduler

        for index, name in enumerate(snapshot["skill_names"]):
            skill = skills.get(index)
            if skill is None:       # a removed skill: an index nothing uses any more
                scheduler.add_skill(native.QUEUEING_DQP, native.SELECT_LONGEST_IDLE)
            else:
                scheduler.add_skill(skill.queueing.value, skill.agent_selection.value,
                                    skill.widen_level, skill.widen_after_s)
        state._skill_names = list(snapshot["skill_names"])
        state._staffed = list(snapshot["staffed"])
        state._serving = list(snapshot["serving"])
        state._so_classes = [dict.fromkeys(classes) for classes in snapshot["so_classes"]]
        for index, skill in skills.items():
            state.skills[skill.name] = skill
            state._skill_index[skill.name] = index
            counters = state._counters[skill.name] = _counters_from_dict(
                snapshot["counters"][skill.name])
            estimates = snapshot.get("service_estimates", {}).get(skill.name)
            # Absent from snapshots written before the EWT learned on its own: start from
            # the handle times the statistics window still holds, abandonment unknown.
            state._estimates[skill.name] = (
                ServiceEstimates(*estimates) if estimates is not None
                else ServiceEstimates(counters._handle_sum, float(len(counters._handles))))

        for index, (record, agent_config) in enumerate(zip(snapshot["agents"], slot_configs)):
            pairs = [(skill, level) for skill, level in record["skills"]]
            scheduler.add_agent(pairs, agent_config.call_selection.value)
            agent = Agent(agent_config, index, frozenset(skill for skill, _ in pairs))
            agent.mode = AgentMode(record["mode"])
            agent.state = AgentState(record["state"])
            agent.load = list(record["load"])
            agent.wrap_ups = {contact_id: deadline for contact_id, deadline in record["wrap_ups"]}
            for name in _AGENT_PLAIN_FIELDS:
                setattr(agent, name, record[name])
            state._agent_by_index.append(agent)
        state.agents = {agent_id: state._agent_by_index[index]
                        for agent_id, index in snapshot["live_agents"]}
        state._selection_keys = [tuple(key) for key in snapshot["selection_keys"]]

        # SO classes first (dummy contacts, removed at once) so that the 17th class is refused
        # exactly as before, then the contacts in arrival order: every class queue keeps its
        # order, and an offered contact keeps the place it returns to if the offer fails.
        for index, classes in enumerate(state._so_classes):
            skill = skills.get(index)
            if skill is not None and skill.queueing is Queueing.DQP:
                for service_objective in classes:
                    scheduler.remove(scheduler.enqueue(index, 0, 0, service_objective, 0.0))
        placed = []         # (rank, contact, None: its first skill | [skill, priority, SO, arrival])
        for record in snapshot["contacts"]:
            contact = _contact_from_dict(record, state.name)
            state.contacts[contact.contact_id] = contact
            if contact.first_arrival < contact.arrival_time:
                state._moved_in[contact.contact_id] = contact
            if record["queue"] is not None:
                placed.append((record["queue"], contact,
                               None if "queue_arrival" not in record else [
                                   contact.skill, contact.priority.value,
                                   contact.service_objective_s, record["queue_arrival"]]))
            for rank, skill_name, *key in record.get("also_queued", ()):
                placed.append((rank, contact, [skill_name, *key], True))
            if "plan_run" in record:
                contact.plan_run = PlanRun.from_dict(record["plan_run"], state.plans.config)
            contact.callback = record.get("callback", False)
        placed.sort(key=lambda item: item[0])
        for _, contact, key, *other in placed:
            if key is None:
                key = [contact.skill, contact.priority.value, contact.service_objective_s,
                       contact.arrival_time]
            skill_name, priority, service_objective, arrival = key
            handle = scheduler.enqueue(state._skill_index[skill_name], contact.channel_code,
                                       priority, service_objective, arrival)
            if contact.state is _CONTACT_OFFERED:
                scheduler.detach(handle)
            state._contact_by_handle[handle] = contact
            if other:
                if contact.also_queued is None:
                    contact.also_queued = {}
                contact.also_queued[handle] = skill_name
            else:
                contact.handle = handle

        for agent in state._agent_by_index:
            if agent.channels_mask:
                idle_since, occupancy = state._selection_keys[agent.index]
                scheduler.set_agent_availability(agent.index, agent.channels_mask, idle_since,
                                                 occupancy)
        for agent_index, skill_index, number in snapshot["round_robin"]:
            scheduler.note_assignment(agent_index, skill_index)
            state._round_robin[(agent_index, skill_index)] = number
        state._round_robin_clock = count(snapshot["round_robin_next"])

        state.finished = RecentMap(items=((contact_id, ContactState(final))
                                          for contact_id, final in snapshot["finished"]))
        # Sorted (a heap) since session 14; older snapshots hold heap arrays: either way.
        state._offer_timers = [tuple(timer) for timer in snapshot["offer_timers"]]
        state._wrap_up_timers = [tuple(timer) for timer in snapshot["wrap_up_timers"]]
        heapq.heapify(state._offer_timers)
        heapq.heapify(state._wrap_up_timers)
        state._widen_timers = list(snapshot["widen_timers"])
        state._timer_order = count(snapshot["timer_order"])
        state.plans.timers = [tuple(timer) for timer in snapshot.get("plan_timers", ())]
        state.plans._order = count(snapshot.get("plan_timer_order", 0))
        state.plans.lines = dict(snapshot.get("plan_lines", {}))
        state.now = -math.inf if snapshot["now"] is None else snapshot["now"]
        return state


# ---- plain-data forms of configuration and live records (snapshots, the journal) -------------
def config_to_dict(config) -> dict:
    """A SkillConfig or AgentConfig as JSON-able data; `SkillConfig(**d)` / `AgentConfig(**d)`
    read it back (enums by lower-case name, as in configuration files)."""
    out = {}
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if isinstance(value, Enum):
            value = value.name.lower()
        elif isinstance(value, dict):
            value = {key.name.lower() if isinstance(key, Enum) else key: level
                     for key, level in value.items()}
        out[item.name] = value
    return out


def _contact_to_dict(contact: Contact, queue_rank) -> dict:
    return {"contact_id": contact.contact_id, "skill": contact.skill,
            "priority": contact.priority.name.lower(),
            "service_objective_s": contact.service_objective_s,
            "channel": contact.channel.name.lower(), "data": contact.data,
            "arrival_time": contact.arrival_time, "state": contact.state.value,
            "agent_id": contact.agent_id, "offer_deadline": contact.offer_deadline,
            "answer_time": contact.answer_time, "end_time": contact.end_time,
            "queue": queue_rank, "origin": contact.origin, "entry_site": contact.entry_site,
            "first_arrival": contact.first_arrival,
            **({} if contact.tier is None else {"tier": contact.tier})}


def _contact_from_dict(record: dict, site: str) -> Contact:
    # entry_site, first_arrival: absent from snapshots written before them (the contact
    # then arrived here first, as far as anyone knows).
    contact = Contact(record["contact_id"], record["skill"],
                      _PRIORITY_LOOKUP[record["priority"]], record["service_objective_s"],
                      _CHANNEL_LOOKUP[record["channel"]], record["data"], record["arrival_time"],
                      record.get("entry_site") or site, record.get("first_arrival"))
    contact.state = ContactState(record["state"])
    contact.agent_id = record["agent_id"]
    contact.offer_deadline = record["offer_deadline"]
    contact.answer_time = record["answer_time"]
    contact.end_time = record["end_time"]
    contact.origin = record.get("origin")       # absent from snapshots written before it
    contact.tier = record.get("tier")
    return contact


# RollingSkillCounters keeps its window privately; its exact contents (running sums included,
# rounding and all) are part of the state, since AHT feeds the EWT of later decisions.
def _counters_to_dict(counters: RollingSkillCounters) -> dict:
    return {"window_s": counters.window_s, "sl_threshold_s": counters.sl_threshold_s,
            "answers": [list(answer) for answer in counters._answers],
            "wait_sum": counters._wait_sum, "within": counters._within,
            "abandons": list(counters._abandons),
            "handles": [list(handled) for handled in counters._handles],
            "handle_sum": counters._handle_sum}


def _counters_from_dict(record: dict) -> RollingSkillCounters:
    counters = RollingSkillCounters(record["window_s"], record["sl_threshold_s"])
    counters._answers.extend(tuple(answer) for answer in record["answers"])
    counters._wait_sum = record["wait_sum"]
    counters._within = record["within"]
    counters._abandons.extend(record["abandons"])
    counters._handles.extend(tuple(handled) for handled in record["handles"])
    counters._handle_sum = record["handle_sum"]
    return counters

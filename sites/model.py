"""The vocabulary of one site (SPEC §2): enums, configuration and the live records.

Configuration objects validate themselves on creation and raise `InvalidInput` naming the
field; live records (`Agent`, `Contact`) are plain mutable data owned by `SiteState`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import native
from sites.errors import InvalidInput


class Priority(Enum):
    TOP = native.PRIORITY_TOP
    HIGH = native.PRIORITY_HIGH
    MEDIUM = native.PRIORITY_MEDIUM
    LOW = native.PRIORITY_LOW


class Channel(Enum):
    VOICE = native.CHANNEL_VOICE
    CHAT = native.CHANNEL_CHAT
    EMAIL = native.CHANNEL_EMAIL
    SMS = native.CHANNEL_SMS
    CALLBACK = native.CHANNEL_CALLBACK
    OUTBOUND = native.CHANNEL_OUTBOUND


class Queueing(Enum):
    DQP = native.QUEUEING_DQP
    FIFO = native.QUEUEING_FIFO


class AgentSelection(Enum):
    LONGEST_IDLE = native.SELECT_LONGEST_IDLE
    LEAST_OCCUPIED = native.SELECT_LEAST_OCCUPIED
    BEST_SKILL = native.SELECT_BEST_SKILL
    ROUND_ROBIN = native.SELECT_ROUND_ROBIN


class CallSelection(Enum):
    GREATEST_NEED = native.CALL_SELECT_GREATEST_NEED
    SKILL_LEVEL = native.CALL_SELECT_SKILL_LEVEL


class AgentMode(Enum):
    """What the agent asked for; the visible `AgentState` also depends on its work."""
    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"


class AgentState(Enum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    RESERVED = "reserved"
    BUSY = "busy"
    WRAP_UP = "wrap_up"


class ContactState(Enum):
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    INTERFLOWED = "interflowed"
    REJECTED = "rejected"
    # A contact running its routing plan (SPEC §10) before it is queued in any skill.
    IN_IVR = "in_ivr"
    # Final states a routing plan reaches (SPEC §10).
    SELF_SERVED = "self_served"
    ROUTED_OUT = "routed_out"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    DISCONNECTED = "disconnected"


_QUEUED = ContactState.QUEUED      # a global: enum class attributes are slow (sites/state.py)
FINAL_STATES = frozenset({ContactState.COMPLETED, ContactState.ABANDONED,
                          ContactState.INTERFLOWED, ContactState.REJECTED,
                          ContactState.SELF_SERVED, ContactState.ROUTED_OUT, ContactState.BUSY,
                          ContactState.VOICEMAIL, ContactState.DISCONNECTED})


def parse_enum(enum_type, value, field_name):
    """An enum member from its lower-case name (as in config files) or the member itself."""
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        try:
            return enum_type[value.upper()]
        except KeyError:
            pass
    names = ", ".join(member.name.lower() for member in enum_type)
    raise InvalidInput(field_name, f"must be one of {names}; got {value!r}")


def enum_lookup(enum_type) -> dict:
    """Member by lower-case name or by itself, for a fast path before `parse_enum`."""
    table = {member.name.lower(): member for member in enum_type}
    table.update({member: member for member in enum_type})
    return table


def check_number(value, field_name, minimum=None, exclusive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(field_name, f"must be a finite number; got {value!r}")
    if minimum is not None and (value < minimum or (exclusive and value == minimum)):
        relation = ">" if exclusive else ">="
        raise InvalidInput(field_name, f"must be {relation} {minimum}; got {value!r}")
    return float(value)


def check_level(value, field_name):
    if isinstance(value, bool) or not isinstance(value, int) or not (
            native.MIN_LEVEL <= value <= native.MAX_LEVEL):
        raise InvalidInput(field_name,
                           f"must be an integer {native.MIN_LEVEL}..{native.MAX_LEVEL}; got {value!r}")
    return value


@dataclass(frozen=True)
class SkillConfig:
    name: str
    queueing: Queueing = Queueing.DQP
    sl_threshold_s: float = 20.0
    agent_selection: AgentSelection = AgentSelection.LONGEST_IDLE
    wrap_up_s: float = 0.0            # wrap-up timeout; 0 = the contact completes at hang-up
    offer_timeout_s: float = 15.0     # ring time before the offer counts as missed
    max_queue_length: int | None = None
    widen_level: int = native.MAX_LEVEL   # agents above this level wait for widen_after_s
    widen_after_s: float = 0.0
    aht_estimate_s: float = 180.0     # EWT's handle-time guess until real handle times exist
    # Default service objective per priority for a contact that arrives without one (else
    # sl_threshold_s). Part of the skill so that Admin changes are journaled with it.
    service_objectives: dict = field(default_factory=dict)     # Priority -> seconds

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInput("skill.name", f"must be a non-empty string; got {self.name!r}")
        where = f"skills.{self.name}"
        if not isinstance(self.service_objectives, dict):
            raise InvalidInput(f"{where}.service_objectives",
                               f"must map priorities to seconds; got {self.service_objectives!r}")
        objectives = {}
        for priority, seconds in self.service_objectives.items():
            member = parse_enum(Priority, priority, f"{where}.service_objectives")
            objectives[member] = check_number(
                seconds, f"{where}.service_objectives.{member.name.lower()}", 0, exclusive=True)
        object.__setattr__(self, "service_objectives", objectives)
        object.__setattr__(self, "queueing", parse_enum(Queueing, self.queueing, f"{where}.queueing"))
        object.__setattr__(self, "agent_selection", parse_enum(
            AgentSelection, self.agent_selection, f"{where}.agent_selection"))
        for name, exclusive in (("sl_threshold_s", True), ("wrap_up_s", False),
                                ("offer_timeout_s", True), ("widen_after_s", False),
                                ("aht_estimate_s", True)):
            object.__setattr__(self, name, check_number(
                getattr(self, name), f"{where}.{name}", 0, exclusive))
        check_level(self.widen_level, f"{where}.widen_level")
        if self.max_queue_length is not None and (
                isinstance(self.max_queue_length, bool) or not isinstance(self.max_queue_length, int)
                or self.max_queue_length < 0):
            raise InvalidInput(f"{where}.max_queue_length",
                               f"must be a non-negative integer; got {self.max_queue_length!r}")


@dataclass(frozen=True)
class AgentConfig:
    agent_id: str
    skills: dict                      # skill name -> level 1..16 (1 = most expert)
    channels: dict = field(default_factory=lambda: {"voice": 1})   # channel -> capacity
    call_selection: CallSelection = CallSelection.GREATEST_NEED
    wrap_up_s: float | None = None    # overrides the skill's wrap-up timeout when set
    voice_blocks_others: bool = True

    def __post_init__(self):
        if not isinstance(self.agent_id, str) or not self.agent_id:
            raise InvalidInput("agent.agent_id", f"must be a non-empty string; got {self.agent_id!r}")
        where = f"agents.{self.agent_id}"
        if not isinstance(self.skills, dict) or not self.skills:
            raise InvalidInput(f"{where}.skills", "must map at least one skill to a level")
        for skill, level in self.skills.items():
            check_level(level, f"{where}.skills.{skill}")
        capacities = {}
        if not isinstance(self.channels, dict) or not self.channels:
            raise InvalidInput(f"{where}.channels", "must map at least one channel to a capacity")
        for channel, capacity in self.channels.items():
            member = parse_enum(Channel, channel, f"{where}.channels")
            if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
                raise InvalidInput(f"{where}.channels.{member.name.lower()}",
                                   f"capacity must be an integer >= 1; got {capacity!r}")
            capacities[member] = capacity
        object.__setattr__(self, "channels", capacities)
        object.__setattr__(self, "call_selection", parse_enum(
            CallSelection, self.call_selection, f"{where}.call_selection"))
        if self.wrap_up_s is not None:
            object.__setattr__(self, "wrap_up_s", check_number(
                self.wrap_up_s, f"{where}.wrap_up_s", 0))


@dataclass(frozen=True)
class SiteConfig:
    name: str
    skills: tuple = ()                # SkillConfig, ...
    agents: tuple = ()                # AgentConfig, ...
    auto_pause_after_misses: int = 3  # K missed offers in a row put the agent not ready
    statistics_window_s: float = 900.0   # rolling window of ASA, SL and AHT
    # The center's routing plans (sites.plans.PlanConfig; SPEC §10), and the POSIX time of
    # the core's time 0 (calendars; None: sites.calendars.DEFAULT_START_EPOCH). Not part of
    # the site's identity: a host may give the same site new plans.
    plans: object = field(default=None, compare=False, repr=False)
    # Customer tiers (sites.tiers.TierConfig; SPEC §7): what a contact without its own
    # priority or objective gets, by its caller's tier. None: no tiers.
    tiers: object = field(default=None, compare=False, repr=False)
    wall_start: float | None = field(default=None, compare=False)

    def __post_init__(self):
        if isinstance(self.auto_pause_after_misses, bool) or not isinstance(
                self.auto_pause_after_misses, int) or self.auto_pause_after_misses < 1:
            raise InvalidInput("auto_pause_after_misses",
                               f"must be an integer >= 1; got {self.auto_pause_after_misses!r}")
        check_number(self.statistics_window_s, "statistics_window_s", 0, exclusive=True)


class Agent:
    """One agent's live record; `SiteState` is the only writer."""
    __slots__ = ("config", "index", "skill_indexes", "capacities", "mode", "reason", "load",
                 "offer", "wrap_ups", "missed_offers", "idle_since", "logged_in_at",
                 "work_time", "work_started", "state", "announced_reason", "channels_mask")

    def __init__(self, config: AgentConfig, index: int, skill_indexes: frozenset):
        self.config = config
        self.index = index                      # the scheduler's agent number
        self.skill_indexes = skill_indexes
        # (channel code, capacity) pairs: enum attribute access is slow on the hot path.
        self.capacities = tuple((channel.value, capacity)
                                for channel, capacity in config.channels.items())
        self.mode = AgentMode.LOGGED_OUT
        self.reason = ""
        self.load = [0] * len(Channel)          # connected contacts per channel
        self.offer = None                       # contact id being offered, if any
        self.wrap_ups = {}                      # contact id -> wrap-up deadline
        self.missed_offers = 0                  # in a row; reset by an accepted offer
        self.idle_since = 0.0
        self.logged_in_at = 0.0
        self.work_time = 0.0                    # busy + wrap-up seconds since login
        self.work_started = None                # set while the agent has any work
        self.state = AgentState.LOGGED_OUT      # last state announced
        self.announced_reason = ""
        self.channels_mask = 0                  # as last given to the scheduler


class Contact:
    """One contact's live record while it is not final."""
    __slots__ = ("contact_id", "skill", "priority", "service_objective_s", "channel",
                 "channel_code", "data", "arrival_time", "state", "handle", "agent_id",
                 "offer_deadline", "answer_time", "end_time", "origin", "entry_site",
                 "first_arrival", "plan_run", "also_queued", "callback", "tier")

    def __init__(self, contact_id, skill, priority, service_objective_s, channel, data,
                 arrival_time, entry_site=None, first_arrival=None):
        self.contact_id = contact_id
        self.skill = skill                      # SkillConfig name
        self.priority = priority
        self.service_objective_s = service_objective_s
        self.channel = channel
        self.channel_code = channel._value_      # (.value is slow: sites/state.py)
        self.data = data
        self.arrival_time = arrival_time        # here: its place in this site's queue
        # Where and when it first arrived in the center (another site, for a contact
        # interflowed here): its wait for service level and speed of answer counts from then.
        self.entry_site = entry_site
        self.first_arrival = arrival_time if first_arrival is None else first_arrival
        self.state = _QUEUED
        self.handle = native.NO_CONTACT         # scheduler handle while queued or offered
        self.agent_id = None
        self.offer_deadline = None
        self.answer_time = None
        self.end_time = None
        self.origin = None                      # ContactArrived.origin (opaque to the core)
        self.plan_run = None                    # sites.plan_runner.PlanRun while in a plan
        # Handles of the other skills a plan queued it in (handle -> skill name): the
        # first agent of any of them answers it (SPEC §10: up to 3 skills at once).
        self.also_queued = None
        self.callback = False                   # the caller accepted a callback and hung up
        self.tier = None                        # the caller's tier as looked up (SPEC §7)

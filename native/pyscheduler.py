"""The pure-Python twin of the compiled DQP scheduler (`native/_scheduler.pyx`).

Same API, same decisions, same handle numbers: the test suite drives both with random
event sequences and compares every answer. It is written the way a good Python engineer
would write it (OrderedDicts for FIFO classes, SortedLists for ready agents), so that the
native/twin speed ratio printed by `python -m native.bench` is a fair one.

Ordering rules (shared with the compiled backend, and documented in README):
- a skill queue is split by channel, then by the four strict priorities, then by service
  objective class (DQP) or one class (FIFO); each class is FIFO by arrival sequence;
- within a priority the head is the class head with the largest wait/SO (DQP) or the
  oldest (FIFO), ties to the earlier arrival;
- across an agent's skills `greatest_need` takes the highest priority first, then the
  largest wait/SO; `skill_level` takes the lowest (most expert) level first, then as
  greatest_need;
- an agent whose level on a skill is above the skill's `widen_level` only takes contacts
  of that skill that have waited `widen_after_s` or more (bullseye widening).
"""

from collections import OrderedDict

from sortedcontainers import SortedList

from native.constants import (
    CALL_SELECT_GREATEST_NEED,
    CALL_SELECT_SKILL_LEVEL,
    CHANNEL_COUNT,
    MAX_LEVEL,
    MAX_SO_CLASSES,
    MIN_LEVEL,
    NO_AGENT,
    NO_CONTACT,
    PRIORITY_COUNT,
    QUEUEING_DQP,
    QUEUEING_FIFO,
    SELECT_BEST_SKILL,
    SELECT_LEAST_OCCUPIED,
    SELECT_LONGEST_IDLE,
    SELECT_ROUND_ROBIN,
)

BACKEND = "python"

_FREE, _QUEUED, _DETACHED = 0, 1, 2


class _Skill:
    __slots__ = ("queueing", "agent_selection", "widen_level", "widen_after_s",
                 "so_classes", "queues", "counts", "round_robin_clock", "ready_agents")

    def __init__(self, queueing, agent_selection, widen_level, widen_after_s):
        self.queueing = queueing
        self.agent_selection = agent_selection
        self.widen_level = widen_level
        self.widen_after_s = widen_after_s
        self.so_classes = []
        # queues[channel][priority] maps class -> OrderedDict(handle -> None);
        # Invariant: a class is present only while its queue is non-empty.
        self.queues = [[{} for _ in range(PRIORITY_COUNT)] for _ in range(CHANNEL_COUNT)]
        self.counts = [0] * PRIORITY_COUNT
        self.round_robin_clock = 0
        # ready_agents[channel][widened] orders available agents by the selection key.
        self.ready_agents = [[SortedList(), SortedList()] for _ in range(CHANNEL_COUNT)]


class _Agent:
    __slots__ = ("call_selection", "skills", "levels", "channels_mask", "idle_since",
                 "occupancy", "keys", "round_robin_stamps")

    def __init__(self, call_selection, skills, levels):
        self.call_selection = call_selection
        self.skills = skills
        self.levels = levels
        self.channels_mask = 0
        self.idle_since = 0.0
        self.occupancy = 0.0
        self.keys = [None] * len(skills)
        self.round_robin_stamps = [0] * len(skills)


def _check_channel_priority(channel, priority):
    if not 0 <= channel < CHANNEL_COUNT:
        raise ValueError(f"channel must be 0..{CHANNEL_COUNT - 1}, got {channel!r}")
    if not 0 <= priority < PRIORITY_COUNT:
        raise ValueError(f"priority must be 0..{PRIORITY_COUNT - 1}, got {priority!r}")


def _check_finite(name, value):
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


class Scheduler:
    """Queues of one site (or shard) and its available agents; see the module docstring."""

    def __init__(self):
        self._skills = []
        self._agents = []
        # Per contact handle; a handle is reused (last freed, first reused) once removed.
        self._skill_of = []
        self._channel_of = []
        self._priority_of = []
        self._class_of = []
        self._so_of = []
        self._arrival_of = []
        self._seq_of = []
        self._state_of = []
        self._free_handles = []
        self._next_seq = 0
        self._live = 0

    # ---- skills -------------------------------------------------------------------
    def add_skill(self, queueing, agent_selection, widen_level=MAX_LEVEL, widen_after_s=0.0):
        if queueing not in (QUEUEING_DQP, QUEUEING_FIFO):
            raise ValueError(f"queueing must be 0 (dqp) or 1 (fifo), got {queueing!r}")
        if agent_selection not in (SELECT_LONGEST_IDLE, SELECT_LEAST_OCCUPIED,
                                   SELECT_BEST_SKILL, SELECT_ROUND_ROBIN):
            raise ValueError(f"agent_selection must be 0..3, got {agent_selection!r}")
        if not MIN_LEVEL <= widen_level <= MAX_LEVEL:
            raise ValueError(f"widen_level must be {MIN_LEVEL}..{MAX_LEVEL}, got {widen_level!r}")
        widen_after_s = _check_finite("widen_after_s", widen_after_s)
        if widen_after_s < 0:
            raise ValueError(f"widen_after_s must be >= 0, got {widen_after_s!r}")
        self._skills.append(_Skill(queueing, agent_selection, widen_level, widen_after_s))
        return len(self._skills) - 1

    def skill_count(self):
        return len(self._skills)

    def _skill(self, skill):
        if not 0 <= skill < len(self._skills):
            raise KeyError(f"unknown skill {skill!r}")
        return self._skills[skill]

    # ---- contacts -----------------------------------------------------------------
    def enqueue(self, skill, channel, priority, service_objective_s, arrival_time):
        record = self._skill(skill)
        _check_channel_priority(channel, priority)
        service_objective_s = _check_finite("service_objective_s", service_objective_s)
        if service_objective_s <= 0:
            raise ValueError(f"service_objective_s must be > 0, got {service_objective_s!r}")
        arrival_time = _check_finite("arrival_time", arrival_time)
        if record.queueing == QUEUEING_FIFO:
            so_class = 0
        else:
            try:
                so_class = record.so_classes.index(service_objective_s)
            except ValueError:
                if len(record.so_classes) >= MAX_SO_CLASSES:
                    raise ValueError(
                        f"skill {skill} already has {MAX_SO_CLASSES} service objective classes"
                    ) from None
                record.so_classes.append(service_objective_s)
                so_class = len(record.so_classes) - 1
        if self._free_handles:
            handle = self._free_handles.pop()
            self._skill_of[handle] = skill
            self._channel_of[handle] = channel
            self._priority_of[handle] = priority
            self._class_of[handle] = so_class
            self._so_of[handle] = service_objective_s
            self._arrival_of[handle] = arrival_time
            self._seq_of[handle] = self._next_seq
        else:
            handle = len(self._skill_of)
            self._skill_of.append(skill)
            self._channel_of.append(channel)
            self._priority_of.append(priority)
            self._class_of.append(so_class)
            self._so_of.append(service_objective_s)
            self._arrival_of.append(arrival_time)
            self._seq_of.append(self._next_seq)
            self._state_of.append(_FREE)
        self._next_seq += 1
        self._live += 1
        self._state_of[handle] = _QUEUED
        classes = record.queues[channel][priority]
        fifo = classes.get(so_class)
        if fifo is None:
            fifo = classes[so_class] = OrderedDict()
        fifo[handle] = None
        record.counts[priority] += 1
        return handle

    def _unlink(self, handle):
        record = self._skills[self._skill_of[handle]]
        priority = self._priority_of[handle]
        classes = record.queues[self._channel_of[handle]][priority]
        so_class = self._class_of[handle]
        fifo = classes[so_class]
        del fifo[handle]
        if not fifo:
            del classes[so_class]
        record.counts[priority] -= 1

    def _state(self, handle):
        if not 0 <= handle < len(self._state_of) or self._state_of[handle] == _FREE:
            raise KeyError(f"unknown contact handle {handle!r}")
        return self._state_of[handle]

    def remove(self, handle):
        """Forget a queued or detached contact (abandoned, finished, interflowed)."""
        if self._state(handle) == _QUEUED:
            self._unlink(handle)
        self._state_of[handle] = _FREE
        self._free_handles.append(handle)
        self._live -= 1

    def detach(self, handle):
        """Take a queued contact out of its queue (it is being offered); it keeps its place key."""
        if self._state(handle) != _QUEUED:
            raise KeyError(f"contact handle {handle!r} is not queued")
        self._unlink(handle)
        self._state_of[handle] = _DETACHED

    def requeue(self, handle):
        """Put a detached contact back at its original position (never the tail)."""
        if self._state(handle) != _DETACHED:
            raise KeyError(f"contact handle {handle!r} is not detached")
        record = self._skills[self._skill_of[handle]]
        priority = self._priority_of[handle]
        classes = record.queues[self._channel_of[handle]][priority]
        so_class = self._class_of[handle]
        fifo = classes.get(so_class)
        if fifo is None:
            fifo = classes[so_class] = OrderedDict()
        seq = self._seq_of[handle]
        # Walk past the (few) older contacts at the front, then restore them in front:
        # an offered contact was a head, so only contacts older than it precede it.
        older = []
        for other in fifo:
            if self._seq_of[other] > seq:
                break
            older.append(other)
        for other in older:
            del fifo[other]
        fifo[handle] = None
        fifo.move_to_end(handle, last=False)
        for other in reversed(older):
            fifo[other] = None
            fifo.move_to_end(other, last=False)
        record.counts[priority] += 1
        self._state_of[handle] = _QUEUED

    def set_priority(self, handle, priority):
        """Move a queued or detached contact to another priority, placed by its waiting time
        (its sequence is kept, so `requeue` puts it among the new priority's contacts where
        its wait puts it)."""
        state = self._state(handle)
        _check_channel_priority(0, priority)
        if state == _QUEUED:
            self._unlink(handle)
            self._state_of[handle] = _DETACHED
        self._priority_of[handle] = priority
        if state == _QUEUED:
            self.requeue(handle)

    def is_queued(self, handle):
        return 0 <= handle < len(self._state_of) and self._state_of[handle] == _QUEUED

    def contact_count(self):
        return self._live

    def queued_count(self, skill, priority):
        record = self._skill(skill)
        _check_channel_priority(0, priority)
        return record.counts[priority]

    def queued_total(self, skill):
        return sum(self._skill(skill).counts)

    def oldest_arrival(self, skill):
        """Arrival time of the longest-waiting queued contact of a skill, or None."""
        oldest = None
        for by_priority in self._skill(skill).queues:
            for classes in by_priority:
                for fifo in classes.values():
                    arrival = self._arrival_of[next(iter(fifo))]
                    if oldest is None or arrival < oldest:
                        oldest = arrival
        return oldest

    def head(self, skill, channel, priority, now):
        """The contact a DQP/FIFO skill serves next on one channel and priority, or -1."""
        record = self._skill(skill)
        _check_channel_priority(channel, priority)
        now = _check_finite("now", now)
        best, _need = self._head_of(record, record.queues[channel][priority], now, -1.0)
        return best

    def _head_of(self, record, classes, now, min_wait):
        """Best class head of one (skill, channel, priority): (handle, need) or (-1, 0)."""
        best = NO_CONTACT
        best_need = 0.0
        best_seq = 0
        for fifo in classes.values():
            handle = next(iter(fifo))
            wait = now - self._arrival_of[handle]
            if wait < min_wait:
                continue
            # A FIFO skill has one class, so this ranks nothing inside it; the need still
            # uses the contact's SO so that greatest_need compares skills fairly.
            need = wait / self._so_of[handle]
            seq = self._seq_of[handle]
            if best == NO_CONTACT or need > best_need or (need == best_need and seq < best_seq):
                best, best_need, best_seq = handle, need, seq
        return best, best_need

    # ---- agents -------------------------------------------------------------------
    def add_agent(self, skills, call_selection=CALL_SELECT_GREATEST_NEED):
        """Register an agent with [(skill, level), ...]; it starts unavailable."""
        if call_selection not in (CALL_SELECT_GREATEST_NEED, CALL_SELECT_SKILL_LEVEL):
            raise ValueError(f"call_selection must be 0 or 1, got {call_selection!r}")
        skill_ids, levels = [], []
        for skill, level in skills:
            self._skill(skill)
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                raise ValueError(f"level must be {MIN_LEVEL}..{MAX_LEVEL}, got {level!r}")
            if skill in skill_ids:
                raise ValueError(f"skill {skill} listed twice for one agent")
            skill_ids.append(skill)
            levels.append(level)
        self._agents.append(_Agent(call_selection, skill_ids, levels))
        return len(self._agents) - 1

    def agent_count(self):
        return len(self._agents)

    def _agent(self, agent):
        if not 0 <= agent < len(self._agents):
            raise KeyError(f"unknown agent {agent!r}")
        return self._agents[agent]

    def _selection_key(self, record, agent, entry, agent_id):
        policy = self._skills[record.skills[entry]].agent_selection
        if policy == SELECT_LONGEST_IDLE:
            return (record.idle_since, 0.0, agent_id)
        if policy == SELECT_LEAST_OCCUPIED:
            return (record.occupancy, record.idle_since, agent_id)
        if policy == SELECT_BEST_SKILL:
            return (float(record.levels[entry]), record.idle_since, agent_id)
        return (float(record.round_robin_stamps[entry]), 0.0, agent_id)

    def _unindex(self, record):
        for entry, skill in enumerate(record.skills):
            key = record.keys[entry]
            if key is None:
                continue
            skill_record = self._skills[skill]
            widened = 1 if record.levels[entry] > skill_record.widen_level else 0
            for channel in range(CHANNEL_COUNT):
                if record.channels_mask >> channel & 1:
                    skill_record.ready_agents[channel][widened].remove(key)
            record.keys[entry] = None

    def _index(self, record, agent_id):
        if not record.channels_mask:
            return
        for entry, skill in enumerate(record.skills):
            skill_record = self._skills[skill]
            key = self._selection_key(record, agent_id, entry, agent_id)
            record.keys[entry] = key
            widened = 1 if record.levels[entry] > skill_record.widen_level else 0
            for channel in range(CHANNEL_COUNT):
                if record.channels_mask >> channel & 1:
                    skill_record.ready_agents[channel][widened].add(key)

    def set_agent_availability(self, agent, channels_mask, idle_since=0.0, occupancy=0.0):
        """Which channels the agent can take now (0 = none) and its selection figures."""
        record = self._agent(agent)
        if not 0 <= channels_mask < (1 << CHANNEL_COUNT):
            raise ValueError(f"channels_mask must be 0..{(1 << CHANNEL_COUNT) - 1}, got {channels_mask!r}")
        idle_since = _check_finite("idle_since", idle_since)
        occupancy = _check_finite("occupancy", occupancy)
        self._unindex(record)
        record.channels_mask = channels_mask
        record.idle_since = idle_since
        record.occupancy = occupancy
        self._index(record, agent)

    def note_assignment(self, agent, skill):
        """Round-robin bookkeeping: the agent just got a contact of this skill."""
        record = self._agent(agent)
        skill_record = self._skill(skill)
        entry = record.skills.index(skill) if skill in record.skills else -1
        if entry < 0:
            raise KeyError(f"agent {agent} has no skill {skill}")
        self._unindex(record)
        skill_record.round_robin_clock += 1
        record.round_robin_stamps[entry] = skill_record.round_robin_clock
        self._index(record, agent)

    def agent_channels(self, agent):
        return self._agent(agent).channels_mask

    def best_agent(self, skill, channel, widened=False):
        """The available agent a new contact of this skill/channel goes to, or -1."""
        record = self._skill(skill)
        _check_channel_priority(channel, 0)
        ready = record.ready_agents[channel][1 if widened else 0]
        return ready[0][2] if ready else NO_AGENT

    def available_count(self, skill, channel, widened=False):
        record = self._skill(skill)
        _check_channel_priority(channel, 0)
        return len(record.ready_agents[channel][1 if widened else 0])

    def best_contact(self, agent, now):
        """The queued contact this available agent should take next, or -1 (a peek)."""
        record = self._agent(agent)
        now = _check_finite("now", now)
        mask = record.channels_mask
        if not mask:
            return NO_CONTACT
        skill_level_first = record.call_selection == CALL_SELECT_SKILL_LEVEL
        best = NO_CONTACT
        best_key = None
        for entry, skill in enumerate(record.skills):
            skill_record = self._skills[skill]
            level = record.levels[entry]
            min_wait = skill_record.widen_after_s if level > skill_record.widen_level else -1.0
            for channel in range(CHANNEL_COUNT):
                if not mask >> channel & 1:
                    continue
                by_priority = skill_record.queues[channel]
                for priority in range(PRIORITY_COUNT):
                    classes = by_priority[priority]
                    if not classes:
                        continue
                    handle, need = self._head_of(skill_record, classes, now, min_wait)
                    if handle == NO_CONTACT:
                        continue
                    key = (level if skill_level_first else 0, priority, -need,
                           self._seq_of[handle])
                    if best_key is None or key < best_key:
                        best, best_key = handle, key
                    break
        return best

    def take_best_contact(self, agent, now):
        """best_contact, detached from its queue (the caller offers it)."""
        handle = self.best_contact(agent, now)
        if handle != NO_CONTACT:
            self.detach(handle)
        return handle

    def contact_info(self, handle):
        """(skill, channel, priority, service_objective_s, arrival_time, seq) of a live handle."""
        self._state(handle)
        return (self._skill_of[handle], self._channel_of[handle], self._priority_of[handle],
                self._so_of[handle], self._arrival_of[handle], self._seq_of[handle])

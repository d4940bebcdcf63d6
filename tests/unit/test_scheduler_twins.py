"""The compiled scheduler and its pure-Python twin, driven side by side by hypothesis.

A state machine applies the same random operations to both backends (skills with random
queueing / agent selection / widening, agents with random skills, levels and call
selection, enqueue, remove, detach, requeue, take, availability, round-robin notes, bad
arguments, time that only moves forward) and after every step checks that every query
answer is identical on both AND equal to an independent brute-force reference computed
from a plain dict of live contacts with the documented keys (native/pyscheduler.py):
strict priority, largest wait/SO within a priority (DQP) or oldest (FIFO), FIFO within
an SO class, (priority, -need, seq) / (level, priority, -need, seq) across an agent's
skills, widening thresholds, channel masks, the agent-selection keys, LIFO handle reuse.

The twins machine needs the compiled module: it fails if that is missing, unless
VCC_PURE_PYTHON=1 (then it is skipped). A shorter run checks the twin alone against the
reference in both modes.
"""

import math

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from native.constants import (
    CALL_SELECT_SKILL_LEVEL,
    CHANNEL_COUNT,
    MAX_SO_CLASSES,
    NO_AGENT,
    NO_CONTACT,
    PRIORITY_COUNT,
    QUEUEING_FIFO,
    SELECT_BEST_SKILL,
    SELECT_LEAST_OCCUPIED,
    SELECT_LONGEST_IDLE,
)
from native.pyscheduler import Scheduler as PureScheduler

CHANNELS = (0, 1, 2, 5)
SERVICE_OBJECTIVES = (10.0, 20.0, 60.0)
MASKS = (0, 0b1, 0b10, 0b11, 0b101, 0b100001, 0b111111)
MAX_AGENTS = 6
MAX_LIVE = 40

skill_configs = st.tuples(
    st.sampled_from([0, 1]),                                 # queueing: dqp, fifo
    st.sampled_from([0, 1, 2, 3]),                           # agent selection
    st.sampled_from([(16, 0.0), (2, 0.0), (2, 15.0), (3, 30.0)]),   # widen level, after
)


class Contact:
    __slots__ = ("skill", "channel", "priority", "so", "arrival", "seq", "queued")

    def __init__(self, skill, channel, priority, so, arrival, seq):
        self.skill, self.channel, self.priority = skill, channel, priority
        self.so, self.arrival, self.seq, self.queued = so, arrival, seq, True

    def info(self):
        return (self.skill, self.channel, self.priority, self.so, self.arrival, self.seq)


class Agent:
    __slots__ = ("levels", "call_selection", "mask", "idle_since", "occupancy", "stamps")

    def __init__(self, levels, call_selection):
        self.levels = levels                                  # {skill: level}, in order
        self.call_selection = call_selection
        self.mask, self.idle_since, self.occupancy = 0, 0.0, 0.0
        self.stamps = dict.fromkeys(levels, 0)


class SchedulerMachine(RuleBasedStateMachine):
    backend_classes = ()

    def __init__(self):
        super().__init__()
        self.backends = [cls() for cls in self.backend_classes]
        self.now = 0.0
        self.skills = []              # (queueing, selection, widen_level, widen_after_s)
        self.so_classes = []          # per skill, DQP only; never shrinks
        self.clocks = []              # round-robin clock per skill
        self.agents = []
        self.contacts = {}            # live handle -> Contact
        self.free = []                # freed handles, reused last-freed-first
        self.next_handle = 0
        self.next_seq = 0

    # ---- helpers --------------------------------------------------------------------------
    def both(self, method, *args):
        """Call every backend; all must return the same value or raise the same type."""
        outcomes = []
        for backend in self.backends:
            try:
                outcomes.append(("ok", getattr(backend, method)(*args)))
            except (KeyError, ValueError) as error:
                outcomes.append(("raised", type(error)))
        assert all(o == outcomes[0] for o in outcomes), (method, args, outcomes)
        return outcomes[0]

    def ok(self, method, *args):
        kind, value = self.both(method, *args)
        assert kind == "ok", (method, args, value)
        return value

    def raises(self, error, method, *args):
        assert self.both(method, *args) == ("raised", error), (method, args)

    def add_skill_ref(self, config):
        queueing, selection, (widen_level, widen_after) = config
        assert self.ok("add_skill", queueing, selection, widen_level, widen_after) == len(self.skills)
        self.skills.append((queueing, selection, widen_level, widen_after))
        self.so_classes.append([])
        self.clocks.append(0)

    def add_agent_ref(self, levels, call_selection):
        agent = self.ok("add_agent", list(levels.items()), call_selection)
        assert agent == len(self.agents)
        self.agents.append(Agent(levels, call_selection))

    def agent_levels(self, data):
        chosen = data.draw(st.lists(st.sampled_from(range(len(self.skills))), min_size=1,
                                    max_size=len(self.skills), unique=True))
        return {skill: data.draw(st.sampled_from([1, 2, 3, 5])) for skill in chosen}

    def min_wait(self, agent, skill):
        _, _, widen_level, widen_after = self.skills[skill]
        return widen_after if agent.levels[skill] > widen_level else -1.0

    def need(self, contact):
        return (self.now - contact.arrival) / contact.so

    # ---- the reference -----------------------------------------------------------------
    def ref_head(self, skill, channel, priority):
        queue = [(h, c) for h, c in self.contacts.items() if c.queued and c.skill == skill
                 and c.channel == channel and c.priority == priority]
        if not queue:
            return NO_CONTACT
        if self.skills[skill][0] == QUEUEING_FIFO:
            return min(queue, key=lambda hc: hc[1].seq)[0]
        return min(queue, key=lambda hc: (-self.need(hc[1]), hc[1].seq))[0]

    def eligible(self, agent):
        """Queued contacts this agent may take now (skill, channel mask, widening)."""
        return {h: c for h, c in self.contacts.items()
                if c.queued and c.skill in agent.levels and agent.mask >> c.channel & 1
                and self.now - c.arrival >= self.min_wait(agent, c.skill)}

    def ref_best_contact(self, agent):
        eligible = self.eligible(agent)
        best, best_key = NO_CONTACT, None
        for skill, level in agent.levels.items():
            fifo = self.skills[skill][0] == QUEUEING_FIFO
            for channel in range(CHANNEL_COUNT):
                queue = [(h, c) for h, c in eligible.items()
                         if c.skill == skill and c.channel == channel]
                if not queue:
                    continue
                top = min(c.priority for _, c in queue)
                queue = [(h, c) for h, c in queue if c.priority == top]
                handle, contact = min(queue, key=(lambda hc: hc[1].seq) if fifo else
                                      (lambda hc: (-self.need(hc[1]), hc[1].seq)))
                key = (level if agent.call_selection == CALL_SELECT_SKILL_LEVEL else 0,
                       top, -self.need(contact), contact.seq)
                if best_key is None or key < best_key:
                    best, best_key = handle, key
        return best

    def ref_best_agent(self, skill, channel, widened):
        _, selection, widen_level, _ = self.skills[skill]
        keys = []
        for number, agent in enumerate(self.agents):
            level = agent.levels.get(skill)
            if level is None or not agent.mask >> channel & 1:
                continue
            if (level > widen_level) != widened:
                continue
            if selection == SELECT_LONGEST_IDLE:
                keys.append((agent.idle_since, 0.0, number))
            elif selection == SELECT_LEAST_OCCUPIED:
                keys.append((agent.occupancy, agent.idle_since, number))
            elif selection == SELECT_BEST_SKILL:
                keys.append((level, agent.idle_since, number))
            else:
                keys.append((agent.stamps[skill], 0.0, number))
        return (min(keys)[2] if keys else NO_AGENT), len(keys)

    # ---- setup --------------------------------------------------------------------------
    @initialize(configs=st.lists(skill_configs, min_size=1, max_size=3), data=st.data())
    def setup(self, configs, data):
        for config in configs:
            self.add_skill_ref(config)
        for _ in range(data.draw(st.integers(1, 4))):
            self.add_agent_ref(self.agent_levels(data), data.draw(st.sampled_from([0, 1])))

    # ---- rules --------------------------------------------------------------------------
    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0]))
    def advance(self, dt):
        self.now += dt

    @precondition(lambda self: len(self.agents) < MAX_AGENTS)
    @rule(data=st.data())
    def add_agent(self, data):
        self.add_agent_ref(self.agent_levels(data), data.draw(st.sampled_from([0, 1])))

    def enqueue_ref(self, skill, channel, priority, so):
        queueing = self.skills[skill][0]
        classes = self.so_classes[skill]
        if queueing != QUEUEING_FIFO and so not in classes:
            if len(classes) >= MAX_SO_CLASSES:
                self.raises(ValueError, "enqueue", skill, channel, priority, so, self.now)
                return
            classes.append(so)
        handle = self.ok("enqueue", skill, channel, priority, so, self.now)
        expected = self.free.pop() if self.free else self.next_handle
        assert handle == expected
        self.next_handle = max(self.next_handle, handle + 1)
        self.contacts[handle] = Contact(skill, channel, priority, so, self.now, self.next_seq)
        self.next_seq += 1

    @precondition(lambda self: len(self.contacts) < MAX_LIVE)
    @rule(data=st.data(), channel=st.sampled_from(CHANNELS),
          priority=st.integers(0, PRIORITY_COUNT - 1), so=st.sampled_from(SERVICE_OBJECTIVES))
    def enqueue(self, data, channel, priority, so):
        self.enqueue_ref(data.draw(st.sampled_from(range(len(self.skills)))), channel,
                         priority, so)

    @precondition(lambda self: len(self.contacts) < MAX_LIVE)
    @rule(data=st.data(), so=st.integers(1, 20))
    def enqueue_many_classes(self, data, so):
        """Odd service objectives, so that a skill can run out of its 16 classes."""
        self.enqueue_ref(data.draw(st.sampled_from(range(len(self.skills)))), 0, 1, float(so))

    @rule(data=st.data(), bad=st.sampled_from([
        ("channel", CHANNEL_COUNT), ("channel", -1), ("priority", PRIORITY_COUNT),
        ("so", 0.0), ("so", -10.0), ("so", math.nan), ("arrival", math.inf), ("skill", 3)]))
    def enqueue_bad(self, data, bad):
        args = {"skill": data.draw(st.sampled_from(range(len(self.skills)))), "channel": 0,
                "priority": 0, "so": 20.0, "arrival": self.now}
        args[bad[0]] = bad[1]
        if bad[0] == "skill":
            args["skill"] = len(self.skills)
        error = KeyError if bad[0] == "skill" else ValueError
        self.raises(error, "enqueue", *args.values())

    def pick(self, data, queued):
        handles = sorted(h for h, c in self.contacts.items() if queued is None
                         or c.queued == queued)
        return data.draw(st.sampled_from(handles)) if handles else None

    @rule(data=st.data())
    def remove(self, data):
        handle = self.pick(data, None)
        if handle is not None:
            self.ok("remove", handle)
            del self.contacts[handle]
            self.free.append(handle)

    @rule(data=st.data())
    def detach(self, data):
        handle = self.pick(data, True)
        if handle is not None:
            self.ok("detach", handle)
            self.contacts[handle].queued = False

    @rule(data=st.data())
    def requeue(self, data):
        handle = self.pick(data, False)
        if handle is not None:
            self.ok("requeue", handle)
            self.contacts[handle].queued = True

    @rule(data=st.data(), priority=st.integers(0, 3))
    def set_priority(self, data, priority):
        """A plan's `priority` step: queued or offered, the contact keeps its sequence."""
        handle = self.pick(data, None)
        if handle is not None:
            self.ok("set_priority", handle, priority)
            self.contacts[handle].priority = priority

    @rule(op=st.sampled_from(["remove", "detach", "requeue"]), data=st.data())
    def handle_op_any(self, op, data):
        """Any handle number, live or not: the reference says whether it must work."""
        handle = data.draw(st.integers(-2, self.next_handle + 1))
        contact = self.contacts.get(handle)
        valid = contact is not None and (op == "remove" or contact.queued == (op == "detach"))
        if not valid:
            self.raises(KeyError, op, handle)
        elif op == "remove":
            self.ok(op, handle)
            del self.contacts[handle]
            self.free.append(handle)
        else:
            self.ok(op, handle)
            contact.queued = op == "requeue"

    @rule(data=st.data(), mask=st.sampled_from(MASKS),
          idle=st.sampled_from([0.0, 5.0, 10.0, None]), occupancy=st.sampled_from([0.0, 0.25, 0.5]))
    def set_availability(self, data, mask, idle, occupancy):
        number = data.draw(st.sampled_from(range(len(self.agents))))
        idle = self.now if idle is None else idle
        self.ok("set_agent_availability", number, mask, idle, occupancy)
        agent = self.agents[number]
        agent.mask, agent.idle_since, agent.occupancy = mask, idle, occupancy

    @rule(data=st.data())
    def note_assignment(self, data):
        number = data.draw(st.sampled_from(range(len(self.agents))))
        skill = data.draw(st.sampled_from(range(len(self.skills))))
        agent = self.agents[number]
        if skill not in agent.levels:
            self.raises(KeyError, "note_assignment", number, skill)
            return
        self.ok("note_assignment", number, skill)
        self.clocks[skill] += 1
        agent.stamps[skill] = self.clocks[skill]

    @rule(data=st.data(), note=st.booleans())
    def take_best_contact(self, data, note):
        number = data.draw(st.sampled_from(range(len(self.agents))))
        handle = self.ok("take_best_contact", number, self.now)
        assert handle == self.ref_best_contact(self.agents[number])
        if handle != NO_CONTACT:
            contact = self.contacts[handle]
            contact.queued = False
            if note:
                self.ok("note_assignment", number, contact.skill)
                self.clocks[contact.skill] += 1
                self.agents[number].stamps[contact.skill] = self.clocks[contact.skill]

    @rule(data=st.data(), bad=st.sampled_from(["mask", "idle", "occupancy", "agent"]))
    def set_availability_bad(self, data, bad):
        number = data.draw(st.sampled_from(range(len(self.agents))))
        args = [number, 1, 0.0, 0.0]
        if bad == "mask":
            args[1] = 1 << CHANNEL_COUNT
        elif bad == "idle":
            args[2] = math.nan
        elif bad == "occupancy":
            args[3] = -math.inf
        else:
            args[0] = len(self.agents)
        self.raises(KeyError if bad == "agent" else ValueError, "set_agent_availability", *args)

    @rule(data=st.data(), now=st.sampled_from([math.nan, math.inf, -math.inf]))
    def query_bad_now(self, data, now):
        """`now` must be finite like arrival_time (a NaN once split the twins' decisions)."""
        number = data.draw(st.sampled_from(range(len(self.agents))))
        self.raises(ValueError, "best_contact", number, now)
        self.raises(ValueError, "take_best_contact", number, now)
        self.raises(ValueError, "head", 0, 0, 0, now)

    # ---- invariants --------------------------------------------------------------------
    @invariant()
    def answers_agree_with_each_other_and_the_reference(self):
        now = self.now
        assert self.ok("skill_count") == len(self.skills)
        assert self.ok("agent_count") == len(self.agents)
        assert self.ok("contact_count") == len(self.contacts)
        for skill in range(len(self.skills)):
            queued = [c for c in self.contacts.values() if c.queued and c.skill == skill]
            assert [self.ok("queued_count", skill, p) for p in range(PRIORITY_COUNT)] == [
                sum(c.priority == p for c in queued) for p in range(PRIORITY_COUNT)]
            assert self.ok("queued_total", skill) == len(queued)
            assert self.ok("oldest_arrival", skill) == min(
                (c.arrival for c in queued), default=None)
            for channel in range(CHANNEL_COUNT):
                for priority in range(PRIORITY_COUNT):
                    assert self.ok("head", skill, channel, priority, now) == self.ref_head(
                        skill, channel, priority), (skill, channel, priority)
                for widened in (False, True):
                    best, count = self.ref_best_agent(skill, channel, widened)
                    assert self.ok("best_agent", skill, channel, widened) == best
                    assert self.ok("available_count", skill, channel, widened) == count
        for number, agent in enumerate(self.agents):
            assert self.ok("agent_channels", number) == agent.mask
            assert self.ok("best_contact", number, now) == self.ref_best_contact(agent), number
        for handle in range(-1, self.next_handle + 1):
            contact = self.contacts.get(handle)
            assert self.ok("is_queued", handle) == (contact is not None and contact.queued)
            if contact is None:
                self.raises(KeyError, "contact_info", handle)
            else:
                assert self.ok("contact_info", handle) == contact.info()

    @invariant()
    def ordering_rules_hold(self):
        """The documented rules, stated directly on what each agent would take next."""
        for number, agent in enumerate(self.agents):
            chosen = self.ok("best_contact", number, self.now)
            eligible = self.eligible(agent)
            if chosen == NO_CONTACT:
                assert not eligible, number      # never idle while it may take work
                continue
            c = eligible[chosen]                 # also: right skill, channel and widening
            rank = (agent.levels[c.skill] if agent.call_selection == CALL_SELECT_SKILL_LEVEL
                    else 0)
            peers = [e for e in eligible.values() if (
                agent.levels[e.skill] if agent.call_selection == CALL_SELECT_SKILL_LEVEL
                else 0) == rank]
            if agent.call_selection == CALL_SELECT_SKILL_LEVEL:
                assert rank == min(agent.levels[e.skill] for e in eligible.values())
            # Strict priority: nothing of a better priority it may take waits.
            assert c.priority == min(e.priority for e in peers)
            fifo = self.skills[c.skill][0] == QUEUEING_FIFO
            for e in peers:
                same_queue = (e.skill, e.channel, e.priority) == (c.skill, c.channel, c.priority)
                # FIFO within an SO class (and within a FIFO skill's whole queue).
                if same_queue and (fifo or e.so == c.so):
                    assert c.seq <= e.seq
                # Never lower-need work of the same priority while a higher-need contact it
                # can serve waits (a FIFO queue is served from its head only).
                if e.priority != c.priority:
                    continue
                if self.skills[e.skill][0] == QUEUEING_FIFO and any(
                        o.seq < e.seq and (o.skill, o.channel, o.priority)
                        == (e.skill, e.channel, e.priority) for o in peers):
                    continue
                assert self.need(e) <= self.need(c)
                if self.need(e) == self.need(c):
                    assert c.seq <= e.seq      # ties go to the earlier arrival


SETTINGS = settings(max_examples=150, stateful_step_count=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])


def test_twins_agree_with_each_other_and_the_reference(native_scheduler_class):
    class Twins(SchedulerMachine):
        backend_classes = (native_scheduler_class, PureScheduler)

    run_state_machine_as_test(Twins, settings=SETTINGS)


def test_pure_twin_follows_the_reference():
    """Runs in both modes, so a VCC_PURE_PYTHON=1 run still proves the ordering rules."""
    class PureOnly(SchedulerMachine):
        backend_classes = (PureScheduler,)

    run_state_machine_as_test(PureOnly, settings=settings(SETTINGS, max_examples=40))


def test_twins_agree_through_long_runs_of_removals(native_scheduler_class):
    """Runs of removals longer than the compiled scheduler's unlink lag, amid everything else.

    The compiled `remove` unlinks a contact some removals later (see _lag_unlink in
    native/_scheduler.pyx); every other method must see the queues as if it had not. The
    state machine above rarely removes more than a few contacts in a row, so this drives
    both backends through a seeded sequence with runs of up to 40 removals (heads, tails,
    neighbours of detached contacts) between detach, requeue, take, enqueue (reusing the
    freshly freed handles) and every query, comparing each answer.
    """
    import random

    rng = random.Random(20_240_601)
    backends = (native_scheduler_class(), PureScheduler())

    def both(name, *args):
        answers = []
        for backend in backends:
            try:
                answers.append(("ok", getattr(backend, name)(*args)))
            except (KeyError, ValueError) as error:
                answers.append((type(error).__name__, None))
        assert answers[0] == answers[1], (name, args, answers)
        return answers[0][1]

    skills = [both("add_skill", queueing, 0) for queueing in (0, 1, 0)]
    agents = [both("add_agent", [(skill, 1 + i)], i % 2) for i, skill in enumerate(skills)]
    agents.append(both("add_agent", [(skills[0], 2), (skills[2], 1)]))
    now, queued, detached = 0.0, [], []

    def check_everything():
        # In random order: whichever query comes first meets the lagging removals.
        queries = [("contact_count",)] + [("best_contact", agent, now) for agent in agents]
        for skill in skills:
            queries += [("queued_total", skill), ("oldest_arrival", skill)]
            for priority in range(PRIORITY_COUNT):
                queries.append(("queued_count", skill, priority))
                queries += [("head", skill, channel, priority, now) for channel in (0, 1)]
        rng.shuffle(queries)
        for query in queries:
            both(*query)

    for step in range(1500):
        now += rng.random()
        roll = rng.random()
        if roll < 0.45 or not queued:
            for _ in range(rng.randint(1, 12)):
                queued.append(both("enqueue", rng.choice(skills), rng.choice((0, 1)),
                                   rng.randrange(PRIORITY_COUNT), rng.choice((10.0, 20.0, 60.0)),
                                   now - 30 * rng.random()))
        elif roll < 0.7:
            for _ in range(min(len(queued), rng.randint(1, 40))):
                # `queued` is in enqueue order: its first few are mostly class heads.
                index = rng.randrange(min(len(queued), 4) if rng.random() < 0.5 else len(queued))
                handle = queued.pop(index)
                both("remove", handle)
                both("is_queued", handle)
                both("contact_info", handle)
            both("remove", handle)                       # twice: KeyError on both
            if rng.random() < 0.5:                       # else the next step comes first
                check_everything()
        elif roll < 0.8:
            handle = queued.pop(rng.randrange(len(queued)))
            both("detach", handle)
            detached.append(handle)
        elif roll < 0.88 and detached:
            handle = detached.pop(rng.randrange(len(detached)))
            if rng.random() < 0.7:
                both("requeue", handle)
                queued.append(handle)
            else:
                both("remove", handle)
        elif roll < 0.95:
            agent = rng.choice(agents)
            both("set_agent_availability", agent, rng.choice((1, 2, 3)), now, rng.random())
            handle = both("take_best_contact", agent, now)
            if handle != NO_CONTACT:
                queued.remove(handle)
                detached.append(handle)
        else:
            check_everything()
        if step % 25 == 0:
            check_everything()
    check_everything()

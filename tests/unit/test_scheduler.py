"""Example-based tests of the DQP scheduler, each run on both backends (`scheduler_class`).

Every expected value is worked by hand from the rules in native/pyscheduler.py's docstring.
"""

import math
import os
import re
from pathlib import Path

import pytest

import native
from native import constants as C
from native.constants import (
    CALL_SELECT_GREATEST_NEED,
    CALL_SELECT_SKILL_LEVEL,
    CHANNEL_CHAT,
    CHANNEL_COUNT,
    CHANNEL_EMAIL,
    CHANNEL_VOICE,
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

VOICE = 1 << CHANNEL_VOICE
CHAT = 1 << CHANNEL_CHAT
PYX = Path(native.__file__).with_name("_scheduler.pyx")


def test_backend_is_the_expected_one():
    expected = os.environ.get("VCC_EXPECT_BACKEND")
    if expected is None:
        # Unset: the backend must still be the one the environment asks for.
        pure = os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0")
        expected = "python" if pure else "native"
    assert expected in ("native", "python"), f"VCC_EXPECT_BACKEND={expected!r}"
    assert native.BACKEND == expected
    assert native.Scheduler.__module__ == ("native._scheduler" if expected == "native"
                                           else "native.pyscheduler")


def drain(s, skill, channel, priority, now):
    """Order in which a queue is served: repeatedly detach its head; restores nothing."""
    order = []
    while (handle := s.head(skill, channel, priority, now)) != NO_CONTACT:
        s.detach(handle)
        order.append(handle)
    return order


def available(s, agent, mask=VOICE, idle_since=0.0, occupancy=0.0):
    s.set_agent_availability(agent, mask, idle_since, occupancy)
    return agent


# ---- queue order -------------------------------------------------------------------------
def test_strict_priority_beats_any_need(scheduler_class):
    s = scheduler_class()
    skill = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    low = s.enqueue(skill, CHANNEL_VOICE, 3, 5.0, 0.0)         # need 100/5 = 20 at t=100
    medium = s.enqueue(skill, CHANNEL_VOICE, 2, 10.0, 0.0)     # need 10
    high = s.enqueue(skill, CHANNEL_VOICE, 1, 600.0, 99.0)     # need 1/600
    agent = available(s, s.add_agent([(skill, 1)]))
    assert s.best_contact(agent, 100.0) == high
    top = s.enqueue(skill, CHANNEL_VOICE, 0, 600.0, 100.0)     # need 0
    assert s.best_contact(agent, 100.0) == top
    assert [s.head(skill, CHANNEL_VOICE, p, 100.0) for p in range(4)] == [top, high, medium, low]
    assert [s.queued_count(skill, p) for p in range(4)] == [1, 1, 1, 1]
    assert [s.take_best_contact(agent, 100.0) for _ in range(5)] == [top, high, medium, low,
                                                                    NO_CONTACT]


def test_dqp_two_so_classes(scheduler_class):
    s = scheduler_class()
    skill = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    slow = s.enqueue(skill, CHANNEL_VOICE, 1, 60.0, 0.0)
    fast = s.enqueue(skill, CHANNEL_VOICE, 1, 20.0, 15.0)
    # t=30: slow waited 30 s of 60 (need 0.5), fast 15 s of 20 (need 0.75).
    assert s.head(skill, CHANNEL_VOICE, 1, 30.0) == fast
    agent = available(s, s.add_agent([(skill, 1)]))
    assert s.best_contact(agent, 30.0) == fast
    # t=20: 20/60 = 0.333 vs 5/20 = 0.25 -> slow.
    assert s.head(skill, CHANNEL_VOICE, 1, 20.0) == slow
    # An exact tie: at t=30 a SO-20 contact that arrived at 20 has need 10/20 = 0.5 = 30/60.
    s.remove(fast)
    tied = s.enqueue(skill, CHANNEL_VOICE, 1, 20.0, 20.0)
    assert s.head(skill, CHANNEL_VOICE, 1, 30.0) == slow        # tie -> earlier arrival
    assert s.head(skill, CHANNEL_VOICE, 1, 31.0) == tied        # 31/60 < 11/20
    assert drain(s, skill, CHANNEL_VOICE, 1, 30.0) == [slow, tied]


def test_same_so_stays_fifo(scheduler_class):
    s = scheduler_class()
    skill = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    first = s.enqueue(skill, CHANNEL_VOICE, 2, 20.0, 0.0)
    second = s.enqueue(skill, CHANNEL_VOICE, 2, 20.0, 0.0)     # same arrival: seq decides
    third = s.enqueue(skill, CHANNEL_VOICE, 2, 20.0, 5.0)
    other = s.enqueue(skill, CHANNEL_VOICE, 2, 60.0, 0.0)      # 10/60 < 10/20 throughout
    assert drain(s, skill, CHANNEL_VOICE, 2, 10.0) == [first, second, third, other]


def test_fifo_skill_ignores_service_objective(scheduler_class):
    s = scheduler_class()
    fifo = s.add_skill(QUEUEING_FIFO, SELECT_LONGEST_IDLE)
    dqp = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    handles = {}
    for skill in (fifo, dqp):
        handles[skill] = (s.enqueue(skill, CHANNEL_VOICE, 1, 60.0, 0.0),   # need 0.5 at 30
                          s.enqueue(skill, CHANNEL_VOICE, 1, 5.0, 10.0))   # need 4
    assert s.head(fifo, CHANNEL_VOICE, 1, 30.0) == handles[fifo][0]
    assert s.head(dqp, CHANNEL_VOICE, 1, 30.0) == handles[dqp][1]
    assert drain(s, fifo, CHANNEL_VOICE, 1, 30.0) == list(handles[fifo])


def test_remove_middle_contact(scheduler_class):
    s = scheduler_class()
    skill = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    a, b, c = (s.enqueue(skill, CHANNEL_VOICE, 1, 20.0, t) for t in (0.0, 1.0, 2.0))
    s.remove(b)
    assert not s.is_queued(b)
    assert (s.contact_count(), s.queued_count(skill, 1), s.queued_total(skill)) == (2, 2, 2)
    assert s.head(skill, CHANNEL_VOICE, 1, 5.0) == a
    s.remove(a)
    assert s.head(skill, CHANNEL_VOICE, 1, 5.0) == c
    assert s.oldest_arrival(skill) == 2.0
    s.remove(c)
    assert s.head(skill, CHANNEL_VOICE, 1, 5.0) == NO_CONTACT
    assert s.oldest_arrival(skill) is None
    assert (s.contact_count(), s.queued_total(skill)) == (0, 0)


@pytest.mark.parametrize("detach_order, requeue_order", [
    ("a", "a"), ("b", "b"), ("c", "c"), ("ab", "ab"), ("ab", "ba"), ("ac", "ca"),
    ("bc", "cb"), ("abc", "bca"), ("cab", "acb"),
])
def test_detach_requeue_restores_position(scheduler_class, detach_order, requeue_order):
    s = scheduler_class()
    skill = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    handles = dict(zip("abc", (s.enqueue(skill, CHANNEL_VOICE, 1, 20.0, t)
                               for t in (0.0, 1.0, 2.0))))
    for name in detach_order:
        s.detach(handles[name])
        assert not s.is_queued(handles[name])
    assert s.queued_count(skill, 1) == 3 - len(detach_order)
    assert s.contact_count() == 3
    remaining = [handles[n] for n in "abc" if n not in detach_order]
    assert s.head(skill, CHANNEL_VOICE, 1, 5.0) == (remaining[0] if remaining else NO_CONTACT)
    for name in requeue_order:
        s.requeue(handles[name])
    assert s.queued_count(skill, 1) == 3
    assert s.oldest_arrival(skill) == 0.0
    assert drain(s, skill, CHANNEL_VOICE, 1, 5.0) == [handles[n] for n in "abc"]


def test_requeue_behind_later_arrivals_of_other_classes(scheduler_class):
    s = scheduler_class()
    skill = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    agent = available(s, s.add_agent([(skill, 1)]))
    first = s.enqueue(skill, CHANNEL_VOICE, 1, 20.0, 0.0)
    assert s.take_best_contact(agent, 1.0) == first
    later = s.enqueue(skill, CHANNEL_VOICE, 1, 20.0, 2.0)       # arrives while offered
    s.requeue(first)                                          # offer withdrawn: not the tail
    assert s.best_contact(agent, 3.0) == first
    assert drain(s, skill, CHANNEL_VOICE, 1, 3.0) == [first, later]


def test_handles_are_reused_last_freed_first(scheduler_class):
    s = scheduler_class()
    skill = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    assert [s.enqueue(skill, CHANNEL_VOICE, 1, 20.0, 0.0) for _ in range(4)] == [0, 1, 2, 3]
    s.remove(1)
    s.detach(2)
    s.remove(2)                                               # a detached contact is freed too
    assert s.contact_count() == 2
    assert s.enqueue(skill, CHANNEL_CHAT, 0, 60.0, 7.0) == 2
    assert s.enqueue(skill, CHANNEL_VOICE, 1, 20.0, 8.0) == 1
    assert s.enqueue(skill, CHANNEL_VOICE, 1, 20.0, 9.0) == 4
    # A reused handle carries the new contact only; seq keeps counting.
    assert s.contact_info(2) == (skill, CHANNEL_CHAT, 0, 60.0, 7.0, 4)
    assert s.contact_info(1) == (skill, CHANNEL_VOICE, 1, 20.0, 8.0, 5)
    assert drain(s, skill, CHANNEL_VOICE, 1, 10.0) == [0, 3, 1, 4]


def test_many_contacts(scheduler_class):
    """Past 131,072 contacts the compiled scheduler's arrays move to huge-page mappings."""
    s = scheduler_class()
    skill = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    count = 150_000
    for i in range(count):
        assert s.enqueue(skill, CHANNEL_VOICE, i % 2, 20.0, float(i)) == i
    for handle in range(0, count, 3):                         # a third, in runs of removals
        s.remove(handle)
    assert s.queued_total(skill) == s.contact_count() == count - count // 3
    assert [s.head(skill, CHANNEL_VOICE, p, 1e6) for p in (0, 1)] == [2, 1]
    assert s.enqueue(skill, CHANNEL_VOICE, 0, 20.0, 1.0) == count - 3   # last freed first
    assert s.contact_info(count - 1) == (skill, CHANNEL_VOICE, 1, 20.0, count - 1.0, count - 1)
    served = []
    for _ in range(3):
        served.append(s.head(skill, CHANNEL_VOICE, 1, 1e6))
        s.detach(served[-1])
    assert served == [1, 5, 7]


# ---- agent selection ---------------------------------------------------------------------
def _three_agents(s, policy, levels=(1, 1, 1)):
    skill = s.add_skill(QUEUEING_DQP, policy)
    return skill, [s.add_agent([(skill, level)]) for level in levels]


def test_longest_idle(scheduler_class):
    s = scheduler_class()
    skill, (a, b, c) = _three_agents(s, SELECT_LONGEST_IDLE)
    available(s, a, idle_since=50.0, occupancy=0.0)
    available(s, b, idle_since=10.0, occupancy=0.9)
    available(s, c, idle_since=30.0)
    assert s.best_agent(skill, CHANNEL_VOICE) == b
    available(s, b, mask=0)
    assert s.best_agent(skill, CHANNEL_VOICE) == c
    available(s, a, idle_since=30.0)                          # tie -> lower agent number
    assert s.best_agent(skill, CHANNEL_VOICE) == a
    assert s.available_count(skill, CHANNEL_VOICE) == 2


def test_least_occupied(scheduler_class):
    s = scheduler_class()
    skill, (a, b, c) = _three_agents(s, SELECT_LEAST_OCCUPIED)
    available(s, a, idle_since=10.0, occupancy=0.5)
    available(s, b, idle_since=40.0, occupancy=0.2)
    available(s, c, idle_since=30.0, occupancy=0.2)           # tie on occupancy -> idle
    assert s.best_agent(skill, CHANNEL_VOICE) == c
    available(s, c, idle_since=30.0, occupancy=0.6)
    assert s.best_agent(skill, CHANNEL_VOICE) == b


def test_best_skill(scheduler_class):
    s = scheduler_class()
    skill, (a, b, c) = _three_agents(s, SELECT_BEST_SKILL, levels=(3, 1, 1))
    available(s, a, idle_since=0.0)
    available(s, b, idle_since=40.0)
    available(s, c, idle_since=20.0)                          # same level -> longer idle
    assert s.best_agent(skill, CHANNEL_VOICE) == c
    available(s, c, mask=0)
    available(s, b, mask=0)
    assert s.best_agent(skill, CHANNEL_VOICE) == a


def test_round_robin(scheduler_class):
    s = scheduler_class()
    skill, agents = _three_agents(s, SELECT_ROUND_ROBIN)
    other = s.add_skill(QUEUEING_DQP, SELECT_ROUND_ROBIN)
    for agent, idle in zip(agents, (30.0, 20.0, 10.0)):       # idle time does not matter
        available(s, agent, idle_since=idle)
    picks = []
    for _ in range(5):
        agent = s.best_agent(skill, CHANNEL_VOICE)
        picks.append(agent)
        s.note_assignment(agent, skill)
    assert picks == [0, 1, 2, 0, 1]
    # Stamps survive unavailability; another skill's clock is separate.
    available(s, 2, mask=0)
    available(s, 2)
    assert s.best_agent(skill, CHANNEL_VOICE) == 2
    with pytest.raises(KeyError):
        s.note_assignment(0, other)                           # agent 0 lacks that skill


# ---- call selection ----------------------------------------------------------------------
def _two_skill_agent(s, call_selection):
    expert = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    novice = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    agent = available(s, s.add_agent([(expert, 1), (novice, 5)], call_selection))
    return expert, novice, agent


@pytest.mark.parametrize("call_selection", [CALL_SELECT_GREATEST_NEED, CALL_SELECT_SKILL_LEVEL])
def test_call_selection_across_skills(scheduler_class, call_selection):
    s = scheduler_class()
    expert, novice, agent = _two_skill_agent(s, call_selection)
    calm = s.enqueue(expert, CHANNEL_VOICE, 2, 60.0, 0.0)     # need 30/60 = 0.5
    urgent = s.enqueue(novice, CHANNEL_VOICE, 2, 15.0, 0.0)   # need 30/15 = 2
    greatest_need = call_selection == CALL_SELECT_GREATEST_NEED
    assert s.best_contact(agent, 30.0) == (urgent if greatest_need else calm)
    # Priority outranks need across skills; the skill level outranks priority.
    top = s.enqueue(novice, CHANNEL_VOICE, 1, 600.0, 29.0)
    assert s.best_contact(agent, 30.0) == (top if greatest_need else calm)
    s.remove(calm)
    assert s.best_contact(agent, 30.0) == top
    s.remove(top)
    assert s.best_contact(agent, 30.0) == urgent


def test_greatest_need_equal_need_goes_to_earlier_arrival(scheduler_class):
    s = scheduler_class()
    expert, novice, agent = _two_skill_agent(s, CALL_SELECT_GREATEST_NEED)
    early = s.enqueue(expert, CHANNEL_VOICE, 1, 30.0, 0.0)    # 30/30 = 1 at t=30
    late = s.enqueue(novice, CHANNEL_VOICE, 1, 10.0, 20.0)    # 10/10 = 1
    assert s.best_contact(agent, 30.0) == early
    assert s.best_contact(agent, 31.0) == late                # 11/10 > 31/30


# ---- widening and channels ---------------------------------------------------------------
def test_widening(scheduler_class):
    s = scheduler_class()
    skill = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE, 3, 30.0)
    far = available(s, s.add_agent([(skill, 5)]))
    near = s.add_agent([(skill, 3)])
    assert s.best_agent(skill, CHANNEL_VOICE) == NO_AGENT
    assert s.best_agent(skill, CHANNEL_VOICE, True) == far
    handle = s.enqueue(skill, CHANNEL_VOICE, 0, 20.0, 100.0)
    for now in (100.0, 110.0, 129.999):
        assert s.best_contact(far, now) == NO_CONTACT
        assert s.take_best_contact(far, now) == NO_CONTACT
    assert s.best_contact(far, 130.0) == handle
    assert s.queued_count(skill, 0) == 1
    available(s, near, idle_since=5.0)
    assert s.best_agent(skill, CHANNEL_VOICE) == near
    assert s.best_agent(skill, CHANNEL_VOICE, True) == far
    assert s.best_contact(near, 100.0) == handle              # level 3 is not widened
    # A not-yet-eligible top-priority contact does not hide eligible lower-priority work.
    older = s.enqueue(skill, CHANNEL_VOICE, 3, 20.0, 90.0)
    assert s.best_contact(far, 125.0) == older
    assert s.best_contact(far, 130.0) == handle


def test_channel_mask(scheduler_class):
    s = scheduler_class()
    skill = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    chat_only = available(s, s.add_agent([(skill, 1)]), mask=CHAT)
    voice = s.enqueue(skill, CHANNEL_VOICE, 0, 20.0, 0.0)
    assert s.agent_channels(chat_only) == CHAT
    assert s.best_contact(chat_only, 1000.0) == NO_CONTACT
    assert s.best_agent(skill, CHANNEL_VOICE) == NO_AGENT
    assert s.best_agent(skill, CHANNEL_CHAT) == chat_only
    chat = s.enqueue(skill, CHANNEL_CHAT, 3, 60.0, 500.0)
    assert s.take_best_contact(chat_only, 1000.0) == chat
    assert s.take_best_contact(chat_only, 1000.0) == NO_CONTACT
    available(s, chat_only, mask=CHAT | (1 << CHANNEL_EMAIL))
    assert s.best_agent(skill, CHANNEL_EMAIL) == chat_only
    assert s.best_agent(skill, CHANNEL_VOICE) == NO_AGENT
    available(s, chat_only, mask=VOICE | CHAT)
    assert s.best_contact(chat_only, 1000.0) == voice


# ---- bad arguments -----------------------------------------------------------------------
def snapshot(s, now=50.0):
    """Every observable answer of a scheduler (skills/agents/handles it knows about)."""
    state = {"skills": s.skill_count(), "agents": s.agent_count(),
             "contacts": s.contact_count()}
    for skill in range(s.skill_count()):
        state[skill] = ([s.queued_count(skill, p) for p in range(PRIORITY_COUNT)],
                        s.oldest_arrival(skill),
                        [s.head(skill, c, p, now) for c in range(CHANNEL_COUNT)
                         for p in range(PRIORITY_COUNT)],
                        [(s.best_agent(skill, c, w), s.available_count(skill, c, w))
                         for c in range(CHANNEL_COUNT) for w in (False, True)])
    for agent in range(s.agent_count()):
        state["agent", agent] = (s.agent_channels(agent), s.best_contact(agent, now))
    for handle in range(-1, 8):
        try:
            info = s.contact_info(handle)
        except KeyError:
            info = None
        state["handle", handle] = (info, s.is_queued(handle))
    return state


def _populated(scheduler_class):
    s = scheduler_class()
    dqp = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE, 3, 30.0)
    fifo = s.add_skill(QUEUEING_FIFO, SELECT_ROUND_ROBIN)
    available(s, s.add_agent([(dqp, 1), (fifo, 2)]), mask=VOICE | CHAT, idle_since=3.0)
    available(s, s.add_agent([(dqp, 5)], CALL_SELECT_SKILL_LEVEL), idle_since=1.0)
    s.enqueue(dqp, CHANNEL_VOICE, 1, 20.0, 0.0)
    s.enqueue(dqp, CHANNEL_VOICE, 2, 60.0, 1.0)
    s.enqueue(fifo, CHANNEL_CHAT, 0, 20.0, 2.0)
    s.detach(s.enqueue(dqp, CHANNEL_CHAT, 0, 10.0, 3.0))      # handle 3, detached
    return s


NAN, INF = math.nan, math.inf
BAD_CALLS = {
    # unknown skill / agent / handle
    "enqueue unknown skill": (KeyError, "enqueue", 9, CHANNEL_VOICE, 0, 20.0, 1.0),
    "enqueue skill -1": (KeyError, "enqueue", -1, CHANNEL_VOICE, 0, 20.0, 1.0),
    "queued_count unknown skill": (KeyError, "queued_count", 2, 0),
    "oldest_arrival unknown skill": (KeyError, "oldest_arrival", 5),
    "head unknown skill": (KeyError, "head", 2, 0, 0, 1.0),
    "best_agent unknown skill": (KeyError, "best_agent", 2, 0),
    "agent with unknown skill": (KeyError, "add_agent", [(0, 1), (7, 1)]),
    "availability unknown agent": (KeyError, "set_agent_availability", 2, VOICE, 0.0, 0.0),
    "best_contact unknown agent": (KeyError, "best_contact", -1, 1.0),
    "take_best_contact unknown agent": (KeyError, "take_best_contact", 2, 1.0),
    "note_assignment unknown agent": (KeyError, "note_assignment", 2, 0),
    "note_assignment unknown skill": (KeyError, "note_assignment", 0, 2),
    "note_assignment skill not held": (KeyError, "note_assignment", 1, 1),
    "agent_channels unknown agent": (KeyError, "agent_channels", 5),
    "remove unknown handle": (KeyError, "remove", 4),
    "remove handle -1": (KeyError, "remove", -1),
    "detach unknown handle": (KeyError, "detach", 17),
    "detach detached": (KeyError, "detach", 3),
    "requeue queued": (KeyError, "requeue", 0),
    "requeue unknown handle": (KeyError, "requeue", 4),
    "contact_info unknown handle": (KeyError, "contact_info", 4),
    # channel, priority, masks
    "enqueue channel 6": (ValueError, "enqueue", 0, CHANNEL_COUNT, 0, 20.0, 1.0),
    "enqueue channel -1": (ValueError, "enqueue", 0, -1, 0, 20.0, 1.0),
    "enqueue priority 4": (ValueError, "enqueue", 0, CHANNEL_VOICE, PRIORITY_COUNT, 20.0, 1.0),
    "enqueue priority -1": (ValueError, "enqueue", 0, CHANNEL_VOICE, -1, 20.0, 1.0),
    "head channel 6": (ValueError, "head", 0, CHANNEL_COUNT, 0, 1.0),
    "head priority 4": (ValueError, "head", 0, 0, PRIORITY_COUNT, 1.0),
    "queued_count priority 4": (ValueError, "queued_count", 0, PRIORITY_COUNT),
    "best_agent channel 6": (ValueError, "best_agent", 0, CHANNEL_COUNT),
    "available_count channel -1": (ValueError, "available_count", 0, -1),
    "mask 64": (ValueError, "set_agent_availability", 0, 1 << CHANNEL_COUNT, 0.0, 0.0),
    "mask -1": (ValueError, "set_agent_availability", 0, -1, 0.0, 0.0),
    "idle_since NaN": (ValueError, "set_agent_availability", 0, CHAT, NAN, 0.0),
    "occupancy inf": (ValueError, "set_agent_availability", 0, CHAT, 0.0, INF),
    # service objective and times
    "SO zero": (ValueError, "enqueue", 0, CHANNEL_VOICE, 0, 0.0, 1.0),
    "SO negative": (ValueError, "enqueue", 0, CHANNEL_VOICE, 0, -20.0, 1.0),
    "SO NaN": (ValueError, "enqueue", 0, CHANNEL_VOICE, 0, NAN, 1.0),
    "SO inf": (ValueError, "enqueue", 0, CHANNEL_VOICE, 0, INF, 1.0),
    "SO zero on fifo": (ValueError, "enqueue", 1, CHANNEL_VOICE, 0, 0.0, 1.0),
    "arrival NaN": (ValueError, "enqueue", 0, CHANNEL_VOICE, 0, 20.0, NAN),
    "arrival -inf": (ValueError, "enqueue", 0, CHANNEL_VOICE, 0, 20.0, -INF),
    # `now` follows the arrival_time rule (a NaN once made the twin pick a contact while
    # the compiled scheduler picked none)
    "head now NaN": (ValueError, "head", 0, CHANNEL_VOICE, 1, NAN),
    "head now inf": (ValueError, "head", 0, CHANNEL_VOICE, 1, INF),
    "best_contact now NaN": (ValueError, "best_contact", 0, NAN),
    "best_contact now -inf": (ValueError, "best_contact", 1, -INF),
    "take_best_contact now NaN": (ValueError, "take_best_contact", 0, NAN),
    # skills and agents
    "queueing 2": (ValueError, "add_skill", 2, SELECT_LONGEST_IDLE),
    "agent_selection 4": (ValueError, "add_skill", QUEUEING_DQP, 4),
    "widen_level 0": (ValueError, "add_skill", QUEUEING_DQP, 0, 0, 0.0),
    "widen_level 17": (ValueError, "add_skill", QUEUEING_DQP, 0, 17, 0.0),
    "widen_after negative": (ValueError, "add_skill", QUEUEING_DQP, 0, 3, -1.0),
    "widen_after NaN": (ValueError, "add_skill", QUEUEING_DQP, 0, 3, NAN),
    "level 0": (ValueError, "add_agent", [(0, 1), (1, 0)]),
    "level 17": (ValueError, "add_agent", [(0, 17)]),
    "duplicate skill": (ValueError, "add_agent", [(0, 1), (1, 2), (0, 3)]),
    "call_selection 2": (ValueError, "add_agent", [(0, 1)], 2),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_arguments_raise_and_change_nothing(scheduler_class, name):
    error, method, *args = BAD_CALLS[name]
    s = _populated(scheduler_class)
    before = snapshot(s)
    with pytest.raises(error):
        getattr(s, method)(*args)
    assert snapshot(s) == before
    # Nothing was consumed either: the next handle, seq, skill and agent numbers.
    assert s.enqueue(0, CHANNEL_EMAIL, 3, 20.0, 4.0) == 4
    assert s.contact_info(4)[5] == 4
    assert s.add_skill(QUEUEING_FIFO, SELECT_LONGEST_IDLE) == 2
    assert s.add_agent([(2, 1)]) == 2


def test_seventeenth_service_objective_class(scheduler_class):
    s = scheduler_class()
    skill = s.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
    fifo = s.add_skill(QUEUEING_FIFO, SELECT_LONGEST_IDLE)
    for so in range(1, C.MAX_SO_CLASSES + 1):
        assert s.enqueue(skill, CHANNEL_VOICE, 0, float(so), 0.0) == so - 1
    # Known classes remain usable (even after their queue emptied) ...
    s.remove(s.head(skill, CHANNEL_VOICE, 0, 10.0))
    before = snapshot(s, 10.0)
    with pytest.raises(ValueError):
        s.enqueue(skill, CHANNEL_VOICE, 0, 99.0, 1.0)
    with pytest.raises(ValueError):
        s.enqueue(skill, CHANNEL_CHAT, 3, 0.5, 1.0)           # classes are per skill
    assert snapshot(s, 10.0) == before
    for so in range(1, C.MAX_SO_CLASSES + 1):
        s.enqueue(skill, CHANNEL_CHAT, 1, float(so), 2.0)
    # ... and a FIFO skill has no classes to run out of.
    for so in range(1, 40):
        s.enqueue(fifo, CHANNEL_VOICE, 0, float(so), 0.0)
    assert s.queued_total(skill) == 2 * C.MAX_SO_CLASSES - 1
    assert s.queued_total(fifo) == 39


# ---- compile-time constants ----------------------------------------------------------------
def _pyx_enum():
    text = PYX.read_text()
    block = re.search(r"^cdef enum:\n((?:[ \t]+\S.*\n)+)", text, re.M)
    assert block, "no `cdef enum:` block in native/_scheduler.pyx"
    values = {}
    for line in block.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, expression = (part.strip() for part in line.split("=", 1))
        assert re.fullmatch(r"[\d\s*+()-]+", expression), line
        values[name] = eval(expression, {"__builtins__": {}})  # digits and operators only
    return values


def test_pyx_enum_matches_constants():
    enum = _pyx_enum()
    shared = {name: value for name, value in enum.items() if hasattr(C, name)}
    assert {"PRIORITY_COUNT", "CHANNEL_COUNT", "MAX_SO_CLASSES", "MIN_LEVEL", "MAX_LEVEL",
            "QUEUEING_DQP", "QUEUEING_FIFO", "SELECT_ROUND_ROBIN"} <= set(shared)
    assert shared == {name: getattr(C, name) for name in shared}
    # Values the .pyx spells differently or derives by hand.
    assert enum["NONE"] == C.NO_CONTACT == C.NO_AGENT
    assert enum["QUEUES_PER_SKILL"] == C.CHANNEL_COUNT * C.PRIORITY_COUNT * C.MAX_SO_CLASSES
    assert C.MAX_SO_CLASSES <= 16      # the per-queue class mask is a uint16_t
    assert C.CHANNEL_COUNT <= 8        # a channel is a uint8_t and masks fit an int

"""Bad input to the site core: `InvalidInput` naming the field, and no change at all.

Each case starts from a busy site (agents ready, busy, reserved, in wrap-up, not ready and
logged out; contacts queued at two priorities, offered, connected, in wrap-up, completed and
abandoned), snapshots everything observable, feeds one bad event, and checks that the
snapshot is unchanged, `validate()` holds, and the same valid events afterwards give the same
actions as on a site that never saw the bad event.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import pytest

from native import pyscheduler
from native.constants import CHANNEL_COUNT
from sites import events as ev
from sites.errors import InvalidInput
from sites.model import AgentConfig, SiteConfig, SkillConfig
from sites.state import SiteState

try:
    from native import _scheduler as _compiled
    _COMPILED_ERROR = None
except ImportError as error:  # pragma: no cover - only without the build
    _compiled = None
    _COMPILED_ERROR = error


@pytest.fixture(params=["native", "python"])
def scheduler_factory(request):
    if request.param == "python":
        return pyscheduler.Scheduler
    if os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("VCC_PURE_PYTHON=1: only the pure-Python twin is under test")
    if _compiled is None:
        pytest.fail(f"compiled scheduler not importable ({_COMPILED_ERROR}); run "
                    "`pip install -e .` or set VCC_PURE_PYTHON=1", pytrace=False)
    return _compiled.Scheduler


SKILLS = (SkillConfig("billing", wrap_up_s=30),
          SkillConfig("sales", queueing="fifo", sl_threshold_s=30))
AGENTS = (AgentConfig("a1", {"billing": 1}),
          AgentConfig("a2", {"billing": 1}),
          AgentConfig("a3", {"billing": 2, "sales": 1}),
          AgentConfig("a4", {"sales": 1}),
          AgentConfig("a5", {"billing": 1}),
          AgentConfig("a6", {"sales": 1}, channels={"chat": 2}))

SETUP = [
    ev.AgentLoggedIn(0, "a4"), ev.AgentNotReady(0, "a4", "lunch"),
    ev.AgentLoggedIn(0, "a6"), ev.AgentReady(0, "a6"),
    ev.AgentLoggedIn(0, "a5"), ev.AgentLoggedOut(0, "a5"),
    ev.AgentLoggedIn(1, "a1"), ev.AgentReady(1, "a1"),
    ev.ContactArrived(1, "c0", "billing"), ev.OfferAccepted(2, "c0"), ev.ContactEnded(3, "c0"),
    ev.WrapUpDone(4, "a1"),                                         # c0 completed
    ev.ContactArrived(5, "c1", "billing"), ev.OfferAccepted(6, "c1"),   # a1 busy on c1
    ev.AgentLoggedIn(7, "a3"), ev.AgentReady(7, "a3"),
    ev.ContactArrived(7, "c3", "billing"), ev.OfferAccepted(8, "c3"),
    ev.ContactEnded(9, "c3"),                                       # a3 in wrap-up until 39
    ev.ContactArrived(10, "cx", "billing"), ev.ContactAbandoned(11, "cx"),   # abandoned
    ev.AgentLoggedIn(12, "a2"), ev.AgentReady(12, "a2"),
    ev.ContactArrived(12, "c2", "billing", service_objective_s=10),  # a2 reserved until 27
    ev.ContactArrived(13, "c4", "billing"),                         # queued, medium
    ev.ContactArrived(13, "c5", "billing", priority="top", service_objective_s=60),
    ev.ContactArrived(13, "s1", "sales"),                           # queued, no voice agent
    ev.ContactArrived(13, "k1", "sales", channel="chat", data={"x": 1}),  # a6 reserved
]

# Valid events after the bad one: both sites must answer them identically.
CONTINUATION = [
    ev.OfferAccepted(20, "c2"), ev.ContactEnded(21, "c1"), ev.OfferRejected(22, "k1"),
    ev.ContactArrived(23, "n1", "billing", priority="high"), ev.AgentReady(24, "a4"),
    ev.AgentLoggedIn(24, "a5"), ev.AgentReady(25, "a5"),
    ev.Tick(40), ev.ContactEnded(41, "c2"), ev.WrapUpDone(42, "a2"), ev.Tick(80),
]


def make_site(factory) -> SiteState:
    state = SiteState(SiteConfig("s1", skills=SKILLS, agents=AGENTS), scheduler_factory=factory)
    for event in SETUP:
        state.handle(event)
        state.validate()
    return state


def snapshot(state: SiteState):
    """Everything observable of a site, scheduler answers included."""
    now = state.now if math.isfinite(state.now) else 0.0
    agents = {agent_id: repr((a.mode, a.reason, tuple(a.load), a.offer, dict(a.wrap_ups),
                              a.missed_offers, a.state, a.announced_reason, a.idle_since,
                              a.logged_in_at, a.work_time, a.work_started))
              for agent_id, a in state.agents.items()}
    contacts = {contact_id: repr((c.state, c.agent_id, c.handle, c.skill, c.priority,
                                  c.service_objective_s, c.channel, c.data, c.arrival_time,
                                  c.offer_deadline, c.answer_time, c.end_time))
                for contact_id, c in state.contacts.items()}
    stats = {name: state.statistics(name) for name in state.skills}
    scheduler = state.scheduler
    answers = []
    for name in state.skills:
        index = state._skill_index[name]
        answers.append((name, scheduler.queued_total(index), scheduler.oldest_arrival(index),
                        tuple(scheduler.queued_count(index, p) for p in range(4))))
        for channel in range(CHANNEL_COUNT):
            for widened in (False, True):
                answers.append((name, channel, widened,
                                scheduler.best_agent(index, channel, widened),
                                scheduler.available_count(index, channel, widened)))
    for agent_id, a in state.agents.items():
        answers.append((agent_id, scheduler.agent_channels(a.index),
                        scheduler.best_contact(a.index, now)))
    answers.append(scheduler.contact_count())
    return dict(agents=agents, contacts=contacts, finished=dict(state.finished), now=state.now,
                stats=stats, scheduler=answers, handles=dict(state._contact_by_handle),
                offer_timers=sorted(state._offer_timers),
                wrap_up_timers=sorted(state._wrap_up_timers))


def run(state, events):
    out = []
    for event in events:
        out.append(state.handle(event))
        state.validate()
    return out


def assert_rejected(factory, event, field):
    state = make_site(factory)
    before = snapshot(state)
    with pytest.raises(InvalidInput) as caught:
        state.handle(event)
    assert caught.value.field == field, caught.value
    assert isinstance(caught.value, ValueError)
    state.validate()
    assert snapshot(state) == before
    assert run(state, CONTINUATION) == run(make_site(factory), CONTINUATION)


@dataclass(frozen=True)
class Bogus:
    """Looks like an event but is not one of sites.events."""
    time: float
    agent_id: str = "a1"


class TickSubclass(ev.Tick):
    pass


T = 20   # a valid time after SETUP
CASES = {
    # unknown names
    "unknown_skill": (ev.ContactArrived(T, "n1", "nope"), "skill"),
    "unknown_agent_ready": (ev.AgentReady(T, "zz"), "agent_id"),
    "unknown_agent_login": (ev.AgentLoggedIn(T, "zz"), "agent_id"),
    "unknown_agent_logout": (ev.AgentLoggedOut(T, "zz"), "agent_id"),
    "unknown_agent_not_ready": (ev.AgentNotReady(T, "zz", "x"), "agent_id"),
    "unknown_agent_wrap_up_done": (ev.WrapUpDone(T, "zz"), "agent_id"),
    "unknown_contact_accept": (ev.OfferAccepted(T, "nope"), "contact_id"),
    "unknown_contact_connected": (ev.ContactConnected(T, "nope"), "contact_id"),
    "unknown_contact_rejected": (ev.OfferRejected(T, "nope"), "contact_id"),
    "unknown_contact_timed_out": (ev.OfferTimedOut(T, "nope"), "contact_id"),
    "unknown_contact_ended": (ev.ContactEnded(T, "nope"), "contact_id"),
    "unknown_contact_abandoned": (ev.ContactAbandoned(T, "nope"), "contact_id"),
    # arrival fields
    "priority_urgent": (ev.ContactArrived(T, "n1", "billing", priority="urgent"), "priority"),
    "priority_int_code": (ev.ContactArrived(T, "n1", "billing", priority=2), "priority"),
    "channel_fax": (ev.ContactArrived(T, "n1", "billing", channel="fax"), "channel"),
    "channel_none": (ev.ContactArrived(T, "n1", "billing", channel=None), "channel"),
    "so_negative": (ev.ContactArrived(T, "n1", "billing", service_objective_s=-5),
                    "service_objective_s"),
    "so_zero": (ev.ContactArrived(T, "n1", "billing", service_objective_s=0),
                "service_objective_s"),
    "so_nan": (ev.ContactArrived(T, "n1", "billing", service_objective_s=math.nan),
               "service_objective_s"),
    "so_inf": (ev.ContactArrived(T, "n1", "billing", service_objective_s=math.inf),
               "service_objective_s"),
    "so_string": (ev.ContactArrived(T, "n1", "billing", service_objective_s="20"),
                  "service_objective_s"),
    "data_list": (ev.ContactArrived(T, "n1", "billing", data=[("k", "v")]), "data"),
    "data_none": (ev.ContactArrived(T, "n1", "billing", data=None), "data"),
    "contact_id_empty": (ev.ContactArrived(T, "", "billing"), "contact_id"),
    "contact_id_int": (ev.ContactArrived(T, 7, "billing"), "contact_id"),
    "reason_not_str": (ev.AgentNotReady(T, "a6", None), "reason"),
    # duplicate ids, live and finished
    "duplicate_queued": (ev.ContactArrived(T, "c4", "billing"), "contact_id"),
    "duplicate_offered": (ev.ContactArrived(T, "c2", "sales"), "contact_id"),
    "duplicate_connected": (ev.ContactArrived(T, "c1", "billing"), "contact_id"),
    "duplicate_wrap_up": (ev.ContactArrived(T, "c3", "billing"), "contact_id"),
    "duplicate_completed": (ev.ContactArrived(T, "c0", "billing"), "contact_id"),
    "duplicate_abandoned": (ev.ContactArrived(T, "cx", "billing"), "contact_id"),
    # events for finished contacts
    "accept_completed": (ev.OfferAccepted(T, "c0"), "contact_id"),
    "ended_completed": (ev.ContactEnded(T, "c0"), "contact_id"),
    "abandon_abandoned": (ev.ContactAbandoned(T, "cx"), "contact_id"),
    "reject_abandoned": (ev.OfferRejected(T, "cx"), "contact_id"),
    # time
    "time_backwards": (ev.AgentReady(12.5, "a4"), "time"),
    "time_backwards_arrival": (ev.ContactArrived(0, "n1", "billing"), "time"),
    "time_backwards_tick": (ev.Tick(-1), "time"),
    "time_nan": (ev.Tick(math.nan), "time"),
    "time_inf": (ev.Tick(math.inf), "time"),
    "time_minus_inf": (ev.AgentReady(-math.inf, "a4"), "time"),
    "time_string": (ev.Tick("20"), "time"),
    "time_bool": (ev.Tick(True), "time"),
    "time_none": (ev.AgentReady(None, "a4"), "time"),
    # contact in the wrong state
    "accept_queued": (ev.OfferAccepted(T, "c4"), "contact_id"),
    "connected_queued": (ev.ContactConnected(T, "c4"), "contact_id"),
    "reject_queued": (ev.OfferRejected(T, "c4"), "contact_id"),
    "timed_out_queued": (ev.OfferTimedOut(T, "c4"), "contact_id"),
    "reject_connected": (ev.OfferRejected(T, "c1"), "contact_id"),
    "accept_wrap_up": (ev.OfferAccepted(T, "c3"), "contact_id"),
    "abandon_connected": (ev.ContactAbandoned(T, "c1"), "contact_id"),
    "abandon_wrap_up": (ev.ContactAbandoned(T, "c3"), "contact_id"),
    "ended_wrap_up": (ev.ContactEnded(T, "c3"), "contact_id"),
    # agent in the wrong state
    "wrap_up_done_busy": (ev.WrapUpDone(T, "a1"), "agent_id"),
    "wrap_up_done_ready": (ev.WrapUpDone(T, "a6"), "agent_id"),
    "wrap_up_done_logged_out": (ev.WrapUpDone(T, "a5"), "agent_id"),
    "logout_busy": (ev.AgentLoggedOut(T, "a1"), "agent_id"),
    "logout_wrap_up": (ev.AgentLoggedOut(T, "a3"), "agent_id"),
    "logout_logged_out": (ev.AgentLoggedOut(T, "a5"), "agent_id"),
    "ready_logged_out": (ev.AgentReady(T, "a5"), "agent_id"),
    "not_ready_logged_out": (ev.AgentNotReady(T, "a5", "x"), "agent_id"),
    "login_twice_busy": (ev.AgentLoggedIn(T, "a1"), "agent_id"),
    "login_twice_not_ready": (ev.AgentLoggedIn(T, "a4"), "agent_id"),
    # not an event
    "event_object": (object(), "event"),
    "event_none": (None, "event"),
    "event_bogus_dataclass": (Bogus(T), "event"),
    "event_subclass": (TickSubclass(T), "event"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_event_rejected_without_change(scheduler_factory, name):
    event, field = CASES[name]
    assert_rejected(scheduler_factory, event, field)


def test_bad_events_in_a_row_change_nothing(scheduler_factory):
    state = make_site(scheduler_factory)
    before = snapshot(state)
    for event, field in CASES.values():
        with pytest.raises(InvalidInput) as caught:
            state.handle(event)
        assert caught.value.field == field
    state.validate()
    assert snapshot(state) == before


@pytest.mark.parametrize("skill, queueing", [("billing", "dqp")])
def test_seventeenth_service_objective_class(scheduler_factory, skill, queueing):
    state = SiteState(SiteConfig("s1", skills=(SkillConfig(skill, queueing=queueing),),
                                 agents=(AgentConfig("a1", {skill: 1}),)),
                      scheduler_factory=scheduler_factory)
    for i in range(16):
        state.handle(ev.ContactArrived(i, f"c{i}", skill, service_objective_s=10.0 + i))
        state.validate()
    state.handle(ev.ContactArrived(16, "same", skill, service_objective_s=25.0))  # class 16
    state.validate()
    before = snapshot(state)
    with pytest.raises(InvalidInput) as caught:
        state.handle(ev.ContactArrived(17, "c17", skill, service_objective_s=99.0))
    assert caught.value.field == "service_objective_s"
    state.validate()
    assert snapshot(state) == before
    assert "c17" not in state.contacts and "c17" not in state.finished
    # the id was not burnt: it is accepted with a known objective
    state.handle(ev.ContactArrived(18, "c17", skill, service_objective_s=10.0))
    state.validate()


def test_fifo_skill_has_no_service_objective_class_limit(scheduler_factory):
    state = SiteState(SiteConfig("s1", skills=(SkillConfig("sales", queueing="fifo"),)),
                      scheduler_factory=scheduler_factory)
    for i in range(20):
        state.handle(ev.ContactArrived(i, f"c{i}", "sales", service_objective_s=10.0 + i))
    state.validate()
    assert state.statistics("sales").queued == (0, 0, 20, 0)


# ---- configuration errors --------------------------------------------------------------------
CONFIG_CASES = {
    "skill_bad_queueing": (lambda: SkillConfig("billing", queueing="lifo"),
                           "skills.billing.queueing"),
    "skill_negative_sl": (lambda: SkillConfig("billing", sl_threshold_s=-1),
                          "skills.billing.sl_threshold_s"),
    "skill_zero_sl": (lambda: SkillConfig("billing", sl_threshold_s=0),
                      "skills.billing.sl_threshold_s"),
    "skill_nan_sl": (lambda: SkillConfig("billing", sl_threshold_s=math.nan),
                     "skills.billing.sl_threshold_s"),
    "skill_bad_selection": (lambda: SkillConfig("billing", agent_selection="random"),
                            "skills.billing.agent_selection"),
    "skill_negative_wrap_up": (lambda: SkillConfig("billing", wrap_up_s=-1),
                               "skills.billing.wrap_up_s"),
    "skill_zero_offer_timeout": (lambda: SkillConfig("billing", offer_timeout_s=0),
                                 "skills.billing.offer_timeout_s"),
    "skill_widen_level_0": (lambda: SkillConfig("billing", widen_level=0),
                            "skills.billing.widen_level"),
    "skill_negative_queue": (lambda: SkillConfig("billing", max_queue_length=-1),
                             "skills.billing.max_queue_length"),
    "skill_empty_name": (lambda: SkillConfig(""), "skill.name"),
    "agent_level_0": (lambda: AgentConfig("a1", {"billing": 0}), "agents.a1.skills.billing"),
    "agent_level_17": (lambda: AgentConfig("a1", {"billing": 17}), "agents.a1.skills.billing"),
    "agent_level_float": (lambda: AgentConfig("a1", {"billing": 1.0}), "agents.a1.skills.billing"),
    "agent_no_skills": (lambda: AgentConfig("a1", {}), "agents.a1.skills"),
    "agent_capacity_0": (lambda: AgentConfig("a1", {"billing": 1}, channels={"voice": 0}),
                         "agents.a1.channels.voice"),
    "agent_unknown_channel": (lambda: AgentConfig("a1", {"billing": 1}, channels={"fax": 1}),
                              "agents.a1.channels"),
    "agent_bad_call_selection": (lambda: AgentConfig("a1", {"billing": 1},
                                                     call_selection="random"),
                                 "agents.a1.call_selection"),
    "agent_negative_wrap_up": (lambda: AgentConfig("a1", {"billing": 1}, wrap_up_s=-1),
                               "agents.a1.wrap_up_s"),
    "agent_empty_id": (lambda: AgentConfig("", {"billing": 1}), "agent.agent_id"),
    "site_auto_pause_0": (lambda: SiteConfig("s1", auto_pause_after_misses=0),
                          "auto_pause_after_misses"),
    "site_window_0": (lambda: SiteConfig("s1", statistics_window_s=0), "statistics_window_s"),
}

SITE_CONFIG_CASES = {
    "site_agent_unknown_skill": (
        lambda: SiteConfig("s1", skills=(SkillConfig("billing"),),
                           agents=(AgentConfig("a1", {"sales": 1}),)),
        "agents.a1.skills"),
    "site_duplicate_skill": (
        lambda: SiteConfig("s1", skills=(SkillConfig("billing"), SkillConfig("billing"))),
        "skill.name"),
    "site_duplicate_agent": (
        lambda: SiteConfig("s1", skills=(SkillConfig("billing"),),
                           agents=(AgentConfig("a1", {"billing": 1}),) * 2),
        "agent.agent_id"),
}


@pytest.mark.parametrize("name", list(CONFIG_CASES))
def test_config_error_names_the_field(name):
    build, field = CONFIG_CASES[name]
    with pytest.raises(InvalidInput) as caught:
        build()
    assert caught.value.field == field


@pytest.mark.parametrize("name", list(SITE_CONFIG_CASES))
def test_site_config_error_names_the_field(scheduler_factory, name):
    config, field = SITE_CONFIG_CASES[name]
    with pytest.raises(InvalidInput) as caught:
        SiteState(config(), scheduler_factory=scheduler_factory)
    assert caught.value.field == field


def test_add_agent_with_unknown_skill_leaves_site_unchanged(scheduler_factory):
    state = make_site(scheduler_factory)
    before = snapshot(state)
    with pytest.raises(InvalidInput) as caught:
        state.add_agent(AgentConfig("a9", {"billing": 1, "nope": 2}))
    assert caught.value.field == "agents.a9.skills"
    assert snapshot(state) == before
    state.validate()


# ---- regressions (bugs found and fixed) ----
@pytest.mark.parametrize("event, field", [
    (ev.AgentReady(T, ["a1"]), "agent_id"),
    (ev.OfferAccepted(T, ["c2"]), "contact_id"),
    (ev.ContactArrived(T, "n1", ["billing"]), "skill"),
], ids=["agent_id", "contact_id", "skill"])
def test_unhashable_ids_raise_invalid_input(scheduler_factory, event, field):
    assert_rejected(scheduler_factory, event, field)

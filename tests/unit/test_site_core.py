"""Hand-worked examples of the site core (SPEC §2-§3), on both scheduler backends.

Every test feeds events to `SiteState.handle` through `Site.feed`, which also checks
`validate()` after each event, and compares the full action list with one worked out by
hand from the rules in SPEC §3 and the docstrings of `sites/`.
"""

from __future__ import annotations

import os
import random

import pytest

from native import pyscheduler
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
from sites.model import (
    AgentConfig,
    AgentMode,
    AgentState,
    Channel,
    ContactState,
    Priority,
    SiteConfig,
    SkillConfig,
)
from sites.state import SiteState

try:
    from native import _scheduler as _compiled
    _COMPILED_ERROR = None
except ImportError as error:  # pragma: no cover - only without the build
    _compiled = None
    _COMPILED_ERROR = error

VOICE, CHAT = Channel.VOICE, Channel.CHAT
TOP, HIGH, MEDIUM, LOW = Priority.TOP, Priority.HIGH, Priority.MEDIUM, Priority.LOW
READY, NOT_READY, RESERVED = AgentState.READY, AgentState.NOT_READY, AgentState.RESERVED
BUSY, WRAP_UP, LOGGED_OUT = AgentState.BUSY, AgentState.WRAP_UP, AgentState.LOGGED_OUT
COMPLETED, ABANDONED = ContactState.COMPLETED, ContactState.ABANDONED
REJECTED = ContactState.REJECTED


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


class Site:
    """A SiteState plus terse event helpers; validates invariants after every event."""

    def __init__(self, factory, skills, agents, **site):
        self.state = SiteState(SiteConfig("s1", skills=tuple(skills), agents=tuple(agents), **site),
                               scheduler_factory=factory)
        self.state.validate()

    def feed(self, event):
        actions = self.state.handle(event)
        self.state.validate()
        return actions

    # agents
    def login(self, t, agent):
        return self.feed(ev.AgentLoggedIn(t, agent))

    def ready(self, t, agent):
        return self.feed(ev.AgentReady(t, agent))

    def not_ready(self, t, agent, reason=""):
        return self.feed(ev.AgentNotReady(t, agent, reason))

    def logout(self, t, agent):
        return self.feed(ev.AgentLoggedOut(t, agent))

    def on(self, t, *agents):
        """Log in and make ready, one by one, at time t; returns all actions."""
        actions = []
        for agent in agents:
            actions += self.login(t, agent) + self.ready(t, agent)
        return actions

    # contacts
    def arrive(self, t, contact, skill="billing", **kw):
        return self.feed(ev.ContactArrived(t, contact, skill, **kw))

    def accept(self, t, contact):
        return self.feed(ev.OfferAccepted(t, contact))

    def connected(self, t, contact):
        return self.feed(ev.ContactConnected(t, contact))

    def reject(self, t, contact):
        return self.feed(ev.OfferRejected(t, contact))

    def timed_out(self, t, contact):
        return self.feed(ev.OfferTimedOut(t, contact))

    def end(self, t, contact):
        return self.feed(ev.ContactEnded(t, contact))

    def abandon(self, t, contact):
        return self.feed(ev.ContactAbandoned(t, contact))

    def wrap_done(self, t, agent):
        return self.feed(ev.WrapUpDone(t, agent))

    def tick(self, t):
        return self.feed(ev.Tick(t))

    def agent(self, agent_id):
        return self.state.agents[agent_id]

    def contact_state(self, contact_id):
        if contact_id in self.state.contacts:
            return self.state.contacts[contact_id].state
        return self.state.finished[contact_id]


def offer(contact, agent, deadline, skill="billing", channel=VOICE, data=None):
    return OfferContact(contact, agent, skill, channel, float(deadline), data or {})


def asc(agent, state, reason=""):
    return AgentStateChanged(agent, state, reason)


def waits_in_line(place, service_rate, abandon_rate):
    """The EWT of an answered caller at `place`, term by term (sites/ewt.py's formula)."""
    return sum(1 / (service_rate + m * abandon_rate) for m in range(1, place + 1))


def queued(contact, position, ewt, priority=MEDIUM, skill="billing"):
    return ContactQueued(contact, skill, priority, position, ewt)


def billing(**kw):
    return SkillConfig("billing", **kw)


def agent(agent_id, level=1, skill="billing", **kw):
    return AgentConfig(agent_id, {skill: level}, **kw)


# ---- lifecycle of one contact ----------------------------------------------------------------
def test_login_ready_offer_accept_wrap_up_by_tick(scheduler_factory):
    site = Site(scheduler_factory, [billing(wrap_up_s=10)], [agent("a1")])
    assert site.login(0, "a1") == [asc("a1", NOT_READY, "logged_in")]
    assert site.agent("a1").mode is AgentMode.NOT_READY
    assert site.ready(1, "a1") == [asc("a1", READY)]
    assert site.arrive(2, "c1", data={"ani": "555"}) == [
        offer("c1", "a1", 17, data={"ani": "555"}), asc("a1", RESERVED)]
    assert site.agent("a1").offer == "c1"
    assert site.contact_state("c1") is ContactState.OFFERED
    assert site.accept(5, "c1") == [asc("a1", BUSY)]
    assert site.contact_state("c1") is ContactState.CONNECTED
    assert site.end(65, "c1") == [asc("a1", WRAP_UP)]
    assert site.contact_state("c1") is ContactState.WRAP_UP
    assert site.tick(74.9) == []
    assert site.tick(75) == [ContactFinished("c1", COMPLETED, "a1"), asc("a1", READY)]
    assert site.state.finished == {"c1": COMPLETED}
    assert site.state.statistics("billing").aht_s == 70.0      # talk 60 + wrap-up 10


def test_wrap_up_done_completes_early_and_stale_timer_is_ignored(scheduler_factory):
    site = Site(scheduler_factory, [billing(wrap_up_s=30)], [agent("a1")])
    site.on(0, "a1")
    site.arrive(1, "c1")
    site.accept(2, "c1")
    assert site.end(12, "c1") == [asc("a1", WRAP_UP)]
    assert site.wrap_done(20, "a1") == [ContactFinished("c1", COMPLETED, "a1"), asc("a1", READY)]
    assert site.tick(42) == []                  # the old wrap-up deadline does nothing
    assert site.state.statistics("billing").aht_s == 18.0


def test_a_stale_wrap_up_timer_outliving_its_removed_agent_is_ignored(scheduler_factory):
    """The store's recovery state machine found it: the timer of a wrap-up ended early
    fired after its agent had logged out and been removed through Admin (KeyError)."""
    site = Site(scheduler_factory, [billing(wrap_up_s=30)], [agent("a1"), agent("a2")])
    site.on(0, "a1")
    site.arrive(1, "c1")
    site.accept(2, "c1")
    site.end(12, "c1")
    site.wrap_done(20, "a1")
    site.state.handle(ev.AgentLoggedOut(21, "a1"))
    site.state.remove_agent("a1")
    assert site.tick(42) == []
    site.state.validate()


def test_zero_wrap_up_completes_at_hang_up_and_agent_override(scheduler_factory):
    site = Site(scheduler_factory, [billing(wrap_up_s=0)],
                [agent("a1"), agent("a2", wrap_up_s=5)])
    site.on(0, "a1")
    site.on(1, "a2")
    assert site.arrive(2, "c1") == [offer("c1", "a1", 17), asc("a1", RESERVED)]
    assert site.arrive(2, "c2") == [offer("c2", "a2", 17), asc("a2", RESERVED)]
    site.accept(3, "c1")
    site.accept(3, "c2")
    assert site.end(10, "c1") == [ContactFinished("c1", COMPLETED, "a1"), asc("a1", READY)]
    assert site.end(10, "c2") == [asc("a2", WRAP_UP)]        # the agent's own 5 s wins
    assert site.tick(15) == [ContactFinished("c2", COMPLETED, "a2"), asc("a2", READY)]


# ---- queueing and EWT ------------------------------------------------------------------------
def test_queued_position_and_ewt_uses_estimate_then_real_aht(scheduler_factory):
    site = Site(scheduler_factory, [billing(aht_estimate_s=120)], [agent("a1")])
    site.on(0, "a1")
    site.arrive(0, "c1")
    site.accept(0, "c1")
    # place * aht / serving, aht = estimate 120 before any contact was handled
    assert site.arrive(5, "c2") == [queued("c2", 1, 120.0)]
    assert site.arrive(6, "c3") == [queued("c3", 2, 240.0)]
    assert site.arrive(7, "c4", priority="high") == [queued("c4", 1, 120.0, HIGH)]
    # c1 handled in 40 s: the agent takes the high-priority c4 first
    assert site.end(40, "c1") == [ContactFinished("c1", COMPLETED, "a1"), asc("a1", READY),
                                  offer("c4", "a1", 55), asc("a1", RESERVED)]
    # queue now c2, c3 (medium); aht = 40
    assert site.arrive(41, "c5") == [queued("c5", 3, 120.0)]
    assert site.arrive(41, "c6", priority="low") == [queued("c6", 4, 160.0, LOW)]


def test_ewt_divides_by_serving_agents(scheduler_factory):
    site = Site(scheduler_factory, [billing(aht_estimate_s=100)],
                [agent("a1"), agent("a2")])
    site.on(0, "a1", "a2")
    site.arrive(1, "c1")
    site.arrive(1, "c2")
    site.accept(2, "c1")
    site.accept(2, "c2")
    assert site.arrive(3, "c3") == [queued("c3", 1, 50.0)]
    assert site.arrive(3, "c4") == [queued("c4", 2, 100.0)]
    # a busy agent who asked for not_ready no longer serves: 3 * 100 / 1
    assert site.not_ready(4, "a2", "lunch") == []
    assert site.arrive(5, "c5") == [queued("c5", 3, 300.0)]


def test_ewt_none_when_nobody_logged_in_or_all_not_ready(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1"), agent("a2")])
    assert site.arrive(0, "c1") == [queued("c1", 1, None)]
    site.login(1, "a1")
    site.login(1, "a2")
    assert site.arrive(2, "c2") == [queued("c2", 2, None)]
    site.ready(3, "a1")                         # takes c1
    site.accept(4, "c1")
    site.not_ready(5, "a1", "x")                # busy but asked for not_ready
    assert site.arrive(6, "c3") == [queued("c3", 2, None)]
    stats = site.state.statistics("billing")
    assert (stats.staffed, stats.serving, stats.ready) == (2, 0, 0)
    assert stats.ewt_s == (None, None, None, None)


def test_strict_priority_top_before_earlier_low(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1")])
    site.login(0, "a1")
    assert site.arrive(1, "low1", priority="low") == [queued("low1", 1, None, LOW)]
    assert site.arrive(2, "top1", priority=Priority.TOP) == [queued("top1", 1, None, TOP)]
    assert site.arrive(3, "med1") == [queued("med1", 2, None, MEDIUM)]
    assert site.ready(10, "a1") == [asc("a1", READY), offer("top1", "a1", 25), asc("a1", RESERVED)]
    site.accept(11, "top1")
    assert site.end(12, "top1")[2] == offer("med1", "a1", 27)
    site.accept(13, "med1")
    assert site.end(14, "med1")[2] == offer("low1", "a1", 29)


@pytest.mark.parametrize("queueing, first, second", [("dqp", "B", "A"), ("fifo", "A", "B")])
def test_dqp_serves_largest_wait_over_so(scheduler_factory, queueing, first, second):
    site = Site(scheduler_factory, [billing(queueing=queueing)], [agent("a1")])
    site.login(0, "a1")
    site.arrive(0, "A", service_objective_s=60)
    site.arrive(20, "B", service_objective_s=20)
    # at t=40: need(A) = 40/60, need(B) = 20/20 = 1
    assert site.ready(40, "a1") == [asc("a1", READY), offer(first, "a1", 55), asc("a1", RESERVED)]
    site.accept(41, first)
    assert site.end(42, first)[2] == offer(second, "a1", 57)


# ---- offers that fail ------------------------------------------------------------------------
def test_rejected_offer_returns_to_original_position(scheduler_factory):
    site = Site(scheduler_factory, [billing(aht_estimate_s=100)], [agent("a1"), agent("a2")],
                auto_pause_after_misses=1)
    site.login(0, "a2")
    site.on(0, "a1")
    assert site.arrive(1, "c1") == [offer("c1", "a1", 16), asc("a1", RESERVED)]
    assert site.arrive(2, "c2") == [queued("c2", 1, 100.0)]
    assert site.arrive(3, "c3") == [queued("c3", 2, 200.0)]
    # one miss pauses a1 (K=1): c1 goes back ahead of c2 and c3, nobody serves now
    assert site.reject(4, "c1") == [queued("c1", 3, None), asc("a1", NOT_READY, "auto_pause")]
    assert site.agent("a1").missed_offers == 1
    assert site.ready(5, "a2") == [asc("a2", READY), offer("c1", "a2", 20), asc("a2", RESERVED)]
    assert site.ready(6, "a1") == [asc("a1", READY), offer("c2", "a1", 21), asc("a1", RESERVED)]
    assert site.agent("a1").missed_offers == 0


def test_rejected_offer_goes_to_another_ready_agent(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1"), agent("a2")])
    site.on(0, "a1")
    site.arrive(1, "c1")
    site.on(2, "a2")
    assert site.reject(3, "c1") == [offer("c1", "a2", 18), asc("a2", RESERVED), asc("a1", READY)]
    assert site.agent("a1").missed_offers == 1


def test_timeouts_then_auto_pause_after_k_misses(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1")])    # K = 3 (default)
    site.on(0, "a1")
    assert site.arrive(0, "c1") == [offer("c1", "a1", 15), asc("a1", RESERVED)]
    assert site.arrive(1, "c2") == [queued("c2", 1, 180.0)]
    # the only agent takes c1 straight back: it is still the head, ahead of c2
    assert site.reject(2, "c1") == [queued("c1", 2, 360.0), asc("a1", READY),
                                    offer("c1", "a1", 17), asc("a1", RESERVED)]
    assert site.timed_out(3, "c1") == [queued("c1", 2, 360.0), asc("a1", READY),
                                       offer("c1", "a1", 18), asc("a1", RESERVED)]
    assert site.agent("a1").missed_offers == 2
    assert site.tick(17.5) == []                # old deadlines 15 and 17 are stale
    assert site.tick(18) == [OfferRevoked("c1", "a1", "offer_timeout"), queued("c1", 2, None),
                             asc("a1", NOT_READY, "auto_pause")]
    assert site.agent("a1").missed_offers == 3
    assert site.agent("a1").mode is AgentMode.NOT_READY
    assert site.ready(20, "a1") == [asc("a1", READY), offer("c1", "a1", 35), asc("a1", RESERVED)]


def test_accept_resets_missed_count(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1")], auto_pause_after_misses=2)
    site.on(0, "a1")
    site.arrive(0, "c1")
    site.reject(1, "c1")                        # miss 1, re-offered
    assert site.agent("a1").missed_offers == 1
    site.accept(2, "c1")
    assert site.agent("a1").missed_offers == 0
    site.end(3, "c1")
    site.arrive(4, "c2")
    # aht is now c1's 1 s handle time
    assert site.reject(5, "c2") == [queued("c2", 1, 1.0), asc("a1", READY),
                                    offer("c2", "a1", 20), asc("a1", RESERVED)]
    assert site.agent("a1").missed_offers == 1   # not paused: the count restarted
    assert site.reject(6, "c2") == [queued("c2", 1, None), asc("a1", NOT_READY, "auto_pause")]


# ---- abandons --------------------------------------------------------------------------------
def test_abandon_while_queued(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1")])
    site.login(0, "a1")
    site.arrive(1, "c1")
    site.arrive(2, "c2")
    assert site.abandon(3, "c1") == [ContactFinished("c1", ABANDONED, None)]
    assert site.arrive(4, "c3") == [queued("c3", 2, None)]
    assert site.ready(5, "a1") == [asc("a1", READY), offer("c2", "a1", 20), asc("a1", RESERVED)]
    assert site.state.statistics("billing").abandoned == 1


def test_abandon_while_offered_frees_agent_for_next(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1")])
    site.on(0, "a1")
    site.arrive(1, "c1")
    site.arrive(2, "c2")
    assert site.abandon(3, "c1") == [OfferRevoked("c1", "a1", "abandoned"),
                                     ContactFinished("c1", ABANDONED, None), asc("a1", READY),
                                     offer("c2", "a1", 18), asc("a1", RESERVED)]
    assert site.agent("a1").missed_offers == 0
    assert site.tick(16) == []                  # c1's old offer deadline is stale


def test_contact_ended_before_connect_is_an_abandon(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1")])
    site.on(0, "a1")
    site.arrive(1, "c1")
    site.arrive(2, "c2")
    assert site.end(3, "c2") == [ContactFinished("c2", ABANDONED, None)]
    assert site.end(4, "c1") == [OfferRevoked("c1", "a1", "abandoned"),
                                 ContactFinished("c1", ABANDONED, None), asc("a1", READY)]
    stats = site.state.statistics("billing")
    assert (stats.answered, stats.abandoned) == (0, 2)


@pytest.mark.parametrize("first, second", [(ev.OfferAccepted, ev.ContactConnected),
                                           (ev.ContactConnected, ev.OfferAccepted)])
def test_second_of_accept_and_connect_is_a_no_op(scheduler_factory, first, second):
    site = Site(scheduler_factory, [billing()], [agent("a1")])
    site.on(0, "a1")
    site.arrive(1, "c1")
    assert site.feed(first(2, "c1")) == [asc("a1", BUSY)]
    assert site.feed(second(3, "c1")) == []
    stats = site.state.statistics("billing")
    assert (stats.answered, stats.asa_s) == (1, 1.0)


# ---- multichannel ----------------------------------------------------------------------------
def test_chat_capacity_two(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1", channels={"chat": 2})])
    site.on(0, "a1")
    assert site.arrive(1, "k1", channel="chat") == [offer("k1", "a1", 16, channel=CHAT),
                                                    asc("a1", RESERVED)]
    assert site.accept(2, "k1") == [asc("a1", BUSY)]
    assert site.arrive(3, "k2", channel="chat") == [offer("k2", "a1", 18, channel=CHAT),
                                                    asc("a1", RESERVED)]
    assert site.accept(4, "k2") == [asc("a1", BUSY)]
    assert site.agent("a1").load[CHAT.value] == 2
    assert site.arrive(5, "k3", channel="chat") == [queued("k3", 1, 180.0)]
    assert site.arrive(6, "v1") == [queued("v1", 2, 360.0)]    # no voice channel at all
    assert site.end(7, "k1") == [ContactFinished("k1", COMPLETED, "a1"),
                                 offer("k3", "a1", 22, channel=CHAT), asc("a1", RESERVED)]


@pytest.mark.parametrize("blocks", [True, False])
def test_voice_blocks_other_channels(scheduler_factory, blocks):
    site = Site(scheduler_factory, [billing()],
                [agent("a1", channels={"voice": 1, "chat": 2}, voice_blocks_others=blocks)])
    site.on(0, "a1")
    site.arrive(1, "v1")
    site.accept(2, "v1")
    actions = site.arrive(3, "k1", channel="chat")
    if blocks:
        assert actions == [queued("k1", 1, 180.0)]
        assert site.end(4, "v1") == [ContactFinished("v1", COMPLETED, "a1"), asc("a1", READY),
                                     offer("k1", "a1", 19, channel=CHAT), asc("a1", RESERVED)]
    else:
        assert actions == [offer("k1", "a1", 18, channel=CHAT), asc("a1", RESERVED)]


@pytest.mark.parametrize("first, second", [("outbound", "voice"), ("voice", "outbound")])
def test_an_outbound_call_and_a_voice_call_block_each_other(scheduler_factory, first, second):
    """A blended agent (SPEC §6) talks to one person at a time: an outbound call is a phone
    call as a voice call is."""
    site = Site(scheduler_factory, [billing()],
                [agent("a1", channels={"voice": 1, "outbound": 1, "chat": 1})])
    site.on(0, "a1")
    site.arrive(1, "p1", channel=first)
    site.accept(2, "p1")
    assert site.arrive(3, "p2", channel=second) == [queued("p2", 1, 180.0)]
    assert site.arrive(4, "k1", channel="chat") == [queued("k1", 2, 360.0)]
    assert site.end(5, "p1") == [ContactFinished("p1", COMPLETED, "a1"), asc("a1", READY),
                                 offer("p2", "a1", 20, channel=Channel[second.upper()]),
                                 asc("a1", RESERVED)]


# ---- not_ready and logout with work ----------------------------------------------------------
def test_not_ready_while_busy_applies_after_the_call(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1")])
    site.on(0, "a1")
    site.arrive(1, "c1")
    site.accept(2, "c1")
    site.arrive(3, "c2")
    assert site.not_ready(4, "a1", "lunch") == []
    assert site.agent("a1").state is BUSY
    assert site.end(5, "c1") == [ContactFinished("c1", COMPLETED, "a1"),
                                 asc("a1", NOT_READY, "lunch")]
    assert site.contact_state("c2") is ContactState.QUEUED


def test_not_ready_while_in_wrap_up_applies_after_wrap_up(scheduler_factory):
    site = Site(scheduler_factory, [billing(wrap_up_s=10)], [agent("a1")])
    site.on(0, "a1")
    site.arrive(1, "c1")
    site.accept(2, "c1")
    site.end(3, "c1")
    assert site.not_ready(4, "a1", "coffee") == []
    assert site.tick(13) == [ContactFinished("c1", COMPLETED, "a1"),
                             asc("a1", NOT_READY, "coffee")]


def test_not_ready_while_reserved_revokes_and_requeues(scheduler_factory):
    site = Site(scheduler_factory, [billing(aht_estimate_s=100)], [agent("a1"), agent("a2")])
    site.on(0, "a1")
    site.login(0, "a2")
    site.arrive(1, "c1")
    site.arrive(2, "c2")
    assert site.not_ready(3, "a1", "break") == [OfferRevoked("c1", "a1", "agent_not_ready"),
                                                queued("c1", 2, None),
                                                asc("a1", NOT_READY, "break")]
    assert site.agent("a1").offer is None and site.agent("a1").missed_offers == 0
    assert site.ready(4, "a2") == [asc("a2", READY), offer("c1", "a2", 19), asc("a2", RESERVED)]


def test_logout_while_reserved_revokes_and_requeues(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1"), agent("a2")])
    site.on(0, "a1")
    site.arrive(1, "c1")
    site.on(2, "a2")                            # nothing queued for a2
    assert site.logout(3, "a1") == [OfferRevoked("c1", "a1", "agent_logged_out"),
                                    offer("c1", "a2", 18), asc("a2", RESERVED),
                                    asc("a1", LOGGED_OUT)]


# ---- agent selection policies ----------------------------------------------------------------
def test_longest_idle(scheduler_factory):
    site = Site(scheduler_factory, [billing(agent_selection="longest_idle")],
                [agent("a1"), agent("a2")])
    site.on(0, "a2")
    site.on(1, "a1")
    assert site.arrive(2, "c1")[0] == offer("c1", "a2", 17)
    assert site.arrive(2, "c2")[0] == offer("c2", "a1", 17)
    site.accept(3, "c1")
    site.accept(3, "c2")
    site.end(10, "c2")                          # a1 idle since 10
    site.end(11, "c1")                          # a2 idle since 11
    assert site.arrive(12, "c3")[0] == offer("c3", "a1", 27)


def test_best_skill(scheduler_factory):
    site = Site(scheduler_factory, [billing(agent_selection="best_skill")],
                [agent("a1", level=5), agent("a2", level=2), agent("a3", level=2)])
    site.on(0, "a1")
    site.on(1, "a3")
    site.on(2, "a2")
    # lowest level first, then longest idle
    assert site.arrive(3, "c1")[0] == offer("c1", "a3", 18)
    assert site.arrive(3, "c2")[0] == offer("c2", "a2", 18)
    assert site.arrive(3, "c3")[0] == offer("c3", "a1", 18)


def test_round_robin_alternates(scheduler_factory):
    site = Site(scheduler_factory, [billing(agent_selection="round_robin")],
                [agent("a1"), agent("a2")])
    site.on(0, "a2")
    site.on(1, "a1")                            # longest idle would pick a2 first
    got = []
    for i in range(4):
        contact = f"c{i}"
        got.append(site.arrive(2 + 3 * i, contact)[0].agent_id)
        site.accept(3 + 3 * i, contact)
        site.end(4 + 3 * i, contact)
    assert got == ["a1", "a2", "a1", "a2"]


def test_least_occupied(scheduler_factory):
    site = Site(scheduler_factory, [billing(agent_selection="least_occupied")],
                [agent("a1"), agent("a2")])
    site.on(0, "a1", "a2")
    assert site.arrive(1, "c1")[0].agent_id == "a1"     # tie: both 0.0, same idle time
    site.accept(1, "c1")
    site.end(21, "c1")                                  # a1: 20 / 21 busy
    assert site.arrive(40, "c2")[0].agent_id == "a2"    # a2: 0.0
    site.accept(40, "c2")
    site.end(45, "c2")                                  # a2: 5 / 45 busy, idle since 45
    # longest idle would take a1 (idle since 21); least occupied takes a2
    assert site.arrive(50, "c3")[0] == offer("c3", "a2", 65)


# ---- call selection --------------------------------------------------------------------------
@pytest.mark.parametrize("selection, first", [("greatest_need", "b1"), ("skill_level", "s1")])
def test_call_selection_across_two_skills(scheduler_factory, selection, first):
    site = Site(scheduler_factory, [billing(), SkillConfig("sales")],
                [AgentConfig("a1", {"billing": 2, "sales": 1}, call_selection=selection)])
    site.login(0, "a1")
    site.arrive(0, "b1")                        # SO 20
    site.arrive(30, "s1", skill="sales")        # SO 20
    # t=40: need(b1) = 40/20 = 2, need(s1) = 10/20 = 0.5; sales has the better level
    actions = site.ready(40, "a1")
    assert actions[1] == offer(first, "a1", 55, skill="billing" if first == "b1" else "sales")


def test_greatest_need_priority_beats_need_across_skills(scheduler_factory):
    site = Site(scheduler_factory, [billing(), SkillConfig("sales")],
                [AgentConfig("a1", {"billing": 1, "sales": 1})])
    site.login(0, "a1")
    site.arrive(0, "b1", priority="low")
    site.arrive(39, "s1", skill="sales", priority="high")
    assert site.ready(40, "a1")[1] == offer("s1", "a1", 55, skill="sales")


# ---- widening --------------------------------------------------------------------------------
def test_widening_offers_to_higher_level_after_wait(scheduler_factory):
    site = Site(scheduler_factory, [billing(widen_level=2, widen_after_s=30)],
                [agent("a5", level=5), agent("a2", level=2)])
    site.on(0, "a5")
    assert site.arrive(0, "c1") == [queued("c1", 1, 180.0)]
    assert site.tick(29.9) == []
    assert site.tick(30) == [offer("c1", "a5", 45), asc("a5", RESERVED)]
    # a level-2 agent is not subject to the wait
    site.on(31, "a2")
    assert site.arrive(32, "c2") == [offer("c2", "a2", 47), asc("a2", RESERVED)]


def test_widened_agent_becoming_ready_takes_only_old_enough_contacts(scheduler_factory):
    site = Site(scheduler_factory, [billing(widen_level=2, widen_after_s=30)],
                [agent("a5", level=5)])
    site.login(0, "a5")
    site.arrive(0, "c1")
    assert site.ready(10, "a5") == [asc("a5", READY)]
    site.not_ready(11, "a5")
    assert site.ready(31, "a5") == [asc("a5", READY), offer("c1", "a5", 46), asc("a5", RESERVED)]


def test_widening_with_zero_wait_serves_at_arrival(scheduler_factory):
    site = Site(scheduler_factory, [billing(widen_level=2, widen_after_s=0)],
                [agent("a5", level=5)])
    site.on(0, "a5")
    assert site.arrive(1, "c1") == [offer("c1", "a5", 16), asc("a5", RESERVED)]


# ---- max queue length ------------------------------------------------------------------------
def test_max_queue_length_rejects_overflow(scheduler_factory):
    site = Site(scheduler_factory, [billing(max_queue_length=2)], [agent("a1")])
    site.on(0, "a1")
    site.arrive(1, "c1")                        # offered, not counted as queued
    site.arrive(2, "c2")
    site.arrive(3, "c3", priority="top")
    assert site.arrive(4, "c4", priority="top") == [ContactRejected("c4", "queue_full"),
                                                    ContactFinished("c4", REJECTED, None)]
    assert site.state.finished == {"c4": REJECTED}
    assert "c4" not in site.state.contacts
    site.abandon(5, "c2")
    # c2 hung up after 3 s of waiting: abandonment rate 1 / (3 s + the 600 s prior), which
    # shortens the wait of place 2 below 2 x 180 s (sites/ewt.py)
    [announced] = site.arrive(6, "c5")
    assert announced == queued("c5", 2, pytest.approx(waits_in_line(2, 1 / 180, 1 / 603)))


# ---- statistics ------------------------------------------------------------------------------
def test_statistics_hand_computed(scheduler_factory):
    site = Site(scheduler_factory, [billing(sl_threshold_s=20)],
                [agent("a1"), agent("a2"), agent("a3"), agent("a4")])
    empty = site.state.statistics("billing")
    assert (empty.staffed, empty.serving, empty.ready, empty.queued) == (0, 0, 0, (0, 0, 0, 0))
    assert (empty.answered, empty.asa_s, empty.sl_pct, empty.sl2_pct, empty.aht_s) == (
        0, None, None, None, None)
    site.on(0, "a1", "a2")
    site.login(0, "a3")
    site.arrive(0, "c1")                        # -> a1
    site.arrive(0, "c2")                        # -> a2
    site.accept(10, "c1")                       # wait 10 (within 20)
    site.accept(30, "c2")                       # wait 30
    site.arrive(31, "c3")
    site.arrive(32, "c4", priority="high")
    site.abandon(35, "c3")
    assert site.end(70, "c1")[2] == offer("c4", "a1", 85)   # handle 60
    site.accept(75, "c4")                       # wait 43
    site.end(90, "c2")                          # handle 60; a2 ready
    site.arrive(100, "c5", priority="low")      # -> a2, offered
    site.arrive(101, "c6", priority="top")
    site.arrive(102, "c7")
    stats = site.state.statistics("billing")
    assert stats.skill == "billing"
    assert (stats.staffed, stats.serving, stats.ready) == (3, 2, 0)
    assert stats.queued == (1, 0, 1, 0)
    assert stats.oldest_wait_s == 1.0
    assert (stats.answered, stats.abandoned) == (3, 1)
    assert stats.asa_s == pytest.approx((10 + 30 + 43) / 3)
    assert stats.sl_pct == pytest.approx(100 / 3)
    assert stats.sl2_pct == pytest.approx(25.0)
    assert stats.aht_s == 60.0
    # ewt per priority for one more contact: places 2, 2, 3, 3 at aht 60 with 2 serving;
    # one abandon in 10 + 30 + 4 + 43 s waited (+ the 600 s prior) shortens the line; each
    # later contact that left the queue decays the earlier ones by 1 - 1/1000
    keep = 1 - 1 / 1000
    rate = keep / ((((10 * keep) + 30) * keep + 4) * keep + 43 + 600)
    assert stats.ewt_s == pytest.approx(tuple(waits_in_line(place, 2 / 60, rate)
                                              for place in (2, 2, 3, 3)))


def test_statistics_window_expires(scheduler_factory):
    site = Site(scheduler_factory, [billing()], [agent("a1")], statistics_window_s=100)
    site.on(0, "a1")
    site.arrive(0, "c1")
    site.accept(5, "c1")
    site.end(50, "c1")
    stats = site.state.statistics("billing")
    assert (stats.answered, stats.asa_s, stats.sl_pct, stats.aht_s) == (1, 5.0, 100.0, 45.0)
    site.tick(106)                              # the answer (t=5) left the window
    stats = site.state.statistics("billing")
    assert (stats.answered, stats.asa_s, stats.sl_pct, stats.aht_s) == (0, None, None, 45.0)
    site.tick(151)                              # so did the handle time (t=50)
    stats = site.state.statistics("billing")
    assert (stats.answered, stats.asa_s, stats.sl_pct, stats.aht_s) == (0, None, None, None)


# ---- determinism -----------------------------------------------------------------------------
def _random_events(seed, count=400):
    rng = random.Random(seed)
    agents = ["a1", "a2", "a3"]
    contacts = []
    events = []
    t = 0.0
    for i in range(count):
        t += rng.choice([0.0, 0.5, 1.0, 3.0, 9.0])
        kind = rng.randrange(11)
        if kind == 0:
            events.append(ev.AgentLoggedIn(t, rng.choice(agents)))
        elif kind == 1:
            events.append(ev.AgentReady(t, rng.choice(agents)))
        elif kind == 2:
            events.append(ev.AgentNotReady(t, rng.choice(agents), rng.choice(["", "lunch"])))
        elif kind in (3, 4):
            contact = f"c{i}"
            contacts.append(contact)
            events.append(ev.ContactArrived(
                t, contact, rng.choice(["billing", "sales"]),
                priority=rng.choice(["top", "medium", "low"]),
                service_objective_s=rng.choice([None, 10.0, 60.0]),
                channel=rng.choice(["voice", "chat"])))
        elif kind == 5 and contacts:
            events.append(ev.OfferAccepted(t, rng.choice(contacts)))
        elif kind == 6 and contacts:
            events.append(ev.OfferRejected(t, rng.choice(contacts)))
        elif kind == 7 and contacts:
            events.append(ev.ContactEnded(t, rng.choice(contacts)))
        elif kind == 8 and contacts:
            events.append(ev.ContactAbandoned(t, rng.choice(contacts)))
        elif kind == 9:
            events.append(ev.WrapUpDone(t, rng.choice(agents)))
        else:
            events.append(ev.Tick(t))
    return events


def _run(factory, events):
    site = Site(factory, [billing(wrap_up_s=4, offer_timeout_s=6),
                          SkillConfig("sales", agent_selection="round_robin", widen_level=2,
                                      widen_after_s=5)],
                [AgentConfig("a1", {"billing": 1, "sales": 3}, channels={"voice": 1, "chat": 2}),
                 AgentConfig("a2", {"billing": 2}, call_selection="skill_level"),
                 AgentConfig("a3", {"sales": 1, "billing": 4}, channels={"chat": 3})])
    log = []
    for event in events:
        try:
            log.append(site.feed(event))
        except InvalidInput as error:
            log.append(("invalid", error.field))
            site.state.validate()
    log.append([site.state.statistics(name) for name in ("billing", "sales")])
    log.append(sorted(site.state.finished.items()))
    return log


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_events_same_actions(scheduler_factory, seed):
    events = _random_events(seed)
    first = _run(scheduler_factory, events)
    second = _run(scheduler_factory, events)
    assert first == second
    assert sum(1 for entry in first if isinstance(entry, list) and entry) > 50   # not trivial


def test_chat_ends_into_wrap_up_while_second_chat_rings(scheduler_factory):
    site = Site(scheduler_factory, [billing(wrap_up_s=10)], [agent("a1", channels={"chat": 2})])
    site.on(0, "a1")
    site.arrive(1, "k1", channel="chat")
    site.accept(2, "k1")
    assert site.arrive(3, "k2", channel="chat") == [offer("k2", "a1", 18, channel=CHAT),
                                                    asc("a1", RESERVED)]
    assert site.end(4, "k1") == []              # still ringing k2; k1 in wrap-up
    assert site.accept(5, "k2") == [asc("a1", BUSY)]
    assert site.arrive(6, "k3", channel="chat") == [queued("k3", 1, 180.0)]   # in wrap-up
    assert site.tick(14) == [ContactFinished("k1", COMPLETED, "a1"),
                             offer("k3", "a1", 29, channel=CHAT), asc("a1", RESERVED)]


# ---- regressions (bugs found and fixed) ----
def test_requeued_contact_reaches_second_ready_agent_when_best_prefers_widened_work(
        scheduler_factory):
    site = Site(scheduler_factory,
                [billing(), SkillConfig("sales", widen_level=1, widen_after_s=10)],
                [agent("W"), AgentConfig("X", {"billing": 1, "sales": 2}), agent("Y")],
                auto_pause_after_misses=1)
    site.on(0, "W")
    site.arrive(0, "c1")                        # -> W
    site.on(1, "X")
    site.on(2, "Y")
    site.arrive(3, "s1", skill="sales", service_objective_s=5)   # X only after 10 s
    # t=14, no Tick since t=3: W misses c1 and is paused. X (longest idle) would rather take
    # s1 (need 11/5 > 14/20), so c1 must go to Y, who is ready and has nothing else.
    site.reject(14, "c1")
    assert site.contact_state("c1") is ContactState.OFFERED
    assert site.agent("Y").offer == "c1"


def test_statistics_ready_and_ewt_ignore_agents_still_waiting_for_widening(scheduler_factory):
    site = Site(scheduler_factory, [billing(widen_level=2, widen_after_s=30)],
                [agent("a5", level=5)])
    site.on(0, "a5")
    stats = site.state.statistics("billing")
    entering = site.arrive(0, "c1")             # what a contact entering now is told
    assert entering == [queued("c1", 1, 180.0)]
    assert stats.ready == 0
    assert stats.ewt_s[MEDIUM.value] == 180.0

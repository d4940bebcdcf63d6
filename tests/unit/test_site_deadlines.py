"""`SiteState.next_deadline` names only timers that can still change something.

An answered offer and a wrap-up ended early leave their timers in the core's heaps. Hosts
tick a site at its next deadline (the simulator, the in-process and the Ray runtime): a
stale timer named there meant, under steady traffic, a deadline due at nearly every moment
from 15 s on (the offer timeout) and a tick of a site with nothing to do each time; on the
Ray runtime one more round each, about one round in three under overload (issue 16)."""

from __future__ import annotations

from sites import events as ev
from sites.actions import ContactFinished
from sites.model import AgentConfig, SiteConfig, SkillConfig
from sites.state import SiteState

OFFER_TIMEOUT_S = 15.0
WRAP_UP_S = 30.0


def site() -> SiteState:
    skills = (SkillConfig("billing", offer_timeout_s=OFFER_TIMEOUT_S, wrap_up_s=WRAP_UP_S),)
    state = SiteState(SiteConfig("east", skills, (AgentConfig("a1", {"billing": 1}),
                                                   AgentConfig("a2", {"billing": 1}))))
    for agent_id in ("a1", "a2"):
        state.handle(ev.AgentLoggedIn(0.0, agent_id))
        state.handle(ev.AgentReady(0.0, agent_id))
    return state


def test_an_open_offer_is_the_next_deadline_until_it_is_answered():
    state = site()
    state.handle(ev.ContactArrived(1.0, "c1", "billing"))
    assert state.next_deadline() == 1.0 + OFFER_TIMEOUT_S
    state.handle(ev.OfferAccepted(2.0, "c1"))
    assert state.next_deadline() is None


def test_a_wrap_up_ended_early_leaves_no_deadline_and_a_live_one_stays():
    state = site()
    state.handle(ev.ContactArrived(1.0, "c1", "billing"))      # offered to a1
    state.handle(ev.ContactArrived(1.5, "c2", "billing"))      # offered to a2
    state.handle(ev.OfferAccepted(2.0, "c1"))
    state.handle(ev.OfferAccepted(2.5, "c2"))
    state.handle(ev.ContactEnded(3.0, "c1"))                    # wrap-up until 33.0
    state.handle(ev.ContactEnded(4.0, "c2"))                    # wrap-up until 34.0
    assert state.next_deadline() == 3.0 + WRAP_UP_S
    agent = state.contacts["c1"].agent_id
    state.handle(ev.WrapUpDone(5.0, agent))
    # c1's timer is stale (its wrap-up ended); c2's still ends a wrap-up.
    assert state.next_deadline() == 4.0 + WRAP_UP_S
    actions = state.handle(ev.Tick(4.0 + WRAP_UP_S))
    assert [(type(action), action.contact_id) for action in actions
            if type(action) is ContactFinished] == [(ContactFinished, "c2")], actions
    assert state.next_deadline() is None


def test_stale_timers_do_not_keep_a_busy_site_due():
    """Steady traffic, each offer answered at once: past the offer timeout the next
    deadline is never in the past (before: it was every time a stale timer came due)."""
    state = site()
    now = 0.0
    for number in range(400):          # 400 contacts 0.1 s apart: 40 s, past the timeout
        now = 1.0 + number * 0.1
        contact_id = f"c{number}"
        state.handle(ev.ContactArrived(now, contact_id, "billing"))
        state.handle(ev.OfferAccepted(now, contact_id))
        state.handle(ev.ContactEnded(now + 0.05, contact_id))
        state.handle(ev.WrapUpDone(now + 0.05, state.contacts[contact_id].agent_id))
        deadline = state.next_deadline()
        assert deadline is None or deadline > now + 0.05, (number, deadline)


def test_a_snapshot_does_not_depend_on_when_the_host_asked_for_the_next_deadline():
    # `next_deadline` drops stale timers from the heaps; a recovered site (which replays
    # without asking at the same moments) must snapshot equal to the one that wrote its
    # journal (found by tests/integration/test_grpc_fuzz_store.py: an offer withdrawn at a
    # logout and an answered one).
    def run(ask: bool) -> dict:
        state = site()
        state.handle(ev.ContactArrived(1.0, "c1", "billing"))      # offered to a1
        state.handle(ev.ContactArrived(1.0, "c2", "billing"))      # offered to a2
        state.handle(ev.OfferAccepted(2.0, "c2"))
        state.handle(ev.ContactEnded(3.0, "c2"))                   # a2 wraps up until 33
        state.handle(ev.WrapUpDone(4.0, "a2"))                      # ... ended early
        if ask:
            state.next_deadline()
        state.handle(ev.AgentLoggedOut(5.0, "a1"))                 # c1's offer withdrawn
        if ask:
            state.next_deadline()
        return state.snapshot()
    asked, not_asked = run(True), run(False)
    assert asked == not_asked
    # Only c1's offer to a2 (at 5.0) can still time out; no wrap-up is left.
    assert asked["offer_timers"] == [[5.0 + OFFER_TIMEOUT_S, 3, "c1"]]
    assert asked["wrap_up_timers"] == []

"""The routing-plan interpreter in the site core (SPEC §10, issue 17 item 1): steps driven by
events and deadlines, menus, conditions on skill state, waiting in up to three skills,
priority changes, callbacks that keep the place, max_lines, the loop guard; snapshots of a
site with contacts in their plans; and, whatever the plan and the events, every contact ends
in one final state and is never offered twice at once."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from sites import events as ev
from sites.actions import ContactFinished, ContactQueued, IvrTreatment, OfferContact, OfferRevoked
from sites.calendars import WallClock
from sites.errors import InvalidInput
from sites.model import AgentConfig, ContactState, Priority, SiteConfig, SkillConfig
from sites.plans import MAX_STEPS_RUN, parse_plan_config
from sites.state import SiteState

import pytest

SKILLS = ("billing", "billing_backup", "sales")


def plans_of(text: str):
    return parse_plan_config(yaml.safe_load(text), SKILLS)


def site_with(text: str, agents=(), *, start="2026-12-07T10:00:00+01:00", aht=100.0):
    """A site with the three skills, `agents` ((id, {skill: level})...) logged out, and the
    plans of `text`; simulated time 0 is `start` (a Monday, the office open)."""
    skills = tuple(SkillConfig(name, aht_estimate_s=aht) for name in SKILLS)
    config = SiteConfig("west", skills, tuple(AgentConfig(agent_id, dict(levels))
                                              for agent_id, levels in agents))
    state = SiteState(config)
    state.plans.use(plans_of(text), WallClock(dt.datetime.fromisoformat(start).timestamp()))
    return state


def handle(state, event):
    actions = state.handle(event)
    state.validate()
    return actions


def ready(state, agent_id, time=0.0):
    handle(state, ev.AgentLoggedIn(time, agent_id))
    return handle(state, ev.AgentReady(time, agent_id))


def dial(state, contact_id, time=0.0, dnis="100", ani_prefix=None):
    return handle(state, ev.ContactArrived(time, contact_id, None, dnis=dnis,
                                           ani_prefix=ani_prefix))


def tick(state, time):
    return handle(state, ev.Tick(time))


def kinds(actions, contact_id=None):
    return [action.kind for action in actions if type(action) is IvrTreatment
            and (contact_id is None or action.contact_id == contact_id)]


def finals(actions):
    return {action.contact_id: action.final_state for action in actions
            if type(action) is ContactFinished}


def offers(actions):
    return [(action.contact_id, action.agent_id) for action in actions
            if type(action) is OfferContact]


MENU = """
calendars:
  office: {timezone: Europe/Berlin, weekly: {mon-fri: "08:00-18:00"}}
entry_points:
  "100": {service: care}
services:
  care:
    max_lines: 2
    schedule: [{calendar: office, plan: open}, {otherwise: closed}]
plans:
  open:
    - announce: {prompt: welcome, seconds: 6}
    - collect: {prompt: menu, max_digits: 1, timeout_s: 5, into: choice}
    - goto: sales
      if: {digits: {choice: "2"}}
    - queue: {skill: billing, priority: medium}
    - label: hold
      wait: {seconds: 60, treatment: music}
    - goto: hold
    - label: sales
      queue: {skill: sales, priority: high}
  closed:
    - self_service: {prompt: closed_message, seconds: 20}
"""


def test_a_menu_runs_on_events_and_deadlines():
    state = site_with(MENU, [("s1", {"sales": 1})])
    actions = dial(state, "c1")
    assert kinds(actions) == ["announce"]
    assert state.contacts["c1"].state is ContactState.IN_IVR
    assert state.next_deadline() == 6.0
    assert tick(state, 5.9) == []                         # the prompt is still playing
    actions = tick(state, 6.0)
    assert kinds(actions) == ["collect"]
    collect = actions[0]
    assert (collect.prompt, collect.max_digits, collect.seconds) == ("menu", 1, 5)
    ready(state, "s1", 7.0)
    actions = handle(state, ev.DigitsCollected(8.0, "c1", "2"))      # -> sales
    assert offers(actions) == [("c1", "s1")]
    assert state.contacts["c1"].skill == "sales"
    assert state.contacts["c1"].priority is Priority.HIGH


def test_no_digits_in_time_falls_through_to_the_queue_and_the_hold_loop():
    state = site_with(MENU)
    dial(state, "c1")
    tick(state, 6.0)
    actions = tick(state, 11.0)                           # collect timed out
    queued = [a for a in actions if type(a) is ContactQueued]
    assert [(q.skill, q.priority, q.position) for q in queued] == [
        ("billing", Priority.MEDIUM, 1)]
    assert kinds(actions) == ["wait"]
    assert kinds(tick(state, 71.0)) == ["wait"]           # hold: wait, goto hold, wait ...
    contact = state.contacts["c1"]
    assert contact.first_arrival == 11.0                  # its wait for an agent starts queued


def test_digits_are_refused_when_the_contact_is_not_collecting_and_change_nothing():
    state = site_with(MENU)
    dial(state, "c1")
    before = state.snapshot()
    with pytest.raises(InvalidInput) as error:
        state.handle(ev.DigitsCollected(1.0, "c1", "2"))
    assert error.value.field == "contact_id" and "announce" in error.value.problem
    tick(state, 6.0)
    with pytest.raises(InvalidInput) as error:
        state.handle(ev.DigitsCollected(7.0, "c1", "22"))       # max_digits 1
    assert error.value.field == "digits"
    assert state.contacts["c1"].plan_run.waiting == "collect"
    del before


def test_an_unknown_dialled_number_is_refused_naming_dnis():
    state = site_with(MENU)
    with pytest.raises(InvalidInput) as error:
        state.handle(ev.ContactArrived(0.0, "c1", None, dnis="999"))
    assert error.value.field == "dnis"
    assert state.contacts == {} and "c1" not in state.finished


def test_callers_beyond_max_lines_get_busy_and_a_line_frees_when_answered():
    state = site_with(MENU, [("b1", {"billing": 1})])
    dial(state, "c1")
    dial(state, "c2")
    actions = dial(state, "c3")
    assert kinds(actions) == ["busy"] and finals(actions) == {"c3": ContactState.BUSY}
    assert state.plans.lines == {"care": 2}
    tick(state, 6.0)
    tick(state, 11.0)                                     # both queued in billing now
    ready(state, "b1", 12.0)                              # offered c1
    handle(state, ev.OfferAccepted(13.0, "c1"))
    assert state.plans.lines == {"care": 1}               # c1 left the IVR port
    assert kinds(dial(state, "c4", 14.0)) == ["announce"]


def test_closed_hours_run_the_otherwise_plan_and_self_service_ends_served():
    state = site_with(MENU, start="2026-12-07T19:00:00+01:00")         # after 18:00
    actions = dial(state, "c1")
    assert kinds(actions) == ["self_service"]
    assert finals(tick(state, 20.0)) == {"c1": ContactState.SELF_SERVED}
    # The IVR may report the end earlier; a caller who asks for an agent goes on (here:
    # the plan's end, in no queue: disconnected).
    dial(state, "c2", 21.0)
    actions = handle(state, ev.SelfServiceEnded(25.0, "c2", False))
    assert kinds(actions) == ["disconnect"]
    assert finals(actions) == {"c2": ContactState.DISCONNECTED}


MULTI = """
entry_points:
  "100": {service: care}
services:
  care: {max_lines: 100, schedule: [{otherwise: main}]}
plans:
  main:
    - queue: {skill: billing, priority: medium}
    - queue: {skill: billing_backup, priority: low}
      if: {queued: {skill: billing, ge: 2}}
    - queue: {skill: sales, priority: low}
      if: {queued: {skill: billing, ge: 3}}
    - label: hold
      wait: {seconds: 30}
    - priority: high
      if: {oldest_wait: {skill: billing, ge: 60}}
    - goto: hold
"""


def test_a_contact_waits_in_several_skills_and_the_first_agent_of_any_answers():
    state = site_with(MULTI, [("b1", {"billing": 1}), ("k1", {"billing_backup": 1}),
                              ("k2", {"billing_backup": 1})])
    ready(state, "b1")
    handle(state, ev.ContactArrived(0.0, "first", "billing"))        # b1 busy with it
    handle(state, ev.OfferAccepted(0.5, "first"))
    dial(state, "c1", 1.0)
    dial(state, "c2", 2.0)
    dial(state, "c3", 3.0)
    assert state.contacts["c1"].also_queued is None                  # billing alone
    assert sorted(state.contacts["c2"].also_queued.values()) == ["billing_backup"]
    c3 = state.contacts["c3"]
    assert sorted(c3.also_queued.values()) == ["billing_backup", "sales"]
    actions = ready(state, "k1", 4.0)
    assert offers(actions) == [("c2", "k1")]                         # first in the backup
    assert state.contacts["c2"].skill == "billing_backup"
    assert state.queued_total("billing") == 2                        # c1, c3: c2 left it
    assert state.queued_total("billing_backup") == 1                 # c3
    # The offer fails (k1 goes not ready): c2 is back in both queues at its places.
    handle(state, ev.AgentNotReady(5.0, "k1", "break"))
    assert state.queued_total("billing") == 3 and state.queued_total("billing_backup") == 2
    actions = ready(state, "k2", 6.0)
    assert offers(actions) == [("c2", "k2")]
    handle(state, ev.OfferAccepted(7.0, "c2"))
    assert state.queued_total("billing") == 2 and state.queued_total("billing_backup") == 1
    assert state.contacts["c2"].plan_run is None                      # answered: plan over
    assert state.queued_total("sales") == 1                           # c3 still waits there


def test_a_priority_step_places_the_contact_by_its_waiting_time():
    state = site_with(MULTI, [("b1", {"billing": 1})])
    ready(state, "b1")
    handle(state, ev.ContactArrived(0.0, "busy", "billing"))
    handle(state, ev.OfferAccepted(0.0, "busy"))
    dial(state, "c1", 1.0)                                 # medium, waits
    for number in range(3):                                # three high contacts later
        handle(state, ev.ContactArrived(2.0 + number, f"h{number}", "billing",
                                        priority="high"))
    tick(state, 31.0)
    actions = tick(state, 61.0)                            # c1 waited 60 s: raised to high
    queued = [a for a in actions if type(a) is ContactQueued and a.contact_id == "c1"]
    assert queued and queued[-1].priority is Priority.HIGH
    handle(state, ev.ContactEnded(62.0, "busy"))
    actions = handle(state, ev.WrapUpDone(62.0, "b1")) if state.agents["b1"].wrap_ups else []
    served = offers(actions) or [(c.contact_id, c.agent_id) for c in state.contacts.values()
                                 if c.state is ContactState.OFFERED]
    assert served == [("c1", "b1")]                       # ahead of the later high ones


CALLBACK = """
entry_points:
  "100": {service: care}
services:
  care: {max_lines: 100, schedule: [{otherwise: main}]}
plans:
  main:
    - queue: {skill: billing, priority: medium}
    - callback: {}
      if: {ewt: {gt: 50}}
    - wait: {seconds: 600}
"""


def test_a_callback_keeps_the_place_and_the_agent_gets_it_at_its_turn():
    state = site_with(CALLBACK, [("b1", {"billing": 1})])
    ready(state, "b1")
    handle(state, ev.ContactArrived(0.0, "busy", "billing"))
    handle(state, ev.OfferAccepted(0.0, "busy"))
    actions = dial(state, "c1", 1.0)
    assert kinds(actions) == ["callback_offer"]
    actions = dial(state, "c2", 2.0)
    assert kinds(actions) == ["callback_offer"]
    handle(state, ev.CallbackChosen(3.0, "c1", True))      # c1 hangs up, keeps its place
    handle(state, ev.CallbackChosen(3.0, "c2", False))     # c2 waits on the line
    assert state.plans.lines == {"care": 1}
    assert state.contacts["c1"].callback and state.contacts["c1"].plan_run is None
    assert handle(state, ev.ContactEnded(4.0, "c1")) == []     # the leg it hung up: expected
    handle(state, ev.ContactEnded(100.0, "busy"))
    actions = handle(state, ev.WrapUpDone(100.0, "b1")) if state.agents["b1"].wrap_ups else []
    offered = [a for a in actions if type(a) is OfferContact]
    if not offered:
        offered = [OfferContact(c.contact_id, c.agent_id, c.skill, c.channel, 0.0, {},
                                c.callback) for c in state.contacts.values()
                   if c.state is ContactState.OFFERED]
    assert [(o.contact_id, o.callback) for o in offered] == [("c1", True)]


LOOP = """
entry_points:
  "100": {service: care}
services:
  care: {max_lines: 100, schedule: [{otherwise: main}]}
plans:
  main:
    - label: again
      announce: {prompt: still_here, seconds: 1}
    - goto: again
"""


def test_the_loop_guard_disconnects_after_1000_steps_and_says_why():
    state = site_with(LOOP)
    dial(state, "c1")
    time, actions = 0.0, []
    for _ in range(MAX_STEPS_RUN):                        # bounded: 2 steps per second
        time += 1.0
        actions = tick(state, time)
        if "c1" in finals(actions):
            break
    assert finals(actions) == {"c1": ContactState.DISCONNECTED}
    assert "loop guard" in [a for a in actions if type(a) is IvrTreatment][-1].reason
    assert time == MAX_STEPS_RUN / 2


def test_a_site_with_contacts_in_their_plans_snapshots_and_restores_equal():
    state = site_with(MULTI, [("b1", {"billing": 1}), ("k1", {"billing_backup": 1})])
    ready(state, "b1")
    handle(state, ev.ContactArrived(0.0, "busy", "billing"))
    handle(state, ev.OfferAccepted(0.0, "busy"))
    for number in range(4):
        dial(state, f"c{number}", 1.0 + number)
    tick(state, 31.0)
    snapshot = state.snapshot()
    restored = SiteState.restore(snapshot, plans=state.plans.config, clock=state.plans.clock)
    restored.validate()
    assert restored.snapshot() == state.snapshot()
    later = [ev.Tick(61.0), ev.AgentLoggedIn(62.0, "k1"), ev.AgentReady(62.0, "k1"),
             ev.ContactAbandoned(63.0, "c1"), ev.Tick(95.0)]
    for event in later:
        assert restored.handle(event) == state.handle(event)
    assert restored.snapshot() == state.snapshot()


# ---- whatever the plan and the events: one final state each, never two open offers ---------
STEPS = st.sampled_from([
    "- announce: {prompt: p, seconds: 3}",
    "- collect: {prompt: m, max_digits: 1, timeout_s: 4, into: choice}",
    "- queue: {skill: billing, priority: medium}",
    "- queue: {skill: billing_backup, priority: low}",
    "- queue: {skill: sales, priority: high}\n  if: {digits: {choice: \"2\"}}",
    "- priority: top\n  if: {oldest_wait: {skill: billing, ge: 5}}",
    "- wait: {seconds: 5}",
    "- callback: {}\n  if: {ewt: {gt: 5}}",
    "- self_service: {prompt: s, seconds: 4}",
    "- busy: {}\n  if: {queued: {skill: billing, ge: 3}}",
    "- disconnect: {}\n  if: {not: {digits: {choice: [\"1\", \"2\"]}}}",
    "- voicemail: {}\n  if: {available: {skill: sales, eq: 0}}",
    "- route_to: {number: \"+4930123\"}\n  if: {digits: {choice: \"9\"}}",
    "- goto: top\n  if: {staffed: {skill: billing, ge: 1}}",
])
EVENTS = st.lists(st.tuples(
    st.sampled_from(["dial", "dial", "dial", "plain", "ready", "not_ready", "accept", "reject",
                     "end", "abandon", "digits", "digits", "prompt", "self", "callback",
                     "callback", "wrap", "tick", "tick", "tick"]),
    st.integers(0, 5), st.sampled_from(["", "1", "2", "9"]), st.booleans()),
    min_size=20, max_size=120)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEPS, min_size=1, max_size=8), events=EVENTS)
def test_whatever_the_plan_every_contact_ends_once_and_is_never_offered_twice(steps, events):
    plan = "\n    ".join("\n    ".join(step.split("\n")) for step in steps)
    text = f"""
entry_points:
  "100": {{service: care}}
services:
  care: {{max_lines: 4, schedule: [{{otherwise: main}}]}}
plans:
  main:
    - label: top
      wait: {{seconds: 1}}
    - collect: {{prompt: m, max_digits: 1, timeout_s: 2, into: choice}}
    {plan}
"""
    plans = plans_of(text)             # valid: every loop passes the wait at `top`
    agents = [("a0", {"billing": 1, "sales": 2}), ("a1", {"billing_backup": 1}),
              ("a2", {"sales": 1, "billing": 3})]
    state = SiteState(SiteConfig("west", tuple(SkillConfig(n, aht_estimate_s=20.0)
                                               for n in SKILLS),
                                 tuple(AgentConfig(a, dict(s)) for a, s in agents)))
    state.plans.use(plans)
    time, arrived, finished, open_offers = 0.0, [], {}, {}

    def apply(event):
        try:
            actions = state.handle(event)
        except InvalidInput:
            return
        state.validate()
        for action in actions:
            if type(action) is OfferContact:
                assert action.contact_id not in open_offers, "offered twice at once"
                assert action.contact_id not in finished
                open_offers[action.contact_id] = action.agent_id
            elif type(action) is OfferRevoked:
                open_offers.pop(action.contact_id, None)
            elif type(action) is ContactFinished:
                assert action.contact_id not in finished, "finished twice"
                finished[action.contact_id] = action.final_state
                open_offers.pop(action.contact_id, None)
                note_event(f"final: {action.final_state.value}")     # --hypothesis-show-statistics

    for number, (kind, which, digits, flag) in enumerate(events):
        time += 1.5
        contact_id = arrived[which % len(arrived)] if arrived else "none"
        agent_id = agents[which % len(agents)][0]
        contact = state.contacts.get(contact_id)
        if kind == "dial":
            arrived.append(f"c{number}")
            apply(ev.ContactArrived(time, f"c{number}", None, dnis="100"))
        elif kind == "plain":
            arrived.append(f"p{number}")
            apply(ev.ContactArrived(time, f"p{number}", "billing"))
        elif kind == "ready":
            apply(ev.AgentLoggedIn(time, agent_id))
            apply(ev.AgentReady(time, agent_id))
        elif kind == "not_ready":
            apply(ev.AgentNotReady(time, agent_id))
        elif kind == "accept":
            apply(ev.OfferAccepted(time, contact_id))
            if contact is not None and contact.state is ContactState.CONNECTED:
                open_offers.pop(contact_id, None)
        elif kind == "reject":
            if contact is not None and contact.state is ContactState.OFFERED:
                open_offers.pop(contact_id, None)
            apply(ev.OfferRejected(time, contact_id))
        elif kind == "end":
            apply(ev.ContactEnded(time, contact_id))
        elif kind == "abandon":
            apply(ev.ContactAbandoned(time, contact_id))
        elif kind == "digits":
            apply(ev.DigitsCollected(time, contact_id, digits))
        elif kind == "prompt":
            apply(ev.PromptFinished(time, contact_id))
        elif kind == "self":
            apply(ev.SelfServiceEnded(time, contact_id, flag))
        elif kind == "callback":
            apply(ev.CallbackChosen(time, contact_id, flag))
        elif kind == "wrap":
            apply(ev.WrapUpDone(time, agent_id))
        else:
            apply(ev.Tick(time))
    # Drain: agents answer everything, callers hang up, time runs out (bounded).
    for agent_id, _ in agents:
        apply(ev.AgentLoggedIn(time, agent_id))
        apply(ev.AgentReady(time, agent_id))
    for step in range(400):
        if not state.contacts:
            break
        time += 7.0
        for contact_id, contact in list(state.contacts.items()):
            if contact.state is ContactState.OFFERED:
                open_offers.pop(contact_id, None)
                apply(ev.OfferAccepted(time, contact_id))
            elif contact.state is ContactState.CONNECTED:
                apply(ev.ContactEnded(time, contact_id))
            elif step >= 40 and not contact.callback and contact.state is not \
                    ContactState.WRAP_UP:       # first let the plans run a while
                apply(ev.ContactAbandoned(time, contact_id))
        for agent_id, _ in agents:
            if state.agents[agent_id].wrap_ups:
                apply(ev.WrapUpDone(time, agent_id))
        apply(ev.Tick(time))
    assert state.contacts == {}
    assert set(finished) == set(arrived)                 # each exactly once (checked above)


def test_a_plan_goes_on_when_the_offer_it_got_at_once_fails():
    """Queued and offered in the same step, the plan pauses; the agent lets it ring out:
    the contact is back in the queue and its plan goes on with the next step."""
    state = site_with(CALLBACK, [("b1", {"billing": 1})])
    ready(state, "b1")
    actions = dial(state, "c1")
    assert offers(actions) == [("c1", "b1")] and kinds(actions) == []
    actions = handle(state, ev.AgentNotReady(1.0, "b1", "break"))
    assert state.contacts["c1"].state is ContactState.QUEUED
    assert kinds(actions) == ["callback_offer"]           # nobody staffed ready: EWT unknown

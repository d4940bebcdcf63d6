"""Random event sequences through the site core, on both scheduler backends at once.

A hypothesis state machine feeds the same events to a SiteState on the compiled scheduler
and one on the pure twin and checks after every step:
- both give identical actions (or the same InvalidInput field), and a rejected event
  changes nothing;
- `validate()` holds on both (one state per contact, capacity, no offer to an agent in
  wrap-up or lacking the skill, counters);
- no contact is lost: every contact that arrived is live or in exactly one final state;
- no agent sits available while a contact it may take waits;
- every offer made from the queue went to the contact an independent brute-force
  reference ranks first for that agent: strict priority, then largest wait/SO (DQP), FIFO
  within an SO class and in FIFO skills, widening thresholds respected.
"""

import math
import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from native import pyscheduler
from sites import events as ev
from sites.actions import OfferContact
from sites.errors import InvalidInput
from sites.model import (
    AgentConfig,
    AgentMode,
    CallSelection,
    ContactState,
    Queueing,
    SiteConfig,
    SkillConfig,
)
from sites.state import SiteState

try:
    from native import _scheduler
except ImportError:  # pragma: no cover - exercised only on a machine without the build
    _scheduler = None

if _scheduler is None and os.environ.get("VCC_PURE_PYTHON", "") in ("", "0"):
    raise ImportError("the compiled scheduler is not built: run `pip install -e .`")

SKILLS = ("billing", "sales", "tech")
AGENTS = ("a1", "a2", "a3", "a4", "a5")
SERVICE_OBJECTIVES = (10.0, 20.0, 60.0)
CHANNEL_SETS = ({"voice": 1}, {"chat": 2}, {"voice": 1, "chat": 2})

skill_configs = st.builds(
    lambda name, queueing, selection, wrap_up, widen: SkillConfig(
        name, queueing=queueing, agent_selection=selection, wrap_up_s=wrap_up,
        offer_timeout_s=8.0, widen_level=widen[0], widen_after_s=widen[1]),
    st.just("placeholder"),
    st.sampled_from(["dqp", "fifo"]),
    st.sampled_from(["longest_idle", "least_occupied", "best_skill", "round_robin"]),
    st.sampled_from([0.0, 5.0]),
    st.sampled_from([(16, 0.0), (2, 0.0), (2, 12.0)]),
)


def snapshot(state: SiteState):
    """Everything observable of a site, to prove a rejected event changed nothing."""
    agents = tuple((a.mode, a.reason, tuple(a.load), a.offer, tuple(a.wrap_ups.items()),
                    a.missed_offers, a.state, a.idle_since, a.work_time, a.work_started)
                   for a in state.agents.values())
    contacts = tuple((c.contact_id, c.state, c.agent_id, c.handle, c.offer_deadline)
                     for c in state.contacts.values())
    stats = tuple(state.statistics(name) for name in state.skills) if math.isfinite(
        state.now) else ()
    return agents, contacts, tuple(state.finished.items()), state.now, stats


class SiteMachine(RuleBasedStateMachine):
    @initialize(skills=st.lists(skill_configs, min_size=1, max_size=3),
                agents=st.lists(st.tuples(
                    st.dictionaries(st.integers(0, 2), st.integers(1, 5), min_size=1),
                    st.sampled_from(CHANNEL_SETS),
                    st.sampled_from(["greatest_need", "skill_level"])),
                    min_size=1, max_size=len(AGENTS)))
    def setup(self, skills, agents):
        skill_list = []
        for name, skill in zip(SKILLS, skills):
            skill_list.append(SkillConfig(
                name, queueing=skill.queueing, agent_selection=skill.agent_selection,
                wrap_up_s=skill.wrap_up_s, offer_timeout_s=skill.offer_timeout_s,
                widen_level=skill.widen_level, widen_after_s=skill.widen_after_s))
        agent_list = []
        for agent_id, (levels, channels, call_selection) in zip(AGENTS, agents):
            own = {skill_list[i % len(skill_list)].name: level for i, level in levels.items()}
            agent_list.append(AgentConfig(agent_id, own, channels=channels,
                                          call_selection=call_selection))
        config = SiteConfig("east", skills=tuple(skill_list), agents=tuple(agent_list),
                            auto_pause_after_misses=2)
        backends = [pyscheduler.Scheduler]
        if _scheduler is not None:
            backends.insert(0, _scheduler.Scheduler)
        self.sites = [SiteState(config, scheduler_factory=factory) for factory in backends]
        self.time = 0.0
        self.arrived = []            # contact ids in arrival order
        self.arrival_seq = {}

    @property
    def site(self) -> SiteState:
        return self.sites[0]

    # ---- applying an event to every backend ------------------------------------------------
    def apply(self, event):
        queued_before = {cid: (c.skill, c.priority.value, c.service_objective_s,
                               c.channel.value, c.arrival_time)
                         for cid, c in self.site.contacts.items()
                         if c.state is ContactState.QUEUED}
        before = snapshot(self.site)
        outcomes = []
        for site in self.sites:
            try:
                outcomes.append(("ok", site.handle(event)))
            except InvalidInput as error:
                outcomes.append(("error", error.field))
        assert all(outcome == outcomes[0] for outcome in outcomes), (event, outcomes)
        kind, result = outcomes[0]
        if kind == "error":
            assert snapshot(self.site) == before, f"rejected {event} changed the state"
            return
        if isinstance(event, ev.ContactArrived):
            self.arrival_seq[event.contact_id] = len(self.arrived)
            self.arrived.append(event.contact_id)
        for action in result:
            if isinstance(action, OfferContact):
                agent = self.site.agents[action.agent_id]
                assert action.skill in agent.config.skills, "offer to an agent lacking the skill"
                assert agent.mode is AgentMode.READY, "offer to an agent not in ready mode"
                assert not agent.wrap_ups, "offer to an agent in wrap_up"
                if action.contact_id in queued_before:
                    self.check_offer_was_best(action, queued_before, event.time)

    def check_offer_was_best(self, offer, queued_before, now):
        config = self.site.agents[offer.agent_id].config

        def rank(contact_id, skill, priority, so, arrival):
            level = config.skills[skill] if config.call_selection is CallSelection.SKILL_LEVEL else 0
            return (level, priority, -((now - arrival) / so), self.arrival_seq[contact_id])

        chosen = queued_before[offer.contact_id]
        chosen_rank = rank(offer.contact_id, *chosen[:3], chosen[4])
        # The reference candidates: every still-queued DQP contact, and only the oldest of
        # each (skill, channel, priority) of a FIFO skill (FIFO ignores SO inside a skill).
        oldest_fifo = {}
        for cid, (skill, priority, so, channel, arrival) in queued_before.items():
            if self.site.skills[skill].queueing is Queueing.FIFO:
                key = (skill, channel, priority)
                if key not in oldest_fifo or self.arrival_seq[cid] < self.arrival_seq[oldest_fifo[key]]:
                    oldest_fifo[key] = cid
        fifo_heads = set(oldest_fifo.values())
        for cid, (skill, priority, so, channel, arrival) in queued_before.items():
            if cid == offer.contact_id or skill not in config.skills:
                continue
            if channel != offer.channel.value:
                continue
            contact = self.site.contacts.get(cid)
            if contact is None or contact.state is not ContactState.QUEUED:
                continue          # taken by another agent in the same event
            skill_config = self.site.skills[skill]
            if skill_config.queueing is Queueing.FIFO and cid not in fifo_heads:
                continue
            if config.skills[skill] > skill_config.widen_level and (
                    now - arrival < skill_config.widen_after_s):
                continue
            other = rank(cid, skill, priority, so, arrival)
            assert not other < chosen_rank, (
                f"{offer.agent_id} took {offer.contact_id} {chosen_rank} while {cid} "
                f"{other} waited")

    # ---- rules ----------------------------------------------------------------------------------
    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 3.0, 7.0, 15.0]))
    def tick(self, dt):
        self.time += dt
        self.apply(ev.Tick(self.time))

    @rule(agent=st.sampled_from(AGENTS))
    def login(self, agent):
        self.apply(ev.AgentLoggedIn(self.time, agent))

    @rule(agent=st.sampled_from(AGENTS))
    def logout(self, agent):
        self.apply(ev.AgentLoggedOut(self.time, agent))

    @rule(agent=st.sampled_from(AGENTS))
    def ready(self, agent):
        self.apply(ev.AgentReady(self.time, agent))

    @rule(agent=st.sampled_from(AGENTS), reason=st.sampled_from(["lunch", "training"]))
    def not_ready(self, agent, reason):
        self.apply(ev.AgentNotReady(self.time, agent, reason))

    @rule(agent=st.sampled_from(AGENTS))
    def wrap_up_done(self, agent):
        self.apply(ev.WrapUpDone(self.time, agent))

    @rule(skill=st.sampled_from(SKILLS + ("nosuch",)),
          priority=st.sampled_from(["top", "high", "medium", "low"]),
          so=st.sampled_from(SERVICE_OBJECTIVES), channel=st.sampled_from(["voice", "chat"]),
          dt=st.sampled_from([0.0, 0.5, 2.0]), waited=st.sampled_from([None, None, 0.0, 7.5]))
    def arrive(self, skill, priority, so, channel, dt, waited=None):
        self.time += dt
        # waited: interflowed here from another site after that wait there.
        moved = {} if waited is None else {"entry_site": "elsewhere",
                                           "first_arrival": self.time - waited}
        self.apply(ev.ContactArrived(self.time, f"c{len(self.arrived)}", skill, priority, so,
                                     channel, **moved))

    @rule(data=st.data(), kind=st.sampled_from([
        ev.OfferAccepted, ev.ContactConnected, ev.OfferRejected, ev.OfferTimedOut,
        ev.ContactEnded, ev.ContactAbandoned]))
    def contact_event(self, data, kind):
        if not self.arrived:
            return
        contact_id = data.draw(st.sampled_from(self.arrived))
        self.apply(kind(self.time, contact_id))

    @rule(data=st.data())
    def end_a_connected_contact(self, data):
        connected = [cid for cid, c in self.site.contacts.items()
                     if c.state is ContactState.CONNECTED]
        if connected:
            self.apply(ev.ContactEnded(self.time, data.draw(st.sampled_from(connected))))

    @rule(data=st.data())
    def accept_an_offer(self, data):
        offered = [cid for cid, c in self.site.contacts.items() if c.state is ContactState.OFFERED]
        if offered:
            self.apply(ev.OfferAccepted(self.time, data.draw(st.sampled_from(offered))))

    # ---- invariants ---------------------------------------------------------------------------
    @invariant()
    def valid(self):
        if not hasattr(self, "sites"):
            return
        for site in self.sites:
            site.validate()

    @invariant()
    def no_contact_lost(self):
        if not hasattr(self, "sites"):
            return
        for site in self.sites:
            assert set(self.arrived) == set(site.contacts) | set(site.finished)
            assert len(site.contacts) + len(site.finished) == len(self.arrived)

    @invariant()
    def no_idle_agent_beside_waiting_work(self):
        if not hasattr(self, "sites"):
            return
        site = self.site
        for agent in site.agents.values():
            mask = site._channels_mask(agent)
            if not mask:
                continue
            for contact in site.contacts.values():
                if contact.state is not ContactState.QUEUED or contact.skill not in agent.config.skills:
                    continue
                if not mask >> contact.channel.value & 1:
                    continue
                skill = site.skills[contact.skill]
                if agent.config.skills[contact.skill] > skill.widen_level:
                    continue      # widened agents are matched on Tick only
                raise AssertionError(
                    f"{agent.config.agent_id} is available while {contact.contact_id} waits")


SiteMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("VCC_HYPOTHESIS_EXAMPLES", "120")),
    stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestSiteMachine = SiteMachine.TestCase


def test_reference_catches_a_wrong_offer():
    """The brute-force reference is not vacuous: a deliberately wrong pick fails it."""
    machine = SiteMachine()
    machine.setup(skills=[SkillConfig("x")], agents=[({0: 1}, {"voice": 1}, "greatest_need")])
    machine.arrive("billing", "low", 20.0, "voice", 0.0)
    machine.arrive("billing", "top", 20.0, "voice", 0.0)
    queued = {cid: (c.skill, c.priority.value, c.service_objective_s, c.channel.value,
                    c.arrival_time) for cid, c in machine.site.contacts.items()}
    wrong = OfferContact("c0", "a1", "billing", machine.site.contacts["c0"].channel, 8.0, {})
    machine.site.agents["a1"].mode = AgentMode.READY
    with pytest.raises(AssertionError, match="took c0"):
        machine.check_offer_was_best(wrong, queued, 1.0)

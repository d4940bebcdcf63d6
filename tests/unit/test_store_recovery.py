"""Recovery: last snapshot + journal replay gives exactly the state a site had (hypothesis).

A state machine drives a live SiteState with random events and live configuration changes
(the generators of test_site_machine.py), journaling every accepted entry and snapshotting
now and then. At random points it "crashes": a site is recovered from the database alone and
must equal the live one (canonical dump: agents, contacts, queue order, timers, rolling
statistics, real-time statistics and published status). The recovered site then stays in
the run: every later event goes to the live site and to each recovered one, and their
actions (or the refusing field) must be identical, so decisions after recovery are those the
site would have made had it never crashed. Recoveries alternate between the scheduler
backends (the twins decide identically).
"""

import copy
import math
import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from test_site_machine import AGENTS, CHANNEL_SETS, SERVICE_OBJECTIVES, SKILLS, skill_configs

import native
from cluster.store import open_engine
from cluster.store.codec import ConfigChange, apply
from cluster.store.journal import Journal
from cluster.store.models import Base
from cluster.store.snapshots import RecoveryError, recover_site
from native import pyscheduler
from sites import events as ev
from sites.errors import InvalidInput
from sites.model import AgentConfig, Channel, SiteConfig, SkillConfig
from sites.state import SiteState

SITE = "east"
EXTRA_AGENTS = ("a6", "a7")


def canonical(state: SiteState):
    """Everything observable of a site, scheduler handles and sequence numbers excluded:
    its snapshot, real-time statistics and status, and what the scheduler would choose now
    (the agent each skill and channel would take, plain and widened, and the contact each
    available agent would take), which exposes its agent keys and queue order."""
    dump = state.snapshot()
    if not math.isfinite(state.now):
        return dump
    dump["statistics"] = [state.statistics(name) for name in state.skills]
    dump["status"] = [state.status(name, channel) for name in state.skills
                      for channel in (Channel.VOICE, Channel.CHAT)]
    scheduler = state.scheduler
    agent_ids = {agent.index: agent_id for agent_id, agent in state.agents.items()}
    contact_ids = {contact.handle: contact.contact_id for contact in state.contacts.values()}
    dump["choices"] = [
        (name, channel.name, widened,
         agent_ids.get(scheduler.best_agent(state._skill_index[name], channel.value, widened)))
        for name in state.skills for channel in Channel for widened in (False, True)]
    dump["takes"] = [(agent_id, contact_ids.get(scheduler.best_contact(agent.index, state.now)))
                     for agent_id, agent in state.agents.items() if agent.channels_mask]
    return dump


def memory_engine():
    engine = open_engine("sqlite://")
    Base.metadata.create_all(engine)      # the migrations have their own test
    return engine


class RecoveryMachine(RuleBasedStateMachine):
    @initialize(skills=st.lists(skill_configs, min_size=1, max_size=3),
                agents=st.lists(st.tuples(
                    st.dictionaries(st.integers(0, 2), st.integers(1, 5), min_size=1),
                    st.sampled_from(CHANNEL_SETS),
                    st.sampled_from(["greatest_need", "skill_level"])),
                    min_size=3, max_size=len(AGENTS)),   # agent selection needs a choice
                snapshot_every=st.sampled_from([3, 10, 10 ** 6]),
                initial_snapshot=st.booleans())
    def setup(self, skills, agents, snapshot_every, initial_snapshot):
        self.skill_list = [SkillConfig(
            name, queueing=skill.queueing, agent_selection=skill.agent_selection,
            wrap_up_s=skill.wrap_up_s, offer_timeout_s=skill.offer_timeout_s,
            widen_level=skill.widen_level, widen_after_s=skill.widen_after_s)
            for name, skill in zip(SKILLS, skills)]
        agent_list = [AgentConfig(agent_id, {self.skill_list[i % len(self.skill_list)].name: level
                                             for i, level in levels.items()},
                                  channels=channels, call_selection=call_selection)
                      for agent_id, (levels, channels, call_selection) in zip(AGENTS, agents)]
        self.config = SiteConfig(SITE, skills=tuple(self.skill_list), agents=tuple(agent_list),
                                 auto_pause_after_misses=2)
        self.engine = memory_engine()
        self.journal = Journal(self.engine, snapshot_every=snapshot_every)
        self.live = SiteState(self.config)
        if initial_snapshot:
            self.journal.snapshot_now(SITE, self.live)
        self.recovered = []          # sites recovered at crash points, fed in lockstep
        self.time = 0.0
        self.arrived = 0
        self.crashes = 0
        for agent in agent_list:     # a staffed site from the start: decisions to make
            self.apply(ev.AgentLoggedIn(self.time, agent.agent_id))
            self.apply(ev.AgentReady(self.time, agent.agent_id))

    def teardown(self):
        if hasattr(self, "journal"):
            self.journal.close()
            self.engine.dispose()

    # ---- one entry to every copy of the site ---------------------------------------------
    def apply(self, entry):
        outcomes = []
        for state in [self.live] + self.recovered:
            try:
                outcomes.append(("ok", apply(state, copy.copy(entry))))
            except InvalidInput as error:
                outcomes.append(("error", error.field))
        assert all(outcome == outcomes[0] for outcome in outcomes), (entry, outcomes)
        if outcomes[0][0] == "ok":
            self.journal.append_now(SITE, [entry])
            if self.journal.snapshot_due(SITE):
                self.journal.snapshot_now(SITE, self.live)

    # ---- events (as test_site_machine) ------------------------------------------------------
    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 3.0, 7.0, 15.0]))
    def tick(self, dt):
        self.time += dt
        self.apply(ev.Tick(self.time))

    @rule(agent=st.sampled_from(AGENTS + EXTRA_AGENTS),
          kind=st.sampled_from([ev.AgentLoggedIn, ev.AgentLoggedOut, ev.AgentReady,
                                ev.WrapUpDone]))
    def agent_event(self, agent, kind):
        self.apply(kind(self.time, agent))

    @rule(data=st.data())
    def staff(self, data):
        """Login and ready in one step: enough agents must be available at once for agent
        selection (round robin, least occupied ...) to matter after a recovery."""
        agent = data.draw(st.sampled_from(sorted(self.live.agents) + ["nobody"]))
        self.apply(ev.AgentLoggedIn(self.time, agent))
        self.apply(ev.AgentReady(self.time, agent))

    @rule(agent=st.sampled_from(AGENTS), reason=st.sampled_from(["lunch", "training"]))
    def not_ready(self, agent, reason):
        self.apply(ev.AgentNotReady(self.time, agent, reason))

    @rule(data=st.data(), priority=st.sampled_from(["top", "high", "medium", "low"]),
          so=st.sampled_from(SERVICE_OBJECTIVES + (None,)), channel=st.sampled_from(["voice", "chat"]),
          dt=st.sampled_from([0.0, 0.5, 2.0]))
    def arrive(self, data, priority, so, channel, dt):
        self.time += dt
        skill = data.draw(st.sampled_from(sorted(self.live.skills) + ["nosuch"]))
        # Interflowed here after a wait at another site, or not.
        waited = data.draw(st.sampled_from([None, None, 0.0, 4.0]))
        moved = {} if waited is None else {"entry_site": "west",
                                           "first_arrival": self.time - waited}
        self.apply(ev.ContactArrived(self.time, f"c{self.arrived}", skill, priority, so, channel,
                                     {"ani": "+15550001", "account": str(self.arrived)},
                                     **moved))
        self.arrived += 1

    @rule(data=st.data(), kind=st.sampled_from([
        ev.OfferAccepted, ev.ContactConnected, ev.OfferRejected, ev.OfferTimedOut,
        ev.ContactEnded, ev.ContactAbandoned, ev.ContactInterflowed]))
    def contact_event(self, data, kind):
        if not self.arrived:
            return
        contact = f"c{data.draw(st.integers(0, self.arrived - 1))}"
        if kind is ev.ContactInterflowed:
            self.apply(kind(self.time, contact, data.draw(st.sampled_from(["west", SITE]))))
        else:
            self.apply(kind(self.time, contact))

    @rule(data=st.data())
    def move_work_on(self, data):
        """Accept every open offer and end some connected contacts: random contact events
        rarely hit one, and agents must free up for agent selection to matter."""
        for contact_id, contact in list(self.live.contacts.items()):
            if contact_id not in self.live.contacts:
                continue
            if contact.state.value == "offered":
                self.apply(ev.OfferAccepted(self.time, contact_id))
            elif contact.state.value == "connected" and data.draw(st.booleans()):
                self.apply(ev.ContactEnded(self.time, contact_id))

    @rule()
    def quiet_spell(self):
        """Everyone finishes their work: many agents are available at once, which is when
        agent selection keys (round robin order, occupancy, idle time) decide."""
        for _ in range(20):     # bounded: each round finishes what the last one offered
            live = self.live
            offered = [cid for cid, c in live.contacts.items() if c.state.value == "offered"]
            connected = [cid for cid, c in live.contacts.items() if c.state.value == "connected"]
            wrapping = [aid for aid, a in live.agents.items() if a.wrap_ups]
            if not (offered or connected or wrapping):
                return
            for contact_id in offered:
                self.apply(ev.OfferAccepted(self.time, contact_id))
            self.time += 1.0
            for contact_id in connected + offered:
                self.apply(ev.ContactEnded(self.time, contact_id))
            for agent_id in wrapping:
                self.apply(ev.WrapUpDone(self.time, agent_id))

    # ---- live configuration changes -----------------------------------------------------------
    @rule(data=st.data(), change=st.sampled_from(
        ["add_agent", "replace_agent", "remove_agent", "update_skill", "add_skill",
         "remove_skill"]))
    def change_configuration(self, data, change):
        if change.endswith("agent"):
            agent = data.draw(st.sampled_from(AGENTS + EXTRA_AGENTS))
            skill = data.draw(st.sampled_from(self.skill_list)).name
            config = AgentConfig(agent, {skill: data.draw(st.integers(1, 4))},
                                 channels={"voice": 1, "chat": 2})
            entry = {"add_agent": ConfigChange.add_agent(config),
                     "replace_agent": ConfigChange.replace_agent(config),
                     "remove_agent": ConfigChange.remove_agent(agent)}[change]
        elif change == "update_skill":
            config = data.draw(st.sampled_from(self.skill_list))
            entry = ConfigChange.update_skill(SkillConfig(
                config.name, queueing=config.queueing, agent_selection=config.agent_selection,
                widen_level=config.widen_level, widen_after_s=config.widen_after_s,
                sl_threshold_s=data.draw(st.sampled_from([10.0, 30.0])),
                offer_timeout_s=config.offer_timeout_s))
        else:
            skill = data.draw(st.sampled_from(SKILLS + ("extra",)))
            entry = (ConfigChange.add_skill(SkillConfig(skill, agent_selection="round_robin"))
                     if change == "add_skill" else ConfigChange.remove_skill(skill))
        self.apply(entry)

    # ---- crash, recover, compare ------------------------------------------------------------
    @rule(now=st.integers(0, 3))
    def snapshot(self, now):
        if now == 0:      # a quarter of the time: snapshots should not follow every step
            self.journal.snapshot_now(SITE, self.live)

    @rule(now=st.integers(0, 3))
    def crash_and_recover(self, now):
        if now:
            return
        self.crashes += 1
        factory = pyscheduler.Scheduler if self.crashes % 2 else native.Scheduler
        recovered = recover_site(self.engine, SITE, self.config, scheduler_factory=factory)
        assert recovered.seq == self.journal.last_seq(SITE)
        recovered.state.validate()
        assert canonical(recovered.state) == canonical(self.live)
        self.recovered = (self.recovered + [recovered.state])[-2:]

    @invariant()
    def copies_agree(self):
        if not hasattr(self, "live"):
            return
        self.live.validate()
        for state in self.recovered:
            state.validate()
            assert canonical(state) == canonical(self.live)


RecoveryMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("VCC_HYPOTHESIS_EXAMPLES", "120")),
    stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestRecovery = RecoveryMachine.TestCase


def test_the_comparison_is_not_vacuous():
    """A recovered site that missed one entry differs from the live one."""
    engine = memory_engine()
    config = SiteConfig(SITE, skills=(SkillConfig("billing"),),
                        agents=(AgentConfig("a1", {"billing": 1}),))
    journal = Journal(engine)
    live = SiteState(config)
    entries = [ev.AgentLoggedIn(0.0, "a1"), ev.AgentReady(1.0, "a1"),
               ev.ContactArrived(2.0, "c1", "billing"), ev.OfferAccepted(3.0, "c1")]
    for entry in entries:
        live.handle(entry)
    journal.append_now(SITE, entries[:-1])
    assert canonical(recover_site(engine, SITE, config).state) != canonical(live)
    journal.append_now(SITE, entries[-1:])
    assert canonical(recover_site(engine, SITE, config).state) == canonical(live)
    journal.close()


def test_recovery_needs_a_start():
    engine = memory_engine()
    with pytest.raises(RecoveryError, match="site 'east': no snapshot and no initial"):
        recover_site(engine, SITE)


def test_a_refused_entry_names_its_place():
    engine = memory_engine()
    journal = Journal(engine)
    journal.append_now(SITE, [ev.Tick(5.0), ev.Tick(1.0)])     # time going backwards
    journal.close()
    with pytest.raises(RecoveryError, match=r"journal entry 2 \(Tick\) is refused by the routing core on replay"):
        recover_site(engine, SITE, SiteConfig(SITE, skills=(SkillConfig("billing"),)))


# ---- what the scheduler cannot report back: each one, on purpose -----------------------------
def recover_and_continue(config, before, after):
    """Apply `before` to a live site, journal and snapshot it, recover a copy from the
    snapshot, apply `after` to both: they must be equal and decide identically."""
    engine = memory_engine()
    journal = Journal(engine)
    live = SiteState(config)
    for entry in before:
        apply(live, entry)
    journal.append_now(SITE, before)
    journal.snapshot_now(SITE, live)
    outputs = {}
    for factory in (native.Scheduler, pyscheduler.Scheduler):
        copy_ = recover_site(engine, SITE, config, scheduler_factory=factory).state
        assert canonical(copy_) == canonical(live)
        outputs[factory] = []
        for entry in after:
            try:
                outputs[factory].append(apply(copy_, copy.copy(entry)))
            except InvalidInput as error:
                outputs[factory].append(error.field)
    expected = []
    for entry in after:
        try:
            expected.append(apply(live, copy.copy(entry)))
        except InvalidInput as error:
            expected.append(error.field)
    journal.close()
    for output in outputs.values():
        assert output == expected
    return expected


def three_agents(selection, **agent_options):
    return SiteConfig(SITE, skills=(SkillConfig("billing", agent_selection=selection),),
                      agents=tuple(AgentConfig(agent, {"billing": 1}, **agent_options)
                                   for agent in ("a1", "a2", "a3")))


def staffed(*agents, time=0.0):
    return [event for agent in agents
            for event in (ev.AgentLoggedIn(time, agent), ev.AgentReady(time, agent))]


def test_round_robin_order_survives():
    before = staffed("a1", "a2", "a3") + [
        ev.ContactArrived(1.0, "c1", "billing"), ev.OfferAccepted(1.0, "c1"),
        ev.ContactEnded(2.0, "c1")]
    after = [ev.ContactArrived(3.0, "c2", "billing")]
    out = recover_and_continue(three_agents("round_robin"), before, after)
    assert out[0][0].agent_id == "a2"     # a1 had the last one


def test_least_occupied_keys_survive():
    """When they last became available a1 had worked 10 of 10 s and a2 2 of 11 s: a2 is
    less occupied although it has idled for less time. The scheduler holds those figures
    from that moment; the recovered one must too."""
    before = staffed("a1", "a2") + [
        ev.ContactArrived(0.0, "c1", "billing"), ev.OfferAccepted(0.0, "c1"),
        ev.ContactArrived(9.0, "c2", "billing"), ev.OfferAccepted(9.0, "c2"),
        ev.ContactEnded(10.0, "c1"), ev.ContactEnded(11.0, "c2"), ev.Tick(20.0)]
    after = [ev.ContactArrived(21.0, "c3", "billing")]
    out = recover_and_continue(three_agents("least_occupied"), before, after)
    assert out[0][0].agent_id == "a2"


def test_the_seventeenth_service_objective_class_is_still_refused():
    before = [ev.ContactArrived(0.0, f"c{so}", "billing", "medium", float(so)) for so in
              range(1, 17)] + [ev.ContactAbandoned(1.0, f"c{so}") for so in range(1, 17)]
    after = [ev.ContactArrived(2.0, "c17", "billing", "medium", 17.0),
             ev.ContactArrived(2.0, "c18", "billing", "medium", 16.0)]
    out = recover_and_continue(three_agents("longest_idle"), before, after)
    assert out[0] == "service_objective_s" and out[1][0].position == 1


def test_a_withdrawn_offer_returns_to_its_place():
    """c1 is offered when the site crashes; rejected after recovery, it goes back ahead of
    the contacts that arrived after it (never to the tail)."""
    config = SiteConfig(SITE, skills=(SkillConfig("billing", queueing="fifo"),),
                        agents=(AgentConfig("a1", {"billing": 1}),
                                AgentConfig("a2", {"billing": 1})),
                        auto_pause_after_misses=1)     # a1 pauses: c1 waits for a2
    before = [ev.ContactArrived(0.0, "c1", "billing"), ev.ContactArrived(1.0, "c2", "billing"),
              ev.ContactArrived(2.0, "c3", "billing")] + staffed("a1", time=2.0)
    after = [ev.OfferRejected(3.0, "c1"), *staffed("a2", time=3.0)]
    out = recover_and_continue(config, before, after)
    assert [action.contact_id for action in out[2] if type(action).__name__ == "OfferContact"] \
        == ["c1"]

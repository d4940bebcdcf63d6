"""The pure pacer of outbound campaigns (sites/dialer, SPEC §6): modes, estimates, the
abandon budget and its hard guard, determinism."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sites.dialer import campaign as campaign_module
from sites.dialer import events as dev
from sites.dialer.adaptive import AdaptiveDialLevel
from sites.dialer.call_list import CallList
from sites.dialer.campaign import Campaign
from sites.dialer.config import CampaignConfig
from sites.dialer.decisions import Connect, Dial, Drop, PlayMessage, Preview, Release
from sites.dialer.estimates import Estimates
from sites.dialer.events import CallOutcome
from sites.dialer.ledger import AbandonLedger
from sites.dialer.snapshot import Activity, AgentsSnapshot, AgentView
from sites.errors import InvalidInput

LIVE = CallOutcome.LIVE


def agents(idle=0, talking=0, since=0.0, wrapping=(), prefix=""):
    views = [AgentView(f"{prefix}a{n}", Activity.IDLE) for n in range(idle)]
    views += [AgentView(f"{prefix}t{n}", Activity.TALKING, since) for n in range(talking)]
    views += [AgentView(f"{prefix}w{n}", Activity.WRAP_UP, until=until)
              for n, until in enumerate(wrapping)]
    return AgentsSnapshot(tuple(views))


def idle_agents(*agent_ids) -> AgentsSnapshot:
    return AgentsSnapshot(tuple(AgentView(agent, Activity.IDLE) for agent in agent_ids))


def make(mode="predictive", size=100_000, **fields) -> Campaign:
    return Campaign(CampaignConfig("c", "sales", mode=mode, **fields),
                    CallList.numbered("c", size))


def dials(decisions) -> list:
    assert all(type(decision) is Dial for decision in decisions), decisions
    return decisions


# ---- modes ------------------------------------------------------------------------------------
def test_progressive_dials_one_call_per_idle_agent():
    campaign = make("progressive")
    first = dials(campaign.handle(dev.Pace(0.0, agents(idle=3, talking=2))))
    assert sorted(dial.agent_id for dial in first) == ["a0", "a1", "a2"]
    assert len({dial.call_id for dial in first}) == 3
    assert all(dial.ring_timeout_s == 15.0 for dial in first)
    # Each idle agent has its call ringing: nothing more, however long it waits.
    assert campaign.handle(dev.Pace(1.0, agents(idle=3, talking=2))) == []
    # Nobody answered one: its agent gets the next call.
    campaign.handle(dev.CallProgress(15.0, first[0].call_id, CallOutcome.NO_ANSWER))
    again = dials(campaign.handle(dev.Pace(15.0, agents(idle=3, talking=2))))
    assert [dial.agent_id for dial in again] == [first[0].agent_id]
    # Talking agents about to free up get nothing dialled ahead of them.
    assert campaign.handle(dev.Pace(16.0, agents(idle=0, talking=50, prefix="x"))) == []
    assert campaign.next_pace_at(16.0) is None


def test_progressive_counts_live_answers_waiting_for_an_agent():
    campaign = make("progressive")
    calls = dials(campaign.handle(dev.Pace(0.0, agents(idle=2))))
    campaign.handle(dev.CallProgress(8.0, calls[0].call_id, LIVE))
    # Answered live, not connected yet: it takes one of the idle agents.
    assert campaign.handle(dev.Pace(8.0, agents(idle=2))) == []
    campaign.handle(dev.CallConnected(8.0, calls[0].call_id))
    assert campaign.handle(dev.Pace(8.0, agents(idle=1, talking=1, since=8.0))) == []


def test_preview_holds_the_agent_and_dials_the_record_for_it():
    campaign = make("preview", size=3)
    previews = campaign.handle(dev.Pace(0.0, agents(idle=2)))
    assert previews == [Preview("a0", "c-0"), Preview("a1", "c-1")]
    # Held agents (not ready at the site meanwhile) get no second record.
    assert campaign.handle(dev.Pace(1.0, agents(idle=0))) == []
    (dial,) = campaign.handle(dev.PreviewDone(10.0, "a0"))
    assert (dial.record_id, dial.agent_id) == ("c-0", "a0")
    # Not answered: the agent previews the next record; at the end of the list, released.
    assert campaign.handle(dev.CallProgress(25.0, dial.call_id, CallOutcome.BUSY)) == [
        Preview("a0", "c-2")]
    assert campaign.handle(dev.PreviewDone(26.0, "a1", dial=False)) == [Release("a1")]
    with pytest.raises(InvalidInput) as error:
        campaign.handle(dev.PreviewDone(27.0, "a1"))
    assert error.value.field == "agent_id"


def test_an_agent_that_logs_out_lets_go_of_its_preview_and_of_its_call():
    campaign = make("preview", size=4)
    assert campaign.handle(dev.Pace(0.0, agents(idle=2))) == [Preview("a0", "c-0"),
                                                              Preview("a1", "c-1")]
    assert campaign.handle(dev.AgentGone(5.0, "a0")) == []
    assert campaign.in_preview() == [("a1", "c-1")]
    # Its record is previewed next, by another agent; the agent gone gets nothing.
    assert campaign.handle(dev.Pace(6.0, idle_agents("a1", "a2"))) == [Preview("a2", "c-0")]
    with pytest.raises(InvalidInput):
        campaign.handle(dev.PreviewDone(7.0, "a0"))
    # An agent whose call rings logs out: the call goes on, for any agent of the skill;
    # logged in again and previewing another record, the call's end leaves that alone.
    (dial,) = campaign.handle(dev.PreviewDone(8.0, "a1"))
    assert campaign.handle(dev.AgentGone(9.0, "a1")) == []
    assert campaign.handle(dev.Pace(10.0, idle_agents("a1"))) == [Preview("a1", "c-2")]
    assert campaign.handle(dev.CallProgress(12.0, dial.call_id, LIVE)) == [
        Connect(dial.call_id, "sales", None, 2.0)]
    assert ("a1", "c-2") in campaign.in_preview()
    assert campaign.handle(dev.AgentGone(13.0, "a9")) == []     # held by nobody: nothing


def test_a_stopped_campaign_dials_nothing_more():
    campaign = make("progressive")
    (call,) = campaign.handle(dev.Pace(0.0, agents(idle=1)))
    assert campaign.handle(dev.Stop(5.0)) == []
    campaign.handle(dev.CallProgress(15.0, call.call_id, CallOutcome.NO_ANSWER))
    assert campaign.handle(dev.Pace(15.0, agents(idle=5))) == []


def test_events_about_unknown_or_finished_calls_are_refused_unchanged():
    campaign = make("progressive")
    (call,) = campaign.handle(dev.Pace(0.0, agents(idle=1)))
    with pytest.raises(InvalidInput):
        campaign.handle(dev.CallConnected(1.0, call.call_id))      # not answered yet
    with pytest.raises(InvalidInput):
        campaign.handle(dev.CallProgress(1.0, "nope", LIVE))
    campaign.handle(dev.Pace(5.0, agents(idle=1)))
    with pytest.raises(InvalidInput) as error:
        campaign.handle(dev.CallProgress(4.0, call.call_id, LIVE))     # before the last event
    assert error.value.field == "time"
    assert campaign.ringing == {call.call_id: 0.0}


def test_what_becomes_of_each_answer_is_a_decision_the_host_carries_out():
    """AMD on: the PBX is told to detect machines, a machine is hung up on; a live answer is
    handed to an agent within the 2 s limit; an abandoned one hears the recorded message."""
    campaign = make("progressive", amd_enabled=True)
    machine, live, late = dials(campaign.handle(dev.Pace(0.0, agents(idle=3))))
    assert machine.amd and live.amd
    assert campaign.handle(dev.CallProgress(5.0, machine.call_id, CallOutcome.MACHINE)) == [
        Drop(machine.call_id)]
    assert campaign.handle(dev.CallProgress(6.0, live.call_id, LIVE)) == [
        Connect(live.call_id, "sales", live.agent_id, 2.0)]
    campaign.handle(dev.CallProgress(7.0, late.call_id, LIVE))
    assert campaign.handle(dev.CallAbandoned(9.0, late.call_id)) == [
        PlayMessage(late.call_id, "abandon_message")]
    # AMD off: no detection asked for; every answer goes to an agent (a machine gets a
    # message from the agent, who reports it when the call ends).
    off = make("progressive")
    (call,) = dials(off.handle(dev.Pace(0.0, agents(idle=1))))
    assert not call.amd
    assert off.handle(dev.CallProgress(5.0, call.call_id, LIVE)) == [
        Connect(call.call_id, "sales", "a0", 2.0)]
    off.handle(dev.CallConnected(5.5, call.call_id))
    assert off.handle(dev.CallEnded(35.5, call.call_id, machine=True)) == []
    assert off.figures()["machines"] == 1 and off.figures()["live_answers"] == 0


# ---- the hard guard -------------------------------------------------------------------------
def live_answers(campaign, count, after_s=8.0) -> float:
    """`count` calls answered live `after_s` after the dial, connected and ended (one idle
    agent at a time; with AMD off, the default, a call counts as live once its agent says it
    was a person), from the campaign's last event on; the time after them."""
    now = max(0.0, campaign.now)
    for _ in range(count):
        calls = campaign.handle(dev.Pace(now, agents(idle=1, prefix="live")))
        now += after_s
        for call in calls:
            campaign.handle(dev.CallProgress(now, call.call_id, LIVE))
            campaign.handle(dev.CallConnected(now, call.call_id))
            campaign.handle(dev.CallEnded(now, call.call_id))
    return now


class Greedy:
    """An outlook that wants every call it may: what is left to stop it is the guard."""
    def __init__(self, *args):
        pass

    def largest_batch(self, threshold, most):
        return most


def test_predictive_dials_nothing_ahead_at_the_start_of_a_shift(monkeypatch):
    monkeypatch.setattr(campaign_module, "Outlook", Greedy)
    campaign = make()
    # No live answer yet: no abandon may come, so only the idle agents get calls.
    assert len(dials(campaign.handle(dev.Pace(0.0, agents(idle=2, talking=40))))) == 2
    assert campaign.handle(dev.Pace(1.0, agents(idle=2, talking=40))) == []
    assert campaign.ledger.budget(1.0) == 0


def test_predictive_dials_ahead_only_within_the_budget(monkeypatch):
    monkeypatch.setattr(campaign_module, "Outlook", Greedy)
    campaign = make()
    now = live_answers(campaign, 33)
    assert campaign.handle(dev.Pace(now, agents(talking=40))) == []    # 3 % of 33 < 1
    now = live_answers(campaign, 1)                                    # 34: one abandon
    (ahead,) = dials(campaign.handle(dev.Pace(now, agents(talking=40))))
    assert campaign.handle(dev.Pace(now + 1, agents(talking=40))) == []
    campaign.handle(dev.CallProgress(now + 8, ahead.call_id, LIVE))
    campaign.handle(dev.CallAbandoned(now + 10, ahead.call_id))
    assert campaign.ledger.lives == 35 and campaign.ledger.abandons == 1
    assert campaign.ledger.budget(now + 10) == 0
    assert campaign.handle(dev.Pace(now + 10, agents(talking=40))) == []
    assert campaign.figures()["max_window_abandon_pct"] <= 3.0


def test_the_model_dials_ahead_of_agents_about_to_free_up():
    campaign = make()
    now = live_answers(campaign, 2000)
    # Agents whose talk ends any second (after-call work ending in 3 s): worth calls ahead.
    ahead = dials(campaign.handle(dev.Pace(now, agents(wrapping=[now + 3.0] * 20))))
    assert 5 <= len(ahead) <= 20 * 3
    # Nobody about to free up: nothing.
    fresh = make()
    now = live_answers(fresh, 2000)
    assert fresh.handle(dev.Pace(now, agents(wrapping=[now + 10_000.0] * 20))) == []


class World:
    """A center around a campaign that keeps the guard's assumption: a live answer with an
    agent idle is connected at once. Everything else (outcomes, when talks end, when
    waiting answers are abandoned) is the test's to choose."""

    def __init__(self, campaign: Campaign, agent_count: int):
        self.campaign = campaign
        self.now = 0.0
        self.idle = [f"a{n}" for n in range(agent_count)]
        self.talking: dict = {}         # agent -> (since, call id, machine)
        self.ringing: list = []
        self.waiting: list = []
        self.decisions: list = []

    def snapshot(self):
        views = [AgentView(agent, Activity.IDLE) for agent in self.idle]
        views += [AgentView(agent, Activity.TALKING, since)
                  for agent, (since, _, _) in self.talking.items()]
        return AgentsSnapshot(tuple(views))

    def send(self, event):
        decisions = self.campaign.handle(event)
        self.decisions.extend(decisions)
        self.ringing.extend(decision.call_id for decision in decisions
                            if type(decision) is Dial)

    def step(self, action: str, number: int, flag: bool):
        campaign = self.campaign
        if action == "pace":
            self.send(dev.Pace(self.now, self.snapshot()))
        elif action == "answer" and self.ringing:
            call = self.ringing.pop(number % len(self.ringing))
            outcome = LIVE if flag else (CallOutcome.MACHINE, CallOutcome.BUSY,
                                         CallOutcome.NO_ANSWER)[number % 3]
            self.send(dev.CallProgress(self.now, call, outcome))
            if outcome is LIVE:
                self.waiting.append(call)
                self._connect()
        elif action == "free" and self.talking:
            agent = sorted(self.talking)[number % len(self.talking)]
            _, call, machine = self.talking.pop(agent)
            self.send(dev.CallEnded(self.now, call, machine=machine and flag))
            self.idle.append(agent)
            self._connect()
        elif action == "expire":
            self.now += campaign.config.connect_within_s
            for call in self.waiting:
                self.send(dev.CallAbandoned(self.now, call))
            self.waiting.clear()
        elif action == "wait":
            self.now += number / 10.0

    def _connect(self):
        while self.waiting and self.idle:
            call = self.waiting.pop(0)
            agent = self.idle.pop(0)
            self.send(dev.CallConnected(self.now, call))
            self.talking[agent] = (self.now, call, True)


ACTIONS = st.lists(st.tuples(st.sampled_from(["pace", "answer", "answer", "free", "expire",
                                              "wait"]),
                             st.integers(0, 1000), st.booleans()), min_size=50, max_size=400)


@settings(max_examples=150, deadline=None)
@given(ACTIONS, st.integers(1, 12), st.sampled_from([1.0, 3.0, 10.0]),
       st.sampled_from(["greedy", "model", "adaptive"]),
       st.sampled_from([(True, "30d", 0.0), (True, "24h", 0.005), (False, "24h", 0.0)]),
       st.sampled_from([0, 0, 40, 300]))
def test_the_guard_holds_for_any_sequence_of_events(actions, agent_count, limit, pacing, amd,
                                                     earlier_lives):
    """From the start of a shift, or after some live answers (a budget to spend), whatever
    the pacing wants (greedy: every call it may), whatever the calls do."""
    enabled, window, false_positive = amd
    campaign = Campaign(CampaignConfig(
        "c", "sales", abandon_limit_pct=limit, abandon_window=window, amd_enabled=enabled,
        amd_false_positive=false_positive, pacing="model" if pacing == "greedy" else pacing),
        CallList.numbered("c", 10_000))
    world = World(campaign, agent_count)
    world.now = live_answers(campaign, earlier_lives)
    original = campaign_module.Outlook
    if pacing == "greedy":
        campaign_module.Outlook = Greedy
    try:
        for action in actions:
            world.step(*action)
            ledger = campaign.ledger
            assert ledger.abandons_total <= math.floor(ledger.allowed * ledger.lives_total)
            assert ledger.budget(world.now) >= 0
            assert ledger.max_pct <= limit + 1e-9
    finally:
        campaign_module.Outlook = original


def test_same_events_give_the_same_decisions():
    def run():
        rng = random.Random(7)
        world = World(make(pacing="model"), 15)
        for _ in range(3000):
            world.step(rng.choice(["pace", "answer", "answer", "free", "expire", "wait"]),
                       rng.randrange(1000), rng.random() < 0.4)
        return world.decisions
    first, second = run(), run()
    assert first == second and len(first) > 100


# ---- what it learns -----------------------------------------------------------------------------
def test_estimates_converge_to_what_the_calls_do():
    rng = random.Random(3)
    estimates = Estimates(15.0, 180.0, 2.0)
    shares = [(LIVE, 0.30), (CallOutcome.MACHINE, 0.15), (CallOutcome.BUSY, 0.10),
              (CallOutcome.NO_ANSWER, 0.45)]
    mu, sigma = math.log(9.0) - 0.125, 0.5
    delays = []
    for _ in range(6000):
        draw = rng.random()
        for outcome, share in shares:
            if draw < share:
                break
            draw -= share
        if outcome in (LIVE, CallOutcome.MACHINE):
            delay = min(15.0, rng.lognormvariate(mu, sigma))
            if outcome is LIVE:
                delays.append(delay)
        else:
            delay = 3.0 if outcome is CallOutcome.BUSY else 15.0
        estimates.note_outcome(outcome, delay)
    for _ in range(3000):
        estimates.note_talk(rng.expovariate(1 / 200.0))
    model = estimates.model()
    for outcome, share in shares:
        assert model.shares[outcome] == pytest.approx(share, abs=0.03), outcome
    for t in (5.0, 8.0, 12.0):
        seen = sum(delay <= t for delay in delays) / len(delays)
        assert model.resolved_by(LIVE, t) == pytest.approx(seen, abs=0.03), t
    assert estimates.mean_talk_s() == pytest.approx(200.0, rel=0.06)
    # Memoryless talk: the chance to end in the next 12 s is the same at any age.
    for elapsed in (0.0, 100.0, 300.0):
        assert model.free_in(elapsed, 12.0) == pytest.approx(1 - math.exp(-12 / 200), abs=0.015)


def test_a_campaign_learns_from_its_calls():
    campaign = make("progressive")
    rng = random.Random(5)
    now = 0.0
    for _ in range(1500):
        (call,) = campaign.handle(dev.Pace(now, agents(idle=1)))
        live = rng.random() < 0.4
        campaign.handle(dev.CallProgress(now + 6.0, call.call_id,
                                         LIVE if live else CallOutcome.NO_ANSWER))
        if live:
            campaign.handle(dev.CallConnected(now + 6.0, call.call_id))
            campaign.handle(dev.CallEnded(now + 66.0, call.call_id))
        now += 70.0
    model = campaign.estimates.model()
    assert model.shares[LIVE] == pytest.approx(0.4, abs=0.04)
    assert campaign.estimates.mean_talk_s() == pytest.approx(60.0, rel=0.1)
    assert campaign.figures()["live_answers"] == campaign.counts[LIVE]


# ---- the ledger and the adaptive level ------------------------------------------------------------
def test_the_budget_is_exact_and_the_window_slides():
    ledger = AbandonLedger(Fraction(3, 100), window_s=86_400.0, horizon_s=20.0)
    for second in range(100):
        ledger.note_live(float(second))
    assert ledger.budget(100.0) == 3               # 3 % of 100 is 3 (0.03 * 100 is not)
    for second in range(3):
        ledger.note_abandon(100.0 + second)
    assert ledger.budget(103.0) == 0 and ledger.pct() == 3.0 == ledger.max_pct
    # Live answers about to leave the window pay for nothing still to come...
    assert ledger.budget(86_400.0 - 10.0) < 0
    # ... and once they have left, the window's rate is measured as it rises.
    ledger.advance(86_400.0 + 50.0)
    assert ledger.lives == 49 and ledger.abandons == 3
    assert ledger.max_pct == pytest.approx(100 * 3 / 49)


def test_24h_counts_estimated_false_positives_as_abandons():
    config = CampaignConfig("c", "s", abandon_window="24h", amd_enabled=True,
                            amd_false_positive=0.01)
    ledger = Campaign(config, CallList.numbered("c", 1)).ledger
    for _ in range(1000):
        ledger.note_live(0.0)
    # (A + r L) / ((1 + r) L) <= 3 %, r = 1/99: A <= 1000 x 0.02 / 0.99 = 20.2
    assert ledger.budget(0.0) == 20
    assert ledger.pct() == pytest.approx(1.0)
    with pytest.raises(InvalidInput) as error:
        CampaignConfig("c", "s", abandon_window="24h", amd_enabled=True,
                       amd_false_positive=0.03)
    assert error.value.field == "amd.false_positive"


def test_the_adaptive_level_climbs_while_agents_wait_and_falls_back_on_drops():
    level = AdaptiveDialLevel(2.7, interval_s=15.0)
    now = 0.0
    for _ in range(60):
        level.lines(now, idle=5, talking=20, waiting=0, drop_pct=1.0)
        now += 1.0
    assert level.level > 1.5
    lines = level.lines(now, idle=5, talking=20, waiting=0, drop_pct=1.0)
    assert lines == round(level.level * 25)
    for _ in range(16):
        now += 1.0
        level.lines(now, idle=5, talking=20, waiting=0, drop_pct=2.8)
    assert level.level == 1.0


def test_configuration_errors_name_the_field():
    for fields, field in (({"mode": "robocall"}, "mode"), ({"abandon_limit_pct": 100}, "abandon_limit_pct"),
                          ({"abandon_window": "7d"}, "abandon_window"),
                          ({"ring_timeout_s": 0}, "ring_timeout_s"),
                          ({"amd_false_positive": 1.0}, "amd.false_positive")):
        with pytest.raises(InvalidInput) as error:
            CampaignConfig("c", "s", **fields)
        assert error.value.field == field


# ---- retries, ring time, the 72-hour rule (SPEC §6) -------------------------------------------
def test_a_busy_record_is_tried_again_after_its_delay_up_to_its_attempts():
    from sites.dialer.config import Retry

    campaign = make("progressive", size=2, retries={"busy": Retry(600.0, 3)})
    records = []

    def dial_one(now):
        (dial,) = dials(campaign.handle(dev.Pace(now, agents(idle=1))))
        records.append((now, dial.record_id))
        return dial

    dial = dial_one(0.0)
    campaign.handle(dev.CallProgress(3.0, dial.call_id, CallOutcome.BUSY))
    dial = dial_one(3.0)                                # not due yet: the next fresh record
    campaign.handle(dev.CallProgress(18.0, dial.call_id, CallOutcome.NO_ANSWER))  # no rule
    assert campaign.handle(dev.Pace(18.0, agents(idle=1))) == []        # nothing due
    assert campaign.call_list.next_due() == 603.0 and campaign.call_list.remaining == 1
    for attempt in range(2):                            # attempts 2 and 3 of c-0
        now = 603.0 + attempt * 603.0
        dial = dial_one(now)
        campaign.handle(dev.CallProgress(now + 3.0, dial.call_id, CallOutcome.BUSY))
    assert campaign.call_list.remaining == 0            # 3 attempts: done
    assert [record for _, record in records] == ["c-0", "c-1", "c-0", "c-0"]
    assert campaign.figures()["retries_scheduled"] == 2 and campaign.attempts_of == {}


def test_ring_time_and_the_72_hour_rule_are_kept_by_the_configuration():
    from sites.dialer.config import Retry

    with pytest.raises(InvalidInput, match="ring_timeout_s: must be at least 15"):
        make(ring_timeout_s=10.0)
    with pytest.raises(InvalidInput, match="retries.abandoned.delay_s: an abandoned number"):
        make(retries={"abandoned": Retry(3600.0, 2)})
    make("preview", retries={"abandoned": Retry(3600.0, 2)})        # an agent may
    make(retries={"abandoned": Retry(72 * 3600.0, 2)})
    with pytest.raises(InvalidInput, match="retries.live: not an outcome to retry"):
        make(retries={"live": Retry(60.0, 2)})
    with pytest.raises(InvalidInput, match="retries.busy.max_attempts"):
        make(retries={"busy": Retry(60.0, 1)})

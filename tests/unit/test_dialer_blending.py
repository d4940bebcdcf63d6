"""Blending in the pure pacer (SPEC §6, issue 19 item 5): a campaign whose agents also serve
inbound skills dials only while those keep their service level and nobody waits in them,
leaves inbound the agents Erlang C says it needs, and holds each agent it dials for."""

from __future__ import annotations

import pytest

from sites.dialer import blend
from sites.dialer import events as dev
from sites.dialer.call_list import CallList
from sites.dialer.campaign import Campaign
from sites.dialer.config import CampaignConfig
from sites.dialer.decisions import Connect, Dial, Hold, Release
from sites.dialer.events import CallOutcome
from sites.dialer.snapshot import Activity, AgentsSnapshot, AgentView, InboundSkill
from sites.errors import InvalidInput

# A support line of 270 calls an hour (67.5 in the 900 s window), 240 s AHT, 20 s threshold:
# Erlang C answers 95 % within 20 s with 25 agents (95.4 %; 24 give 92.3 %).
SUPPORT = InboundSkill("support", sl_pct=97.0, queued=0, offered=67, window_s=900.0,
                       aht_s=240.0, sl_threshold_s=20.0)


def snapshot(idle: int, talking: int = 0, inbound=(SUPPORT,)) -> AgentsSnapshot:
    views = [AgentView(f"a{n}", Activity.IDLE) for n in range(idle)]
    views += [AgentView(f"t{n}", Activity.TALKING, 0.0) for n in range(talking)]
    return AgentsSnapshot(tuple(views), tuple(inbound))


def blended(protect=95.0, mode="progressive") -> Campaign:
    campaign = Campaign(CampaignConfig("c", "sales", mode=mode, protect_inbound_sl_pct=protect),
                        CallList.numbered("c", 1000))
    campaign.handle(dev.Pace(0.0, snapshot(0, 30, inbound=())))     # the shift begins
    return campaign


def test_inbound_keeps_the_agents_erlang_c_says_it_needs_the_others_are_held_and_dialled_for():
    assert blend.inbound_agents((SUPPORT,), 95.0, 3600.0, 30) == 25
    campaign = blended()
    decisions = campaign.handle(dev.Pace(1000.0, snapshot(idle=12, talking=18)))
    holds = [decision.agent_id for decision in decisions if type(decision) is Hold]
    dials = [decision for decision in decisions if type(decision) is Dial]
    assert holds == ["a0", "a1", "a2", "a3", "a4"]          # 30 agents - 25
    assert [dial.agent_id for dial in dials] == holds
    # Held agents are not ready at the site: the next snapshot leaves them out; nothing more.
    assert campaign.handle(dev.Pace(1001.0, snapshot(idle=7, talking=18))) == []
    # More agents busy on inbound than the window's rate x AHT says (early in a shift the
    # AHT is low: only short calls have ended): inbound needs as much as it carries.
    assert blend.inbound_agents((SUPPORT,), 95.0, 3600.0, 30, busy_inbound=20) == 28


def test_a_pace_read_before_its_holds_took_effect_takes_no_more_agents():
    """A live host reads a pace's agents a moment before the pacer decides: a second pace
    read before the first one's holds reached the site still shows the held agents ready.
    They are not counted twice (seen on a loaded machine: 3 calls up for 2 agents spare)."""
    campaign = blended()
    stale = snapshot(idle=12, talking=18)
    first = campaign.handle(dev.Pace(1000.0, stale))
    assert [decision.agent_id for decision in first if type(decision) is Hold] == [
        "a0", "a1", "a2", "a3", "a4"]
    assert campaign.handle(dev.Pace(1000.1, stale)) == []


def test_nothing_is_dialled_while_someone_waits_or_the_service_level_is_low():
    for inbound in (InboundSkill("support", 97.0, queued=1, offered=67, aht_s=240.0),
                    InboundSkill("support", 94.9, queued=0, offered=67, aht_s=240.0)):
        campaign = blended()
        assert campaign.handle(dev.Pace(1000.0, snapshot(30, inbound=(inbound,)))) == []
        assert not campaign.inbound_open
    # Not measured yet (nothing offered, the window not full): inbound may need everyone.
    quiet = InboundSkill("support", None, offered=0, aht_s=None)
    assert blended().handle(dev.Pace(100.0, snapshot(30, inbound=(quiet,)))) == []
    assert blend.inbound_agents((SUPPORT,), 95.0, 299.0, 30) == 30  # 5 minutes at least
    assert blend.inbound_agents((quiet,), 95.0, 900.0, 30) == 1     # measured: quiet


def test_a_held_agent_gets_its_next_call_or_goes_back_to_inbound():
    campaign = blended()
    hold, first = campaign.handle(dev.Pace(1000.0, snapshot(idle=26, talking=4)))[:2]
    assert hold == Hold("a0") and first.agent_id == "a0"
    # Nobody answered: the agent stays held and the next record is dialled for it.
    (again,) = campaign.handle(dev.CallProgress(1015.0, first.call_id, CallOutcome.NO_ANSWER))
    assert type(again) is Dial and again.agent_id == "a0"
    # Someone started waiting for support: the next unanswered call gives the agent back.
    busy = InboundSkill("support", 97.0, queued=2, offered=67, aht_s=240.0)
    campaign.handle(dev.Pace(1016.0, snapshot(idle=0, talking=29, inbound=(busy,))))
    assert campaign.handle(dev.CallProgress(1018.0, again.call_id, CallOutcome.BUSY)) == [
        Release("a0")]
    assert "a0" not in campaign.held


def test_a_live_answer_goes_to_its_held_agent_first():
    campaign = blended()
    decisions = campaign.handle(dev.Pace(1000.0, snapshot(idle=26, talking=4)))
    dial = decisions[1]
    assert campaign.handle(dev.CallProgress(1008.0, dial.call_id, CallOutcome.LIVE)) == [
        Connect(dial.call_id, "sales", "a0", 2.0, "top")]
    assert "a0" not in campaign.held                # the host makes it ready for this call
    # Talking to the callee, it counts as on outbound work: 4 held + 1 talking + the 25
    # inbound needs make the 30, nobody more is held.
    campaign.handle(dev.CallConnected(1008.5, dial.call_id))
    assert len(campaign.held) == 4
    assert campaign.handle(dev.Pace(1009.0, snapshot(idle=21, talking=5))) == []


def test_blending_is_configured_sanely():
    with pytest.raises(InvalidInput, match="protect_inbound_sl_pct: a blended campaign dials "
                                           "only for agents it holds"):
        CampaignConfig("c", "s", mode="predictive", protect_inbound_sl_pct=90.0)
    with pytest.raises(InvalidInput, match="protect_inbound_sl_pct: must be at most 100"):
        CampaignConfig("c", "s", mode="progressive", protect_inbound_sl_pct=101.0)
    assert not CampaignConfig("c", "s").blended


def test_every_call_of_a_blended_campaign_has_an_agent_of_its_own():
    """The abandon guard of blending: whatever the calls and the inbound skills do, every
    call ringing or answered and not yet connected was dialled for an agent no other such
    call has, held by the campaign while it rings."""
    import random

    rng = random.Random(11)
    campaign = blended()
    now, idle, talking = 1000.0, [f"a{n}" for n in range(30)], {}
    for _ in range(3000):
        now += rng.random() * 3
        action = rng.random()
        queued = 1 if rng.random() < 0.1 else 0
        inbound = (InboundSkill("support", rng.choice([99.0, 94.0]), queued, 67, 900.0, 240.0),)
        if action < 0.3:
            free = [agent for agent in idle if agent not in campaign.held]
            views = tuple(AgentView(agent, Activity.IDLE) for agent in free) + tuple(
                AgentView(agent, Activity.TALKING, 0.0) for agent in talking)
            for decision in campaign.handle(dev.Pace(now, AgentsSnapshot(views, inbound))):
                if type(decision) is Hold:
                    assert decision.agent_id in idle
        elif action < 0.8 and campaign.ringing:
            call_id = rng.choice(sorted(campaign.ringing))
            outcome = rng.choice(list(CallOutcome))
            for decision in campaign.handle(dev.CallProgress(now, call_id, outcome)):
                if type(decision) is Connect:
                    # The host queues the contact and readies the agent, who takes it.
                    campaign.handle(dev.CallConnected(now, call_id))
                    idle.remove(decision.agent_id)
                    talking[decision.agent_id] = call_id
        elif talking:
            agent = rng.choice(sorted(talking))
            campaign.handle(dev.CallEnded(now, talking.pop(agent)))
            idle.append(agent)
        unconnected = [call for call in campaign.calls.values() if call.call_id not in
                       talking.values()]
        owners = [call.agent_id for call in unconnected]
        assert None not in owners and len(set(owners)) == len(owners)
        assert all(campaign.held[owner][1] == call.call_id
                   for owner, call in zip(owners, unconnected))
    assert campaign.attempts > 100 and campaign.abandoned == 0


# ---- a live site (vcc serve): which skills a blended campaign protects, and whether it may run
def _site(*agents):
    from sites.model import AgentConfig, SiteConfig, SkillConfig
    from sites.state import SiteState

    skills = tuple(SkillConfig(name, sl_threshold_s=20)
                   for name in ("support", "billing", "sales", "survey"))
    return SiteState(SiteConfig("east", skills, tuple(agents)))


def test_a_live_blended_campaign_protects_its_agents_other_skills_but_outbound_ones():
    from sites import events as ev
    from sites.dialer.snapshot import blend_problem, blended_skills, campaign_agents
    from sites.model import AgentConfig

    site = _site(AgentConfig("a1", {"sales": 1, "support": 1}, channels={"voice": 1,
                                                                        "outbound": 1}),
                 AgentConfig("a2", {"sales": 1, "billing": 2, "survey": 1},
                             channels={"voice": 1, "outbound": 1}),
                 AgentConfig("a3", {"billing": 1}))           # not a campaign agent
    assert blended_skills(site, "sales", {"sales"}) == ("billing", "support", "survey")
    # Another campaign's skill is outbound, not inbound to protect.
    assert blended_skills(site, "sales", {"sales", "survey"}) == ("billing", "support")
    assert blend_problem(site, "sales", {"sales"}) is None
    site.handle(ev.AgentLoggedIn(0.0, "a1"))
    site.handle(ev.AgentReady(0.0, "a1"))
    agents = campaign_agents(site, "sales", 1.0, {"sales", "survey"})
    assert [view.agent_id for view in agents.agents] == ["a1"]
    assert [skill.skill for skill in agents.inbound] == ["billing", "support"]
    assert campaign_agents(site, "sales", 1.0).inbound == ()       # not blended


def test_a_live_blended_campaign_needs_inbound_skills_and_greatest_need_agents():
    from sites.dialer.snapshot import blend_problem
    from sites.model import AgentConfig

    alone = _site(AgentConfig("a1", {"sales": 1}, channels={"outbound": 1}))
    field, problem = blend_problem(alone, "sales", {"sales"})
    assert field == "protect_inbound_sl_pct" and "serve no inbound skill" in problem
    picky = _site(AgentConfig("a1", {"sales": 1, "support": 1},
                              channels={"voice": 1, "outbound": 1},
                              call_selection="skill_level"))
    field, problem = blend_problem(picky, "sales", {"sales"})
    assert field == "protect_inbound_sl_pct" and "'a1' selects calls by skill_level" in problem


def test_a_hold_the_site_refused_undoes_its_call_and_the_record_is_dialled_next():
    # In a live center the pace's snapshot is a moment old: the site refuses to hold an
    # agent a contact reached since (AgentHeld), the host does not send that agent's call,
    # and the pacer undoes it (HoldRefused).
    campaign = blended()
    decisions = campaign.handle(dev.Pace(1000.0, snapshot(idle=27, talking=3)))
    dials = [decision for decision in decisions if type(decision) is Dial]
    assert [dial.agent_id for dial in dials] == ["a0", "a1", "a2", "a3", "a4"]  # 30 - 25
    before = campaign.figures()
    assert campaign.handle(dev.HoldRefused(1000.1, "a0")) == []
    assert "a0" not in campaign.held and dials[0].call_id not in campaign.calls
    assert campaign.figures()["attempts"] == before["attempts"] - 1
    with pytest.raises(InvalidInput):           # nothing left to undo for that agent
        campaign.handle(dev.HoldRefused(1000.2, "a0"))
    # The next pace (a1..a4 held, not ready: left out) dials once more, for one agent, and
    # takes the record the undone call had.
    views = [view for view in snapshot(idle=27, talking=3).agents
             if view.agent_id not in ("a1", "a2", "a3", "a4")]
    again = campaign.handle(dev.Pace(1001.0, AgentsSnapshot(tuple(views), (SUPPORT,))))
    redial = [decision for decision in again if type(decision) is Dial]
    assert len(redial) == 1 and redial[0].record_id == dials[0].record_id
    assert campaign.figures()["attempts"] == before["attempts"]


def test_the_site_holds_only_an_idle_agent():
    from sites import events as ev
    from sites.model import AgentConfig

    site = _site(AgentConfig("a1", {"sales": 1, "support": 1}, channels={"voice": 1,
                                                                        "outbound": 1}))
    site.handle(ev.AgentLoggedIn(0.0, "a1"))
    site.handle(ev.AgentReady(0.0, "a1"))
    site.handle(ev.ContactArrived(1.0, "in-1", "support"))        # offered to a1 at once
    with pytest.raises(InvalidInput) as raised:
        site.handle(ev.AgentHeld(1.1, "a1"))
    assert raised.value.field == "agent_id" and "not idle" in raised.value.problem
    assert site.contacts["in-1"].agent_id == "a1"                 # the offer stands
    site.handle(ev.OfferAccepted(1.2, "in-1"))
    site.handle(ev.ContactEnded(5.0, "in-1"))
    site.handle(ev.AgentHeld(6.0, "a1", "outbound"))
    agent = site.agents["a1"]
    assert (agent.mode.name, agent.reason) == ("NOT_READY", "outbound")

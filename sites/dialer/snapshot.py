"""The agents of a campaign's skill as the pacer sees them at a `Pace`: plain data (treat it
as immutable; not frozen, as frozen dataclasses are slow to build: sites/events.py).

A host builds it where the site core lives (`skill_agents` reads a `SiteState`) and hands
it to the pacer, which may live elsewhere (a dialer actor): it holds no reference to the
core. Agents not in ready mode (not ready, logged out) are left out: they take no calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sites.model import AgentMode, CallSelection, Channel

_OUTBOUND_BIT = 1 << Channel.OUTBOUND.value
_NO_LOAD = [0] * len(Channel)
_READY = AgentMode.READY


class Activity(Enum):
    IDLE = "idle"          # could take an outbound call this instant
    TALKING = "talking"    # on a call, or offered one (about to talk)
    WRAP_UP = "wrap_up"    # after-call work until `until`


# Globals: enum class attributes are slow to read (sites/state.py).
_IDLE, _TALKING, _WRAP_UP = Activity.IDLE, Activity.TALKING, Activity.WRAP_UP


@dataclass(slots=True)
class AgentView:
    agent_id: str
    activity: Activity
    since: float = 0.0      # TALKING: when the talk (or the offer) began
    wrap_s: float = 0.0     # TALKING: the after-call work that follows the talk
    until: float = 0.0      # WRAP_UP: when it ends


@dataclass(slots=True)
class InboundSkill:
    """An inbound skill a blended campaign's agents serve, as the site's rolling statistics
    publish it (sites/statistics.py, over `window_s`)."""
    skill: str
    sl_pct: float | None = None     # answered within the SL threshold / answered
    queued: int = 0                 # waiting now
    offered: int = 0                # answered + abandoned in the window
    window_s: float = 900.0
    aht_s: float | None = None
    sl_threshold_s: float = 20.0


@dataclass(slots=True)
class AgentsSnapshot:
    agents: tuple = ()      # AgentView, ...
    inbound: tuple = ()     # InboundSkill, ...: the inbound skills the agents serve (blending)

    @property
    def idle(self) -> int:
        return sum(view.activity is _IDLE for view in self.agents)

    def idle_ids(self) -> list:
        return [view.agent_id for view in self.agents if view.activity is _IDLE]

    @property
    def talking(self) -> int:
        return sum(view.activity is _TALKING for view in self.agents)


def inbound_skill(site, skill: str) -> InboundSkill:
    """An inbound skill of a `sites.state.SiteState` as a blended campaign sees it."""
    stats = site.statistics(skill)
    return InboundSkill(skill, stats.sl_pct, sum(stats.queued), stats.answered + stats.abandoned,
                        site.config.statistics_window_s, stats.aht_s,
                        site.skills[skill].sl_threshold_s)


def skill_agents(site, skill: str, now: float, inbound=()) -> AgentsSnapshot:
    """The ready-mode agents of `skill` at a `sites.state.SiteState` (read only), and the
    `inbound` skills they serve (blending)."""
    skill_wrap = site.skills[skill].wrap_up_s
    views = []
    for agent in site.agents.values():
        config = agent.config
        if agent.mode is not _READY or skill not in config.skills:
            continue
        wrap_s = config.wrap_up_s if config.wrap_up_s is not None else skill_wrap
        if agent.offer is not None:
            views.append(AgentView(config.agent_id, _TALKING, now, wrap_s))
        elif agent.load != _NO_LOAD:
            views.append(AgentView(config.agent_id, _TALKING, agent.work_started,
                                   wrap_s))
        elif agent.wrap_ups:
            views.append(AgentView(config.agent_id, _WRAP_UP,
                                   until=min(agent.wrap_ups.values())))
        elif agent.channels_mask & _OUTBOUND_BIT:
            views.append(AgentView(config.agent_id, _IDLE))
    return AgentsSnapshot(tuple(views), tuple(inbound_skill(site, name) for name in inbound))


def blended_skills(site, skill: str, outbound) -> tuple:
    """The inbound skills a blended campaign of `skill` protects at a live site: every other
    skill its agents (logged in or not) serve, except `outbound` (the skills campaigns dial
    for), sorted. `vcc simulate` knows them from the scenario's traffic instead
    (loadtests/campaigns.py)."""
    served = set()
    for agent in site.agents.values():
        skills = agent.config.skills
        if skill in skills:
            served.update(skills)
    return tuple(sorted(served - {skill} - set(outbound)))


def blend_problem(site, skill: str, outbound) -> tuple | None:
    """Why a blended campaign of `skill` cannot run at the site, as (field, problem), or
    None. Its agents must serve an inbound skill (else nothing to blend), and take the live
    answer dialled for them before any inbound contact waiting for their other skills:
    greatest need call selection (the answer enters at priority top)."""
    if not blended_skills(site, skill, outbound):
        return "protect_inbound_sl_pct", (f"the agents of {skill!r} at site "
                                          f"{site.config.name!r} serve no inbound skill: "
                                          "nothing to blend")
    for agent in site.agents.values():
        config = agent.config
        if skill in config.skills and config.call_selection is not CallSelection.GREATEST_NEED:
            selection = config.call_selection.name.lower()
            return "protect_inbound_sl_pct", (
                f"agent {config.agent_id!r} selects calls by {selection}: a blended agent "
                "must take the live answer dialled for it first (call_selection: "
                "greatest_need)")
    return None


def campaign_agents(site, skill: str, now: float, outbound=None) -> AgentsSnapshot:
    """What a live campaign's `Pace` carries: `skill_agents`, with the inbound skills its
    agents serve when it blends (`outbound`: the skills campaigns dial for; None: it does
    not blend)."""
    inbound = () if outbound is None else blended_skills(site, skill, outbound)
    return skill_agents(site, skill, now, inbound)

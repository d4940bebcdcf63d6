"""Blending (SPEC §6): agents with inbound and outbound skills take outbound calls only while
the inbound skills they serve keep their service level; inbound never waits for outbound.

A blended campaign decides at each pace:
- whether it may dial at all (`may_dial`): every inbound skill its agents serve has nobody
  waiting, and a rolling service level (sites/statistics.py, as the site publishes it) at
  or above `protect_inbound_sl_pct` (none measured yet: no objection);
- how many of its agents inbound needs (`inbound_agents`): for each inbound skill, the
  fewest agents that answer `protect_inbound_sl_pct` of its calls within its SL threshold
  by Erlang C, at the skill's offered rate and AHT of the statistics window (scaled up to
  the agents busy on inbound now, when more). The campaign keeps no more agents than the
  others on outbound work (held for a call, or talking to a callee). Until the skills have
  been measured MIN_MEASURE_S (or while no handle time is known) inbound is taken to need
  every agent.
Each agent the campaign takes is held for a call dialled for it (not ready, so that no
inbound contact takes it while the call rings; campaign.py): the hard abandon guard needs an
agent certain to take each live answer, and only an agent the campaign holds is.
"""

from __future__ import annotations

import math

from sites.erlang import service_level

MIN_MEASURE_S = 300.0       # inbound is measured this long before the campaign trusts it


def may_dial(inbound, protect_pct: float) -> bool:
    """Whether the inbound skills (snapshot.InboundSkill) let the campaign dial now."""
    return all(skill.queued == 0 and (skill.sl_pct is None or skill.sl_pct >= protect_pct)
               for skill in inbound)


def inbound_agents(inbound, protect_pct: float, elapsed_s: float, most: int,
                   busy_inbound: int = 0) -> int:
    """Agents the inbound skills need (at most `most`, every agent); `elapsed_s`: how long
    the statistics have been gathered (a window not yet full), `busy_inbound` the agents on
    inbound work now.

    The load of a skill is its offered rate times its AHT. Both come from the window, and
    early in a shift the AHT is biased low (only the short calls have ended yet), so the
    loads are scaled up to the agents busy on inbound work now when those are more (the
    carried load, Little's law) and nothing is trusted before MIN_MEASURE_S."""
    target = protect_pct / 100.0
    loads = []
    for skill in inbound:
        span = min(skill.window_s, elapsed_s)
        if span < min(MIN_MEASURE_S, skill.window_s):
            return most                     # not measured yet
        if skill.offered == 0:
            loads.append((skill, 0.0))      # a quiet skill: one agent for its next call
            continue
        if skill.aht_s is None:
            return most
        loads.append((skill, skill.offered / span * skill.aht_s))
    total = sum(load for _, load in loads)
    scale = busy_inbound / total if busy_inbound > total > 0 else 1.0
    need = 0
    for skill, load in loads:
        load *= scale
        if load > 0:
            # The load as sites.erlang computes it from the rate (rate x AHT), so that
            # agents > load holds for it too, to the last bit.
            rate = load / skill.aht_s
            load = rate * skill.aht_s
        agents = math.floor(load) + 1
        # Bounded: Erlang C's service level rises to 1 with the agents.
        while load > 0 and agents <= most and service_level(
                agents, rate, skill.aht_s, skill.sl_threshold_s) < target:
            agents += 1
        need += agents
        if need >= most:
            return most
    return need

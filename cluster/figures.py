"""A center's real-time figures as its host has them now: what Routing.GetStatistics answers
and what the metrics export (cluster/metrics.py), read one way for both runtimes."""

from __future__ import annotations

from sites.model import AgentState


async def skill_statistics(host, site: str, skills=None) -> list:
    """[(skill, SkillStatistics)] at `site` for `skills` (None: every skill of the site), in
    that order, each as of now (the site's clock brought to now first)."""
    if skills is None:
        skills = await host.skills_of(site)
    return [(skill, await host.statistics(site, skill)) for skill in skills]


async def agents_by_state(host, site: str) -> dict:
    """{AgentState: how many of the site's agents are in it}, every state present."""
    counts = dict.fromkeys(AgentState, 0)
    for _, state in await host.agents_of(site):
        counts[state] += 1
    return counts

"""Campaigns' pacers hosted in this process (the in-process runtime; cluster/campaigns/
hosting.py drives them). A mixin of CoreHost: RayHost overrides it with one Ray DialerActor
per campaign and the site actors' snapshots (cluster/ray_host.py).
"""

from __future__ import annotations

from actors.dialer_actor import DialerActor
from sites.dialer.snapshot import blend_problem, campaign_agents
from sites.errors import InvalidInput


class _LocalPacer:
    """A DialerActor in this process, with the awaitable `step` of its Ray handle."""

    def __init__(self, actor):
        self.actor = actor

    async def step(self, events, now):
        return self.actor.step(events, now)

    async def replay(self, steps, now):
        return self.actor.replay(steps, now)

    async def snapshot(self):
        return self.actor.snapshot()


class LocalPacers:
    """`skill_agents`, `start_pacer`, `stop_pacer` over the host's own SiteStates."""

    async def skill_agents(self, site: str, skill: str, outbound=None):
        """The ready agents of `skill` at `site` as a campaign's pacer sees them now, with
        the inbound skills they serve when it blends (`outbound`: the skills campaigns dial
        for; sites/dialer/snapshot.py)."""
        return campaign_agents(self._skill_site(site, skill), skill, self.now(), outbound)

    async def blend_problem(self, site: str, skill: str, outbound) -> tuple | None:
        """(field, problem) if a blended campaign of `skill` cannot run at `site`, or None."""
        return blend_problem(self._skill_site(site, skill), skill, outbound)

    def _skill_site(self, site: str, skill: str):
        state = self._site(site)
        if not isinstance(skill, str) or skill not in state.skills:
            raise InvalidInput("skill", f"unknown skill {skill!r} at site {site!r}")
        return state

    def start_pacer(self, name: str, *args):
        """A campaign's pacer (actors.dialer_actor.DialerActor of `args`), here: in this
        process, behind the awaitable `step` a Ray DialerActor has."""
        return _LocalPacer(DialerActor(*args))

    def stop_pacer(self, pacer) -> None:
        pass

"""The agents a campaign holds at its site (cluster/campaigns/hosting.py; SPEC §6): a
blended campaign holds each agent it dials for, a preview campaign each agent it gives a
record to. A hold is the core event `AgentHeld`, refused unless the agent is still idle (the
pace read the agents a moment before); a record to preview goes to the agent's desktops
only, and the desktop's word on it (AgentControl.FinishPreview) comes back here. A mixin of
CampaignHost: it uses its `host`, `hosted`, `_feed` and `_spawn`.
"""

from __future__ import annotations

import logging

from cluster.campaigns.hosted import Hosted
from cluster.host_interface import HostClosed, RecordPreview, Routed
from sites import events as ev
from sites.dialer import events as dev
from sites.errors import InvalidInput, NotFound

log = logging.getLogger("cluster.campaigns.hosting")


class HeldAgents:
    def _outbound_skills(self, site: str, skill: str) -> frozenset:
        """The skills campaigns dial for at `site` (`skill` and those of the campaigns this
        server runs there): a blended campaign's agents' other skills are inbound."""
        return frozenset({skill} | {hosted.skill for hosted in self.hosted.values()
                                    if hosted.site == site})

    async def _hold(self, hosted: Hosted, agent_id: str, reason: str, now: float) -> bool:
        """Hold the agent at the campaign's site (`AgentHeld`); whether the site did."""
        held = await self._agent_event(hosted, ev.AgentHeld(now, agent_id, reason))
        if held:
            hosted.holding.add(agent_id)
        return held

    def _preview_of(self, hosted: Hosted, agent_id: str, now: float) -> Routed:
        """The record `agent_id` previews, for its desktops only."""
        record = hosted.previews[agent_id]
        return Routed(hosted.site, now, RecordPreview(
            agent_id, hosted.name, record, hosted.customers.get(record, "")), hosted.skill,
            agent_only=True)

    def previews_for(self, site: str, agent_id: str) -> list:
        """The records the agent previews now (a desktop that connects gets them at once),
        as Routed RecordPreview actions."""
        return [self._preview_of(hosted, agent_id, hosted.time)
                for hosted in self.hosted.values()
                if hosted.site == site and agent_id in hosted.previews]

    async def preview_done(self, site: str, agent_id: str, name: str, record_id: str,
                           dial: bool) -> None:
        """The agent's word on the record it previews (AgentControl.FinishPreview): dial it
        or skip it. NotFound / InvalidInput naming the field otherwise."""
        await self.until_resumed()
        hosted = self.hosted.get(name)
        if hosted is None:
            raise NotFound("campaign", f"campaign {name!r} does not run in this server")
        if hosted.site != site:
            raise InvalidInput("site", f"campaign {name!r} dials for site {hosted.site!r}")
        if hosted.previews.get(agent_id) != record_id:
            raise InvalidInput("record_id", f"agent {agent_id!r} is not previewing record "
                                            f"{record_id!r} of campaign {name!r}")
        del hosted.previews[agent_id]       # before the step: a second answer is refused
        await self._feed(hosted, lambda now: [dev.PreviewDone(now, agent_id, dial)])

    def _let_go(self, site: str, agent_id: str) -> None:
        """An agent logged out at `site`: every campaign holding it lets it go (a record it
        previewed is previewed next by another agent; `AgentGone`)."""
        for hosted in self.hosted.values():
            if hosted.site == site and (agent_id in hosted.holding
                                        or agent_id in hosted.previews):
                hosted.holding.discard(agent_id)
                hosted.previews.pop(agent_id, None)     # its desktop's answer is refused
                self._spawn(self._feed(hosted, lambda now: [dev.AgentGone(now, agent_id)]))

    async def _agent_event(self, hosted: Hosted, event) -> bool:
        """A held agent's state, changed at the campaign's site; whether it was. Refused
        (a contact reached it first, it logged out, or its desktop changed its state
        first): the agent's own state stands."""
        try:
            results = await self.host.submit(hosted.site, [event])
        except HostClosed as error:
            # The site's actor is being recovered: not applied. A hold is then refused (its
            # call is not sent, the pacer undoes it); a release leaves the agent not ready
            # until its desktop makes it ready.
            log.warning("campaign %s: %s of agent %s not applied: %s", hosted.name,
                        type(event).__name__, event.agent_id, error)
            return False
        if results[0].error is not None:
            log.info("campaign %s: %s of agent %s not applied: %s", hosted.name,
                     type(event).__name__, event.agent_id, results[0].error)
            return False
        return True

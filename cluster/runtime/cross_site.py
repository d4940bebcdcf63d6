"""Best Service Routing between local sites: the one implementation of the cross-site
decisions that the in-process router (cluster/host.py) and the simulator
(loadtests/simulator.py) both run (issue 16; the Ray runtime's copy moves here next).

Three decisions, each asked of `sites.virtual_center.VirtualCenter` on statuses published
at the instant they are used (every site is first brought to that instant by a Tick):

- an arrival that queued goes to a better site if that site accepts it (look-ahead);
- an agent who becomes ready with nothing to do at its site pulls the longest-waiting
  contact of its skills from another site (agent surplus), as long as it stays ready;
- a move (interflow) asks the new site first: a site that would refuse the contact
  (its queue full, the id known there) leaves it queued where it was, never lost.

What a host does with the core's actions differs (the router converts them into routed
actions and keeps its contact directory; the simulator schedules answers and Ticks), so it
comes in as a `SiteHost`. Deterministic: time comes in with every call.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Mapping, Protocol

from sites import events as ev
from sites.errors import InvalidInput
from sites.model import AgentState, ContactState
from sites.state import SiteState
from sites.virtual_center import VirtualCenter


class SiteHost(Protocol):
    """What CrossSite needs of the host of the sites."""

    def handle(self, site: str, event, now: float) -> list:
        """Apply a core event at a site; the host's results of its actions."""

    def convert(self, site: str, actions: list, now: float) -> list:
        """The host's results of a site's core actions (the host's own record of them)."""

    def moved(self, contact_id: str, from_site: str, to_site: str, now: float) -> list:
        """A contact went from one site to another: the host's results of that."""

    def ready_agents(self, results: list) -> Iterable[tuple[str, str]]:
        """(site, agent id) of every agent those results made ready."""


class CrossSite:
    def __init__(self, sites: Mapping[str, SiteState], center: VirtualCenter, host: SiteHost,
                 *, enabled: bool, hop_limit: int):
        self.sites = sites          # the host's own mapping: sites added later are seen
        self.center = center
        self.host = host
        self.enabled = enabled      # multisite: bsr
        self.hop_limit = hop_limit

    def handle(self, site_name: str, event, now: float) -> list:
        return self.host.handle(site_name, event, now)

    # ---- statuses ----------------------------------------------------------------------------
    def advance(self, site_name: str, now: float) -> list:
        """Bring a site's clock to now so that its published status is fresh."""
        if self.sites[site_name].now < now:
            return self.handle(site_name, ev.Tick(now), now)
        return []

    def publish(self, skill: str, channel, now: float) -> list:
        out = []
        for name, state in self.sites.items():
            if skill in state.skills:
                out.extend(self.advance(name, now))
                self.center.publish(state.status(skill, channel))
        return out

    # ---- an arrival --------------------------------------------------------------------------
    def balance_arrival(self, site_name: str, contact_id: str, now: float) -> list:
        """A contact queued on arrival goes to a better site if that site accepts it."""
        state = self.sites[site_name]
        contact = state.contacts.get(contact_id)
        if not self.enabled or len(self.sites) < 2 or contact is None or (
                contact.state is not ContactState.QUEUED):
            return []
        skill, channel, priority = contact.skill, contact.channel, contact.priority.value
        out = self.publish(skill, channel, now)
        contact = state.contacts.get(contact_id)
        if contact is None or contact.state is not ContactState.QUEUED:
            return out      # a Tick while publishing served it
        local = state.status(skill, channel)
        decision = self.center.best_site(now, local, contact_id, priority)
        target = self.sites.get(decision.site)
        if decision.site == site_name or target is None or skill not in target.skills:
            return out
        remote = target.status(skill, channel)
        if self.center.remote_accepts(remote, local.ewt_s[priority], priority):
            out.extend(self.interflow(contact_id, site_name, decision.site, now))
        return out

    # ---- agents who became ready -------------------------------------------------------------
    def pull_after(self, results: list, now: float) -> list:
        """Agents the results made ready pull waiting contacts from other sites."""
        if not self.enabled or len(self.sites) < 2:
            return []
        pending = deque(self.host.ready_agents(results))
        if not pending:
            return []
        out = []
        # Pulling publishes fresh statuses, whose Ticks may free more agents: a worklist.
        # Bounded: a pulled contact makes an agent reserved, and Ticks run out of due timers.
        while pending:
            site_name, agent_id = pending.popleft()
            produced = self.pull_for(site_name, agent_id, now)
            out.extend(produced)
            pending.extend(self.host.ready_agents(produced))
        return out

    def pull_for(self, site_name: str, agent_id: str, now: float) -> list:
        state = self.sites[site_name]
        agent = state.agents.get(agent_id)
        out = []
        if agent is None:
            return out
        sites = self.sites
        for skill in agent.config.skills:
            for channel in agent.config.channels:
                if agent.state is not AgentState.READY:
                    return out
                if not self.queued_elsewhere(site_name, skill):
                    break       # the usual case: nothing to pull, whatever the channel
                out.extend(self.publish(skill, channel, now))
                source = self.center.site_to_pull_from(now, site_name, skill, channel)
                if source is None or source not in sites or skill not in sites[source].skills:
                    continue
                contact = sites[source].best_queued_contact(skill, channel, now)
                if contact is None or self.center.hops(contact.contact_id) >= self.hop_limit:
                    continue
                out.extend(self.interflow(contact.contact_id, source, site_name, now))
        return out

    def queued_elsewhere(self, site_name: str, skill: str) -> bool:
        """Does a contact of `skill` wait at a site other than `site_name`? (A loop, not
        any() over a generator: this runs each time an agent becomes ready.)"""
        for name, other in self.sites.items():
            if name != site_name and skill in other.skills and other.queued_total(skill):
                return True
        return False

    # ---- a move ------------------------------------------------------------------------------
    def interflow(self, contact_id: str, from_site: str, to_site: str, now: float) -> list:
        """Move a queued contact with everything it carries; if the new site would refuse
        it, it stays where it was."""
        source, target = self.sites[from_site], self.sites[to_site]
        contact = source.contacts[contact_id]
        skill = target.skills[contact.skill]
        if (skill.max_queue_length is not None
                and target.status(contact.skill, contact.channel).available == 0
                and target.queued_total(contact.skill) >= skill.max_queue_length):
            return []       # the new site would reject it: better queued here than lost there
        arrival = ev.ContactArrived(now, contact_id, contact.skill, contact.priority,
                                    contact.service_objective_s, contact.channel, contact.data,
                                    contact.origin)
        try:
            # The new site first: if it refuses (e.g. the contact was there before), nothing moved.
            target_actions = target.handle(arrival)
        except InvalidInput:
            return []
        self.center.note_interflow(contact_id)
        out = self.handle(from_site, ev.ContactInterflowed(now, contact_id, to_site), now)
        out.extend(self.host.moved(contact_id, from_site, to_site, now))
        out.extend(self.host.convert(to_site, target_actions, now))
        return out

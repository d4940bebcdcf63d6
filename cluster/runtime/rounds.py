"""The cross-site round: the one implementation of how events reach the sites that own them
and of Best Service Routing between sites (issue 16), for every runtime.

A round takes a batch of events stamped with one time, hands each site its events in order
(one call per site, all sites' calls made before any answer is used), then asks the
cross-site questions through a backend: sites in this process (cluster/runtime/local_sites.py:
the in-process runtime, the simulator) or Ray site actors (cluster/runtime/ray_sites.py).
The backend's answers are computed by the same class either way (`sites.rounds.SiteRounds`),
so the same events in the same rounds give the same decisions on every runtime
(tests/unit/test_replay.py; tests/integration/test_ray_host.py,
`test_the_simulator_and_the_ray_runtime_decide_the_same`). The questions are coroutines: the
Ray backend awaits its actors (and may find a site `Late`), the local one answers at once
(`run_now`).

Best Service Routing follow-ups, each one call per site concerned:
- balance: arrivals of the round that ended queued are surveyed (each site having the skill
  brings its clock to now and returns its status), decided in arrival order by the
  `VirtualCenter`, then interflowed with look-ahead: the target accepts first, then the
  source gets `ContactInterflowed`; a contact the target refuses stays where it was;
- pull: agents who became ready, where a contact of one of their skills waits at another
  site (the queue lengths every answer carries say so, usually without a call), get a
  survey, then the same two interflow steps; repeated for agents made ready by those
  steps, at most `MAX_PULL_STEPS` times.
Within a round: an arrival is balanced after every event of its round was applied; every
arrival of a round is decided on the statuses of one survey (after each accepted interflow
the target's status counts one available agent less); a survey brings to now the clock of
every site having the surveyed skills; a pulling agent takes at most one contact per pull
step and a contact is pulled by one agent per step. A round of one event (the simulator,
a lone RouteContact) decides as an event-by-event router would.

What a host does with the sites' actions (the router's directory, PBX links and streams;
the simulator's world) comes in as a `RoundHost`. Deterministic: time comes in with every
call.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Protocol

from sites import events as ev
from sites.actions import AgentStateChanged, ContactFinished, ContactQueued, OfferContact
from sites.errors import InvalidInput
from sites.model import AgentState, Channel, Priority, parse_enum
from sites.rounds import CoreFailure, EventNotApplied
from sites.tiers import TierConfig
from sites.virtual_center import VirtualCenter

NO_TIERS = TierConfig()
log = logging.getLogger(__name__)

MAX_PULL_STEPS = 8           # pull steps after one round of events
_DECIDED = (ContactQueued, OfferContact, ContactFinished)


class Item:
    """One event of a round, and what became of it."""
    __slots__ = ("owner", "site", "event", "link_id", "out", "error", "failed", "arrival_id",
                 "outcome")

    def __init__(self, owner, site, event, link_id=None):
        self.owner = owner          # the host's: whose call submitted it
        self.site = site            # where it goes (resolved by the host), or as submitted
        self.event = event
        self.link_id = link_id
        self.out: list = []         # the host's results of its actions and follow-ups
        self.error = None           # InvalidInput: refused, nothing changed
        self.failed = None          # the site is unavailable, or a bug: the caller raises it
        self.arrival_id = None      # contact id of an arrival the host registered
        self.outcome = None         # what its site answered: its actions, or why not


class Late(Exception):
    """A site that did not answer in time (the Ray backend: a stopped or overloaded actor):
    the round goes on without it. Its answer is still coming: the host settles its items
    when it arrives (`RoundHost.later`), so nothing it did is lost; meanwhile the site
    takes no part in Best Service Routing."""

    def __init__(self, site: str, call):
        super().__init__(f"site {site!r} is late")
        self.site = site
        self.call = call            # what the backend awaits for its answer


def holder() -> Item:
    """An item that owns follow-up actions not caused by a submitted event (timer ticks)."""
    return Item(None, None, None)


class RoundHost(Protocol):
    """What a round needs of its host."""

    tiers: TierConfig | None        # the center's customer tiers (SPEC §7), as its sites'

    def prepare(self, item: Item, now: float) -> str:
        """Stamp the event, check it, return the site it goes to (InvalidInput: refused).
        An arrival is registered now (item.arrival_id) so that later events find it."""

    def refused(self, item: Item, now: float) -> list:
        """The event was refused (item.error) or failed: undo `prepare`; results to announce."""

    def convert(self, site: str, actions: list, now: float) -> list:
        """The host's results of a site's core actions."""

    def moved(self, contact_id: str, from_site: str, to_site: str, now: float) -> list | None:
        """A contact went to another site: the host's results (None: the host lost it)."""

    def later(self, site: str, items: list, late: "Late") -> None:
        """`items` went to a site that did not answer in time: settle them when it does
        (`Rounds.settle`). Only a backend that can be late calls it (Ray's)."""

    # Optional, for a backend whose sites can be late: `pull_later(site, agent_id)`, a pull
    # a missing survey stopped, to be tried again once the late sites answer.


def ready_agents(site: str, actions) -> list:
    """(site, agent id) of every agent `actions` made ready."""
    return [(site, action.agent_id) for action in actions
            if type(action) is AgentStateChanged and action.state is AgentState.READY]


def ended_queued(contact_id, actions) -> bool:
    """Did an arrival's actions leave the contact queued (its last decision)?"""
    last = None
    for action in actions:
        if type(action) in _DECIDED and action.contact_id == contact_id:
            last = action
    return type(last) is ContactQueued


def run_now(coroutine):
    """Run a round over sites in this process to its end, here and now: it never waits (the
    local backend answers at once), so the caller needs no event loop and nothing else runs
    in between, as with any synchronous call."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise RuntimeError("a round over local sites waited for something")


def _key_order(key) -> tuple:
    skill, channel = key
    return skill, channel.value


class Rounds:
    """The round protocol over `sites` (a backend) for `host`."""

    def __init__(self, sites, host: RoundHost, center: VirtualCenter, *, bsr: bool,
                 hop_limit: int):
        self.sites = sites
        self.host = host
        self.center = center
        self.bsr = bsr
        self.hop_limit = hop_limit
        self.count = 0              # rounds run (benchmarks read it)
        # Told of every event a site applied, with its actions (`applied(item, actions)`):
        # the metrics count answers there (cluster/metrics.py). None: nobody asks.
        self.applied = None

    def _cross_site(self) -> bool:
        return self.bsr and self.sites.count() >= 2

    # ---- a round of events --------------------------------------------------------------------
    async def run(self, items: list, now: float, fanned: list) -> None:
        """Apply `items` (in order per site) and their follow-ups; every host result goes to
        its item's `out` and, in the order applied, to `fanned`."""
        self.count += 1
        if len(items) == 1:
            await self._apply_one(items[0], now, fanned)
        else:
            await self._apply(items, now, fanned)
        balance, pulls = [], []
        cross_site = self.bsr and self.sites.count() >= 2
        for item in items:
            outcome = item.outcome
            if outcome is None:
                continue            # refused before its site saw it, its site failed or is late
            item.outcome = None
            routed = self.settle(item, outcome, now, fanned)
            if routed is None or not cross_site:
                continue
            if item.arrival_id is not None and ended_queued(item.arrival_id, outcome):
                balance.append(item)
            for site, agent in ready_agents(item.site, outcome):
                pulls.append((item, site, agent))
        if not cross_site:
            return
        if balance:
            pulls.extend(await self._balance(balance, now, fanned))
        if pulls:
            await self.pull(pulls, now, fanned)

    def settle(self, item, outcome, now: float, fanned: list):
        """What the item's site answered: its actions converted (returned, and in `fanned`),
        or its refusal, or a bug in the core (None)."""
        host = self.host
        if type(outcome) is not list:
            if isinstance(outcome, InvalidInput):
                item.error = outcome
                fanned.extend(host.refused(item, now))
            else:                   # CoreFailure, EventNotApplied: a bug in the core
                log.error("site %s: %s", item.site, outcome)
                item.failed = outcome
                host.refused(item, now)
            return None
        routed = item.out = host.convert(item.site, outcome, now)
        fanned.extend(routed)
        if self.applied is not None:
            self.applied(item, outcome)
        return routed

    async def _apply(self, items, now, fanned) -> None:
        """Each site its events of the round, in order: one call per site."""
        host = self.host
        per_site: dict[str, list] = {}
        for item in items:
            try:
                site = item.site = host.prepare(item, now)
            except InvalidInput as error:
                item.error = error
                fanned.extend(host.refused(item, now))
                continue
            group = per_site.get(site)
            if group is None:
                per_site[site] = [item]
            else:
                group.append(item)
        answers = await self.sites.handle_rounds(
            {site: [item.event for item in group] for site, group in per_site.items()},
            may_be_late=True)
        for site, answer in answers.items():
            if isinstance(answer, Late):
                host.later(site, per_site[site], answer)
                continue
            if isinstance(answer, Exception):
                for item in per_site[site]:
                    item.failed = answer
                    host.refused(item, now)
                continue
            for item, outcome in zip(per_site[site], answer.results):
                item.outcome = outcome

    async def _apply_one(self, item, now, fanned) -> None:
        """`_apply` for a round of one event (the simulator's every event, a lone request),
        without the grouping."""
        host = self.host
        try:
            site = item.site = host.prepare(item, now)
        except InvalidInput as error:
            item.error = error
            fanned.extend(host.refused(item, now))
            return
        outcome = await self.sites.handle_one(site, item.event, may_be_late=True)
        if isinstance(outcome, Late):
            host.later(site, [item], outcome)
            return
        if isinstance(outcome, Exception) and not isinstance(
                outcome, (InvalidInput, CoreFailure, EventNotApplied)):
            item.failed = outcome           # the site is unavailable
            host.refused(item, now)
            return
        item.outcome = outcome

    async def tick(self, now: float, fanned: list) -> None:
        """A Tick now at every site with a due deadline, with pulls after it."""
        answers = await self.sites.ticks_due(now)
        pulls = []
        owner = holder()
        for site in sorted(answers):
            answer = answers[site]
            if isinstance(answer, Exception):
                log.warning("tick at site %s failed: %s", site, answer)
                continue
            routed = self.host.convert(site, answer.results, now)
            fanned.extend(routed)
            pulls.extend((owner, s, a) for s, a in ready_agents(site, answer.results))
        if pulls and self._cross_site():
            await self.pull(pulls, now, fanned)

    async def after(self, site: str, actions: list, now: float, fanned: list) -> None:
        """Actions a site produced outside a round (a statistics read that advanced its
        clock): converted, and agents they made ready pull."""
        fanned.extend(self.host.convert(site, actions, now))
        pulls = [(holder(), s, a) for s, a in ready_agents(site, actions)]
        if pulls and self._cross_site():
            await self.pull(pulls, now, fanned)

    # ---- surveys ------------------------------------------------------------------------------
    async def _survey(self, now, keys_by_site, contacts_by_site=None, agents_by_site=None,
                fanned=None, owner=None) -> tuple[dict, list]:
        """One survey per site: ({site: Survey} of those that answered, statuses published;
        the agents their Ticks made ready)."""
        contacts_by_site = contacts_by_site or {}
        agents_by_site = agents_by_site or {}
        answers = await self.sites.surveys({
            site: (now, sorted(keys, key=_key_order), list(contacts_by_site.get(site, ())),
                   list(agents_by_site.get(site, ())))
            for site, keys in keys_by_site.items()})
        surveys, ready = {}, []
        for site in sorted(answers):
            survey = answers[site]
            if isinstance(survey, Exception):
                log.warning("BSR survey of site %s failed: %s", site, survey)
                continue
            surveys[site] = survey
            if survey.actions:
                routed = self.host.convert(site, survey.actions, now)
                fanned.extend(routed)
                if owner is not None:
                    owner.out.extend(routed)
                ready.extend(ready_agents(site, survey.actions))
            for status in survey.statuses.values():
                self.center.publish(status)
        return surveys, ready

    # ---- balance ------------------------------------------------------------------------------
    async def _balance(self, items, now, fanned) -> list:
        """Arrivals that ended queued go to a better site if it accepts. Returns the agents
        made ready on the way, to pull for."""
        wanted = []                 # (item, skill, channel, priority)
        for item in items:
            event = item.event
            if event.skill is None:
                continue            # its routing plan queues it here (not moved: README)
            channel = parse_enum(Channel, event.channel, "channel")
            # No priority given: its caller's tier's, as the site gave it (sites/tiers.py).
            priority = (parse_enum(Priority, event.priority, "priority") if event.priority
                        is not None else (self.host.tiers or NO_TIERS).priority_of(event.tier)
                        ).value
            wanted.append((item, event.skill, channel, priority))
        if not wanted:
            return []
        keys_by_site: dict[str, set] = {}
        for _, skill, channel, _ in wanted:
            for site in self.sites.with_skill(skill):
                keys_by_site.setdefault(site, set()).add((skill, channel))
        contacts_by_site: dict[str, list] = {}
        for item, *_ in wanted:
            contacts_by_site.setdefault(item.site, []).append(item.arrival_id)
            keys_by_site.setdefault(item.site, set())
        surveys, ready = await self._survey(now, keys_by_site, contacts_by_site, fanned=fanned,
                                      owner=items[0])
        plans = []
        for item, skill, channel, priority in wanted:
            survey = surveys.get(item.site)
            if survey is None:
                continue
            arrival = survey.contacts.get(item.arrival_id)
            local = survey.statuses.get((skill, channel))
            if arrival is None or local is None:
                continue        # served meanwhile (a Tick of the survey), or not queued
            decision = self.center.best_site(now, local, item.arrival_id, priority)
            target = surveys.get(decision.site)
            if decision.site == item.site or target is None:
                continue
            remote = target.statuses.get((skill, channel))
            if remote is None or not self.center.remote_accepts(
                    remote, local.ewt_s[priority], priority):
                continue
            plans.append((item, arrival, item.site, decision.site))
            if remote.available > 0:
                # The next decision of this round sees one agent fewer there.
                remote = dataclasses.replace(remote, available=remote.available - 1)
                target.statuses[(skill, channel)] = remote
                self.center.publish(remote)
        owner = items[0]
        return [(owner, site, agent) for site, agent in ready] + await self.interflow(
            plans, now, fanned)

    # ---- pull ---------------------------------------------------------------------------------
    async def pull(self, pending, now, fanned) -> None:
        """Agents who became ready ([(owner item, site, agent id)]) pull waiting contacts from
        other sites, in steps."""
        sites = self.sites
        for _ in range(MAX_PULL_STEPS):
            wants = []                  # (owner item, site, agent, skill, channel)
            for owner, site, agent_id in pending:
                config = sites.agent_config(site, agent_id)
                if config is None:
                    continue
                for skill in config.skills:
                    if not sites.queued_elsewhere(site, skill):
                        continue
                    for channel in config.channels:
                        wants.append((owner, site, agent_id, skill,
                                      parse_enum(Channel, channel, "channel")))
            if not wants:
                return
            keys_by_site: dict[str, set] = {}
            agents_by_site: dict[str, list] = {}
            for _, site, agent_id, skill, channel in wants:
                agents_by_site.setdefault(site, []).append(agent_id)
                for other in sites.with_skill(skill):
                    keys_by_site.setdefault(other, set()).add((skill, channel))
            first = wants[0][0]
            surveys, ready = await self._survey(now, keys_by_site, agents_by_site=agents_by_site,
                                          fanned=fanned, owner=first)
            pending = [(first, site, agent) for site, agent in ready]
            plans, taken, served = [], set(), set()
            pull_later = getattr(self.host, "pull_later", None)
            for owner, site, agent_id, skill, channel in wants:
                survey = surveys.get(site)
                if survey is None:
                    # Its site did not answer (late): it pulls once the late sites caught up.
                    if pull_later is not None:
                        pull_later(site, agent_id)
                    continue
                if (site, agent_id) in served or (
                        survey.agents.get(agent_id) is not AgentState.READY):
                    continue
                source = self.center.site_to_pull_from(now, site, skill, channel)
                source_survey = surveys.get(source)
                if source_survey is None:
                    # The site to pull from did not answer (late or being recovered): an
                    # agent left idle while a contact waits there would stay so until some
                    # other event, so the host tries this pull again when it is back.
                    if source is not None and pull_later is not None:
                        pull_later(site, agent_id)
                    continue
                arrival = source_survey.best.get((skill, channel))
                if arrival is None or arrival.contact_id in taken or (
                        self.center.hops(arrival.contact_id) >= self.hop_limit):
                    continue
                taken.add(arrival.contact_id)
                served.add((site, agent_id))
                plans.append((owner, arrival, source, site))
            pending += await self.interflow(plans, now, fanned)
            if not pending:
                return
        log.warning("pulls still pending after %d steps; the next round or tick goes on",
                    MAX_PULL_STEPS)

    # ---- a move -------------------------------------------------------------------------------
    async def interflow(self, plans, now, fanned) -> list:
        """Move queued contacts ([(owner, its ContactArrived, source, target)]): each target
        accepts first (look-ahead), then the sources let them go. Returns the agents made
        ready on the way."""
        if not plans:
            return []
        by_target: dict[str, list] = {}
        for plan in plans:
            by_target.setdefault(plan[3], []).append(plan)
        accepted_answers = await self.sites.accept_interflows(
            {target: [plan[1] for plan in group] for target, group in by_target.items()})
        target_actions = {}
        for target, answer in accepted_answers.items():
            if isinstance(answer, Exception):
                log.warning("interflows to %s not made: %s", target, answer)
                continue
            for plan, actions in zip(by_target[target], answer.results):
                if actions is not None:
                    target_actions[id(plan)] = actions
        moving = [plan for plan in plans if id(plan) in target_actions]
        releases: dict[str, list] = {}
        for plan in moving:
            self.center.note_interflow(plan[1].contact_id)
            releases.setdefault(plan[2], []).append((plan[1].contact_id, plan[3]))
        released = await self.release(releases, now)
        ready = []
        host = self.host
        for plan in moving:
            owner, arrival, source, target = plan
            contact_id = arrival.contact_id
            source_actions = released.get(contact_id, [])
            announced = host.moved(contact_id, source, target, now)
            if announced is None:
                continue
            out = host.convert(source, source_actions, now)
            out.extend(announced)
            out.extend(host.convert(target, target_actions[id(plan)], now))
            owner.out.extend(out)
            fanned.extend(out)
            ready.extend((owner, site, agent) for site, agent in
                         ready_agents(source, source_actions)
                         + ready_agents(target, target_actions[id(plan)]))
        return ready

    async def release(self, releases, now) -> dict:
        """The second step of an interflow: each source site lets its contacts go
        (`ContactInterflowed`, one call per source). `releases`: {source: [(contact id,
        the site it went to)]}. Returns {contact id: the source's actions} for each contact
        released. A source that failed (gone or restarting): the target has the contact
        and it goes on there; the Ray backend releases the source's recovered copy when it
        resyncs that site."""
        answers = await self.sites.handle_rounds({
            source: [ev.ContactInterflowed(now, contact_id, target)
                     for contact_id, target in group]
            for source, group in releases.items()})
        released = {}
        for source, answer in answers.items():
            if isinstance(answer, Exception):
                log.warning("site %s did not release interflowed contacts: %s", source, answer)
                continue
            for (contact_id, _), outcome in zip(releases[source], answer.results):
                if isinstance(outcome, Exception):
                    log.error("site %s refused ContactInterflowed(%s): %s", source,
                              contact_id, outcome)
                else:
                    released[contact_id] = outcome
        return released

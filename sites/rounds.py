"""One site's side of a cross-site round (cluster/runtime/rounds.py): the calls a round makes
on a site, answered from its `SiteState`.

The same class answers them in this process (the in-process runtime and the simulator) and
inside a Ray site actor (`actors.site_actor.SiteActor` is a `SiteRounds` that also commits
to its store): so a site answers a round the same way whatever backend hosts it, and the
round protocol above it is written once.

Every call carries what a gateway keeps so that it need not ask again (`RoundResult`,
`Survey`: the next deadline, queue lengths). Time comes in with the calls.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from sites import events as ev
from sites.errors import InvalidInput
from sites.model import Channel, ContactState, parse_enum
from sites.state import SiteState


class CoreFailure(RuntimeError):
    """A bug in the core while applying an event (not a refusal: that is InvalidInput)."""


class EventNotApplied(RuntimeError):
    """An event of a batch not applied because an earlier one hit a bug."""


@dataclass(slots=True)
class RoundResult:
    """What a round returns besides the actions: what the gateway keeps to decide without
    asking again (when to tick, whether a pull is worth a survey)."""
    results: list                 # per event (handle_round) or per arrival (accept_interflows)
    next_deadline: float | None
    queued: dict                  # skill -> queued contacts now


@dataclass(slots=True)
class Survey:
    """One Best Service Routing look at a site, as of `now` (its clock brought there first)."""
    actions: list                 # of the Tick that brought the clock to now ([] if none)
    statuses: dict                # (skill, Channel) -> SkillStatus
    best: dict                    # (skill, Channel) -> ContactArrived of the next contact, or None
    contacts: dict                # contact id -> ContactArrived if still queued here, else None
    agents: dict                  # agent id -> AgentState (absent: unknown here)
    next_deadline: float | None
    queued: dict                  # skill -> queued contacts now


def arrival_of(contact, now: float) -> ev.ContactArrived:
    """The event that makes `contact` arrive at another site with everything it has: its
    priority, objective, channel, attached data (ANI, DNIS and customer id among them), the
    PBX link that owns it (`origin`), and where and when it first arrived in the center
    (`entry_site`, `first_arrival`: its service level and speed of answer count from then)."""
    return ev.ContactArrived(now, contact.contact_id, contact.skill, contact.priority,
                             contact.service_objective_s, contact.channel, contact.data,
                             contact.origin, contact.entry_site, contact.first_arrival)


def accepts_interflow(state: SiteState, arrival) -> bool:
    """Look-ahead: would this site take a contact moving here? Not when its queue for the
    skill is full and nobody is available (the contact is better queued where it is than
    rejected here)."""
    skill = state.skills.get(arrival.skill)
    if skill is None:
        return False
    return not (skill.max_queue_length is not None
                and state.status(arrival.skill, arrival.channel).available == 0
                and state.queued_total(arrival.skill) >= skill.max_queue_length)


class SiteRounds:
    """The round calls on one `SiteState` (`self.state`). Changes the site only through
    `SiteState.handle`."""

    site: str
    state: SiteState

    def __init__(self, state: SiteState):
        self.state = state
        self.site = state.name

    def handle_batch(self, events) -> list:
        """Apply `events` in order; one result per event: its list of actions, or the
        `InvalidInput` that refused it (which changed nothing).

        A bug in the core (any other exception) must not swallow the actions of the events
        applied before it: that event's result is a `CoreFailure`, and the events after it
        are not applied (`EventNotApplied`).
        """
        handle = self.state.handle
        results = []
        for number, event in enumerate(events):
            try:
                results.append(handle(event))
            except InvalidInput as error:
                results.append(error)
            except Exception:
                results.append(CoreFailure(f"{type(event).__name__} at site {self.site!r}: "
                                           f"{traceback.format_exc()}"))
                skipped = EventNotApplied(f"an earlier event of the batch (#{number}) failed")
                results.extend(skipped for _ in range(len(events) - number - 1))
                break
        return results

    def queued(self) -> dict:
        queued_total = self.state.queued_total
        return {skill: queued_total(skill) for skill in self.state.skills}

    def handle_round(self, events) -> RoundResult:
        """`handle_batch`, plus the next deadline and the queue lengths afterwards."""
        results = self.handle_batch(events)
        return RoundResult(results, self.state.next_deadline(), self.queued())

    def tick_due(self, now: float) -> RoundResult:
        """A Tick at `now` if a deadline is due by then (results: its actions, or [])."""
        deadline = self.state.next_deadline()
        actions = self.state.handle(ev.Tick(now)) if (
            deadline is not None and deadline <= now) else []
        return RoundResult(actions, self.state.next_deadline(), self.queued())

    def advance(self, now: float) -> list:
        """Bring the site's clock to `now` so that what it publishes is fresh."""
        if self.state.now < now:
            return self.state.handle(ev.Tick(now))
        return []

    def survey(self, now: float, keys=(), contact_ids=(), agent_ids=()) -> Survey:
        """Clock to `now`, then the statuses and next queued contact of each (skill, channel)
        of `keys` this site has, which of `contact_ids` are still queued here (with their
        details, to interflow them), and the states of `agent_ids`."""
        state = self.state
        actions = self.advance(now)
        statuses, best = {}, {}
        for skill, channel in keys:
            if skill not in state.skills:
                continue
            channel = parse_enum(Channel, channel, "channel")
            statuses[(skill, channel)] = state.status(skill, channel)
            contact = state.best_queued_contact(skill, channel, now)
            best[(skill, channel)] = None if contact is None else arrival_of(contact, now)
        contacts = {}
        for contact_id in contact_ids:
            contact = state.contacts.get(contact_id)
            contacts[contact_id] = (arrival_of(contact, now) if contact is not None
                                    and contact.state is ContactState.QUEUED
                                    and state.movable(contact) else None)
        agents = {agent_id: state.agents[agent_id].state for agent_id in agent_ids
                  if agent_id in state.agents}
        return Survey(actions, statuses, best, contacts, agents, state.next_deadline(),
                      self.queued())

    def accept_interflows(self, arrivals) -> RoundResult:
        """Look-ahead acceptance of contacts moving here: per arrival its actions, or None
        when this site refuses it (`accepts_interflow`, or an arrival the core refuses,
        e.g. the contact was here before)."""
        state = self.state
        results = []
        for arrival in arrivals:
            if not accepts_interflow(state, arrival):
                results.append(None)
                continue
            try:
                results.append(state.handle(arrival))
            except InvalidInput:
                results.append(None)
        return RoundResult(results, state.next_deadline(), self.queued())

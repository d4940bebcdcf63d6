"""SiteActor: one site's routing core (`sites.state.SiteState`) behind a batch interface.

A plain class, importable and testable without Ray: `actors/handles.py` turns it into a Ray
actor and is the only code that calls it remotely. Agents and contacts are data inside it
(ARCHITECTURE.md: coarse actors), and one call carries many events because a Ray call costs
about a millisecond while the core handles an event in microseconds.

Everything that crosses the actor boundary is plain picklable data: core events in, core
actions out, `SkillStatus` / `SkillStatistics` for reads, and `InvalidInput` for a refused
event (it pickles with its field, see sites/errors.py). Time comes from the events, never from a clock.

Storage is passed in, not imported (ARCHITECTURE.md, Ray Serve's habit): with a `store`
(`cluster.store.site_store.SiteStore`, anything with `open(config)`), the actor opens its
site from it (recovered from the last snapshot and the journal, or new) and every call that
changes the site commits what it applied before it returns. So a gateway acknowledges
nothing that is not durable, and when Ray restarts the actor (its process or node died)
the constructor opens the store again and the site comes back as it was.

A standby (`standby=` a store to warm up with, and no `store`): a gateway that may become
the leader starts its actors before it leads, because starting a Ray worker process costs
seconds and a takeover must not wait for that. The actor then holds no site until the new
leader claims the sites and hands it the store of its term (`adopt`); until then, and after
Ray restarts it (the constructor runs again as a standby), every call that would change the
site is refused with `SiteNotAdopted`, which the handles report as the actor being
unavailable, so the gateway adopts it again before using it (cluster/ray_host.py `_resync`).
"""

from __future__ import annotations

import functools
import pickle
import math
from dataclasses import dataclass, field

from sites import admin
from sites import events as ev
from sites.actions import OfferContact
from sites.errors import InvalidInput
from sites.model import AgentState, Channel, ContactState, SiteConfig, parse_enum
# RoundResult, Survey, CoreFailure, EventNotApplied: what a round's calls answer (re-exported).
from sites.rounds import (CoreFailure, EventNotApplied, RoundResult,  # noqa: F401
                          SiteRounds, Survey)
from sites.dialer.snapshot import blend_problem, campaign_agents
from sites.state import SiteState
from sites.statistics import SkillStatistics, SkillStatus


class ActorUnavailable(Exception):
    """The actor is restarting or dead. A call in flight when it died may or may not have
    been applied; a restarted actor has rebuilt its state from its configuration only.

    Defined here, not in actors/handles.py, so that code mapping it (the gRPC servicers)
    need not import Ray; handles.py raises it."""

    def __init__(self, actor: str, detail: str):
        super().__init__(actor, detail)
        self.actor = actor
        self.detail = detail

    def __str__(self) -> str:
        return f"actor {self.actor!r} is unavailable: {self.detail}"


class SiteNotAdopted(Exception):
    """A standby actor has no store yet (or lost it in a restart): it holds no site."""

    def __init__(self, site: str):
        super().__init__(site)
        self.site = site

    def __str__(self) -> str:
        return f"site actor {self.site!r} is a standby: no store adopted yet"



@dataclass(frozen=True, slots=True)
class SiteDirectory:
    live: dict              # contact id -> (skill, origin: the PBX link it came from, or None)
    finished: dict          # contact id -> its final state here
    next_deadline: float | None
    queued: dict            # skill -> contacts queued
    # contact id -> its open OfferContact: a new gateway announces these again, since the
    # one that made them may have died with them in flight (cluster/ray_host.py).
    offers: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LiveContact:
    """A contact not yet final at this site, as checks and status displays read it."""
    contact_id: str
    skill: str
    state: ContactState
    agent_id: str | None
    priority: int
    channel: Channel
    arrival_time: float


def _committing(method):
    """A call that may change the site: with a store, what it applied is committed before
    it returns (also when it raises: what was applied before the error stays applied)."""
    @functools.wraps(method)
    def committing(self, *args, **kwargs):
        if self._awaiting_store:
            raise SiteNotAdopted(self.site)
        self._changing += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            self._changing -= 1
            if self._opened is not None and self._changing == 0:
                self._opened.commit()
    return committing


class SiteActor(SiteRounds):
    """One `SiteState` and the calls a gateway or the virtual center makes on it.

    Invariant: `self.state` is changed only through `SiteState.handle` (by `handle_batch`,
    `handle_round`, `tick`, `tick_due`, `survey`, `accept_interflows`, `statistics_at`:
    the last four only by a Tick to the time they are given, or by the arrivals they are
    given), by the administration methods (`put_skill`, `delete_skill`, `put_agent`,
    `delete_agent`, through SiteState's admin methods) and by `load_snapshot`; every other
    method reads.
    """

    def __init__(self, config: SiteConfig, store=None, *, standby=None):
        self.site = config.name
        self.config = config
        self._opened = store.open(config) if store is not None else None
        self.state = self._opened.state if store is not None else SiteState(config)
        self._changing = 0          # depth of nested changing calls: commit once, outermost
        self._awaiting_store = store is None and standby is not None
        if self._awaiting_store and hasattr(standby, "warm"):
            standby.warm()          # imports and a first connection, before it counts

    def adopt(self, store) -> bool:
        """Open `store` (recovering the site from it) in a standby; False if the actor has a
        store already (a repeated adopt changes nothing)."""
        if self._opened is not None:
            return False
        if not self._awaiting_store:
            raise RuntimeError(f"site actor {self.site!r} was not started as a standby")
        self._opened = store.open(self.config)
        self.state = self._opened.state
        self._awaiting_store = False
        return True

    def load_snapshot(self, snapshot: dict) -> None:
        """Replace the whole site by a `snapshot()` of it (moving a site to another node).

        Not a constructor argument on purpose: Ray re-runs the constructor when it restarts
        a crashed actor, and a restart must not resurrect an old snapshot's contacts (the
        gateway's directory has moved on since)."""
        if self._awaiting_store:
            raise SiteNotAdopted(self.site)
        state = SiteState.restore(snapshot, plans=self.config.plans)
        if state.name != self.site:
            raise ValueError(f"snapshot of site {state.name!r} loaded into {self.site!r}")
        self.state = self._opened.replace(state) if self._opened is not None else state

    # ---- the write path: SiteRounds' calls, committed before they return --------------------
    def packed(self, method: str, arguments: bytes) -> bytes:
        """`method(*pickle.loads(arguments))` as a pickle (actors/handles.py `PACKED`)."""
        return pickle.dumps(getattr(self, method)(*pickle.loads(arguments)),
                            pickle.HIGHEST_PROTOCOL)

    handle_batch = _committing(SiteRounds.handle_batch)
    handle_round = _committing(SiteRounds.handle_round)
    tick_due = _committing(SiteRounds.tick_due)
    accept_interflows = _committing(SiteRounds.accept_interflows)

    @_committing
    def survey(self, now: float, keys=(), contact_ids=(), agent_ids=()) -> Survey:
        """`SiteRounds.survey`; with a store, each contact it offers to move (to balance,
        or for a pull) carries its contact record so far (`ContactArrived.record`): this
        actor records its site alone, and the site the contact moves to goes on with it."""
        survey = SiteRounds.survey(self, now, keys, contact_ids, agent_ids)
        carried = getattr(self._opened, "carried", None)
        if carried is not None:
            for arrival in (*survey.contacts.values(), *survey.best.values()):
                if arrival is not None:
                    arrival.record = carried(arrival.contact_id)
        return survey

    @_committing
    def tick(self, now: float) -> list:
        """Let time pass to `now` (offer and wrap-up timeouts, widening); the actions.

        Also brings the site's clock to `now` so that `status()` afterwards is fresh.
        """
        return self.state.handle(ev.Tick(now))

    def next_deadline(self) -> float | None:
        """The earliest time a `tick` may change something, or None."""
        return self.state.next_deadline()

    @_committing
    def statistics_at(self, skill: str, now: float) -> tuple:
        """(actions of bringing the clock to `now`, `SkillStatistics` then, RoundResult of
        the bookkeeping) — CoreHost.statistics reads a skill as of now."""
        skill = self._skill(skill)
        actions = self.advance(now)
        return actions, self.state.statistics(skill), RoundResult(
            [], self.state.next_deadline(), self.queued())

    # ---- administration: the rules of sites/admin.py, applied where the site lives ---------
    @_committing
    def put_skill(self, config) -> bool:
        return admin.put_skill(self.state, config)

    @_committing
    def put_plans(self, change: dict) -> None:
        self.state.put_plans(change)

    def plans_change(self) -> dict | None:
        """The last plans Admin put here (None: the configuration's)."""
        return self.state.plans.change

    @_committing
    def delete_skill(self, name: str) -> None:
        admin.delete_skill(self.state, name)

    @_committing
    def put_agent(self, config) -> bool:
        return admin.put_agent(self.state, config)

    @_committing
    def delete_agent(self, agent_id: str) -> None:
        admin.delete_agent(self.state, agent_id)

    def check_removable(self) -> None:
        admin.check_removable(self.state)

    def retire(self) -> None:
        """Admin deletes this site: checked removable, then its journal ends with a
        tombstone, committed before this returns (no restart or new leader brings the site
        back); the gateway kills the actor next."""
        if self._awaiting_store:
            raise SiteNotAdopted(self.site)
        admin.check_removable(self.state)
        if self._opened is not None:
            self._opened.retire()
            self._opened = None

    # ---- what the virtual center and the gateways read ----------------------------------------
    def _skill(self, skill) -> str:
        if not isinstance(skill, str) or skill not in self.state.skills:
            raise InvalidInput("skill", f"unknown skill {skill!r} at site {self.site!r}")
        return skill

    def status(self, skill: str, channel=Channel.VOICE) -> SkillStatus:
        """The status this site publishes for one skill and channel, as of its clock."""
        return self.state.status(self._skill(skill), parse_enum(Channel, channel, "channel"))

    def statuses(self, keys=None) -> list:
        """`status` of several (skill, channel) pairs in one call; None: every skill on voice."""
        if keys is None:
            keys = [(skill, Channel.VOICE) for skill in self.state.skills]
        return [self.status(skill, channel) for skill, channel in keys]

    def statistics(self, skill: str) -> SkillStatistics:
        return self.state.statistics(self._skill(skill))

    def best_queued_contact(self, skill: str, channel, now: float) -> str | None:
        """The id of the queued contact this site would serve next (a peek), or None."""
        contact = self.state.best_queued_contact(
            self._skill(skill), parse_enum(Channel, channel, "channel"), now)
        return None if contact is None else contact.contact_id

    # ---- reads for checks and status displays ---------------------------------------------------
    def live_contacts(self) -> dict:
        """contact id -> `LiveContact`, for every contact not yet final here."""
        return {contact_id: LiveContact(contact_id, contact.skill, contact.state,
                                        contact.agent_id, contact.priority.value,
                                        contact.channel, contact.arrival_time)
                for contact_id, contact in self.state.contacts.items()}

    def final_states(self) -> dict:
        """contact id -> its one final state at this site (interflowed counts as final here)."""
        return dict(self.state.finished)

    def agent_states(self) -> dict:
        """agent id -> AgentState."""
        return {agent_id: agent.state for agent_id, agent in self.state.agents.items()}

    def agent_view(self, agent_id: str):
        """(AgentConfig, AgentState, announced not-ready reason) of an agent, or None."""
        agent = self.state.agents.get(agent_id) if isinstance(agent_id, str) else None
        return None if agent is None else (agent.config, agent.state, agent.announced_reason)

    def agents_view(self) -> list:
        """[(AgentConfig, AgentState)] by agent id."""
        return [(agent.config, agent.state) for _, agent in sorted(self.state.agents.items())]

    def skill_configs(self) -> dict:
        """skill name -> SkillConfig."""
        return dict(self.state.skills)

    def contact_view(self, contact_id: str):
        """(ContactState, agent id or None) of a contact live here, or None."""
        contact = self.state.contacts.get(contact_id)
        return None if contact is None else (contact.state, contact.agent_id)

    def skill_agents(self, skill: str, now: float, outbound=None):
        """The ready agents of `skill` as a campaign's pacer sees them, with the inbound
        skills they serve when it blends (read only; sites/dialer/snapshot.py)."""
        self._skill(skill)
        return campaign_agents(self.state, skill, now, outbound)

    def blend_problem(self, skill: str, outbound):
        """(field, problem) if a blended campaign of `skill` cannot run here, or None."""
        self._skill(skill)
        return blend_problem(self.state, skill, outbound)

    def summary(self) -> dict:
        """What `vcc status` shows of a site: per skill queued, staffed and ready agents,
        and the site's contact and agent counts."""
        state = self.state
        skills = {}
        for name in sorted(state.skills):
            status = state.status(name, Channel.VOICE)
            skills[name] = {"queued": state.queued_total(name), "staffed": status.staffed,
                            "available": status.available}
        agents = self.agent_states()
        return {"skills": skills, "contacts": len(state.contacts), "agents": len(agents),
                "logged_in": sum(1 for s in agents.values() if s is not AgentState.LOGGED_OUT),
                "ready": sum(1 for s in agents.values() if s is AgentState.READY)}

    def commit_seconds(self) -> list:
        """How long each journal commit of this site took since the last call, in seconds
        (the gateway's metrics read it on a scrape); the first call starts the timing.
        [] without a store."""
        return self._opened.commit_seconds() if self._opened is not None else []

    def clock(self) -> float | None:
        """The time of the last event applied, or None before the first."""
        now = self.state.now
        return now if math.isfinite(now) else None

    def snapshot(self) -> dict:
        """The whole site as JSON-able data (`SiteState.snapshot`)."""
        return self.state.snapshot()

    def directory(self) -> "SiteDirectory":
        """What a gateway needs to bring its contact directory in step with this site after
        the actor was restarted (and rebuilt from the store)."""
        state = self.state
        return SiteDirectory(
            {contact_id: (contact.skill, getattr(contact, "origin", None))
             for contact_id, contact in state.contacts.items()},
            dict(state.finished), state.next_deadline(), self.queued(),
            {contact_id: OfferContact(contact_id, contact.agent_id, contact.skill,
                                      contact.channel, contact.offer_deadline, contact.data,
                                      contact.callback)
             for contact_id, contact in state.contacts.items()
             if contact.state is ContactState.OFFERED})

    def close(self) -> None:
        """Release the store (the actor is about to be killed on purpose)."""
        if self._opened is not None:
            self._opened.close()
            self._opened = None

    def validate(self) -> None:
        """Assert every invariant of the site (tests)."""
        self.state.validate()


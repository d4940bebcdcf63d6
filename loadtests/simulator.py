"""Discrete-event simulation of a scenario through the real site core (SPEC §5).

No copy of the routing logic: every site is a `sites.state.SiteState`, multi-site routing
is `sites.virtual_center.VirtualCenter`. The simulator only plays the world around them:
Poisson callers (who abandon after their patience), agents who log in at time 0, answer
every offer at once, talk for the handle time and wrap up for their `wrap_up_s` (the
core's wrap-up timeout completes the contact), and Ticks at the times the core asks for.
With `customers`, each arrival is a customer; with `marketing`, the offers its customer is
eligible for pop up when an agent answers, and those the agent presents lengthen the call
(loadtests/marketing.py; behaviour of the world, not a routing decision).

With `multisite: bsr` a contact entering a site without an available agent is offered to
the virtual center (look-ahead interflow), and an agent who frees up with nothing to do
at its own site pulls the longest-waiting contact of its skills from another site (the
agent-surplus half of BSR). Statuses are published at the instant they are used.

`answer_delay_s` makes agents answer that long after each offer (reserved meanwhile), as a
live PBX does after its round trip; waits still end at the offer. `vcc loadtest
--compare-sim` sets it to the live run's round trip in trace time.

Arrivals are Poisson per traffic stream, drawn here; or, given `arrivals` (a trace's contacts
as `Arrival`s, see loadtests/trace.py), exactly those contacts with their own handle times
and patience, which is how `vcc loadtest --compare-sim` replays the trace a live run used.
A scenario with an intraday `profile` is played through its generated trace.

Given `staffing` ((time_s, site, agents), ...), from each time_s on only `agents` of the
site's agents are ready, the others not ready ("off_shift"); one sent away in the middle of
a call finishes it first, as at the end of a shift. Idle agents leave first. `vcc staff
--verify` plays a staffing plan so (loadtests/staff_verify.py).

Outbound campaigns (SPEC §6 `campaigns`) are paced by the core's pacer (`sites.dialer`)
and played by loadtests/campaigns.py: a live answer becomes an outbound contact of the
campaign's skill at its site, routed by the core like any other; one that no agent took
within 2 s is abandoned (the recorded message). The pacer is asked after each of its calls'
events, whenever an agent of its skill becomes ready, and as often as it asks; dialling
stops at `duration_s` (the end of the shift), when the campaign figures are taken.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
import time as wallclock
from dataclasses import dataclass, field

from cluster.runtime.local_sites import LocalSites
from cluster.runtime.rounds import Item, Rounds, run_now
from loadtests.campaigns import CampaignRun
from loadtests.marketing import Pitches
from loadtests.report import ContactRecord, build_report
from loadtests.scenario import ASKS_AGENT_AT, KEYING_S, Scenario, TrafficStream
from loadtests.trace import Arrival, arrivals_of, generate_trace  # noqa: F401 (Arrival: API)
from sites import events as ev
from sites.actions import (AgentStateChanged, ContactFinished, ContactQueued, IvrTreatment,
                           OfferContact)
from sites.calendars import WallClock
from sites.dialer import events as dev
from sites.dialer.decisions import Connect, Dial, Drop, Hold, PlayMessage, Preview
from sites.dialer.snapshot import skill_agents
from sites.model import AgentMode, AgentState, Channel, ContactState, Priority
from sites.state import SiteState
from sites.virtual_center import VirtualCenter

# Event kinds in the simulation's own heap; ties in time run in scheduling order.
_ARRIVAL, _ANSWER, _END, _ABANDON, _TICK, _CALLER, _STAFF = range(7)
# ... and those of outbound campaigns (SPEC §6)
_CALL_PROGRESS, _PACE, _PREVIEWED, _CONNECT_LIMIT, _SHIFT_END = range(7, 12)
_READY = AgentState.READY
_UNANSWERED = (dev.CallOutcome.BUSY, dev.CallOutcome.NO_ANSWER, dev.CallOutcome.FAILED)


@dataclass
class SimulationResult:
    report: dict
    wall_s: float
    events: int
    records: list = field(repr=False, default_factory=list)


class Simulation:
    def __init__(self, scenario: Scenario, seed: int | None = None, scheduler_factory=None,
                 drain_limit_s: float | None = None, arrivals=None,
                 answer_delay_s: float = 0.0, record_world: bool = False, staffing=()):
        self.scenario = scenario
        self.staffing = tuple(staffing)
        self.seed = scenario.seed if seed is None else seed
        if arrivals is None and getattr(scenario, "profile", None) is not None:
            # Non-homogeneous arrivals: one generator for traces and simulation.
            arrivals = arrivals_of(scenario, generate_trace(scenario, self.seed))
        self.arrivals = arrivals
        self.rng = random.Random(self.seed)
        # Who calls (SPEC §7 `customers`): its own generator, so that a scenario without
        # customers draws exactly what it drew before them.
        self.customers = getattr(scenario, "customers", None)
        self.tiers = getattr(scenario, "tiers", None) or None     # Rounds' BSR reads them
        self._customer_rng = random.Random(f"customers-{self.seed}")
        # Offers popped when an agent answers (SPEC §7 `marketing`): their own generator too.
        marketing = getattr(scenario, "marketing", None)
        self.pitches = Pitches(marketing, self.seed) if marketing is not None else None
        self.sites = {name: SiteState(config, scheduler_factory=scheduler_factory)
                      for name, config in scenario.site_configs().items()}
        plans = getattr(scenario, "plans", None)
        if plans:
            clock = WallClock(scenario.start_epoch)      # calendars see the scenario's start
            for site in self.sites.values():
                site.plans.use(plans, clock)
        # service -> the most IVR ports in use at once at any site (SPEC §10 by_service)
        self.max_lines_in_use: dict[str, int] = {}
        self.bsr = scenario.multisite == "bsr" and len(self.sites) > 1
        self.center = VirtualCenter(scenario.bsr)
        # The router's own rounds and Best Service Routing, on this world's sites: each
        # world event is a round of its own, as a router applies a lone event.
        self.protocol = Rounds(LocalSites(self.sites), self, self.center, bsr=self.bsr,
                               hop_limit=scenario.bsr.hop_limit)
        self.records: dict[str, ContactRecord] = {}
        self._heap: list = []
        self._order = 0
        self._tick_at: dict[str, float] = {}     # site -> the Tick already scheduled
        # Bound the drain after the last arrival: whatever is not final then is `lost`.
        self.end_s = scenario.duration_s + (drain_limit_s if drain_limit_s is not None
                                            else max(3600.0, 2 * scenario.duration_s))
        self.events = 0
        # Agents answer an offer this long after it (0: at once). The agent stays reserved
        # meanwhile; a contact's wait still ends at its offer, the router's decision.
        self.answer_delay_s = answer_delay_s
        self._offered_at: dict = {}
        # (site, core event) of every world event in order, when asked for: a recorded
        # event sequence to replay through the live runtime (tests/unit/test_replay.py).
        self.world: list | None = [] if record_world else None
        # Outbound campaigns: name -> CampaignRun; contact id -> campaign of an outbound
        # contact; agent id -> the campaign it dials for; campaigns to pace after this event.
        clock = WallClock(scenario.start_epoch)     # call windows see the scenario's start
        self.campaigns = {spec.config.name: CampaignRun(spec, self.seed,
                                                        _outbound_stream(scenario, spec), clock)
                          for spec in getattr(scenario, "campaigns", ())}
        self._outbound: dict[str, CampaignRun] = {}
        self._campaign_agents: dict[str, CampaignRun] = {}
        for run in self.campaigns.values():
            for agent_id, agent in self.sites[run.site].agents.items():
                if run.skill in agent.config.skills:
                    self._campaign_agents[agent_id] = run
        self._pace_due: dict[str, CampaignRun] = {}

    # ---- the simulation's own event heap ------------------------------------------------------
    def _schedule(self, at, kind, a=None, b=None):
        self._order += 1
        heapq.heappush(self._heap, (at, self._order, kind, a, b))

    def _schedule_tick(self, site_name):
        deadline = self.sites[site_name].next_deadline()
        if deadline is not None and self._tick_at.get(site_name) != deadline:
            self._tick_at[site_name] = deadline
            self._schedule(deadline, _TICK, site_name)

    # ---- feeding the core: the RoundHost of cluster/runtime/rounds.py -----------------------
    def prepare(self, item, now) -> str:
        if type(item.event) is ev.ContactArrived:
            item.arrival_id = item.event.contact_id
        return item.site

    def refused(self, item, now) -> list:
        return []           # raised by `_step`: the world only sends events the core takes

    def convert(self, site_name, actions, now) -> list:
        for action in actions:
            kind = type(action)
            if kind is OfferContact:
                record = self.records[action.contact_id]
                if record.stream.dnis is not None:
                    self._plan_queued(record, site_name, action.contact_id, action.skill, now)
                if self.answer_delay_s:
                    self._offered_at[action.contact_id] = now
                self._schedule(now + self.answer_delay_s, _ANSWER, site_name,
                               action.contact_id)
            elif kind is ContactFinished:
                record = self.records[action.contact_id]
                if action.final_state is ContactState.INTERFLOWED:
                    record.interflows += 1
                else:
                    record.final_state = action.final_state
                    record.end_time = now
            elif kind is ContactQueued:
                record = self.records[action.contact_id]
                if record.queue_place is None:      # what the caller heard first (SPEC §8)
                    record.queue_place = action.position
                    record.ewt_s = action.ewt_s
                if record.queue_time is None and record.stream.dnis is not None:
                    self._plan_queued(record, site_name, action.contact_id, action.skill, now)
            elif kind is IvrTreatment:
                self._caller_answers(site_name, action, now)
            elif kind is AgentStateChanged and action.state is _READY and self._campaign_agents:
                run = self._campaign_agents.get(action.agent_id)
                if run is not None:
                    self._pace_due[run.name] = run
        self._schedule_tick(site_name)
        return []

    def _plan_queued(self, record, site_name, contact_id, skill, now) -> None:
        """A plan queued its contact (or an agent got it at once): its wait for an agent
        counts from its first queue step; its skill, priority and objective are those of
        its latest offer (the skill that answered, of up to three)."""
        if record.queue_time is None:
            record.queue_time = now
        contact = self.sites[site_name].contacts[contact_id]
        record.skill, record.priority = skill, contact.priority
        record.service_objective_s = contact.service_objective_s

    def _caller_answers(self, site_name, action, now) -> None:
        """The caller model (SPEC §10 `caller:`) answers a plan step the PBX plays."""
        record = self.records[action.contact_id]
        caller = record.caller or record.stream.caller
        if caller is None:
            return
        rng = self.rng
        contact_id = action.contact_id
        if action.kind == "collect":
            keyed = caller.keys(action.variable, rng)
            if keyed and KEYING_S < action.seconds:
                self._schedule(now + KEYING_S, _CALLER, site_name,
                               ev.DigitsCollected(now + KEYING_S, contact_id, keyed))
        elif action.kind == "self_service":
            if not caller.completes(rng):
                at = now + ASKS_AGENT_AT * action.seconds
                self._schedule(at, _CALLER, site_name,
                               ev.SelfServiceEnded(at, contact_id, False))
        elif action.kind == "callback_offer":
            accepted = caller.accepts(rng)
            at = now + min(KEYING_S, action.seconds / 2)
            self._schedule(at, _CALLER, site_name, ev.CallbackChosen(at, contact_id, accepted))

    _WAITING_FOR = {ev.DigitsCollected: "collect", ev.SelfServiceEnded: "self_service",
                    ev.CallbackChosen: "callback_offer"}

    def _caller_event(self, site_name, event) -> None:
        contact = self.sites[site_name].contacts.get(event.contact_id)
        run = contact.plan_run if contact is not None else None
        if run is None or run.waiting != self._WAITING_FOR[type(event)]:
            return                  # answered, hung up or moved on meanwhile
        self._step(site_name, event)
        if contact.callback:
            self.records[event.contact_id].callback = True
    def moved(self, contact_id, from_site, to_site, now) -> list:
        self.records[contact_id].site = to_site
        return []

    def _step(self, site_name, event) -> None:
        """A world event at a site, as one round: the event, Best Service Routing of an
        arrival that queued, and pulls by the agents all that made ready."""
        if self.world is not None:
            self.world.append((site_name, dataclasses.replace(event)))
        self.events += 1
        item = Item(None, site_name, event)
        run_now(self.protocol.run([item], event.time, []))
        if item.error is not None or item.failed is not None:
            raise item.error or item.failed

    # ---- world events -----------------------------------------------------------------------------
    def _arrive(self, stream_number, now, given: Arrival | None = None):
        stream = self.scenario.traffic[stream_number]
        if given is None:
            contact_id = f"{stream.site}-{stream_number}-{self._serial[stream_number]}"
            self._serial[stream_number] += 1
        else:
            contact_id = given.contact_id
        record = ContactRecord(contact_id, stream, stream.site, now)
        if given is not None:
            record.talk_s = given.handle_time_s
            record.caller = given.caller
        self.records[contact_id] = record
        if self.customers is not None:
            customers = self.customers
            record.customer = self._customer_rng.randrange(customers.population)
            record.tier = customers.tier_of(record.customer)
        if stream.dnis is None:
            self._step(stream.site, ev.ContactArrived(
                now, contact_id, stream.skill, stream.priority, stream.service_objective_s,
                stream.channel, tier=record.tier))
            if stream.priority is None or stream.service_objective_s is None:
                # its tier's, as the core gave it
                contact = self.sites[stream.site].contacts.get(contact_id)
                if contact is not None:
                    record.priority = contact.priority
                    record.service_objective_s = contact.service_objective_s
        else:
            self._dial(stream, contact_id, now, record.tier)
        if given is not None:
            if given.patience_s is not None:
                self._schedule(now + given.patience_s, _ABANDON, contact_id)
            return
        if stream.patience is not None:
            self._schedule(now + stream.patience.sample(self.rng), _ABANDON, contact_id)
        gap = self.rng.expovariate(stream.rate_per_hour / 3600.0)
        if now + gap < self.scenario.duration_s:
            self._schedule(now + gap, _ARRIVAL, stream_number)

    def _dial(self, stream, contact_id, now, tier=None) -> None:
        """A caller dials the stream's number: the plan of its service decides."""
        self._step(stream.site, ev.ContactArrived(now, contact_id, None, channel=stream.channel,
                                                  dnis=stream.dnis, tier=tier))
        plans = self.scenario.plans
        service = plans.entry_points[stream.dnis].service
        in_use = self.sites[stream.site].plans.lines.get(service, 0)
        if in_use > self.max_lines_in_use.get(service, 0):
            self.max_lines_in_use[service] = in_use

    def _answer(self, site_name, contact_id, now):
        contact = self.sites[site_name].contacts.get(contact_id)
        if contact is None or contact.state is not ContactState.OFFERED:
            return
        record = self.records[contact_id]
        self._step(site_name, ev.OfferAccepted(now, contact_id))
        record.answer_time = self._offered_at.pop(contact_id, now)
        if self._outbound:
            run = self._outbound.get(contact_id)
            if run is not None:
                self._to_campaign(run, dev.CallConnected(now, contact_id), now)
        record.served_site = site_name
        record.agent_id = contact.agent_id
        talk = record.talk_s         # a given contact brings its own handle time
        if talk is None:
            talk = record.talk_s = record.stream.handle_time.sample(self.rng)
        if self.pitches is not None and record.customer is not None:
            # The offers the agent presents lengthen the call (SPEC §7 marketing).
            record.pitch_s = self.pitches.answered(record.customer)
            talk += record.pitch_s
        self._schedule(now + talk, _END, site_name, contact_id)

    def _abandon(self, contact_id, now):
        record = self.records[contact_id]
        if record.final_state is not None:
            return
        contact = self.sites[record.site].contacts.get(contact_id)
        if contact is not None and not contact.callback and contact.state in (
                ContactState.QUEUED, ContactState.OFFERED, ContactState.IN_IVR):
            # Patience counts from the call's arrival, time in the IVR included; a caller
            # who took a callback has hung up already.
            record.abandoned_in_ivr = contact.state is ContactState.IN_IVR
            self._step(record.site, ev.ContactAbandoned(now, contact_id))

    def _staff(self, site_name, agents, now):
        """`agents` of the site's agents ready from now on (the `staffing` of the run)."""
        everyone = list(self.sites[site_name].agents.values())
        ready = [agent for agent in everyone if agent.mode is AgentMode.READY]
        if len(ready) > agents:
            ready.sort(key=lambda agent: agent.state is not AgentState.READY)   # idle first
            for agent in ready[:len(ready) - agents]:
                self._step(site_name, ev.AgentNotReady(now, agent.config.agent_id, "off_shift"))
        else:
            waiting = [agent for agent in everyone if agent.mode is AgentMode.NOT_READY]
            for agent in waiting[:agents - len(ready)]:
                self._step(site_name, ev.AgentReady(now, agent.config.agent_id))

    # ---- outbound campaigns (SPEC §6) -----------------------------------------------------------
    def _to_campaign(self, run, event, now) -> None:
        """An event for a campaign's pacer: its decisions carried out. A campaign that dials
        only for idle agents is paced again at once (an agent may wait for its next call);
        one that dials ahead is paced on its own rhythm and when an agent frees up."""
        self._carry_out(run, run.campaign.handle(event), now)
        if run.campaign.next_pace_at(now) is None:
            self._pace_due[run.name] = run

    def _pace(self, run, now) -> None:
        agents = skill_agents(self.sites[run.site], run.skill, now, run.spec.inbound_skills)
        self._carry_out(run, run.campaign.handle(dev.Pace(now, agents)), now)
        if run.pace_at is None:
            run.pace_at = run.campaign.next_pace_at(now)
            if run.pace_at is None:
                # A campaign that dials only for idle agents is paced on events; a retry
                # that comes due while nothing happens is paced at its time.
                due = run.campaign.call_list.next_due(now)
                run.pace_at = due if due is not None and due > now else None
            if run.pace_at is not None:
                self._schedule(run.pace_at, _PACE, run)

    def _pace_all(self, now) -> None:
        # Bounded: a pace makes agents ready only by releasing them, which happens once.
        while self._pace_due:
            due = list(self._pace_due.values())
            self._pace_due.clear()
            for run in due:
                self._pace(run, now)

    def _carry_out(self, run, decisions, now) -> None:
        for decision in decisions:
            kind = type(decision)
            if kind is Dial:
                delay, outcome = run.dial(decision)
                self._schedule(now + delay, _CALL_PROGRESS, run, (decision.call_id, outcome))
            elif kind is Connect:
                self._connect(run, decision, now)
            elif kind is Drop:
                run.finished(decision.call_id)
            elif kind is PlayMessage:
                run.messages_played += 1        # the callee hears it; the call is over
            elif kind is Hold:          # blending: inbound must not take it while it rings
                self._step(run.site, ev.AgentHeld(now, decision.agent_id, decision.reason))
            elif kind is Preview:
                self._step(run.site, ev.AgentNotReady(now, decision.agent_id, "preview"))
                self._schedule(now + run.spec.preview_s, _PREVIEWED, run, decision.agent_id)
            else:       # Release: nothing more to preview or dial for the agent
                self._step(run.site, ev.AgentReady(now, decision.agent_id))

    def _call_progress(self, run, call_id, outcome, now) -> None:
        self._to_campaign(run, dev.CallProgress(now, call_id, outcome), now)
        if outcome in _UNANSWERED:
            run.finished(call_id)

    def _connect(self, run, decision, now) -> None:
        """A live answer becomes an outbound contact of the campaign's skill, routed by the
        core; the agent it was dialled for is made ready once it waits, so that it is the
        first contact offered to that agent (at its priority)."""
        call_id = decision.call_id
        talk_s = run.answered(call_id)[1]
        record = ContactRecord(call_id, run.stream, run.site, now)
        record.talk_s = talk_s
        self.records[call_id] = record
        self._outbound[call_id] = run
        self._step(run.site, ev.ContactArrived(now, call_id, decision.skill, decision.priority,
                                               channel=Channel.OUTBOUND))
        if decision.agent_id is not None:
            self._step(run.site, ev.AgentReady(now, decision.agent_id))
        self._schedule(now + decision.within_s, _CONNECT_LIMIT, run, call_id)

    def _connect_limit(self, run, call_id, now) -> None:
        """No agent within the connect limit: the callee hears the message, an abandon."""
        record = self.records[call_id]
        contact = self.sites[record.site].contacts.get(call_id)
        if contact is not None and contact.state in (ContactState.QUEUED, ContactState.OFFERED):
            self._step(record.site, ev.ContactAbandoned(now, call_id))
            run.finished(call_id)
            self._to_campaign(run, dev.CallAbandoned(now, call_id), now)    # PlayMessage

    def _outbound_ended(self, run, call_id, now) -> None:
        person = run.finished(call_id)
        self._to_campaign(run, dev.CallEnded(now, call_id, machine=not person), now)

    def _shift_end(self, now) -> None:
        for run in self.campaigns.values():
            self._carry_out(run, run.campaign.handle(dev.Stop(now)), now)
            run.end_shift(self.sites[run.site], now)

    # ---- the run ----------------------------------------------------------------------------------
    def run(self, progress=None) -> SimulationResult:
        """Run to the end of traffic and drain; `progress(simulated_s)` is called now and then."""
        started = wallclock.perf_counter()
        self._serial = [0] * len(self.scenario.traffic)
        for name, site in self.sites.items():
            for agent_id in site.agents:
                self._step(name, ev.AgentLoggedIn(0.0, agent_id))
                self._step(name, ev.AgentReady(0.0, agent_id))
        for at, site_name, agents in self.staffing:
            self._schedule(at, _STAFF, site_name, agents)
        if self.campaigns:
            for run in self.campaigns.values():
                self._pace_due[run.name] = run
            self._pace_all(0.0)
            self._schedule(self.scenario.duration_s, _SHIFT_END)
        if self.arrivals is not None:
            for arrival in self.arrivals:
                self._schedule(arrival.time_s, _ARRIVAL, arrival.stream, arrival)
        else:
            for number, stream in enumerate(self.scenario.traffic):
                self._schedule(self.rng.expovariate(stream.rate_per_hour / 3600.0), _ARRIVAL,
                               number)
        heap = self._heap
        now = 0.0
        steps = 0
        while heap:
            now, _, kind, a, b = heapq.heappop(heap)
            if now > self.end_s:
                break
            if kind == _ARRIVAL:
                self._arrive(a, now, b)
            elif kind == _ANSWER:
                self._answer(a, b, now)
            elif kind == _END:
                contact = self.sites[a].contacts.get(b)
                if contact is not None and contact.state is ContactState.CONNECTED:
                    self._step(a, ev.ContactEnded(now, b))
                    if self._outbound:
                        run = self._outbound.get(b)
                        if run is not None:
                            self._outbound_ended(run, b, now)
            elif kind == _ABANDON:
                self._abandon(a, now)
            elif kind == _CALLER:
                self._caller_event(a, b)
            elif kind == _STAFF:
                self._staff(a, b, now)
            elif kind == _TICK:
                if self._tick_at.get(a) == now:
                    del self._tick_at[a]
                self._step(a, ev.Tick(now))
            elif kind == _CALL_PROGRESS:
                self._call_progress(a, b[0], b[1], now)
            elif kind == _PACE:
                if a.pace_at == now:
                    a.pace_at = None
                    self._pace_due[a.name] = a
            elif kind == _PREVIEWED:
                self._to_campaign(a, dev.PreviewDone(now, b), now)
            elif kind == _CONNECT_LIMIT:
                self._connect_limit(a, b, now)
            else:
                self._shift_end(now)
            if self._pace_due:
                self._pace_all(now)
            steps += 1
            if progress is not None and steps % 20000 == 0:
                progress(min(now, self.scenario.duration_s))
        for site in self.sites.values():
            site.validate()
        wall = wallclock.perf_counter() - started
        agents = {name: [site.agent_occupancy(agent_id) for agent_id in site.agents]
                  for name, site in self.sites.items()}
        records = list(self.records.values())
        report = build_report(self.scenario, records, agents, self.max_lines_in_use)
        report["run"] = {"seed": self.seed, "simulated_s": self.scenario.duration_s,
                         "wall_s": round(wall, 3), "core_events": self.events,
                         "contacts_per_wall_s": round(len(records) / wall) if wall else None,
                         "speedup": round(self.scenario.duration_s / wall, 1) if wall else None}
        if self.pitches is not None:
            report["marketing"] = self.pitches.report()
        if self.campaigns:
            report["campaigns"] = {name: run.report() for name, run in self.campaigns.items()}
        return SimulationResult(report, wall, self.events, records)


def _outbound_stream(scenario, spec) -> TrafficStream:
    """What a campaign's outbound contacts are reported under (by skill, site and class)."""
    skill = spec.config.skill
    return TrafficStream(spec.site, skill, 0.0, Priority.MEDIUM,
                         scenario.skills[skill].sl_threshold_s, Channel.OUTBOUND,
                         spec.handle_time, None, line=spec.line)

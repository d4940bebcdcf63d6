"""The one implementation of hosting campaigns' pacers in the live cluster (SPEC §6), for
both runtimes: `CampaignHost` lives beside the host (the gateway's process) and carries out
what each campaign's pacer decides; the pacer object itself (`actors.dialer_actor.
DialerActor`, the core's `Campaign` inside) lives where the host puts it: in this process
(CoreHost.start_pacer) or in a Ray `DialerActor` of its own (RayHost.start_pacer), one per
campaign, reached with one call per step either way.

What the host does around a pacer, the same things `vcc simulate` does in its world
(loadtests/simulator.py):
- paces it: at once when it starts, after every event of a campaign that dials only for
  idle agents, whenever an agent of its skill at its site becomes ready, and at the time it
  names (`pace_every_s` for a predictive one; a retry's due time); a `Pace` carries the
  skill's agents as the site core has them (`host.skill_agents`);
- carries a `Dial` to the PBX link that serves the campaign's site (an attached link that
  said the site in its hello; none: no pace until one comes), as a `dial` action with the
  callee's number read from the store's list;
- turns the PBX's `call_progress` into `CallProgress`; a live answer (`Connect`) becomes an
  outbound contact of the campaign's skill at its site, owned by that link (the core routes
  it like any other: `route_to_agent` on the link; its record names the campaign); if no
  agent took it within `within_s` (2 s) it is abandoned (`ContactAbandoned` at the site,
  `CallAbandoned` to the pacer, whose `PlayMessage` goes to the link); the contact's end
  is `CallEnded`;
- a machine AMD detected is hung up (`hang_up`);
- blending (SPEC §6; `protect_inbound_sl_pct`): its paces carry the inbound skills its
  agents serve (their other skills, but those campaigns dial for), a `Hold` holds the
  agent at its site (`AgentHeld`: not ready, reason `outbound`) so that no inbound contact
  takes it while its call rings, a `Release` makes it ready again, and a live answer
  enters at the priority the pacer names (top) with the held agent made ready just after
  it. The pace read the agents a moment before: if a contact reached the agent since, the
  site refuses the hold, the call dialled for it is not sent, and the pacer undoes it
  (`HoldRefused`);
- notes every attempt (dialled, the PBX's outcome, a live answer connected or abandoned) to
  the attempts writer (cluster/campaigns/attempts.py), which stores them in batches off
  the event loop, for `vcc report --by campaign`;
- gives it the do-not-call lists (the global one and the campaign's, keys only) when it
  starts, and every change of them at once (`DoNotCallChanged`), under one lock so that a
  campaign starting while a list changes misses nothing.

Four parts live in modules of their own, mixed into CampaignHost: the agents it holds and
their previews (held_agents.py), calendars changed while campaigns run (window_changes.py),
the do-not-call lists (do_not_call_lists.py) and writing the journal and snapshots
(journaling.py).

With a journal (cluster/campaigns/journal.py) every step's events are committed before its
decisions are carried out, and `attach` resumes the campaigns an earlier server or leader
ran (cluster/campaigns/resume.py): a restart or a takeover dials no number twice and loses
no answered call.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets

from actors.site_actor import ActorUnavailable
from cluster.campaigns.definition import call_window_of
from cluster.campaigns.do_not_call_lists import DoNotCallLists
from cluster.campaigns.held_agents import HeldAgents
from cluster.campaigns.journaling import Journaling
from cluster.campaigns.window_changes import CallWindowChanges
from cluster.campaigns.hosted import Hosted, Up
from cluster.host_interface import HostClosed, OutboundCall, Routed
from cluster.ray_jobs import SiteUnavailable
from cluster.phone_keys import phone_key, time_zones
from sites import events as ev
from sites.actions import AgentStateChanged, ContactFinished
from sites.calendars import WallClock
from sites.dialer import events as dev
from sites.dialer.decisions import Connect, Dial, Drop, Hold, PlayMessage, Preview, Release
from sites.dialer.do_not_call import DoNotCall
from cluster.campaigns.journal import start_entry, step_entry
from cluster.campaigns.resume import rebuild_lost_pacer, resume_campaigns
from sites.errors import InvalidInput, NotFound, PreconditionFailed
from sites.model import AgentState, Channel, ContactState

log = logging.getLogger(__name__)

NO_LINK_RETRY_S = 1.0       # no PBX link serves the site: look again this often
# A pace that could not read its agents (their site's actor is being recovered): again this
# soon. A campaign paced on events (progressive, preview) with no call up and its agents
# already idle would otherwise wait for an event that may never come.
PACE_RETRY_S = 1.0
# A live answer past its limit whose site cannot say whether an agent took it is asked
# again every PACE_RETRY_S, this many times (RayHost's recovery_timeout_s, 120 s).
CONNECT_CHECK_TRIES = 120
# How long a campaign call or a PBX's call progress waits for a new leader (or a restarted
# server) to resume the campaigns of the one before (resume.py).
RESUME_WAIT_S = 30.0
_WAITING = (ContactState.QUEUED, ContactState.OFFERED)
_ANSWERS = (ev.ContactConnected, ev.OfferAccepted)


class CampaignHost(HeldAgents, CallWindowChanges, DoNotCallLists, Journaling):
    def __init__(self, host, store, *, secret=None, do_not_call=None, attempts=None,
                 journal=None):
        """`host`: a CoreHost or RayHost, or None until `attach` (a leader's term);
        `store`: a cluster.campaigns.store.CampaignStore.
        `secret`: the center's key for the numbers' keyed hashes (cluster/phone_keys.py), or
        a blocking callable that reads it (the server gives
        do_not_call_store.phone_key_secret of its store, read at the first call that needs
        it: a store that does not answer at start must not stop the server, its calls are
        UNAVAILABLE meanwhile), so that the keys of the lists and of the records agree
        across restarts; default: one per process. `do_not_call`: a DoNotCallStore (None:
        no lists). `attempts`: an AttemptWriter (None: attempts are not stored). `journal`: a
        CampaignJournal (None: a restart or a takeover cannot resume a campaign)."""
        self.host = None
        self.store = store
        if callable(secret):
            self._secret, self._secret_source = None, secret
        else:
            self._secret, self._secret_source = secret or secrets.token_bytes(32), None
        self.do_not_call = do_not_call
        self.attempts = attempts
        # Held while a pacer is built from the stored lists and while a list changes (store
        # then pacers): a change is either in what a starting pacer loads or sent to it.
        self.lists_lock = asyncio.Lock()
        self.hosted: dict[str, Hosted] = {}
        self._calls: dict[str, Hosted] = {}        # call id -> its campaign, while up
        self._tasks: set = set()
        self.closed = False
        self.journal = journal
        self.token = None                   # the leader's term (fences the journal)
        # Set while campaigns may be served: once `attach` has resumed what it could (a
        # host given here has nothing to resume unless `attach` is called before serving).
        self.resumed = asyncio.Event()
        if host is not None:
            self._bind(host, None)
            self.resumed.set()

    # ---- a host's term --------------------------------------------------------------------
    def _bind(self, host, token) -> None:
        self.host, self.token = host, token
        host.observe_applied(self._applied)

    async def attach(self, host, token=None) -> None:
        """Serve campaigns on `host` (a new leader's, with its term `token`, or a restarted
        server's) and resume those an earlier one ran (resume.py)."""
        if self.host is not host:
            self._bind(host, token)
        self.token = token
        self.resumed.clear()
        try:
            if self.journal is not None:
                await resume_campaigns(self)
        finally:
            self.resumed.set()

    async def until_resumed(self) -> bool:
        """Wait (at most RESUME_WAIT_S) until `attach` has resumed the campaigns; whether it
        has. A new leader serves before its campaigns are back (contacts first)."""
        if self.resumed.is_set():
            return True
        try:
            await asyncio.wait_for(self.resumed.wait(), RESUME_WAIT_S)
        except asyncio.TimeoutError:
            return False
        return True

    async def detach(self) -> None:
        """The term ended (or the server stops): stop every pacer here; what they did is in
        the journal for the next."""
        for hosted in self.hosted.values():
            self._cancel_timer(hosted)
            hosted.deposed = True
            if hosted.pacer is not None and self.host is not None:
                self.host.stop_pacer(hosted.pacer)
        self.hosted.clear()
        self._calls.clear()
        for task in list(self._tasks):
            task.cancel()
        self.host = None
        self.resumed.clear()

    # ---- Admin ------------------------------------------------------------------------------
    def state_of(self, name: str, stored_state: str) -> str:
        hosted = self.hosted.get(name)
        return hosted.state if hosted is not None else stored_state

    def hosted_figures(self, name: str) -> tuple:
        """(state, time, figures) of a campaign this process runs; NotFound otherwise."""
        hosted = self.hosted.get(name)
        if hosted is None:
            raise NotFound("campaign", f"campaign {name!r} has not run in this server")
        figures = dict(hosted.figures, messages_played=hosted.messages_played,
                       records=hosted.records)
        return hosted.state, hosted.time, figures

    async def start(self, document: dict, state: str, records: int, rows_loader) -> str:
        """Start (or resume) a campaign; its state now. `rows_loader()`: an awaitable of the
        list's rows [(id, phone, timezone, customer_id)], read when it first starts."""
        name = document["name"]
        hosted = self.hosted.get(name)
        if hosted is None:
            if state == "stopped":
                raise PreconditionFailed("name", f"campaign {name!r} is stopped for good")
            if state != "draft":
                # Started by an earlier server and not resumed by `attach`: no journal
                # (an older version started it, or this server has no journal).
                raise PreconditionFailed("name", f"campaign {name!r} was started by an "
                                                 "earlier server without a campaign journal "
                                                 "and cannot resume here")
            hosted = Hosted(document, state, records, self._call_window(document))
            if hosted.config.blended:
                problem = await self.host.blend_problem(
                    hosted.site, hosted.skill, self._outbound_skills(hosted.site, hosted.skill))
                if problem is not None:
                    raise PreconditionFailed(*problem)
            clock = self.host.wall_clock
            async with self.lists_lock:
                global_keys, campaign_keys = await self._list_keys(name)
                await self._build_pacer(hosted, await rows_loader(),
                                        DoNotCall(global_keys, campaign_keys), clock)
                await self._write(hosted, start_entry(global_keys, campaign_keys,
                                                      hosted.config.call_window, clock))
                self.hosted[name] = hosted
        elif hosted.state == "stopped":
            raise PreconditionFailed("name", f"campaign {name!r} is stopped for good")
        hosted.state = "running"
        self._pace_soon(hosted)
        return hosted.state

    def _call_window(self, document: dict):
        """The center's calendar the campaign's `call_window` names now (None: no window);
        PreconditionFailed if the routing plans no longer have it."""
        try:
            return call_window_of(document, self.host.plans.calendars)
        except InvalidInput as error:
            raise PreconditionFailed(error.field, f"{error.problem}: put the campaign with "
                                                  "another call_window first") from None

    async def _build_pacer(self, hosted: Hosted, rows: list, lists: DoNotCall,
                           clock: WallClock, state: dict | None = None) -> None:
        """`clock`: the wall clock its call window is read on (the host's when it started);
        `state`: a snapshot of its pacer to start from (`lists`: those it started with)."""
        ids, groups, keys, group_of = [], [], [], {}
        for record_id, phone, timezone, customer_id in rows:
            ids.append(record_id)
            hosted.phones[record_id] = phone
            if customer_id:
                hosted.customers[record_id] = customer_id
            zones = (timezone,) if timezone else time_zones(phone)
            groups.append(group_of.setdefault(zones, len(group_of)))
            keys.append(phone_key(self.secret, phone))
        hosted.pacer = self.host.start_pacer(hosted.name, hosted.config, tuple(ids), groups,
                                             tuple(group_of) or ((),), tuple(keys), lists,
                                             clock, state)

    def pause(self, name: str) -> str:
        hosted = self._running(name)
        hosted.state = "paused"
        self._cancel_timer(hosted)
        return hosted.state

    async def stop(self, name: str) -> str:
        """Dial nothing more, for good; calls in progress go on to their end."""
        hosted = self.hosted.get(name)
        if hosted is None or hosted.state == "stopped":
            return "stopped"
        hosted.state = "stopped"
        self._cancel_timer(hosted)
        await self._feed(hosted, lambda now: [dev.Stop(now)])
        if not hosted.calls and self.journal is not None:
            await self._close_stopped(hosted)
        return hosted.state

    def _running(self, name: str) -> Hosted:
        hosted = self.hosted.get(name)
        if hosted is None or hosted.state not in ("running", "paused"):
            raise PreconditionFailed("name", f"campaign {name!r} is not running")
        return hosted

    # ---- the PBX's events ------------------------------------------------------------------
    async def progress(self, link_id: str, call_id: str, outcome: dev.CallOutcome) -> None:
        """What became of a call (the PBX's `call_progress`); InvalidInput naming the field
        if the link has no such call ringing."""
        # The PBX re-sends the progress of calls a dead leader dialled as soon as it is
        # back: refused before the campaign is resumed, their live answers would be lost
        # (loadtests/campaign_failover.py). After the wait, what is unknown is refused.
        await self.until_resumed()
        hosted = self._calls.get(call_id)
        up = hosted.calls.get(call_id) if hosted is not None else None
        if up is None and any(other.was_over(call_id) for other in self.hosted.values()):
            return      # over in the journal: the PBX re-sent what an earlier server took
        if up is not None and up.link_id is None:
            up.link_id = link_id        # dialled by an earlier server: this link has it now
        if up is None or up.link_id != link_id:
            raise InvalidInput("call_progress.call_id",
                               f"no call {call_id!r} dialled on link {link_id!r}")
        if up.answered:
            if up.recovered and outcome is dev.CallOutcome.LIVE:
                return  # the PBX re-sent the answer an earlier server journaled
            if (outcome is dev.CallOutcome.MACHINE and up.connected
                    and not hosted.config.amd_enabled):
                # AMD off: the agent found a machine on the connected call. Not a live
                # answer for the abandon limit (its end says so: CallEnded.machine).
                up.machine = True
                self._note(call_id, outcome=outcome.value)
                return
            raise InvalidInput("call_progress.call_id", f"call {call_id!r} was answered already")
        self._note(call_id, outcome=outcome.value)
        if outcome is dev.CallOutcome.LIVE:
            up.answered = True
        else:
            self._forget(hosted, call_id)
        await self._feed(hosted, lambda now: [dev.CallProgress(now, call_id, outcome)])

    def _applied(self, item, actions) -> None:
        """Rounds.applied (in the round: only notes, never awaits): an agent took a live
        answer, an outbound contact ended, an agent of a campaign became ready."""
        calls = self._calls
        if calls:
            event = item.event
            if type(event) in _ANSWERS and actions:
                hosted = calls.get(event.contact_id)
                up = hosted.calls.get(event.contact_id) if hosted is not None else None
                if up is not None and up.answered and not up.connected and not up.abandoning:
                    up.connected = True
                    self._note(event.contact_id, result="connected",
                               result_time=self.host.now())
                    self._spawn(self._feed(hosted, lambda now, call=event.contact_id: [
                        dev.CallConnected(now, call)]))
        for action in actions:
            kind = type(action)
            if kind is ContactFinished and calls:
                self._finished(action)
            elif kind is AgentStateChanged and action.state is AgentState.READY:
                for hosted in self.hosted.values():
                    if (hosted.site == item.site and hosted.state == "running"
                            and self.host.agent_has_skill(item.site, action.agent_id,
                                                          (hosted.skill,))):
                        self._pace_soon(hosted)
            elif kind is AgentStateChanged and action.state is AgentState.LOGGED_OUT:
                self._let_go(item.site, action.agent_id)

    def _finished(self, action) -> None:
        hosted = self._calls.get(action.contact_id)
        up = hosted.calls.get(action.contact_id) if hosted is not None else None
        if up is None or up.abandoning:
            return
        call_id = action.contact_id
        if up.connected:
            self._forget(hosted, call_id)
            self._spawn(self._feed(hosted, lambda now: [dev.CallEnded(now, call_id,
                                                                      machine=up.machine)]))
        elif up.answered:
            # The callee hung up before an agent took the call (the PBX's `abandoned`): an
            # abandon all the same, as the limit counts them.
            up.abandoning = True
            self._spawn(self._abandoned(hosted, call_id))

    # ---- pacing -------------------------------------------------------------------------------
    def _pace_soon(self, hosted: Hosted) -> None:
        if not hosted.pace_pending and not self.closed:
            hosted.pace_pending = True
            self._spawn(self._pace(hosted))

    async def _pace(self, hosted: Hosted) -> None:
        hosted.pace_pending = False
        if hosted.state != "running" and not hosted.resend:
            return
        if self._link_for(hosted.site) is None:
            self._arm(hosted, self.host.now() + NO_LINK_RETRY_S)
            return
        if hosted.resend:       # whatever its state: its calls up are followed to their end
            self._resend_dials(hosted)
            if hosted.state != "running":
                return
        try:
            await self._feed(hosted, lambda now: self._pace_events(hosted, now), pace=True)
        except (SiteUnavailable, ActorUnavailable) as error:
            # Nothing was dialled: the agents' site is being recovered (they are read before
            # the pacer steps), or the pacer's actor is gone and could not be rebuilt yet
            # (rebuild_lost_pacer). Only these: a host that closed or lost its term detaches
            # the campaigns.
            if self.host is not None and not (self.closed or hosted.deposed) and (
                    hosted.state == "running"):
                log.warning("campaign %s: not paced (%s); paced again in %g s", hosted.name,
                            error, PACE_RETRY_S)
                self._arm(hosted, self.host.now() + PACE_RETRY_S)

    async def _pace_events(self, hosted: Hosted, now: float) -> list:
        """A pace with the agents as they are now. Read under the campaign's lock: no step
        of its pacer comes between the read and the pace (a call connected, or agents held,
        in between would be counted as if not: a call too many)."""
        agents = await self.host.skill_agents(
            hosted.site, hosted.skill, self._outbound_skills(hosted.site, hosted.skill)
            if hosted.config.blended else None)
        return [dev.Pace(now, agents)]

    async def _feed(self, hosted: Hosted, events_at, pace: bool = False) -> None:
        """One step of the pacer with the events `events_at(now)` make (a list, or an
        awaitable of one, awaited under the campaign's lock), its decisions carried out;
        then its next pace is set."""
        async with hosted.lock:
            if hosted.deposed:
                return
            # A resumed campaign's time goes on from its journal's, even if this host's
            # clock started behind it.
            now = max(self.host.now(), hosted.time)
            events = events_at(now)
            if inspect.isawaitable(events):
                events = await events
            try:
                step = await hosted.pacer.step(events, now)
            except ActorUnavailable as lost:
                # Its actor died: these events were not journaled, so a pacer rebuilt from
                # the journal has not seen them either; they go to it.
                await rebuild_lost_pacer(self, hosted, lost)
                step = await hosted.pacer.step(events, now)
            if step.refused is not None:
                # The pacer applied the others: they are journaled and carried out like any
                # step's; the refusal is raised after that.
                events = [events[index] for index in step.applied]
            hosted.figures, hosted.time = step.figures, now
            if events:
                # Before anything it decided is carried out: a dial the journal does not
                # hold was never sent.
                await self._write(hosted, step_entry(events, hosted.paces))
                hosted.since_snapshot += 1
            await self._carry_out(hosted, step.decisions, now)
            if self.journal is not None and hosted.since_snapshot >= self.journal.snapshot_every:
                await self._snapshot(hosted)
            if hosted.state == "running":
                if step.pace_at is not None:
                    self._arm(hosted, step.pace_at)
                elif not pace and not hosted.config.dials_ahead:
                    self._pace_soon(hosted)     # an agent may wait for its next call
            if step.refused is not None:
                raise step.refused

    async def link_for_resumed(self, hosted: Hosted, up: Up, wait_s: float) -> bool:
        """Give a call an earlier server dialled the link that serves its site now, waiting
        for one to attach (a PBX reconnects after a restart) at most `wait_s`."""
        for _ in range(int(wait_s / NO_LINK_RETRY_S) + 1):       # bounded
            link = self._link_for(hosted.site)
            if link is not None:
                up.link_id = link.link_id
                return True
            await asyncio.sleep(NO_LINK_RETRY_S)
        return False

    def _arm(self, hosted: Hosted, at: float) -> None:
        self._cancel_timer(hosted)
        if self.closed:
            return
        delay = max(0.0, at - self.host.now())
        hosted.timer = asyncio.get_running_loop().call_later(delay, self._pace_soon, hosted)

    @staticmethod
    def _cancel_timer(hosted: Hosted) -> None:
        if hosted.timer is not None:
            hosted.timer.cancel()
            hosted.timer = None

    # ---- carrying out ---------------------------------------------------------------------------
    async def _carry_out(self, hosted: Hosted, decisions: list, now: float) -> None:
        refused = []        # agents the site would not hold: their calls are not sent
        for decision in decisions:
            kind = type(decision)
            if kind is Dial:
                if decision.agent_id in refused:
                    continue
                self._dial(hosted, decision, now)
            elif kind is Connect:
                await self._connect(hosted, decision, now)
            elif kind is Drop:
                self._to_link(hosted, hosted.calls.get(decision.call_id), decision, now)
                self._forget(hosted, decision.call_id)
            elif kind is PlayMessage:
                up = hosted.calls.get(decision.call_id)
                self._to_link(hosted, up, decision, now)
                hosted.messages_played += 1
                self._forget(hosted, decision.call_id)
            elif kind is Hold:      # blending: no inbound contact takes it while it rings
                if not await self._hold(hosted, decision.agent_id, decision.reason, now):
                    refused.append(decision.agent_id)
            elif kind is Preview:
                agent = decision.agent_id
                if agent in hosted.holding or await self._hold(hosted, agent, "preview", now):
                    hosted.previews[agent] = decision.record_id
                    self.host._fan_out([self._preview_of(hosted, agent, now)])
                else:
                    refused.append(agent)
            elif kind is Release:
                hosted.holding.discard(decision.agent_id)
                hosted.previews.pop(decision.agent_id, None)
                await self._agent_event(hosted, ev.AgentReady(now, decision.agent_id))
            else:
                log.error("campaign %s: %s is not carried out here", hosted.name,
                          kind.__name__)
        if refused:     # after this step's lock: the next step undoes those calls
            self._spawn(self._feed(hosted, lambda at: [dev.HoldRefused(at, agent)
                                                       for agent in refused]))

    def _dial(self, hosted: Hosted, decision: Dial, now: float) -> None:
        link = self._link_for(hosted.site)
        if link is None:        # gone since the pace began: the PBX will say it failed
            link_id = ""
        else:
            link_id = link.link_id
        record = decision.record_id
        up = hosted.calls[decision.call_id] = Up(record, link_id, agent_id=decision.agent_id)
        self._calls[decision.call_id] = hosted
        self._note(decision.call_id, campaign=hosted.name, record_id=record, dialled_time=now)
        self._send_dial(hosted, decision.call_id, up, decision.ring_timeout_s, decision.amd,
                        now)

    def _send_dial(self, hosted: Hosted, call_id: str, up: Up, ring_timeout_s: float,
                   amd: bool, now: float) -> None:
        self._to_link(hosted, up, OutboundCall(
            call_id, hosted.name, hosted.site, up.record_id, hosted.phones[up.record_id],
            ring_timeout_s, amd, up.agent_id), now)

    def _to_link(self, hosted: Hosted, up: Up | None, action, now: float) -> None:
        if up is not None and up.link_id is None:       # dialled by an earlier server
            link = self._link_for(hosted.site)
            up.link_id = link.link_id if link is not None else None
        if up is None or not up.link_id:
            return
        # Through the host's fan-out: after what it holds for the journal, to the link only.
        self.host._fan_out([Routed(hosted.site, now, action, hosted.skill, up.link_id,
                                   link_only=True)])

    async def _connect(self, hosted: Hosted, decision: Connect, now: float) -> None:
        """A live answer: an outbound contact of the skill at the site, owned by the link."""
        call_id = decision.call_id
        up = hosted.calls[call_id]
        data = {"campaign": hosted.name, "record_id": up.record_id}
        customer = hosted.customers.get(up.record_id)
        if customer:
            data["customer_id"] = customer
        arrival = ev.ContactArrived(now, call_id, decision.skill, decision.priority,
                                    channel=Channel.OUTBOUND, data=data)
        try:
            results = await self.host.submit_batch([(hosted.site, arrival)],
                                                   link_id=up.link_id or None)
            error = results[0].error
        except HostClosed as unavailable:
            # The site's actor is being recovered: nobody can take the answer there now,
            # and the callee must hear the message within the limit, not wait in silence.
            error = unavailable
        if error is not None:
            log.error("campaign %s: the site refused live answer %s: %s", hosted.name,
                      call_id, error)
        elif decision.agent_id in hosted.holding:
            # The agent held for it (preview, blending): ready once the answer waits, so
            # that it is the first contact offered to that agent (blending: at top, before
            # inbound; blend.py).
            hosted.holding.discard(decision.agent_id)
            await self._agent_event(hosted, ev.AgentReady(now, decision.agent_id))
        loop = asyncio.get_running_loop()
        loop.call_later(decision.within_s if error is None else 0.0,
                        lambda: self._spawn(self._connect_limit(hosted, call_id)))

    async def _connect_limit(self, hosted: Hosted, call_id: str, tries: int = 0) -> None:
        """Nobody took the live answer within the limit: abandoned, with the message."""
        up = hosted.calls.get(call_id)
        if up is None or up.connected or up.abandoning:
            return
        up.abandoning = True
        try:
            view = await self.host.contact_view(call_id)
            if view is not None:
                if view.state not in _WAITING:
                    up.abandoning = False
                    return      # being connected: the answer event is on its way
                results = await self.host.submit(None, [ev.ContactAbandoned(0.0, call_id)])
                if results[0].error is not None:
                    up.abandoning = False
                    return
        except SiteUnavailable as unavailable:
            # Its site's actor is being recovered: whether an agent took the answer is not
            # known yet. Asked again until the recovery's bound; then it is abandoned all
            # the same, so that the call ends (the pacer's count of calls up with it).
            if tries < CONNECT_CHECK_TRIES and not (self.closed or hosted.deposed):
                up.abandoning = False
                log.warning("campaign %s: live answer %s: %s; asked again in %g s",
                            hosted.name, call_id, unavailable, PACE_RETRY_S)
                asyncio.get_running_loop().call_later(PACE_RETRY_S, lambda: self._spawn(
                    self._connect_limit(hosted, call_id, tries + 1)))
                return
        await self._abandoned(hosted, call_id)

    async def _abandoned(self, hosted: Hosted, call_id: str) -> None:
        self._note(call_id, result="abandoned", result_time=self.host.now())
        await self._feed(hosted, lambda now: [dev.CallAbandoned(now, call_id)])

    def _note(self, call_id: str, **fields) -> None:
        if self.attempts is not None:
            self.attempts.note(call_id, **fields)

    def _forget(self, hosted: Hosted, call_id: str) -> None:
        hosted.calls.pop(call_id, None)
        self._calls.pop(call_id, None)
        if hosted.state == "stopped" and not hosted.calls and self.journal is not None:
            self._spawn(self._close_stopped(hosted))

    def _resend_dials(self, hosted: Hosted) -> None:
        """Calls that rang when this server resumed the campaign: the earlier one may have
        died between journaling a dial and sending it, so each is sent again; the PBX
        takes a dial whose call id it has as that same call (README, the PBX dial
        protocol)."""
        config, now = hosted.config, self.host.now()
        for call_id in hosted.resend:
            up = hosted.calls.get(call_id)
            if up is None or up.answered:
                continue
            self._send_dial(hosted, call_id, up, config.ring_timeout_s, config.amd_enabled,
                            now)
        hosted.resend = []

    # ---- links and tasks ---------------------------------------------------------------------
    def _link_for(self, site: str):
        """The attached PBX link that dials for `site` (the first by id), or None."""
        best = None
        for link_id, link in self.host._links.items():
            if link.stream is not None and site in link.sites and (
                    best is None or link_id < best.link_id):
                best = link
        return best

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            if not self.closed:
                log.error("campaigns: %s: %s", type(error).__name__, error)

    async def close(self) -> None:
        self.closed = True
        await self.detach()
        if self.attempts is not None:
            await self.attempts.flush()     # the attempts noted so far reach the store

"""`vcc loadtest`: replay a trace (or a scenario's generated trace) against a live cluster.

The load client plays the world around the router over gRPC, the way `loadtests.simulator`
plays it in simulated time:
- the PBX: one `CallControl.Connect` stream (`cluster.client.PbxLink`) carries every
  arrival at the trace's pace times `speed`, answers each offer at once (`answered`), hangs
  up after the contact's handle time / speed (`ended`), and hangs up for callers whose
  patience / speed runs out while they wait (`abandoned`);
- the agents: every agent of the server (Admin.ListAgents per site) that has a skill of the
  trace is logged in and made READY (AgentControl) before the first arrival, and ends its
  wrap-up (`WrapUpDone`) after the configured wrap-up / speed; agents this run logged in
  are logged out at the end.

Bounded in count (`max_contacts`, the trace) and time: a hard wall-clock deadline of the
replayed span / speed plus `drain_s`. At the deadline whatever is live is brought to an end
(queued: abandoned, talking: ended, wrap-up: done; counted as `forced`); a contact without a
final state `cleanup_s` later is counted as `lost`.

The report has the shape of `vcc simulate --json` (loadtests.report.build_report), built
from what the client observed, in trace time (wall time x speed), except waits: a
contact's wait (ASA, SL) is the ROUTER's, from its arrival at the router (its first
`queued` or `offer` routing event) to the offer it was answered on, both read on the
server's clock from Routing.StreamEvents, times `speed`. That is what the simulator
measures (arrival to offer, in its own time). The client's round trip is not scaled into
it: a real PBX adds a few ms to each caller's wait, but at x20 those ms would read as a
tenth of a trace second, most of a sub-second ASA. What the PBX client itself saw (arrival
handed to the stream -> offer read, x speed, round trip included) is kept in
`loadtest.client_observed_by_class`; a contact whose router times the event stream did not
bring keeps that wait and is counted in `loadtest.router_times_missing`. The round trip
itself is reported unscaled: route latency (arrival sent -> first decision read: offer,
queued or rejected) percentiles in ms. `loadtest` also reports errors by gRPC code,
requested vs achieved arrival rate, send lateness, and `late_trace_s`: how late (wall x
speed) the client played its arrivals, hang-ups, abandons and wrap-ups. The replay is only
the trace's center while that stays small: on a busy machine a 0.5 s stall of the client
or server is 10 trace seconds at x20 (agents kept busy, arrivals bunched), and the
router's waits then differ from the simulator's for that reason, not the router's.

For `vcc demo` and other programs:

    report = await run_loadtest(target, trace_or_scenario, *, speed=1.0, duration_s=None,
                                max_contacts=None, progress=None, seed=None, drain_s=None,
                                cleanup_s=10.0, compare_sim=False, config=None, token=None)

`trace_or_scenario`: a trace file (.csv/.jsonl), a scenario YAML (its trace is generated
with `seed`, default the scenario's), or a list of `loadtests.trace.TraceContact`.
`duration_s`: replay only arrivals before this trace time. `progress(snapshot)`: called a
few times a second with a dict (trace_s, span_s, sent, total, final, queued, rate_per_s,
p99_ms). `compare_sim=True` adds `report["compare"]`: the simulator on the same contacts
with the cluster configuration `config` (a cluster YAML or scenario file the server runs;
default the scenario when given one, else the bundled cluster/configs/two_sites.yaml).
Raises `LoadtestError` (bad input, unreachable target) before any contact is sent.

Time-valued settings of the server run in wall time (wrap-up aside: the agents end it
after wrap-up / speed). `--compare-sim` therefore simulates them multiplied by `speed`
(`trace_time_config`: statistics window, AHT estimate, offer timeout, widening, status
age), which is the server's center in trace time. BSR `adjust_by` N cannot be scaled (N
is both seconds and a percent): with N > 0 the comparison carries a note; serve the
scenario with `adjust_by: 0` for a like-for-like comparison. The live agents answer one
round trip after the router's offer and stay reserved meanwhile: a few ms, which is a few
hundredths of a trace second at x20, enough to change later decisions (on the bundled busy
hour: 116-119 interflows instead of 129, sales ASA 7.2 s instead of 4.3 s). So the
simulated agents answer `answer_delay_s` (the live median route latency x speed) after each
offer; waits end at the offer in both. `timing_noise` reruns the simulator with the live
run's arrival jitter, to show how much a difference timing noise alone makes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import heapq
import json
import os
import pathlib
import sys
import time
import types

import grpc

from cluster.client import VccClient
from cluster.yaml_reader import ConfigFileError
from loadtests.grpc_bench import bounded_gather, percentile
from loadtests.report import ContactRecord, build_report, render_report
from loadtests.scenario import ASKS_AGENT_AT, KEYING_S, CallerDecisions
from loadtests.trace import (TraceContact, generate_trace, objective_resolver, read_trace,
                             stream_key, trace_streams)
from sites.model import ContactState, Priority, SkillConfig
from vcc.v1 import (admin_pb2, agent_control_pb2, call_control_pb2, common_pb2, routing_pb2)

RPC_TIMEOUT_S = 10.0
MIN_SPEED, MAX_SPEED = 0.01, 100_000.0     # --speed: a replay is bounded in wall time
MAX_DRAIN_S = 3600.0                        # --drain: wall seconds
SETUP_CONCURRENCY = 16
TICK_S = 0.005                 # the PBX looks at least every 5 ms (progress, the end) ...
WAKE_EARLY_S = 0.0002          # ... and wakes for each due event (an arrival, a hang-up):
POLL_S = 0.001                 # a 5 ms tick made events up to 0.1 trace s late at x20
MAX_RECONNECTS = 5
SL_POINTS = 3.0                # --compare-sim agreement: service level within 3 points
ASA_FRACTION = 0.10            # ... and ASA within 10 % of the simulator's
LATE_WARN_TRACE_S = 1.0        # warn when the client's events went out later than this (p99)
_FINAL_STATE = {common_pb2.ContactState.Value(f"CONTACT_STATE_{state.name}"): state
                for state in ContactState}
_PRIORITY_IN = {common_pb2.Priority.Value(f"PRIORITY_{p.name}"): p for p in Priority}
_PRIORITY_OUT = {p: value for value, p in _PRIORITY_IN.items()}
_CHANNEL_OUT = {name: common_pb2.Channel.Value(f"CHANNEL_{name}")
                for name in ("VOICE", "CHAT", "EMAIL", "SMS", "CALLBACK", "OUTBOUND")}


class LoadtestError(Exception):
    """The run could not start: bad input or an unusable target. Nothing was sent."""


# ---- input ---------------------------------------------------------------------------------------
def load_contacts(source, seed: int | None = None) -> tuple[list, str | None]:
    """(contacts, scenario path or None) of a trace file, a scenario YAML, or contacts."""
    if not isinstance(source, (str, os.PathLike)):
        contacts = list(source)
        if not contacts:
            raise LoadtestError("no contacts to replay")
        return contacts, None
    path = str(source)
    try:
        if pathlib.Path(path).suffix.lower() in (".yaml", ".yml"):
            from loadtests.scenario import load_inbound_scenario
            return generate_trace(load_inbound_scenario(path, "vcc loadtest"), seed), path
        return read_trace(path), None
    except ConfigFileError as error:
        raise LoadtestError(str(error)) from None


def select(contacts, duration_s: float | None, max_contacts: int | None) -> list:
    chosen = [c for c in contacts if duration_s is None or c.arrival_s < duration_s]
    return chosen[:max_contacts] if max_contacts is not None else chosen


# ---- the server's center, through Admin ----------------------------------------------------------
class Center:
    """What the load client needs of the server's configuration (read through Admin)."""

    def __init__(self):
        self.skills: dict = {}          # skill -> SkillConfig (sl_threshold_s, wrap_up_s)
        self.objectives: dict = {}      # skill -> {Priority: seconds}
        self.agents: dict = {}          # (site, agent id) -> admin_pb2.Agent
        self.sites: list = []
        # Routing plans (Admin.GetPlans): dialled number -> service, and the variable each
        # collect prompt fills (IvrTreatment names the prompt, the caller's answers the
        # variable).
        self.entry_points: dict = {}
        self.collects: dict = {}

    def wrap_up_s(self, site: str, agent_id: str, skill: str) -> float:
        agent = self.agents.get((site, agent_id))
        if agent is not None and agent.wrap_up_s > 0:      # 0: the skill's
            return agent.wrap_up_s
        config = self.skills.get(skill)
        return config.wrap_up_s if config is not None else 0.0


async def read_center(vcc: VccClient) -> Center:
    center = Center()
    sites = await vcc.admin.ListSites(admin_pb2.ListRequest(), timeout=RPC_TIMEOUT_S)
    center.sites = [site.name for site in sites.sites]
    for site in center.sites:
        skills = await vcc.admin.ListSkills(admin_pb2.ListRequest(site=site),
                                            timeout=RPC_TIMEOUT_S)
        for skill in skills.skills:
            # Every skill exists at every site with the same settings (cluster/config.py).
            center.skills.setdefault(skill.name, SkillConfig(
                skill.name, sl_threshold_s=skill.sl_threshold_s or 20.0,
                wrap_up_s=skill.wrap_up_s))
            center.objectives.setdefault(skill.name, {
                _PRIORITY_IN[objective.priority]: objective.service_objective_s
                for objective in skill.service_objectives
                if objective.priority in _PRIORITY_IN})
        agents = await vcc.admin.ListAgents(admin_pb2.ListRequest(site=site),
                                            timeout=RPC_TIMEOUT_S)
        for agent in agents.agents:
            center.agents[(site, agent.agent_id)] = agent
    plans = json.loads((await vcc.admin.GetPlans(admin_pb2.GetPlansRequest(),
                                                 timeout=RPC_TIMEOUT_S)).json or "{}")
    for dnis, entry in (plans.get("entry_points") or {}).items():
        center.entry_points[dnis] = entry.get("service")
    for steps in (plans.get("plans") or {}).values():
        for step in steps or ():
            collect = step.get("collect") if isinstance(step, dict) else None
            if isinstance(collect, dict):
                center.collects.setdefault(collect.get("prompt"), collect.get("into"))
    return center


def check_trace(contacts, center: Center) -> None:
    """Every contact's site and skill (a dialled contact's number) must exist at the
    server (named by trace line)."""
    for contact in contacts:
        where = f"line {contact.line}" if contact.line else contact.contact_id
        if contact.site not in center.sites:
            raise LoadtestError(f"trace {where}: site: {contact.site!r} is not a site of the "
                                f"server ({', '.join(center.sites)})")
        if contact.dialled:
            if contact.dnis not in center.entry_points:
                raise LoadtestError(f"trace {where}: dnis: {contact.dnis!r} is not an entry "
                                    f"point of the server's routing plans "
                                    f"({', '.join(center.entry_points) or 'none'})")
        elif contact.skill not in center.skills:
            raise LoadtestError(f"trace {where}: skill: {contact.skill!r} is not a skill of "
                                f"the server ({', '.join(center.skills)})")


# ---- the router's own clock ----------------------------------------------------------------------
class RouterClock:
    """Routing.StreamEvents(kinds=[queued, offer]) of the trace's skills: when the router
    itself decided, on the server's clock (RoutingEvent.time_s). A contact's router arrival
    is its first `queued` or `offer` event (an arrival routed at once is offered in the same
    core event it arrived in); its router answer time is the time of the offer it was
    answered on. Only differences of these times are used: no clock is shared."""

    def __init__(self, vcc: VccClient, skills):
        self.first: dict = {}                # contact id -> server time of its first decision
        self.offers = collections.defaultdict(list)   # contact id -> [(time, site, agent)]
        self.error = None
        self.call = vcc.routing.StreamEvents(routing_pb2.StreamEventsRequest(
            skills=sorted(skills), kinds=["queued", "offer"]))
        self.task = asyncio.ensure_future(self._follow())

    async def _follow(self):
        try:
            async for event in self.call:
                kind = event.WhichOneof("event")
                payload = getattr(event, kind)
                contact_id = payload.contact_id
                if contact_id not in self.first or event.time_s < self.first[contact_id]:
                    self.first[contact_id] = event.time_s
                if kind == "offer":
                    self.offers[contact_id].append((event.time_s, payload.site,
                                                    payload.agent_id))
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                self.error = f"{error.code().name}: {error.details()}"

    async def started(self) -> bool:
        """Subscribed (before the first arrival), or False with `error` set."""
        try:
            await asyncio.wait_for(self.call.initial_metadata(), RPC_TIMEOUT_S)
        except (grpc.aio.AioRpcError, asyncio.TimeoutError) as error:
            self.error = self.error or f"StreamEvents: {error!r}"
            return False
        await asyncio.sleep(0)
        return self.error is None and not self.task.done()

    def wait_s(self, contact_id: str, site: str, agent_id: str) -> float | None:
        """Router time from the contact's arrival to the offer it was answered on, or None
        when the stream did not bring both."""
        arrival = self.first.get(contact_id)
        offers = [t for t, s, a in self.offers.get(contact_id, ()) if s == site and a == agent_id]
        if arrival is None or not offers:
            return None
        return max(0.0, offers[-1] - arrival)

    async def close(self) -> None:
        self.call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


# ---- the replay ----------------------------------------------------------------------------------
_SENT, _QUEUED, _CONNECTED, _ENDED, _FINAL = range(5)


class _Live:
    """The client's view of one contact."""
    __slots__ = ("contact", "record", "state", "sent_at", "decided", "generation",
                 "ended_seq", "abandon_sent", "forced", "ivr_step", "callback", "holds_line")

    def __init__(self, contact, record):
        self.contact, self.record = contact, record
        self.state = None            # not sent yet
        self.sent_at = None
        self.decided = False
        self.generation = 0          # bumps when an offer is revoked (stale hang-up timers)
        self.ended_seq = 0
        self.abandon_sent = False
        self.forced = False
        self.ivr_step = 0            # bumps with each IVR treatment (stale caller answers)
        self.callback = False        # the caller accepted a callback: hung up, never abandons
        self.holds_line = False      # an IVR port of its service, as the PBX sees it


class Replay:
    def __init__(self, vcc: VccClient, contacts: list, center: Center, *, speed: float,
                 drain_s: float, cleanup_s: float, progress=None, link_id: str | None = None):
        self.vcc, self.contacts, self.center, self.speed = vcc, contacts, center, speed
        self.drain_s, self.cleanup_s, self.progress = drain_s, cleanup_s, progress
        self.link_id = link_id or f"loadtest-{os.getpid()}-{int(time.time() * 1000)}"
        objective = objective_resolver(center.skills, center.objectives)
        self.objective = objective
        streams = trace_streams(contacts, objective)
        self.live = {}
        for contact in contacts:
            stream = streams[stream_key(contact, objective)]
            record = ContactRecord(contact.contact_id, stream, contact.site, contact.arrival_s)
            self.live[contact.contact_id] = _Live(contact, record)
        self.errors = collections.Counter()
        self.event_errors: list = []           # the first few refused events, for the report
        self.overflowed = 0                    # new contacts refused at once: overloaded
        self.latencies: list = []              # route latency, seconds
        self.lateness: list = []               # arrival sent - its due time, seconds
        self.event_lateness: list = []         # hang-ups, abandons, wrap-ups: sent - due
        self.sent = self.final = self.queued = self.twice = 0
        self.agent_work = collections.Counter()     # (site, agent) -> trace seconds working
        self._end_heap: list = []              # (wall due, generation, contact id)
        self._wrap_heap: list = []             # (wall due, contact id)
        self._abandon_heap: list = []          # (wall due, contact id)
        # The caller's answers to IVR treatments: (wall due, order, contact id, IVR step,
        # PbxEvent); and the seqs of those sent, whose refusal (the router's own timer or an
        # agent got there first) is the race every PBX has, not an error.
        self._ivr_heap: list = []
        self._ivr_order = 0
        self._ivr_pending: list = []
        self._ivr_seqs: set = set()
        self.ivr_answers = collections.Counter()   # kind -> answers sent
        self.ivr_overtaken = 0
        self.lines = collections.Counter()          # service -> IVR ports held now
        self.max_lines: dict = {}                   # service -> most held at once
        self._tasks: set = set()
        self.link = None
        self.router = None                     # RouterClock: the router's decision times
        self.t0 = None
        self.closing = False

    def trace_now(self, wall: float) -> float:
        return (wall - self.t0) * self.speed

    def skills(self) -> set:
        """The skills this replay drives: the trace's, or every skill of the server when a
        contact dialled a number (its plan may queue it in any)."""
        if any(contact.dialled for contact in self.contacts):
            return set(self.center.skills)
        return {contact.skill for contact in self.contacts}

    # ---- agents ----
    async def _call(self, rpc, request, *, benign=()):
        try:
            return await rpc(request, timeout=RPC_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            if not any(text in (error.details() or "") for text in benign):
                self.errors[error.code().name] += 1
            return None

    async def agents_in(self) -> list:
        """Log in and make READY every agent with a skill of the trace; the ones this run
        logged in are returned (to log out at the end)."""
        skills = self.skills()
        driven = [(site, agent) for (site, _), agent in self.center.agents.items()
                  if any(level.skill in skills for level in agent.skills)]
        if not driven:
            raise LoadtestError(f"no agent of the server has a skill of the trace "
                                f"({', '.join(sorted(skills))})")
        self.driven = driven
        logged_in = []

        async def one(site, agent):
            request = agent_control_pb2.AgentRequest(site=site, agent_id=agent.agent_id)
            if agent.state in (common_pb2.AGENT_STATE_LOGGED_OUT,
                               common_pb2.AGENT_STATE_UNSPECIFIED):
                if await self._call(self.vcc.agents.Login, request) is None:
                    return
                logged_in.append((site, agent.agent_id))
            if agent.state != common_pb2.AGENT_STATE_READY:
                await self._call(self.vcc.agents.SetState, agent_control_pb2.SetStateRequest(
                    site=site, agent_id=agent.agent_id, state=common_pb2.AGENT_STATE_READY))
        await bounded_gather(SETUP_CONCURRENCY, [lambda s=s, a=a: one(s, a) for s, a in driven])
        return logged_in

    async def agents_out(self, logged_in) -> None:
        await bounded_gather(SETUP_CONCURRENCY, [
            lambda s=s, a=a: self._call(self.vcc.agents.Logout,
                                        agent_control_pb2.AgentRequest(site=s, agent_id=a))
            for s, a in logged_in])

    def _wrap_up_done(self, live: _Live) -> None:
        record = live.record
        request = agent_control_pb2.AgentRequest(site=record.served_site,
                                                 agent_id=record.agent_id)
        # The server's own wrap-up timer may have completed it first (speed < 1): not an error.
        task = asyncio.ensure_future(self._call(self.vcc.agents.WrapUpDone, request,
                                                benign=("no contact in wrap_up",)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the PBX stream: inbound ----
    async def receive(self) -> None:
        attempts = 0
        while True:
            try:
                async for message in self.link.messages():
                    await self._on_message(message, time.perf_counter())
                return
            except grpc.aio.AioRpcError as error:
                if self.closing:
                    return
                self.errors[f"stream {error.code().name}"] += 1
                if attempts >= MAX_RECONNECTS:
                    return
                attempts += 1
                await asyncio.sleep(0.2 * attempts)
                await self.link.reconnect()

    def _decided(self, live: _Live, wall: float) -> None:
        if not live.decided:
            live.decided = True
            self.latencies.append(wall - live.sent_at)

    async def _on_message(self, message, wall: float) -> None:
        answers = []
        now = self.trace_now(wall)
        for action in message.actions:
            kind = action.WhichOneof("action")
            if kind == "error":
                error = action.error
                if error.event_seq in self._ivr_seqs:
                    self.ivr_overtaken += 1      # the step had ended meanwhile: expected
                    continue
                live = self.live.get(error.contact_id)
                if (live is not None and error.field == "arrived.contact_id"
                        and "overloaded" in error.message and live.state != _FINAL):
                    # Refused at once because the router is behind: the PBX overflows the
                    # call elsewhere. Its one final state here: rejected (not lost).
                    self.overflowed += 1
                    if live.state == _QUEUED:
                        self.queued -= 1
                    live.state = _FINAL
                    self.final += 1
                    live.record.final_state = ContactState.REJECTED
                    live.record.end_time = now
                    continue
                self.errors["EVENT_ERROR"] += 1
                if len(self.event_errors) < 5:
                    self.event_errors.append(f"{error.contact_id}: {error.field}: {error.message}")
                continue
            payload = getattr(action, kind)
            live = self.live.get(payload.contact_id)
            if live is None:
                continue                     # not ours (e.g. a contact of an earlier run)
            record = live.record
            if kind == "route_to_agent":
                self._decided(live, wall)
                if live.abandon_sent or live.state not in (_SENT, _QUEUED):
                    continue                 # the caller hung up first: the offer goes with it
                if live.state == _QUEUED:
                    self.queued -= 1
                live.state = _CONNECTED
                if live.contact.dialled:
                    # Its plan queued it (or an agent was free at once): the skill that
                    # answered; the PBX is not told the plan's priority or objective.
                    self._release_line(live)
                    record.skill = payload.skill
                    record.callback = payload.callback
                    if record.queue_time is None:
                        record.queue_time = now
                record.answer_time = now
                record.served_site = payload.site
                record.agent_id = payload.agent_id
                record.talk_s = live.contact.handle_time_s
                answers.append(call_control_pb2.PbxEvent(answered=payload.contact_id))
                heapq.heappush(self._end_heap, (wall + live.contact.handle_time_s / self.speed,
                                                live.generation, payload.contact_id))
            elif kind == "queued":
                self._decided(live, wall)
                if live.contact.dialled and record.queue_time is None:
                    record.queue_time = now        # its wait for an agent counts from here
                if live.state == _SENT:
                    live.state = _QUEUED
                    self.queued += 1
            elif kind == "reject":
                self._decided(live, wall)
            elif kind == "interflow":
                record.interflows += 1
                record.site = payload.to_site
            elif kind == "offer_revoked":
                # The offer timed out before the answer got there: waiting again.
                if live.state == _CONNECTED:
                    live.generation += 1
                    live.state = _QUEUED
                    self.queued += 1
                    record.answer_time = record.served_site = record.agent_id = None
            elif kind == "ivr":
                self._decided(live, wall)
                self._caller_answers(live, payload, wall)
            elif kind == "finished":
                self._release_line(live)
                if live.state == _FINAL:
                    self.twice += 1
                    continue
                if live.state == _QUEUED:
                    self.queued -= 1
                live.state = _FINAL
                self.final += 1
                record.final_state = _FINAL_STATE.get(payload.final_state)
                record.end_time = now
                if record.answer_time is not None and record.agent_id is not None:
                    self.agent_work[(record.served_site, record.agent_id)] += \
                        now - record.answer_time
        if answers:
            self.link.send(*answers)
            await self.link.flush()

    def _caller_answers(self, live: _Live, ivr, wall: float) -> None:
        """The trace's caller answers an IVR treatment, as the simulator's caller model
        does (loadtests/simulator.py `_KEYING_S`, `_ASKS_AGENT_AT`), in trace time: keys its
        digits 2 s into a collect, asks for an agent half-way through self-service, answers
        a callback offer after min(2 s, half its time). Faster than x1 the PBX also ends, at
        the trace's pace, the steps whose end it may report: an announce (`prompt_finished`),
        a collect the caller keys nothing at (empty digits at its timeout) and a self-service
        the caller completes (at its end), which the router's timers (its wall seconds)
        would make N times longer at xN; at x1 or slower the router's timers end them. A
        `wait` always runs on the router's timer; busy, route_out, voicemail and disconnect
        end the contact (a `finished` follows)."""
        live.ivr_step += 1
        contact_id = live.contact.contact_id
        caller = live.contact.caller or CallerDecisions()
        kind, seconds = ivr.kind, ivr.seconds
        pbx_ends = self.speed > 1.0
        if kind == "announce" and pbx_ends:
            self._answer_later(live, wall, seconds, call_control_pb2.PbxEvent(
                prompt_finished=contact_id))
        elif kind == "collect":
            keyed = caller.keyed(self.center.collects.get(ivr.prompt, ""))
            if keyed and KEYING_S < seconds:
                self._answer_later(live, wall, KEYING_S, call_control_pb2.PbxEvent(
                    digits_collected=call_control_pb2.CollectedDigits(
                        contact_id=contact_id, digits=keyed)))
            elif pbx_ends:
                self._answer_later(live, wall, seconds, call_control_pb2.PbxEvent(
                    digits_collected=call_control_pb2.CollectedDigits(
                        contact_id=contact_id, digits="")))
        elif kind == "self_service":
            done = caller.completes_self_service
            if done and not pbx_ends:
                return              # the router's timer ends it as self-served
            self._answer_later(live, wall, seconds if done else ASKS_AGENT_AT * seconds,
                               call_control_pb2.PbxEvent(
                                   self_service_ended=call_control_pb2.SelfServiceResult(
                                       contact_id=contact_id, completed=done)))
        elif kind == "callback_offer":
            self._answer_later(live, wall, min(KEYING_S, seconds / 2),
                               call_control_pb2.PbxEvent(
                                   callback_chosen=call_control_pb2.CallbackAnswer(
                                       contact_id=contact_id,
                                       accepted=caller.accepts_callback)))

    def _answer_later(self, live: _Live, wall: float, trace_s: float, event) -> None:
        self._ivr_order += 1
        heapq.heappush(self._ivr_heap, (wall + trace_s / self.speed, self._ivr_order,
                                        live.contact.contact_id, live.ivr_step, event))

    def _take_line(self, live: _Live) -> None:
        service = self.center.entry_points.get(live.contact.dnis)
        live.holds_line = True
        self.lines[service] += 1
        self.max_lines[service] = max(self.max_lines.get(service, 0), self.lines[service])

    def _release_line(self, live: _Live) -> None:
        if live.holds_line:
            live.holds_line = False
            self.lines[self.center.entry_points.get(live.contact.dnis)] -= 1

    # ---- the PBX stream: outbound ----
    def _arrival(self, contact: TraceContact):
        if contact.dialled:
            # Only the number: the router's plan for its service decides the rest.
            return call_control_pb2.PbxEvent(arrived=common_pb2.ContactSpec(
                contact_id=contact.contact_id, site=contact.site,
                channel=_CHANNEL_OUT[contact.channel.name], ani=contact.ani,
                dnis=contact.dnis, data=contact.data))
        return call_control_pb2.PbxEvent(arrived=common_pb2.ContactSpec(
            contact_id=contact.contact_id, site=contact.site, skill=contact.skill,
            priority=_PRIORITY_OUT[contact.priority],
            service_objective_s=contact.service_objective_s or 0.0,
            channel=_CHANNEL_OUT[contact.channel.name], ani=contact.ani, dnis=contact.dnis,
            data=contact.data))

    def _due_events(self, wall: float, events: list, ended: list) -> None:
        while self._abandon_heap and self._abandon_heap[0][0] <= wall:
            due, contact_id = heapq.heappop(self._abandon_heap)
            live = self.live[contact_id]
            # A caller who took a callback hung up already, keeping the place.
            if live.state in (_SENT, _QUEUED) and not live.abandon_sent \
                    and not live.callback:
                live.abandon_sent = True
                # Patience counts from arrival, IVR included: not queued yet, in the IVR.
                live.record.abandoned_in_ivr = live.contact.dialled \
                    and live.record.queue_time is None
                self.event_lateness.append(wall - due)
                events.append(call_control_pb2.PbxEvent(abandoned=contact_id))
        while self._ivr_heap and self._ivr_heap[0][0] <= wall:
            due, _, contact_id, step, event = heapq.heappop(self._ivr_heap)
            live = self.live[contact_id]
            if live.state not in (_SENT, _QUEUED) or live.abandon_sent \
                    or live.ivr_step != step:
                continue            # answered, hung up, or the plan moved on meanwhile
            self.event_lateness.append(wall - due)
            if event.HasField("callback_chosen") and event.callback_chosen.accepted:
                live.callback = True
                self._release_line(live)
            self.ivr_answers[event.WhichOneof("event")] += 1
            events.append(event)
            self._ivr_pending.append(event)
        while self._end_heap and self._end_heap[0][0] <= wall:
            due, generation, contact_id = heapq.heappop(self._end_heap)
            live = self.live[contact_id]
            if live.state == _CONNECTED and live.generation == generation:
                live.state = _ENDED
                self.event_lateness.append(wall - due)
                event = call_control_pb2.PbxEvent(ended=contact_id)
                events.append(event)
                ended.append((live, event))

    def _schedule_wrap_ups(self, wall: float, ended: list) -> None:
        for live, event in ended:
            live.ended_seq = event.seq
            record = live.record
            wrap = self.center.wrap_up_s(record.served_site, record.agent_id,
                                         live.contact.skill)
            if wrap > 0:
                heapq.heappush(self._wrap_heap, (wall + wrap / self.speed,
                                                 live.contact.contact_id))

    def _due_wrap_ups(self, wall: float) -> None:
        acked = self.link.acked_event_seq
        while self._wrap_heap and self._wrap_heap[0][0] <= wall:
            live = self.live[self._wrap_heap[0][1]]
            if live.state == _ENDED and live.ended_seq > acked:
                return          # the hang-up is not applied yet: wrap-up has not begun
            due, _ = heapq.heappop(self._wrap_heap)
            if live.state == _ENDED:
                self.event_lateness.append(wall - due)
                self._wrap_up_done(live)

    async def play(self) -> dict:
        contacts = self.contacts
        total = len(contacts)
        # The router's decision times: subscribed before the first arrival is sent.
        self.router = RouterClock(self.vcc, self.skills())
        await self.router.started()
        self.link = self.vcc.pbx_link(self.link_id, max_batch=512, max_unacked=4 * total + 1024)
        await self.link.connect()
        receiver = asyncio.ensure_future(self.receive())
        span = contacts[-1].arrival_s
        self.t0 = t0 = time.perf_counter()
        deadline = t0 + span / self.speed + self.drain_s
        next_index = 0
        next_tick = t0
        last_progress = 0.0
        recent = collections.deque()            # (wall, sent) for the live rate
        last_sent_wall = t0
        try:
            # Bounded: at most one pass per tick until the hard deadline.
            while not receiver.done():
                wall = time.perf_counter()
                if wall >= deadline or (next_index == total and self.final == total):
                    break
                due_trace = (wall - t0) * self.speed
                events, ended, arrived = [], [], []
                while next_index < total and contacts[next_index].arrival_s <= due_trace:
                    contact = contacts[next_index]
                    events.append(self._arrival(contact))
                    arrived.append(contact)
                    next_index += 1
                self._due_events(wall, events, ended)
                if events:
                    self.link.send(*events)
                    self._ivr_seqs.update(event.seq for event in self._ivr_pending)
                    self._ivr_pending.clear()
                    stamp = time.perf_counter()
                    for contact in arrived:
                        live = self.live[contact.contact_id]
                        live.sent_at = stamp
                        live.state = _SENT
                        if contact.dialled:
                            self._take_line(live)
                        live.record.arrival_time = (stamp - t0) * self.speed
                        self.lateness.append(stamp - (t0 + contact.arrival_s / self.speed))
                        if contact.patience_s is not None:
                            heapq.heappush(self._abandon_heap,
                                           (t0 + (contact.arrival_s + contact.patience_s)
                                            / self.speed, contact.contact_id))
                    if arrived:
                        self.sent += len(arrived)
                        last_sent_wall = stamp
                    self._schedule_wrap_ups(wall, ended)
                    await self.link.flush()
                self._due_wrap_ups(wall)
                if self.progress is not None and wall - last_progress >= 0.25:
                    last_progress = wall
                    recent.append((wall, self.sent))
                    while len(recent) > 1 and wall - recent[0][0] > 2.0:
                        recent.popleft()
                    self.progress(self._snapshot(wall, span, recent))
                next_tick = max(next_tick + TICK_S, wall)
                await asyncio.sleep(max(0.0, self._next_due(next_tick, next_index)
                                        - WAKE_EARLY_S - time.perf_counter()))
            finished_wall = time.perf_counter()
            forced = await self._force_ends(receiver)
            await self._router_caught_up()
        finally:
            await self.router.close()
            self.closing = True
            for task in list(self._tasks):
                task.cancel()
            self.link.acknowledge()
            self.link.close_stream()
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await receiver
        offered_wall = max(last_sent_wall - t0, 1e-9)
        sent_span = contacts[next_index - 1].arrival_s if next_index else 0.0
        return {"t0": t0, "finished_wall": finished_wall, "forced": forced,
                "not_sent": total - next_index, "offered_wall_s": offered_wall,
                "sent_span_s": sent_span}

    def _next_due(self, next_tick: float, next_index: int) -> float:
        """When the loop must look again (wall): the next arrival, hang-up, abandon or
        wrap-up due, or `next_tick`, whichever comes first. Events are sent when due, not
        at the next tick: at x20 every ms of lateness is 20 ms of the trace, and the
        router stamps events when they reach it."""
        due = next_tick
        if next_index < len(self.contacts):
            due = min(due, self.t0 + self.contacts[next_index].arrival_s / self.speed)
        for heap in (self._abandon_heap, self._end_heap, self._ivr_heap):
            if heap:
                due = min(due, heap[0][0])
        if self._wrap_heap:
            # A wrap-up whose hang-up is not acknowledged yet is looked at again shortly.
            head = self._wrap_heap[0][0]
            due = min(due, head if head > time.perf_counter() else
                      time.perf_counter() + POLL_S)
        return due

    async def _force_ends(self, receiver) -> int:
        """Bring every live contact to an end (deadline reached); wait `cleanup_s` for the
        final states. Returns how many contacts had to be forced."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.cleanup_s)
        events, wrap = [], []
        for live in self.live.values():
            if live.state in (_SENT, _QUEUED) and not live.abandon_sent:
                live.abandon_sent = live.forced = True
                events.append(call_control_pb2.PbxEvent(abandoned=live.contact.contact_id))
            elif live.state == _CONNECTED:
                live.state, live.forced = _ENDED, True
                events.append(call_control_pb2.PbxEvent(ended=live.contact.contact_id))
            elif live.state == _ENDED:
                live.forced = True
                wrap.append(live)
        forced = sum(live.forced for live in self.live.values())
        if events:
            self.link.send(*events)
            await self.link.flush()
        stop_at = time.perf_counter() + self.cleanup_s
        # The hang-ups first, then wrap-ups of everything that was talking or wrapping up.
        while self.link.unacknowledged and time.perf_counter() < stop_at \
                and not receiver.done():
            await asyncio.sleep(0.02)
        for live in self.live.values():
            if live.state == _ENDED and live.forced and live not in wrap:
                wrap.append(live)
        for live in wrap:
            if live.state == _ENDED and live.record.agent_id is not None:
                self._wrap_up_done(live)
        sent = sum(1 for live in self.live.values() if live.state is not None)
        while self.final < sent and time.perf_counter() < stop_at and not receiver.done():
            await asyncio.sleep(0.02)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=max(0.1, stop_at - time.perf_counter()))
        return forced

    async def _router_caught_up(self) -> None:
        """Give the event stream (another stream than the PBX's) a moment to bring the
        router's times of the last offers."""
        stop_at = time.perf_counter() + min(self.cleanup_s, 5.0)
        while time.perf_counter() < stop_at and self.router.error is None and any(
                live.record.answer_time is not None
                and live.contact.contact_id not in self.router.offers
                for live in self.live.values()):
            await asyncio.sleep(0.05)

    def _snapshot(self, wall, span, recent) -> dict:
        rate = None
        if len(recent) > 1 and recent[-1][0] > recent[0][0]:
            rate = (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])
        window = self.latencies[-2000:]
        p99 = percentile(window, 0.99)
        return {"trace_s": min(self.trace_now(wall), span), "span_s": span, "sent": self.sent,
                "total": len(self.contacts), "final": self.final, "queued": self.queued,
                "rate_per_s": rate, "p99_ms": None if p99 is None else p99 * 1000.0}

    # ---- the report ----
    def _router_waits(self, records) -> tuple:
        """Records whose answer time is the router's wait (trace time) after the client's
        arrival time, and how many answered contacts kept the client-observed wait because
        the event stream did not bring their router times."""
        timed, missing = [], 0
        for record in records:
            if record.answer_time is None or record.agent_id is None:
                timed.append(record)
                continue
            wait = None if self.router is None else self.router.wait_s(
                record.contact_id, record.served_site, record.agent_id)
            if wait is None:
                missing += 1
                timed.append(record)
                continue
            # From its arrival, or a dialled contact's first queue step (the router's
            # first `queued` event is that step too).
            timed.append(dataclasses.replace(
                record, answer_time=record.wait_from + wait * self.speed))
        return timed, missing

    def report(self, played: dict) -> dict:
        sent = [live for live in self.live.values() if live.state is not None]
        client_records = [live.record for live in sent]
        records, router_missing = self._router_waits(client_records)
        end_trace = max([r.end_time for r in records if r.end_time is not None] or [0.0])
        occupancy = collections.defaultdict(list)
        for site, agent in self.driven:
            work = self.agent_work.get((site, agent.agent_id), 0.0)
            occupancy[site].append(min(1.0, work / end_trace) if end_trace > 0 else 0.0)
        for live in sent:
            if live.contact.dialled and live.record.answer_time is None:
                live.record.callback = live.callback      # accepted, never called back
        center = _ReportCenter(self.center.skills, self.center.entry_points)
        report = build_report(center, records, dict(occupancy), self.max_lines)
        observed = build_report(center, client_records, dict(occupancy), self.max_lines)
        wall = played["offered_wall_s"]
        requested = played["sent_span_s"] / self.speed

        def ms(value):
            return None if value is None else round(value * 1000.0, 3)
        late_all = self.lateness + self.event_lateness
        # When arrivals reached the router, against the trace: the spread (around the
        # median, so without the clocks' offset) of router arrival time - trace time /
        # speed, x speed. What the router saw of the client's lateness and the transit.
        jitter = []
        if self.router is not None:
            offsets = sorted(self.router.first[live.contact.contact_id]
                             - live.contact.arrival_s / self.speed for live in sent
                             if live.contact.contact_id in self.router.first)
            if offsets:
                middle = offsets[len(offsets) // 2]
                jitter = [abs(offset - middle) * self.speed for offset in offsets]
        self.arrival_jitter = jitter
        report["loadtest"] = {
            "speed": self.speed,
            "contacts_in_trace": len(self.contacts),
            "sent": self.sent, "not_sent": played["not_sent"], "forced": played["forced"],
            "finished_more_than_once": self.twice,
            "agents": len(self.driven),
            "requested_rate_per_s": round(self.sent / requested, 2) if requested > 0 else None,
            "achieved_rate_per_s": round(self.sent / wall, 2) if wall > 0 else None,
            "requested_rate_per_hour_trace": round(3600.0 * self.sent
                                                   / played["sent_span_s"], 1)
            if played["sent_span_s"] > 0 else None,
            "offered_wall_s": round(wall, 3),
            "wall_s": round(played["finished_wall"] - played["t0"], 3),
            "trace_s": round(end_trace, 3),
            "route_latency_ms": {"count": len(self.latencies),
                                 "p50": ms(percentile(self.latencies, 0.50)),
                                 "p95": ms(percentile(self.latencies, 0.95)),
                                 "p99": ms(percentile(self.latencies, 0.99)),
                                 "max": ms(max(self.latencies) if self.latencies else None)},
            "send_lateness_ms": {"p50": ms(percentile(self.lateness, 0.50)),
                                 "p99": ms(percentile(self.lateness, 0.99)),
                                 "max": ms(max(self.lateness) if self.lateness else None)},
            # Everything the client plays late (arrivals, hang-ups, abandons, wrap-ups
            # ended), in trace seconds: wall lateness x speed. A run whose client fell
            # behind replayed another center than the trace's (see `render_loadtest`).
            "late_trace_s": {
                "p99": None if not late_all else round(percentile(late_all, 0.99)
                                                       * self.speed, 3),
                "max": None if not late_all else round(max(late_all) * self.speed, 3)},
            "router_arrival_jitter_trace_s": {
                "p50": None if not jitter else round(percentile(jitter, 0.50), 3),
                "p99": None if not jitter else round(percentile(jitter, 0.99), 3),
                "max": None if not jitter else round(max(jitter), 3)},
            "errors": dict(self.errors),
            "event_errors": list(self.event_errors),
            "refused_overloaded": self.overflowed,
            # The trace's callers' answers to IVR treatments, by event; and how many the
            # router refused because the step had ended first (its timer, an agent).
            "ivr_answers": dict(self.ivr_answers),
            "ivr_answers_overtaken": self.ivr_overtaken,
            # Waits (ASA, SL) above are the router's: its arrival to its offer, x speed.
            # Below, what the PBX client saw: arrival sent to offer read, x speed (this adds
            # the round trip, multiplied by the speed, to every answered contact).
            "wait_clock": "router",
            "router_times_missing": router_missing,
            "router_stream_error": None if self.router is None else self.router.error,
            "client_observed_by_class": {
                key: {"asa_s": row["asa_s"], "sl_pct": row["sl_pct"]}
                for key, row in observed["by_class"].items()},
        }
        return report


class _ReportCenter:
    """What build_report reads of a scenario: the skills' SL thresholds, and the services
    of the dialled numbers (the server's routing plans)."""

    def __init__(self, skills, entry_points):
        self.skills = skills
        self.plans = types.SimpleNamespace(entry_points={
            dnis: types.SimpleNamespace(service=service)
            for dnis, service in entry_points.items()})


# ---- the entry point -----------------------------------------------------------------------------
async def run_loadtest(target: str, trace_or_scenario, *, speed: float = 1.0,
                       duration_s: float | None = None, max_contacts: int | None = None,
                       progress=None, seed: int | None = None, drain_s: float | None = None,
                       cleanup_s: float = 10.0, compare_sim: bool = False, config=None,
                       token: str | None = None, run_id: str | None = None) -> dict:
    """Replay against the server at `target`; the report (see the module docstring).
    `run_id`: put before every contact id (`RUNID-id`), so that a second run against the
    same server sends new contacts rather than ids the router already had."""
    if not (isinstance(speed, (int, float)) and MIN_SPEED <= speed <= MAX_SPEED):
        raise LoadtestError(f"speed must be {MIN_SPEED:g}..{MAX_SPEED:,g}; got {speed!r}")
    if drain_s is not None and not (isinstance(drain_s, (int, float))
                                    and 0 <= drain_s <= MAX_DRAIN_S):
        raise LoadtestError(f"drain must be 0..{MAX_DRAIN_S:,g} s; got {drain_s!r}")
    if max_contacts is not None and max_contacts < 1:
        raise LoadtestError(f"max_contacts must be >= 1; got {max_contacts!r}")
    all_contacts, scenario_path = load_contacts(trace_or_scenario, seed)
    contacts = select(all_contacts, duration_s, max_contacts)
    if not contacts:
        raise LoadtestError("no contacts to replay (check --duration / --max-contacts)")
    if run_id:
        contacts = [dataclasses.replace(contact, contact_id=f"{run_id}-{contact.contact_id}")
                    for contact in contacts]
    if compare_sim and any(contact.dialled for contact in contacts):
        raise LoadtestError("--compare-sim does not simulate dialled contacts yet (the "
                            "trace's callers would need the simulator to follow their "
                            "decisions): run `vcc simulate` on the scenario instead")
    if drain_s is None:
        # Long enough for the longest call and wrap-up to finish on its own, within reason.
        longest = max(contact.handle_time_s for contact in contacts)
        drain_s = min(300.0, 10.0 + 2.0 * longest / speed)
    async with VccClient(target, token=token) as vcc:
        try:
            center = await read_center(vcc)
        except grpc.aio.AioRpcError as error:
            raise LoadtestError(f"{target}: Admin: {error.code().name}: {error.details()}") \
                from None
        check_trace(contacts, center)
        replay = Replay(vcc, contacts, center, speed=speed, drain_s=drain_s,
                        cleanup_s=cleanup_s, progress=progress)
        logged_in = await replay.agents_in()
        try:
            played = await replay.play()
        finally:
            await replay.agents_out(logged_in)
    report = replay.report(played)
    if compare_sim:
        sent = [live.contact for live in replay.live.values() if live.state is not None]
        report["compare"] = compare(report, sent, config or scenario_path, replay.driven,
                                    speed, jitter_s=getattr(replay, "arrival_jitter", None))
    return report


# ---- --compare-sim -------------------------------------------------------------------------------
def trace_time_config(config, speed: float) -> tuple:
    """(the server's configuration in trace time, notes): what `--compare-sim` simulates.

    The server runs its time-valued settings in wall seconds, and one wall second of the
    replay is `speed` trace seconds, so the simulator (which runs trace seconds) gets them
    multiplied by `speed`: skills' `aht_estimate_s`, `offer_timeout_s`, `widen_after_s`,
    sites' `statistics_window_s`, BSR `max_status_age_s`. Wrap-up is played by the load
    client's agents (WrapUpDone after wrap-up / speed wall seconds, i.e. the configured
    trace seconds) unless the server's own wall-time timeout ends it first (speed < 1): x
    min(1, speed). Service objectives and SL thresholds stay: the core only uses wait/SO
    ratios, and the reports measure trace time. BSR `adjust_by` N cannot be scaled (one N
    is both the seconds and the percent of max(N s, N % of EWT)): with N > 0 and speed != 1
    a note says the comparison is not like for like."""
    if speed == 1.0:
        return config, []
    wrap = min(1.0, speed)

    def scaled_wrap(value):
        return None if value is None else value * wrap
    skills = {name: dataclasses.replace(
        skill, aht_estimate_s=skill.aht_estimate_s * speed,
        offer_timeout_s=skill.offer_timeout_s * speed,
        widen_after_s=skill.widen_after_s * speed, wrap_up_s=skill.wrap_up_s * wrap)
        for name, skill in config.skills.items()}
    sites = {name: dataclasses.replace(
        site, statistics_window_s=site.statistics_window_s * speed,
        skills=tuple(skills.get(skill.name, skill) for skill in site.skills),
        agents=tuple(dataclasses.replace(agent, wrap_up_s=scaled_wrap(agent.wrap_up_s))
                     for agent in site.agents))
        for name, site in config.sites.items()}
    bsr = dataclasses.replace(config.bsr, max_status_age_s=config.bsr.max_status_age_s * speed)
    notes = []
    if config.multisite == "bsr" and config.bsr.adjust_by > 0:
        notes.append(f"routing.adjust_by {config.bsr.adjust_by:g}: the server adds max("
                     f"{config.bsr.adjust_by * speed:g} trace s, {config.bsr.adjust_by:g} % of "
                     f"EWT) at x{speed:g}; the simulator adds max({config.bsr.adjust_by:g} s, "
                     f"{config.bsr.adjust_by:g} %): not like for like (serve adjust_by: 0)")
    return dataclasses.replace(config, skills=skills, sites=sites, bsr=bsr), notes


NOISE_RUNS = 10                # --compare-sim: simulations with the live run's timing noise


def compare(report: dict, contacts: list, config_path, driven, speed: float = 1.0,
            jitter_s=None) -> dict:
    """The simulator on the contacts the live run sent, with the cluster configuration the
    server runs (only the agents the live run drove) in trace time (`trace_time_config`),
    side by side with the live report; Erlang C for a single-skill trace. `agree` applies
    the issue's bounds per class.

    `jitter_s` (trace seconds: how far from the trace the router saw the live arrivals)
    adds `timing_noise`: NOISE_RUNS more simulations whose arrivals and handle times are
    each moved by a draw from it, and how the classes' SL and ASA spread over them and
    how many of them the bounds would call in agreement with the unmoved simulation. It
    says how much of a live/sim difference timing noise alone makes; `agree` does not
    use it."""
    from cluster.config import load_config
    from sites import erlang
    from loadtests.simulator import Simulation
    from loadtests.trace import arrivals_of, center_scenario

    served = load_config(config_path)
    config, notes = trace_time_config(served, speed)
    agents = collections.defaultdict(set)
    for site, agent in driven:
        agents[site].add(agent.agent_id)
    configured = {(site, a.agent_id) for site, s in config.sites.items() for a in s.agents}
    missing = sorted(f"{site}/{agent_id}" for site, ids in agents.items() for agent_id in ids
                     if (site, agent_id) not in configured)
    scenario = center_scenario(config, contacts, agents=agents)
    objective = objective_resolver(config.skills, config.service_objectives)
    # The live agents answer one round trip after the router's offer (reserved meanwhile):
    # a few ms, but x speed in trace time, and a reserved agent changes what the router
    # decides next (at x20 on the busy hour: 116-119 interflows instead of 129).
    latency_ms = report.get("loadtest", {}).get("route_latency_ms", {}).get("p50")
    answer_delay = 0.0 if latency_ms is None else latency_ms / 1000.0 * speed

    def simulate(given):
        return Simulation(scenario, seed=scenario.seed, answer_delay_s=answer_delay,
                          arrivals=arrivals_of(scenario, given, objective)).run().report
    simulated = simulate(contacts)
    classes, agree = _agreement(report, simulated)
    at_once = None
    if answer_delay:
        # For reference: the same center with agents answering at once (what the trace's
        # center does at x1, where the round trip is a few ms); not what was served.
        plain = Simulation(scenario, seed=scenario.seed,
                           arrivals=arrivals_of(scenario, contacts, objective)).run().report
        at_once = {"interflowed": plain["contacts"]["interflowed"],
                   "by_class": {key: {"sl_pct": row["sl_pct"], "asa_s": row["asa_s"]}
                                for key, row in plain["by_class"].items()}}
    noise = None
    if jitter_s:
        import random
        rng = random.Random(scenario.seed)
        spread = collections.defaultdict(lambda: {"sl_pct": [], "asa_s": []})
        within = 0
        for _ in range(NOISE_RUNS):
            moved = sorted((dataclasses.replace(
                contact, arrival_s=contact.arrival_s + rng.choice(jitter_s),
                handle_time_s=contact.handle_time_s + rng.choice(jitter_s))
                for contact in contacts), key=lambda contact: contact.arrival_s)
            noisy = simulate(moved)
            within += _agreement(noisy, simulated)[1]
            for key, row in noisy["by_class"].items():
                for name in ("sl_pct", "asa_s"):
                    if row[name] is not None:
                        spread[key][name].append(row[name])
        noise = {"runs": NOISE_RUNS, "runs_within_bounds": within,
                 "jitter_p50_s": round(percentile(jitter_s, 0.5), 4),
                 "by_class": {key: {f"{name}_{end}": (min(values) if end == "min"
                                                     else max(values)) if values else None
                                    for name, values in row.items()
                                    for end in ("min", "max")}
                              for key, row in sorted(spread.items())}}
    prediction = None
    skills = {contact.skill for contact in contacts}
    if len(skills) == 1 and (config.multisite == "bsr" or len({c.site for c in contacts}) == 1):
        skill = skills.pop()
        count = sum(1 for site, agent in driven
                    if any(level.skill == skill for level in agent.skills))
        span = max(contacts[-1].arrival_s, 1e-9)
        # Erlang C's handle time includes wrap-up: the agent's, else the skill's.
        driven_ids = {(site, agent.agent_id) for site, agent in driven}
        wraps = [config.skills[skill].wrap_up_s if agent.wrap_up_s is None else agent.wrap_up_s
                 for name, site in config.sites.items() for agent in site.agents
                 if (name, agent.agent_id) in driven_ids and skill in agent.skills]
        wrap = sum(wraps) / len(wraps) if wraps else config.skills[skill].wrap_up_s
        aht = sum(c.handle_time_s for c in contacts) / len(contacts) + wrap
        rate = len(contacts) / span
        threshold = config.skills[skill].sl_threshold_s
        prediction = {"skill": skill, "agents": count, "rate_per_hour": round(rate * 3600, 1),
                      "aht_s": round(aht, 3), "sl_threshold_s": threshold,
                      "pooled_sites": config.multisite == "bsr",
                      "abandons_ignored": any(c.patience_s is not None for c in contacts)}
        try:
            prediction["sl_pct"] = round(100.0 * erlang.service_level(count, rate, aht,
                                                                      threshold), 2)
            prediction["asa_s"] = round(erlang.average_speed_of_answer(count, rate, aht), 3)
        except ValueError as error:
            prediction["sl_pct"] = prediction["asa_s"] = None
            prediction["note"] = str(error)
    return {"config": str(config.path), "agents_not_in_config": missing,
            "time_scale": speed, "answer_delay_s": round(answer_delay, 4), "notes": notes,
            "simulated_answering_at_once": at_once,
            "timing_noise": noise,
            "simulated": simulated, "classes": classes, "erlang_c": prediction,
            "bounds": {"sl_pts": SL_POINTS, "asa_pct": 100.0 * ASA_FRACTION},
            "agree": agree}


def _agreement(report: dict, simulated: dict) -> tuple:
    """({class: row}, agree): the issue's bounds applied per class."""
    classes = {}
    agree = True
    for key in sorted(set(report["by_class"]) | set(simulated["by_class"])):
        live, sim = report["by_class"].get(key), simulated["by_class"].get(key)
        row = {"live": live, "sim": sim, "sl_diff_pts": None, "asa_diff_pct": None, "ok": None}
        if live and sim and live["sl_pct"] is not None and sim["sl_pct"] is not None:
            row["sl_diff_pts"] = round(live["sl_pct"] - sim["sl_pct"], 2)
            asa_ok = True
            if sim["asa_s"]:
                row["asa_diff_pct"] = round(100.0 * (live["asa_s"] - sim["asa_s"])
                                            / sim["asa_s"], 2)
                asa_ok = abs(row["asa_diff_pct"]) <= 100.0 * ASA_FRACTION
            row["ok"] = abs(row["sl_diff_pts"]) <= SL_POINTS and asa_ok
            agree = agree and row["ok"]
        else:
            agree = False
        classes[key] = row
    return classes, agree


def render_compare(comparison: dict, console) -> None:
    from rich.table import Table

    def cell(value, digits=2):
        return "-" if value is None else f"{value:,.{digits}f}" if isinstance(value, float) \
            else f"{value:,}"
    table = Table(title=f"live vs simulated, same contacts (config {comparison['config']})",
                  title_justify="left")
    # Merged live/sim cells keep the table readable in 80 columns.
    for column in ("class", "offered", "abandoned", "SL % live/sim", "Δ pts",
                   "ASA s live/sim", "Δ %", "ok"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for key, row in comparison["classes"].items():
        live, sim = row["live"] or {}, row["sim"] or {}
        table.add_row(
            key, f"{cell(live.get('offered'))}/{cell(sim.get('offered'))}",
            f"{cell(live.get('abandoned'))}/{cell(sim.get('abandoned'))}",
            f"{cell(live.get('sl_pct'), 1)}/{cell(sim.get('sl_pct'), 1)}",
            cell(row["sl_diff_pts"], 1),
            f"{cell(live.get('asa_s'))}/{cell(sim.get('asa_s'))}", cell(row["asa_diff_pct"], 1),
            "-" if row["ok"] is None else "yes" if row["ok"] else "NO")
    prediction = comparison["erlang_c"]
    if prediction is not None:
        table.add_row(f"{prediction['skill']} (Erlang C)", "", "",
                      f"-/{cell(prediction.get('sl_pct'), 1)}", "",
                      f"-/{cell(prediction.get('asa_s'))}", "", "")
    console.print(table)
    bounds = comparison["bounds"]
    console.print(f"agreement (SL within {bounds['sl_pts']:g} points and ASA within "
                  f"{bounds['asa_pct']:g} % per class): "
                  f"{'yes' if comparison['agree'] else 'NO'}")
    if prediction is not None:
        console.print(f"Erlang C: {prediction['agents']} agents"
                      f"{' pooled over sites' if prediction['pooled_sites'] else ''}, "
                      f"{prediction['rate_per_hour']:,.0f}/hour, AHT {prediction['aht_s']:.1f} s"
                      f"{'; ignores abandons (M/M/c)' if prediction['abandons_ignored'] else ''}"
                      f"{'; ' + prediction['note'] if prediction.get('note') else ''}")
    if comparison.get("answer_delay_s"):
        console.print(f"simulated agents answer {comparison['answer_delay_s']:.3f} trace s "
                      f"after each offer (the live median round trip x "
                      f"{comparison['time_scale']:g}); waits end at the offer in both")
        at_once = comparison.get("simulated_answering_at_once")
        if at_once:
            console.print("answering at once instead (not the served center): "
                          f"{at_once['interflowed']:,} interflowed; SL %/ASA s " + ", ".join(
                              f"{key} {row['sl_pct']}/{row['asa_s']}"
                              for key, row in at_once["by_class"].items()))
    noise = comparison.get("timing_noise")
    if noise:
        console.print(
            f"timing noise: {noise['runs']} simulations with the live run's arrival jitter "
            f"(p50 {noise['jitter_p50_s']:.3f} trace s) added to arrivals and handle times: "
            f"{noise['runs_within_bounds']} within the bounds of the unperturbed simulation; "
            "per class ASA s " + ", ".join(
                f"{key} {row['asa_s_min']}..{row['asa_s_max']}"
                for key, row in noise["by_class"].items()))
    for note in comparison.get("notes", ()):
        console.print(f"note: {note}")
    if comparison["agents_not_in_config"]:
        console.print(f"warning: agents of the server not in {comparison['config']}: "
                      f"{', '.join(comparison['agents_not_in_config'][:10])}")


# ---- the `vcc loadtest` command ------------------------------------------------------------------
def progress_display(console, enabled: bool):
    from rich.progress import BarColumn, Progress, TextColumn

    return Progress(TextColumn("replaying"), BarColumn(),
                    TextColumn("{task.fields[status]}"), console=console, transient=True,
                    disable=not enabled)


# Without a terminal (a CI log), a progress line at most this often.
PROGRESS_LINE_EVERY_S = 10.0


def progress_status(snapshot) -> str:
    rate = snapshot["rate_per_s"]
    p99 = snapshot["p99_ms"]
    return (f"{snapshot['sent']:,}/{snapshot['total']:,} sent  "
            f"{'-' if rate is None else f'{rate:,.0f}'}/s  queued "
            f"{snapshot['queued']:,}  p99 {'-' if p99 is None else f'{p99:.1f}'} ms")


def _loadtest(args) -> int:
    from rich.console import Console

    stderr = Console(stderr=True)
    bar = stderr.is_terminal and not args.no_progress
    display = progress_display(stderr, bar)
    lines = not bar and not args.no_progress
    run_id = args.run_id or os.urandom(3).hex()
    next_line = [0.0]
    with display:
        task = display.add_task("loadtest", total=1.0, status="connecting")

        def progress(snapshot):
            status = progress_status(snapshot)
            display.update(task, completed=snapshot["trace_s"] / max(snapshot["span_s"], 1e-9),
                           status=status)
            if lines and time.monotonic() >= next_line[0]:
                next_line[0] = time.monotonic() + PROGRESS_LINE_EVERY_S
                print(f"vcc loadtest: run {run_id}: {status}", file=sys.stderr, flush=True)
        try:
            report = asyncio.run(run_loadtest(
                args.target, args.input, speed=args.speed, duration_s=args.duration,
                max_contacts=args.max_contacts, progress=progress, seed=args.seed,
                drain_s=args.drain, compare_sim=args.compare_sim, config=args.config,
                token=args.token, run_id=run_id))
        except (LoadtestError, ConfigFileError) as error:
            display.stop()
            print(f"vcc loadtest: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        console = Console()
        render_report(report, console)
        render_loadtest(report["loadtest"], console)
        if "compare" in report:
            render_compare(report["compare"], console)
    return loadtest_exit_code(report)


def loadtest_exit_code(report: dict) -> int:
    """0 when every contact ended as the center decided; 1 when one was lost, or the router
    refused events or contacts (overloaded, a duplicate id, a bad field): a run that did not
    test what it meant to must not look like a pass (stderr says what)."""
    figures = report["loadtest"]
    problems = []
    if report["contacts"]["lost"]:
        problems.append(f"{report['contacts']['lost']:,} contacts lost")
    if figures["refused_overloaded"]:
        problems.append(f"{figures['refused_overloaded']:,} arrivals refused as overloaded")
    if figures["errors"]:
        problems.append("errors " + ", ".join(f"{name} {count:,}" for name, count
                                               in sorted(figures["errors"].items())))
    for problem in problems:
        print(f"vcc loadtest: {problem}", file=sys.stderr)
    for line in figures.get("event_errors", ())[:5]:
        print(f"vcc loadtest: e.g. {line}", file=sys.stderr)
    return 1 if problems else 0


def render_loadtest(figures: dict, console) -> None:
    def show(value, digits=2):
        return "-" if value is None else f"{value:,.{digits}f}"
    latency = figures["route_latency_ms"]
    late = figures["send_lateness_ms"]
    console.print(
        f"replayed at x{figures['speed']:g}: {figures['sent']:,} contacts sent "
        f"({figures['not_sent']:,} not sent, {figures['forced']:,} ended by the deadline), "
        f"{figures['agents']:,} agents, {figures['wall_s']:,.1f} s wall")
    console.print(
        f"arrival rate: requested {show(figures['requested_rate_per_s'])}/s, achieved "
        f"{show(figures['achieved_rate_per_s'])}/s; sent late by p50 {show(late['p50'])} ms, "
        f"p99 {show(late['p99'])} ms, max {show(late['max'])} ms")
    console.print(
        f"route latency (client): p50 {show(latency['p50'])} ms, p95 {show(latency['p95'])} "
        f"ms, p99 {show(latency['p99'])} ms, max {show(latency['max'])} ms over "
        f"{latency['count']:,}")
    jitter = figures.get("router_arrival_jitter_trace_s") or {}
    if jitter.get("p50") is not None:
        console.print(f"arrivals at the router vs the trace (x{figures['speed']:g}): off by "
                      f"p50 {jitter['p50']:,.3f}, p99 {jitter['p99']:,.3f}, max "
                      f"{jitter['max']:,.3f} trace s; waits are the router's "
                      f"({figures['router_times_missing']:,} without router times)")
    late = figures.get("late_trace_s") or {}
    if late.get("p99") is not None and late["p99"] > LATE_WARN_TRACE_S:
        console.print(f"warning: the client played its events late by p99 {late['p99']:,.2f} "
                      f"trace s (max {late['max']:,.2f}): at x{figures['speed']:g} a stall of "
                      f"the machine is {figures['speed']:g} times longer in the trace; this "
                      f"run did not replay the trace's center faithfully")
    console.print(f"errors by code: {figures['errors'] or 'none'}"
                  + (f"; refused events: {figures['event_errors']}"
                     if figures["event_errors"] else ""))


def add_loadtest_parser(commands) -> None:
    """`vcc loadtest` (cluster/cli.py calls this)."""
    from cluster.arguments import number

    loadtest = commands.add_parser(
        "loadtest", help="replay a trace or scenario against a live cluster over gRPC")
    loadtest.add_argument("input", help="trace (.csv, .jsonl) or scenario YAML (README: Scenario files)")
    loadtest.add_argument("--target", required=True, help="HOST:PORT of the vcc server")
    loadtest.add_argument("--speed", type=number(MIN_SPEED, MAX_SPEED), default=1.0,
                          help=f"replay this many times faster than the trace (1; "
                               f"{MIN_SPEED:g}..{MAX_SPEED:,g})")
    loadtest.add_argument("--duration", type=number(0.0, exclusive_minimum=True), default=None,
                          help="replay only arrivals before this trace time, in seconds")
    loadtest.add_argument("--max-contacts", type=number(1, integer=True), default=None,
                          help="replay at most this many contacts")
    loadtest.add_argument("--drain", type=number(0.0, MAX_DRAIN_S), default=None,
                          help="wall seconds after the last arrival before live contacts are "
                               "ended (default: 10 + 2 x longest handle time / speed, <= 300)")
    loadtest.add_argument("--seed", type=int, default=None,
                          help="scenario input: override its seed")
    loadtest.add_argument("--compare-sim", action="store_true",
                          help="also simulate the same contacts and compare (with Erlang C "
                               "for a single skill)")
    loadtest.add_argument("--config", default=None,
                          help="the cluster YAML the server runs, for --compare-sim (default: "
                               "the scenario given, else cluster/configs/two_sites.yaml)")
    loadtest.add_argument("--token", default=None, help="bearer token (roles pbx, agent, admin)")
    loadtest.add_argument("--json", action="store_true", help="print the report as one JSON object")
    loadtest.add_argument("--no-progress", action="store_true", help="no progress on stderr "
                          "(without a terminal: a line every 10 s)")
    loadtest.add_argument("--run-id", default=None, metavar="ID",
                          help="put ID- before every contact id (default: 6 random hex "
                               "digits, new each run, so a second run sends new contacts)")
    loadtest.set_defaults(run=_loadtest)


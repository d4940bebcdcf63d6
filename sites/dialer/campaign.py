"""One campaign's pacer: `Campaign.handle(event) -> [decision, ...]` (SPEC §6).

Pure and deterministic like the site core: no clock, no I/O, time comes with each event.
The host reports what became of each call it was told to dial (events.py) and sends a
`Pace` with a snapshot of the skill's agents (snapshot.py) whenever something changed for
them (an agent free, a call answered or not) and, for predictive campaigns, every
`pace_every_s` (`next_pace_at`). Decisions (decisions.py) are what to dial now.

How many calls are up at a pace, by mode:
- preview: every idle agent gets a record to preview (the agent is held meanwhile); when the
  agent is done, the record is dialled for that agent; an agent whose call is not answered
  live gets the next record;
- progressive: one call per idle agent: idle - (calls ringing + live answers waiting);
- predictive: at least that, and more ahead of agents about to free up: with `pacing:
  model`, the largest batch whose predicted abandon risk stays under the threshold
  (predict.py); with `pacing: adaptive`, VICIdial's dial level (adaptive.py).
Every mode keeps the hard guard (ledger.py): the calls beyond the idle agents never exceed
the abandon budget, so the window's abandons never cross the limit. The model's threshold
aims below the limit (`TARGET_SHARE` of it) and follows the budget: it rises while the
window's abandons are under the target and falls when they pass it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sites.dialer import events as dev
from sites.dialer.adaptive import AdaptiveDialLevel
from sites.dialer.call_list import CallList
from sites.calendars import Calendar, WallClock
from sites.dialer.config import CampaignConfig, DialMode, Pacing
from sites.dialer import blend
from sites.dialer.decisions import Connect, Dial, Drop, Hold, PlayMessage, Preview, Release
from sites.dialer.do_not_call import DoNotCall
from sites.dialer.estimates import Estimates
from sites.dialer.events import CallOutcome
from sites.dialer.ledger import AbandonLedger
from sites.dialer.predict import Outlook
from sites.dialer.windows import CallWindows
from sites.errors import InvalidInput

TARGET_SHARE = 0.9            # the model aims at 90 % of the limit (2.7 % for 3 %)
THRESHOLD_RANGE = (0.25, 4.0)  # the threshold's bounds, as multiples of the target
THRESHOLD_PSEUDO = 3.0         # abandons' worth of prior in the threshold's feedback
MOST_AHEAD_PER_AGENT = 3       # a batch is at most this many calls per agent
SNAPSHOT_VERSION = 1           # of `Campaign.snapshot()`'s layout


class _CallState:
    RINGING, WAITING, TALKING = range(3)


_STATE_NAMES = {_CallState.RINGING: "ringing", _CallState.WAITING: "waiting",
                _CallState.TALKING: "talking"}


@dataclass(slots=True)
class _Call:
    call_id: str
    record_id: str
    agent_id: str | None
    dialled_at: float
    state: int = _CallState.RINGING
    connected_at: float = 0.0


class Campaign:
    def __init__(self, config: CampaignConfig, call_list: CallList,
                 clock: WallClock | None = None, do_not_call: DoNotCall | None = None):
        """`clock` maps the events' time to wall-clock time for the call window (default:
        time 0 is Monday 2026-01-05 00:00 UTC, as a scenario without `start:`);
        `do_not_call` holds the lists' keys (none by default)."""
        self.config = config
        self.call_list = call_list
        if config.call_window is not None:
            call_list.windows = CallWindows(config.call_window, clock or WallClock(),
                                            call_list.zone_sets)
        self.do_not_call = do_not_call if do_not_call is not None else DoNotCall()
        self.skipped_do_not_call = 0
        self._fresh_skipped = 0         # of those, records never dialled (list penetration)
        self.now = -math.inf
        self.stopped = False
        self.estimates = Estimates(config.ring_timeout_s, config.handle_estimate_s,
                                   config.connect_within_s)
        self.ledger = AbandonLedger(
            config.limit(), config.abandon_window.seconds,
            config.ring_timeout_s + config.connect_within_s + 1.0,
            config.false_positive() if config.counts_false_positives else 0)
        self.target = float(self.ledger.allowed) * TARGET_SHARE     # of live answers
        # The adaptive level watches the window's rate as reported (false positives in).
        self.adaptive = (AdaptiveDialLevel(config.abandon_limit_pct * TARGET_SHARE)
                         if config.dials_ahead and config.pacing is Pacing.ADAPTIVE else None)
        # Invariant: calls holds every call dialled and not yet over; ringing the ones not
        # answered yet (id -> dial time, in dial order); waiting the live answers without
        # an agent yet.
        self.calls: dict[str, _Call] = {}
        self.ringing: dict[str, float] = {}
        self.waiting: set = set()
        # Preview, blending: agent id -> [record id, call id or None] of what the agent is
        # held for (not ready at its site meanwhile).
        self.held: dict[str, list] = {}
        # Blending: whether the inbound skills let it dial (as of the last pace), and when
        # it was first paced (how long the inbound statistics have been gathered).
        self.inbound_open = True
        self._first_pace: float | None = None
        self._serial = 0
        self.attempts_of: dict[str, int] = {}    # record -> attempts so far, while it may retry
        self.retried = 0
        self.counts = dict.fromkeys(CallOutcome, 0)
        self.attempts = self.connected = self.abandoned = self.machines_by_agent = 0
        self._handlers = {
            dev.CallProgress: self._progress, dev.CallConnected: self._connected,
            dev.CallAbandoned: self._abandoned, dev.CallEnded: self._ended,
            dev.PreviewDone: self._preview_done, dev.Pace: self._pace, dev.Stop: self._stop,
            dev.HoldRefused: self._hold_refused, dev.AgentGone: self._agent_gone,
            dev.DoNotCallChanged: self._do_not_call_changed,
            dev.ClockChanged: self._clock_changed,
            dev.CallWindowChanged: self._call_window_changed,
        }

    # ---- events in, decisions out ------------------------------------------------------------
    def handle(self, event) -> list:
        handler = self._handlers.get(type(event))
        if handler is None:
            raise InvalidInput("event", f"not a dialler event: {type(event).__name__}")
        time = event.time
        if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(
                time):
            raise InvalidInput("time", f"must be a finite number; got {time!r}")
        if time < self.now:         # the ledger's windows count on it (as the site core)
            raise InvalidInput("time", f"goes backwards: {time!r} is before {self.now!r}")
        decisions = handler(event)
        self.now = time
        return decisions

    def open_calls(self) -> list:
        """(call id, record id, "ringing" | "waiting" | "talking", agent id or None) of every
        call dialled and not over, in dial order: what a host resuming the campaign after a
        restart or a takeover must follow up (cluster/campaigns/resume.py)."""
        return [(call.call_id, call.record_id, _STATE_NAMES[call.state], call.agent_id)
                for call in self.calls.values()]

    @property
    def dialled(self) -> int:
        """Calls dialled so far: call ids NAME-0 .. NAME-(dialled - 1)."""
        return self._serial

    def in_preview(self) -> list:
        """(agent id, record id) of every record an agent is previewing now."""
        return [(agent, held[0]) for agent, held in self.held.items() if held[1] is None]

    def next_pace_at(self, now: float) -> float | None:
        """When the host should pace next if nothing else happens (None: only on change).
        A campaign with nothing to dial before a call window opens (or a retry comes due)
        needs no pace until then."""
        if self.stopped or not (self.config.dials_ahead or self.config.blended) or (
                not self.call_list.remaining):
            return None
        # A blended campaign watches the inbound skills as often as a predictive one paces.
        at = now + self.config.pace_every_s
        due = self.call_list.next_due(now)
        return at if due is None or due <= at else due

    def _call(self, call_id, state) -> _Call:
        call = self.calls.get(call_id) if isinstance(call_id, str) else None
        if call is None:
            raise InvalidInput("call_id", f"no call {call_id!r} of campaign {self.config.name!r}")
        if call.state != state:
            raise InvalidInput("call_id", f"call {call_id!r} is not "
                                          f"{('ringing', 'waiting for an agent', 'talking')[state]}")
        return call

    def _progress(self, event) -> list:
        call = self._call(event.call_id, _CallState.RINGING)
        outcome = event.outcome
        if not isinstance(outcome, CallOutcome):
            raise InvalidInput("outcome", f"must be a CallOutcome; got {outcome!r}")
        now = event.time
        del self.ringing[call.call_id]
        self.counts[outcome] += 1
        self.estimates.note_outcome(outcome, now - call.dialled_at)
        if outcome is CallOutcome.LIVE:
            call.state = _CallState.WAITING
            self.waiting.add(call.call_id)
            if self.config.amd_enabled:
                # With AMD off the answer may be a machine: it counts as live when an agent
                # says it was a person, or when it is abandoned (nobody can tell).
                self.ledger.note_live(now)
            if call.agent_id is not None:
                self.held.pop(call.agent_id, None)      # the host connects it to the agent
            # A blended campaign's live answer goes first to the agent held for it, before
            # any inbound contact waiting for that agent's other skills (blend.py).
            return [Connect(call.call_id, self.config.skill, call.agent_id,
                            self.config.connect_within_s,
                            "top" if self.config.blended else "medium")]
        del self.calls[call.call_id]
        self._retry_or_done(call.record_id, outcome.value, now)
        # A machine AMD detected is hung up on; busy, unanswered, failed calls are over.
        decisions = [Drop(call.call_id)] if outcome is CallOutcome.MACHINE else []
        if call.agent_id is not None and call.agent_id in self.held:
            decisions += self._next_for(call.agent_id, now)
        return decisions

    def _retry_or_done(self, record: str, outcome: str, now: float) -> None:
        """Try the record again later if its outcome's retry rule says so (SPEC §6)."""
        rule = self.config.retries.get(outcome)
        attempts = self.attempts_of.get(record, 1)
        if rule is not None and attempts < rule.max_attempts and not self.stopped:
            self.call_list.retry(record, now + rule.delay_s)
            self.retried += 1
        else:
            self.attempts_of.pop(record, None)
            self.call_list.done(record)

    def _connected(self, event) -> list:
        call = self._call(event.call_id, _CallState.WAITING)
        self.waiting.discard(call.call_id)
        call.state = _CallState.TALKING
        call.connected_at = event.time
        self.connected += 1
        return []

    def _abandoned(self, event) -> list:
        call = self._call(event.call_id, _CallState.WAITING)
        self.waiting.discard(call.call_id)
        del self.calls[call.call_id]
        if not self.config.amd_enabled:
            self.ledger.note_live(event.time)
        self.ledger.note_abandon(event.time)
        self.abandoned += 1
        self._retry_or_done(call.record_id, "abandoned", event.time)
        return [PlayMessage(call.call_id, self.config.abandon_prompt)]

    def _ended(self, event) -> list:
        call = self._call(event.call_id, _CallState.TALKING)
        del self.calls[call.call_id]
        self.attempts_of.pop(call.record_id, None)      # reached: done
        self.call_list.done(call.record_id)
        self.estimates.note_talk(max(0.0, event.time - call.connected_at))
        if not self.config.amd_enabled:
            if event.machine:
                self.machines_by_agent += 1
            else:
                self.ledger.note_live(event.time)
        return []

    def _preview_done(self, event) -> list:
        held = self.held.get(event.agent_id) if isinstance(event.agent_id, str) else None
        if held is None or held[1] is not None:
            raise InvalidInput("agent_id", f"agent {event.agent_id!r} has no record in preview")
        if not event.dial or self._on_list(held[0]):
            # Skipped by the agent, or put on a do-not-call list during the preview.
            self._skip(held[0], blocked=event.dial)
            return self._next_for(event.agent_id, event.time)
        if self.stopped:
            del self.held[event.agent_id]
            self.call_list.done(held[0])
            return [Release(event.agent_id)]
        dial = self._dial(event.time, held[0], event.agent_id)
        held[1] = dial.call_id
        return [dial]

    def _hold_refused(self, event) -> list:
        held = self.held.get(event.agent_id) if isinstance(event.agent_id, str) else None
        if held is not None and held[1] is None:        # a record in preview
            del self.held[event.agent_id]
            self.call_list.retry(held[0], event.time)   # previewed next
            return []
        call = self.calls.get(held[1]) if held is not None else None
        if call is None or call.state != _CallState.RINGING:
            raise InvalidInput("agent_id", f"agent {event.agent_id!r} has no call just "
                                           "dialled for it and no record in preview")
        del self.held[event.agent_id]
        del self.calls[call.call_id]
        del self.ringing[call.call_id]
        self.attempts -= 1
        record = call.record_id
        if self.attempts_of[record] > 1:
            self.attempts_of[record] -= 1
        else:
            del self.attempts_of[record]
        self.call_list.retry(record, event.time)    # the next record taken
        return []

    def _agent_gone(self, event) -> list:
        held = self.held.pop(event.agent_id, None) if isinstance(event.agent_id, str) else None
        if held is None:
            return []           # let go already (its preview or call ended meanwhile)
        record, call_id = held
        if call_id is None:
            self.call_list.retry(record, event.time)    # previewed next, by another agent
        else:
            # Not that agent's any more: should it log in again and be held for another
            # record, this call's end must not take that hold away.
            self.calls[call_id].agent_id = None
        return []

    def _do_not_call_changed(self, event) -> list:
        self.do_not_call.change(event.scope, event.add, event.remove)
        return []

    def _clock_changed(self, event) -> list:
        windows = self.call_list.windows
        start_epoch = event.start_epoch
        if isinstance(start_epoch, bool) or not isinstance(start_epoch, (int, float)) or (
                not math.isfinite(start_epoch)):
            raise InvalidInput("start_epoch", f"must be POSIX seconds; got {start_epoch!r}")
        if windows is None:
            return []           # without a call window nothing reads the wall clock
        # A waiting retry's due time may be a window's opening read on the old clock: each
        # keeps its wall-clock instant, so that it still comes due when its window opens.
        self.call_list.shift_retries(windows.clock.start_epoch - start_epoch)
        windows.clock = WallClock(start_epoch)
        return []

    def _call_window_changed(self, event) -> list:
        windows = self.call_list.windows
        if windows is None:
            raise InvalidInput("calendar", f"campaign {self.config.name!r} has no call window")
        if not isinstance(event.calendar, Calendar):
            raise InvalidInput("calendar", f"must be a calendar; got {event.calendar!r}")
        # Fresh records read the new hours at once; a retry waiting for the old hours'
        # opening is read again when it comes due (CallList.take puts it off if closed).
        self.call_list.windows = CallWindows(event.calendar, windows.clock,
                                             self.call_list.zone_sets)
        return []

    def _on_list(self, record: str) -> bool:
        """Whether the number of a taken record is on a do-not-call list now."""
        return self.call_list.key(record) in self.do_not_call

    def _take(self, now: float) -> str | None:
        """The next record to dial now, skipping those on a do-not-call list (bounded by
        the list: each is skipped once)."""
        while True:
            record = self.call_list.take(now)
            if record is None or not self._on_list(record):
                return record
            self._skip(record, blocked=True)

    def _skip(self, record: str, blocked: bool) -> None:
        if blocked:
            self.skipped_do_not_call += 1
            self._fresh_skipped += record not in self.attempts_of
        self.attempts_of.pop(record, None)
        self.call_list.done(record)

    def _stop(self, event) -> list:
        # Agents held for previews are released as their preview or call ends.
        self.stopped = True
        return []

    # ---- pacing -----------------------------------------------------------------------------------
    def _pace(self, event) -> list:
        now, agents = event.time, event.agents
        self.ledger.advance(now)
        if self._first_pace is None:
            self._first_pace = now
        if self.stopped:
            return []
        if self.config.blended:
            return self._blend(agents, now)
        if self.config.mode is DialMode.PREVIEW:
            return self._previews(agents, now)
        idle = agents.idle
        up = len(self.ringing) + len(self.waiting)
        # Calls idle agents are sure to take: no abandon can come of them.
        covered = max(0, idle - up)
        count = covered
        if self.config.dials_ahead:
            # The hard guard: what is up beyond the idle agents stays within the budget.
            most = max(covered, idle + self.ledger.budget(now) - up)
            most = min(most, covered + MOST_AHEAD_PER_AGENT * len(agents.agents))
            if self.adaptive is not None:
                lines = self.adaptive.lines(now, idle, agents.talking, len(self.waiting),
                                            self.ledger.pct())
                wanted = lines - up - agents.talking
            else:
                outlook = Outlook(self.estimates.model(), now, agents,
                                  self.ringing.values(), len(self.waiting))
                wanted = outlook.largest_batch(self.threshold(), most)
            count = min(most, max(covered, wanted))
        return self._dials(now, count, agents)

    def threshold(self) -> float:
        """The predicted abandon risk a further call may have: the target, scaled up while
        the window's abandons are under the target's share of its live answers, down while
        they are over."""
        ledger = self.ledger
        scale = ((self.target * ledger.lives + THRESHOLD_PSEUDO)
                 / (ledger.abandons + THRESHOLD_PSEUDO))
        low, high = THRESHOLD_RANGE
        return self.target * min(high, max(low, scale))

    def _dials(self, now, count, agents) -> list:
        if count <= 0:
            return []
        covering = {call.agent_id for call in self.calls.values()
                    if call.state != _CallState.TALKING}
        free = [agent for agent in agents.idle_ids() if agent not in covering]
        decisions = []
        for number in range(count):
            record = self._take(now)
            if record is None:
                break
            decisions.append(self._dial(now, record, free[number] if number < len(free)
                                        else None))
        return decisions

    def _dial(self, now, record, agent_id) -> Dial:
        call_id = f"{self.config.name}-{self._serial}"
        self._serial += 1
        self.calls[call_id] = _Call(call_id, record, agent_id, now)
        self.ringing[call_id] = now
        self.attempts += 1
        self.attempts_of[record] = self.attempts_of.get(record, 0) + 1
        return Dial(call_id, record, self.config.ring_timeout_s, agent_id,
                    self.config.amd_enabled)

    def _previews(self, agents, now) -> list:
        decisions = []
        for agent in agents.idle_ids():
            if agent not in self.held:
                decisions.extend(self._next_preview(agent, now))
        return decisions

    def _blend(self, agents, now) -> list:
        """Blending: while the inbound skills allow, hold idle agents beyond those inbound
        needs, each for a call of its own (or a preview)."""
        protect = self.config.protect_inbound_sl_pct
        self.inbound_open = blend.may_dial(agents.inbound, protect)
        if not self.inbound_open:
            return []           # held agents go back to inbound as their calls end
        # Held agents are not ready at the site, so a pace leaves them out; but a pace read
        # before its holds took effect still shows them (a live host's pace is a moment
        # old): each agent is counted once.
        everyone = len({view.agent_id for view in agents.agents}.union(self.held))
        talking = sum(call.state == _CallState.TALKING for call in self.calls.values())
        waiting = len(self.waiting)
        outbound = len(self.held) + talking + waiting
        busy_inbound = max(0, len(agents.agents) - agents.idle - talking)
        spare = everyone - outbound - blend.inbound_agents(
            agents.inbound, protect, now - self._first_pace, everyone, busy_inbound)
        idle = [agent for agent in agents.idle_ids() if agent not in self.held]
        decisions = []
        for agent in idle[:max(0, spare)]:
            taken = self._next_for(agent, now)
            if not taken:
                break           # nothing to dial now
            decisions += taken
        return decisions

    def _next_for(self, agent: str, now: float) -> list:
        """The next record for an agent the campaign holds (or may hold): previewed, or,
        blending, dialled for it at once; nothing (inbound needs it, the campaign stopped,
        nothing to dial): the agent is released."""
        if self.config.blended and not self.inbound_open:
            return self._release(agent)
        if self.config.mode is DialMode.PREVIEW:
            return self._next_preview(agent, now)
        record = None if self.stopped else self._take(now)
        if record is None:
            return self._release(agent)
        decisions = [] if agent in self.held else [Hold(agent)]
        dial = self._dial(now, record, agent)
        self.held[agent] = [record, dial.call_id]
        decisions.append(dial)
        return decisions

    def _release(self, agent: str) -> list:
        held = self.held.pop(agent, None)
        if held is None:
            return []
        if held[1] is None:
            self.call_list.done(held[0])        # a record in preview, not dialled
        return [Release(agent)]

    def _next_preview(self, agent: str, now: float) -> list:
        record = None if self.stopped else self._take(now)
        if record is None:
            if self.held.pop(agent, None) is not None:
                return [Release(agent)]
            return []
        self.held[agent] = [record, None]
        return [Preview(agent, record)]

    # ---- snapshots -----------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """Everything it has learnt and holds, as JSON-ready data (plain lists, numbers and
        strings: a host's store keeps it, and data is all a restore reads, never code). Not
        in it: the configuration and the list's records (the host's store has them) and the
        do-not-call lists it was made with (only what changed since: see DoNotCall)."""
        windows = self.call_list.windows
        return {
            "v": SNAPSHOT_VERSION, "campaign": self.config.name,
            "now": None if self.now == -math.inf else self.now, "stopped": self.stopped,
            "skipped_do_not_call": self.skipped_do_not_call,
            "fresh_skipped": self._fresh_skipped,
            # In dial order, as the pacer holds them (the order is who gets which call).
            "calls": [[call.call_id, call.record_id, call.agent_id, call.dialled_at,
                       call.state, call.connected_at] for call in self.calls.values()],
            "ringing": [[call_id, at] for call_id, at in self.ringing.items()],
            "waiting": sorted(self.waiting),
            "held": [[agent, record, call_id] for agent, (record, call_id) in self.held.items()],
            "inbound_open": self.inbound_open, "first_pace": self._first_pace,
            "serial": self._serial,
            "attempts_of": [[record, count] for record, count in self.attempts_of.items()],
            "retried": self.retried,
            "counts": [self.counts[outcome] for outcome in CallOutcome],
            "attempts": self.attempts, "connected": self.connected,
            "abandoned": self.abandoned, "machines_by_agent": self.machines_by_agent,
            "estimates": self.estimates.state(), "ledger": self.ledger.state(),
            "adaptive": None if self.adaptive is None else self.adaptive.state(),
            "call_list": self.call_list.state(), "do_not_call": self.do_not_call.changes(),
            "call_window": None if windows is None else windows.calendar.to_data(),
            "clock": None if windows is None else windows.clock.start_epoch,
        }

    def restore(self, state: dict) -> None:
        """Put back `snapshot()` of a campaign of the same configuration, list and first
        do-not-call lists, into this one, just made: it then decides as that one would
        have. InvalidInput naming `snapshot` if it cannot be that campaign's."""
        if self.now != -math.inf:
            raise InvalidInput("snapshot", "restore into a campaign just made")
        try:
            if state["v"] != SNAPSHOT_VERSION or state["campaign"] != self.config.name:
                raise ValueError(f"version {state['v']!r} of campaign {state['campaign']!r}")
            self._restore(state)
        except (KeyError, TypeError, ValueError, IndexError, InvalidInput) as error:
            raise InvalidInput("snapshot", f"not a snapshot of campaign {self.config.name!r} "
                                           f"(version {SNAPSHOT_VERSION}): {error}") from None

    def _restore(self, state: dict) -> None:
        self.now = -math.inf if state["now"] is None else state["now"]
        self.stopped = state["stopped"]
        self.skipped_do_not_call = state["skipped_do_not_call"]
        self._fresh_skipped = state["fresh_skipped"]
        self.calls = {call_id: _Call(call_id, record, agent, dialled_at, call_state, connected_at)
                      for call_id, record, agent, dialled_at, call_state, connected_at
                      in state["calls"]}
        self.ringing = {call_id: at for call_id, at in state["ringing"]}
        self.waiting = set(state["waiting"])
        self.held = {agent: [record, call_id] for agent, record, call_id in state["held"]}
        self.inbound_open, self._first_pace = state["inbound_open"], state["first_pace"]
        self._serial = state["serial"]
        self.attempts_of = {record: count for record, count in state["attempts_of"]}
        self.retried = state["retried"]
        self.counts = dict(zip(CallOutcome, state["counts"], strict=True))
        self.attempts, self.connected = state["attempts"], state["connected"]
        self.abandoned, self.machines_by_agent = state["abandoned"], state["machines_by_agent"]
        self.estimates.restore(state["estimates"])
        self.ledger.restore(state["ledger"])
        if (self.adaptive is None) != (state["adaptive"] is None):
            raise ValueError("pacing differs")
        if self.adaptive is not None:
            self.adaptive.restore(state["adaptive"])
        self.call_list.restore(state["call_list"])
        self.do_not_call.restore_changes(state["do_not_call"])
        windows = self.call_list.windows
        if (windows is None) != (state["call_window"] is None):
            raise ValueError("call window differs")
        if windows is not None:
            self.call_list.windows = CallWindows(Calendar.from_data(state["call_window"]),
                                                 WallClock(state["clock"]),
                                                 self.call_list.zone_sets)

    # ---- figures ------------------------------------------------------------------------------------
    def figures(self) -> dict:
        """What a campaign report shows (SPEC §6): attempts and their outcomes, abandons."""
        ledger = self.ledger
        total = ledger.total_pct()
        return {
            "attempts": self.attempts,
            "retries_scheduled": self.retried,
            "live_answers": ledger.lives_total,
            "machines": self.counts[CallOutcome.MACHINE] + self.machines_by_agent,
            "busy": self.counts[CallOutcome.BUSY],
            "no_answer": self.counts[CallOutcome.NO_ANSWER],
            "failed": self.counts[CallOutcome.FAILED],
            "connected": self.connected,
            "abandoned": self.abandoned,
            "abandon_pct": round(total, 3) if total is not None else 0.0,
            "max_window_abandon_pct": round(ledger.max_pct, 3),
            "list_dialled": self.call_list.dialled - self._fresh_skipped,
            "skipped_do_not_call": self.skipped_do_not_call,
            "skipped_unknown_zone": self.call_list.skipped_unknown_zone,
            "window_waits": self.call_list.window_waits,
        }


"""The campaigns' journal (SPEC §6, failover): what a campaign's pacer was fed, step by step,
so that a restarted server or a new leader rebuilds the pacer where the old one stood.

The pacer is deterministic (sites/dialer/campaign.py): the same events from the same start
give the same state. So the journal holds its inputs, not its state: entry 1 the
do-not-call lists it started with (keys only), its call window's calendar in full (the
center's calendar of that name may change later) and the host's wall clock then (`start`),
then one entry per step with the events of that step (`step`), each written and committed
before the step's decisions are carried out (a dial the journal does not know was never
sent). A new leader's first entry is a `claim` with its term: the deposed leader's next
entry takes the same seq and fails (the primary key), so two leaders never both dial for
one campaign. A claim holds the new term's wall clock (its host counts time from another
origin): a replay switches the pacer to it there (`ClockChanged`), as the server that
claimed it did.

Entries are JSON (the store's `campaign_journal.entry`); floats round-trip exactly, so a
replay sees the very times the pacer saw. Blocking calls: the host runs them off the event
loop, like every store call.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from cluster.store.models import CampaignJournalEntry
from sites.calendars import Calendar, Override, WallClock
from sites.dialer import events as dev
from sites.dialer.events import CallOutcome
from sites.dialer.snapshot import Activity, AgentsSnapshot, AgentView, InboundSkill

_JOURNAL = CampaignJournalEntry.__table__
_ACTIVITIES = {activity.value: activity for activity in Activity}
_OUTCOMES = {outcome.value: outcome for outcome in CallOutcome}
# Calls over that a resumed campaign remembers (Replay.over_calls): more than a PBX link
# holds unacknowledged (cluster/client.py: 100,000 events).
OVER_CALLS_KEPT = 100_000


class JournalConflict(RuntimeError):
    """Another server wrote this campaign's next entry first: this one is deposed (a new
    leader claimed the campaign) and must dial nothing more for it."""


# ---- events <-> JSON ----------------------------------------------------------------------------
def _keys(keys) -> list:
    # The core takes str or bytes keys (the host's are bytes: keyed hashes): tagged, so
    # that each comes back as it was.
    return ["x" + key.hex() if isinstance(key, bytes) else "s" + key for key in keys]


def _unkeys(keys) -> tuple:
    return tuple(bytes.fromhex(key[1:]) if key[0] == "x" else key[1:] for key in keys)


class PaceCodec:
    """The agents of a campaign's paces, journaled as what changed since the previous pace:
    a pace carries every agent of the skill (100 agents, a pace a second: 250 MB of JSON
    in an 8-hour shift, measured: README), of whom one or two changed. Each entry holds the
    agents whose view changed (`changed`) and, when the agents themselves or their order
    changed, the ids in order (`order`: the order is the pacer's, who gets which call).
    One per campaign, fed every pace in journal order, by the writer and by the reader."""

    def __init__(self):
        self.views: dict = {}       # agent id -> its view as last journaled (encoded)
        self.order: list = []

    def encode(self, agents) -> dict:
        views, changed = {}, {}
        last = self.views
        for view in agents:
            encoded = [view.activity.value, view.since, view.wrap_s, view.until]
            views[view.agent_id] = encoded
            if last.get(view.agent_id) != encoded:
                changed[view.agent_id] = encoded
        order = list(views)
        entry = {"changed": changed}
        if order != self.order:
            entry["order"] = order
        self.views, self.order = views, order
        return entry

    def decode(self, entry) -> tuple:
        self.views.update(entry["changed"])
        if "order" in entry:
            self.order = entry["order"]
            self.views = {agent: self.views[agent] for agent in self.order}
        return tuple(AgentView(agent, _ACTIVITIES[activity], since, wrap_s, until)
                     for agent, (activity, since, wrap_s, until) in self.views.items())


def encode_event(event, paces: PaceCodec | None = None) -> dict:
    """`paces`: the campaign's PaceCodec (a Pace needs it; a new one encodes in full)."""
    kind = type(event)
    if kind is dev.Pace:
        agents = event.agents
        entry = {"e": "pace", "t": event.time,
                 "inbound": [[skill.skill, skill.sl_pct, skill.queued, skill.offered,
                              skill.window_s, skill.aht_s, skill.sl_threshold_s]
                             for skill in agents.inbound]}
        entry.update((paces or PaceCodec()).encode(agents.agents))
        return entry
    if kind is dev.CallProgress:
        return {"e": "progress", "t": event.time, "call": event.call_id,
                "outcome": event.outcome.value}
    if kind is dev.CallConnected:
        return {"e": "connected", "t": event.time, "call": event.call_id}
    if kind is dev.CallAbandoned:
        return {"e": "abandoned", "t": event.time, "call": event.call_id}
    if kind is dev.CallEnded:
        return {"e": "ended", "t": event.time, "call": event.call_id, "machine": event.machine}
    if kind is dev.PreviewDone:
        return {"e": "preview_done", "t": event.time, "agent": event.agent_id,
                "dial": event.dial}
    if kind is dev.CallWindowChanged:
        return {"e": "call_window", "t": event.time, "calendar": encode_calendar(event.calendar)}
    if kind is dev.HoldRefused:
        return {"e": "hold_refused", "t": event.time, "agent": event.agent_id}
    if kind is dev.Stop:
        return {"e": "stop", "t": event.time}
    if kind is dev.DoNotCallChanged:
        return {"e": "do_not_call", "t": event.time, "scope": event.scope,
                "add": _keys(event.add), "remove": _keys(event.remove)}
    raise TypeError(f"not a dialler event: {kind.__name__}")


def decode_event(data: dict, paces: PaceCodec | None = None):
    """`paces`: the campaign's PaceCodec, fed every pace of its journal in order."""
    kind, time = data["e"], data["t"]
    if kind == "pace":
        return dev.Pace(time, AgentsSnapshot(
            (paces or PaceCodec()).decode(data),
            tuple(InboundSkill(*skill) for skill in data["inbound"])))
    if kind == "progress":
        return dev.CallProgress(time, data["call"], _OUTCOMES[data["outcome"]])
    if kind == "connected":
        return dev.CallConnected(time, data["call"])
    if kind == "abandoned":
        return dev.CallAbandoned(time, data["call"])
    if kind == "ended":
        return dev.CallEnded(time, data["call"], data["machine"])
    if kind == "preview_done":
        return dev.PreviewDone(time, data["agent"], data["dial"])
    if kind == "stop":
        return dev.Stop(time)
    if kind == "call_window":
        return dev.CallWindowChanged(time, decode_calendar(data["calendar"]))
    if kind == "hold_refused":
        return dev.HoldRefused(time, data["agent"])
    if kind == "do_not_call":
        return dev.DoNotCallChanged(time, data["scope"], _unkeys(data["add"]),
                                    _unkeys(data["remove"]))
    raise ValueError(f"campaign journal: unknown event kind {kind!r}")


def encode_calendar(calendar: Calendar) -> dict:
    """A calendar as the core holds it (minutes, dates, POSIX seconds): read back, it is the
    same calendar, whatever the center's configuration says by then."""
    return {"name": calendar.name, "timezone": calendar.timezone,
            "weekly": [[list(window) for window in day] for day in calendar.weekly],
            "holidays": sorted(day.isoformat() for day in calendar.holidays),
            "overrides": [[o.start, o.end, o.open, o.reason] for o in calendar.overrides]}


def decode_calendar(data: dict) -> Calendar:
    return Calendar(data["name"], data["timezone"],
                    tuple(tuple(tuple(window) for window in day) for day in data["weekly"]),
                    frozenset(dt.date.fromisoformat(day) for day in data["holidays"]),
                    tuple(Override(*override) for override in data["overrides"]))


def start_entry(global_keys, campaign_keys, call_window: Calendar | None = None,
                clock: WallClock | None = None) -> dict:
    """`call_window`: the calendar the pacer was given; `clock`: the host's wall clock."""
    entry = {"k": "start", "global": _keys(sorted(global_keys)),
             "campaign": _keys(sorted(campaign_keys))}
    if call_window is not None:
        entry["call_window"] = encode_calendar(call_window)
    if clock is not None:
        entry["clock"] = clock.start_epoch
    return entry


def step_entry(events, paces: PaceCodec) -> dict:
    return {"k": "step", "events": [encode_event(event, paces) for event in events]}


def claim_entry(clock: WallClock | None = None) -> dict:
    """`clock`: the claiming host's wall clock, the pacer's from this entry on."""
    return {"k": "claim"} if clock is None else {"k": "claim", "clock": clock.start_epoch}


def closed_entry() -> dict:
    """A stopped campaign's last call is over: a new leader has nothing to resume."""
    return {"k": "closed"}


class Replay:
    """A campaign's journal read back: the lists, call window and wall clock it started
    with, its steps' events in order (a claim's new wall clock as a `ClockChanged` step),
    and where the next entry goes. A journal written before call windows has neither: no
    window (its wall clock then matters to nothing)."""

    def __init__(self, rows):
        self.global_keys: frozenset = frozenset()
        self.campaign_keys: frozenset = frozenset()
        self.call_window: Calendar | None = None
        self.clock: WallClock | None = None
        self.steps: list = []          # [[event, ...], ...]
        self.started = False
        self.closed = False            # stopped, and its last call over (nothing to resume)
        self.next_seq = 1
        self.paces = PaceCodec()       # as the writer's after its last pace
        for seq, entry in rows:
            kind = entry["k"]
            self.closed = kind == "closed"
            if kind == "start":
                self.started = True
                self.global_keys = frozenset(_unkeys(entry["global"]))
                self.campaign_keys = frozenset(_unkeys(entry["campaign"]))
                self.paces = PaceCodec()
                window = entry.get("call_window")
                self.call_window = decode_calendar(window) if window is not None else None
                self.clock = WallClock(entry["clock"]) if "clock" in entry else None
            elif kind == "step":
                self.steps.append([decode_event(event, self.paces)
                                   for event in entry["events"]])
            elif kind == "claim" and "clock" in entry and self.started:
                # At the time of the newest event: the claimer's pacer switched after
                # replaying everything before its claim.
                self.steps.append([dev.ClockChanged(self.last_time, entry["clock"])])
            self.next_seq = seq + 1

    @property
    def last_time(self) -> float:
        """The time of the newest journaled event (the pacer's clock after the replay)."""
        for events in reversed(self.steps):
            if events:
                return events[-1].time
        return 0.0

    def over_calls(self, most: int = OVER_CALLS_KEPT) -> set:
        """Ids of the last `most` calls the journal has ended: a PBX re-sending a report
        about one after a takeover is answered as if it were the first. Only the newest:
        a PBX re-sends the events it holds unacknowledged, and a report is acknowledged
        once journaled, so what it re-sends is about the calls that ended last; an
        8-hour campaign ends a hundred thousand calls and more."""
        over = {}
        for events in self.steps:
            for event in events:
                kind = type(event)
                if kind is dev.CallProgress and event.outcome is not CallOutcome.LIVE or (
                        kind in (dev.CallAbandoned, dev.CallEnded)):
                    over.pop(event.call_id, None)
                    over[event.call_id] = None
        return set(list(over)[-most:]) if most else set()

    def call_window_now(self) -> Calendar | None:
        """The calendar the pacer reads after the replay: the start's, or the last change."""
        calendar = self.call_window
        for events in self.steps:
            for event in events:
                if type(event) is dev.CallWindowChanged:
                    calendar = event.calendar
        return calendar

    def lists_now(self) -> tuple:
        """(global keys, campaign keys) as the pacer holds them after the replay: the
        start's lists with every journaled change applied."""
        lists = {"global": set(self.global_keys), "campaign": set(self.campaign_keys)}
        for events in self.steps:
            for event in events:
                if type(event) is dev.DoNotCallChanged:
                    keys = lists[event.scope]
                    keys.difference_update(event.remove)
                    keys.update(event.add)
        return lists["global"], lists["campaign"]


# ---- the store ---------------------------------------------------------------------------------
class CampaignJournal:
    def __init__(self, engine):
        self.engine = engine

    def append(self, campaign: str, seq: int, entry: dict, token: int | None = None) -> None:
        """Write entry `seq`; JournalConflict if another server wrote it first."""
        try:
            with self.engine.begin() as connection:
                connection.execute(_JOURNAL.insert().values(campaign=campaign, seq=seq,
                                                            token=token, entry=entry))
        except sa.exc.IntegrityError:
            raise JournalConflict(f"campaign {campaign!r}: entry {seq} was written by "
                                  "another server (a newer leader)") from None

    def claim(self, campaign: str, token: int | None, clock: WallClock | None = None) -> None:
        """A new term's first entry, after every other: from its commit the previous
        holder's writes fail. JournalConflict if a newer term claimed it already. `clock`:
        the new term's wall clock (claim_entry)."""
        with self.engine.connect() as connection:
            newest, last = connection.execute(sa.select(
                sa.func.max(_JOURNAL.c.token), sa.func.coalesce(sa.func.max(_JOURNAL.c.seq), 0))
                .where(_JOURNAL.c.campaign == campaign)).one()
        if token is not None and newest is not None and newest > token:
            raise JournalConflict(f"campaign {campaign!r} was claimed by term {newest}, "
                                  f"newer than {token}")
        self.append(campaign, last + 1, claim_entry(clock), token)

    def ends(self, campaign: str) -> tuple:
        """(started, closed) from its first and last entries only: whether a campaign has
        anything to resume, without reading a whole shift's journal for it."""
        with self.engine.connect() as connection:
            last = sa.select(sa.func.max(_JOURNAL.c.seq)).where(
                _JOURNAL.c.campaign == campaign).scalar_subquery()
            kinds = dict(connection.execute(
                sa.select(_JOURNAL.c.seq, _JOURNAL.c.entry).where(
                    _JOURNAL.c.campaign == campaign,
                    sa.or_(_JOURNAL.c.seq == 1, _JOURNAL.c.seq == last))).all())
        first = kinds.get(1)
        newest = kinds[max(kinds)] if kinds else None
        return (first is not None and first["k"] == "start",
                newest is not None and newest["k"] == "closed")

    def read(self, campaign: str) -> Replay:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(_JOURNAL.c.seq, _JOURNAL.c.entry)
                                      .where(_JOURNAL.c.campaign == campaign)
                                      .order_by(_JOURNAL.c.seq)).all()
        return Replay(rows)

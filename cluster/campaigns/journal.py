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

Snapshots bound a resume: every `snapshot_every` entries the host keeps its pacer as it
stands (`Campaign.snapshot()`: JSON data, never pickled, so that whoever can write the
store cannot make the router run code; the store's `campaign_snapshots`), with the pace
codec. A reader restores the newest and replays only the entries after it (with entry 1:
the do-not-call lists a snapshot's changes apply to).

Entries are JSON (the store's `campaign_journal.entry`); floats round-trip exactly, so a
replay sees the very times the pacer saw. Blocking calls: the host runs them off the event
loop, like every store call.
"""

from __future__ import annotations

import sqlalchemy as sa

from cluster.store.models import CampaignJournalEntry, CampaignSnapshot
from sites.calendars import Calendar, WallClock
from sites.dialer import events as dev
from sites.dialer.do_not_call import keys_from_data, keys_to_data
from sites.dialer.events import CallOutcome
from sites.dialer.snapshot import Activity, AgentsSnapshot, AgentView, InboundSkill

_JOURNAL = CampaignJournalEntry.__table__
_SNAPSHOTS = CampaignSnapshot.__table__
_ACTIVITIES = {activity.value: activity for activity in Activity}
_OUTCOMES = {outcome.value: outcome for outcome in CallOutcome}
# Journal entries between two snapshots of a campaign's pacer (`vcc serve
# --campaign-snapshot-every`): a resume replays at most this many (README).
SNAPSHOT_EVERY = 2_000


class JournalConflict(RuntimeError):
    """Another server wrote this campaign's next entry first: this one is deposed (a new
    leader claimed the campaign) and must dial nothing more for it."""


# ---- events <-> JSON ----------------------------------------------------------------------------
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
        return {"e": "call_window", "t": event.time, "calendar": event.calendar.to_data()}
    if kind is dev.HoldRefused:
        return {"e": "hold_refused", "t": event.time, "agent": event.agent_id}
    if kind is dev.AgentGone:
        return {"e": "agent_gone", "t": event.time, "agent": event.agent_id}
    if kind is dev.Stop:
        return {"e": "stop", "t": event.time}
    if kind is dev.DoNotCallChanged:
        return {"e": "do_not_call", "t": event.time, "scope": event.scope,
                "add": keys_to_data(event.add), "remove": keys_to_data(event.remove)}
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
        return dev.CallWindowChanged(time, Calendar.from_data(data["calendar"]))
    if kind == "hold_refused":
        return dev.HoldRefused(time, data["agent"])
    if kind == "agent_gone":
        return dev.AgentGone(time, data["agent"])
    if kind == "do_not_call":
        return dev.DoNotCallChanged(time, data["scope"], keys_from_data(data["add"]),
                                    keys_from_data(data["remove"]))
    raise ValueError(f"campaign journal: unknown event kind {kind!r}")


def start_entry(global_keys, campaign_keys, call_window: Calendar | None = None,
                clock: WallClock | None = None) -> dict:
    """`call_window`: the calendar the pacer was given; `clock`: the host's wall clock."""
    entry = {"k": "start", "global": keys_to_data(sorted(global_keys)),
             "campaign": keys_to_data(sorted(campaign_keys))}
    if call_window is not None:
        entry["call_window"] = call_window.to_data()
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


def snapshot_state(pacer_state: dict, paces: PaceCodec) -> dict:
    """What a campaign snapshot holds (the store's `campaign_snapshots.state`): the pacer's
    `Campaign.snapshot()` and the journal's pace codec as it stood, so that the next pace
    entry is read against the same agents."""
    return {"pacer": pacer_state, "paces": {"views": dict(paces.views),
                                             "order": list(paces.order)}}


class Replay:
    """A campaign's journal read back: the lists, call window and wall clock it started
    with, the newest snapshot of its pacer if any (`pacer_state`), the events of the steps
    after it in order (a claim's new wall clock as a `ClockChanged` step), and where the
    next entry goes. A journal written before call windows has neither: no window (its wall
    clock then matters to nothing).

    `rows`: (seq, entry) in order: all of them, or, with `snapshot` = (seq, state), the
    first entry and those after the snapshot's."""

    def __init__(self, rows, snapshot: tuple | None = None):
        self.global_keys: frozenset = frozenset()
        self.campaign_keys: frozenset = frozenset()
        self.call_window: Calendar | None = None
        self.clock: WallClock | None = None
        self.pacer_state: dict | None = None    # Campaign.snapshot() to restore first
        self.snapshot_seq = 0
        self.steps: list = []          # [[event, ...], ...] after the snapshot
        self.started = False
        self.closed = False            # stopped, and its last call over (nothing to resume)
        self.next_seq = 1
        self.paces = PaceCodec()       # as the writer's after its last pace
        self._dnc_changes: dict | None = None   # the snapshot's (DoNotCall.changes())
        for seq, entry in rows:
            if snapshot is not None and seq > snapshot[0] and self.pacer_state is None:
                self._restore(*snapshot)
            kind = entry["k"]
            self.closed = kind == "closed"
            if kind == "start":
                self.started = True
                self.global_keys = frozenset(keys_from_data(entry["global"]))
                self.campaign_keys = frozenset(keys_from_data(entry["campaign"]))
                self.paces = PaceCodec()
                window = entry.get("call_window")
                self.call_window = Calendar.from_data(window) if window is not None else None
                self.clock = WallClock(entry["clock"]) if "clock" in entry else None
            elif kind == "step":
                self.steps.append([decode_event(event, self.paces)
                                   for event in entry["events"]])
            elif kind == "claim" and "clock" in entry and self.started:
                # At the time of the newest event: the claimer's pacer switched after
                # replaying everything before its claim.
                self.steps.append([dev.ClockChanged(self.last_time, entry["clock"])])
            self.next_seq = seq + 1
        if snapshot is not None and self.pacer_state is None:
            self._restore(*snapshot)

    def _restore(self, seq: int, state: dict) -> None:
        """The pacer as it stood after entry `seq`: what the entries up to it said."""
        self.snapshot_seq, self.pacer_state = seq, state["pacer"]
        self.paces = PaceCodec()
        self.paces.views = dict(state["paces"]["views"])
        self.paces.order = list(state["paces"]["order"])
        self._dnc_changes = self.pacer_state["do_not_call"]
        self.steps = []
        self.next_seq = max(self.next_seq, seq + 1)

    @property
    def last_time(self) -> float:
        """The time of the newest journaled event (the pacer's clock after the replay)."""
        for events in reversed(self.steps):
            if events:
                return events[-1].time
        if self.pacer_state is not None and self.pacer_state["now"] is not None:
            return self.pacer_state["now"]
        return 0.0

    def call_window_now(self) -> Calendar | None:
        """The calendar the pacer reads after the replay: the start's or the snapshot's, or
        the last change after it."""
        calendar = self.call_window
        if self.pacer_state is not None and self.pacer_state["call_window"] is not None:
            calendar = Calendar.from_data(self.pacer_state["call_window"])
        for events in self.steps:
            for event in events:
                if type(event) is dev.CallWindowChanged:
                    calendar = event.calendar
        return calendar

    def lists_now(self) -> tuple:
        """(global keys, campaign keys) as the pacer holds them after the replay: the
        start's lists with every change since applied (the snapshot's, then the steps')."""
        lists = {"global": set(self.global_keys), "campaign": set(self.campaign_keys)}
        if self._dnc_changes is not None:
            for scope, keys in lists.items():
                keys.difference_update(keys_from_data(self._dnc_changes[scope]["removed"]))
                keys.update(keys_from_data(self._dnc_changes[scope]["added"]))
        for events in self.steps:
            for event in events:
                if type(event) is dev.DoNotCallChanged:
                    keys = lists[event.scope]
                    keys.difference_update(event.remove)
                    keys.update(event.add)
        return lists["global"], lists["campaign"]


# ---- the store ---------------------------------------------------------------------------------
class CampaignJournal:
    def __init__(self, engine, snapshot_every: int = SNAPSHOT_EVERY):
        """`snapshot_every`: entries a campaign's host journals between two snapshots of its
        pacer."""
        if isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int) or (
                snapshot_every < 1):
            raise ValueError(f"snapshot_every must be an integer >= 1; got {snapshot_every!r}")
        self.engine = engine
        self.snapshot_every = snapshot_every

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

    def read(self, campaign: str, snapshots: bool = True) -> Replay:
        """The journal from its newest snapshot on (with its first entry: the lists and
        calendar the pacer was made with); all of it without `snapshots`."""
        with self.engine.connect() as connection:
            snapshot = connection.execute(
                sa.select(_SNAPSHOTS.c.seq, _SNAPSHOTS.c.state)
                .where(_SNAPSHOTS.c.campaign == campaign)
                .order_by(_SNAPSHOTS.c.seq.desc()).limit(1)).one_or_none() if snapshots else None
            after = 0 if snapshot is None else snapshot.seq
            rows = connection.execute(sa.select(_JOURNAL.c.seq, _JOURNAL.c.entry)
                                      .where(_JOURNAL.c.campaign == campaign,
                                             sa.or_(_JOURNAL.c.seq == 1, _JOURNAL.c.seq > after))
                                      .order_by(_JOURNAL.c.seq)).all()
        return Replay(rows, None if snapshot is None else tuple(snapshot))

    def write_snapshot(self, campaign: str, seq: int, state: dict,
                       token: int | None = None) -> None:
        """Keep `state` (snapshot_state) as the pacer after entry `seq`, and drop the older
        snapshots but the one before (a resume reads the newest; the one before stays while
        a reader may still be on it). A snapshot is only a shortcut: the journal has all."""
        with self.engine.begin() as connection:
            connection.execute(_SNAPSHOTS.insert().values(campaign=campaign, seq=seq,
                                                          token=token, state=state))
            kept = sa.select(_SNAPSHOTS.c.seq).where(
                _SNAPSHOTS.c.campaign == campaign, _SNAPSHOTS.c.seq < seq).order_by(
                _SNAPSHOTS.c.seq.desc()).limit(1).scalar_subquery()
            connection.execute(_SNAPSHOTS.delete().where(_SNAPSHOTS.c.campaign == campaign,
                                                         _SNAPSHOTS.c.seq < kept))

"""Contact records and agent state intervals, made from what the core did.

`Recorder.observe(state, event, actions, seq)` is called after every event a site's core
applied (live through `Persistence`, or while a recovery replays the journal). It keeps one
open record per contact that is not final yet and one open interval per logged-in agent, and
hands out finished rows with `take()`. Records are derived data: the journal is the truth,
and replaying it through a Recorder derives the same rows again (the writers keep the row
already there).

An interflowed contact keeps one record across sites: it starts where and when the contact
first arrived in the center, lists its arrival at each site, and judges the service level
from that first arrival. Where it entered is worked out from its arrivals and interflows
together rather than from their order, because a recovery that replays several sites'
journals merges them by time, and an arrival and its interflow happen at the same instant.

A Recorder sees either every site of a process (the in-process runtime, the simulator, a
recovery or repair of the whole store: it follows a contact from site to site), or one
site alone (`alone=True`: a Ray site actor, cluster/store/site_store.py). Alone, it hands a
contact's record to the site the contact moves to (`carry`: the actor puts it on the
interflowed arrival, `ContactArrived.record`, which that site journals), takes up the
record an arrival brings, and forgets the record of a contact that left. An arrival
without one (a journal of the other runtime) still brings where and when the contact
first arrived (`entry_site`, `first_arrival`), and the record starts there.

Snapshots carry the open records (`dump(site)`: every open record that touched the site,
with `seen`, the last journal entry of each site it has taken in). After a crash the sites
restart from snapshots taken at different moments; `load` keeps the latest copy of each
record, `observe` skips the entries a record has seen, and `reconcile` drops the records of
contacts no site holds any more (they ended before a snapshot: their rows are written).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from cluster.masking import mask_card_numbers, mask_phone_number
from cluster.store.interactions import write_interactions
from cluster.store.models import AgentStateInterval, ContactRecord
from sites import events as ev
from sites.actions import (
    AgentStateChanged,
    ContactFinished,
    ContactQueued,
    OfferContact,
)
from sites.model import AgentState, ContactState
from sites.state import SiteState

RECORDS = ContactRecord.__table__
INTERVALS = AgentStateInterval.__table__
_ANSWER_EVENTS = (ev.OfferAccepted, ev.ContactConnected)


# Column widths (cluster/store/models.py): a longer value would make PostgreSQL refuse the
# write, and a refused write stops the router. The API keeps within them (cluster/api_limits.py);
# these cut what an older journal may hold.
_PHONE_CHARS = 64
_NAME_CHARS = 64
_ID_CHARS = 128
_REASON_CHARS = 64


def _text(value, limit, mask=mask_card_numbers):
    """What a record keeps of a caller's text: masked (SPEC §9), then cut to the column."""
    if value is None:
        return None
    return mask(str(value))[:limit]


def _data_fields(record, data, dnis=None) -> None:
    """ANI keeps only its last 4 digits (a caller's number is personal data, and the records
    are read by people); DNIS is the center's own number; a customer id may be a card.
    `dnis`: the number a routing plan's contact dialled (the event's), when the attached
    data does not say it (the simulator sends no data)."""
    record.ani = _text(data.get("ani"), _PHONE_CHARS, mask_phone_number)
    record.dnis = _text(data.get("dnis") or dnis, _PHONE_CHARS)
    record.customer_id = _text(data.get("customer_id"), _ID_CHARS)
    # An outbound call's campaign (SPEC §6 reports per campaign); never its number.
    record.campaign = _text(data.get("campaign"), _NAME_CHARS)


class OpenRecord:
    """A contact's record while it is not final."""
    __slots__ = ("contact_id", "ani", "dnis", "customer_id", "skill", "priority",
                 "service_objective_s", "sl_threshold_s", "channel", "arrivals", "targets",
                 "offer_time", "answer_time", "end_time", "agent_id", "served_site", "offers",
                 "queue_position", "ewt_predicted_s", "queued", "site", "seen",
                 "queue_time", "callback", "service", "tier", "campaign")

    def __init__(self, contact_id):
        self.contact_id = contact_id
        self.ani = self.dnis = self.customer_id = None
        self.skill = self.priority = self.channel = None
        self.service_objective_s = self.sl_threshold_s = None
        self.arrivals = []              # [site, time] of every arrival (interflows included)
        self.targets = []               # sites it was interflowed to
        self.offer_time = self.answer_time = self.end_time = None
        self.agent_id = self.served_site = None
        self.offers = 0
        self.queue_position = self.ewt_predicted_s = None
        self.queued = False
        self.site = None                # where it is now (its last arrival seen)
        self.seen = {}                  # site -> the last journal seq of it applied here
        # A routing plan's contact (SPEC §10): when its plan first queued it or had it
        # offered (its wait for an agent counts from then), whether the caller took a
        # callback, and the service its dialled number belongs to.
        self.queue_time = self.service = None
        self.callback = False
        self.tier = None                # the caller's customer tier routed with (SPEC §7)
        self.campaign = None            # an outbound call's campaign (SPEC §6)

    def entry(self):
        """(site, time) it entered the center: the earliest arrival, and among arrivals at
        the same instant the one no interflow led to."""
        return min(self.arrivals, key=lambda arrival: (arrival[1], arrival[0] in self.targets))

    def row(self, final_state: ContactState, final_site: str, time: float) -> dict:
        entry_site, arrival_time = self.entry()
        completed = final_state is ContactState.COMPLETED
        return {
            "contact_id": self.contact_id, "ani": self.ani, "dnis": self.dnis,
            "customer_id": self.customer_id, "entry_site": entry_site,
            "served_site": self.served_site, "final_site": final_site,
            # A dialled number's contact its plan never queued (self-served, busy, hung up
            # in the IVR...) has no skill: "" and 0 in these columns.
            "skill": self.skill or "", "priority": self.priority or "",
            "service_objective_s": self.service_objective_s or 0.0,
            "sl_threshold_s": self.sl_threshold_s or 0.0, "channel": self.channel,
            "arrival_time": arrival_time, "offer_time": self.offer_time,
            "answer_time": self.answer_time,
            "end_time": self.end_time if self.end_time is not None or not completed else time,
            "wrap_up_end_time": time if completed else None,
            "abandon_time": time if final_state is ContactState.ABANDONED else None,
            "final_state": final_state.value, "agent_id": self.agent_id,
            "interflows": len(self.targets), "offers": self.offers,
            "queue_position": self.queue_position, "ewt_predicted_s": self.ewt_predicted_s,
            "queue_time": self.queue_time, "callback": bool(self.callback),
            "service": self.service, "tier": self.tier, "campaign": self.campaign,
        }

    def dump(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    # What travels with a contact to another site (`Recorder.carry`): its life so far.
    # ANI, DNIS and customer id come again with its attached data; the service objective
    # with the contact.
    CARRIED = ("arrivals", "targets", "offers", "offer_time", "queue_position",
               "ewt_predicted_s", "queued", "sl_threshold_s", "queue_time", "callback",
               "service", "tier")

    def carried(self) -> dict:
        return _copied({name: getattr(self, name) for name in self.CARRIED})

    def take_up(self, carried: dict) -> None:
        """Go on from the record another site `carried` (unknown keys are ignored, missing
        ones stay as they are). Copied: the arrival that brought it is journaled later, as
        it came."""
        for name, value in _copied(carried).items():
            if name in self.CARRIED:
                setattr(self, name, value)

    @classmethod
    def load(cls, fields: dict) -> "OpenRecord":
        """From `dump()`; a field a snapshot written by an older version lacks keeps its
        default (queue_time, callback and service came with routing plans)."""
        record = cls(fields["contact_id"])
        for name in cls.__slots__:
            if name in fields:
                setattr(record, name, fields[name])
        return record


class Recorder:
    """Turns (state, event, actions) into contact records and agent state intervals."""

    def __init__(self, *, alone: bool = False):
        # alone: this Recorder sees one site only (a Ray site actor; module docstring).
        self.alone = alone
        self._open: dict[str, OpenRecord] = {}
        self._intervals: dict[tuple, list] = {}     # (site, agent) -> [state, reason, start]
        self._records: list[dict] = []
        self._finished_intervals: list[dict] = []
        self.unknown_contacts = 0       # actions about contacts it never saw arrive

    # ---- input -------------------------------------------------------------------------------
    def observe(self, state: SiteState, event, actions, seq: int | None = None) -> None:
        """After `state` applied `event`, its journal entry `seq` at that site when known.
        A record that has seen that entry already (one restored from a snapshot taken
        after this site's, during a recovery) is not changed by it again."""
        site = state.name
        time = event.time
        applies = {}          # contact id -> whether this entry is news to its record

        def fresh(contact_id) -> bool:
            verdict = applies.get(contact_id)
            if verdict is None:
                record = self._open.get(contact_id)
                verdict = applies[contact_id] = (
                    seq is None or record is None or record.seen.get(site, 0) < seq)
            return verdict

        kind = type(event)
        contact_id = getattr(event, "contact_id", None)
        if contact_id is not None and fresh(contact_id):
            record = self._open.get(contact_id)
            if kind is ev.ContactArrived:
                self._arrived(state, event)
            elif record is None:
                pass
            elif kind in _ANSWER_EVENTS:
                contact = state.contacts.get(contact_id)
                if (record.answer_time is None and contact is not None
                        and contact.answer_time is not None):
                    record.answer_time = contact.answer_time
                    record.agent_id = contact.agent_id
                    record.served_site = site
            elif kind is ev.ContactEnded:
                if record.answer_time is not None and record.end_time is None:
                    record.end_time = time
            elif kind is ev.CallbackChosen:
                contact = state.contacts.get(contact_id)
                if contact is not None and contact.callback:    # accepted, and kept
                    record.callback = True
            elif kind is ev.ContactInterflowed:
                # Counted once: the arrival there may have counted it already (a record
                # that arrived without this site's part, `_arrived`). The move before this
                # one went to this site, so a last target equal to to_site is this move.
                if record.targets[-1:] != [event.to_site]:
                    record.targets.append(event.to_site)
        for action in actions:
            action_kind = type(action)
            if action_kind is AgentStateChanged:
                self._agent_state(site, action, time)
                continue
            record = self._open.get(action.contact_id)
            if record is None:
                if not (action_kind is ContactFinished
                        and action.final_state is ContactState.INTERFLOWED):
                    self.unknown_contacts += 1
                continue
            if not fresh(action.contact_id):
                continue
            if record.skill is None and (action_kind is OfferContact
                                         or action_kind is ContactQueued):
                _planned(record, state, action, time)
            if action_kind is OfferContact:
                record.offers += 1
                if action.callback:     # also a record that missed the caller's choice
                    record.callback = True
                if record.offer_time is None:
                    record.offer_time = time
            elif action_kind is ContactQueued:
                if not record.queued:
                    record.queued = True
                    record.queue_position = action.position
                    record.ewt_predicted_s = action.ewt_s
            elif action_kind is ContactFinished:
                if action.final_state is not ContactState.INTERFLOWED:
                    del self._open[action.contact_id]
                    self._records.append(record.row(action.final_state, site, time))
                elif self.alone:
                    # It went on with its record (`carry`): the site it went to has it now.
                    del self._open[action.contact_id]
        if seq is not None:
            for contact_id, verdict in applies.items():
                record = self._open.get(contact_id)
                if verdict and record is not None:
                    record.seen[site] = seq

    def _arrived(self, state: SiteState, event) -> None:
        record = self._open.get(event.contact_id)
        if record is None:
            record = self._open[event.contact_id] = OpenRecord(event.contact_id)
            contact = state.contacts.get(event.contact_id)
            record.channel = _name(event.channel)
            # The tier the core routed with: the caller's, else the default (None: no tiers).
            record.tier = state.tiers.name_of(event.tier)
            if event.skill is not None:
                skill = state.skills[event.skill]
                record.skill = skill.name
                # No priority given: the caller's tier's, as the core chose it.
                record.priority = _name(event.priority if event.priority is not None
                                        else contact.priority if contact is not None
                                        else state.priority_for(event.tier))
                record.sl_threshold_s = skill.sl_threshold_s
                record.service_objective_s = (
                    contact.service_objective_s if contact is not None
                    else float(event.service_objective_s or skill.sl_threshold_s))
            elif event.dnis is not None:
                # A dialled number's plan chooses skill and priority when it queues it;
                # the number's service is known now (busy contacts end at once).
                entry = state.plans.config.entry_points.get(event.dnis)
                record.service = entry.service if entry is not None else None
            _data_fields(record, event.data or {}, event.dnis)
            _moved_in(record, state.name, event.entry_site, event.first_arrival,
                      event.time, event.record)
        record.arrivals.append([state.name, event.time])
        record.site = state.name

    def _agent_state(self, site, action: AgentStateChanged, time) -> None:
        key = (site, action.agent_id)
        current = self._intervals.pop(key, None)
        if current is not None and time > current[2]:
            self._finished_intervals.append(_interval_row(site, action.agent_id, *current, time))
        if action.state is not AgentState.LOGGED_OUT:
            self._intervals[key] = [action.state.value, action.reason or "", time]

    # ---- output ------------------------------------------------------------------------------
    def take(self) -> tuple[list, list]:
        """(contact record rows, agent interval rows) finished since the last call."""
        records, intervals = self._records, self._finished_intervals
        self._records, self._finished_intervals = [], []
        return records, intervals

    def open_contacts(self) -> int:
        return len(self._open)

    def carry(self, contact_id: str) -> dict | None:
        """What goes with a contact leaving for another site: its record so far (None if
        there is none here). For a Recorder `alone`; one that sees every site keeps the
        record itself."""
        record = self._open.get(contact_id)
        return None if record is None else record.carried()

    def close_intervals(self, site: str, time: float) -> None:
        """End the open intervals of a site's agents at `time` (the site stops)."""
        for key in [key for key in self._intervals if key[0] == site]:
            state, reason, start = self._intervals.pop(key)
            if time > start:
                self._finished_intervals.append(_interval_row(site, key[1], state, reason, start,
                                                              time))

    # ---- snapshots -----------------------------------------------------------------------------
    def dump(self, site: str) -> dict:
        """The open records of contacts now at `site` and its agents' open intervals."""
        return {"contacts": [record.dump() for record in self._open.values()
                             if any(arrival[0] == site for arrival in record.arrivals)],
                "intervals": [[agent, *interval] for (where, agent), interval
                              in self._intervals.items() if where == site]}

    def load(self, site: str, dump: dict) -> None:
        """Take over what `dump(site)` saved. A contact saved by several sites' snapshots
        (it moved between them) keeps the copy from the latest one: it saw most of its
        life, and the replay skips what it saw (`seen`)."""
        for fields in dump["contacts"]:
            record = OpenRecord.load(fields)
            known = self._open.get(record.contact_id)
            if known is None or sum(record.seen.values()) > sum(known.seen.values()):
                self._open[record.contact_id] = record
        for agent, state, reason, start in dump["intervals"]:
            self._intervals[(site, agent)] = [state, reason, start]


    def reconcile(self, states) -> None:
        """After a recovery: forget open records of contacts no site holds any more (they
        ended before a snapshot, so their rows are written), and open one for a live
        contact that has none (from what its site knows)."""
        live = {}
        for state in states:
            for contact in state.contacts.values():
                live[contact.contact_id] = (state, contact)
        for contact_id in [cid for cid in self._open if cid not in live]:
            del self._open[contact_id]
        for contact_id, (state, contact) in live.items():
            if contact_id in self._open:
                continue
            record = self._open[contact_id] = OpenRecord(contact_id)
            record.skill, record.channel = contact.skill, contact.channel.name.lower()
            record.priority = contact.priority.name.lower()
            record.service_objective_s = contact.service_objective_s
            # A contact in its plan's IVR has no skill yet (None until it is queued).
            skill = state.skills.get(contact.skill)
            record.sl_threshold_s = skill.sl_threshold_s if skill is not None else None
            if contact.plan_run is not None:
                record.service = contact.plan_run.service
            if (contact.plan_run is not None or contact.callback) and contact.skill is not None:
                # A plan queued it: the core's own wait for it counts from then (so does
                # its arrival time below; the time in the IVR is not known any more).
                record.queue_time = contact.first_arrival
            record.callback = contact.callback
            _moved_in(record, state.name, contact.entry_site, contact.first_arrival,
                      contact.arrival_time, None)
            record.arrivals.append([state.name, contact.arrival_time])
            record.site = state.name
            record.answer_time = contact.answer_time
            record.end_time = contact.end_time
            if contact.answer_time is not None:
                record.agent_id, record.served_site = contact.agent_id, state.name
            _data_fields(record, contact.data or {})


def _copied(fields: dict) -> dict:
    """`fields` with its lists copied: arrivals ([site, time] pairs) and targets."""
    out = dict(fields)
    if "arrivals" in out:
        out["arrivals"] = [list(arrival) for arrival in out["arrivals"]]
    if "targets" in out:
        out["targets"] = list(out["targets"])
    return out


def _moved_in(record: OpenRecord, site: str, entry_site, first_arrival, time,
              carried) -> None:
    """A new record of a contact arriving at `site`: if it comes from another site, what
    it lived there (`carried`: the record the other site kept; else at least where and when
    it entered), and this arrival counted as a move."""
    if isinstance(carried, dict):
        record.take_up(carried)
    elif entry_site is not None and entry_site != site:
        record.arrivals.append([entry_site, time if first_arrival is None else first_arrival])
    if record.arrivals and record.targets[-1:] != [site]:
        record.targets.append(site)


def _interval_row(site, agent_id, state, reason, start, end) -> dict:
    # Reason codes are masked as they enter (cluster/servicers/convert.py); once more here for
    # a journal or snapshot written before that, and cut to the column.
    return {"site": site, "agent_id": agent_id, "state": state,
            "reason": _text(reason, _REASON_CHARS) if reason else "",
            "start_time": start, "end_time": end}


def _planned(record, state, action, time) -> None:
    """A dialled number's plan queued its contact (or an agent got it at once): its record
    takes the skill, priority and objective it was first queued with, and the time, from
    which its wait for an agent counts (SPEC §10; the core's own `first_arrival` is set
    then too)."""
    record.skill = action.skill
    record.queue_time = time
    skill = state.skills.get(action.skill)
    if skill is not None:
        record.sl_threshold_s = skill.sl_threshold_s
    contact = state.contacts.get(action.contact_id)
    if contact is not None:
        record.priority = contact.priority.name.lower()
        record.service_objective_s = contact.service_objective_s


def _name(value) -> str:
    return value if isinstance(value, str) else value.name.lower()


# ---- writing ---------------------------------------------------------------------------------
def _insert_ignoring_duplicates(connection: Connection, table, rows) -> None:
    if not rows:
        return
    dialect = connection.dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:   # pragma: no cover - only SQLite and PostgreSQL are supported
        statement = sa.insert(table)
    connection.execute(statement, rows)


def write_rows(connection: Connection, records, intervals) -> None:
    """Insert contact records, their customers' interactions and agent intervals; rows
    already there are left alone (a replay after recovery derives some of them again)."""
    _insert_ignoring_duplicates(connection, RECORDS, records)
    write_interactions(connection, records)
    _insert_ignoring_duplicates(connection, INTERVALS, intervals)

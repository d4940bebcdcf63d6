"""An interflowed contact keeps everything it had (issue 16 item 3): origin link, attached data
(ANI, DNIS, customer id), and where and when it first arrived in the center.

- the core: a contact moved to another site counts its wait (service level, speed of
  answer, longest wait) from its first arrival; its place in the new site's queue is taken
  when it arrives there (sites/state.py says why); bad entry fields are refused;
- a survey hands both on (`arrival_of`), also on a second move;
- snapshots and the journal keep them, and a journal or snapshot written before they
  existed still replays (the contact then entered where it is, when it arrived there);
- contact records: one record per contact from its first arrival, whether one Recorder
  sees both sites (in-process) or each site records alone and hands the record on with
  the contact (a Ray site actor), in either replay order.
"""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa

from actors.site_actor import SiteActor
from cluster.store import open_engine, upgrade
from cluster.store.codec import decode, encode
from cluster.store.journal import JOURNAL, Journal
from cluster.store.records import Recorder
from cluster.store.site_store import SiteStore
from cluster.store.snapshots import recover_site
from native import pyscheduler
from sites import events as ev
from sites.actions import ContactFinished, OfferContact
from sites.errors import InvalidInput
from sites.model import AgentConfig, Channel, ContactState, SiteConfig, SkillConfig
from sites.rounds import SiteRounds
from sites.state import SiteState

try:
    from native import _scheduler as _compiled
except ImportError:                          # pragma: no cover - only without the build
    _compiled = None

VOICE = Channel.VOICE
DATA = {"ani": "+15551234567", "dnis": "+18005550100", "customer_id": "C-42",
        "account": "A-1"}


@pytest.fixture(params=["native", "python"])
def factory(request):
    if request.param == "python":
        return pyscheduler.Scheduler
    if _compiled is None:
        pytest.skip("compiled scheduler not built")
    return _compiled.Scheduler


def site(name, factory=None, agents=("w1",)):
    return SiteState(SiteConfig(name, (SkillConfig("billing", sl_threshold_s=20),),
                                tuple(AgentConfig(agent, {"billing": 1}) for agent in agents)),
                     scheduler_factory=factory)


def handled(state, event):
    actions = state.handle(event)
    state.validate()
    return actions


def offer_in(actions) -> OfferContact:
    (offer,) = [action for action in actions if type(action) is OfferContact]
    return offer


# ---- the core ------------------------------------------------------------------------------
def test_service_level_and_waits_count_from_the_first_arrival(factory):
    west = site("west", factory)
    handled(west, ev.AgentLoggedIn(0.0, "w1"))
    handled(west, ev.ContactArrived(30.0, "c0", "billing"))
    # c1 waited at east from 10 and was interflowed here at 40.
    handled(west, ev.ContactArrived(40.0, "c1", "billing", data=DATA, origin="pbx-1",
                                    entry_site="east", first_arrival=10.0))
    c0, c1 = west.contacts["c0"], west.contacts["c1"]
    assert (c0.entry_site, c0.first_arrival, c0.arrival_time) == ("west", 30.0, 30.0)
    assert (c1.entry_site, c1.first_arrival, c1.arrival_time) == ("east", 10.0, 40.0)
    assert (c1.origin, c1.data) == ("pbx-1", DATA)
    handled(west, ev.Tick(42.0))
    assert west.statistics("billing").oldest_wait_s == 32.0     # c1, since 10
    # Its place in the queue here is behind c0, which arrived here first.
    assert offer_in(handled(west, ev.AgentReady(45.0, "w1"))).contact_id == "c0"
    handled(west, ev.OfferAccepted(46.0, "c0"))                 # waited 16: within 20
    assert west.statistics("billing").oldest_wait_s == 36.0
    offer = offer_in(handled(west, ev.ContactEnded(50.0, "c0")))
    assert offer.contact_id == "c1" and offer.data == DATA
    handled(west, ev.OfferAccepted(52.0, "c1"))                 # waited 42 since 10: not
    stats = west.statistics("billing")
    assert (stats.answered, stats.asa_s, stats.sl_pct, stats.oldest_wait_s) == (
        2, (16.0 + 42.0) / 2, 50.0, None)


def test_a_contact_interflowed_at_once_waits_as_if_it_had_not_moved(factory):
    """Moved in the instant it arrived (Best Service Routing on arrival): no wait before."""
    west = site("west", factory)
    handled(west, ev.AgentLoggedIn(0.0, "w1"))
    handled(west, ev.ContactArrived(10.0, "c1", "billing", entry_site="east",
                                    first_arrival=10.0))
    assert west._moved_in == {}
    handled(west, ev.AgentReady(25.0, "w1"))
    handled(west, ev.OfferAccepted(25.0, "c1"))
    assert west.statistics("billing").asa_s == 15.0


@pytest.mark.parametrize("fields, field", [
    ({"first_arrival": 40.5}, "first_arrival"),             # after its arrival here
    ({"first_arrival": float("nan")}, "first_arrival"),
    ({"first_arrival": "10"}, "first_arrival"),
    ({"first_arrival": True}, "first_arrival"),
    ({"entry_site": ""}, "entry_site"),
    ({"entry_site": 3}, "entry_site"),
])
def test_bad_entry_fields_are_refused_and_change_nothing(fields, field):
    west = site("west")
    handled(west, ev.AgentLoggedIn(0.0, "w1"))
    before = west.snapshot()
    with pytest.raises(InvalidInput) as refused:
        west.handle(ev.ContactArrived(40.0, "c1", "billing", **fields))
    assert refused.value.field == field
    assert west.snapshot() == before


def test_a_survey_hands_on_the_entry_site_and_first_arrival_also_on_a_second_move():
    east, west, north = (SiteRounds(site(name)) for name in ("east", "west", "north"))
    east.handle_batch([ev.ContactArrived(5.0, "c1", "billing", "high", 15.0, "voice", DATA,
                                         "pbx-1")])
    arrival = east.survey(9.0, keys=[("billing", "voice")], contact_ids=["c1"]).contacts["c1"]
    assert (arrival.time, arrival.entry_site, arrival.first_arrival) == (9.0, "east", 5.0)
    assert (arrival.origin, arrival.data, arrival.service_objective_s) == ("pbx-1", DATA, 15.0)
    assert arrival.record is None          # the core carries no contact record
    assert west.accept_interflows([arrival]).results[0] is not None
    east.handle_batch([ev.ContactInterflowed(9.0, "c1", "west")])
    again = west.survey(12.0, keys=[("billing", "voice")], contact_ids=["c1"])
    for moved in (again.contacts["c1"], again.best[("billing", VOICE)]):
        assert (moved.time, moved.entry_site, moved.first_arrival) == (12.0, "east", 5.0)
    north.accept_interflows([again.contacts["c1"]])
    west.handle_batch([ev.ContactInterflowed(12.0, "c1", "north")])
    contact = north.state.contacts["c1"]
    assert (contact.entry_site, contact.first_arrival, contact.arrival_time,
            contact.origin, contact.data) == ("east", 5.0, 12.0, "pbx-1", DATA)


def test_snapshots_keep_them_and_a_snapshot_from_before_restores(factory):
    west = site("west", factory)
    handled(west, ev.AgentLoggedIn(0.0, "w1"))
    handled(west, ev.ContactArrived(40.0, "c1", "billing", entry_site="east",
                                    first_arrival=10.0))
    handled(west, ev.ContactArrived(41.0, "c2", "billing"))
    snapshot = west.snapshot()
    restored = SiteState.restore(snapshot, scheduler_factory=factory)
    restored.validate()
    assert restored.snapshot() == snapshot
    assert [(c.entry_site, c.first_arrival) for c in restored.contacts.values()] == [
        ("east", 10.0), ("west", 41.0)]
    assert restored.statistics("billing") == west.statistics("billing")

    older = copy.deepcopy(snapshot)
    for record in older["contacts"]:
        del record["entry_site"], record["first_arrival"]
    restored = SiteState.restore(older, scheduler_factory=factory)
    restored.validate()
    assert [(c.entry_site, c.first_arrival) for c in restored.contacts.values()] == [
        ("west", 40.0), ("west", 41.0)]


# ---- the journal ---------------------------------------------------------------------------
def new_store(tmp_path, name="vcc.db"):
    url = f"sqlite:///{tmp_path}/{name}"
    engine = open_engine(url)
    upgrade(engine)
    return url, engine


def payloads(engine, site_name):
    with engine.connect() as connection:
        return [(row.event_type, row.payload) for row in connection.execute(
            sa.select(JOURNAL.c.event_type, JOURNAL.c.payload)
            .where(JOURNAL.c.site == site_name).order_by(JOURNAL.c.seq))]


def test_the_journal_keeps_what_an_interflowed_arrival_brings(tmp_path):
    _, engine = new_store(tmp_path)
    carried = {"arrivals": [["east", 10.0]], "targets": [], "offers": 1,
               "offer_time": 20.0, "queue_position": 1, "ewt_predicted_s": None,
               "queued": True, "sl_threshold_s": 20.0}
    entries = [ev.AgentLoggedIn(0.0, "w1"),
               ev.ContactArrived(40.0, "c1", "billing", data=DATA, origin="pbx-1",
                                 entry_site="east", first_arrival=10.0, record=carried),
               ev.ContactArrived(41.0, "c2", "billing")]
    live = site("west")
    for entry in entries:
        live.handle(entry)
    journal = Journal(engine)
    journal.append_now("west", entries)
    journal.close()
    rows = payloads(engine, "west")
    assert rows[1][1]["entry_site"] == "east" and rows[1][1]["first_arrival"] == 10.0
    assert rows[1][1]["record"] == carried and rows[1][1]["origin"] == "pbx-1"
    # An arrival that did not move writes no key for them (rather than nulls).
    assert not {"origin", "entry_site", "first_arrival", "record"} & set(rows[2][1])
    assert decode(*encode(entries[1])) == entries[1]
    recovered = recover_site(engine, "west", live.config).state
    assert recovered.snapshot() == live.snapshot()
    engine.dispose()


def test_a_journal_written_before_the_fields_existed_replays(tmp_path):
    """Rows as vcc wrote them before: no entry_site, first_arrival or record key."""
    _, engine = new_store(tmp_path)
    rows = [("AgentLoggedIn", {"agent_id": "w1"}, 0.0),
            ("ContactArrived", {"contact_id": "c1", "skill": "billing", "priority": "medium",
                                "service_objective_s": 20.0, "channel": "voice",
                                "data": {"ani": "+15551234567"}, "origin": "pbx-1"}, 40.0),
            ("AgentReady", {"agent_id": "w1"}, 45.0),
            ("OfferAccepted", {"contact_id": "c1"}, 46.0)]
    with engine.begin() as connection:
        connection.execute(sa.insert(JOURNAL), [
            {"site": "west", "seq": seq, "fencing_token": None, "event_type": kind,
             "payload": payload, "time": time}
            for seq, (kind, payload, time) in enumerate(rows, start=1)])
    recorder = Recorder()
    state = recover_site(engine, "west", site("west").config, recorder=recorder).state
    state.validate()
    contact = state.contacts["c1"]
    assert (contact.entry_site, contact.first_arrival, contact.origin) == ("west", 40.0,
                                                                           "pbx-1")
    assert state.statistics("billing").asa_s == 6.0
    assert recorder.open_contacts() == 1
    engine.dispose()


# ---- contact records -----------------------------------------------------------------------
def pulled_to_west(*, alone: bool, carry: bool = True, sources_first: bool = False):
    """c1 arrives at east at 10 (nobody there), w1 becomes ready at west at 40 and pulls it
    (survey of east, west accepts, east lets it go, as cluster/runtime/rounds.py does;
    `sources_first`: east lets it go first, the order of a recovery's replay), w1 answers
    at 45, hangs up at 100. Returns the Recorders fed right after each event: one for both
    sites, or (`alone`) one per site that sees its own site only."""
    east, west = SiteRounds(site("east", agents=("e1",))), SiteRounds(site("west"))
    shared = Recorder()
    recorders = ({"east": Recorder(alone=True), "west": Recorder(alone=True)} if alone
                 else {"east": shared, "west": shared})

    def apply(rounds, event):
        actions = rounds.state.handle(event)
        recorders[rounds.site].observe(rounds.state, event, actions)
        return actions

    apply(west, ev.AgentLoggedIn(0.0, "w1"))
    apply(east, ev.AgentLoggedIn(0.0, "e1"))
    apply(east, ev.ContactArrived(10.0, "c1", "billing", data=DATA, origin="pbx-1"))
    apply(west, ev.AgentReady(40.0, "w1"))
    arrival = east.survey(40.0, keys=[("billing", "voice")]).best[("billing", VOICE)]
    if alone and carry:
        arrival.record = recorders["east"].carry("c1")
    if sources_first:
        apply(east, ev.ContactInterflowed(40.0, "c1", "west"))
    assert offer_in(apply(west, arrival)).agent_id == "w1"
    if not sources_first:
        apply(east, ev.ContactInterflowed(40.0, "c1", "west"))
    apply(west, ev.OfferAccepted(45.0, "c1"))
    finished = apply(west, ev.ContactEnded(100.0, "c1"))
    assert ContactFinished("c1", ContactState.COMPLETED, "w1") in finished
    return recorders


EXPECTED = {"contact_id": "c1", "ani": "+*******4567", "dnis": "+18005550100",
            "customer_id": "C-42", "entry_site": "east", "served_site": "west",
            "final_site": "west", "arrival_time": 10.0, "offer_time": 40.0,
            "answer_time": 45.0, "end_time": 100.0, "wrap_up_end_time": 100.0,
            "final_state": "completed", "agent_id": "w1", "interflows": 1, "offers": 1,
            "queue_position": 1, "ewt_predicted_s": None, "sl_threshold_s": 20.0}


def row_of(recorder):
    (row,), _ = recorder.take()
    assert recorder.open_contacts() == 0
    return row


def check(row):
    assert {key: row[key] for key in EXPECTED} == EXPECTED
    # Service level from the first arrival: 35 s, beyond the 20 s threshold.
    assert row["answer_time"] - row["arrival_time"] == 35.0


@pytest.mark.parametrize("sources_first", [False, True], ids=["live", "replay-order"])
def test_one_recorder_for_both_sites_records_from_the_first_arrival(sources_first):
    """Live, the target accepts before the source lets go; a recovery replays an instant's
    entries of the site that interflowed first (cluster/store/snapshots.py)."""
    recorders = pulled_to_west(alone=False, sources_first=sources_first)
    check(row_of(recorders["west"]))


def test_sites_recording_alone_hand_the_record_on_with_the_contact():
    recorders = pulled_to_west(alone=True)
    east_rows, _ = recorders["east"].take()
    assert east_rows == [] and recorders["east"].open_contacts() == 0   # it left with c1
    check(row_of(recorders["west"]))


def test_an_arrival_without_a_record_still_starts_where_the_contact_entered():
    """A journal the in-process runtime wrote, replayed by a Ray site actor: the arrival
    brings no record, only where and when the contact entered."""
    recorders = pulled_to_west(alone=True, carry=False)
    row = row_of(recorders["west"])
    assert (row["entry_site"], row["arrival_time"], row["served_site"], row["interflows"],
            row["answer_time"]) == ("east", 10.0, "west", 1, 45.0)


def test_a_site_actor_with_a_store_carries_the_record_and_journals_it(tmp_path):
    """SiteActor.survey puts each movable contact's record on its arrival; the site it
    moves to journals the arrival with it, so after the target's actor restarts (its site
    recovered from the store) the contact's one record goes on there."""
    url, engine = new_store(tmp_path)
    store = SiteStore(url)
    east = SiteActor(site("east", agents=("e1",)).config, store)
    west = SiteActor(site("west").config, store)
    west.handle_round([ev.AgentLoggedIn(0.0, "w1")])
    east.handle_round([ev.AgentLoggedIn(0.0, "e1"),
                       ev.ContactArrived(10.0, "c1", "billing", data=DATA, origin="pbx-1")])
    west.handle_round([ev.AgentReady(40.0, "w1")])
    survey = east.survey(40.0, keys=[("billing", "voice")], contact_ids=["c1"])
    arrival = survey.contacts["c1"]
    assert arrival.record["arrivals"] == [["east", 10.0]]
    assert arrival.record["queue_position"] == 1
    assert survey.best[("billing", VOICE)].record == arrival.record
    assert west.accept_interflows([arrival]).results[0]
    east.handle_round([ev.ContactInterflowed(40.0, "c1", "west")])
    assert east._opened.recorder.open_contacts() == 0
    west.close()
    west = SiteActor(site("west").config, store)        # a restart: recovered from the store
    assert west.state.contacts["c1"].entry_site == "east"
    west.handle_round([ev.OfferAccepted(45.0, "c1"), ev.ContactEnded(100.0, "c1")])
    west.close()
    east.close()
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(
            sa.text("SELECT * FROM contact_records"))]
    assert len(rows) == 1
    check(rows[0])
    assert payloads(engine, "west")[2][1]["record"]["arrivals"] == [["east", 10.0]]
    engine.dispose()

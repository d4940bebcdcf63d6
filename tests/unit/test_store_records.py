"""Contact records and agent state intervals: what the Recorder writes agrees with what the
simulator itself saw, card numbers are masked, and the records can be derived again from the
journal alone (after a crash: from the last snapshot and the journal after it)."""

import pytest
import sqlalchemy as sa

from cluster.store import open_engine, upgrade
from cluster.store.journal import Journal
from cluster.store.models import AgentStateInterval, ContactRecord
from cluster.store.persistence import Persistence
from cluster.store.records import OpenRecord, Recorder, write_rows
from cluster.store.snapshots import recover_sites
from loadtests.scenario import parse_scenario
from loadtests.recorded import recorded_simulation
from sites import events as ev
from sites.model import AgentConfig, ContactState, SiteConfig, SkillConfig
from sites.state import SiteState

SCENARIO = """\
duration_s: 7200
seed: 11
skills:
  billing: {sl_threshold_s: 20, wrap_up_s: 10}
  sales: {sl_threshold_s: 30, agent_selection: round_robin}
sites:
  east:
    agents:
      - {count: 6, skills: {billing: 1, sales: 2}, wrap_up_s: 5}
  west:
    agents:
      - {count: 5, skills: {billing: 1}}
      - {count: 2, skills: {sales: 1}}
routing: {multisite: bsr, adjust_by: 10}
traffic:
  - {site: east, skill: billing, rate_per_hour: 160, priority: high, service_objective_s: 10,
     handle_time: {dist: exponential, mean_s: 120}, patience: {dist: exponential, mean_s: 60}}
  - {site: east, skill: sales, rate_per_hour: 60, priority: medium,
     handle_time: {dist: exponential, mean_s: 150}, patience: {dist: exponential, mean_s: 90}}
  - {site: west, skill: billing, rate_per_hour: 60, priority: low,
     handle_time: {dist: exponential, mean_s: 120}}
"""


def all_rows(engine, model, order):
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(
            sa.select(model.__table__).order_by(*order))]


def strip_ids(rows):
    return [{key: value for key, value in row.items() if key != "id"} for row in rows]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Two simulated hours of two BSR sites, journaled and recorded (snapshots every
    300 entries), plus the database it went to."""
    path = tmp_path_factory.mktemp("records") / "vcc.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    journal = Journal(engine, snapshot_every=300)
    persistence = Persistence(journal, Recorder())
    result = recorded_simulation(parse_scenario(SCENARIO), persistence, flush_every=50)
    journal.close()
    yield engine, result, persistence
    engine.dispose()


def test_records_agree_with_the_simulator(simulated):
    engine, result, persistence = simulated
    rows = {row["contact_id"]: row for row in all_rows(engine, ContactRecord,
                                                         [ContactRecord.contact_id])}
    assert persistence.recorder.open_contacts() == 0
    assert len(rows) == len(result.records) > 200
    states = set()
    for record in result.records:
        row = rows[record.contact_id]
        states.add(row["final_state"])
        assert row["final_state"] == record.final_state.value
        assert row["entry_site"] == record.entry_site
        assert row["arrival_time"] == record.arrival_time
        assert row["answer_time"] == record.answer_time
        assert row["agent_id"] == record.agent_id
        assert row["served_site"] == record.served_site
        assert row["interflows"] == record.interflows
        assert row["skill"] == record.stream.skill
        assert row["priority"] == record.stream.priority.name.lower()
        if record.final_state is ContactState.COMPLETED:
            assert row["wrap_up_end_time"] == record.end_time
            assert row["end_time"] == record.answer_time + record.talk_s
            assert row["offer_time"] <= row["answer_time"]
        else:
            assert row["abandon_time"] == record.end_time and row["answer_time"] is None
    assert states == {"completed", "abandoned"}
    assert any(row["interflows"] for row in rows.values())
    assert any(row["ewt_predicted_s"] is not None for row in rows.values())


def test_intervals_give_the_core_s_occupancy(simulated):
    engine, result, _ = simulated
    intervals = all_rows(engine, AgentStateInterval, [AgentStateInterval.id])
    totals = {}
    for row in intervals:
        assert row["end_time"] > row["start_time"]
        total = totals.setdefault((row["site"], row["agent_id"]), {})
        total[row["state"]] = total.get(row["state"], 0.0) + row["end_time"] - row["start_time"]
    for name, state in result.sites.items():
        for agent_id in state.agents:
            spent = totals[(name, agent_id)]
            working = spent.get("busy", 0.0) + spent.get("wrap_up", 0.0)
            assert working / sum(spent.values()) == pytest.approx(
                state.agent_occupancy(agent_id), abs=1e-9)


def test_records_are_derived_again_from_the_journal(simulated, tmp_path):
    """A fresh Recorder replaying the journal from the start writes the same rows."""
    engine, result, _ = simulated
    expected_records = all_rows(engine, ContactRecord, [ContactRecord.contact_id])
    expected_intervals = strip_ids(all_rows(
        engine, AgentStateInterval, [AgentStateInterval.site, AgentStateInterval.agent_id,
                                     AgentStateInterval.start_time]))
    copy = open_engine(f"sqlite:///{tmp_path}/copy.db")
    upgrade(copy)
    with engine.connect() as source, copy.begin() as target:
        journal = [dict(row._mapping) for row in source.execute(sa.text("SELECT * FROM journal"))]
        target.execute(sa.text("INSERT INTO journal VALUES (:site, :seq, :fencing_token, "
                               ":event_type, :payload, :time)"), journal)
    recorder = Recorder()
    initial = {name: SiteConfig(name, state.config.skills, state.config.agents)
               for name, state in result.sites.items()}
    recovered = recover_sites(copy, initial, recorder=recorder)
    for name, item in recovered.items():
        recorder.close_intervals(name, item.state.now)
    records, intervals = recorder.take()
    assert sorted(records, key=lambda row: row["contact_id"]) == expected_records
    assert sorted(intervals, key=lambda row: (row["site"], row["agent_id"], row["start_time"])) \
        == expected_intervals
    copy.dispose()


def copy_database(engine, path):
    copy = open_engine(f"sqlite:///{path}")
    source, target = engine.raw_connection(), copy.raw_connection()
    try:
        source.driver_connection.backup(target.driver_connection)
    finally:
        source.close()
        target.close()
    return copy


def test_after_a_crash_the_last_snapshot_and_the_journal_finish_the_records(simulated, tmp_path):
    """Recover from snapshots (open records included) and replay the journal after them:
    every contact that ended after the last snapshot gets exactly its row.

    The newest snapshots are dropped first (a crash just before they were written), so the
    sites restart from snapshots taken at different times. A contact that ended before the
    later one may be derived again from the other site's tail with part of its life
    missing; its row was committed before that snapshot, and the writers keep the row that
    is there (`write_rows` ignores duplicates)."""
    engine, _, _ = simulated
    expected = {row["contact_id"]: row for row in all_rows(engine, ContactRecord,
                                                             [ContactRecord.contact_id])}
    crashed = copy_database(engine, tmp_path / "crashed.db")
    with crashed.begin() as connection:
        for site in ("east", "west"):
            connection.execute(sa.text(
                "DELETE FROM snapshots WHERE site = :site AND seq = "
                "(SELECT max(seq) FROM snapshots WHERE site = :site)"), {"site": site})
        last_snapshot = connection.execute(sa.text("SELECT max(time) FROM snapshots")).scalar()
    recorder = Recorder()
    recovered = recover_sites(crashed, {"east": None, "west": None}, recorder=recorder)
    assert all(item.snapshot_seq and item.replayed for item in recovered.values()), {
        name: (item.snapshot_seq, item.replayed) for name, item in recovered.items()}
    records, _ = recorder.take()
    assert recorder.unknown_contacts == 0 and recorder.open_contacts() == 0
    derived = {row["contact_id"]: row for row in records}
    later = {cid: row for cid, row in expected.items()
             if (row["wrap_up_end_time"] or row["abandon_time"]) > last_snapshot}
    assert later and all(derived[cid] == row for cid, row in later.items())
    assert set(derived) <= set(expected)
    with crashed.begin() as connection:
        write_rows(connection, records, [])
    assert all_rows(crashed, ContactRecord, [ContactRecord.contact_id]) == list(
        expected.values())
    crashed.dispose()


def test_card_numbers_and_identities_in_records():
    site = SiteState(SiteConfig("east", skills=(SkillConfig("billing", wrap_up_s=5),),
                                agents=(AgentConfig("a1", {"billing": 1}),)))
    recorder = Recorder()
    events = [ev.AgentLoggedIn(0.0, "a1"),
              ev.ContactArrived(1.0, "c1", "billing", "top", None, "voice",
                                {"ani": "4111111111111111", "dnis": "+18005550100",
                                 "customer_id": "card 5500-0000-0000-0004"}),
              ev.AgentReady(2.0, "a1"), ev.OfferAccepted(3.0, "c1"), ev.ContactEnded(9.0, "c1"),
              ev.WrapUpDone(12.0, "a1"), ev.AgentLoggedOut(20.0, "a1")]
    for event in events:
        recorder.observe(site, event, site.handle(event))
    (row,), intervals = recorder.take()
    assert row["ani"] == "************1111"          # a phone number field: last 4 digits
    assert row["dnis"] == "+18005550100"
    assert row["customer_id"] == "card 5500-00**-****-0004"
    assert (row["arrival_time"], row["offer_time"], row["answer_time"], row["end_time"],
            row["wrap_up_end_time"]) == (1.0, 2.0, 3.0, 9.0, 12.0)
    assert (row["queue_position"], row["ewt_predicted_s"], row["sl_threshold_s"],
            row["service_objective_s"], row["priority"]) == (1, None, 20.0, 20.0, "top")
    assert [(i["state"], i["reason"], i["start_time"], i["end_time"]) for i in intervals] == [
        ("not_ready", "logged_in", 0.0, 2.0), ("reserved", "", 2.0, 3.0), ("busy", "", 3.0, 9.0),
        ("wrap_up", "", 9.0, 12.0), ("ready", "", 12.0, 20.0)]


def test_ani_keeps_only_its_last_4_digits_and_reasons_are_masked_and_cut():
    """Issue 15 item 6: ANI was in clear in contact records (the proto says it is masked),
    and a card number in a not-ready reason too; a reason longer than the column (64)
    made PostgreSQL refuse the write, which stops the router (older journals hold such)."""
    site = SiteState(SiteConfig("east", skills=(SkillConfig("billing"),),
                                agents=(AgentConfig("a1", {"billing": 1}),)))
    recorder = Recorder()
    events = [ev.AgentLoggedIn(0.0, "a1"),
              ev.AgentNotReady(1.0, "a1", "card 4111.1111.1111.1111"),
              ev.AgentNotReady(2.0, "a1", "r" * 100),
              ev.ContactArrived(3.0, "c1", "billing", "top", None, "voice",
                                {"ani": "+1 555 123 4567"}),
              ev.ContactArrived(3.0, "c2", "billing", "top", None, "voice",
                                {"ani": "sip:5551234567@pbx.example"}),
              ev.ContactAbandoned(4.0, "c1"), ev.ContactAbandoned(4.0, "c2"),
              ev.AgentLoggedOut(5.0, "a1")]
    for event in events:
        recorder.observe(site, event, site.handle(event))
    records, intervals = recorder.take()
    assert sorted((row["contact_id"], row["ani"]) for row in records) == [
        ("c1", "+* *** *** 4567"), ("c2", "sip:******4567@pbx.example")]
    reasons = [interval["reason"] for interval in intervals if interval["state"] == "not_ready"]
    assert reasons == ["logged_in", "card 4111.11**.****.1111", "r" * 64]


def test_entry_site_does_not_depend_on_replay_order():
    """An arrival at east interflowed at once to west: whichever arrival is seen first,
    east is where the contact entered."""
    for arrivals in ([["east", 5.0], ["west", 5.0]], [["west", 5.0], ["east", 5.0]]):
        record = OpenRecord("c1")
        record.arrivals = arrivals
        record.targets = ["west"]
        assert tuple(record.entry()) == ("east", 5.0)


PLAN_CENTER = """\
entry_points:
  "100": {service: care}
services:
  care:
    max_lines: 1
    schedule: [{otherwise: main}]
plans:
  main:
    - announce: {prompt: welcome, seconds: 10}
    - queue: {skill: billing, priority: high, service_objective_s: 15}
    - callback: {}
    - wait: {seconds: 600}
"""


def test_records_of_a_routing_plan_s_callers():
    """A dialled number's contact: its record takes skill, priority and objective when the
    plan first queues it, and that time (its wait counts from it), the callback it took and
    its number's service; one its plan never queued keeps skill "" and no queue time."""
    import yaml

    from sites.calendars import WallClock
    from sites.plans import parse_plan_config

    site = SiteState(SiteConfig("east", skills=(SkillConfig("billing", sl_threshold_s=30),),
                                agents=(AgentConfig("a1", {"billing": 1}),)))
    site.plans.use(parse_plan_config(yaml.safe_load(PLAN_CENTER), {"billing"}), WallClock(0.0))
    recorder = Recorder()
    events = [ev.AgentLoggedIn(0.0, "a1"),
              ev.ContactArrived(1.0, "cb", None, data={"ani": "+15551234567"}, dnis="100"),
              ev.Tick(11.0),                                # queued in billing; offered a callback
              ev.CallbackChosen(12.0, "cb", True),          # hangs up: its port is free
              ev.ContactArrived(13.0, "ivr", None, dnis="100"),
              ev.ContactArrived(14.0, "busy", None, dnis="100"),     # beyond max_lines
              ev.ContactAbandoned(15.0, "ivr"),             # in the IVR, never queued
              ev.AgentReady(20.0, "a1"), ev.OfferAccepted(21.0, "cb"),
              ev.ContactEnded(50.0, "cb")]       # no wrap-up: completed
    for event in events:
        recorder.observe(site, event, site.handle(event))
        site.validate()
    rows = {row["contact_id"]: row for row in recorder.take()[0]}
    assert recorder.open_contacts() == 0
    cb = rows["cb"]
    assert (cb["skill"], cb["priority"], cb["service_objective_s"], cb["sl_threshold_s"]) == (
        "billing", "high", 15.0, 30.0)
    assert (cb["arrival_time"], cb["queue_time"], cb["answer_time"]) == (1.0, 11.0, 21.0)
    assert (cb["callback"], cb["service"], cb["dnis"], cb["final_state"]) == (
        True, "care", "100", "completed")
    assert cb["ani"] == "+*******4567"           # personal data: the last 4 digits only
    for contact_id, final_state in (("ivr", "abandoned"), ("busy", "busy")):
        row = rows[contact_id]
        assert (row["skill"], row["priority"], row["queue_time"], row["callback"]) == (
            "", "", None, False), contact_id
        assert (row["service"], row["dnis"], row["final_state"]) == ("care", "100", final_state)


def test_an_open_record_from_an_older_snapshot_loads():
    """Snapshots written before routing plans' fields hold open records without them."""
    record = OpenRecord("c1")
    record.arrivals = [["east", 1.0]]
    old = {name: value for name, value in record.dump().items()
           if name not in ("queue_time", "callback", "service")}
    loaded = OpenRecord.load(old)
    assert (loaded.queue_time, loaded.callback, loaded.service) == (None, False, None)
    assert loaded.row(ContactState.ABANDONED, "east", 5.0)["arrival_time"] == 1.0

"""Interactions from finished contact records, and agents' dispositions taken up whichever
comes first (cluster/store/interactions.py, cluster/customers/dispositions.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cluster.customers import history
from cluster.customers.dispositions import Disposition, OfferResult, record_disposition
from cluster.store import open_engine, upgrade
from cluster.store.models import Customer, Interaction, MarketingOutcome
from cluster.store.records import write_rows
from sites.errors import NotFound


def add_customers(engine) -> None:
    with engine.begin() as connection:
        connection.execute(Customer.__table__.insert(), [
            {"customer_id": "c1", "name": "Ada", "attributes": {}},
            {"customer_id": "c2", "name": "Bob", "attributes": {}}])


@pytest.fixture
def engine(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    add_customers(engine)
    yield engine
    engine.dispose()


def record(contact_id, customer_id, **fields):
    row = {"contact_id": contact_id, "ani": None, "dnis": None, "customer_id": customer_id,
           "entry_site": "s", "served_site": "s", "final_site": "s", "skill": "care",
           "priority": "medium", "service_objective_s": 20.0, "sl_threshold_s": 20.0,
           "channel": "voice", "arrival_time": 100.0, "offer_time": 101.0,
           "answer_time": 102.0, "end_time": 150.0, "wrap_up_end_time": 160.0,
           "abandon_time": None, "final_state": "completed", "agent_id": "a1",
           "interflows": 0, "offers": 1, "queue_position": None, "ewt_predicted_s": None,
           "queue_time": None, "callback": False, "service": None, "tier": "gold"}
    row.update(fields)
    return row


def interactions(engine) -> dict:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(Interaction.__table__)).all()
    return {row.contact_id: row for row in rows}


def test_a_finished_contact_of_a_known_customer_becomes_one_interaction(engine):
    check_interactions_from_records(engine)


def check_interactions_from_records(engine):
    rows = [record("k1", "c1"), record("k2", "nobody"), record("k3", None),
            record("k4", "c2", skill="", agent_id=None, final_state="abandoned",
                   arrival_time=90.0)]
    for _ in range(2):                          # written again (a replay): nothing added
        with engine.begin() as connection:
            write_rows(connection, rows, [])
    found = interactions(engine)
    assert sorted(found) == ["k1", "k4"]
    assert (found["k1"].customer_id, found["k1"].time, found["k1"].channel, found["k1"].skill,
            found["k1"].agent_id, found["k1"].final_state, found["k1"].disposition,
            found["k1"].notes) == ("c1", 100.0, "voice", "care", "a1", "completed", None, "")
    assert (found["k4"].skill, found["k4"].agent_id, found["k4"].final_state) == (
        None, None, "abandoned")


def test_a_disposition_is_taken_up_whether_it_comes_before_or_after_the_record(engine):
    check_dispositions(engine)


def check_dispositions(engine):
    history.put_offer(engine, "fibre-1", product="fibre", value_cents=5000,
                      commission_cents=500, priority=2)
    before = Disposition("k1", "a1", "sold", "wants fibre",
                         (OfferResult("fibre-1", "accepted", "ORD-9"),))
    assert record_disposition(engine, before, 155.0) == 1       # during the call's wrap-up
    assert record_disposition(engine, before, 156.0) == 0       # sent again: counted once
    with engine.begin() as connection:
        write_rows(connection, [record("k1", "c1"), record("k2", "c2")], [])
    after = Disposition("k2", "a1", "complaint", "line noisy")
    assert record_disposition(engine, after, 170.0) == 0
    found = interactions(engine)
    assert (found["k1"].disposition, found["k1"].notes) == ("sold", "wants fibre")
    assert (found["k2"].disposition, found["k2"].notes) == ("complaint", "line noisy")
    with engine.connect() as connection:
        outcomes = connection.execute(sa.select(MarketingOutcome.__table__)).all()
    assert [(row.contact_id, row.offer_id, row.result, row.order_reference, row.agent_id)
            for row in outcomes] == [("k1", "fibre-1", "accepted", "ORD-9", "a1")]
    assert [row.contact_id for row in history.search_interactions(
        engine, history.InteractionQuery(disposition="sold"))] == ["k1"]


def test_an_unknown_offer_refuses_the_whole_disposition(engine):
    given = Disposition("k1", "a1", "sold", "", (OfferResult("nope", "declined"),))
    with pytest.raises(NotFound, match=r"offer_results\[0\]\.offer_id"):
        record_disposition(engine, given, 1.0)
    with engine.begin() as connection:
        write_rows(connection, [record("k1", "c1")], [])
    assert interactions(engine)["k1"].disposition is None       # nothing was kept

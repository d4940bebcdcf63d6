"""Interactions, notes, offers and outcomes (cluster/customers/history.py): written once per
contact, searched by customer, agent, period and disposition; offers by priority and
validity; outcomes checked. `check_history` runs on PostgreSQL too."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cluster.customers import history
from cluster.customers.history import InteractionQuery
from cluster.store.models import Customer, CustomerNote, MarketingOutcome


def check_history(engine) -> None:
    with engine.begin() as connection:
        connection.execute(Customer.__table__.insert(), [
            {"customer_id": "c1", "name": "Ada", "attributes": {}},
            {"customer_id": "c2", "name": "Bob", "attributes": {}}])
    for index, (customer, agent, disposition) in enumerate([
            ("c1", "a1", "resolved"), ("c1", "a2", "callback"), ("c2", "a1", "resolved"),
            ("c1", "a1", "sale"), ("c1", "a1", "resolved"), ("c1", "a2", "resolved"),
            ("c1", "a1", "resolved")]):
        assert history.add_interaction(engine, customer_id=customer, time=100.0 * index,
                                       channel="voice", skill="billing", agent_id=agent,
                                       disposition=disposition, notes=f"n{index}",
                                       contact_id=f"k{index}")
    # The same contact again (a replay): not added twice.
    assert not history.add_interaction(engine, customer_id="c1", time=0.0, channel="voice",
                                       contact_id="k0")
    last = history.last_interactions(engine, "c1")
    assert [row.contact_id for row in last] == ["k6", "k5", "k4", "k3", "k1"]
    search = history.search_interactions
    assert [row.contact_id for row in search(engine, InteractionQuery(agent_id="a1"))] == [
        "k6", "k4", "k3", "k2", "k0"]
    assert [row.contact_id for row in search(engine, InteractionQuery(
        disposition="resolved", start=200.0, end=600.0))] == ["k5", "k4", "k2"]
    assert [row.contact_id for row in search(engine, InteractionQuery(
        customer_id="c1", agent_id="a2", limit=1))] == ["k5"]
    history.add_note(engine, "c1", 50.0, "prefers e-mail", author="a1")
    with engine.connect() as connection:
        assert connection.execute(sa.select(CustomerNote.text)).scalars().all() == [
            "prefers e-mail"]

    history.put_offer(engine, "fibre-1", product="fibre", pitch="Faster", priority=1,
                      selling_points=["fast", "cheap"], value_cents=12_000,
                      commission_cents=1_500, valid_from=0.0, valid_to=1000.0)
    history.put_offer(engine, "fibre-2", product="fibre", priority=5)
    history.put_offer(engine, "tv-1", product="tv", priority=9, valid_from=500.0)
    history.put_offer(engine, "fibre-1", product="fibre", pitch="Fastest", priority=1,
                      selling_points=["fast"], value_cents=12_000, commission_cents=1_500,
                      valid_from=0.0, valid_to=1000.0)            # replaced, not added
    offers = history.offers_for(engine, {"fibre", "tv"}, at=100.0)
    assert [offer.offer_id for offer in offers] == ["fibre-2", "fibre-1"]  # tv-1 not yet
    assert offers[1].pitch == "Fastest" and offers[1].selling_points == ["fast"]
    assert history.set_offer_priority(engine, "fibre-1", 10)
    assert not history.set_offer_priority(engine, "nope", 10)
    assert [offer.offer_id for offer in history.offers_for(engine, {"fibre", "tv"}, 600.0)
            ] == ["fibre-1", "tv-1", "fibre-2"]
    assert [offer.offer_id for offer in history.offers_for(engine, {"fibre"}, 1000.0)] == [
        "fibre-2"]                                              # fibre-1 ended
    assert history.offers_for(engine, set(), 0.0) == []

    assert history.record_outcome(engine, offer_id="fibre-1", result="accepted", time=5.0,
                                  agent_id="a1", customer_id="c1", contact_id="k3",
                                  order_reference="ORD-1")
    assert not history.record_outcome(engine, offer_id="fibre-1", result="accepted",
                                      time=5.5, contact_id="k3",
                                      order_reference="ORD-1")          # sent twice: once
    assert history.record_outcome(engine, offer_id="fibre-1", result="declined",
                                  time=6.0, contact_id="k3")            # corrected: latest
    with engine.connect() as connection:
        rows = connection.execute(sa.select(MarketingOutcome.__table__)).all()
    assert [(row.offer_id, row.result, row.order_reference, row.agent_id) for row in rows
            ] == [("fibre-1", "declined", None, "a1")]                 # one row, agent kept
    assert history.mark_eligible(engine, contact_id="k3", offer_ids=["fibre-1", "tv-1"],
                                 time=6.0, customer_id="c1", agent_id="a1") == 1
    assert history.record_outcome(engine, offer_id="fibre-2", result="not_presented",
                                  time=6.0, contact_id="k3")
    with pytest.raises(ValueError, match="order reference"):
        history.record_outcome(engine, offer_id="fibre-1", result="accepted", time=7.0)
    with pytest.raises(ValueError, match="result must be one of"):
        history.record_outcome(engine, offer_id="fibre-1", result="maybe", time=7.0)
    # The database keeps the rules too, whoever writes.
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as connection:
            connection.execute(MarketingOutcome.__table__.insert().values(
                offer_id="fibre-1", result="accepted", time=8.0))


def test_history(engine):
    check_history(engine)

"""Customers' history and marketing records in the store: interactions (one per finished
contact), notes, offers and their outcomes; written and searched.

Synchronous, like the rest of the store's code: the gateway calls these on a thread. Writes
keyed by a contact (an interaction, an offer's outcome) are idempotent, so that a completion
sent twice, or replayed after a takeover, is counted once.
"""

from __future__ import annotations

import contextlib
import dataclasses

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from cluster.store.models import (OUTCOMES, Customer, CustomerNote, Interaction,
                                  MarketingOffer, MarketingOutcome, MarketingTarget)
from sites.errors import NotFound

_interactions = Interaction.__table__
_notes = CustomerNote.__table__
_offers = MarketingOffer.__table__
_outcomes = MarketingOutcome.__table__
_targets = MarketingTarget.__table__
_customers = Customer.__table__
MAX_SEARCH = 10_000


def _insert_once(connection: Connection, table: sa.Table, values: dict) -> bool:
    """INSERT that does nothing when a unique key is taken; whether a row was added."""
    insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)
    # RETURNING, not rowcount: drivers disagree on the rowcount of a skipped INSERT.
    return connection.execute(insert(table).values(**values).on_conflict_do_nothing()
                              .returning(table.c.id)).first() is not None


def add_interaction(engine: Engine, *, customer_id: str, time: float, channel: str,
                    skill: str | None = None, agent_id: str | None = None,
                    disposition: str | None = None, notes: str = "",
                    contact_id: str | None = None) -> bool:
    """Add a finished contact to the customer's history; False if this contact is there."""
    with engine.begin() as connection:
        return _insert_once(connection, _interactions, {
            "customer_id": customer_id, "time": time, "channel": channel, "skill": skill,
            "agent_id": agent_id, "disposition": disposition, "notes": notes,
            "contact_id": contact_id})


@dataclasses.dataclass(frozen=True)
class InteractionQuery:
    """Interactions matching every given field, newest first; `start` inclusive, `end`
    exclusive (seconds)."""
    customer_id: str | None = None
    agent_id: str | None = None
    disposition: str | None = None
    start: float | None = None
    end: float | None = None
    limit: int = 100


def _interactions_select(query: InteractionQuery) -> sa.Select:
    table = _interactions
    select = sa.select(table).order_by(table.c.time.desc(), table.c.id.desc())
    for column, value in (("customer_id", query.customer_id), ("agent_id", query.agent_id),
                          ("disposition", query.disposition)):
        if value is not None:
            select = select.where(table.c[column] == value)
    if query.start is not None:
        select = select.where(table.c.time >= query.start)
    if query.end is not None:
        select = select.where(table.c.time < query.end)
    return select.limit(max(0, min(query.limit, MAX_SEARCH)))


def search_interactions(engine: Engine, query: InteractionQuery) -> list:
    """Rows of `interactions`, newest first (each condition has its index: see the model)."""
    with engine.connect() as connection:
        return list(connection.execute(_interactions_select(query)))


def last_interactions(engine: Engine, customer_id: str, count: int = 5) -> list:
    """The customer's `count` newest interactions (the screen pop's history)."""
    return search_interactions(engine, InteractionQuery(customer_id=customer_id, limit=count))


def add_note(engine: Engine | Connection, customer_id: str, time: float, text: str,
             author: str | None = None) -> None:
    """`engine`: or a connection, to add it in its transaction."""
    with _transaction(engine) as connection:
        connection.execute(_notes.insert().values(customer_id=customer_id, time=time,
                                                  text=text, author=author))


def put_offer(engine: Engine, offer_id: str, *, product: str, pitch: str = "",
              selling_points: list[str] | tuple[str, ...] = (), script_ref: str | None = None,
              valid_from: float | None = None, valid_to: float | None = None,
              value_cents: int = 0, commission_cents: int = 0, priority: int = 0) -> None:
    """Create or replace an offer."""
    values = {"product": product, "pitch": pitch, "selling_points": list(selling_points),
              "script_ref": script_ref, "valid_from": valid_from, "valid_to": valid_to,
              "value_cents": value_cents, "commission_cents": commission_cents,
              "priority": priority}
    with engine.begin() as connection:
        insert = (postgresql.insert if connection.dialect.name == "postgresql"
                  else sqlite.insert)(_offers).values(offer_id=offer_id, **values)
        connection.execute(insert.on_conflict_do_update(index_elements=["offer_id"],
                                                        set_=values))


def set_offer_priority(engine: Engine, offer_id: str, priority: int) -> bool:
    """Change an offer's priority; False if there is no such offer."""
    with engine.begin() as connection:
        return connection.execute(_offers.update().where(_offers.c.offer_id == offer_id)
                                  .values(priority=priority)).rowcount == 1


def _offers_select(products, at: float, limit: int) -> sa.Select:
    """Offers of `products` (names, or a subquery of them) valid at `at`, highest priority
    first."""
    table = _offers
    return (sa.select(table).where(table.c.product.in_(products),
                                   sa.or_(table.c.valid_from.is_(None), table.c.valid_from <= at),
                                   sa.or_(table.c.valid_to.is_(None), table.c.valid_to > at))
            .order_by(table.c.priority.desc(), table.c.offer_id).limit(limit))


def offers_for(engine: Engine, products: set[str], at: float, limit: int = 3) -> list:
    """The offers of these products valid at `at`, highest priority first (the screen pop
    shows at most 3)."""
    if not products:
        return []
    with engine.connect() as connection:
        return list(connection.execute(_offers_select(sorted(products), at, limit)))


def screen_pop_rows(engine: Engine, customer_id: str, at: float, *, history: int = 5,
                    offers: int = 3) -> tuple[list, list]:
    """(the customer's `history` newest interactions, the `offers` offers that apply to
    them at `at`: those of the products the customer is listed for), on one connection."""
    listed = sa.select(_targets.c.product).where(_targets.c.customer_id == customer_id)
    with engine.connect() as connection:
        return (list(connection.execute(_interactions_select(
                    InteractionQuery(customer_id=customer_id, limit=history)))),
                list(connection.execute(_offers_select(listed, at, offers))))


def _dialect_insert(connection: Connection, table: sa.Table):
    return (postgresql.insert if connection.dialect.name == "postgresql"
            else sqlite.insert)(table)


def mark_eligible(engine: Engine, *, contact_id: str, offer_ids, time: float,
                  customer_id: str | None = None, agent_id: str | None = None) -> int:
    """The offers that popped on a contact's screen: each is eligible, `not_presented` until
    the agent records what became of it (`record_outcome`). A row there already keeps its
    result (the agent may have been quicker than this write) and gets the customer and
    agent it lacks; an offer popped again counts once. How many rows were added or
    completed."""
    rows = [{"offer_id": offer_id, "result": "not_presented", "time": time,
             "agent_id": agent_id, "customer_id": customer_id, "contact_id": contact_id}
            for offer_id in dict.fromkeys(offer_ids)]
    if not rows:
        return 0
    with engine.begin() as connection:
        insert = _dialect_insert(connection, _outcomes).values(rows)
        lacking = sa.or_(*(sa.and_(_outcomes.c[name].is_(None),
                                   insert.excluded[name].is_not(None))
                           for name in ("customer_id", "agent_id")))
        statement = insert.on_conflict_do_update(
            index_elements=["contact_id", "offer_id"],
            set_={name: sa.func.coalesce(_outcomes.c[name], insert.excluded[name])
                  for name in ("customer_id", "agent_id")},
            where=lacking).returning(_outcomes.c.id)
        return len(connection.execute(statement).all())


def _transaction(target: Engine | Connection):
    """A transaction on an engine, or the one a connection is in already."""
    return contextlib.nullcontext(target) if isinstance(target, Connection) else target.begin()


def unknown_offers(connection: Connection, offer_ids) -> list[str]:
    """Those of `offer_ids` that are no offer, in their order."""
    wanted = list(dict.fromkeys(offer_ids))
    if not wanted:
        return []
    known = set(connection.execute(sa.select(_offers.c.offer_id)
                                   .where(_offers.c.offer_id.in_(wanted))).scalars())
    return [offer_id for offer_id in wanted if offer_id not in known]


def record_outcome(engine: Engine | Connection, *, offer_id: str, result: str, time: float,
                   agent_id: str | None = None, customer_id: str | None = None,
                   contact_id: str | None = None, order_reference: str | None = None) -> bool:
    """Record what became of an offer on a contact: one row per offer and contact, the
    latest report wins (an agent corrects a result; a completion sent twice counts once).
    Whether the row was added or changed. ValueError for an unknown result or an accepted
    offer without an order. `engine`: or a connection, to record it in its transaction."""
    if result not in OUTCOMES:
        raise ValueError(f"result must be one of {', '.join(OUTCOMES)}; got {result!r}")
    if result == "accepted" and not order_reference:
        raise ValueError("an accepted offer needs its order reference")
    values = {"offer_id": offer_id, "result": result, "time": time, "agent_id": agent_id,
              "customer_id": customer_id, "contact_id": contact_id,
              "order_reference": order_reference if result == "accepted" else None}
    with _transaction(engine) as connection:
        if contact_id is None:          # nothing to be the same outcome as
            connection.execute(_outcomes.insert().values(**values))
            return True
        insert = _dialect_insert(connection, _outcomes).values(**values)
        changed = {name: insert.excluded[name] for name in ("result", "time", "order_reference")}
        # The agent and customer an eligible row did not know yet are filled in; known
        # ones stay.
        for name in ("agent_id", "customer_id"):
            changed[name] = sa.func.coalesce(_outcomes.c[name], insert.excluded[name])
        same = sa.and_(_outcomes.c.result == insert.excluded.result,
                       sa.func.coalesce(_outcomes.c.order_reference, "")
                       == sa.func.coalesce(insert.excluded.order_reference, ""))
        statement = insert.on_conflict_do_update(
            index_elements=["contact_id", "offer_id"], set_=changed,
            where=sa.not_(same)).returning(_outcomes.c.id)
        return connection.execute(statement).first() is not None


def list_offers(engine: Engine, product: str | None = None, limit: int = MAX_SEARCH) -> list:
    """Offers (of `product`; None: all), highest priority first, then by id."""
    select = sa.select(_offers).order_by(_offers.c.priority.desc(), _offers.c.offer_id)
    if product is not None:
        select = select.where(_offers.c.product == product)
    with engine.connect() as connection:
        return list(connection.execute(select.limit(max(0, min(limit, MAX_SEARCH)))))


def get_offer(engine: Engine, offer_id: str):
    """The offer's row, or None."""
    with engine.connect() as connection:
        return connection.execute(sa.select(_offers).where(
            _offers.c.offer_id == offer_id)).first()


def record_known_outcome(engine: Engine, *, offer_id: str, customer_id: str | None,
                         **outcome) -> bool:
    """`record_outcome` of an offer that exists, for a customer that exists (or none):
    NotFound naming `offer_id` or `customer_id` otherwise, and nothing written."""
    with engine.begin() as connection:
        if unknown_offers(connection, [offer_id]):
            raise NotFound("offer_id", f"no offer {offer_id!r}")
        if customer_id is not None and connection.execute(
                sa.select(_customers.c.customer_id)
                .where(_customers.c.customer_id == customer_id)).first() is None:
            raise NotFound("customer_id", f"no customer {customer_id!r} in the store")
        return record_outcome(connection, offer_id=offer_id, customer_id=customer_id,
                              **outcome)

"""Campaigns in the customer store (revision 0006): their documents and states, and their
lists. Blocking calls: the servicers run them off the event loop (servicers/errors.in_store).

A list is imported while its campaign is a draft (its pacer takes the list when it starts);
a call's rows are written all or none, each record keyed by its id (a row sent again with
the same values is unchanged, with new ones updated), in the order first imported.
"""

from __future__ import annotations

import sqlalchemy as sa

from cluster.store.models import Campaign, CampaignRecord
from sites.errors import NotFound, PreconditionFailed

_CAMPAIGNS = Campaign.__table__
_RECORDS = CampaignRecord.__table__


class CampaignStore:
    def __init__(self, engine):
        self.engine = engine

    def put(self, document: dict) -> str:
        """Create a draft or replace the configuration of a draft or paused campaign; its
        state now."""
        name = document["name"]
        with self.engine.begin() as connection:
            state = connection.execute(sa.select(_CAMPAIGNS.c.state).where(
                _CAMPAIGNS.c.name == name)).scalar()
            values = {"site": document["site"], "skill": document["skill"],
                      "document": document}
            if state is None:
                connection.execute(_CAMPAIGNS.insert().values(name=name, state="draft",
                                                              **values))
                return "draft"
            if state not in ("draft", "paused"):
                raise PreconditionFailed("name", f"campaign {name!r} is {state}: pause it "
                                                 "before changing it" if state == "running"
                                         else f"campaign {name!r} is stopped for good")
            existing = connection.execute(sa.select(_CAMPAIGNS.c.site, _CAMPAIGNS.c.skill).where(
                _CAMPAIGNS.c.name == name)).one()
            if state == "paused" and tuple(existing) != (document["site"], document["skill"]):
                raise PreconditionFailed("site", f"campaign {name!r} has started: its site and "
                                                 "skill stay as they are")
            connection.execute(_CAMPAIGNS.update().where(_CAMPAIGNS.c.name == name).values(
                **values))
            return state

    def get(self, name: str) -> tuple:
        """(document, state, records) of a campaign; NotFound naming `name`."""
        found = self._rows(_CAMPAIGNS.c.name == name)
        if not found:
            raise NotFound("name", f"no campaign {name!r}")
        return found[0]

    def all(self) -> list:
        return self._rows(sa.true())

    def _rows(self, where) -> list:
        counts = (sa.select(_RECORDS.c.campaign, sa.func.count().label("records"))
                  .group_by(_RECORDS.c.campaign).subquery())
        query = (sa.select(_CAMPAIGNS.c.document, _CAMPAIGNS.c.state,
                           sa.func.coalesce(counts.c.records, 0))
                 .select_from(_CAMPAIGNS.outerjoin(counts,
                                                   counts.c.campaign == _CAMPAIGNS.c.name))
                 .where(where).order_by(_CAMPAIGNS.c.name))
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(query)]

    def set_state(self, name: str, state: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(_CAMPAIGNS.update().where(_CAMPAIGNS.c.name == name).values(
                state=state))

    def import_rows(self, name: str, rows: list) -> tuple:
        """Write `rows` ([(id, phone, timezone, customer_id)], checked, ids unique) into the
        list of draft campaign `name`, all or none: (added, updated, unchanged, records)."""
        added = updated = unchanged = 0
        with self.engine.begin() as connection:
            state = connection.execute(sa.select(_CAMPAIGNS.c.state).where(
                _CAMPAIGNS.c.name == name).with_for_update()).scalar()
            if state is None:
                raise NotFound("campaign", f"no campaign {name!r}")
            if state != "draft":
                raise PreconditionFailed("campaign", f"campaign {name!r} is {state}: a list "
                                                     "is imported before the campaign starts")
            existing = {}
            ids = [row[0] for row in rows]
            for start in range(0, len(ids), 500):       # bound the IN list
                for row in connection.execute(sa.select(
                        _RECORDS.c.record_id, _RECORDS.c.phone, _RECORDS.c.timezone,
                        _RECORDS.c.customer_id).where(
                        _RECORDS.c.campaign == name,
                        _RECORDS.c.record_id.in_(ids[start:start + 500]))):
                    existing[row[0]] = tuple(row)
            position = connection.execute(sa.select(sa.func.coalesce(
                sa.func.max(_RECORDS.c.position), -1)).where(
                _RECORDS.c.campaign == name)).scalar() + 1
            inserts = []
            for row in rows:
                old = existing.get(row[0])
                if old is None:
                    inserts.append({"campaign": name, "record_id": row[0], "position": position,
                                    "phone": row[1], "timezone": row[2],
                                    "customer_id": row[3]})
                    position += 1
                    added += 1
                elif old == tuple(row):
                    unchanged += 1
                else:
                    connection.execute(_RECORDS.update().where(
                        _RECORDS.c.campaign == name, _RECORDS.c.record_id == row[0]).values(
                        phone=row[1], timezone=row[2], customer_id=row[3]))
                    updated += 1
            if inserts:
                connection.execute(_RECORDS.insert(), inserts)
            records = connection.execute(sa.select(sa.func.count()).where(
                _RECORDS.c.campaign == name)).scalar()
        return added, updated, unchanged, records

    def list_rows(self, name: str) -> list:
        """[(id, phone, timezone, customer_id)] of the campaign's list, in list order."""
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(
                sa.select(_RECORDS.c.record_id, _RECORDS.c.phone, _RECORDS.c.timezone,
                          _RECORDS.c.customer_id)
                .where(_RECORDS.c.campaign == name).order_by(_RECORDS.c.position))]

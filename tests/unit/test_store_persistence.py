"""Persistence: a SiteState attached to it has every accepted entry journaled (events and
live configuration changes, in the order applied; refused ones not), records written, and
snapshots taken when due; `await flush()` returns once the entries are committed."""

import asyncio

import pytest
import sqlalchemy as sa

from cluster.store.codec import ConfigChange
from cluster.store.journal import Journal, read_entries
from cluster.store.models import AgentStateInterval, ContactRecord, Snapshot
from cluster.store.persistence import Persistence
from cluster.store.records import Recorder
from cluster.store.snapshots import recover_sites
from sites import events as ev
from sites.errors import InvalidInput
from sites.model import AgentConfig, SiteConfig, SkillConfig
from sites.state import SiteState

CONFIG = SiteConfig("east", skills=(SkillConfig("billing"),),
                    agents=(AgentConfig("a1", {"billing": 1}),))


def count(engine, model):
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(model)).scalar()


def test_everything_accepted_is_journaled_in_order(engine):
    journal = Journal(engine, snapshot_every=6)
    persistence = Persistence(journal, Recorder())
    state = SiteState(CONFIG)
    persistence.start_site(state)
    with pytest.raises(ValueError, match="attached already"):
        persistence.attach(state)

    async def day():
        state.handle(ev.AgentLoggedIn(0.0, "a1"))
        with pytest.raises(InvalidInput):
            state.handle(ev.AgentReady(0.5, "nobody"))          # refused: not journaled
        state.handle(ev.AgentReady(1.0, "a1"))
        state.add_agent(AgentConfig("a2", {"billing": 2}))
        with pytest.raises(InvalidInput):
            state.add_agent(AgentConfig("a2", {"billing": 2}))  # refused: not journaled
        await persistence.flush()
        assert journal.last_seq("east") == 3
        state.handle(ev.ContactArrived(2.0, "c1", "billing", data={"ani": "+15550100"}))
        state.handle(ev.OfferAccepted(3.0, "c1"))
        state.handle(ev.ContactEnded(9.0, "c1"))
        state.update_skill(SkillConfig("billing", sl_threshold_s=30))
        await persistence.flush()                  # 7 entries: a snapshot is due at 6
        state.handle(ev.AgentNotReady(10.0, "a1", "lunch"))
        await persistence.flush()

    asyncio.run(day())
    journal.close()
    entries = [entry for _, entry in read_entries(engine, "east")]
    assert [type(entry).__name__ if not isinstance(entry, ConfigChange) else entry.kind
            for entry in entries] == [
        "AgentLoggedIn", "AgentReady", "AddAgent", "ContactArrived", "OfferAccepted",
        "ContactEnded", "UpdateSkill", "AgentNotReady"]
    with engine.connect() as connection:
        assert connection.execute(sa.select(Snapshot.seq).order_by(Snapshot.seq)).scalars() \
            .all() == [0, 7]
    assert count(engine, ContactRecord) == 1
    with engine.connect() as connection:
        assert connection.execute(sa.select(
            AgentStateInterval.state, AgentStateInterval.start_time, AgentStateInterval.end_time)
            .order_by(AgentStateInterval.start_time)).all() == [
            ("not_ready", 0.0, 1.0), ("ready", 1.0, 2.0), ("reserved", 2.0, 3.0),
            ("busy", 3.0, 9.0), ("ready", 9.0, 10.0)]
    recovered = recover_sites(engine, {"east": None})["east"]
    assert recovered.snapshot_seq == 7 and recovered.replayed == 1
    assert recovered.state.snapshot() == state.snapshot()


def test_flush_now_without_a_loop(engine):
    journal = Journal(engine)
    persistence = Persistence(journal)
    state = SiteState(CONFIG)
    persistence.start_site(state)
    state.handle(ev.AgentLoggedIn(0.0, "a1"))
    persistence.flush_now()
    persistence.flush_now()                         # nothing new: nothing written
    journal.close()
    assert [seq for seq, _ in read_entries(engine, "east")] == [1]

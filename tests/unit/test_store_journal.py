"""The journal: entries round-trip exactly, numbering has no gaps, appends are durable before
they resolve and share transactions under load, a failed write stops the journal, and card
numbers never reach the database in clear."""

import asyncio
import json

import pytest
import sqlalchemy as sa
from sqlalchemy import event as sa_event

from cluster.store import codec
from cluster.store.codec import ConfigChange
from cluster.store.journal import (
    JOURNAL,
    Journal,
    JournalError,
    JournalGap,
    decode_snapshot,
    read_entries,
)
from cluster.store.models import Snapshot
from sites import events as ev
from sites.model import AgentConfig, Channel, Priority, SkillConfig

CARD = "4111 1111 1111 1111"


def every_kind_of_entry():
    return [
        ev.AgentLoggedIn(1.0, "a1"), ev.AgentReady(1.5, "a1"),
        ev.ContactArrived(2.0, "c1", "billing", Priority.HIGH, 10.0, Channel.CHAT,
                          {"ani": "+15551234567", "note": f"card {CARD}", "n": 3}),
        ev.ContactArrived(2.25, "c2", "billing"),
        ev.OfferAccepted(3.0, "c1"), ev.ContactConnected(3.0, "c1"),
        ev.OfferRejected(3.5, "c2"), ev.OfferTimedOut(3.75, "c2"), ev.ContactEnded(4.0, "c1"),
        ev.ContactAbandoned(4.5, "c2"), ev.WrapUpDone(5.0, "a1"),
        ev.ContactInterflowed(5.5, "c3", "west"), ev.AgentNotReady(6.0, "a1", "lunch"),
        ev.AgentLoggedOut(7.0, "a1"), ev.Tick(1e9 + 0.1),
        ConfigChange.add_skill(SkillConfig("sales", queueing="fifo", max_queue_length=3)),
        ConfigChange.update_skill(SkillConfig("sales", queueing="fifo", sl_threshold_s=30)),
        ConfigChange.add_agent(AgentConfig("a9", {"sales": 2}, channels={"voice": 1, "chat": 2},
                                           wrap_up_s=5)),
        ConfigChange.replace_agent(AgentConfig("a9", {"sales": 1})),
        ConfigChange.remove_agent("a9"), ConfigChange.remove_skill("sales"),
    ]


def expected(entry):
    """What the entry reads back as: enums by name, attached data masked."""
    if isinstance(entry, ev.ContactArrived):
        return ev.ContactArrived(entry.time, entry.contact_id, entry.skill,
                                 getattr(entry.priority, "name", entry.priority).lower(),
                                 entry.service_objective_s,
                                 getattr(entry.channel, "name", entry.channel).lower(),
                                 {key: value.replace(CARD, "4111 11** **** 1111")
                                  if isinstance(value, str) else value
                                  for key, value in entry.data.items()})
    return entry


def check_round_trip(engine):
    journal = Journal(engine, fencing_token=7)
    entries = every_kind_of_entry()
    assert journal.append_now("east", entries[:5]) == 5
    assert journal.append_now("east", entries[5:]) == len(entries)
    assert journal.append_now("west", [ev.Tick(1.0)]) == 1
    journal.close()
    read = list(read_entries(engine, "east"))
    assert [seq for seq, _ in read] == list(range(1, len(entries) + 1))
    assert [entry for _, entry in read] == [expected(entry) for entry in entries]
    assert [seq for seq, _ in read_entries(engine, "east", after_seq=17)] == [18, 19, 20, 21]
    with engine.connect() as connection:
        tokens = connection.execute(sa.select(JOURNAL.c.fencing_token).distinct()).scalars().all()
        payloads = connection.execute(sa.select(JOURNAL.c.payload)).scalars().all()
    assert tokens == [7]
    assert CARD not in json.dumps(payloads) and "4111 11** **** 1111" in json.dumps(payloads)
    # A new Journal continues each site's numbering where the database has it.
    again = Journal(engine)
    assert again.last_seq("east") == len(entries) and again.last_seq("west") == 1
    assert again.append_now("west", [ev.Tick(2.0)]) == 2
    again.close()


def test_round_trip_sqlite(engine):
    check_round_trip(engine)


def test_a_bad_entry_numbers_nothing(engine):
    journal = Journal(engine)
    with pytest.raises(TypeError, match="cannot journal"):
        journal.append_now("east", [ev.Tick(1.0), object()])
    assert journal.last_seq("east") == 0
    assert journal.append_now("east", [ev.Tick(1.0)]) == 1
    journal.close()


def test_unknown_entry_types_are_named():
    with pytest.raises(codec.UnknownEntry, match="'Teleported'"):
        codec.decode("Teleported", {}, 1.0)


def test_a_gap_stops_the_replay(engine):
    journal = Journal(engine)
    journal.append_now("east", [ev.Tick(float(t)) for t in range(5)])
    journal.close()
    with engine.begin() as connection:
        connection.execute(JOURNAL.delete().where(JOURNAL.c.seq == 3))
    with pytest.raises(JournalGap, match="site 'east': journal entry 3 is missing"):
        list(read_entries(engine, "east"))


def count_commits(engine):
    commits = []
    sa_event.listen(engine, "commit", lambda connection: commits.append(1))
    return commits


def check_group_commit(engine):
    """100 concurrent appends: each resolves only after its rows are in the database, and
    they share far fewer transactions than there are appends."""
    journal = Journal(engine)
    commits = count_commits(engine)

    async def one(number):
        seq = await journal.append(f"s{number % 4}", [ev.Tick(float(number)), ev.Tick(number + .5)])
        with engine.connect() as connection:
            stored = connection.execute(sa.select(sa.func.count()).select_from(JOURNAL).where(
                JOURNAL.c.site == f"s{number % 4}", JOURNAL.c.seq == seq)).scalar()
        assert stored == 1, "resolved before its entries were committed"
        return seq

    async def main():
        return await asyncio.gather(*(one(number) for number in range(100)))

    seqs = asyncio.run(main())
    asyncio.run(journal.aclose())
    assert sorted(seqs) == sorted(2 * (n // 4) + 2 for n in range(100))
    assert 1 <= len(commits) < 50, len(commits)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(JOURNAL)).scalar() == 200


def test_group_commit_sqlite(engine):
    check_group_commit(engine)


def test_order_is_the_call_order(engine):
    """Numbers are given when append is called, not when it is awaited."""
    journal = Journal(engine)

    async def main():
        first = journal.append("east", [ev.Tick(1.0)])
        second = journal.append("east", [ev.Tick(2.0)])
        return await second, await first

    assert asyncio.run(main()) == (2, 1)
    journal.close()
    assert [entry.time for _, entry in read_entries(engine, "east")] == [1.0, 2.0]


def test_a_failed_write_stops_the_journal(engine):
    journal = Journal(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE journal"))

    async def main():
        results = await asyncio.gather(journal.append("east", [ev.Tick(1.0)]),
                                       journal.append("east", [ev.Tick(2.0)]),
                                       return_exceptions=True)
        assert all(isinstance(result, JournalError) for result in results), results
        with pytest.raises(JournalError, match="stopped after a failed write"):
            journal.append("east", [ev.Tick(3.0)])

    asyncio.run(main())
    journal.close()


def test_snapshots_follow_their_entries_and_are_pruned(engine):
    journal = Journal(engine, snapshot_every=3, keep_snapshots=2)
    document = {"site": {"now": 5.0, "anything": [1, 2]}}
    assert journal.snapshot_due("east")            # never snapshotted
    assert journal.snapshot_now("east", document) == 0
    assert not journal.snapshot_due("east")
    journal.append_now("east", [ev.Tick(1.0), ev.Tick(2.0)])
    assert not journal.snapshot_due("east")
    journal.append_now("east", [ev.Tick(3.0)])
    assert journal.snapshot_due("east")

    async def main():
        journal.append("east", [ev.Tick(4.0)])
        return await journal.snapshot("east", document)

    assert asyncio.run(main()) == 4
    assert journal.snapshot_now("east", document) == 4       # the same state: not written twice
    journal.append_now("east", [ev.Tick(5.0)])
    journal.snapshot_now("east", {"site": {"now": 6.0}})
    journal.close()
    with engine.connect() as connection:
        rows = connection.execute(sa.select(Snapshot.seq, Snapshot.time, Snapshot.payload)
                                  .order_by(Snapshot.seq)).all()
    assert [(row.seq, row.time) for row in rows] == [(4, 5.0), (5, 6.0)]    # the last two
    assert decode_snapshot(rows[0].payload) == document

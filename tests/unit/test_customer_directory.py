"""The customer directory (cluster/customers/directory.py): lookups by ANI in any common form,
by account number and by customer id; the default tier for unknown callers; a cache; a store
that is down or slow gives the default tier and one rate-limited warning, never an exception;
the event loop goes on while the store is read; numbers are masked in the logs.

The `check_*` functions run on PostgreSQL too (tests/integration/test_customers_postgres.py).
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import sqlalchemy as sa

from cluster.customers.directory import CustomerDirectory, open_directory
from cluster.customers.readers import ThreadedReader
from cluster.customers.store import Profile
from cluster.store.db import open_engine
from cluster.store.models import Customer, CustomerAccount, CustomerPhone

CUSTOMERS = [
    {"customer_id": "c1", "name": "Ada", "email": "ada@example.com", "address": "1 Loop Rd",
     "tier": "gold", "attributes": {"segment": "smb"}},
    {"customer_id": "c2", "name": "Bob", "email": None, "address": None, "tier": None,
     "attributes": {}},
]
PHONES = [{"number": "+14155552671", "customer_id": "c1"},
          {"number": "+442079460958", "customer_id": "c1"},
          {"number": "+14155550100", "customer_id": "c2"}]
ACCOUNTS = [{"account_number": "ACC-1", "customer_id": "c1"},
            {"account_number": "99887766", "customer_id": "c2"}]


def fill(engine) -> None:
    with engine.begin() as connection:
        connection.execute(Customer.__table__.insert(), CUSTOMERS)
        connection.execute(CustomerPhone.__table__.insert(), PHONES)
        connection.execute(CustomerAccount.__table__.insert(), ACCOUNTS)


def check_lookups(engine) -> None:
    fill(engine)

    async def scenario():
        directory = open_directory(engine, region="US", cache_entries=0)
        try:
            for ani in ("+14155552671", "+1 (415) 555-2671", "(415) 555-2671",
                        "+44 20 7946 0958"):
                profile = await directory.by_ani(ani)
                assert profile is not None and profile.customer_id == "c1", ani
            assert profile.phones == ("+14155552671", "+442079460958")
            assert (profile.name, profile.email, profile.tier) == ("Ada", "ada@example.com",
                                                                   "gold")
            assert dict(profile.attributes) == {"segment": "smb"}
            assert directory.tier_of(profile) == "gold"
            assert (await directory.by_account("ACC-1")).customer_id == "c1"
            assert (await directory.by_account(" 99887766 ")).customer_id == "c2"
            bob = await directory.by_customer_id("c2")
            assert bob.phones == ("+14155550100",) and bob.tier is None
            assert directory.tier_of(bob) == "standard"        # no tier: the default
            for unknown in (directory.by_ani("+14155559999"), directory.by_ani("anonymous"),
                            directory.by_ani(""), directory.by_account("nope"),
                            directory.by_customer_id("c3"), directory.by_customer_id("x" * 500)):
                assert await unknown is None
            assert directory.tier_of(None) == "standard"
            assert directory.failures == 0
        finally:
            await directory.close()
    asyncio.run(scenario())


def test_lookups(engine):
    check_lookups(engine)


def check_store_down(engine, caplog) -> None:
    """`engine` points at a database that cannot answer."""
    clock = [0.0]

    async def scenario():
        directory = open_directory(engine, timeout_s=5.0, retry_after_s=5.0, warn_every_s=60.0,
                                   clock=lambda: clock[0])
        try:
            with caplog.at_level(logging.WARNING, logger="vcc.customers"):
                assert await directory.by_ani("+14155552671") is None
                assert directory.tier_of(None) == "standard"
                for second in range(1, 12):
                    clock[0] = float(second)
                    assert await directory.by_account("4111111111111111") is None
                    assert await directory.by_customer_id("c1") is None
            warnings = [record for record in caplog.records if record.name == "vcc.customers"]
            assert len(warnings) == 1                  # rate-limited: one a minute
            assert "default tier 'standard'" in warnings[0].getMessage()
            assert directory.failures == 23
            clock[0] = 61.0
            with caplog.at_level(logging.WARNING, logger="vcc.customers"):
                assert await directory.by_customer_id("c1") is None
            warnings = [record for record in caplog.records if record.name == "vcc.customers"]
            assert len(warnings) == 2 and "23 failed" in warnings[1].getMessage()
        finally:
            await directory.close()
    asyncio.run(scenario())
    text = caplog.text
    assert "4155552671" not in text and "4111111111111111" not in text


def test_store_down(tmp_path, caplog):
    engine = open_engine(f"sqlite:///{tmp_path}/missing/dir/vcc.db")
    check_store_down(engine, caplog)
    engine.dispose()


def test_store_without_customer_tables_is_down(tmp_path, caplog):
    engine = open_engine(f"sqlite:///{tmp_path}/empty.db")      # never migrated
    check_store_down(engine, caplog)
    engine.dispose()


class SlowStore:
    """A store whose every lookup takes `delay_s` (blocking, like a database)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls = 0

    def by_ani(self, key):
        self.calls += 1
        time.sleep(self.delay_s)
        return Profile(customer_id="c1", name="Ada", tier="gold")

    by_account = by_customer_id = by_ani

    def close(self):
        pass


def test_a_slow_store_gives_the_default_tier_in_time(caplog):
    async def scenario():
        directory = CustomerDirectory(ThreadedReader(SlowStore(2.0)), timeout_s=0.1)
        started = time.perf_counter()
        with caplog.at_level(logging.WARNING, logger="vcc.customers"):
            assert await directory.by_ani("+14155552671") is None
        assert time.perf_counter() - started < 1.0
        assert "timed out" in caplog.text and "+*******2671" in caplog.text
        await directory.close()
    asyncio.run(scenario())


def test_the_event_loop_runs_while_the_store_is_read():
    async def scenario():
        store = SlowStore(0.3)
        directory = CustomerDirectory(ThreadedReader(store), timeout_s=5.0)
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1
        running = asyncio.ensure_future(ticker())
        profile = await directory.by_ani("+14155552671")
        running.cancel()
        assert profile.customer_id == "c1"
        assert ticks >= 10            # the loop went on during the 0.3 s read
        await directory.close()
    asyncio.run(scenario())


def test_answers_are_cached_unknown_callers_briefly():
    clock = [0.0]

    async def scenario():
        store = SlowStore(0.0)
        directory = CustomerDirectory(ThreadedReader(store), cache_entries=10, cache_ttl_s=60.0,
                                      clock=lambda: clock[0])
        for _ in range(3):
            assert (await directory.by_ani("+14155552671")).customer_id == "c1"
        assert store.calls == 1
        clock[0] = 60.0
        await directory.by_ani("+14155552671")
        assert store.calls == 2
        await directory.close()
    asyncio.run(scenario())


def test_unknown_callers_are_cached_for_less_time(engine):
    clock = [0.0]

    async def scenario():
        directory = open_directory(engine, unknown_ttl_s=10.0, clock=lambda: clock[0])
        assert await directory.by_customer_id("c1") is None
        fill(engine)                                # imported meanwhile
        assert await directory.by_customer_id("c1") is None     # still cached as nobody
        clock[0] = 10.0
        assert (await directory.by_customer_id("c1")).name == "Ada"
        await directory.close()
    asyncio.run(scenario())


def test_the_store_is_retried_after_a_pause(tmp_path):
    clock = [0.0]
    path = tmp_path / "later.db"
    engine = open_engine(f"sqlite:///{path}")

    async def scenario():
        directory = open_directory(engine, retry_after_s=5.0, clock=lambda: clock[0])
        assert await directory.by_customer_id("c1") is None       # no tables yet: down
        from cluster.store import upgrade
        upgrade(engine)
        fill(engine)
        clock[0] = 4.9
        assert await directory.by_customer_id("c1") is None       # not asked again yet
        clock[0] = 5.0
        assert (await directory.by_customer_id("c1")).name == "Ada"
        await directory.close()
    asyncio.run(scenario())
    engine.dispose()


def test_profiles_are_immutable(engine):
    fill(engine)

    async def scenario():
        directory = open_directory(engine)
        profile = await directory.by_customer_id("c1")
        with pytest.raises(TypeError):
            profile.attributes["segment"] = "enterprise"
        await directory.close()
    asyncio.run(scenario())
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(Customer)).scalar() == 2

"""Customers and marketing data on PostgreSQL (127.0.0.1:5432, user postgres, database
`test`): the checks of the SQLite unit tests (tests/unit/test_customer_*.py), on a real
server and through the PostgreSQL reader (psycopg asyncio connections). Each test has a
schema of its own, dropped afterwards; without a server the tests fail when CI is set and
skip elsewhere."""

import asyncio
import pathlib
import sys

import pytest

from cluster.customers.directory import open_directory
from cluster.customers.readers import APPLICATION_NAME, PostgresReader
from cluster.store import open_engine

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "unit"))
import test_customer_directory as directory_checks  # noqa: E402
import test_customer_dispositions as disposition_checks  # noqa: E402
import test_customer_history as history_checks  # noqa: E402
import test_customer_import as import_checks  # noqa: E402
import test_store_schema as schema_checks  # noqa: E402

from tests.integration.postgres import URL, require_postgres  # noqa: E402
from tests.integration.postgres import bare_engine, engine  # noqa: E402,F401 (fixtures)

pytestmark = pytest.mark.integration




def test_migration_from_0003(bare_engine):
    schema_checks.check_a_0003_store_upgrades_to_customers(bare_engine)


def test_migrations_match_models(bare_engine):
    schema_checks.check_migrations_match_models(bare_engine)


def test_lookups_through_asyncio_connections(engine):
    assert isinstance(open_directory(engine).reader, PostgresReader)
    directory_checks.check_lookups(engine)


def test_store_down(caplog):
    require_postgres(URL)
    engine = open_engine("postgresql+psycopg://postgres@127.0.0.1:1/test",
                         connect_args={"connect_timeout": 2})
    directory_checks.check_store_down(engine, caplog)
    engine.dispose()


def test_a_lost_connection_is_replaced(engine):
    """The server ends a lookup connection (a restart, a failover): that lookup gives the
    default tier, a later one connects anew."""
    directory_checks.fill(engine)
    clock = [0.0]

    async def scenario():
        directory = open_directory(engine, threads=1, retry_after_s=1.0,
                                   clock=lambda: clock[0], cache_entries=0)
        assert (await directory.by_customer_id("c1")).name == "Ada"
        (lookup_connection,) = directory.reader._all
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = "
                f"{int(lookup_connection.pgconn.backend_pid)} "
                f"AND application_name = '{APPLICATION_NAME}'")
        assert await directory.by_customer_id("c1") is None
        clock[0] = 1.0
        assert (await directory.by_customer_id("c1")).name == "Ada"
        await directory.close()
    asyncio.run(scenario())


def test_import_is_idempotent(engine, tmp_path):
    import_checks.check_import_is_idempotent(engine, tmp_path)


def test_a_number_of_a_customer_not_in_the_file_stops_it(engine, tmp_path):
    import_checks.check_a_number_of_a_customer_not_in_the_file_stops_it(engine, tmp_path)


def test_a_large_file_reads_the_store_through_key_tables(engine, tmp_path):
    import_checks.check_a_large_file_reads_the_store_through_key_tables(engine, tmp_path)


def test_targets(engine, tmp_path):
    import_checks.check_targets(engine, tmp_path)


def test_history(engine):
    history_checks.check_history(engine)


def test_interactions_and_dispositions(engine):
    disposition_checks.add_customers(engine)
    disposition_checks.check_interactions_from_records(engine)
    disposition_checks.check_dispositions(engine)

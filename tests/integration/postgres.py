"""The PostgreSQL the integration tests use (127.0.0.1:5432, user postgres, database test):
a test that needs it fails in CI (`CI` set) and skips with the reason elsewhere when it is
unreachable."""

import os

import pytest
import sqlalchemy as sa

URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def require_postgres(url: str = URL) -> None:
    probe = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3})
    reason = None
    try:
        with probe.connect():
            pass
    except sa.exc.OperationalError as error:
        reason = f"PostgreSQL unreachable at {url}: {str(error.orig).strip().splitlines()[0]}"
    finally:
        probe.dispose()
    if reason is not None and os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    if reason is not None:
        pytest.skip(reason)


# Fixtures of the modules that run the SQLite checks on PostgreSQL too (test_store_postgres,
# test_customers_postgres): they import them by name.
@pytest.fixture
def bare_engine():
    """An engine on a fresh schema of its own, no tables; the schema dropped after."""
    import uuid

    from cluster.store.db import drop_schema, open_engine

    require_postgres(URL)
    schema = f"vcc_test_{uuid.uuid4().hex[:12]}"
    engine = open_engine(URL, schema=schema)
    yield engine
    drop_schema(engine, schema)


@pytest.fixture
def engine(bare_engine):
    """`bare_engine` with every migration applied."""
    from cluster.store.migrate import upgrade

    upgrade(bare_engine)
    return bare_engine

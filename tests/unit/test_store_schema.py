"""The store's schema: Alembic migrations at head equal the models; URLs are checked."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cluster.store import current_revision, head_revision, open_engine, upgrade
from cluster.store.db import StoreUrlError
from cluster.store.migrate import downgrade
from cluster.store.models import Base

TABLES = {"sites", "skills", "agents", "agent_skills", "service_objectives", "journal",
          "snapshots", "contact_records", "agent_state_intervals", "site_fences"}


def check_migrations_match_models(engine):
    """Upgrade twice (idempotent), compare with the models, downgrade to nothing."""
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert TABLES <= set(sa.inspect(engine).get_table_names())
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    downgrade(engine)
    assert not TABLES & set(sa.inspect(engine).get_table_names())
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_migrations_match_models_sqlite(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    check_migrations_match_models(engine)
    engine.dispose()


def test_sqlite_commits_are_durable(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2    # FULL
    engine.dispose()


def test_in_memory_sqlite_is_one_database():
    engine = open_engine("sqlite://")
    upgrade(engine)
    with engine.connect() as one, engine.connect() as two:
        assert "journal" in sa.inspect(one).get_table_names()
        assert "journal" in sa.inspect(two).get_table_names()


@pytest.mark.parametrize("url, problem", [
    ("not a url", "not a database URL"),
    ("mysql://127.0.0.1/x", "unsupported database 'mysql'"),
])
def test_bad_urls_say_why(url, problem):
    with pytest.raises(StoreUrlError, match=problem):
        open_engine(url)


def test_schema_option_is_for_postgresql():
    with pytest.raises(StoreUrlError, match="schema= is for PostgreSQL"):
        open_engine("sqlite://", schema="x")

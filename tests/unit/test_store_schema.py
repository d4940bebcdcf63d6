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
          "snapshots", "contact_records", "agent_state_intervals", "site_fences",
          "customers", "customer_phones", "customer_accounts", "interactions", "customer_notes",
          "marketing_offers", "marketing_targets", "marketing_outcomes"}


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


def check_a_0002_store_upgrades_with_its_records(engine):
    """Revision 0003 adds queue_time, callback and service to the contact records of a
    store that has some: they stay plain contacts (no queue time, no callback, no
    service), new rows take the new columns, and a report reads both."""
    from cluster.reports import ReportQuery, compute_report
    from cluster.store.models import ContactRecord

    old_row = {"contact_id": "old", "entry_site": "east", "final_site": "east",
               "skill": "billing", "priority": "medium", "service_objective_s": 20.0,
               "sl_threshold_s": 20.0, "channel": "voice", "arrival_time": 10.0,
               "answer_time": 25.0, "final_state": "abandoned", "interflows": 0, "offers": 1}
    upgrade(engine, "0002")
    with engine.begin() as connection:
        connection.execute(sa.table("contact_records", *[sa.column(name) for name in old_row])
                           .insert(), [old_row])
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    records = ContactRecord.__table__
    with engine.begin() as connection:
        connection.execute(records.insert(), [{
            **old_row, "contact_id": "new", "arrival_time": 100.0, "queue_time": 110.0,
            "answer_time": 115.0, "callback": True, "service": "care", "dnis": "100"}])
        rows = {row.contact_id: row for row in connection.execute(sa.select(records))}
    assert (rows["old"].queue_time, rows["old"].callback, rows["old"].service) == (
        None, False, None)
    assert (rows["new"].queue_time, rows["new"].callback, rows["new"].service) == (
        110.0, True, "care")
    report = compute_report(engine, ReportQuery(0.0, 200.0, 200.0, "service"))
    figures = {group: sums.figures() for group, sums in report.totals}
    assert figures[""]["asa_s"] == 15.0            # the old one: from its arrival
    assert figures["care"]["asa_s"] == 5.0         # the new one: from its queue time
    assert figures["care"]["callbacks"] == 1 and figures[""]["callbacks"] == 0
    downgrade(engine, "0002")
    assert "queue_time" not in {column["name"] for column in
                                sa.inspect(engine).get_columns("contact_records")}


def test_a_0002_store_upgrades_with_its_records(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    check_a_0002_store_upgrades_with_its_records(engine)
    engine.dispose()


def check_a_0003_store_upgrades_to_customers(engine):
    """Revision 0004 adds the customer and marketing tables to a store that has records;
    its downgrade removes them and leaves the records."""
    from cluster.customers.history import add_interaction

    old_row = {"contact_id": "old", "entry_site": "east", "final_site": "east",
               "skill": "billing", "priority": "medium", "service_objective_s": 20.0,
               "sl_threshold_s": 20.0, "channel": "voice", "arrival_time": 10.0,
               "final_state": "completed", "interflows": 0, "offers": 1}
    upgrade(engine, "0003")
    customer_tables = {"customers", "customer_phones", "customer_accounts", "interactions",
                       "customer_notes", "marketing_offers", "marketing_targets",
                       "marketing_outcomes"}
    assert not customer_tables & set(sa.inspect(engine).get_table_names())
    with engine.begin() as connection:
        connection.execute(sa.table("contact_records", *[sa.column(name) for name in old_row])
                           .insert(), [old_row])
    upgrade(engine)
    assert customer_tables <= set(sa.inspect(engine).get_table_names())
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO customers (customer_id, name, attributes) "
                                   "VALUES ('c1', 'Ada', '{}')"))
    assert add_interaction(engine, customer_id="c1", time=1.0, channel="voice",
                           contact_id="old")
    downgrade(engine, "0003")
    assert not customer_tables & set(sa.inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT contact_id FROM contact_records")
                                  ).scalars().all() == ["old"]
    upgrade(engine)
    assert current_revision(engine) == head_revision() == "0010"


def test_a_0003_store_upgrades_to_customers(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    check_a_0003_store_upgrades_to_customers(engine)
    engine.dispose()

"""Fixtures shared by the unit tests (no network: SQLite files in a temporary directory)."""

import pytest

from cluster.store.db import open_engine
from cluster.store.migrate import upgrade


@pytest.fixture
def engine(tmp_path):
    """A migrated SQLite store of the test's own (a module may define its own `engine`)."""
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    upgrade(engine)
    yield engine
    engine.dispose()

"""Persistence (issue 6): the journal, snapshots and recovery, contact records, report data.

SQLAlchemy 2.x over SQLite (a file, the embedded default) or PostgreSQL (by URL). The pieces:

- `db`: engines (`open_engine(url)`), with SQLite set up for durable commits;
- `models` and `migrate`: the schema and its Alembic migrations (`upgrade(engine)`);
- `configs`: sites, skills, agents, agent skills and service objectives as tables;
- `codec`: core events and live configuration changes as (type, JSON payload) entries;
- `journal`: the append-only journal with group commit (`Journal.append` resolves after commit);
- `snapshots`: `recover_site` / `recover_sites` (last snapshot + journal replay);
- `records`: the `Recorder` that turns what the core did into contact records and agent state
  intervals (derived data: the journal can produce them again);
- `persistence`: `Persistence`, the three together for the sites a process hosts;
- `sqlfuncs`: SQL the two databases spell differently (for reports).

The core (`sites/`) knows nothing of this package: `Persistence.attach` wraps a SiteState
from outside, and snapshots use `SiteState.snapshot()` / `SiteState.restore()`.
"""

from cluster.store.db import DEFAULT_URL, open_engine

_MIGRATE_NAMES = ("current_revision", "head_revision", "upgrade")


def __getattr__(name):
    # `migrate` (Alembic, ~0.13 s of imports) only when asked for: a standby site actor
    # imports this package and never migrates (its gateway did), and it starts sooner.
    if name in _MIGRATE_NAMES:
        from cluster.store import migrate

        return getattr(migrate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["DEFAULT_URL", "current_revision", "head_revision", "open_engine", "upgrade"]

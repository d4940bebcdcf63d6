"""The storage a site actor is given: its site recovered from the store, journaled after.

`SiteStore(url)` is picklable (a URL, not an engine): the gateway hands it to each
`actors.site_actor.SiteActor`, which calls `open(config)` inside its own process (Ray re-runs
the actor's constructor when it restarts it, so a restarted or moved actor opens the store
again and gets its site back). The actor never imports this module: storage is passed in as
an interface (ARCHITECTURE.md, Ray Serve's habit), and the actor only calls:

    opened = store.open(config)   # .state: the SiteState, recovered or new, journaled
    opened.commit()               # everything applied so far is durable when it returns
    opened.replace(state)         # a site moved in from a snapshot
    opened.carried(contact_id)    # the contact record that goes with a contact moving away
    opened.commit_seconds()       # how long its commits took (the metrics; Journal's)
    opened.close()
    store.warm()                  # a standby's warm-up (imports, a first connection)

The schema must exist: the gateway migrates the database once before it starts actors
(several actors migrating one SQLite file at once would race).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import sqlalchemy as sa

from cluster.store.db import open_engine
from cluster.store.journal import SNAPSHOTS, Journal, deleted_sites, leader_session_options
from cluster.store.persistence import Persistence
from cluster.store.records import Recorder
from cluster.store.snapshots import recover_site
from sites.model import SiteConfig
from sites.state import SiteState


@dataclass(frozen=True)
class SiteStore:
    url: str
    schema: str | None = None           # PostgreSQL: tests keep to a schema of their own
    fencing_token: int | None = None
    snapshot_every: int = 50_000

    def open(self, config: SiteConfig) -> "OpenSiteStore":
        return OpenSiteStore(self, config)

    def warm(self) -> None:
        """Load the database driver and connect once (a standby actor, before it counts:
        its takeover then spends no time on imports)."""
        engine = open_engine(self.url, schema=self.schema)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()


class OpenSiteStore:
    """One site's journal, contact records and snapshots, in the actor's process.

    Contact records: each actor derives the records of its site's contacts (`Recorder`
    alone). A contact interflowed to another site takes its record along (`carried`, put
    on the arrival there and journaled with it), so it has one record, from where and when
    it first arrived, as on the in-process runtime."""

    def __init__(self, spec: SiteStore, config: SiteConfig):
        self.engine = open_engine(spec.url, schema=spec.schema,
                                  **leader_session_options(spec.url, spec.fencing_token))
        self.journal = Journal(self.engine, fencing_token=spec.fencing_token,
                               snapshot_every=spec.snapshot_every)
        self.recorder = Recorder(alone=True)
        self.persistence = Persistence(self.journal, self.recorder)
        self.replayed = None            # journal entries replayed on open (None: new site)
        # A site Admin deleted and now adds again starts anew (journal.deleted_sites).
        if _has_snapshot(self.engine, config.name) \
                and not deleted_sites(self.engine, config.name):
            # No garbage collection while the site is rebuilt: the snapshot alone is ~10^5
            # small lists (the last finished contacts, the rolling counters), and collecting
            # while they are made took ~0.1-0.2 s of a takeover (the recovery creates no
            # cycles that must go before it ends).
            collecting = gc.isenabled()
            gc.disable()
            try:
                recovered = recover_site(self.engine, config.name, config,
                                         recorder=self.recorder)
            finally:
                if collecting:
                    gc.enable()
            self.state = self.persistence.attach(recovered.state)
            self.replayed = recovered.replayed
        else:
            self.state = SiteState(config)
            self.persistence.start_site(self.state)

    def commit(self) -> None:
        self.persistence.flush_now()

    def commit_seconds(self) -> list:
        return self.journal.commit_seconds()

    def carried(self, contact_id: str) -> dict | None:
        """The record so far of a contact about to move to another site (None: none)."""
        return self.recorder.carry(contact_id)

    def replace(self, state: SiteState) -> SiteState:
        """Journal `state` from now on instead of the current one, starting with a snapshot
        of it (recovery starts there)."""
        self.commit()
        self.persistence.detach(state.name)
        self.state = state
        self.persistence.start_site(state)
        return state

    def retire(self) -> None:
        """End the site's journal with a tombstone (Admin deleted it), and close."""
        try:
            self.persistence.delete_site_now(self.state.name)
        finally:
            self.journal.close()
            self.engine.dispose()

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self.journal.close()
            self.engine.dispose()


def _has_snapshot(engine, site: str) -> bool:
    """Whether `site` has a snapshot, without reading it: recovery reads and decodes the
    newest one itself (it was read twice, and with the last 100,000 finished contacts in it
    a decode is ~0.2 s of a takeover on 2 idle cores)."""
    with engine.connect() as connection:
        return connection.execute(sa.select(SNAPSHOTS.c.seq).where(SNAPSHOTS.c.site == site)
                                  .limit(1)).first() is not None

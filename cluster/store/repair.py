"""`vcc store repair`: make a store whose journal holds entries the core refuses recoverable.

Such a store stops every start with a RefusedEntry (cluster/store/snapshots.py). Repair
replays every site as recovery does, skips each refused entry (reporting it), and writes a
snapshot of each such site after its last entry: recovery starts at the newest snapshot, so
it never meets the refused entries again. Nothing is deleted: the journal keeps them for
whoever wants to know what happened. Run it with every gateway of the store stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.store.db import open_engine
from cluster.store.journal import Journal, journal_sites
from cluster.store.migrate import upgrade
from cluster.store.persistence import Persistence
from cluster.store.records import Recorder
from cluster.store.snapshots import RefusedEntry, recover_sites


@dataclass
class Repair:
    sites: list                 # every site the journal knows
    skipped: list               # RefusedEntry, in replay order
    snapshots: dict             # site -> the journal entry its new snapshot follows


def repair_store(url: str) -> Repair:
    engine = open_engine(url)
    try:
        upgrade(engine)
        sites = journal_sites(engine)
        skipped: list[RefusedEntry] = []
        recorder = Recorder()
        recovered = recover_sites(engine, {name: None for name in sites}, recorder=recorder,
                                  skip_refused=skipped.append)
        snapshots = {}
        damaged = sorted({refused.site for refused in skipped})
        if damaged:
            journal = Journal(engine)
            try:
                persistence = Persistence(journal, recorder)
                for name in damaged:
                    persistence.attach(recovered[name].state)
                    snapshots[name] = journal.snapshot_now(
                        name, persistence.snapshot_document(recovered[name].state))
            finally:
                journal.close()
        return Repair(sorted(sites), skipped, snapshots)
    finally:
        engine.dispose()

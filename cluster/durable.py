"""A CoreHost whose sites are journaled, and rebuilt from the store when the router restarts.

`open_durable_host(config, url)` migrates the database, recovers every site the journal
knows (last snapshot + journal replay, cluster/store/snapshots.py) and starts the others
from the configuration (each with a first snapshot, so that its recovery never depends on a
configuration file that may have changed since). The host then journals every event its
sites accept and answers no call before the journal has committed it (cluster/host.py,
"durability"), so a crash loses no acknowledged event; contact records and agent state
intervals for `vcc report` are written on the way.

What a restart does not bring back (the journal does not hold it): unacknowledged actions
and the numbering of a PBX link (link ownership is journaled: a contact's `origin`; the
host re-announces open offers to the owning link and renumbers after the PBX's resume
point, cluster/host.py) and subscriptions (clients re-subscribe). Admin changes, service
objectives included, are core configuration changes and are journaled.
"""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass

from cluster.host import CoreHost
from cluster.store.db import open_engine
from cluster.store.journal import (Journal, deleted_sites, journal_sites,
                                   leader_session_options)
from cluster.store.migrate import upgrade
from cluster.store.persistence import Persistence
from cluster.store.records import Recorder
from cluster.store.snapshots import recover_sites
from sites.state import SiteState

log = logging.getLogger("cluster.durable")


@dataclass
class Recovery:
    """What opening the store found: sites recovered (with journal entries replayed) and
    sites started fresh from the configuration."""
    recovered: dict          # site -> entries replayed after its snapshot
    started: list            # sites new to the store
    seconds: float


async def open_durable_host(config, url: str, *, fencing_token: int | None = None,
                            snapshot_every: int = 50_000, clock=_time.monotonic,
                            claim_lock_timeout_s: float = 1.0, **host_options) -> tuple[CoreHost, Recovery]:
    """A CoreHost on `config` (a ClusterConfig) journaled in the database at `url`.

    `fencing_token` (a leader's term): every entry carries it, and before returning the
    host claims every site with it (`Journal.claim_now`; its errors propagate: the caller
    tries again, reading the journal afresh)."""
    began = _time.perf_counter()
    engine = open_engine(url, **leader_session_options(url, fencing_token))
    upgrade(engine)
    journal = Journal(engine, fencing_token=fencing_token, snapshot_every=snapshot_every)
    recorder = Recorder()
    persistence = Persistence(journal, recorder)
    scheduler_factory = host_options.get("scheduler_factory")
    deleted = deleted_sites(engine)
    known = journal_sites(engine, deleted)
    # Sites added through Admin live only in the journal: recover those too.
    recovered = recover_sites(engine, {name: config.sites.get(name) for name in known},
                              scheduler_factory=scheduler_factory, recorder=recorder) \
        if known else {}
    sites: dict[str, SiteState] = {}
    for name, item in recovered.items():
        sites[name] = persistence.attach(item.state)
    started = []
    for name, site_config in config.sites.items():
        if name in deleted:
            # Admin deleted it after the file named it: the store is the newer word.
            log.warning("site %r of the configuration was deleted through Admin (journal "
                        "entry %d): not started; Admin.PutSite adds it again", name,
                        deleted[name])
        elif name not in sites:
            state = SiteState(site_config, scheduler_factory=scheduler_factory)
            persistence.start_site(state)
            sites[name] = state
            started.append(name)
    # The host's clock goes on from the newest time a recovered site has seen: the core
    # refuses time that goes backwards.
    resume_at = max((state.now for state in sites.values() if state.now > float("-inf")),
                    default=0.0)
    if fencing_token is not None:
        # A leader's first entries: from their commit on the journal refuses the previous
        # leader (cluster/leader_gate.py). Any failure leaves nothing half-open.
        try:
            journal.claim_now(sorted(sites), fencing_token, lock_timeout_s=claim_lock_timeout_s)
        except BaseException:
            journal.close()
            engine.dispose()
            raise
    host = CoreHost(config, sites=sites, persistence=persistence, clock=clock,
                    start_time=resume_at, **host_options)
    host.store_engine = engine
    return host, Recovery({name: item.replayed for name, item in recovered.items()},
                          started, _time.perf_counter() - began)


async def close_durable_host(host: CoreHost) -> None:
    """Close the host, commit what it applied and release the database."""
    await host.close()
    await host.drain()
    persistence = host.persistence
    if persistence.recorder is not None:
        persistence.journal.add_rows(*persistence.recorder.take())
    await persistence.journal.aclose()
    host.store_engine.dispose()

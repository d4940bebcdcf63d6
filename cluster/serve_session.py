"""`vcc serve --runtime ray`: the session that owns Ray and the site actors of a gateway.

`ServeSession` starts (or joins) Ray, builds the RayHost that serves (one per leadership
term with --etcd, from warm standby actors), records where it runs for `vcc status`, and
undoes all of it when the server stops. Ray bootstrap and placement are
cluster/ray_runtime.py; the host is cluster/ray_host.py (this module sits above both, so
neither imports the other's users).
"""

from __future__ import annotations

import dataclasses
import logging
import threading

from cluster.ray_runtime import (connect, driver_auth_environment, place_site_actors, shutdown,
                                 start_embedded)
from sites.model import SiteConfig

log = logging.getLogger(__name__)


def raise_if_unrecoverable(url, error) -> None:
    """After `error` opening site actors on the store at `url`: if the store cannot be
    recovered, raise the RecoveryError that says which entry and what to do (a site actor
    that fails to recover dies in its creation task, and Ray reports a traceback)."""
    if not isinstance(error, Exception):
        return
    from cluster.store.db import open_engine
    from cluster.store.journal import journal_sites
    from cluster.store.snapshots import RecoveryError, recover_sites

    engine = open_engine(url)
    try:
        recover_sites(engine, {name: None for name in journal_sites(engine)})
    except RecoveryError as unrecoverable:
        raise unrecoverable from None
    finally:
        engine.dispose()


def store_sites(engine) -> tuple:
    """(journal_sites, deleted_sites) of the store, each read once."""
    from cluster.store.journal import deleted_sites, journal_sites

    deleted = deleted_sites(engine)
    return journal_sites(engine, deleted), deleted


def with_journal_sites(config, known, deleted):
    """`config` (a ClusterConfig) with the sites the journal knows (`known`) that it does
    not (added through Admin) as empty SiteConfigs: their actors recover them from the
    store, as the in-process durable host does (cluster/durable.py); and without the sites
    Admin deleted (`deleted`)."""
    extra = {name: SiteConfig(name, tiers=config.tiers or None) for name in known
             if name not in config.sites}
    if not extra and not deleted.keys() & config.sites.keys():
        return config
    sites = {name: site for name, site in config.sites.items() if name not in deleted}
    return dataclasses.replace(config, sites={**sites, **extra})


class RayStartError(RuntimeError):
    """Ray could not be started or joined (the message says which and why)."""


class ServeSession:
    """`vcc serve --runtime ray`: the embedded Ray instance (or the joined cluster), the
    RayHost's site actors and the state file `vcc status` reads; all undone by `stop`,
    which also runs after SIGTERM (serve returns) and after SIGTERM during startup."""

    def __init__(self, ray_address, db_url=None):
        self.ray_address = ray_address
        self.db_url = db_url            # the site actors journal there (SiteStore)
        self.hosts = []
        self.started = False
        self.gcs_address = None
        self.sites = []
        self._rebalancing = None
        self._standbys = {}             # site -> SiteHandle: the next term's actors, warm
        self._leader_config = None
        self._standby_lock = threading.Lock()
        self._rewarming = None
        self._stopping = False

    def start(self) -> None:
        import signal
        import time

        # Until serve installs its own handlers: SIGTERM must still clean Ray up.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        self.started = True        # from here on `stop` has something to undo
        began = time.monotonic()
        try:
            if self.ray_address:
                connect(self.ray_address)
                self.gcs_address = self.ray_address
            else:
                self.gcs_address = start_embedded()
        except Exception as error:
            what = f"join {self.ray_address}" if self.ray_address else "start embedded Ray"
            raise RayStartError(f"cannot {what}: {error}") from error
        log.info("vcc: %s Ray in %.2f s", "joined" if self.ray_address else "started embedded",
                 time.monotonic() - began)

    # ---- `vcc serve --runtime ray --etcd`: one RayHost per term (cluster/leader_gate.py) ----
    def leader_hosts(self, config) -> tuple:
        """(open_host, close_host) for the leader gate: a RayHost per term. Starts this
        process's standby site actors for `config` now (so a takeover need not wait for Ray
        to start worker processes)."""
        self._leader_config = config
        self._start_standbys()
        return self.open_leader_host, self.close_leader_host

    def _start_standbys(self) -> None:
        import time

        from cluster.store.site_store import SiteStore

        with self._standby_lock:
            if self._stopping or self._standbys:
                return
            config = self._leader_config
            began = time.monotonic()
            self._standbys = place_site_actors(config.sites, named=False,
                                               standby=SiteStore(self.db_url))
            log.info("vcc: %d standby site actor(s) ready in %.2f s", len(self._standbys),
                     time.monotonic() - began)

    def _rewarm_later(self) -> None:
        """Start the next term's standbys in the background (a deposed leader may lead
        again; a process that is stopping skips it)."""
        def rewarm():
            try:
                self._start_standbys()
            except Exception as error:      # noqa: BLE001 - a takeover starts fresh ones
                log.warning("could not start standby site actors: %s", error)

        self._rewarming = threading.Thread(target=rewarm, name="vcc-standbys", daemon=True)
        self._rewarming.start()

    async def open_leader_host(self, config, url, *, fencing_token: int,
                               snapshot_every: int = 50_000, **unused):
        """The host of a new leader's term `fencing_token`: (RayHost, Recovery).

        First every site is claimed in the journal with the token (`Journal.claim_now`: it
        raises each site's fence, waiting for an older leader's write in progress to
        commit), then this process's standby site actors (`leader_hosts`; fresh ones if
        there are none) adopt `SiteStore(url, fencing_token=token)`: each recovers its site
        from the journal, which now holds every write the old leader committed. The actors
        are unnamed: on a shared cluster a paused old leader's actors may hold the names.

        Actor-side fencing: a term's actors serve only that term's host, and every command
        that changes a site commits with the term's token before it answers (SiteActor's
        `_committing`); the journal refuses a token older than its site's fence. So from
        the claim's commit on, an old leader's actors (a SIGKILLed gateway's embedded Ray
        can outlive it for a moment; a paused one resumes) answer no command: the call fails
        with StaleLeaderError, the old RayHost stops (`_fenced`: HostClosed) and its gate
        steps down, and nothing of the old term's later state reaches the store.
        """
        import asyncio

        host, recovery = await asyncio.to_thread(self._open_leader_host, config, url,
                                                 fencing_token, snapshot_every)
        host._arm_timer()           # the recovered sites' deadlines (needs the loop)
        return host, recovery

    def _open_leader_host(self, config, url, token, snapshot_every=50_000):
        import time

        from cluster.durable import Recovery
        from cluster.ray_host import RayHost
        from cluster.store.db import open_engine
        from cluster.store.journal import Journal, leader_session_options
        from cluster.store.migrate import upgrade
        from cluster.store.site_store import SiteStore

        began = time.perf_counter()
        engine = open_engine(url, **leader_session_options(url, token))
        try:
            upgrade(engine)
            known, deleted = store_sites(engine)
            config = with_journal_sites(config, known, deleted)
            checked = time.perf_counter()
            journal = Journal(engine, fencing_token=token)
            try:
                journal.claim_now(sorted(config.sites), token)
            finally:
                journal.close()
        finally:
            engine.dispose()
        claimed = time.perf_counter()
        store = SiteStore(url, fencing_token=token, snapshot_every=snapshot_every)
        with self._standby_lock:
            standbys, self._standbys = self._standbys, {}
        if standbys and set(standbys) <= set(config.sites):
            # Sites added through Admin have no standby (the configuration does not name
            # them): they get fresh actors, which recover them from the journal.
            missing = [site for name, site in config.sites.items() if name not in standbys]
            handles = dict(standbys)
            if missing:
                handles.update(place_site_actors(missing, named=False, store=store))
            host = RayHost(config, store=store, handles=handles, owns_handles=True)
        else:
            for handle in standbys.values():
                handle.kill(restart=False)
            host = RayHost(config, store=store, named=False)
        try:
            placed = time.perf_counter()
            host.adopt_store()
            adopted = time.perf_counter()
            live = host.recover_directory()
        except BaseException as error:
            host.kill_actors()
            raise_if_unrecoverable(url, error)
            raise
        done = time.perf_counter()
        # Where a takeover's time goes (the gate logs the total when it serves).
        log.info("vcc: term %d opened in %.3f s: schema and sites %.3f s, claim %.3f s, "
                 "actors %.3f s, actors recovered their sites %.3f s, directory %.3f s",
                 token, done - began, checked - began, claimed - checked, placed - claimed,
                 adopted - placed, done - adopted)
        self.sites = list(host.handles)
        return host, Recovery({site: live[site] for site in known if site in live},
                              [site for site in config.sites if site not in known],
                              time.perf_counter() - began)

    async def close_leader_host(self, host) -> None:
        """End a term: close the RayHost and kill its site actors."""
        import asyncio

        try:
            await host.close()
        finally:
            await asyncio.to_thread(host.kill_actors)
            self._rewarm_later()

    def host(self, config):
        """The RayHost `serve` runs on (called inside its event loop). SIGUSR1 then asks it
        to rebalance its site actors over the alive nodes (`vcc rebalance` sends it)."""
        import asyncio
        import signal

        from cluster.ray_host import RayHost

        store = None
        if self.db_url is not None:
            from cluster.store.db import open_engine
            from cluster.store.migrate import upgrade
            from cluster.store.site_store import SiteStore

            engine = open_engine(self.db_url)
            try:
                upgrade(engine)         # once, here: actors opening it at once would race
                config = with_journal_sites(config, *store_sites(engine))
            finally:
                engine.dispose()
            store = SiteStore(self.db_url)
        try:
            host = RayHost(config, store=store)
            if store is not None:
                # The actors recovered their sites from the store: the host's directory,
                # mirrors, links and clock come from them (a restarted server went on at
                # time 0 and every event was refused as going backwards).
                host.recover_directory()
                host._arm_timer()           # the recovered sites' deadlines
        except Exception as error:
            if store is not None:
                raise_if_unrecoverable(self.db_url, error)
            raise
        self.hosts.append(host)
        self.sites = list(host.handles)         # placement order: `spread` deals them so
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, self._rebalance_soon,
                                                      host)
        return host

    def _rebalance_soon(self, host) -> None:
        import asyncio

        if self._rebalancing is None or self._rebalancing.done():
            self._rebalancing = asyncio.ensure_future(self._rebalance(host))

    @staticmethod
    async def _rebalance(host) -> None:
        try:
            moves = await host.rebalance()
        except Exception:
            log.exception("rebalance failed")
            return
        for site, source, target in moves:
            log.info("rebalance: site %s moved from node %s to node %s", site, source, target)
        if not moves:
            log.info("rebalance: every site actor is where the spreading rule puts it")

    def record(self, grpc_address) -> None:
        from cluster.status import write_state

        write_state(self.gcs_address, grpc_address, self.sites, driver_auth_environment())

    def stop(self) -> None:
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_IGN)     # cleaning up: finish it
        try:
            if not self.started:
                return
            from cluster.status import remove_state

            remove_state()
            for host in self.hosts:
                host.kill_actors()      # on a joined cluster they would outlive us
            self._stop_standbys()
            shutdown()
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


    def _stop_standbys(self) -> None:
        self._stopping = True
        if self._rewarming is not None:
            self._rewarming.join(30)
        with self._standby_lock:
            standbys, self._standbys = self._standbys, {}
        for handle in standbys.values():
            try:
                handle.kill(restart=False)
            except Exception as error:      # already gone
                log.debug("killing standby site actor %s: %s", handle.name, error)


def _exit_on_sigterm(number, frame):
    raise SystemExit(0)

"""Ray for vcc: start an embedded instance or join a cluster, list its nodes, place the
site actors and the virtual center on them, and shut down cleanly.

Loopback unless the operator says otherwise. Ray binds its processes to the node's address
(the machine's outward address by default); with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (set
below before Ray is imported, unless the environment sets it) and the node address 127.0.0.1
every Ray process started here listens on 127.0.0.1 only, and `start_embedded` checks that
every node registered that address. To run across machines, set
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1 and pass the machine's address to `connect`.

Processes this module starts (embedded instance, local multi-node cluster) keep everything
in one temporary directory (sessions, logs, sockets; `RAY_TMPDIR` points there while they
run) that `shutdown` removes. The embedded instance uses Ray's token authentication with a
fresh token held only in this process's environment (nothing is written to ~/.ray); see
`_auth_environment` for the one case without (a local test cluster started first) and for
leaving auth to the operator.

Only `actors/handles.py` calls actors; this module does bootstrap (ray.init, nodes,
placement) and nothing on the routing path.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import secrets  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import dataclasses  # noqa: E402
import threading  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import ray  # noqa: E402

from actors.handles import SiteHandle, VirtualCenterHandle, site_actor_name  # noqa: E402
from sites.model import SiteConfig  # noqa: E402

log = logging.getLogger(__name__)

NAMESPACE = "vcc"
LOOPBACK = "127.0.0.1"
OBJECT_STORE_BYTES = 100 * 2 ** 20     # events and actions are small; Ray's minimum is ~75 MiB
# Failure detection for LocalCluster (tests): a dead node is noticed in ~1.5 s instead of
# Ray's default ~15 s, so a killed node's site actors come back quickly.
FAST_HEALTH_CHECKS = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                      "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}
_AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    address: str
    alive: bool
    is_head: bool
    resources: dict = field(default_factory=dict)


@dataclass
class _Session:
    """What this process set up for Ray and must undo: a temp dir (and RAY_TMPDIR pointing
    there) and a local multi-node cluster."""
    temp_root: str | None = None
    saved_environment: dict = field(default_factory=dict)   # variable -> before (None: unset)
    local_cluster: "LocalCluster | None" = None


_session: _Session | None = None
_process_auth: str | None = None     # "token" | "disabled" | "operator": see _auth_environment
_process_token: str | None = None


# ---- lifecycle ---------------------------------------------------------------------------------
def _auth_environment(embedded: bool) -> dict:
    """Ray's auth variables for an instance this process starts.

    Ray reads the auth mode and the token once per process and a driver in token mode
    refuses workers that are not, so the first instance a process starts decides for all
    that follow: an embedded instance (`vcc serve`) uses token auth with a fresh token kept
    only in this process's environment (Ray then writes none to ~/.ray); a local test
    cluster started first runs without auth (Ray enables token mode only through
    `ray.init`). Nothing is decided when the operator set any of the variables.
    """
    global _process_auth, _process_token
    if _process_auth is None:
        if any(name in os.environ for name in _AUTH_VARIABLES):
            _process_auth = "operator"
        elif embedded:
            _process_auth, _process_token = "token", secrets.token_hex(32)
        else:
            _process_auth = "disabled"
    if _process_auth == "token":
        # RAY_AUTH_MODE left unset the first time: ray.init then turns token mode on in this
        # process too (and sets RAY_AUTH_MODE=token itself).
        return {"RAY_AUTH_TOKEN": _process_token} if embedded else {
            "RAY_AUTH_TOKEN": _process_token, "RAY_AUTH_MODE": "token"}
    if _process_auth == "disabled":
        return {"RAY_AUTH_MODE": "disabled"}
    return {}


def driver_auth_environment() -> dict:
    """The auth variables another process needs to join, as a driver, the instance this
    process started with `start_embedded` (its fresh token); {} when this process did not
    choose the auth (the operator's environment or a cluster joined with `connect` decides,
    and the other process must get them the same way)."""
    if _process_auth == "token":
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": _process_token}
    if _process_auth == "disabled":
        return {"RAY_AUTH_MODE": "disabled"}
    return {}


def _prepare_local(temp_dir: str | None, *, embedded: bool) -> tuple[_Session, str]:
    """Temp dir and environment for Ray processes this process starts; (session, ray dir)."""
    os.environ.update(_auth_environment(embedded))     # for the process's lifetime (see above)
    root = tempfile.mkdtemp(prefix="vcc-ray-", dir=temp_dir)
    ray_dir = os.path.join(root, "ray")       # Ray's own files: RAY_TMPDIR/ray, as it expects
    os.mkdir(ray_dir)
    session = _Session(temp_root=root,
                       saved_environment={"RAY_TMPDIR": os.environ.get("RAY_TMPDIR")})
    os.environ["RAY_TMPDIR"] = root
    return session, ray_dir


def _undo(session: _Session, remove_files: bool = True) -> None:
    for name, value in session.saved_environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if session.temp_root is not None and remove_files:
        shutil.rmtree(session.temp_root, ignore_errors=True)


def _init(**options) -> None:
    ray.init(namespace=NAMESPACE, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING, **options)


def start_embedded(*, num_cpus: int = 2, object_store_bytes: int = OBJECT_STORE_BYTES,
                   temp_dir: str | None = None) -> str:
    """Start a one-node Ray instance owned by this process, on 127.0.0.1; its address."""
    global _session
    if ray.is_initialized():
        raise RuntimeError("Ray is already initialised in this process; call shutdown() first")
    session, ray_dir = _prepare_local(temp_dir, embedded=True)
    try:
        # address="local": a new instance even if RAY_ADDRESS names another one.
        _init(address="local", num_cpus=num_cpus, object_store_memory=object_store_bytes,
              _node_ip_address=LOOPBACK, _temp_dir=ray_dir)
        _check_loopback()
    except BaseException:
        ray.shutdown()
        _undo(session)
        raise
    _session = session
    return ray.get_runtime_context().gcs_address


def connect(address: str, *, node_ip_address: str = LOOPBACK) -> None:
    """Join a running Ray cluster at `address` (host:port of its GCS) as a driver.

    `node_ip_address` is the address this process is reached at by the cluster: loopback
    for a cluster on this machine, the machine's address for one across machines.
    """
    global _session
    if ray.is_initialized():
        raise RuntimeError("Ray is already initialised in this process; call shutdown() first")
    _check_reachable(address)
    _init(address=address, _node_ip_address=node_ip_address)
    _session = _Session()


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at `address`: ray.init would retry for minutes."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as error:
        raise ConnectionError(f"nothing answers at {address!r} ({error}); is a Ray head "
                              "running there (`ray start --head`)?") from None


def start_local_cluster(*, worker_nodes: int = 1, num_cpus_per_node: int = 1,
                        object_store_bytes: int = OBJECT_STORE_BYTES,
                        system_config: dict | None = None,
                        temp_dir: str | None = None) -> "LocalCluster":
    """Start a head and `worker_nodes` more Ray nodes on this machine (loopback), each its
    own raylet as on separate machines, and connect this process to the head.

    For tests and trying multi-node behaviour on one machine (node loss included); the
    nodes are processes of this one, gone at `shutdown()` or when it exits.
    `system_config` defaults to `FAST_HEALTH_CHECKS`.
    """
    global _session
    if ray.is_initialized():
        raise RuntimeError("Ray is already initialised in this process; call shutdown() first")
    session, ray_dir = _prepare_local(temp_dir, embedded=False)
    cluster = None
    try:
        cluster = LocalCluster(ray_dir, num_cpus_per_node, object_store_bytes,
                               FAST_HEALTH_CHECKS if system_config is None else system_config)
        for _ in range(worker_nodes):
            cluster.add_node()
        _init(address=cluster.address, _node_ip_address=LOOPBACK)
        _check_loopback()
    except BaseException:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
        _undo(session)
        raise
    session.local_cluster = cluster
    _session = session
    return cluster


def shutdown(*, keep_files: bool = False) -> str | None:
    """Disconnect; stop whatever this process started (its Ray processes, the local
    cluster), remove its temp dir (unless `keep_files`: logs for a post-mortem; its path is
    returned) and restore RAY_TMPDIR. Safe to call twice."""
    global _session
    session, _session = _session, None
    try:
        ray.shutdown()
    finally:
        if session is not None:
            try:
                if session.local_cluster is not None:
                    session.local_cluster.shutdown()
            finally:
                _undo(session, remove_files=not keep_files)
    return session.temp_root if session is not None and keep_files else None


class LocalCluster:
    """Ray nodes on this machine started by `start_local_cluster` (a thin layer over
    `ray.cluster_utils.Cluster` that keeps them on loopback and in vcc's temp dir)."""

    def __init__(self, ray_dir: str, num_cpus_per_node: int, object_store_bytes: int,
                 system_config: dict):
        from ray.cluster_utils import Cluster   # a Ray test utility: only loaded when used

        self._node_options = {"node_ip_address": LOOPBACK, "include_dashboard": False,
                              "num_cpus": num_cpus_per_node, "temp_dir": ray_dir,
                              "object_store_memory": object_store_bytes}
        self._cluster = Cluster(initialize_head=True, head_node_args=dict(
            self._node_options, _system_config=system_config))
        self.head_node_id = self._cluster.head_node.node_id

    @property
    def address(self) -> str:
        return self._cluster.address

    def add_node(self) -> str:
        """Start one more worker node (wait until it registered); its node id."""
        return self._cluster.add_node(**self._node_options).node_id

    def worker_node_ids(self) -> list:
        return [node.node_id for node in self._cluster.worker_nodes]

    def kill_node(self, node_id: str) -> None:
        """SIGKILL every process of a worker node, as if its machine died."""
        for node in self._cluster.worker_nodes:
            if node.node_id == node_id:
                self._cluster.remove_node(node, allow_graceful=False)
                return
        raise ValueError(f"no worker node {node_id!r} (the head cannot be killed here)")

    def shutdown(self) -> None:
        self._cluster.shutdown()


# ---- nodes and placement ------------------------------------------------------------------------
def list_nodes(*, alive_only: bool = True) -> list:
    """The cluster's nodes (`NodeInfo`), the head first, then by node id."""
    nodes = [NodeInfo(node["NodeID"], node["NodeManagerAddress"], bool(node["Alive"]),
                      "node:__internal_head__" in node.get("Resources", {}),
                      dict(node.get("Resources", {})))
             for node in ray.nodes()]
    if alive_only:
        nodes = [node for node in nodes if node.alive]
    return sorted(nodes, key=lambda node: (not node.is_head, node.node_id))


def _check_loopback() -> None:
    away = [node.address for node in list_nodes() if node.address != LOOPBACK]
    if away:
        raise RuntimeError(f"Ray nodes registered non-loopback addresses {away}; was Ray "
                           "imported before cluster.ray_runtime with "
                           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1?")


def spread(sites, nodes) -> dict:
    """The placement rule: {site: node id}, the sites in the order given dealt round-robin
    over `nodes` (node ids or `NodeInfo`s, the head first as `list_nodes` orders them)."""
    node_ids = [node.node_id if isinstance(node, NodeInfo) else node for node in nodes]
    if not node_ids:
        raise RuntimeError("no alive Ray node to place site actors on")
    return {site: node_ids[number % len(node_ids)] for number, site in enumerate(sites)}


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


def with_journal_sites(config, known):
    """`config` (a ClusterConfig) with the sites the journal knows that it does not (added
    through Admin) as empty SiteConfigs: their actors recover them from the store, as the
    in-process durable host does (cluster/durable.py)."""
    extra = {name: SiteConfig(name) for name in known if name not in config.sites}
    if not extra:
        return config
    return dataclasses.replace(config, sites={**config.sites, **extra})


def place_site_actors(site_configs, nodes=None, *, max_restarts: int = -1,
                      named: bool = True, check_timeout_s: float = 60.0, store=None,
                      standby=None) -> dict:
    """Start one site actor per SiteConfig, spread round-robin over `nodes` (node ids or
    `NodeInfo`s; default: every alive node, head first); {site name: SiteHandle}.

    Placement is soft node affinity: if an actor's node dies, Ray restarts it (up to
    `max_restarts`, -1: always) on a live node. With a `store` (SiteStore) the restarted
    actor recovers its site from the journal; without one it starts from its configuration
    and what the site held in memory is lost.
    `named`: register each as `site_actor_name(site)` so that other drivers can look it up.
    `standby` (with no `store`): start standbys that hold no site until adopted
    (actors/site_actor.py). Returns once every actor answered; an actor not on its node
    (the node died meanwhile, or the scheduler chose otherwise) is logged.
    """
    configs = list(site_configs.values() if isinstance(site_configs, Mapping) else site_configs)
    node_ids = [node.node_id if isinstance(node, NodeInfo) else node
                for node in (list_nodes() if nodes is None else nodes)]
    if not node_ids:
        raise RuntimeError("no alive Ray node to place site actors on")
    handles, targets = {}, spread([config.name for config in configs], node_ids)
    for config in configs:
        target = targets[config.name]
        handles[config.name] = SiteHandle.create(
            config, node_id=target, name=site_actor_name(config.name) if named else None,
            max_restarts=max_restarts, store=store, standby=standby)
    for name, handle in handles.items():
        where = handle.info_blocking(check_timeout_s).node_id
        if where != targets[name]:
            log.warning("site actor %s runs on node %s, not on %s as placed", name, where,
                        targets[name])
    return handles


def start_virtual_center(bsr_config, node=None, *, max_restarts: int = -1,
                         named: bool = True) -> VirtualCenterHandle:
    """Start the virtual center actor (Best Service Routing), on `node` if given (soft)."""
    node_id = node.node_id if isinstance(node, NodeInfo) else node
    kwargs = {} if named else {"name": None}
    return VirtualCenterHandle.create(bsr_config, node_id=node_id, max_restarts=max_restarts,
                                      **kwargs)


# ---- `vcc serve --runtime ray` ---------------------------------------------------------------
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

        # Until serve installs its own handlers: SIGTERM must still clean Ray up.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        self.started = True        # from here on `stop` has something to undo
        try:
            if self.ray_address:
                connect(self.ray_address)
                self.gcs_address = self.ray_address
            else:
                self.gcs_address = start_embedded()
        except Exception as error:
            what = f"join {self.ray_address}" if self.ray_address else "start embedded Ray"
            raise RayStartError(f"cannot {what}: {error}") from error

    # ---- `vcc serve --runtime ray --etcd`: one RayHost per term (cluster/leader_gate.py) ----
    def leader_hosts(self, config) -> tuple:
        """(open_host, close_host) for the leader gate: a RayHost per term. Starts this
        process's standby site actors for `config` now (so a takeover need not wait for Ray
        to start worker processes)."""
        self._leader_config = config
        self._start_standbys()
        return self.open_leader_host, self.close_leader_host

    def _start_standbys(self) -> None:
        from cluster.store.site_store import SiteStore

        with self._standby_lock:
            if self._stopping or self._standbys:
                return
            config = self._leader_config
            self._standbys = place_site_actors(config.sites, named=False,
                                               standby=SiteStore(self.db_url))

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
        from cluster.store.journal import Journal, journal_sites, leader_session_options
        from cluster.store.migrate import upgrade
        from cluster.store.site_store import SiteStore

        began = time.perf_counter()
        engine = open_engine(url, **leader_session_options(url, token))
        try:
            upgrade(engine)
            known = journal_sites(engine)
            journal = Journal(engine, fencing_token=token)
            try:
                journal.claim_now(sorted(set(config.sites) | set(known)), token)
            finally:
                journal.close()
        finally:
            engine.dispose()
        store = SiteStore(url, fencing_token=token, snapshot_every=snapshot_every)
        config = with_journal_sites(config, known)
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
            host.adopt_store()
            live = host.recover_directory()
        except BaseException as error:
            host.kill_actors()
            raise_if_unrecoverable(url, error)
            raise
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

            from cluster.store.journal import journal_sites

            engine = open_engine(self.db_url)
            try:
                upgrade(engine)         # once, here: actors opening it at once would race
                config = with_journal_sites(config, journal_sites(engine))
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

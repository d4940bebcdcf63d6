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
from collections.abc import Mapping  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import ray  # noqa: E402

from actors.handles import SiteHandle, VirtualCenterHandle, site_actor_name  # noqa: E402

log = logging.getLogger(__name__)

NAMESPACE = "vcc"
LOOPBACK = "127.0.0.1"
OBJECT_STORE_BYTES = 100 * 2 ** 20     # events and actions are small; Ray's minimum is ~75 MiB
# Failure detection for LocalCluster (tests): a dead node is noticed in ~1.5 s instead of
# Ray's default ~15 s, so a killed node's site actors come back quickly.
FAST_HEALTH_CHECKS = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                      "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}
# The embedded instance starts no idle workers when this process connects (Ray's default
# starts num_cpus of them, and they stay). vcc runs actors only, each in a worker of its own:
# of the two prestarted workers one became the standby site actor's and the other idled for
# the gateway's whole life (~0.8 % of a core, its memory). Measured on 2 cores (8 starts
# each): a gateway's Ray start plus standby actors used 5.5 instead of 5.9 CPU-seconds;
# ray.init itself is ~0.6 s shorter (the driver's connect no longer competes with two
# worker processes starting), the standby actor then starts its worker itself: the time
# to standby actors that answer is about the same (median 5.1 s vs 5.3 s).
EMBEDDED_SYSTEM_CONFIG = {"prestart_worker_first_driver": False}
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
              _node_ip_address=LOOPBACK, _temp_dir=ray_dir,
              _system_config=dict(EMBEDDED_SYSTEM_CONFIG))
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

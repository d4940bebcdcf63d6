"""`vcc status`: what a running vcc cluster is made of, as a table — Ray nodes, vcc's
actors, and per site its skills, queues and agents — read as a Ray driver; and
`vcc rebalance`: ask the running server to spread its site actors over the alive nodes.

Finding the cluster. `vcc serve` writes a small state file, by default
`~/.vcc/cluster.json` (the directory is `$VCC_STATE_DIR` when set), mode 0600 in a 0700
directory, and removes it when it stops. It holds the Ray address the server uses, the
server's pid and gRPC address, its sites, and, for the embedded Ray instance (which runs
with Ray token authentication and a fresh token), that token: whoever can read the file
can join that Ray instance, exactly like the user who started it. `vcc status` connects
to the address in it (or to `--address ADDR`, with the caller's own Ray auth environment),
reads the named site actors (`vcc-site:<site>`, see actors.handles.site_actor_name) and
disconnects; it changes nothing. An in-process server (`--runtime inprocess`) records no
Ray address: `vcc status` then reads its sites over gRPC (Admin.ListSites, ListAgents,
Routing.GetStatistics; `--token` when the server wants one: roles admin and crm).

`vcc rebalance` computes the placement (`cluster.ray_runtime.spread`: the sites in the
server's order dealt round-robin over the alive nodes, head first), sends SIGUSR1 to the
server (pid from the state file), which moves each misplaced site actor under its host lock
(`RayHost.move_site`: snapshot, new actor on the target node, switch, no event lost), and
waits until every site actor runs where planned. Sites added later through Admin.PutSite
are moved by the server but not waited for (the state file lists the configured sites).

Leadership: without `--etcd` there is one gateway, the `vcc serve` process, shown as
"in-process (single gateway)". With `--etcd ENDPOINTS` (gateways run with `vcc serve
--etcd`) the leader is read from etcd: its node, address, term and fencing token; with no
Ray state file (in-process gateways) that is all it shows.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_DIR_VARIABLE = "VCC_STATE_DIR"
LEADER = "in-process (single gateway)"
SITE_ACTOR_PREFIX = "vcc-site:"


# ---- the state file ------------------------------------------------------------------------
def state_path() -> Path:
    base = os.environ.get(STATE_DIR_VARIABLE)
    return (Path(base) if base else Path.home() / ".vcc") / "cluster.json"


def write_state(ray_address: str, grpc_address: str, sites, auth_environment: dict) -> Path:
    """Record the running server for `vcc status` and `vcc rebalance` (atomically; private
    to the user). `sites` in placement order (the order `ray_runtime.spread` deals them)."""
    path = state_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    record = {"ray_address": ray_address, "pid": os.getpid(), "grpc_address": grpc_address,
              "sites": list(sites), "ray_auth": dict(auth_environment)}
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".cluster-", suffix=".json")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w") as file:
            json.dump(record, file, indent=1)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return path


def read_state() -> dict | None:
    try:
        with open(state_path()) as file:
            return json.load(file)
    except (OSError, ValueError):
        return None


def remove_state(pid: int | None = None) -> None:
    """Remove the state file if it is this process's (another server may have replaced it)."""
    record = read_state()
    if record is not None and record.get("pid") == (os.getpid() if pid is None else pid):
        try:
            state_path().unlink()
        except OSError:
            pass


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError):
        return True
    return True


# ---- gathering -------------------------------------------------------------------------------
@dataclass
class SiteRow:
    site: str
    node_id: str | None = None
    skills: dict = field(default_factory=dict)     # skill -> {queued, staffed, available}
    contacts: int = 0
    agents: int = 0
    logged_in: int | None = 0       # None: not known (an in-process server, read over gRPC)
    ready: int | None = 0
    error: str | None = None


@dataclass
class ClusterStatus:
    ray_address: str
    leader: str
    gateway: dict | None
    nodes: list            # {node_id, alive, address, cpus, head}
    actors: list           # {name, class, node_id, state, pid, restarts}
    sites: list            # SiteRow

    def as_dict(self) -> dict:
        return asdict(self)


def gather_status(ray_address: str, gateway: dict | None = None,
                  timeout_s: float = 10.0) -> ClusterStatus:
    """Read the cluster (this process must be connected to it as a Ray driver)."""
    import ray
    import ray._private.state as ray_state    # GCS tables; Ray's state API needs the dashboard

    from actors.handles import SiteHandle
    from cluster import ray_runtime

    nodes = [{"node_id": node.node_id, "alive": node.alive, "address": node.address,
              "cpus": node.resources.get("CPU", 0.0), "head": node.is_head}
             for node in ray_runtime.list_nodes(alive_only=False)]
    actors = []
    for actor in ray_state.actors().values():
        name = actor.get("Name") or ""
        if actor.get("State") == "DEAD" or not name.startswith("vcc-"):
            continue
        actors.append({"name": name, "class": actor.get("ActorClassName"),
                       "node_id": (actor.get("Address") or {}).get("NodeID"),
                       "state": actor.get("State"), "pid": actor.get("Pid"),
                       "restarts": actor.get("NumRestarts", 0)})
    actors.sort(key=lambda row: row["name"])
    names = sorted(name[len(SITE_ACTOR_PREFIX):] for name in ray.util.list_named_actors()
                   if name.startswith(SITE_ACTOR_PREFIX))
    sites = []
    for site in names:
        row = SiteRow(site)
        try:
            handle = SiteHandle.lookup(site)
            summary = handle.summary_blocking(timeout_s)
            row.node_id = handle.info_blocking(timeout_s).node_id
        except Exception as error:        # a restarting or dead actor: shown, not fatal
            row.error = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        else:
            row.skills = summary["skills"]
            row.contacts, row.agents = summary["contacts"], summary["agents"]
            row.logged_in, row.ready = summary["logged_in"], summary["ready"]
        sites.append(row)
    return ClusterStatus(ray_address, LEADER, gateway, nodes, actors, sites)


def render_status(status: ClusterStatus, console) -> None:
    from rich.table import Table

    def short(node_id):
        return (node_id or "-")[:12]

    gateway = status.gateway or {}
    console.print(f"Ray: {status.ray_address}    leader: {status.leader}"
                  + (f"    gateway: pid {gateway['pid']} gRPC {gateway['grpc_address']}"
                     if gateway else ""))
    nodes = Table(title="Ray nodes")
    for column in ("node", "alive", "address", "CPUs", "role"):
        nodes.add_column(column)
    for node in status.nodes:
        nodes.add_row(short(node["node_id"]), "yes" if node["alive"] else "no", node["address"],
                      f"{node['cpus']:g}", "head" if node["head"] else "worker")
    if status.nodes:
        console.print(nodes)
    actors = Table(title="vcc actors")
    for column in ("name", "node", "state", "pid", "restarts"):
        actors.add_column(column)
    for actor in status.actors:
        actors.add_row(actor["name"], short(actor["node_id"]), str(actor["state"]),
                       str(actor["pid"]), str(actor["restarts"]))
    if status.actors:
        console.print(actors)
    sites = Table(title="sites")
    for column in ("site", "node", "skill", "queued", "staffed", "ready", "agents (logged in)"):
        sites.add_column(column)
    for row in status.sites:
        if row.error is not None:
            sites.add_row(row.site, short(row.node_id), "-", "-", "-", "-", row.error)
            continue
        skills = row.skills or {"-": {"queued": 0, "staffed": 0, "available": 0}}
        for number, (skill, figures) in enumerate(sorted(skills.items())):
            first = number == 0
            sites.add_row(row.site if first else "", short(row.node_id) if first else "",
                          skill, str(figures["queued"]), str(figures["staffed"]),
                          str(figures["available"]),
                          (f"{row.agents}" if row.logged_in is None else
                           f"{row.agents} ({row.logged_in}, {row.ready} ready)") if first else "")
    console.print(sites)


# ---- the commands -------------------------------------------------------------------------
def _running_server(command: str):
    """The state file's record of a running server, or None (the problem is printed)."""
    record = read_state()
    if record is None:
        print(f"vcc {command}: no running vcc server found ({state_path()} does not exist); "
              "start one with `vcc serve`" + (" or pass --address" if command == "status" else ""),
              file=sys.stderr)
        return None
    if not _pid_alive(record.get("pid")):
        print(f"vcc {command}: the server recorded in {state_path()} (pid {record.get('pid')}) "
              "is not running", file=sys.stderr)
        return None
    return record


def etcd_leader(endpoints: str, prefix: str, ca=None, cert=None, key=None,
                timeout_s: float = 10.0) -> dict:
    """Who leads according to etcd: {node_id, address, term, token}, or {} when nobody
    does. Raises EtcdConfigError for bad settings, OSError/TimeoutError when etcd is down."""
    import asyncio

    from cluster.leadership.etcd import EtcdConfig, EtcdLeadership

    config = EtcdConfig(endpoints=endpoints, prefix=prefix, ca_file=ca, cert_file=cert,
                        key_file=key)

    async def read():
        # An observer that never campaigns: it only reads the leader key.
        leadership = EtcdLeadership(config, "vcc-status")
        try:
            return await asyncio.wait_for(leadership.current_leader(), timeout_s)
        finally:
            await leadership.close()
    info = asyncio.run(read())
    if info is None:
        return {}
    return {"node_id": info.node_id, "address": info.address, "term": info.term,
            "token": info.token}


def _etcd_status(args) -> dict | int:
    from cluster.arguments import files_problem
    from cluster.leadership.etcd import EtcdConfigError

    problem = files_problem((("--etcd-ca", args.etcd_ca), ("--etcd-cert", args.etcd_cert),
                             ("--etcd-key", args.etcd_key)))
    if problem:
        print(f"vcc status: {problem}", file=sys.stderr)
        return 2
    try:
        return etcd_leader(args.etcd, args.etcd_prefix, args.etcd_ca, args.etcd_cert,
                           args.etcd_key)
    except EtcdConfigError as error:
        print(f"vcc status: --etcd: {error}", file=sys.stderr)
        return 2
    except Exception as error:          # etcd unreachable: say so, do not hang
        print(f"vcc status: cannot read the leader from etcd {args.etcd}: "
              f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1


def _leader_text(leader: dict) -> str:
    if not leader:
        return "none (no gateway leads now)"
    return (f"{leader['node_id']} at {leader['address']}, term {leader['term']}, "
            f"fencing token {leader['token']}")


def gather_grpc_status(grpc_address: str, token: str | None = None,
                       timeout_s: float = 10.0) -> ClusterStatus:
    """An in-process server's sites, read over gRPC (no Ray nodes or actors to show)."""
    import asyncio

    from cluster.client import VccClient
    from vcc.v1 import admin_pb2, routing_pb2

    async def read() -> list:
        rows = []
        async with VccClient(grpc_address, token=token) as client:
            sites = await client.admin.ListSites(admin_pb2.ListRequest(), timeout=timeout_s)
            for site in sites.sites:
                row = SiteRow(site.name, node_id="in-process")
                agents = await client.admin.ListAgents(admin_pb2.ListRequest(site=site.name),
                                                       timeout=timeout_s)
                statistics = await client.routing.GetStatistics(
                    routing_pb2.GetStatisticsRequest(site=site.name), timeout=timeout_s)
                row.agents = len(agents.agents)
                row.skills = {skill.skill: {"queued": sum(skill.queued),
                                            "staffed": skill.staffed,
                                            "available": skill.ready}
                              for skill in statistics.skills}
                row.contacts = sum(figures["queued"] for figures in row.skills.values())
                row.logged_in = row.ready = None
                rows.append(row)
        return rows

    return ClusterStatus("none (in-process runtime)", LEADER, None, [], [],
                         asyncio.run(asyncio.wait_for(read(), timeout_s * 4)))


def _status(args) -> int:
    leader = None
    if args.etcd:
        leader = _etcd_status(args)
        if isinstance(leader, int):
            return leader
        if not args.address and read_state() is None:
            # In-process gateways under etcd leadership: no Ray to read, the leader is all.
            if args.json:
                print(json.dumps({"leader": leader}, sort_keys=True))
            else:
                print(f"leader: {_leader_text(leader)}")
            return 0
    record = read_state()
    gateway = None
    if args.address:
        address = args.address
        if record is not None and record.get("ray_address") == address:
            os.environ.update(record.get("ray_auth") or {})
            gateway = record
    else:
        record = _running_server("status")
        if record is None:
            return 1
        if not record.get("ray_address"):
            return _grpc_status(args, record, leader)
        address = record["ray_address"]
        os.environ.update(record.get("ray_auth") or {})
        gateway = record
    from cluster import ray_runtime   # before Ray: keeps it on loopback

    try:
        ray_runtime.connect(address)
    except Exception as error:
        print(f"vcc status: cannot join Ray at {address}: {error}", file=sys.stderr)
        return 1
    try:
        status = gather_status(address, None if gateway is None else {
            "pid": gateway.get("pid"), "grpc_address": gateway.get("grpc_address")})
    finally:
        ray_runtime.shutdown()
    if leader is not None:
        status.leader = _leader_text(leader)
    if args.json:
        print(json.dumps(status.as_dict(), sort_keys=True))
    else:
        from rich.console import Console

        render_status(status, Console())
    return 0


def _grpc_status(args, record: dict, leader) -> int:
    import grpc

    try:
        status = gather_grpc_status(record["grpc_address"], args.token)
    except grpc.aio.AioRpcError as error:
        print(f"vcc status: {record['grpc_address']}: {error.code().name}: {error.details()}",
              file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as error:
        print(f"vcc status: cannot read {record['grpc_address']}: {type(error).__name__}",
              file=sys.stderr)
        return 1
    status.gateway = {"pid": record.get("pid"), "grpc_address": record["grpc_address"]}
    if leader is not None:
        status.leader = _leader_text(leader)
    if args.json:
        print(json.dumps(status.as_dict(), sort_keys=True))
    else:
        from rich.console import Console

        render_status(status, Console())
    return 0


def _rebalance(args) -> int:
    """Ask the running server (SIGUSR1) to place its site actors by the spreading rule over
    the alive nodes, and wait until every site actor runs where the rule puts it."""
    import signal
    import time

    record = _running_server("rebalance")
    if record is None:
        return 1
    os.environ.update(record.get("ray_auth") or {})
    from cluster import ray_runtime   # before Ray: keeps it on loopback

    from actors.handles import ActorUnavailable, SiteHandle

    try:
        ray_runtime.connect(record["ray_address"])
    except Exception as error:
        print(f"vcc rebalance: cannot join Ray at {record['ray_address']}: {error}",
              file=sys.stderr)
        return 1
    try:
        nodes = ray_runtime.list_nodes()
        plan = ray_runtime.spread(record["sites"], nodes)
        os.kill(int(record["pid"]), signal.SIGUSR1)
        deadline = time.monotonic() + args.timeout
        while True:             # bounded by --timeout
            placed = {}
            for site in plan:
                try:
                    placed[site] = SiteHandle.lookup(site).info_blocking(5.0).node_id
                except (ValueError, ActorUnavailable, TimeoutError):
                    placed[site] = None         # being moved right now
            if placed == plan or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        ray_runtime.shutdown()
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"site actors over {len(nodes)} alive node(s)")
    for column in ("site", "node", "as the rule places it"):
        table.add_column(column)
    for site, target in plan.items():
        table.add_row(site, (placed[site] or "(moving)")[:12],
                      "yes" if placed[site] == target else f"no: {target[:12]}")
    Console().print(table)
    if placed != plan:
        print(f"vcc rebalance: not placed as planned after {args.timeout:g} s; see the server's "
              "log", file=sys.stderr)
        return 1
    return 0


def add_status_parser(commands) -> None:
    """`vcc status` (reads the state file `vcc serve` writes, or --address)."""
    status = commands.add_parser("status", help="show the running cluster: Ray nodes, actors, "
                                                "sites, queues, agents and the leader")
    status.add_argument("--address", default=None,
                        help="Ray address (host:port of its GCS) to read; default: the one "
                             f"`vcc serve` recorded in {state_path()}")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.add_argument("--token", default=None,
                        help="bearer token for an in-process server that wants one (roles "
                             "admin and crm)")
    status.add_argument("--etcd", default=None, metavar="HOST:PORT[,...]",
                        help="read the leader, its term and fencing token from these etcd "
                             "endpoints (gateways run with `vcc serve --etcd`)")
    status.add_argument("--etcd-prefix", default="/vcc/leadership", help="election key prefix")
    status.add_argument("--etcd-ca", default=None, help="CA bundle: TLS to etcd")
    status.add_argument("--etcd-cert", default=None, help="client certificate to etcd")
    status.add_argument("--etcd-key", default=None, help="client key to etcd")
    status.set_defaults(run=_status)


def add_rebalance_parser(commands) -> None:
    """`vcc rebalance` (the server is found through the state file `vcc serve` writes)."""
    rebalance = commands.add_parser(
        "rebalance", help="spread the running server's site actors over the alive Ray nodes "
                          "(after `ray start --address ...` added one); no contact is lost")
    from cluster.arguments import number

    rebalance.add_argument("--timeout", type=number(0.0, 86_400.0, exclusive_minimum=True),
                           default=120.0,
                           help="seconds to wait for every site actor to be in place (120)")
    rebalance.set_defaults(run=_rebalance)

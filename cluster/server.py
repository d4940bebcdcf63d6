"""The vcc gRPC server: the four vcc.v1 services over one `CoreHost`, plus standard health
checking and server reflection, on grpc.aio.

`build_server` assembles an unstarted server (tests bind port 0 on 127.0.0.1); `serve`
runs one until SIGINT/SIGTERM and shuts down gracefully: health goes NOT_SERVING, the host
ends every stream (PBX links are told to reconnect), then in-flight calls get `grace_s`.
Security (TLS credentials, the bearer-token interceptor) and tracing come in through the
`credentials` and `interceptors` parameters (cluster/security.py, cluster/tracing.py).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import os
import signal
import sys

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cluster.admission import AdmissionInterceptor, Budgets
from cluster.config import load_config
from cluster.host import CoreHost
from cluster.leader_gate import HostSwitch
from cluster.services import SERVICE_NAMES
from cluster.servicers import (
    AdminServicer,
    AgentControlServicer,
    CallControlServicer,
    CrmServicer,
    MarketingServicer,
    RoutingServicer,
)
from vcc.v1 import (
    admin_pb2_grpc,
    agent_control_pb2_grpc,
    call_control_pb2_grpc,
    crm_pb2_grpc,
    routing_pb2_grpc,
)

DEFAULT_ADDRESS = "127.0.0.1:50051"

log = logging.getLogger(__name__)


class HealthServicer(health.aio.HealthServicer):
    """The reference asyncio health servicer, SERVING for the server ("") and for each vcc
    service from the start (its async `set` cannot be awaited while building the server)."""

    def __init__(self, services=SERVICE_NAMES):
        super().__init__()
        for service in services:
            self._server_status[service] = health_pb2.HealthCheckResponse.SERVING


def build_server(host: CoreHost, *, address: str = DEFAULT_ADDRESS, credentials=None,
                 interceptors=(), maximum_concurrent_rpcs: int | None = None,
                 budgets: Budgets | None = None, options=(),
                 callers=None, customer_store=None,
                 metrics=None, config_tables=None,
                 campaign_snapshot_every: int | None = None) -> tuple[grpc.aio.Server, int]:
    """An unstarted server with every vcc service bound to `address`, and the bound port
    (port 0 picks a free one). `callers` (cluster/customers/callers.py): arrivals get their
    caller's customer tier from it. `customer_store`: the Engine the Crm and Marketing
    services read and write (None: they answer FAILED_PRECONDITION). `server.health` is its
    HealthServicer, `server.marketing` its MarketingServicer; `server.admission` its
    AdmissionInterceptor: `budgets` per kind of call (cluster/admission.py), or the
    defaults with `maximum_concurrent_rpcs` unary calls. gRPC's own limit is not used: it
    counts idle streams and unary calls alike, so streams could starve everything else.
    `metrics` (cluster/metrics.py): the PBX links and RouteContact measure route latency.
    `config_tables` (cluster/store/config_tables.py): Admin's changes of sites, skills and
    agents are written to the store's configuration tables (`server.config_tables`)."""
    if budgets is None:
        budgets = Budgets() if maximum_concurrent_rpcs is None else Budgets(
            unary=maximum_concurrent_rpcs)
    admission = AdmissionInterceptor(budgets)
    # Last: after authentication and the leader gate, only calls that will run hold a place.
    # SO_REUSEPORT off (gRPC sets it by default on Linux): with it a second server binds an
    # address another already listens on and the kernel splits the connections between
    # them (a standby started on the leader's port would take half its PBX links).
    server = grpc.aio.server(interceptors=list(interceptors) + [admission],
                             options=[("grpc.so_reuseport", 0), *options])
    server.admission = admission
    server.config_tables = config_tables
    link_delay_s = budgets.link_delay_ms / 1000.0 if budgets.link_delay_ms else None
    # Outbound campaigns keep their lists in the customer store (cluster/campaigns/).
    server.campaigns = None
    # A leader gate's switch: each term's host is attached to the campaigns when it leads
    # (cluster/leader_gate.py), which resume from their journal.
    leading = isinstance(host, HostSwitch)
    if customer_store is not None and (leading or hasattr(host, "observe_applied")):
        from cluster.campaigns.attempts import AttemptStore, AttemptWriter
        from cluster.campaigns.do_not_call_store import DoNotCallStore, phone_key_secret
        from cluster.campaigns.hosting import CampaignHost
        from cluster.campaigns.journal import CampaignJournal
        from cluster.campaigns.store import CampaignStore

        snapshots = ({} if campaign_snapshot_every is None
                     else {"snapshot_every": campaign_snapshot_every})

        # The numbers' keys are made with the center's secret kept in the store: the
        # do-not-call lists stored as keys stay valid across restarts.
        server.campaigns = CampaignHost(None if leading else host,
                                        CampaignStore(customer_store),
                                        secret=functools.partial(phone_key_secret,
                                                                 customer_store),
                                        do_not_call=DoNotCallStore(customer_store),
                                        attempts=AttemptWriter(AttemptStore(customer_store)),
                                        journal=CampaignJournal(customer_store,
                                                                **snapshots))
    call_control_pb2_grpc.add_CallControlServicer_to_server(
        CallControlServicer(host, max_link_delay_s=link_delay_s, callers=callers,
                            metrics=metrics, campaigns=server.campaigns), server)
    pops = callers.pops if callers is not None else None
    agent_control_pb2_grpc.add_AgentControlServicer_to_server(
        AgentControlServicer(host, pops=pops, customer_store=customer_store,
                             campaigns=server.campaigns), server)
    routing_pb2_grpc.add_RoutingServicer_to_server(RoutingServicer(host, callers, metrics),
                                                   server)
    admin_pb2_grpc.add_AdminServicer_to_server(AdminServicer(host, server.campaigns,
                                                           has_store=customer_store is not None,
                                                           config_tables=config_tables),
                                             server)
    crm_pb2_grpc.add_CrmServicer_to_server(CrmServicer(customer_store, pops, callers), server)
    # Kept on the server: `shutdown` ends its ranking streams.
    server.marketing = MarketingServicer(customer_store)
    crm_pb2_grpc.add_MarketingServicer_to_server(server.marketing, server)
    server.health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(server.health, server)
    reflection.enable_server_reflection(
        SERVICE_NAMES + (health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                         reflection.SERVICE_NAME), server)
    if credentials is not None:
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if not port:
        raise OSError(f"vcc: cannot listen on {address}")
    return server, port


def has_customers(engine) -> bool:
    """Whether the store at `engine` holds any customer (False: no such table yet)."""
    import sqlalchemy as sa

    from cluster.store.models import Customer

    try:
        with engine.connect() as connection:
            return connection.execute(sa.select(Customer.__table__.c.customer_id).limit(1)
                                      ).first() is not None
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        return False


async def shutdown(server: grpc.aio.Server, host: CoreHost, grace_s: float = 5.0) -> None:
    """Health NOT_SERVING, every stream ended (the host's, the ranking streams), then
    `grace_s` for other calls."""
    await server.health.enter_graceful_shutdown()
    server.marketing.close()
    if server.campaigns is not None:
        await server.campaigns.close()
    if getattr(server, "config_tables", None) is not None:
        await server.config_tables.close()      # a change just made is written
    await host.close()
    await server.stop(grace_s)


# Collections of the youngest generation start after this many more container objects
# exist than at the last one (Python's default: 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Garbage-collector settings for a long-running server process; call once it has
    started (what exists then lives as long as the process). Not done by `serve` itself:
    it changes the whole process, which is the caller's to decide (tests run `serve`).

    - Freeze what exists: modules, the configuration and every agent are tens of thousands
      of objects that every full collection would walk again (measured on a 2-core machine
      at 6,000 contacts/s: full collections every second or so, 20-200 ms each).
    - A larger young-generation threshold: contacts, actions and messages live for a few
      ms; with the default threshold they are scanned more than 100 times a second and
      many get promoted before they die, which is what triggers the full collections.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _http_first(run):
    """`serve` with `metrics` and/or `wallboard`: they listen before anything else starts (a
    port in use stops the server before it does anything) and stop after everything else."""
    @functools.wraps(run)
    async def serve(*args, metrics=None, wallboard=None, **kwargs):
        listening = [server for server in (metrics, wallboard) if server is not None]
        started = []
        try:
            for server in listening:
                await server.start()
                started.append(server)
            return await run(*args, metrics=metrics, wallboard=wallboard, **kwargs)
        finally:
            for server in reversed(started):
                await server.close()
    return serve


@_http_first
async def serve(config_path=None, address: str = DEFAULT_ADDRESS, *, credentials=None,
                interceptors=(), maximum_concurrent_rpcs: int | None = None,
                budgets: Budgets | None = None, options=(),
                grace_s: float = 5.0, started=None, db_url: str | None = None,
                host_factory=None, leadership_factory=None,
                advertise: str | None = None, leader_hosts=None,
                customers_url: str | None = None, metrics=None, wallboard=None,
                campaign_snapshot_every: int | None = None) -> None:
    """Run a server on the configuration file (None: the bundled two-site default; or a
    loaded ClusterConfig) until
    SIGINT or SIGTERM. `started(port)` is called once it listens. `db_url`: journal every
    event in that database and recover the sites from it on start (cluster/durable.py).
    `host_factory(config)`: builds the host from the loaded `ClusterConfig` instead of an
    in-process `CoreHost` (e.g. `cluster.ray_host.RayHost`: the sites in Ray actors).
    `leadership_factory(address)` (with `db_url`): a `Leadership` advertising `address`
    (`advertise`, default this server's host:port); the server then serves only while it
    leads (cluster/leader_gate.py). `leader_hosts`: (open_host, close_host) of each term's
    host for the gate (default: the durable in-process host; the Ray runtime's are
    `ServeSession.leader_hosts()`). `customers_url`: the customer store (the same database
    as `--db`): the Crm and Marketing services use it, and arrivals' callers are looked up
    in it (tiers, screen pops) when the configuration has tiers or the store has customers
    (cluster/customers/callers.py: a center that keeps none pays no lookup). `metrics`: a
    `cluster.metrics.Metrics` not yet started: it counts what the host (each term's, with
    leadership) does and serves /metrics from before the server starts until it stops.
    `wallboard`: a `cluster.wallboard.Wallboard` not yet started: it serves the live page
    the same way, read from the host (the gate's, with leadership) and, with a customer
    store, the Marketing service's ranking and the campaigns this server runs."""
    if host_factory is not None and db_url is not None:
        raise ValueError("serve: db_url journals an in-process host; it cannot be combined "
                         "with host_factory yet")
    config = load_config(config_path)
    gate = None
    if leadership_factory is not None:
        if db_url is None:
            raise ValueError("serve: leadership needs db_url: a new leader recovers from it")
        from cluster.leader_gate import LeaderGate

        open_host, close_host = leader_hosts or (None, None)
        gate = LeaderGate(config, db_url, None, open_host=open_host, close_host=close_host)
        host = gate.switch
        # Last, after auth: an unauthenticated caller is refused before learning the leader.
        interceptors = list(interceptors) + [gate.interceptor()]
    elif db_url is not None:
        from cluster.durable import open_durable_host

        host, recovery = await open_durable_host(config, db_url)
        log.info("vcc: store %s: recovered %s, started %s in %.2f s", db_url,
                 recovery.recovered or "nothing", recovery.started or "nothing",
                 recovery.seconds)
    else:
        host = (host_factory or CoreHost)(config)
    callers = customer_store = config_tables = None
    if customers_url is not None:
        from cluster.store.config_tables import ConfigTables
        from cluster.store.db import open_engine

        customer_store = open_engine(customers_url)
        config_tables = ConfigTables(customer_store, config)
    if customer_store is not None:
        from cluster.customers.callers import Callers
        from cluster.customers.directory import open_directory
        from cluster.customers.screen_pop import ScreenPops

        check = functools.partial(has_customers, customer_store)
        callers = Callers(open_directory(customer_store), config.tiers,
                          ScreenPops(customer_store),
                          enabled=bool(config.tiers) or await asyncio.to_thread(check),
                          check=None if config.tiers else check)
    if metrics is not None:
        if gate is not None:
            gate.metrics = metrics          # attached to each term's host
        else:
            metrics.attach(host)
        metrics.read_from(host, gate)
    server, port = build_server(host, address=address, credentials=credentials,
                                interceptors=interceptors,
                                maximum_concurrent_rpcs=maximum_concurrent_rpcs,
                                budgets=budgets, options=options, callers=callers,
                                customer_store=customer_store, metrics=metrics,
                                config_tables=config_tables,
                                campaign_snapshot_every=campaign_snapshot_every)
    if config_tables is not None:
        if gate is not None:
            gate.config_tables = config_tables      # each term's host, once it serves
        else:
            await config_tables.write(host)
    if server.campaigns is not None:
        if gate is not None:
            gate.campaigns = server.campaigns       # each term's host, when it leads
        else:
            # Before serving: the campaigns a previous run of this server left running go
            # on from their journal (the store of either runtime's --db).
            await server.campaigns.attach(host)
    if wallboard is not None:
        wallboard.read_from(host, targets=config.sl_targets, gate=gate,
                            ranking=server.marketing.ranking if customer_store is not None
                            else None, campaigns=server.campaigns)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    gate_task = None
    if gate is not None:
        gate.health = server.health
        gate.advertise = advertise or f"{address.rsplit(':', 1)[0].strip('[]')}:{port}"
        gate.leadership = leadership_factory(gate.advertise)
        await gate._set_health(False)      # a standby until it leads
    await server.start()
    if gate is not None:
        gate_task = loop.create_task(gate.run(stop))
        gate_task.add_done_callback(lambda task: stop.set())     # a crashed gate stops the server
    log.info("vcc: serving %s on port %d (sites: %s)", address, port, ", ".join(host.site_names()))
    if started is not None:
        started(port)
    try:
        await stop.wait()
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
        await shutdown(server, host, grace_s)
        if gate is not None:
            stop.set()
            try:
                await asyncio.wait_for(gate_task, 15.0)     # steps down: closes the host
            finally:
                await gate.leadership.close()               # resigns: a standby takes over
            if gate_task.done() and not gate_task.cancelled() and gate_task.exception():
                raise gate_task.exception()
        elif db_url is not None:
            from cluster.durable import close_durable_host

            await close_durable_host(host)
        if callers is not None:
            await callers.close()
        if customer_store is not None:
            customer_store.dispose()


def main(argv=None) -> int:
    """`python -m cluster.server [--config FILE] [--address HOST:PORT]` (no TLS, no auth)."""
    from cluster.config import ConfigFileError

    parser = argparse.ArgumentParser(prog="python -m cluster.server")
    parser.add_argument("--config", default=None, help="cluster YAML (default: the bundled "
                                                       "two-site configuration)")
    parser.add_argument("--address", default=DEFAULT_ADDRESS)
    parser.add_argument("--db", default=None, help="journal in this database (SQLAlchemy URL)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)

    def started(port):
        tune_gc()
        print(f"vcc: listening on port {port}", flush=True)

    # VCC_PROFILE=FILE: cProfile the whole server (loadtests/grpc_bench.py --profile); the
    # stats are written when it stops, e.g. on SIGTERM.
    profile_path = os.environ.get("VCC_PROFILE")
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        asyncio.run(serve(args.config, args.address, started=started, db_url=args.db))
    except ConfigFileError as error:
        print(f"vcc serve: {error}", file=sys.stderr)
        return 2
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

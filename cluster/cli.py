"""The `vcc` command. Subcommands stay thin: they parse arguments and call one function."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points


def _serve(args) -> int:
    import asyncio
    import dataclasses
    import logging

    from cluster.admission import Budgets
    from cluster.config import ConfigFileError
    from cluster.masking import install_log_masking
    from cluster.security import (AuthInterceptor, SecurityConfigError, load_tokens,
                                  server_credentials)
    from cluster.server import serve, tune_gc
    from cluster.store.db import StoreUrlError
    from cluster.store.snapshots import RecoveryError
    from cluster.tracing import TracingInterceptor, configure_tracing

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_masking()
    log = logging.getLogger("vcc.serve")
    try:
        budgets = Budgets(unary=args.max_concurrent_rpcs, pbx_links=args.max_pbx_links,
                          streams=args.max_streams, streams_per_peer=args.max_streams_per_peer,
                          link_delay_ms=args.max_link_delay_ms)
    except ValueError as error:
        print(f"vcc serve: {error}", file=sys.stderr)
        return 2
    from sqlalchemy.exc import SQLAlchemyError as sqlalchemy_error

    from cluster.arguments import database_problem, files_problem, host_problem, listen_problem

    # Bad arguments stop here, before anything runs: one line, exit code 2 (issue 15).
    problem = files_problem((("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key),
                             ("--tls-client-ca", args.tls_client_ca),
                             ("--token-file", args.token_file), ("--etcd-ca", args.etcd_ca),
                             ("--etcd-cert", args.etcd_cert), ("--etcd-key", args.etcd_key)))
    if problem is None and host_problem(args.host):
        problem = f"--host: {host_problem(args.host)}"
    if problem:
        print(f"vcc serve: {problem}", file=sys.stderr)
        return 2
    try:
        credentials = (server_credentials(args.tls_cert, args.tls_key, args.tls_client_ca)
                       if args.tls_cert or args.tls_key or args.tls_client_ca else None)
        tokens = load_tokens(args.token_file) if args.token_file else None
        provider = configure_tracing(args.trace, args.trace_endpoint)
    except (SecurityConfigError, ValueError) as error:
        print(f"vcc serve: {error}", file=sys.stderr)
        return 2
    loopback = _is_loopback(args.host)
    # Off loopback, anyone who can reach the port could route, drive agents and reconfigure
    # the center: TLS plus a way to tell callers apart (tokens or client certificates) is
    # required unless the operator says --insecure (issue 15).
    authenticated = tokens is not None or bool(args.tls_client_ca)
    if not loopback and (credentials is None or not authenticated):
        missing = " and ".join(what for what, absent in (
            ("TLS (--tls-cert, --tls-key)", credentials is None),
            ("caller authentication (--token-file or --tls-client-ca)", not authenticated))
            if absent)
        if not args.insecure:
            print(f"vcc serve: --host {args.host} is not a loopback address and there is no "
                  f"{missing}: anyone who reaches the port could route contacts and change "
                  f"the configuration. Give them (README: Production setup), or --insecure "
                  f"to serve so anyway", file=sys.stderr)
            return 2
        log.warning("--insecure: serving on %s without %s", args.host, missing)
    if args.http_port is not None and not _is_loopback(args.http_host) and (
            credentials is None or not authenticated):
        # The page shows the center's figures (and the ranking names agents): the same care.
        if not args.insecure:
            print(f"vcc serve: --http-host {args.http_host} is not a loopback address and "
                  f"there is no TLS (--tls-cert, --tls-key) and no way to tell readers apart "
                  f"(--token-file with a wallboard token, or --tls-client-ca): anyone who "
                  f"reaches the port could read the center's figures. Give them (README: "
                  f"Wallboard), or --insecure to serve so anyway", file=sys.stderr)
            return 2
        log.warning("--insecure: the wallboard is served on %s without TLS and reader "
                    "authentication", args.http_host)
    # Tracing first so that refused calls are traced too; auth last (see cluster/security.py).
    interceptors = []
    if provider is not None:
        interceptors.append(TracingInterceptor(provider))
    if tokens is not None:
        interceptors.append(AuthInterceptor(tokens))
    problem = listen_problem(args.host, args.port)
    if problem is None:
        problem = _metrics_problem(args)
    if problem is None:
        problem = _wallboard_problem(args)
    if problem is None and args.db:
        problem = database_problem(args.db)
        problem = problem and f"--db: {problem}"
    if problem:
        print(f"vcc serve: {problem}", file=sys.stderr)
        if provider is not None:
            provider.shutdown()
        return 2
    address = f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}"
    # The Ray runtime by default (site actors journal to --db themselves); inprocess: the
    # sites' cores in this process, journaled by it.
    runtime = args.runtime or "ray"
    leadership_factory = None
    if args.etcd:
        from cluster.leadership.etcd import EtcdConfig, EtcdConfigError, EtcdLeadership

        if not args.db:
            print("vcc serve: --etcd needs --db (a new leader recovers the sites from the "
                  "store)", file=sys.stderr)
            return 2
        try:
            etcd_config = EtcdConfig(endpoints=args.etcd, ttl_s=args.etcd_ttl,
                                     prefix=args.etcd_prefix, ca_file=args.etcd_ca,
                                     cert_file=args.etcd_cert, key_file=args.etcd_key)
        except EtcdConfigError as error:
            print(f"vcc serve: --etcd: {error}", file=sys.stderr)
            return 2
        import os
        import socket

        node_id = args.node_id or f"{socket.gethostname()}-{os.getpid()}"

        def leadership_factory(advertised):
            from cluster.leadership.threaded import ThreadedLeadership

            # Its own thread: the router's work on the server's loop must not delay renewals.
            return ThreadedLeadership(lambda: EtcdLeadership(etcd_config, node_id, advertised))
    if runtime == "inprocess" and args.ray_address:
        print("vcc serve: --address joins a Ray cluster: it needs --runtime ray", file=sys.stderr)
        return 2
    if runtime == "ray":
        from cluster import serve_session   # before anything imports Ray: loopback

        ray_session = serve_session.ServeSession(args.ray_address, args.db)
        ray_start_error = serve_session.RayStartError
    else:
        ray_session, ray_start_error = None, ()      # `except ()` catches nothing

    metrics, metrics_error = None, ()       # `except ()` catches nothing
    if args.metrics_port is not None:
        from cluster.metrics import Metrics, MetricsListenError

        metrics, metrics_error = Metrics(args.metrics_host, args.metrics_port), MetricsListenError
        if not _is_loopback(args.metrics_host):
            log.warning("--metrics-host %s: /metrics is served without TLS or "
                        "authentication to whoever reaches it", args.metrics_host)

    wallboard, wallboard_error = None, ()    # `except ()` catches nothing
    if args.http_port is not None:
        from cluster.security import TokenRoles
        from cluster.wallboard import Wallboard, WallboardListenError, tls_context

        try:
            context = (tls_context(args.tls_cert, args.tls_key, args.tls_client_ca)
                       if credentials is not None else None)
        except (OSError, ValueError) as error:      # ssl.SSLError is an OSError
            print(f"vcc serve: --tls-cert/--tls-key: the wallboard cannot use them: {error}",
                  file=sys.stderr)
            return 2
        wallboard = Wallboard(args.http_host, args.http_port, ssl_context=context,
                              tokens=TokenRoles(tokens) if tokens is not None else None)
        wallboard_error = WallboardListenError

    def started(port):
        tune_gc()       # this process is the server: its GC settings are ours to choose
        grpc_address = address.rsplit(":", 1)[0] + f":{port}"
        if ray_session is not None:
            ray_session.record(grpc_address)
        else:           # `vcc status` finds an in-process server too (over gRPC)
            from cluster.status import write_state

            write_state(None, grpc_address, config.sites, {})
        served = f"; metrics at {metrics.url}" if metrics is not None else ""
        if wallboard is not None:
            served += f"; wallboard at {wallboard.url}"
        print(f"vcc: listening on port {port}{served}", flush=True)

    try:
        from cluster.config import load_config

        # Loaded once, before Ray starts: a bad file is refused first.
        config = load_config(args.config)
        if args.calendar_start is not None:
            config = dataclasses.replace(config, calendar_start=args.calendar_start)
        if ray_session is not None:
            if args.db:
                from cluster.store.db import open_engine

                open_engine(args.db).dispose()      # and so is a bad database URL
            ray_session.start()
        asyncio.run(serve(config, address, credentials=credentials, interceptors=interceptors,
                          budgets=budgets, started=started,
                          db_url=args.db if ray_session is None or leadership_factory
                          else None,
                          leadership_factory=leadership_factory, advertise=args.advertise,
                          host_factory=None if ray_session is None or leadership_factory
                          else ray_session.host,
                          leader_hosts=ray_session.leader_hosts(config)
                          if ray_session is not None and leadership_factory else None,
                          customers_url=args.db, metrics=metrics, wallboard=wallboard,
                          campaign_snapshot_every=args.campaign_snapshot_every))
    except (ConfigFileError, StoreUrlError) as error:
        print(f"vcc serve: {error}", file=sys.stderr)
        return 2
    except RecoveryError as error:
        print(f"vcc serve: cannot recover the store: {error}", file=sys.stderr)
        return 1
    except (metrics_error, wallboard_error) as error:
        print(f"vcc serve: {error}", file=sys.stderr)      # checked above; taken since
        return 2
    except OSError as error:
        print(f"vcc serve: {error}", file=sys.stderr)
        return 1
    except ray_start_error as error:
        print(f"vcc serve: {error}", file=sys.stderr)
        return 1
    except RuntimeError as error:
        if "Failed to bind" not in str(error):
            raise
        # Checked above; another process took the address since.
        print(f"vcc serve: --host/--port: cannot listen on {address}", file=sys.stderr)
        return 2
    except sqlalchemy_error as error:
        from cluster.arguments import shown_url

        first = str(getattr(error, "orig", None) or error).strip().splitlines() or [""]
        print(f"vcc serve: --db {shown_url(args.db)}: {type(error).__name__}: "
              f"{first[0][:200]}", file=sys.stderr)
        return 1
    finally:
        if ray_session is not None:
            ray_session.stop()
        else:
            from cluster.status import remove_state

            remove_state()
        if provider is not None:
            provider.shutdown()     # flushes the last spans
    return 0


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _metrics_problem(args) -> str | None:
    """Why --metrics-host / --metrics-port cannot be served (None: they can, or no metrics)."""
    from cluster.arguments import listen_problem

    if args.metrics_port is None:
        return ("--metrics-host: needs --metrics-port" if args.metrics_host != "127.0.0.1"
                else None)
    if args.metrics_port and args.metrics_port == args.port:
        return f"--metrics-port {args.metrics_port}: --port serves gRPC there"
    return listen_problem(args.metrics_host, args.metrics_port,
                          ("--metrics-host", "--metrics-port"))


def _wallboard_problem(args) -> str | None:
    """Why --http-host / --http-port cannot be served (None: they can, or no wallboard)."""
    from cluster.arguments import listen_problem

    if args.http_port is None:
        return ("--http-host: needs --http-port" if args.http_host != "127.0.0.1"
                else None)
    if args.http_port:
        for flag, port in (("--port", args.port), ("--metrics-port", args.metrics_port)):
            if port == args.http_port:
                return f"--http-port {args.http_port}: {flag} is served there"
    return listen_problem(args.http_host, args.http_port, ("--http-host", "--http-port"))


def _store_repair(args) -> int:
    from cluster.store.db import StoreUrlError
    from cluster.store.repair import repair_store
    from cluster.store.snapshots import RecoveryError
    from cluster.arguments import database_problem

    problem = database_problem(args.db, create=False)     # a repair never creates a store
    if problem:
        print(f"vcc store repair: --db: {problem}", file=sys.stderr)
        return 2
    try:
        repair = repair_store(args.db)
    except StoreUrlError as error:
        print(f"vcc store repair: --db: {error}", file=sys.stderr)
        return 2
    except RecoveryError as error:
        print(f"vcc store repair: {error}", file=sys.stderr)
        return 1
    for refused in repair.skipped:
        print(f"skipped site {refused.site!r} entry {refused.seq}: {refused.error}")
    for site, seq in sorted(repair.snapshots.items()):
        print(f"site {site!r}: snapshot written after entry {seq}; recovery starts there")
    print(f"{len(repair.sites)} site(s) replayed, {len(repair.skipped)} refused entr"
          f"{'y' if len(repair.skipped) == 1 else 'ies'} skipped")
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer 0..65535; got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535; got {port}")
    return port


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {value}")
    return value


def _instant(text: str) -> float:
    from sites.calendars import parse_start
    from sites.errors import InvalidInput

    try:
        return parse_start(text, "--calendar-start")
    except InvalidInput as error:
        raise argparse.ArgumentTypeError(error.problem) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcc", description="vcc: the virtual contact center routing cluster")
    parser.add_argument("--version", action="version", version=f"vcc {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gRPC API over the routing core (on Ray "
                                              "site actors by default)")
    serve.add_argument("--config", default=None,
                       help="cluster YAML: skills, sites, agents, routing (default: the bundled "
                            "two-site configuration cluster/configs/two_sites.yaml)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=50051, help="port (50051; 0 picks a free one)")
    serve.add_argument("--insecure", action="store_true",
                       help="allow a --host that is not loopback without TLS and caller "
                            "authentication (refused otherwise)")
    serve.add_argument("--tls-cert", help="server certificate (PEM); with --tls-key turns TLS on")
    serve.add_argument("--tls-key", help="server private key (PEM, unencrypted)")
    serve.add_argument("--tls-client-ca", help="CA that signs client certificates: mutual TLS")
    serve.add_argument("--token-file", help="bearer tokens and their roles (pbx, agent, crm, "
                                            "admin, wallboard), one `<token> "
                                            "<role>[,<role>...]` per line")
    serve.add_argument("--metrics-port", type=_port, default=None, metavar="N",
                       help="serve Prometheus metrics at http://HOST:N/metrics (0 picks a "
                            "free port; default: no metrics, at no cost)")
    serve.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                       help="address the metrics listen on (127.0.0.1)")
    serve.add_argument("--http-port", type=_port, default=None, metavar="N",
                       help="serve the live wallboard at http://HOST:N/ (kiosk view: /kiosk; "
                            "0 picks a free port; default: no wallboard, at no cost)")
    serve.add_argument("--http-host", default="127.0.0.1", metavar="HOST",
                       help="address the wallboard listens on (127.0.0.1); off loopback it "
                            "needs TLS and tokens or client certificates, as --host does")
    serve.add_argument("--trace", choices=("none", "console", "otlp"), default="none",
                       help="OpenTelemetry span exporter (none)")
    serve.add_argument("--trace-endpoint", help="OTLP collector, e.g. http://127.0.0.1:4317")
    serve.add_argument("--max-concurrent-rpcs", type=int, default=1000, metavar="N",
                       help="unary calls beyond this many at once get RESOURCE_EXHAUSTED "
                            "(1000); streams have budgets of their own")
    serve.add_argument("--max-pbx-links", type=int, default=256, metavar="N",
                       help="CallControl.Connect streams (PBX links) at once (256)")
    serve.add_argument("--max-streams", type=int, default=20_000, metavar="N",
                       help="other streams at once: agent desktops' and CRM event streams, "
                            "Health.Watch, reflection (20000)")
    serve.add_argument("--max-streams-per-peer", type=int, default=5_000, metavar="N",
                       help="of those, from one client address (5000)")
    serve.add_argument("--max-link-delay-ms", type=int, default=20, metavar="MS",
                       help="while a PBX link is overloaded, a message whose answer would "
                            "come later than this after it was read has its new contacts "
                            "refused at once, for the PBX's own overflow (20; 0: never)")
    serve.add_argument("--calendar-start", type=_instant, default=None, metavar="ISO",
                       help="the routing plans' calendars read this date and time (ISO 8601 "
                            "with its UTC offset) when the server starts, and run on from it: "
                            "a replay of a recorded day, e.g. 2026-12-04T10:00:00+01:00 "
                            "(default: the real time)")
    serve.add_argument("--db", default=None, metavar="URL",
                       help="journal every event and contact record in this database and "
                            "recover from it on start: sqlite:///vcc.db or "
                            "postgresql+psycopg://user@host:5432/db (default: none, in memory)")
    serve.add_argument("--campaign-snapshot-every", type=_positive_int, default=2_000,
                       metavar="N",
                       help="with --db, keep a snapshot of each running campaign's pacer "
                            "every N journal entries: a restart or a new leader replays at "
                            "most N entries to resume it (2000)")
    serve.add_argument("--runtime", choices=("ray", "inprocess"), default=None,
                       help="where the sites' routing cores run: ray (default: Ray site actors "
                            "on an embedded local Ray instance, or on the cluster --address "
                            "names) or inprocess (in the server process)")
    serve.add_argument("--address", dest="ray_address", default=None, metavar="ADDR",
                       help="join the running Ray cluster at ADDR (host:port of its GCS, as "
                            "`ray start --head` prints) instead of starting an embedded one")
    serve.add_argument("--etcd", default=None, metavar="HOST:PORT[,...]",
                       help="elect the leader through these etcd endpoints (needs --db; "
                            "either runtime): every server listens, only the leader "
                            "routes, standbys answer UNAVAILABLE naming it (default: none)")
    serve.add_argument("--etcd-ttl", type=float, default=3.0, metavar="S",
                       help="leader lease TTL in seconds (3): a dead leader is replaced after "
                            "about this long")
    serve.add_argument("--etcd-prefix", default="/vcc/leadership", help="election key prefix")
    serve.add_argument("--etcd-ca", default=None, help="CA bundle: TLS to etcd")
    serve.add_argument("--etcd-cert", default=None, help="client certificate to etcd (mTLS)")
    serve.add_argument("--etcd-key", default=None, help="client key to etcd (mTLS)")
    serve.add_argument("--advertise", default=None, metavar="HOST:PORT",
                       help="the address clients are told to use for this server when it "
                            "leads (default: --host and the bound port)")
    serve.add_argument("--node-id", default=None, help="this server's name in the election "
                                                       "(default: hostname-pid)")
    serve.set_defaults(run=_serve)

    store = commands.add_parser("store", help="maintain the store (--db) a server journals to")
    store_commands = store.add_subparsers(dest="store_command", required=True)
    repair = store_commands.add_parser(
        "repair", help="make a store recoverable whose journal holds entries the routing core "
                       "refuses: skip them and snapshot after them (stop every server first)")
    repair.add_argument("--db", required=True, help="the store's database URL")
    repair.set_defaults(run=_store_repair)

    from cluster.reports import add_report_parser
    add_report_parser(commands)
    from cluster.customers.command import add_customers_parser, add_marketing_parser
    add_customers_parser(commands)
    add_marketing_parser(commands)
    from cluster.campaigns.command import add_campaign_parser
    add_campaign_parser(commands)
    from cluster.status import add_status_parser; add_status_parser(commands)       # noqa: E702
    from cluster.status import add_rebalance_parser; add_rebalance_parser(commands)  # noqa: E702
    # Commands of the tools above the cluster (simulate, demo, trace, loadtest) register
    # themselves (setup.py, group `vcc.commands`): the cluster never imports them.
    for entry in sorted(entry_points(group="vcc.commands"), key=lambda entry: entry.name):
        entry.load()(commands)
    return parser


def _version() -> str:
    """The installed distribution's version (a source tree that is not installed: unknown)."""
    from importlib import metadata

    try:
        return metadata.version("vcc")
    except metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())

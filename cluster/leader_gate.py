"""The leader gate: several gateway processes listen at once; only the leader routes.

`vcc serve --db URL --etcd ...` runs one `LeaderGate` per process. Every process binds its
port and campaigns (cluster/leadership). While a process is a standby, every vcc RPC (not
Health) ends UNAVAILABLE with details naming the leader's address and trailing metadata
`vcc-leader: host:port` (cluster/client.py follows it); Health says NOT_SERVING.

On GAINED (token T) the gate opens the durable host with `fencing_token=T`
(cluster/durable.py): it recovers every site from the store, then claims each site with a
first journal entry carrying T (`Journal.claim_now`), so that from that commit on the
journal refuses every write of the previous leader, whatever it still believes. Only then
does it serve. On LOST, or when `is_leader()` turns False at the term's monotonic deadline
(checked on every RPC and by the gate's own bounded poll, so a process that was paused
steps down by its own clock), it closes the host at once: streams end UNAVAILABLE, PBX
links reconnect to the new leader, and actions not yet committed are never announced.

The servicers keep one object for the whole life of the server: `HostSwitch`, which
forwards to the current host and raises `NotLeader` (an UNAVAILABLE) while there is none,
so nothing is rebuilt on a change of leader.
"""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
from grpc_health.v1 import health_pb2

from cluster.host import NotLeader
from cluster.servicers.errors import LEADER_METADATA

log = logging.getLogger(__name__)

# Services a standby still answers: health (NOT_SERVING tells load balancers where not to go)
# and reflection.
_OPEN_SERVICE_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class HostSwitch:
    """What the servicers hold instead of a host: every attribute is the current host's;
    with no host (a standby, or between terms) any use raises NotLeader."""

    def __init__(self, gate: "LeaderGate"):
        self._gate = gate
        self._host = None

    @property
    def closed(self) -> bool:
        host = self._host
        return host is None or host.closed

    async def close(self) -> None:
        if self._host is not None:
            await self._host.close()

    def site_names(self) -> list:
        return self._host.site_names() if self._host is not None else []

    def __getattr__(self, name):
        # Only called for names the switch itself lacks: everything of the host's.
        host = self.__dict__.get("_host")
        if host is None:
            raise NotLeader(self._gate.leader_address())
        return getattr(host, name)


class LeaderInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every vcc RPC while this process does not serve as leader."""

    def __init__(self, gate: "LeaderGate"):
        self._gate = gate

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if self._gate.serving() or method.startswith(_OPEN_SERVICE_PREFIXES):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        error = NotLeader(self._gate.leader_address())
        leader = error.leader_address

        async def refuse(unused_request, context):
            if leader:
                context.set_trailing_metadata(((LEADER_METADATA, leader),))
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(error))

        if handler is None or (handler.request_streaming and handler.response_streaming):
            return grpc.stream_stream_rpc_method_handler(refuse)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(refuse)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(refuse)
        return grpc.unary_unary_rpc_method_handler(refuse)


# A new leader replays each site's journal since its last snapshot before it serves, so the
# snapshot interval bounds the time without a leader. Measured with `python -m
# loadtests.failover_drill --runtime ray --agents 300` (2 cores, ~1,000 journal entries/s):
# with the store's default of 50,000 entries, the replay part of a takeover grew from 0.2 s
# to 2.5 s between snapshots. 10,000 keeps it near 0.5 s, for a snapshot every ~10 s of
# traffic (a few ms for sites of this size).
TAKEOVER_SNAPSHOT_EVERY = 10_000


class LeaderGate:
    """Opens the durable host when this process leads and closes it when it stops leading.

    `open_host(config, url, fencing_token=T)` and `close_host(host)` default to
    cluster/durable.py's; `advertise` is this process's address as clients reach it.
    """

    def __init__(self, config, db_url: str, leadership, *, advertise: str = "",
                 open_host=None, close_host=None, poll_s: float = 0.05,
                 open_attempts: int = 20, host_options: dict | None = None):
        from cluster.durable import close_durable_host, open_durable_host

        self.config = config
        self.db_url = db_url
        self.leadership = leadership
        self.advertise = advertise
        self.open_host = open_host or open_durable_host
        self.close_host = close_host or close_durable_host
        self.poll_s = poll_s
        self.open_attempts = open_attempts
        self.host_options = dict(host_options or {})
        self.host_options.setdefault("snapshot_every", TAKEOVER_SNAPSHOT_EVERY)
        self.switch = HostSwitch(self)
        self.metrics = None                 # cluster/metrics.py: counts each term's host
        # cluster/campaigns/hosting.py CampaignHost: runs each term's campaigns (resumed
        # from their journal when the term begins), None: no customer store.
        self.campaigns = None
        # cluster/store/config_tables.py (set by serve with a customer store): written from
        # each term's host once it serves, for reports.
        self.config_tables = None
        self.host = None
        self.token: int | None = None
        self.health = None                  # the server's HealthServicer, once built
        self.terms_served = 0
        self._wake = asyncio.Event()
        self._unsubscribe = None
        self._campaigns_task = None

    # ---- what the server asks -----------------------------------------------------------------
    def serving(self) -> bool:
        """Leading by the clock, with a host open for this very term."""
        host, token = self.host, self.token
        # One read of the leadership (`token` is None unless it leads right now).
        return (host is not None and not host.closed and token is not None
                and self.leadership.token == token)

    def leader_address(self) -> str:
        leader = self.leadership.leader()
        if leader is not None and leader.address:
            return leader.address
        return ""

    def interceptor(self) -> LeaderInterceptor:
        return LeaderInterceptor(self)

    # ---- the loop --------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Campaign, then follow leadership until `stop` is set; the host is closed on the
        way out. Bounded waits only: each pass waits at most `poll_s` for a change."""
        self._unsubscribe = self.leadership.on_change(self._on_change)
        await self._set_health(False)
        await self.leadership.campaign()
        try:
            while not stop.is_set():
                await self._step()
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                except asyncio.TimeoutError:
                    pass
        finally:
            if self._unsubscribe is not None:
                self._unsubscribe()
            await self._step_down("the server is stopping")

    def wake(self) -> None:
        self._wake.set()

    def _on_change(self, change) -> None:
        # Logged with the monotonic clock (shared by every process of the machine), so that
        # an SRE or a test can check after the fact that a term ended by its own deadline,
        # before its lease could expire in etcd (renewal sent + TTL), whatever etcd did.
        from cluster.leadership.base import ChangeKind

        if change.kind is ChangeKind.LOST:
            log.warning("leader gate: lost term %s at monotonic %.3f (deadline %s, last "
                        "renewal sent %s): %s", change.token, change.at,
                        _mono(change.deadline), _mono(change.renewed_at), change.reason)
        self._wake.set()

    async def _step(self) -> None:
        leadership = self.leadership
        # ONE read: this node's token if it leads at this instant, else None. Checking
        # `is_leader()` and then reading `token` can straddle the term's deadline or a change
        # of term (the leadership may run on a thread of its own) and see True, then None:
        # a host opened with a None token would write unfenced.
        token = leadership.token
        if self.host is not None:
            if token is None or token != self.token:
                await self._step_down(f"term {self.token} ended")
            elif self.host.closed:
                # The store failed (a refused stale write, a lost database): this term can
                # no longer be trusted. End it, so a new term (ours or another node's)
                # starts from what is durable.
                await self._step_down(f"term {self.token}: the host stopped")
                await leadership.resign()
                await leadership.campaign()
        elif token is not None:
            await self._take_over(token)

    async def _take_over(self, token: int) -> None:
        from cluster.store.journal import JournalError, StaleLeaderError

        if token is None:
            # Never: a host without a token journals writes no fence can refuse.
            log.error("leader gate: refusing to open a host without a fencing token")
            return
        began = time.monotonic()
        for attempt in range(1, self.open_attempts + 1):
            if self.leadership.token != token:
                return          # the term ended while opening: the loop goes on
            try:
                host, recovery = await self.open_host(self.config, self.db_url,
                                                      fencing_token=token, **self.host_options)
            except StaleLeaderError as error:
                log.error("leader gate: term %d refused by the journal (%s); starting a new "
                          "term", token, error)
                await self.leadership.resign()
                await self.leadership.campaign()
                return
            except (JournalError, OSError) as error:
                # The previous leader committed after we read, or held a lock: read again.
                log.warning("leader gate: opening term %d, attempt %d: %s", token, attempt, error)
                await asyncio.sleep(min(0.05 * attempt, 0.5))
                continue
            if self.leadership.token != token:
                await self._close(host)
                return
            if self.metrics is not None:
                self.metrics.attach(host)
            self.host, self.token = host, token
            host.serving_since = time.monotonic()
            self.switch._host = host
            self.terms_served += 1
            await self._set_health(True)
            if self.config_tables is not None:
                self.config_tables.changed(host)
            if self.campaigns is not None:
                # While the term serves: contacts go first, campaigns resume beside them.
                self._campaigns_task = asyncio.get_running_loop().create_task(
                    self._attach_campaigns(host, token))
            now = time.monotonic()
            log.info("leader gate: leading term %d; serving after %.3f s at monotonic %.3f "
                     "(recovered %s, started %s)", token, now - began, now,
                     recovery.recovered or "nothing", recovery.started or "nothing")
            return
        log.error("leader gate: could not open the store for term %d after %d attempts; "
                  "resigning", token, self.open_attempts)
        await self.leadership.resign()
        await self.leadership.campaign()

    async def _attach_campaigns(self, host, token: int) -> None:
        try:
            await self.campaigns.attach(host, token)
        except Exception:       # noqa: BLE001 - the term goes on serving contacts
            log.exception("leader gate: term %d could not resume its campaigns", token)

    async def _step_down(self, reason: str) -> None:
        host = self.host
        if host is None:
            return
        if self.campaigns is not None:
            task, self._campaigns_task = self._campaigns_task, None
            if task is not None and not task.done():
                task.cancel()
            await self.campaigns.detach()
        # Refuse first, then close: no RPC reaches a host that is being closed.
        self.host = None
        self.switch._host = None
        log.warning("leader gate: stepping down (%s) at monotonic %.3f", reason,
                    time.monotonic())
        await self._set_health(False)
        await self._close(host)

    async def _close(self, host) -> None:
        try:
            await asyncio.wait_for(self.close_host(host), 10.0)
        except Exception as error:      # noqa: BLE001 - a deposed leader's writes fail: expected
            log.info("leader gate: closing the host: %s: %s", type(error).__name__, error)
            engine = getattr(host, "store_engine", None)
            if engine is not None:
                engine.dispose()

    async def _set_health(self, serving: bool) -> None:
        health = self.health
        if health is None:
            return
        from cluster.services import SERVICE_NAMES

        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for service in ("",) + SERVICE_NAMES:
            await health.set(service, status)


def _mono(value) -> str:
    return "none" if value is None else f"{value:.3f}"

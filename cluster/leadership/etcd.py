"""Leadership through etcd: a lease, a create-revision-0 transaction, and a fencing token.

How a term works (python-etcd3 `Lock` style, with the safety that a lease alone lacks):
- Campaign: grant a lease (TTL `ttl_s`), then one transaction: if the leader key does not
  exist (`create_revision == 0`), put it with the lease, the value naming this node and its
  gRPC address. The key's create revision is the term's **fencing token**: etcd revisions
  only grow, and a new term needs a new key, so a later term always has a larger token.
- Lead: renew the lease every TTL/3. The term's monotonic **deadline** is the send time of
  the last renewal that etcd acknowledged + the granted TTL - `safety_margin_s`. etcd can
  expire the lease no earlier than (that send time + TTL), so a leader that stops getting
  renewals through stops leading (`is_leader()` turns False, LOST is emitted) before any
  standby can take the key. A term that reached its deadline is over for good, even if a
  late renewal succeeds afterwards: the next term campaigns again for a new token.
- Follow: standbys read the key, then watch it; when it is deleted (resigned, revoked or
  expired) they campaign. Every wait is bounded, so a silent etcd only delays, never hangs.

The client is `aetcd` (asyncio, current protobuf); its channel is built here so that TLS and
several endpoints work (gRPC `ipv4:` targets fail over between addresses by themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import aetcd
import grpc
from aetcd import exceptions as etcd_errors
from aetcd import rpc
from aetcd import watcher as etcd_watcher

from cluster.leadership.base import ChangeKind, LeaderInfo, Leadership, LeadershipChange

log = logging.getLogger(__name__)

# etcd (default heartbeat 100 ms, election 1 s) refuses leases shorter than 1.5 s and grants
# whole seconds: 2 s is the shortest TTL that is honoured as asked.
MIN_TTL_S = 2.0


class EtcdConfigError(ValueError):
    """The etcd leadership settings cannot be used; the message names the setting."""


@dataclass(frozen=True)
class EtcdConfig:
    """Where etcd is and how long a term lives without renewal."""
    endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    ttl_s: float = 3.0
    prefix: str = "/vcc/leadership"
    ca_file: str | None = None          # TLS to etcd: CA bundle (enables TLS)
    cert_file: str | None = None        # client certificate (mutual TLS), with key_file
    key_file: str | None = None
    safety_margin_s: float = 0.5        # step down this long before the lease could expire
    rpc_timeout_s: float | None = None  # None: min(1 s, TTL/3)

    def __post_init__(self):
        endpoints = self.endpoints
        if isinstance(endpoints, str):
            endpoints = [part for part in endpoints.split(",")]
        endpoints = tuple(str(part).strip() for part in endpoints if str(part).strip())
        if not endpoints:
            raise EtcdConfigError("endpoints: at least one host:port is needed")
        for endpoint in endpoints:
            _split_endpoint(endpoint)
        object.__setattr__(self, "endpoints", endpoints)
        if not self.ttl_s >= MIN_TTL_S:
            raise EtcdConfigError(f"ttl_s: must be at least {MIN_TTL_S} s; got {self.ttl_s!r}")
        if not 0 < self.safety_margin_s < self.ttl_s / 2:
            raise EtcdConfigError(f"safety_margin_s: must be > 0 and < ttl_s/2 "
                                  f"({self.ttl_s / 2}); got {self.safety_margin_s!r}")
        if self.rpc_timeout_s is not None and not 0 < self.rpc_timeout_s <= self.ttl_s / 2:
            raise EtcdConfigError(f"rpc_timeout_s: must be > 0 and <= ttl_s/2; "
                                  f"got {self.rpc_timeout_s!r}")
        if not self.prefix or not self.prefix.startswith("/"):
            raise EtcdConfigError(f"prefix: must start with '/'; got {self.prefix!r}")
        if bool(self.cert_file) != bool(self.key_file):
            raise EtcdConfigError("cert_file and key_file: give both (mutual TLS) or neither")
        if self.cert_file and not self.ca_file:
            raise EtcdConfigError("ca_file: needed with cert_file (TLS to etcd)")

    @property
    def key(self) -> bytes:
        return f"{self.prefix.rstrip('/')}/leader".encode()

    @property
    def grant_ttl(self) -> int:
        return int(math.ceil(self.ttl_s))

    @property
    def renew_interval_s(self) -> float:
        return self.ttl_s / 3

    @property
    def timeout_s(self) -> float:
        return self.rpc_timeout_s if self.rpc_timeout_s is not None \
            else min(1.0, self.ttl_s / 3)


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    for scheme in ("http://", "https://"):
        if host.startswith(scheme):
            raise EtcdConfigError(f"endpoints: give host:port without a scheme; got {endpoint!r}")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise EtcdConfigError(f"endpoints: expected host:port; got {endpoint!r}")
    return host.strip("[]"), int(port)


def channel_target(endpoints: tuple[str, ...]) -> str:
    """A gRPC target for the endpoints. Several endpoints must be IP literals of one family:
    gRPC's `ipv4:a,b,c` target then moves to the next address when one member dies."""
    if len(endpoints) == 1:
        return endpoints[0]
    families = set()
    for endpoint in endpoints:
        host, _ = _split_endpoint(endpoint)
        try:
            families.add(ipaddress.ip_address(host).version)
        except ValueError:
            raise EtcdConfigError(f"endpoints: with several endpoints each must be an IP "
                                  f"address (not {host!r}); use one DNS name instead") from None
    if len(families) != 1:
        raise EtcdConfigError("endpoints: mix of IPv4 and IPv6 addresses")
    return f"ipv{families.pop()}:" + ",".join(endpoints)


# Reconnect fast: after an etcd restart the default backoff (up to 120 s) would keep a
# healthy cluster leaderless long after etcd is back.
_CHANNEL_OPTIONS = {
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 500,
}


class _Client(aetcd.Client):
    """aetcd's client on a channel built from EtcdConfig (TLS, several endpoints)."""

    def __init__(self, config: EtcdConfig):
        super().__init__(timeout=config.timeout_s, options=dict(_CHANNEL_OPTIONS))
        self._config = config

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        # No await until the channel is set: two tasks cannot both build one.
        target = channel_target(self._config.endpoints)
        options = list(self._options.items())
        if self._config.ca_file:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(self._config.ca_file),
                private_key=_read(self._config.key_file) if self._config.key_file else None,
                certificate_chain=_read(self._config.cert_file) if self._config.cert_file
                else None)
            self.channel = grpc.aio.secure_channel(target, credentials, options=options)
        else:
            self.channel = grpc.aio.insecure_channel(target, options=options)
        self.metadata = None
        self.kvstub = rpc.KVStub(self.channel)
        self.clusterstub = rpc.ClusterStub(self.channel)
        self.leasestub = rpc.LeaseStub(self.channel)
        self.maintenancestub = rpc.MaintenanceStub(self.channel)
        self._watcher = etcd_watcher.Watcher(rpc.WatchStub(self.channel),
                                             timeout=self._timeout, metadata=None)
        self._connected.set()


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise EtcdConfigError(f"cannot read TLS file {path!r}: {error}") from None


class EtcdLeadership(Leadership):
    """See the module doc. One background task does everything (campaign, lead, follow),
    so the states never interleave."""

    def __init__(self, config: EtcdConfig, node_id: str, address: str = "", *,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(node_id, address, clock=clock)
        self.config = config
        self.key = config.key
        self._client = _Client(config)
        self._campaigning = False
        self._closed = False
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()        # campaign()/resign()/close() changed the plan
        self._lease_id: int | None = None   # the current term's lease
        self._stale_leases: list[int] = []  # leases of ended terms: revoke when etcd answers
        self._renewed_at: float | None = None
        self.last_error = ""                 # the newest etcd error, for status and tests
        self.errors = 0

    # ---- the interface -------------------------------------------------------------------------
    async def campaign(self, timeout: float | None = None) -> bool:
        if self._closed:
            raise RuntimeError("leadership is closed")
        self._campaigning = True
        self._start()
        if timeout:
            await self.wait_for(self.is_leader, timeout)
        return self.is_leader()

    async def observe(self) -> None:
        if self._closed:
            raise RuntimeError("leadership is closed")
        self._start()

    async def resign(self) -> None:
        self._campaigning = False
        self._wake.set()
        await self._end_term("resigned")
        await self._revoke_stale()

    async def close(self) -> None:
        if self._closed:
            return
        try:
            await self.resign()
        except Exception as error:     # noqa: BLE001 - closing must go on
            self._note_error(error)
        self._closed = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, self.config.timeout_s * 2)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._client.close(), self.config.timeout_s * 2)

    async def current_leader(self) -> LeaderInfo | None:
        """Ask etcd now who leads (for status commands and clients that just started)."""
        current = await self._client.get(self.key)
        return None if current is None else LeaderInfo.decode(current.value,
                                                              current.create_revision)

    # ---- the loop --------------------------------------------------------------------------------
    def _start(self) -> None:
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"vcc-leadership-{self.node_id}")

    async def _run(self) -> None:
        backoff = 0.1
        while not self._closed:
            try:
                self._wake.clear()
                if self._stale_leases:
                    await self._revoke_stale()
                if self._campaigning and self._token is None:
                    won = await self._try_campaign()
                    if won is not None:
                        await self._lead(*won)
                        continue
                await self._follow()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as error:   # noqa: BLE001 - etcd away: retry, bounded backoff
                self._note_error(error)
                await self._pause(backoff)
                backoff = min(backoff * 2, 1.0)

    def _note_error(self, error: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(error).__name__}: {error}"
        log.debug("etcd leadership %s: %s", self.node_id, self.last_error)

    async def _pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less if campaign()/resign()/close() wants the loop."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(0.0, seconds))

    async def _call(self, awaitable, timeout: float | None = None):
        """One etcd call, never longer than the RPC timeout (aetcd's own timeout does not
        cover connecting)."""
        return await asyncio.wait_for(awaitable, timeout or self.config.timeout_s)

    # ---- campaigning -------------------------------------------------------------------------------
    async def _try_campaign(self):
        """(token, lease id, granted ttl, sent) if this node won, else None."""
        sent = self.clock()
        lease = await self._call(self._client.lease(self.config.grant_ttl))
        tx = self._client.transactions
        try:
            won, responses = await self._call(self._client.transaction(
                compare=[tx.create(self.key) == 0],
                success=[tx.put(self.key, LeaderInfo(self.node_id, self.address, 0).encode(),
                                lease=lease), tx.get(self.key)],
                failure=[tx.get(self.key)]))
        except BaseException:
            self._stale_leases.append(lease.id)   # maybe it won: the revoke settles it
            raise
        if not won:
            self._stale_leases.append(lease.id)
            existing = responses[0][0][1] if responses and responses[0] else None
            self._set_leader(None if existing is None
                             else LeaderInfo.decode(existing.value, existing.create_revision))
            return None
        # The key as the transaction left it: its create revision is the token.
        mine = responses[1][0][1]
        return mine.create_revision, lease.id, lease.ttl, sent

    async def _lead(self, token: int, lease_id: int, granted_ttl: int, sent: float) -> None:
        margin, interval = self.config.safety_margin_s, self.config.renew_interval_s
        self._lease_id, self._renewed_at = lease_id, sent
        self._term = (token, sent + granted_ttl - margin)      # token and deadline at once
        if not self.is_leader():
            await self._end_term("won too late: the campaign took longer than the lease's "
                                 "safe time")
            return
        me = LeaderInfo(self.node_id, self.address, token)
        self._set_leader(me)
        self._emit(LeadershipChange(ChangeKind.GAINED, me, token, "won the campaign",
                                    self.clock(), self._deadline, sent))
        next_renewal = sent + interval
        while self._token == token:
            now = self.clock()
            if now >= self._deadline:
                await self._end_term("could not renew the lease before the deadline")
                return
            if now < next_renewal:
                await self._pause(min(next_renewal, self._deadline) - now)
                continue
            sent = self.clock()
            try:
                reply = await self._call(self._client.refresh_lease(lease_id),
                                         max(0.05, min(self.config.timeout_s,
                                                       self._deadline - sent)))
            except asyncio.CancelledError:
                raise
            except Exception as error:   # noqa: BLE001 - retry until the deadline
                self._note_error(error)
                next_renewal = self.clock() + min(0.2, interval)
                continue
            if self._token != token:
                return
            if reply is None or reply.TTL <= 0:
                await self._end_term("etcd says the lease expired")
                return
            if self.clock() >= self._deadline:
                # Too late: is_leader() has been False since the deadline and the term
                # stays over (a term never resumes under the same token).
                await self._end_term("the renewal was answered after the deadline")
                return
            self._term, self._renewed_at = (token, sent + reply.TTL - margin), sent
            next_renewal = sent + interval
            await self._check_key_is_mine(token)

    async def _check_key_is_mine(self, token: int) -> None:
        """Someone may delete the key by hand (an operator forcing a failover): then the
        lease lives on but this term is over."""
        try:
            current = await self._call(self._client.get(self.key))
        except asyncio.CancelledError:
            raise
        except Exception as error:   # noqa: BLE001 - the next renewal decides
            self._note_error(error)
            return
        if self._token == token and (current is None or current.create_revision != token):
            await self._end_term("the leader key was deleted or replaced")

    async def _end_term(self, reason: str) -> None:
        token = self._token
        if token is None:
            return
        deadline, renewed_at = self._deadline, self._renewed_at
        self._term = (None, float("-inf"))
        if self._lease_id is not None:
            self._stale_leases.append(self._lease_id)
            self._lease_id = None
        self._emit(LeadershipChange(ChangeKind.LOST, None, token, reason, self.clock(),
                                    deadline, renewed_at))
        if self._leader is not None and self._leader.token == token:
            self._set_leader(None)
        # Let a standby in at once instead of after the TTL (best effort: etcd may be away).
        await self._revoke_stale()

    async def _revoke_stale(self) -> None:
        for lease_id in list(self._stale_leases):
            try:
                await self._call(self._client.revoke_lease(lease_id))
            except asyncio.CancelledError:
                raise
            except etcd_errors.ClientError as error:
                if "not found" not in str(error):
                    self._note_error(error)
                    return        # etcd away: keep it for the next round
            except Exception as error:   # noqa: BLE001 - timeouts
                self._note_error(error)
                return
            with contextlib.suppress(ValueError):
                self._stale_leases.remove(lease_id)

    # ---- following -------------------------------------------------------------------------------
    async def _follow(self) -> None:
        """One bounded round: read the key, then wait for it to change (or for the plan to
        change, or the round to end)."""
        current = await self._call(self._client.get(self.key))
        if current is None:
            self._set_leader(None)
            if self._campaigning:
                return
            start = None
        else:
            self._set_leader(LeaderInfo.decode(current.value, current.create_revision))
            start = current.header.revision + 1
        watch = asyncio.ensure_future(self._client.watch_once(
            self.key, timeout=self.config.ttl_s, start_revision=start))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            done, _ = await asyncio.wait({watch, woken}, timeout=self.config.ttl_s + 1,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watch, woken):
                if not task.done():
                    task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.gather(watch, woken, return_exceptions=True),
                                       self.config.timeout_s)
        if watch not in done:
            return
        try:
            event = watch.result()
        except etcd_errors.WatchTimeoutError:
            return
        if isinstance(event, BaseException):      # the watch stream broke
            raise event
        if event.kind == "DELETE":
            self._set_leader(None)
        else:
            self._set_leader(LeaderInfo.decode(event.kv.value, event.kv.create_revision))

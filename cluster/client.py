"""A Python client of the vcc API for CRM, CTI and PBX integrations (asyncio, grpc.aio).

    async with VccClient("127.0.0.1:50051", token="...") as vcc:
        reply = await vcc.routing.RouteContact(RouteContactRequest(contact=ContactSpec(...)))

`VccClient` holds one channel and a stub per service (`routing`, `agents`, `admin`,
`calls`, `health`), adds the bearer token to every call, and speaks TLS or mutual TLS when
given certificates. `PbxLink` plays one PBX link over `CallControl.Connect`: it numbers
events, batches them, remembers what the router has acknowledged, and resumes after a
broken stream by re-sending unacknowledged events (the router skips the ones it applied).

Leader-aware (several gateways, one leader: cluster/leader_gate.py): give `VccClient` every
gateway's address (a list, or "host:port,host:port"). A standby answers UNAVAILABLE with
trailing metadata `vcc-leader: host:port`; `call()` follows it (or tries the next address)
and retries, and `PbxLink.resume()` does the same for the PBX stream. Events re-sent to a
new leader that the old one had already committed are refused by the core as duplicates
("duplicate contact id", "already finished"); `PbxLink.refused_duplicate(error)` tells
those apart, so that a PBX does not count them as lost.
"""

from __future__ import annotations

import asyncio
import collections
import pathlib
import time

import grpc
from grpc_health.v1 import health_pb2_grpc

from cluster.api_limits import MAX_MESSAGE_BYTES
from vcc.v1 import (admin_pb2_grpc, agent_control_pb2_grpc, call_control_pb2,
                    call_control_pb2_grpc, crm_pb2_grpc, routing_pb2_grpc)


LEADER_METADATA = "vcc-leader"
# What the core says about an event it already has (a re-send after a failover).
DUPLICATE_REFUSALS = ("duplicate contact id", "already finished")


def leader_hint(error) -> str | None:
    """The leader's address a standby named in an UNAVAILABLE (trailing metadata), or None."""
    try:
        metadata = error.trailing_metadata() or ()
    except Exception:       # noqa: BLE001 - a call that never reached a server has none
        return None
    for key, value in metadata:
        if key == LEADER_METADATA and value:
            return value
    return None


def _read(path) -> bytes | None:
    return None if path is None else pathlib.Path(path).read_bytes()


class _BearerToken(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor,
                   grpc.aio.StreamStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call's metadata."""

    def __init__(self, token: str):
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details):
        metadata = list(details.metadata or ()) + [self._header]
        return details._replace(metadata=metadata)

    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(self._with_token(details), request)

    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(self._with_token(details), request)

    async def intercept_stream_stream(self, continuation, details, request_iterator):
        return await continuation(self._with_token(details), request_iterator)


class VccClient:
    def __init__(self, target="127.0.0.1:50051", *, token: str | None = None,
                 root_certificates=None, client_certificate=None, client_key=None,
                 options=()):
        """`target`: one address, or several (a list or comma-separated: gateways of which
        one leads). `root_certificates` (a CA file) switches TLS on; add the client pair
        for mTLS."""
        targets = target.split(",") if isinstance(target, str) else list(target)
        self.targets = [item.strip() for item in targets if item.strip()]
        if not self.targets:
            raise ValueError("VccClient: no target address")
        self._interceptors = [_BearerToken(token)] if token else []
        self._credentials = grpc.ssl_channel_credentials(
            _read(root_certificates), _read(client_key), _read(client_certificate)) \
            if root_certificates is not None else None
        self._options = options
        self._stale_channels: list = []
        self._open(self.targets[0])

    def _open(self, target: str) -> None:
        self.target = target
        if self._credentials is not None:
            self.channel = grpc.aio.secure_channel(target, self._credentials,
                                                   options=self._options,
                                                   interceptors=self._interceptors)
        else:
            self.channel = grpc.aio.insecure_channel(target, options=self._options,
                                                     interceptors=self._interceptors)
        self.routing = routing_pb2_grpc.RoutingStub(self.channel)
        self.agents = agent_control_pb2_grpc.AgentControlStub(self.channel)
        self.admin = admin_pb2_grpc.AdminStub(self.channel)
        self.calls = call_control_pb2_grpc.CallControlStub(self.channel)
        self.crm = crm_pb2_grpc.CrmStub(self.channel)
        self.marketing = crm_pb2_grpc.MarketingStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    async def __aenter__(self) -> "VccClient":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        for channel in self._stale_channels:
            await channel.close()
        self._stale_channels.clear()
        await self.channel.close()

    def switch_to(self, hint: str | None = None) -> str:
        """Point the stubs at the leader a standby named (`hint`), else at the next
        address; returns the new target. The old channel is closed with the client (calls
        still running on it end by themselves)."""
        if hint and hint == self.target:
            return self.target
        if hint:
            target = hint
        else:
            index = self.targets.index(self.target) if self.target in self.targets else -1
            target = self.targets[(index + 1) % len(self.targets)]
        if target != self.target:
            self._stale_channels.append(self.channel)
            self._open(target)
        return target

    async def call(self, method, request, *, timeout: float = 10.0, retry_for_s: float = 15.0):
        """`method(stubs)` (e.g. `lambda c: c.agents.Login`) called with `request` on the
        leader: UNAVAILABLE (a standby, a leader stepping down, a gateway that is gone)
        moves to the leader it names or to the next address and tries again, for at most
        `retry_for_s`. Other errors are raised at once. Not idempotent calls may have been
        applied by a leader that died before answering: callers decide what a retry's
        FAILED_PRECONDITION means."""
        deadline = time.monotonic() + retry_for_s
        attempt = 0
        while True:
            try:
                return await method(self)(request, timeout=timeout)
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() >= deadline:
                    raise
                attempt += 1
                self.switch_to(leader_hint(error))
                await asyncio.sleep(min(0.05 * attempt, 0.5))

    def pbx_link(self, link_id: str, **kwargs) -> "PbxLink":
        return PbxLink(self.calls, link_id, client=self, **kwargs)


# Bytes a repeated field adds around each element at most: its tag and a length prefix.
_ELEMENT_OVERHEAD = 6


def batches(events, max_count: int, max_bytes: int = MAX_MESSAGE_BYTES):
    """`events` (numbered PbxEvents) in order, cut into lists of at most `max_count` events
    and at most `max_bytes` serialized (an arrival carries up to 16 KiB of attached data:
    256 of them pass gRPC's default 4 MiB receive limit, and the router would refuse the
    message). An event larger than `max_bytes` goes alone."""
    batch, size = [], 0
    for event in events:
        cost = event.ByteSize() + _ELEMENT_OVERHEAD
        if batch and (len(batch) >= max_count or size + cost > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += cost
    if batch:
        yield batch


class PbxLink:
    """One PBX link: numbered, batched events out; actions in; resumable.

    Use `send(event)` (a `call_control_pb2.PbxEvent` without `seq`, or several), then
    `await flush()`; read actions with `async for message in link.messages()` (or
    `link.actions()`). If the stream breaks, `await link.reconnect()` opens a new one with
    the same link id and a new `messages()` reads it: events the router did not acknowledge
    are sent again (it applies each once), and the router re-sends the actions this link has
    not acknowledged (each is yielded once: ones already yielded are dropped).

    A message carries at most `max_batch` events and `max_message_bytes` (1 MiB by default,
    cluster/api_limits.py: well under the router's 4 MiB receive limit); more are sent in
    several messages.

    Acknowledgements free actions from the router's replay window: the link tells the router
    (a `hello` on the stream) every `ack_every` handled actions, an action counting as
    handled once the consumer asks for the message after the one that carried it; a
    `reconnect()` (or `acknowledge()`) tells it about every action yielded so far.
    """

    def __init__(self, stub, link_id: str, *, max_batch: int = 256, max_unacked: int = 100_000,
                 ack_every: int = 1024, client: VccClient | None = None,
                 max_message_bytes: int = MAX_MESSAGE_BYTES):
        self._stub = stub
        self._client = client               # leader-aware: its current `calls` stub is used
        self.resent_through = 0             # the newest event seq re-sent by a reconnect
        self.resumes = 0
        self.link_id = link_id
        self.max_batch = max_batch
        self.max_message_bytes = max_message_bytes
        self.max_unacked = max_unacked
        self._next_seq = 1
        self._pending: list = []                                 # numbered, not yet sent
        # Invariant: in increasing seq order (events are numbered in the order they are sent).
        self._unacked: collections.deque = collections.deque()    # sent, not acknowledged
        self.acked_event_seq = 0
        self.last_action_seq = 0             # the newest action yielded (handled)
        # The router keeps actions until the link acknowledges them (a `hello` on a later
        # message); acknowledging every `ack_every` actions bounds its replay window.
        self.ack_every = ack_every
        self._acknowledged_action_seq = 0    # the last_action_seq the router was last told
        self._outbox: asyncio.Queue | None = None
        self._call = None

    async def connect(self) -> None:
        # Invariant: the stream's request iterator reads only from `_outbox`, so a broken
        # stream leaves every unacknowledged event in `_unacked` for the next one.
        self._outbox = asyncio.Queue()
        outbox = self._outbox

        async def requests():
            while True:
                message = await outbox.get()
                if message is None:
                    return
                yield message

        stub = self._client.calls if self._client is not None else self._stub
        self._call = stub.Connect(requests())
        await outbox.put(call_control_pb2.PbxMessage(hello=self._hello()))
        if self._unacked:
            self.resent_through = max(self.resent_through, self._unacked[-1].seq)
        # Re-sent in batches like new events: one message with everything unacknowledged
        # could exceed the router's message size limit.
        for batch in list(batches(self._unacked, self.max_batch, self.max_message_bytes)):
            await outbox.put(call_control_pb2.PbxMessage(events=batch))

    def _hello(self):
        self._acknowledged_action_seq = self.last_action_seq
        return call_control_pb2.PbxHello(link_id=self.link_id,
                                         last_action_seq=self.last_action_seq)

    async def reconnect(self) -> None:
        self.close_stream()
        await self.connect()

    async def resume(self, error=None) -> None:
        """After the stream ended with `error`: move to the leader it names (or the next
        address) and reconnect. A standby refuses the new stream at once, so callers loop
        on this, bounded, until `messages()` yields again."""
        self.resumes += 1
        if self._client is not None:
            self._client.switch_to(leader_hint(error) if error is not None else None)
        await self.reconnect()

    def refused_duplicate(self, error) -> bool:
        """Is this `EventError` the core refusing an event this link re-sent after a
        reconnect because the previous leader had applied it already? Such an event
        changed nothing and was not lost."""
        return 0 < error.event_seq <= self.resent_through and any(
            text in error.message for text in DUPLICATE_REFUSALS)

    def send(self, *events) -> None:
        if len(self._unacked) + len(self._pending) + len(events) > self.max_unacked:
            raise RuntimeError(f"PBX link {self.link_id}: more than {self.max_unacked} events "
                               "unacknowledged; is the router reading?")
        for event in events:
            event.seq = self._next_seq
            self._next_seq += 1
            self._pending.append(event)

    async def flush(self) -> None:
        if self._outbox is None:
            raise RuntimeError("PbxLink.connect() first")
        while self._pending:
            batch = next(batches(self._pending, self.max_batch, self.max_message_bytes))
            del self._pending[:len(batch)]
            self._unacked.extend(batch)
            await self._outbox.put(call_control_pb2.PbxMessage(events=batch))

    async def messages(self):
        """RouterMessages of the current stream as they come, each action in them once
        across reconnects; acknowledgements of events are applied before a message is
        yielded, and actions are acknowledged to the router after it was handled."""
        call = self._call
        if call is None:
            raise RuntimeError("PbxLink.connect() first")
        try:
            async for message in call:
                unacked = self._unacked
                while unacked and unacked[0].seq <= message.acked_event_seq:
                    unacked.popleft()
                self.acked_event_seq = max(self.acked_event_seq, message.acked_event_seq)
                actions = message.actions
                # Actions carry strictly increasing seqs: after a resume, only a head of the
                # first messages can be ones this link has seen.
                if actions and actions[0].seq <= self.last_action_seq:
                    seen = 0
                    while seen < len(actions) and actions[seen].seq <= self.last_action_seq:
                        seen += 1
                    del actions[:seen]
                if actions:
                    self.last_action_seq = actions[-1].seq
                yield message
                # Back here: the consumer handled the message and wants the next one.
                if (self._call is call and self._outbox is not None and
                        self.last_action_seq - self._acknowledged_action_seq >= self.ack_every):
                    self._outbox.put_nowait(call_control_pb2.PbxMessage(hello=self._hello()))
        except asyncio.CancelledError:
            # grpc raises CancelledError from a call cancelled here; when `close_stream()`
            # did that, the stream simply ended. A cancellation of the caller's task goes on.
            task = asyncio.current_task()
            if self._call is not call and call.cancelled() and not (task and task.cancelling()):
                return
            raise

    async def actions(self):
        """RouterActions one by one, each exactly once across reconnects."""
        async for message in self.messages():
            for action in message.actions:
                yield action

    def acknowledge(self) -> None:
        """Tell the router now that every action yielded so far is handled (e.g. before a
        planned close); the link also does this by itself every `ack_every` actions."""
        if self._outbox is not None and self.last_action_seq > self._acknowledged_action_seq:
            self._outbox.put_nowait(call_control_pb2.PbxMessage(hello=self._hello()))

    @property
    def unacknowledged(self) -> int:
        return len(self._unacked) + len(self._pending)

    def close_stream(self) -> None:
        """End the current stream now, as a broken connection would (its request stream is
        closed and the call cancelled). Events not acknowledged stay for `reconnect()`."""
        if self._outbox is not None:
            self._outbox.put_nowait(None)
        if self._call is not None:
            self._call.cancel()
        self._outbox = self._call = None

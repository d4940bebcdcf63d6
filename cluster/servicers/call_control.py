"""CallControl (PBX): one bidirectional stream per PBX link, batches both ways, resumable.

Protocol (see protos/vcc/v1/call_control.proto):
- the first PbxMessage carries `hello` (link id, last action seq handled). A later message may
  carry `hello` again with the same link id to acknowledge actions, which frees them from
  the link's replay window;
- events carry per-link strictly increasing seq numbers; one with a seq already applied is
  skipped (a re-send after a reconnect), while one whose seq goes backwards to a number the
  link never took is refused with an error naming `events[i].seq` (the acknowledgement does
  not move for it); every RouterMessage says up to which seq events are applied
  (`acked_event_seq`) — with a store, committed to it, so a crash after the acknowledgement
  loses none of them;
- a refused event becomes an `error` action naming the field (nothing changed); the stream
  goes on. It may follow actions of later events of the same message;
- actions are numbered per link and kept until acknowledged: a PBX reconnecting with the
  same link id gets every action after its `last_action_seq` again, and keeps its contacts
  (a dropped link abandons nothing: contacts stay queued or connected);
- a RouterMessage carries at most `max_actions_per_message` actions (512) and at most
  MAX_MESSAGE_BYTES (1 MiB, cluster/api_limits.py): well under gRPC's default 4 MiB receive
  limit, whatever attached data the offers of a resumed link's replay carry;
- backpressure: while half the stream limit of actions waits to be written, the router
  reads no more events (HTTP/2 flow control then slows the PBX down). A PBX that does not
  read for the host's `link_stall_timeout_s` meanwhile, or whose link overflows the limit
  with actions from elsewhere (agents, timers), gets RESOURCE_EXHAUSTED;
- a newer stream for the same link ends the older one with ABORTED.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from functools import partial

import grpc

from cluster.api_limits import MAX_MESSAGE_BYTES
from cluster.host import EventRejected, HostClosed
from cluster.request_guard import UndecodableRequest
from cluster.servicers import convert
from cluster.servicers.errors import RequestError
from cluster.servicers.link_load import ROUTER_WARM_UP_S, LinkLoad
from cluster.servicers.streams import Writer
from cluster.tracing import routing_span
from sites import events as ev
from sites.errors import InvalidInput
from sites.actions import OfferContact
from sites.dialer.events import CallOutcome
from vcc.v1 import call_control_pb2, call_control_pb2_grpc

# A contact event (oneof field, whose value is the contact id) and what it means to the core.
_CONTACT_EVENTS = {"answered": ev.ContactConnected, "rejected": ev.OfferRejected,
                   "offer_timed_out": ev.OfferTimedOut, "ended": ev.ContactEnded,
                   "abandoned": ev.ContactAbandoned}
# What the IVR reports of a contact in its routing plan: (message field, core event, and
# the names of the message's fields after contact_id, in the core event's order).
_IVR_EVENTS = {"digits_collected": (ev.DigitsCollected, "digits"),
               "self_service_ended": (ev.SelfServiceEnded, "completed"),
               "callback_chosen": (ev.CallbackChosen, "accepted")}
_CONTACT_EVENTS["prompt_finished"] = ev.PromptFinished
_EVENT_FIELDS = ("arrived",) + tuple(_CONTACT_EVENTS) + tuple(_IVR_EVENTS) + ("call_progress",)
# A campaign call's outcome (README, "The PBX dial protocol").
_OUTCOMES = {call_control_pb2.CALL_OUTCOME_LIVE: CallOutcome.LIVE,
             call_control_pb2.CALL_OUTCOME_MACHINE: CallOutcome.MACHINE,
             call_control_pb2.CALL_OUTCOME_NO_ANSWER: CallOutcome.NO_ANSWER,
             call_control_pb2.CALL_OUTCOME_BUSY: CallOutcome.BUSY,
             call_control_pb2.CALL_OUTCOME_FAILED: CallOutcome.FAILED}
# Events applied in one host batch at most: backpressure is checked between batches. An
# event makes at most a few actions for its link (queued, interflow, offer), so runs of an
# eighth of the stream limit, started below half of it, stay under it.
_MAX_RUN = 256
# With a store, a link goes on applying events while earlier batches are being committed
# (their acknowledgement and actions wait for the commit); at most this many batches may
# wait, so a slow store slows the PBX down instead of growing memory.
_MAX_BATCHES_AWAITING_COMMIT = 64
# Messages read ahead of the one being applied (so that the link's backlog is seen, not left
# in gRPC's buffers); past this many the reader waits and flow control slows the PBX down.
_READ_AHEAD_MESSAGES = 256
_READ_AHEAD_BYTES = 8 << 20         # and of this many bytes (a message may be up to 1 MiB)
# Messages waiting on a link are applied together, up to this many events, as one host
# batch (one round on the Ray runtime): a link that fell behind pays one round for its
# backlog instead of one per message, and catches up instead of staying behind. Bounded:
# a message that came during a batch waits for all of it. Measured (cluster_bench, one
# machine, one run each unless said): at the nominal 2,000/s, 256 events gave p99 36 and
# 38.7 ms with 0-22 refused, 64 gave 55 and 58 ms with 5,400-8,500 refused; at 1.5x, 256
# gave accepted p99 86 ms, 64 gave 69 ms, 32 gave 72 ms with far more refused.
_COALESCE_EVENTS = 256
log = logging.getLogger(__name__)


def _translate(event) -> tuple[str | None, object, str]:
    """(site or None, core event, field prefix for errors) of a PbxEvent."""
    which = event.WhichOneof("event")
    if which is None:
        raise convert.invalid("event", f"must set one of {', '.join(_EVENT_FIELDS)}")
    if which == "arrived":
        site, arrival = convert.contact_arrival(event.arrived, "arrived.")
        return site, arrival, "arrived."
    ivr = _IVR_EVENTS.get(which)
    if ivr is not None:
        cls, field = ivr
        message = getattr(event, which)
        convert.name(message.contact_id, f"{which}.contact_id")
        value = getattr(message, field)
        if field == "digits":
            convert.name(value, f"{which}.digits", required=False, limit=convert.MAX_PHONE)
            # A caller may key a card number: masked as it enters, like attached data (SPEC
            # §9), so the core, its journal and snapshots never hold it.
            value = convert.mask_card_numbers(value)
        return None, cls(0.0, message.contact_id, value), which + "."
    contact_id = getattr(event, which)
    if not contact_id or len(contact_id) > convert.MAX_ID or not contact_id.isprintable():
        convert.name(contact_id, which)          # raises, naming the field
    return None, _CONTACT_EVENTS[which](0.0, contact_id), which


def _error_field(prefix: str, field: str) -> str:
    """An error's field relative to the event: `arrived.skill`, or `answered` (the contact id)."""
    if prefix.endswith("."):
        return prefix + field
    return prefix if field == "contact_id" else f"{prefix}.{field}"


class CallControlServicer(call_control_pb2_grpc.CallControlServicer):
    def __init__(self, host, *, max_actions_per_message: int = 512,
                 max_message_bytes: int = MAX_MESSAGE_BYTES, hello_timeout_s: float = 5.0,
                 max_link_delay_s: float | None = 0.02, callers=None, metrics=None,
                 campaigns=None):
        """`max_link_delay_s`: a message that waited longer than this on its link before
        the router got to it (and longer than a few recent message-apply times) has its new
        contacts refused at once (overloaded: the PBX applies its own overflow) instead of
        routing them late; the events of contacts already here are applied as always.
        None: never. `callers` (cluster/customers/callers.py): arrivals get their
        caller's customer tier from it before they reach the sites."""
        self.host = host
        self.callers = callers
        self.pops = callers.pops if callers is not None else None    # screen pops on offers
        self.max_actions_per_message = max_actions_per_message
        self.max_message_bytes = max_message_bytes
        self.hello_timeout_s = hello_timeout_s
        self.max_link_delay_s = max_link_delay_s
        self.metrics = metrics      # route latency (cluster/metrics.py); None: not measured
        # The campaigns' host (cluster/campaigns/hosting.py): call_progress goes there.
        self.campaigns = campaigns

    async def Connect(self, request_iterator, context):
        messages = request_iterator.__aiter__()
        try:
            first = await asyncio.wait_for(messages.__anext__(), self.hello_timeout_s)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                f"hello: none within {self.hello_timeout_s:g} s")
        try:
            link_id = self._hello(first)
            sites = self._hello_sites(first.hello)
            link = self.host.link(link_id)
            problem = link.check_resume(first.hello.last_action_seq)
            if problem is not None:
                code, field, details = problem
                raise RequestError(getattr(grpc.StatusCode, code), field, details)
            if self.host.closed:
                raise HostClosed()
        except RequestError as error:
            await context.abort(error.code, str(error))
        except HostClosed:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the router is shutting down")
        stream = link.attach(first.hello.last_action_seq)
        link.sites = sites
        writer = Writer(context, stream.stopped)
        reader = None
        # With metrics: contact id -> when the message with its arrival was read, until the
        # first action about it is written (the route latency).
        received = {} if self.metrics is not None else None
        try:
            await writer.start()
            reader = asyncio.ensure_future(self._read(first, messages, link, stream, received))
            await self._write(link, stream, writer, received)
        finally:
            writer.close()
            if reader is not None:
                reader.cancel()
            link.detach(stream)
        if stream.failure is not None:
            code, details = stream.failure
            await context.abort(getattr(grpc.StatusCode, code), details)

    @staticmethod
    def _hello(message) -> str:
        if not message.HasField("hello"):
            raise convert.invalid("hello", "the first message of a stream must carry hello")
        return convert.name(message.hello.link_id, "hello.link_id")

    def _hello_sites(self, hello) -> tuple:
        """The sites a link dials campaigns for, each a site of the center."""
        known = set(self.host.site_names())
        for index, site in enumerate(hello.sites):
            if site not in known:
                raise convert.invalid(f"hello.sites[{index}]", f"unknown site {site[:64]!r}")
        return tuple(hello.sites)

    async def _call_progress(self, link, event) -> list:
        """A campaign call's outcome, to the campaigns' host; [] or the refusal."""
        message = event.call_progress
        try:
            outcome = _OUTCOMES.get(message.outcome)
            if outcome is None:
                raise InvalidInput("call_progress.outcome", "must be live, machine, no_answer, "
                                                            f"busy or failed; got {message.outcome}")
            if self.campaigns is None:
                raise InvalidInput("call_progress.call_id", "no campaigns here (vcc serve "
                                                            "without --db)")
            convert.name(message.call_id, "call_progress.call_id")
            await self.campaigns.progress(link.link_id, message.call_id, outcome)
        except (InvalidInput, RequestError) as error:
            return [EventRejected(event.seq, message.call_id[:convert.MAX_ID],
                                  error.field, error.problem)]
        return []

    # ---- inbound ----------------------------------------------------------------------------
    def _warm_until(self, loop) -> float:
        """The end of the router's warm-up (nothing shed before it), on the loop's clock:
        the host stamps when it began serving with time.monotonic()."""
        try:
            since = getattr(self.host, "serving_since", None)
        except HostClosed:          # no leader any more: the stream is about to end
            since = None
        if since is None:
            return -math.inf
        return since + ROUTER_WARM_UP_S - time.monotonic() + loop.time()

    async def _read(self, first, messages, link, stream, received=None) -> None:
        inbox = _Inbox(messages)
        loop = asyncio.get_running_loop()
        load = LinkLoad(self.max_link_delay_s, calm_until=self._warm_until(loop))
        try:
            await self._receive([first], link, stream, None, received, [loop.time()])
            while True:
                load.batch_ends(inbox.waiting())
                got = await inbox.next()
                if got is None:
                    break
                message, waited_s = got
                began = loop.time()
                if stream.stopped.is_set():
                    return
                batch = [(message, waited_s)]
                if message.HasField("hello"):
                    if message.hello.link_id and message.hello.link_id != link.link_id:
                        stream.fail("INVALID_ARGUMENT",
                                    f"hello.link_id: this stream is link {link.link_id!r}")
                        return
                    if message.hello.last_action_seq > link.last_action_seq:
                        stream.fail("INVALID_ARGUMENT",
                                    f"hello.last_action_seq: {message.hello.last_action_seq} is "
                                    f"ahead of the last action sent ({link.last_action_seq})")
                        return
                    link.ack(message.hello.last_action_seq)
                else:
                    batch += inbox.take_waiting(_COALESCE_EVENTS - len(message.events))
                shed = load.late([waited for _, waited in batch], began)
                await self._receive([taken for taken, _ in batch], link, stream, shed, received,
                                    received is not None and [began - waited
                                                              for _, waited in batch])
                load.applied(loop.time() - began, len(batch))
            await self._all_committed(stream)
        except HostClosed:
            stream.fail("UNAVAILABLE", "the router is shutting down; reconnect to resume")
            return
        except _StreamStopped:
            return
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError:
            pass          # the client went away; the writer ends with the RPC
        except UndecodableRequest as error:       # garbage bytes: cluster/request_guard.py
            stream.fail("INVALID_ARGUMENT", str(error))
            return
        except Exception:
            log.exception("PBX link %s: reading events failed", link.link_id)
            stream.fail("INTERNAL", "the router failed to apply events; reconnect to resume")
            return
        finally:
            inbox.close()
        stream.half_closed = True
        stream.wakeup.set()

    async def _receive(self, messages, link, stream, shed=None, received=None,
                       read_at=None) -> None:
        """Apply the events of `messages` (one, or several that waited on the link) in
        order, as one host batch whatever their sites (runs of at most `max_run` events, so
        that backpressure is checked between them). A message whose `shed` is true (it
        waited too long on the link) has its new contacts refused as overloaded, in their
        place in the order, without reaching the sites. `received` (with metrics): each
        arrival's contact id goes in with when its message was read (`read_at`)."""
        run = []            # [(site or None, core event)]
        meta = []           # [(seq, field prefix)], in step with `run`
        max_run = min(_MAX_RUN, max(1, link.stream_limit // 8))
        newest = link.applied_event_seq        # the newest seq applied or in `run`
        translate = _translate
        if self.callers is not None:        # their tiers, read concurrently (callers.py)
            await self.callers.prefetch(
                [(event.arrived.customer_id, event.arrived.ani) for message in messages
                 for event in message.events if event.HasField("arrived")])
        events = ((number, event, bool(shed and shed[index]), index)
                  for index, message in enumerate(messages)
                  for number, event in enumerate(message.events))
        for number, event, shed_arrivals, index in events:
            seq = event.seq
            if seq == 0:
                await self._flush(link, stream, run, meta)
                run, meta = [], []
                await self._wait_for_room(link, stream)
                await self._after_commit(link, stream, None, [
                    EventRejected(0, "", f"events[{number}].seq", "must be >= 1")])
                continue
            if seq <= newest:
                if link.was_applied(seq):
                    continue        # applied already (re-sent after a reconnect)
                # A number this link skipped, not a re-send: a PBX bug. Refused and not
                # acknowledged, so the PBX cannot take the event for applied (issue 15).
                await self._flush(link, stream, run, meta)
                run, meta = [], []
                await self._wait_for_room(link, stream)
                await self._after_commit(link, stream, None, [EventRejected(
                    seq, _contact_id(event), f"events[{number}].seq",
                    f"goes backwards: {seq} is below {newest}, the newest event of link "
                    f"{link.link_id!r}, and is not one it applied")])
                continue
            link.note_applied(seq)
            if event.WhichOneof("event") == "call_progress":
                await self._flush(link, stream, run, meta)
                run, meta = [], []
                rejections = await self._call_progress(link, event)
                link.applied_event_seq = newest = seq
                await self._after_commit(link, stream, seq, rejections)
                continue
            try:
                if shed_arrivals and event.WhichOneof("event") == "arrived":
                    raise RequestError(
                        grpc.StatusCode.RESOURCE_EXHAUSTED, "arrived.contact_id",
                        f"overloaded: the router is more than {self.max_link_delay_s:g} s "
                        "behind this link; new contacts are refused until it catches up")
                site, core_event, prefix = translate(event)
                if self.callers is not None:
                    await self.callers.identify(core_event)
            except RequestError as error:
                # Refused in its place in the run, not by cutting it: under overload most
                # messages carry refused arrivals, and a cut run is one more round each.
                meta.append((seq, EventRejected(seq, _contact_id(event), error.field,
                                                error.problem)))
            else:
                run.append((site, core_event))
                meta.append((seq, prefix))
                if received is not None and site is not None:       # an arrival
                    received[core_event.contact_id] = read_at[index]
            newest = seq
            if len(meta) >= max_run:
                await self._flush(link, stream, run, meta)
                run, meta = [], []
        await self._flush(link, stream, run, meta)
        stream.wakeup.set()          # acked_event_seq moved even if no action came of it

    async def _flush(self, link, stream, run, meta) -> None:
        """Apply `run` as one host batch; `meta` holds, in order, (seq, field prefix) of each
        event of the run and (seq, its EventRejected) of each event refused before it."""
        if not meta:
            return
        # Inline check: the usual case (room to spare) costs no coroutine.
        if link.unsent >= link.stream_limit // 2 or stream.stopped.is_set():
            await self._wait_for_room(link, stream)
        results = self.host.apply_batch(run, link_id=link.link_id) if run else []
        if type(results) is not list:       # the Ray runtime: an awaited round
            results = await results
        rejections = []
        applied = iter(zip(run, results))
        for seq, prefix in meta:
            if type(prefix) is EventRejected:
                rejections.append(prefix)
                continue
            (site, core_event), result = next(applied)
            if result.error is not None:
                rejections.append(EventRejected(seq, core_event.contact_id,
                                                _error_field(prefix, result.error.field),
                                                result.error.problem))
            elif type(core_event) is ev.ContactArrived:
                _trace_arrival(link.link_id, site, core_event, result)
        # Applied: a re-sent copy is skipped from now on, acknowledged or not.
        link.applied_event_seq = meta[-1][0]
        await self._after_commit(link, stream, meta[-1][0], rejections)

    def _after_commit(self, link, stream, applied_seq, rejections):
        """Send `rejections` and acknowledge events up to `applied_seq` once everything
        applied so far is durable (at once without a store). Acknowledgements are
        cumulative: acknowledging an event before every earlier one is committed would
        let a crash lose events the PBX was told are safe. Returns an awaitable that waits
        only when too many batches already wait for their commit."""
        committed = self.host.committed()
        if committed is None:
            for rejection in rejections:
                link.push(rejection)
            if applied_seq is not None:
                link.committed_event_seq = applied_seq
            return _NO_WAIT
        committed.add_done_callback(partial(_acknowledge, link, stream, applied_seq, rejections))
        waiting = stream.awaiting_commit
        while waiting and waiting[0].done():
            waiting.popleft()
        if not waiting or waiting[-1] is not committed:
            waiting.append(committed)
        return self._bound_waiting(waiting)

    @staticmethod
    async def _bound_waiting(waiting) -> None:
        while len(waiting) > _MAX_BATCHES_AWAITING_COMMIT:
            await _committed(waiting.popleft())

    @staticmethod
    async def _all_committed(stream) -> None:
        """Before the stream half-closes: every event read is acknowledged or refused."""
        waiting = stream.awaiting_commit
        while waiting:
            await _committed(waiting.popleft())

    async def _wait_for_room(self, link, stream) -> None:
        """Apply no more events while half the stream limit waits to be written."""
        deadline = asyncio.get_running_loop().time() + self.host.link_stall_timeout_s
        while link.unsent >= link.stream_limit // 2 and not stream.stopped.is_set():
            remaining = deadline - asyncio.get_running_loop().time()
            stream.drained.clear()
            try:
                await asyncio.wait_for(stream.drained.wait(), max(remaining, 0.0))
            except asyncio.TimeoutError:
                stream.fail("RESOURCE_EXHAUSTED",
                            f"link {link.link_id!r} is {link.unsent} actions behind and has "
                            f"not read for {self.host.link_stall_timeout_s:g} s; reconnect "
                            "to resume")
        if stream.stopped.is_set():
            raise _StreamStopped()

    # ---- outbound ---------------------------------------------------------------------------
    async def _write(self, link, stream, writer, received=None) -> None:
        while not stream.stopped.is_set():
            batch = link.take(self.max_actions_per_message)
            acked = link.committed_event_seq
            if received and batch:
                self.metrics.sent(received, batch, asyncio.get_running_loop().time())
            if batch or acked != stream.acked_event_seq_sent:
                stream.acked_event_seq_sent = acked
                if self.pops is not None and self.pops.building:
                    await self.pops.ready(item.action.contact_id for _, item in batch
                                          if type(getattr(item, "action", None))
                                          is OfferContact)
                for message in convert.router_messages(acked, batch, self.max_message_bytes,
                                                       self.pops):
                    if not await writer.write(message):
                        return
                stream.drained.set()
                continue
            if stream.half_closed:
                return
            # Invariant: nothing was queued since `take` (no await in between), so a push
            # after this clear sets the event again.
            stream.wakeup.clear()
            await stream.wakeup.wait()


def _trace_arrival(link_id, site, arrival, result) -> None:
    """A span for the routing decision of a PBX call (the batch was applied as one: the
    span marks the decision, its duration is not the decision's)."""
    with routing_span("vcc.pbx_arrival", arrival.contact_id, link_id=link_id, site=site,
                      skill=arrival.skill) as span:
        if span.span.is_recording():       # tracing off: no decision to look up
            decision, interflow = convert.decision(arrival.contact_id, result.actions)
            span.set(decision=convert.KIND[type(decision.action)], routed_site=decision.site,
                     to_site=interflow.action.to_site if interflow else None)


class _Done:
    def __await__(self):
        return iter(())


_NO_WAIT = _Done()


async def _committed(future) -> None:
    """Wait for a commit round (shielded: other streams share it); a failed store means
    the router stopped (HostClosed)."""
    await asyncio.shield(future)


def _acknowledge(link, stream, applied_seq, rejections, committed) -> None:
    if committed.cancelled() or committed.exception() is not None:
        return          # the store failed: nothing more is acknowledged (the host stopped)
    for rejection in rejections:
        link.push(rejection)
    if applied_seq is not None and applied_seq > link.committed_event_seq:
        link.committed_event_seq = applied_seq
    stream.wakeup.set()


class _StreamStopped(Exception):
    """The stream ended while events were waiting to be applied (they were not)."""


def _contact_id(event) -> str:
    which = event.WhichOneof("event")
    if which is None:
        return ""
    if which == "call_progress":
        return event.call_progress.call_id[:convert.MAX_ID]
    if which == "arrived" or which in _IVR_EVENTS:      # a message with a contact_id
        return getattr(event, which).contact_id[:convert.MAX_ID]
    return getattr(event, which)[:convert.MAX_ID]


class _Inbox:
    """The link's messages, read ahead of the one being applied, each with when it came:
    how long a message waited for the router is then known (the router refuses the new
    contacts of one that waited too long), and a backlog is held here, bounded, rather than
    unseen in gRPC's buffers."""

    def __init__(self, messages):
        self._messages = messages
        self._queue: deque = deque()
        self._bytes = 0
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._ended = False
        self._error: BaseException | None = None
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for message in self._messages:
                size = message.ByteSize()
                self._queue.append((message, loop.time(), size))
                self._bytes += size
                self._ready.set()
                while (len(self._queue) >= _READ_AHEAD_MESSAGES
                       or self._bytes >= _READ_AHEAD_BYTES):
                    self._room.clear()
                    await self._room.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as error:          # handed to the applier, in order
            self._error = error
        self._ended = True
        self._ready.set()

    async def next(self):
        """(message, seconds it waited) in order; None at the end of the stream; the
        stream's error once the messages before it are taken."""
        while not self._queue:
            if self._ended:
                if self._error is not None:
                    raise self._error
                return None
            self._ready.clear()
            await self._ready.wait()
        message, came, size = self._queue.popleft()
        self._bytes -= size
        self._room.set()
        return message, asyncio.get_running_loop().time() - came

    def take_waiting(self, events: int) -> list:
        """[(message, seconds it waited)] of the messages already here, in order, while
        their events add up to at most `events`; never a hello (it is applied alone)."""
        taken = []
        queue = self._queue
        now = asyncio.get_running_loop().time() if queue else 0.0
        while queue:
            message, came, size = queue[0]
            count = len(message.events)
            if count > events or message.HasField("hello"):
                break
            queue.popleft()
            self._bytes -= size
            events -= count
            taken.append((message, now - came))
        if taken:
            self._room.set()
        return taken

    def waiting(self) -> int:
        """Messages read and not yet taken."""
        return len(self._queue)

    def close(self) -> None:
        self._reader.cancel()

"""Admission control of the gRPC gateway: separate budgets for unary calls, PBX links and
event streams, so that no kind of call can starve another (issue 15).

gRPC's own `maximum_concurrent_rpcs` counts every call alike: 1,000 agent desktops
following their event stream (the documented use) used every place, and then the PBX,
GetStatistics and Health all failed RESOURCE_EXHAUSTED. Here each call is counted in the
budget of its kind while it runs:

    pbx      /vcc.v1.CallControl/Connect (a PBX link)          --max-pbx-links
    stream   every other streaming call (AgentControl and       --max-streams, and
             Routing StreamEvents, Health.Watch, reflection)     --max-streams-per-peer
    unary    every unary call                                   --max-concurrent-rpcs

A call past its budget ends at once with RESOURCE_EXHAUSTED naming the budget, and what
it would have done is not done. Streams also have a cap per peer (the caller's address
without its port: one CTI server may carry many desktops, but one misbehaving host cannot
take every stream). The interceptor goes last, after authentication: a refused or
unauthenticated call never holds a place (cluster/security.py closes unauthenticated
streams, Health.Watch included, at once).
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass

import grpc

from cluster import request_guard

log = logging.getLogger(__name__)

PBX_METHOD = "/vcc.v1.CallControl/Connect"


@dataclass(frozen=True)
class Budgets:
    unary: int = 1000               # unary calls at once
    pbx_links: int = 256            # CallControl.Connect streams at once
    streams: int = 20_000           # other streams at once (agent desktops, CRM listeners)
    streams_per_peer: int = 5_000   # of those, from one address
    # A PBX message whose answer would come later than this after it was read (it waited on
    # its link, and a batch takes its time) has its new contacts refused at once while the
    # link is overloaded (cluster/servicers/link_load.py); 0: never.
    link_delay_ms: int = 20

    def __post_init__(self):
        for name in ("unary", "pbx_links", "streams", "streams_per_peer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"admission budget {name} must be an integer >= 1; "
                                 f"got {value!r}")
        value = self.link_delay_ms
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60_000:
            raise ValueError(f"--max-link-delay-ms must be an integer 0..60000 (0: off); "
                             f"got {value!r}")


def peer_host(peer: str) -> str:
    """'ipv4:127.0.0.1:5000' -> 'ipv4:127.0.0.1'; 'ipv6:[::1]:5000' -> 'ipv6:[::1]'."""
    kind, _, rest = (peer or "").partition(":")
    if kind in ("ipv4", "ipv6") and ":" in rest:
        return f"{kind}:{rest.rsplit(':', 1)[0]}"
    return peer or "unknown"


class AdmissionInterceptor(grpc.aio.ServerInterceptor):
    """Counts running calls per kind (and streams per peer); refuses past the budgets."""

    def __init__(self, budgets: Budgets = Budgets()):
        self.budgets = budgets
        # Invariant: each count is the number of wrapped behaviors running now of that kind.
        self.running = {"unary": 0, "pbx": 0, "stream": 0}
        self.streams_by_peer: dict[str, int] = {}
        self.refused = {"unary": 0, "pbx": 0, "stream": 0}
        self._handlers: dict = {}       # method -> (its handler, the wrapped one): built once

    def _limit(self, kind: str) -> int:
        return {"unary": self.budgets.unary, "pbx": self.budgets.pbx_links,
                "stream": self.budgets.streams}[kind]

    def _admit(self, kind: str, peer: str) -> str | None:
        """Take a place; None, or why there is none."""
        if self.running[kind] >= self._limit(kind):
            names = {"unary": "unary calls (--max-concurrent-rpcs)",
                     "pbx": "PBX links (--max-pbx-links)",
                     "stream": "event streams (--max-streams)"}
            return f"too many {names[kind]} at once: {self._limit(kind)}"
        if kind == "stream":
            count = self.streams_by_peer.get(peer, 0)
            if count >= self.budgets.streams_per_peer:
                return (f"too many event streams from {peer} at once: "
                        f"{self.budgets.streams_per_peer} (--max-streams-per-peer)")
            self.streams_by_peer[peer] = count + 1
        self.running[kind] += 1
        return None

    def _release(self, kind: str, peer: str) -> None:
        self.running[kind] -= 1
        if kind == "stream":
            count = self.streams_by_peer[peer] - 1
            if count:
                self.streams_by_peer[peer] = count
            else:
                del self.streams_by_peer[peer]

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        cached = self._handlers.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        if method == PBX_METHOD:
            kind = "pbx"
        elif handler.request_streaming or handler.response_streaming:
            kind = "stream"
        else:
            kind = "unary"
        wrapped = _wrapped(handler, self, kind, method)
        self._handlers[method] = (handler, wrapped)
        return wrapped


def _wrapped(handler: grpc.RpcMethodHandler, admission: AdmissionInterceptor, kind: str,
             method: str) -> grpc.RpcMethodHandler:
    """`handler` with its behavior run inside a place of `kind`, and undecodable requests
    refused with INVALID_ARGUMENT (cluster/request_guard.py)."""
    streaming_request = handler.request_streaming
    if handler.request_streaming and handler.response_streaming:
        behavior, make = handler.stream_stream, grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        behavior, make = handler.stream_unary, grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        behavior, make = handler.unary_stream, grpc.unary_stream_rpc_method_handler
    else:
        behavior, make = handler.unary_unary, grpc.unary_unary_rpc_method_handler

    async def refuse(context, peer, why):
        admission.refused[kind] += 1
        if admission.refused[kind] % 1000 == 1:      # one line, not a flood, under a storm
            log.warning("RESOURCE_EXHAUSTED %s from %s: %s (%d refused so far)", method,
                        peer, why, admission.refused[kind])
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, why)

    async def enter(request, context, peer: str):
        """The request the behavior gets; aborts on a bad one or when there is no place."""
        if streaming_request:
            request = request_guard.checked_requests(request, method, context)
        else:
            bad = request_guard.refusal(request, method, peer)
            if bad is not None:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(bad))
        why = admission._admit(kind, peer_host(peer))
        if why is not None:
            await refuse(context, peer, why)
        return request

    # The peer is read once, at the start: the place is given back in `finally`, which for
    # a stream may run after the call is gone (its generator closed at the server's stop,
    # or collected), and reading a gone call's peer crashed the server (SIGSEGV in gRPC's
    # cygrpc, 1 stop in about 20 of a loaded machine: the core dump's stack).
    if inspect.isasyncgenfunction(behavior):
        async def run(request, context):
            peer = context.peer()
            request = await enter(request, context, peer)
            try:
                async for response in behavior(request, context):
                    yield response
            except request_guard.UndecodableRequest as bad:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(bad))
            finally:
                admission._release(kind, peer_host(peer))
    else:
        async def run(request, context):
            peer = context.peer()
            request = await enter(request, context, peer)
            try:
                result = behavior(request, context)
                return (await result) if inspect.isawaitable(result) else result
            except request_guard.UndecodableRequest as bad:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(bad))
            finally:
                admission._release(kind, peer_host(peer))

    return make(run, request_deserializer=request_guard.guard_deserializer(
                    handler.request_deserializer),
                response_serializer=handler.response_serializer)

"""OpenTelemetry tracing (issue 4 item 4): a SERVER span per RPC and a span per routing decision.

Off by default. `configure_tracing("none")` (the default) installs nothing: `routing_span` returns
a shared do-nothing object and the server gets no TracingInterceptor, so tracing costs one global
read per decision. With "console" or "otlp" every RPC becomes a span named
`vcc.v1.Routing/RouteContact` (OTel RPC conventions), child of the caller's W3C `traceparent`
when the metadata carries one, and servicers wrap each routing decision in
`routing_span(...)`, which becomes its child.

Span status follows the OTel gRPC server conventions: ERROR only for the codes that mean the
server failed (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS);
a refused or invalid request (UNAUTHENTICATED, INVALID_ARGUMENT, ...) is the client's fault and
leaves the status unset. The code itself is always in `rpc.grpc.status_code`.

Anything here that can carry caller data (attribute values, status descriptions, exception
messages and stack traces) goes through `mask_for_logs` first (card numbers, phone numbers).
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from cluster.masking import mask_for_logs

EXPORTERS = ("none", "console", "otlp")
TRACER_NAME = "vcc"
SERVER_ERROR_CODES = frozenset({
    grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS,
})
_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}
# Explicit W3C trace context, whatever OTEL_PROPAGATORS says: PBX and CRM integrations are told
# to send `traceparent`, and nothing else is parsed from their metadata.
_PROPAGATOR = TraceContextTextMapPropagator()

# The tracer routing_span (and a TracingInterceptor built without a provider) uses; None = off.
_tracer: trace.Tracer | None = None


def install_tracer_provider(provider: trace.TracerProvider | None) -> None:
    """Makes vcc's spans go to `provider` (None: tracing off). configure_tracing calls it; tests
    and embedders call it directly with their own provider."""
    global _tracer
    _tracer = None if provider is None else provider.get_tracer(TRACER_NAME)


def configure_tracing(exporter: str = "none", endpoint: str | None = None,
                      service_name: str = "vcc") -> TracerProvider | None:
    """Sets up tracing from the `--trace-exporter` / `--trace-endpoint` flags. Returns the
    provider (call its `shutdown()` at exit to flush the last spans), or None for "none".
    `endpoint` is for otlp only, e.g. "http://127.0.0.1:4317" (an http:// endpoint is plaintext;
    without one the exporter reads OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4317)."""
    if exporter not in EXPORTERS:
        raise ValueError(f"--trace-exporter {exporter!r}: expected one of {', '.join(EXPORTERS)}")
    if endpoint is not None and exporter != "otlp":
        raise ValueError(f"--trace-endpoint is only for --trace-exporter otlp, not {exporter!r}")
    if exporter == "none":
        install_tracer_provider(None)
        return None
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=endpoint)
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    # Batch: exporting (stdout or network) never runs on the event loop's critical path.
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    install_tracer_provider(provider)
    # Also the process-wide provider, for other instrumentations; OTel allows setting it once.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    return provider


# --- masking of what reaches a span ------------------------------------------------------------

def _attribute_value(value: Any):
    """An OTel attribute value with card and phone numbers masked; None = leave it out."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        text = str(value)
        masked = mask_for_logs(text)
        return value if masked == text else masked
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(mask_for_logs(item) for item in value)
    return mask_for_logs(value if isinstance(value, str) else str(value))


def _record_exception(span: trace.Span, error: BaseException) -> None:
    """The OTel exception event, with message and stack trace masked."""
    span.record_exception(error, attributes={
        "exception.message": mask_for_logs(str(error)),
        "exception.stacktrace": mask_for_logs("".join(traceback.format_exception(error))),
    })


# --- routing decisions -------------------------------------------------------------------------

class RoutingSpan:
    """What `with routing_span(...) as span` gives: `span.set(decision="queued", ...)` adds
    attributes, masked like the ones given at the start. `.span` is the raw OTel span (unmasked:
    avoid it for caller data)."""

    __slots__ = ("span",)

    def __init__(self, span: trace.Span):
        self.span = span

    def set(self, **attributes) -> None:
        for key, value in attributes.items():
            value = _attribute_value(value)
            if value is not None:
                self.span.set_attribute(key if "." in key else f"vcc.{key}", value)


class _NoRoutingSpan(RoutingSpan):
    """Tracing off: one shared instance; entering, setting and leaving do nothing."""

    __slots__ = ()

    def set(self, **attributes) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


_NO_ROUTING_SPAN = _NoRoutingSpan(trace.INVALID_SPAN)


class _ActiveRoutingSpan(RoutingSpan):
    __slots__ = ("_token",)

    def __enter__(self):
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(self, exc_type, error, unused_traceback):
        try:
            if isinstance(error, Exception):
                _record_exception(self.span, error)
                self.span.set_status(Status(
                    StatusCode.ERROR, mask_for_logs(f"{type(error).__name__}: {error}")))
        finally:
            otel_context.detach(self._token)
            self.span.end()
        return False


def routing_span(name: str, contact_id: str, **attributes) -> RoutingSpan:
    """A context manager around one routing decision: a span `name`, child of the current span
    (the RPC's), with `vcc.contact_id` and `vcc.<key>` for each keyword (site, skill, decision,
    ...; a dotted key is kept as given). Every value passes through mask_for_logs."""
    tracer = _tracer
    if tracer is None:
        return _NO_ROUTING_SPAN
    span = tracer.start_span(name, attributes={"vcc.contact_id": _attribute_value(contact_id)})
    active = _ActiveRoutingSpan(span)
    active.set(**attributes)
    return active


# --- the server interceptor --------------------------------------------------------------------

def _status_code(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> grpc.StatusCode:
    code = context.code()  # what the servicer set or aborted with; None if neither
    if code is None:
        return default
    return code if isinstance(code, grpc.StatusCode) else _CODE_BY_NUMBER.get(code, default)


def _finish(span: trace.Span, context: grpc.aio.ServicerContext, error: BaseException | None):
    """Ends the RPC span with the status code the client will see."""
    if error is None:
        code = _status_code(context, grpc.StatusCode.OK)
    elif isinstance(error, grpc.aio.AbortError):
        code = _status_code(context, grpc.StatusCode.UNKNOWN)
    elif isinstance(error, (asyncio.CancelledError, GeneratorExit)):
        code = grpc.StatusCode.CANCELLED  # the client went away (or its deadline passed)
    else:
        # grpc answers UNKNOWN for an unhandled exception, unless the servicer set a code first.
        code = _status_code(context, grpc.StatusCode.UNKNOWN)
        if code == grpc.StatusCode.OK:
            code = grpc.StatusCode.UNKNOWN
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    details = context.details() or ""
    if isinstance(error, Exception) and not isinstance(error, grpc.aio.AbortError):
        _record_exception(span, error)
        details = details or f"{type(error).__name__}: {error}"
    if code in SERVER_ERROR_CODES:
        description = f"{code.name}: {mask_for_logs(details)}" if details else code.name
        span.set_status(Status(StatusCode.ERROR, description))
    span.end()


def _traced(behavior, start_span):
    """`behavior` wrapped so that each call runs inside a new span, of the same async flavour:
    grpc.aio picks the calling convention with inspect (coroutine vs async generator)."""
    if inspect.isasyncgenfunction(behavior):
        async def traced_responses(request, context):
            span = start_span()
            responses = behavior(request, context)
            error = None
            try:
                while True:
                    # The span is current only while the servicer runs: attaching it across a
                    # `yield` would leave it attached to whatever grpc does between messages, and
                    # a generator closed later (client gone) runs in another context.
                    with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                        try:
                            response = await responses.__anext__()
                        except StopAsyncIteration:
                            break
                    yield response
            except BaseException as caught:
                error = caught
                raise
            finally:
                await responses.aclose()
                _finish(span, context, error)
        return traced_responses

    if inspect.iscoroutinefunction(behavior):
        async def traced_call(request, context):
            span = start_span()
            error = None
            try:
                with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                    return await behavior(request, context)
            except BaseException as caught:
                error = caught
                raise
            finally:
                _finish(span, context, error)
        return traced_call

    return behavior  # a sync handler (grpc runs it in a thread pool): left untraced


_HANDLER_FACTORIES = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


class TracingInterceptor(grpc.aio.ServerInterceptor):
    """A SERVER span per RPC with rpc.system=grpc, rpc.service, rpc.method and
    rpc.grpc.status_code, parented on the caller's W3C traceparent. Put it first in the
    server's interceptors so refused calls (AuthInterceptor) are traced too. Health checks are
    not traced by default: load balancers probe them every few seconds."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None, *,
                 untraced_services=("grpc.health.v1.Health",)):
        self._tracer = None if tracer_provider is None else tracer_provider.get_tracer(TRACER_NAME)
        self._untraced = frozenset(untraced_services)

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        tracer = self._tracer or _tracer
        name = handler_call_details.method.lstrip("/")
        service, _, method = name.rpartition("/")
        if handler is None or tracer is None or service in self._untraced:
            return handler
        metadata = handler_call_details.invocation_metadata or ()
        parent = _PROPAGATOR.extract({key: value for key, value in metadata if isinstance(value, str)})
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}

        def start_span():
            return tracer.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)

        field, factory = _HANDLER_FACTORIES[(handler.request_streaming, handler.response_streaming)]
        return factory(_traced(getattr(handler, field), start_span),
                       request_deserializer=handler.request_deserializer,
                       response_serializer=handler.response_serializer)


"""cluster.tracing against a real grpc.aio server on 127.0.0.1: one SERVER span per RPC (unary,
server stream, refused by auth, failed, cancelled), the caller's traceparent as parent, routing
decisions as masked child spans, and nothing at all when tracing is off.

Spans go to an InMemorySpanExporter through a provider installed per test (and removed after);
the process-wide OTel provider is never set here."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from cluster import tracing
from cluster.security import AuthInterceptor
from cluster.tracing import TracingInterceptor, configure_tracing, install_tracer_provider, routing_span
from vcc.v1 import admin_pb2, admin_pb2_grpc, common_pb2, routing_pb2, routing_pb2_grpc

pytestmark = pytest.mark.integration

RPC_TIMEOUT_S = 5
TEST_TIMEOUT_S = 20
CARD = "4111 1111 1111 1111"
MASKED_CARD = "4111 11** **** 1111"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN_ID = "b7ad6b7169203331"
ADMIN_TOKEN = "admin-token-0123456789abcdef"


class Admin(admin_pb2_grpc.AdminServicer):
    async def ListSites(self, request, context):
        return admin_pb2.ListSitesReply(sites=[admin_pb2.Site(name="east")])

    async def GetSite(self, request, context):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"name: no site {request.name!r}")

    async def PutSite(self, request, context):
        raise RuntimeError(f"site {request.name} broke")


class Routing(routing_pb2_grpc.RoutingServicer):
    async def RouteContact(self, request, context):
        contact = request.contact
        with routing_span("route_contact", contact.contact_id, site=contact.site,
                          skill=contact.skill, note=contact.data.get("note")) as span:
            span.set(decision="queued", position=1)
        return routing_pb2.RouteContactReply(queued=common_pb2.QueueTreatment(
            contact_id=contact.contact_id, site=contact.site, position=1))

    async def StreamEvents(self, request, context):
        # "slow": a bounded trickle the client cancels; otherwise three events.
        count, pause = (500, 0.01) if "slow" in request.kinds else (3, 0)
        for number in range(count):
            yield routing_pb2.RoutingEvent(time_s=number)
            await asyncio.sleep(pause)


@pytest.fixture
def exporter():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    install_tracer_provider(provider)
    try:
        yield exporter
    finally:
        install_tracer_provider(None)
        provider.shutdown()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TEST_TIMEOUT_S))


@contextlib.asynccontextmanager
async def channel_to(interceptors):
    server = grpc.aio.server(interceptors=list(interceptors))
    admin_pb2_grpc.add_AdminServicer_to_server(Admin(), server)
    routing_pb2_grpc.add_RoutingServicer_to_server(Routing(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(grace=None)


async def ended_spans(exporter, count):
    """The exporter's spans once `count` have ended: a refused call's status reaches the client
    before its span ends on the server, so look a few times (bounded)."""
    for _ in range(200):
        if len(exporter.get_finished_spans()) >= count:
            break
        await asyncio.sleep(0.01)
    return exporter.get_finished_spans()


async def code_of(call):
    try:
        if hasattr(call, "__aiter__"):
            async for _ in call:
                pass
        else:
            await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def route_request(contact_id="c-1", note=""):
    return routing_pb2.RouteContactRequest(contact=common_pb2.ContactSpec(
        contact_id=contact_id, site="east", skill="billing", data={"note": note}))


def test_one_server_span_per_rpc_unary_and_stream(exporter):
    async def scenario():
        async with channel_to([TracingInterceptor()]) as channel:
            await admin_pb2_grpc.AdminStub(channel).ListSites(
                admin_pb2.ListRequest(), timeout=RPC_TIMEOUT_S)
            stream = routing_pb2_grpc.RoutingStub(channel).StreamEvents(
                routing_pb2.StreamEventsRequest(), timeout=RPC_TIMEOUT_S)
            events = [event async for event in stream]
            return events, await ended_spans(exporter, 2)

    events, spans = run(scenario())
    assert len(events) == 3
    assert [span.name for span in spans] == ["vcc.v1.Admin/ListSites", "vcc.v1.Routing/StreamEvents"]
    for span, (service, method) in zip(spans, [("vcc.v1.Admin", "ListSites"),
                                                ("vcc.v1.Routing", "StreamEvents")]):
        assert span.kind == SpanKind.SERVER
        assert span.parent is None
        assert dict(span.attributes) == {"rpc.system": "grpc", "rpc.service": service,
                                         "rpc.method": method, "rpc.grpc.status_code": 0}
        assert span.status.status_code == StatusCode.UNSET


def test_client_traceparent_becomes_the_parent(exporter):
    traceparent = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"

    async def scenario():
        async with channel_to([TracingInterceptor()]) as channel:
            await admin_pb2_grpc.AdminStub(channel).ListSites(
                admin_pb2.ListRequest(), metadata=(("traceparent", traceparent),), timeout=RPC_TIMEOUT_S)
            return await ended_spans(exporter, 1)

    (span,) = run(scenario())
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT_SPAN_ID
    assert span.parent.is_remote


def test_status_follows_the_grpc_code_and_errors_are_masked(exporter):
    async def scenario():
        async with channel_to([TracingInterceptor()]) as channel:
            admin = admin_pb2_grpc.AdminStub(channel)
            codes = [await code_of(admin.GetSite(admin_pb2.GetRequest(name="x"), timeout=RPC_TIMEOUT_S)),
                     await code_of(admin.PutSite(admin_pb2.Site(name=CARD), timeout=RPC_TIMEOUT_S))]
            return codes, await ended_spans(exporter, 2)

    codes, (invalid, failed) = run(scenario())
    assert codes == [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNKNOWN]
    # A client error: the code is recorded, the span is not an error (OTel gRPC conventions).
    assert invalid.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert invalid.status.status_code == StatusCode.UNSET
    # A server failure: ERROR, with the exception recorded, card number masked everywhere.
    assert failed.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNKNOWN.value[0]
    assert failed.status.status_code == StatusCode.ERROR
    (event,) = failed.events
    assert event.name == "exception"
    assert event.attributes["exception.message"] == f"site {MASKED_CARD} broke"
    assert MASKED_CARD in event.attributes["exception.stacktrace"]
    assert MASKED_CARD in failed.status.description
    for text in (failed.status.description, *map(str, event.attributes.values())):
        assert CARD not in text


def test_a_cancelled_stream_ends_its_span_cancelled(exporter):
    async def scenario():
        async with channel_to([TracingInterceptor()]) as channel:
            stream = routing_pb2_grpc.RoutingStub(channel).StreamEvents(
                routing_pb2.StreamEventsRequest(kinds=["slow"]), timeout=RPC_TIMEOUT_S)
            await stream.read()
            stream.cancel()
            return await ended_spans(exporter, 1)

    (span,) = run(scenario())
    assert span.name == "vcc.v1.Routing/StreamEvents"
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]


def test_calls_refused_by_auth_are_traced(exporter):
    interceptors = [TracingInterceptor(), AuthInterceptor({ADMIN_TOKEN: {"admin"}})]

    async def scenario():
        async with channel_to(interceptors) as channel:
            codes = [
                await code_of(admin_pb2_grpc.AdminStub(channel).ListSites(
                    admin_pb2.ListRequest(), timeout=RPC_TIMEOUT_S)),
                await code_of(routing_pb2_grpc.RoutingStub(channel).StreamEvents(
                    routing_pb2.StreamEventsRequest(),
                    metadata=(("authorization", f"Bearer {ADMIN_TOKEN}"),), timeout=RPC_TIMEOUT_S)),
            ]
            return codes, await ended_spans(exporter, 2)

    codes, spans = run(scenario())
    assert codes == [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED]
    assert sorted((span.name, span.attributes["rpc.grpc.status_code"]) for span in spans) == [
        ("vcc.v1.Admin/ListSites", grpc.StatusCode.UNAUTHENTICATED.value[0]),
        ("vcc.v1.Routing/StreamEvents", grpc.StatusCode.PERMISSION_DENIED.value[0]),
    ]


def test_routing_span_is_a_masked_child_of_the_rpc_span(exporter):
    async def scenario():
        async with channel_to([TracingInterceptor()]) as channel:
            await routing_pb2_grpc.RoutingStub(channel).RouteContact(
                route_request(contact_id=f"ticket {CARD}", note=f"paid with {CARD}"),
                timeout=RPC_TIMEOUT_S)
            return await ended_spans(exporter, 2)

    decision, rpc = run(scenario())
    assert (decision.name, rpc.name) == ("route_contact", "vcc.v1.Routing/RouteContact")
    assert decision.parent.span_id == rpc.context.span_id
    assert decision.context.trace_id == rpc.context.trace_id
    assert dict(decision.attributes) == {
        "vcc.contact_id": f"ticket {MASKED_CARD}", "vcc.site": "east", "vcc.skill": "billing",
        "vcc.note": f"paid with {MASKED_CARD}", "vcc.decision": "queued", "vcc.position": 1,
    }


def test_routing_span_records_a_failure_masked(exporter):
    with pytest.raises(ValueError):
        with routing_span("route_contact", "c-9", site="east"):
            raise ValueError(f"no agent for card {CARD}")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == f"ValueError: no agent for card {MASKED_CARD}"
    assert span.events[0].attributes["exception.message"] == f"no agent for card {MASKED_CARD}"


def test_tracing_off_records_nothing_and_routing_span_is_shared_no_op():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    install_tracer_provider(None)

    first = routing_span("route_contact", "c-1", site="east")
    with first as span:
        span.set(decision="queued")
    assert first is routing_span("other", "c-2") and span.span is trace.INVALID_SPAN

    async def scenario():
        # A TracingInterceptor with no provider, and none installed, adds nothing.
        async with channel_to([TracingInterceptor()]) as channel:
            await routing_pb2_grpc.RoutingStub(channel).RouteContact(
                route_request(), timeout=RPC_TIMEOUT_S)

    run(scenario())
    assert exporter.get_finished_spans() == ()
    provider.shutdown()


def test_configure_tracing(monkeypatch):
    set_globally = []
    monkeypatch.setattr(trace, "set_tracer_provider", set_globally.append)
    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    try:
        assert configure_tracing() is None and tracing._tracer is None
        provider = configure_tracing("console", service_name="vcc-test")
        assert provider.resource.attributes["service.name"] == "vcc-test"
        assert tracing._tracer is not None and set_globally == [provider]
        provider.shutdown()
        otlp = configure_tracing("otlp", endpoint="http://127.0.0.1:4317")
        otlp.shutdown()
        with pytest.raises(ValueError, match="--trace-exporter 'jaeger': expected one of none, "):
            configure_tracing("jaeger")
        with pytest.raises(ValueError, match="--trace-endpoint is only for --trace-exporter otlp"):
            configure_tracing("console", endpoint="http://127.0.0.1:4317")
    finally:
        install_tracer_provider(None)

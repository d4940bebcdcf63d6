"""Fuzz: random field values thrown at every unary RPC (and at a PBX stream) of a real server.

Requests are built from the message descriptors, so a field added to a .proto is fuzzed
too. Strings lean on names that exist (so requests get past the first check and reach the
core), numbers include NaN, infinities and the integer limits, enums take values outside
the known range (proto3 enums are open). The server must never crash and never answer
UNKNOWN or INTERNAL; teardown then checks that every contact the fuzz created ends in
exactly one final state and every invariant of the sites holds.
"""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.streams import queued_requests
from vcc.v1 import admin_pb2, agent_control_pb2, call_control_pb2, routing_pb2

pytestmark = pytest.mark.integration
EXAMPLES_PER_RPC = 200
RPC_TIMEOUT_S = 5.0
SERVER_FAILURES = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}

NAMES = ["", "east", "west", "billing", "sales", "e1", "e2", "e3", "w1", "c1", "q1", "lunch",
         "offer", "queued", "x" * 300]
_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
STRINGS = st.one_of(st.sampled_from(NAMES), _TEXT)
INT32 = st.one_of(st.integers(-3, 20), st.integers(-2 ** 31, 2 ** 31 - 1))
UINT64 = st.one_of(st.integers(0, 20), st.integers(0, 2 ** 64 - 1))
DOUBLES = st.one_of(st.sampled_from([0.0, -0.0, 1.0, 20.0, -1.0, 1e308, -1e308, 5e-324]),
                    st.floats())
ENUMS = st.integers(-3, 10)
SCALARS = {FieldDescriptor.TYPE_STRING: STRINGS, FieldDescriptor.TYPE_DOUBLE: DOUBLES,
           FieldDescriptor.TYPE_INT32: INT32, FieldDescriptor.TYPE_UINT64: UINT64,
           FieldDescriptor.TYPE_BOOL: st.booleans(), FieldDescriptor.TYPE_ENUM: ENUMS}
# Plausible values by field name: most requests then get past the first check and reach
# the core (new contact ids included), the rest stay random.
_CONTACT_IDS = st.one_of(st.sampled_from(["c1", "c2", "q1"]),
                         st.text(alphabet="abcdef0123456789", min_size=3, max_size=6))
HINTS = {
    "site": st.sampled_from(["east", "west"]), "sites": st.sampled_from(["east", "west"]),
    "skill": st.sampled_from(["billing", "sales"]), "skills": st.sampled_from(["billing", "sales"]),
    "name": st.sampled_from(["east", "west", "billing", "sales", "claims", "e1", "e3", "w1", "e9"]),
    "agent_id": st.sampled_from(["e1", "e2", "e3", "w1", "e9"]),
    "contact_id": _CONTACT_IDS, "answered": _CONTACT_IDS, "rejected": _CONTACT_IDS,
    "offer_timed_out": _CONTACT_IDS, "ended": _CONTACT_IDS, "abandoned": _CONTACT_IDS,
    "kinds": st.sampled_from(["offer", "queued", "finished", "agent_state"]),
    "link_id": st.just("fuzz"), "reason": st.sampled_from(["", "lunch"]),
}
_NUMBER_HINTS = {FieldDescriptor.TYPE_DOUBLE: st.floats(0, 100),
                 FieldDescriptor.TYPE_INT32: st.integers(0, 17),
                 FieldDescriptor.TYPE_UINT64: st.integers(0, 20),
                 FieldDescriptor.TYPE_ENUM: st.integers(0, 4)}


def _field(field, depth):
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            if value.type == FieldDescriptor.TYPE_MESSAGE:      # e.g. a campaign's retries
                if depth > 3:
                    return st.nothing()
                return st.dictionaries(STRINGS, messages(value.message_type, depth + 1),
                                       max_size=3)
            return st.dictionaries(STRINGS, STRINGS, max_size=3)
        if depth > 3:
            return st.nothing()
        inner = messages(field.message_type, depth + 1)
    else:
        hint = HINTS.get(field.name) if field.type == FieldDescriptor.TYPE_STRING else \
            _NUMBER_HINTS.get(field.type)
        inner = SCALARS[field.type] if hint is None else st.one_of(hint, hint, SCALARS[field.type])
    return st.lists(inner, max_size=3) if field.is_repeated else inner


def _build(descriptor, values):
    message = message_factory.GetMessageClass(descriptor)()
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        target = getattr(message, name) if field.is_repeated or (
            field.type == FieldDescriptor.TYPE_MESSAGE) else None
        if target is None:
            setattr(message, name, value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str):
                    target[key] = item
                else:
                    target[key].CopyFrom(item)      # a map of messages
        elif field.is_repeated:
            target.extend(value)
        else:
            target.CopyFrom(value)
    return message


def messages(descriptor, depth=0):
    """Any message of this type. Names and sub-messages are always set (their values may
    still be empty or wrong), other fields are set to a random value or left unset."""
    always, maybe = {}, {}
    for field in descriptor.fields:
        present = field.name in HINTS or (field.type == FieldDescriptor.TYPE_MESSAGE
                                          and not field.is_repeated)
        (always if present else maybe)[field.name] = _field(field, depth)
    return st.fixed_dictionaries(always, optional=maybe).map(
        lambda values: _build(descriptor, values))


def _unary_methods():
    found = []
    for module, service, stub in ((routing_pb2, "Routing", "routing"),
                                  (agent_control_pb2, "AgentControl", "agents"),
                                  (admin_pb2, "Admin", "admin")):
        for method in module.DESCRIPTOR.services_by_name[service].methods:
            if not method.client_streaming and not method.server_streaming:
                found.append((stub, method.name, method.input_type))
    return found


UNARY = _unary_methods()


async def _prepare(cluster):
    """Some live state for the fuzz to poke at: agents ready, busy and paused, a contact
    offered, one connected and one queued."""
    await cluster.login_ready("east", "e1", "e2")
    await cluster.agents.Login(cluster.agent_request("east", "e3"), timeout=RPC_TIMEOUT_S)
    await cluster.route("c1", "east", "billing")
    await cluster.route("c2", "east", "billing")
    await cluster.agents.RespondToOffer(agent_control_pb2.OfferResponse(
        site="east", agent_id="e2", contact_id="c2", accept=True), timeout=RPC_TIMEOUT_S)
    await cluster.route("q1", "west", "sales")


def test_every_unary_rpc_is_covered():
    # AgentControl: 7 with FinishPreview. Admin: 12, 7 for routing plans, 7 for campaigns
    # and 3 for do-not-call lists.
    assert len(UNARY) == 4 + 7 + 29


# Campaign calls need a customer store (without one they all refuse at once): fuzzed again
# with one, so that their checks and the store are reached too.
CAMPAIGN_CALLS = [(stub, method, input_type) for stub, method, input_type in UNARY
                  if "Campaign" in method or "DoNotCall" in method]


@pytest.mark.parametrize("stub,method,input_type", UNARY, ids=[f"{s}.{m}" for s, m, _ in UNARY])
def test_random_requests_never_crash_the_server(make_cluster, stub, method, input_type):
    with make_cluster() as cluster:
        _fuzz(cluster, stub, method, input_type)


@pytest.mark.parametrize("stub,method,input_type", CAMPAIGN_CALLS,
                         ids=[f"{s}.{m}" for s, m, _ in CAMPAIGN_CALLS])
def test_random_campaign_requests_with_a_store_never_crash_the_server(
        make_cluster, tmp_path, stub, method, input_type):
    from cluster.store.db import open_engine
    from cluster.store.migrate import upgrade

    assert len(CAMPAIGN_CALLS) == 10
    engine = open_engine(f"sqlite:///{tmp_path}/fuzz.db")
    upgrade(engine)
    try:
        with make_cluster(server_options={"customer_store": engine}) as cluster:
            assert cluster.server.campaigns is not None
            _fuzz(cluster, stub, method, input_type)
    finally:
        engine.dispose()


def _fuzz(cluster, stub, method, input_type) -> None:
    """EXAMPLES_PER_RPC random requests of `method`: never UNKNOWN or INTERNAL, a refusal
    names its field, and the sites stay valid."""
    cluster.run(_prepare(cluster))
    call = getattr(getattr(cluster, stub), method)

    async def code_of(request):
        try:
            await call(request, timeout=RPC_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            return error.code(), error.details()
        return grpc.StatusCode.OK, ""

    @settings(max_examples=EXAMPLES_PER_RPC, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=messages(input_type))
    def one(request):
        code, details = cluster.run(code_of(request))
        assert code not in SERVER_FAILURES, (request, code, details)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            assert ": " in details, details          # the field is named
        cluster.host.validate()

    one()


def test_random_pbx_messages_never_crash_the_stream(make_cluster):
    with make_cluster() as cluster:
        cluster.run(_prepare(cluster))
        event_strategy = messages(call_control_pb2.PbxEvent.DESCRIPTOR)

        @settings(max_examples=EXAMPLES_PER_RPC, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(events=st.lists(event_strategy, max_size=5), ack=st.one_of(st.none(), UINT64))
        def one(events, ack):
            code, _ = cluster.run(pbx_exchange(cluster, events, ack))
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), code
            cluster.host.validate()

        one()


async def pbx_exchange(cluster, events, ack) -> tuple:
    """One Connect of link "fuzz": hello, a message of `events` (and an acknowledgement
    `ack`, if given), end of stream; (status code, details) of how the stream ended."""
    outbox, requests = queued_requests()
    link = cluster.host.link("fuzz")
    outbox.put_nowait(call_control_pb2.PbxMessage(hello=call_control_pb2.PbxHello(
        link_id="fuzz", last_action_seq=link.last_action_seq)))
    message = call_control_pb2.PbxMessage(events=events)
    if ack is not None:
        message.hello.CopyFrom(call_control_pb2.PbxHello(link_id="fuzz", last_action_seq=ack))
    outbox.put_nowait(message)
    outbox.put_nowait(None)
    stream = cluster.calls.Connect(requests, timeout=RPC_TIMEOUT_S)
    try:
        for _ in range(1000):
            if await stream.read() is grpc.aio.EOF:
                break
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()
    return grpc.StatusCode.OK, ""


def _resident_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"),
                    reason="reads the resident set from /proc")
def test_oversized_requests_leave_the_servers_memory_bounded(make_cluster):
    """Issue 15: 40 contacts carrying 3.9 MB of attached data once added 178 MiB to the
    router. 200 contacts of 512 KiB each (100 MiB in all) are now refused, naming the field,
    and the server (in this process) keeps none of it."""
    import gc

    with make_cluster() as cluster:
        cluster.run(_prepare(cluster))
        big = "x" * (512 * 1024)

        async def offer_all() -> list:
            codes = []
            for n in range(200):
                try:
                    await cluster.routing.RouteContact(routing_pb2.RouteContactRequest(
                        contact=cluster.contact(f"big{n}", "east", "billing", data={"note": big})),
                        timeout=RPC_TIMEOUT_S)
                except grpc.aio.AioRpcError as error:
                    codes.append((error.code(), error.details()))
                else:
                    codes.append((grpc.StatusCode.OK, ""))
            return codes

        gc.collect()
        before = _resident_bytes()
        codes = cluster.run(offer_all())
        gc.collect()
        growth = _resident_bytes() - before
        assert all(code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("contact.data")
                   for code, details in codes), codes[:3]
        assert not [cid for cid in cluster.host.live_contacts() if cid.startswith("big")]
        assert growth < 32 * 2 ** 20, f"resident set grew {growth / 2 ** 20:.1f} MiB"

"""CallControl (the PBX link) over a real server: batches both ways, acknowledgements,
idempotent re-sends, a link that drops mid-call and resumes, refused events, takeover, and
the bounds (slow reader, replay window)."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from vcc.v1 import call_control_pb2 as cc
from vcc.v1 import agent_control_pb2, common_pb2

from cluster.servicers.link_load import ROUTER_WARM_UP_S

pytestmark = pytest.mark.integration
STREAM_TIMEOUT_S = 15.0
RPC_TIMEOUT_S = 5.0


def arrived(seq, contact_id, site="east", skill="billing", **fields):
    return cc.PbxEvent(seq=seq, arrived=common_pb2.ContactSpec(
        contact_id=contact_id, site=site, skill=skill, **fields))


def contact_event(seq, kind, contact_id):
    return cc.PbxEvent(seq=seq, **{kind: contact_id})


class Pbx:
    """One Connect stream of a PBX link, driven by the test."""

    def __init__(self, cluster, link_id):
        self.cluster = cluster
        self.link_id = link_id
        self.call = None

    def open(self, last_action_seq=0, events=(), hello=True):
        outbox = self.outbox = asyncio.Queue()

        async def requests():
            while True:
                message = await outbox.get()
                if message is None:
                    return
                yield message
        self.call = self.cluster.calls.Connect(requests(), timeout=STREAM_TIMEOUT_S)
        first = cc.PbxMessage(events=list(events))
        if hello:
            first.hello.CopyFrom(cc.PbxHello(link_id=self.link_id, last_action_seq=last_action_seq))
        outbox.put_nowait(first)
        return self

    def send(self, *events, ack=None):
        message = cc.PbxMessage(events=list(events))
        if ack is not None:
            message.hello.CopyFrom(cc.PbxHello(link_id=self.link_id, last_action_seq=ack))
        self.outbox.put_nowait(message)

    async def read(self) -> cc.RouterMessage:
        message = await self.call.read()
        assert message is not grpc.aio.EOF, "stream ended"
        return message

    async def read_actions(self, count, max_messages=50):
        """(actions, last acked_event_seq) until `count` actions came (bounded)."""
        actions, acked = [], 0
        for _ in range(max_messages):
            if len(actions) >= count:
                break
            message = await self.read()
            actions.extend(message.actions)
            acked = message.acked_event_seq
        assert len(actions) >= count, actions
        return actions, acked

    async def read_until_acked(self, seq, max_messages=50):
        actions = []
        for _ in range(max_messages):
            message = await self.read()
            actions.extend(message.actions)
            if message.acked_event_seq >= seq:
                return actions
        raise AssertionError(f"event {seq} never acknowledged")

    async def status(self):
        """The final status of a stream expected to end, and its details."""
        try:
            for _ in range(10_000):
                if await self.call.read() is grpc.aio.EOF:
                    break
        except grpc.aio.AioRpcError as error:
            return error.code(), error.details()
        return grpc.StatusCode.OK, ""

    def drop(self):
        """The connection breaks: no goodbye."""
        self.call.cancel()


def kinds(actions):
    return [(action.WhichOneof("action"), action.seq) for action in actions]


def test_a_batch_of_calls_through_one_stream(cluster):
    async def scenario():
        await cluster.login_ready("east", "e1", "e2")
        pbx = Pbx(cluster, "pbx-a").open(events=[arrived(1, "c1"), arrived(2, "c2")])
        actions, acked = await pbx.read_actions(2)
        assert acked == 2
        offers = [a.route_to_agent for a in actions if a.HasField("route_to_agent")]
        assert sorted(o.agent_id for o in offers) == ["e1", "e2"]
        assert [a.seq for a in actions] == [1, 2]
        # One message carries answers and hang-ups of both calls.
        pbx.send(contact_event(3, "answered", "c1"), contact_event(4, "answered", "c2"),
                 contact_event(5, "ended", "c1"), contact_event(6, "ended", "c2"))
        actions = await pbx.read_until_acked(6)
        finished = sorted((a.finished.contact_id, a.finished.final_state) for a in actions
                          if a.HasField("finished"))
        assert finished == [("c1", common_pb2.CONTACT_STATE_COMPLETED),
                            ("c2", common_pb2.CONTACT_STATE_COMPLETED)]
        assert [a.seq for a in actions] == [3, 4]
        # A re-sent event is not applied twice (no error, nothing new).
        pbx.send(arrived(2, "c2"), contact_event(6, "ended", "c2"), ack=4)
        pbx.send(arrived(7, "c3"))
        actions = await pbx.read_until_acked(7)
        assert kinds(actions) == [("route_to_agent", 5)]
        pbx.send(contact_event(8, "abandoned", "c3"))      # the caller hangs up while ringing
        actions = await pbx.read_until_acked(8)
        assert kinds(actions) == [("offer_revoked", 6), ("finished", 7)]
        assert actions[1].finished.final_state == common_pb2.CONTACT_STATE_ABANDONED
        pbx.outbox.put_nowait(None)          # a clean half-close ends the stream OK
        return await pbx.status()
    assert cluster.run(scenario()) == (grpc.StatusCode.OK, "")


def test_a_link_that_drops_mid_call_resumes_without_losing_the_contact(cluster):
    async def scenario():
        await cluster.login_ready("east", "e1")
        pbx = Pbx(cluster, "pbx-r").open(events=[arrived(1, "c1"), arrived(2, "c2")])
        actions, _ = await pbx.read_actions(2)
        assert kinds(actions) == [("route_to_agent", 1), ("queued", 2)]
        pbx.send(contact_event(3, "answered", "c1"))
        await pbx.read_until_acked(3)
        pbx.drop()       # mid-call, and nothing acknowledged (last_action_seq stays 0)

        # While the link is down the calls go on: c1 talks, c2 waits; nothing is abandoned.
        await asyncio.sleep(0.05)
        assert (await cluster.host.contact_view("c1")).state.value == "connected"
        assert (await cluster.host.contact_view("c2")).state.value == "queued"
        # An action for the link while it is away: c2 is offered when e2 becomes ready.
        await cluster.login_ready("east", "e2")

        # The PBX reconnects with the same link id and re-sends what it thinks unapplied.
        again = Pbx(cluster, "pbx-r").open(last_action_seq=0,
                                           events=[contact_event(3, "answered", "c1")])
        actions, acked = await again.read_actions(3)
        assert acked == 3        # event 3 was applied once, not twice
        # Every unacknowledged action again, same numbers, then the new one.
        assert kinds(actions) == [("route_to_agent", 1), ("queued", 2), ("route_to_agent", 3)]
        assert actions[2].route_to_agent.contact_id == "c2"
        again.send(contact_event(4, "ended", "c1"), contact_event(5, "answered", "c2"),
                   contact_event(6, "ended", "c2"), ack=3)
        actions = await again.read_until_acked(6)
        assert sorted(a.finished.contact_id for a in actions if a.HasField("finished")) == ["c1", "c2"]
        assert [a.seq for a in actions] == [4, 5]
        again.drop()
        # Resuming after acknowledging 4 re-sends only 5.
        third = Pbx(cluster, "pbx-r").open(last_action_seq=4)
        actions, acked = await third.read_actions(1)
        assert kinds(actions) == [("finished", 5)] and acked == 6
        third.drop()
    cluster.run(scenario())
    for contact_id in ("c1", "c2"):
        assert cluster.host.final_state(contact_id)[0].value == "completed"


def test_refused_events_are_reported_and_change_nothing(cluster):
    async def scenario():
        await cluster.login_ready("east", "e1")
        pbx = Pbx(cluster, "pbx-e").open(events=[arrived(1, "c1")])
        await pbx.read_actions(1)
        before = cluster.fingerprint(links=False)
        pbx.send(cc.PbxEvent(seq=0, answered="c1"),          # seq 0 is invalid
                 arrived(2, "c9", skill="plumbing"),            # unknown skill
                 arrived(3, "c1"),                              # duplicate contact id
                 contact_event(4, "ended", "nope"),             # unknown contact
                 cc.PbxEvent(seq=5),                            # no event at all
                 arrived(6, "c8", priority=77),                 # unknown priority
                 contact_event(7, "rejected", "c1" * 200))      # id too long
        actions = await pbx.read_until_acked(7)
        errors = [(a.error.event_seq, a.error.field) for a in actions if a.HasField("error")]
        assert errors == [(0, "events[0].seq"), (2, "arrived.skill"), (3, "arrived.contact_id"),
                          (4, "ended"), (5, "event"), (6, "arrived.priority"), (7, "rejected")]
        assert all(a.HasField("error") for a in actions)
        assert cluster.fingerprint(links=False) == before
        # The stream goes on.
        pbx.send(contact_event(8, "abandoned", "c1"))
        actions = await pbx.read_until_acked(8)
        assert any(a.HasField("finished") for a in actions)
        pbx.drop()
    cluster.run(scenario())


def test_events_past_the_size_limits_are_refused_naming_the_field(cluster):
    """Issue 15 item 5: the PBX stream's arrivals and contact events are held to the same
    limits as RouteContact (cluster/api_limits.py); the refused ones change nothing."""
    async def scenario():
        pbx = Pbx(cluster, "pbx-limits").open(events=[arrived(1, "ok")])
        await pbx.read_until_acked(1)
        before = cluster.fingerprint(links=False)
        pbx.send(arrived(2, "c" * 129),
                 arrived(3, "c\x00"),
                 arrived(4, "c4", ani="5" * 33),
                 arrived(5, "c5", dnis="\x1b[31m"),
                 arrived(6, "c6", customer_id="k" * 129),
                 arrived(7, "c7", data={f"k{n}": "" for n in range(65)}),
                 arrived(8, "c8", data={"notes": "n" * 16_380}),
                 contact_event(9, "answered", "ok\n"),
                 contact_event(10, "ended", "o" * 129))
        actions = await pbx.read_until_acked(10)
        errors = [(a.error.event_seq, a.error.field) for a in actions if a.HasField("error")]
        assert errors == [(2, "arrived.contact_id"), (3, "arrived.contact_id"),
                          (4, "arrived.ani"), (5, "arrived.dnis"), (6, "arrived.customer_id"),
                          (7, "arrived.data"), (8, "arrived.data"), (9, "answered"),
                          (10, "ended")]
        assert all(a.HasField("error") for a in actions)
        assert cluster.fingerprint(links=False) == before
        pbx.drop()
    cluster.run(scenario())


@pytest.mark.parametrize("first,field", [
    (cc.PbxMessage(), "hello"),
    (cc.PbxMessage(hello=cc.PbxHello(link_id="")), "hello.link_id"),
    (cc.PbxMessage(hello=cc.PbxHello(link_id="x" * 129)), "hello.link_id"),
    (cc.PbxMessage(hello=cc.PbxHello(link_id="pbx\x00")), "hello.link_id"),
    (cc.PbxMessage(hello=cc.PbxHello(link_id="fresh", last_action_seq=5)), "hello.last_action_seq"),
])
def test_a_bad_hello_ends_the_stream_with_invalid_argument(cluster, first, field):
    async def scenario():
        pbx = Pbx(cluster, "unused").open(hello=False)
        pbx.outbox.get_nowait()
        pbx.outbox.put_nowait(first)
        return await pbx.status()
    code, details = cluster.run(scenario())
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(field + ":")


def test_a_newer_stream_takes_the_link_over(cluster):
    async def scenario():
        old = Pbx(cluster, "pbx-t").open(events=[arrived(1, "c1")])
        await old.read_actions(1)
        new = Pbx(cluster, "pbx-t").open(last_action_seq=1)
        message = await new.read()
        assert message.acked_event_seq == 1
        code, details = await old.status()
        new.send(contact_event(2, "abandoned", "c1"))
        actions = await new.read_until_acked(2)
        new.drop()
        return code, details, kinds(actions)
    code, details, actions = cluster.run(scenario())
    assert code == grpc.StatusCode.ABORTED and "taken over" in details
    assert actions == [("finished", 2)]


def test_a_pbx_that_does_not_read_gets_resource_exhausted_and_can_resume(make_cluster):
    # A tiny receive window on the client, a limit of 16 unwritten actions on the link, and
    # 0.3 s without reading while the link is backed up.
    options = dict(host_options={"stream_queue_limit": 16, "link_replay_window": 100_000,
                                 "link_stall_timeout_s": 0.3},
                   channel_options=[("grpc.http2.lookahead_bytes", 1024),
                                    ("grpc.http2.bdp_probe", 0)])
    with make_cluster(**options) as cluster:
        async def scenario():
            pbx = Pbx(cluster, "pbx-slow").open()
            link = cluster.host.link("pbx-slow")
            seq = 0
            for _ in range(100):              # bounded: at most 1,000 calls, 10 a message
                if pbx.call.done():
                    break
                pbx.send(*[arrived(seq + n, f"c{seq + n}", data={"pad": "x" * 200})
                           for n in range(1, 11)])
                seq += 10
                await asyncio.sleep(0.005)     # the router writes; the PBX never reads
            code, details = await pbx.status()
            applied = link.applied_event_seq
            # Nothing was lost: every applied call waits, and a resuming stream gets every action.
            assert 0 < applied < 1000 and len(cluster.host.live_contacts()) == applied
            again = Pbx(cluster, "pbx-slow").open(last_action_seq=0)
            actions, acked = await again.read_actions(applied, max_messages=applied)
            again.drop()
            return code, details, acked == applied, [a.seq for a in actions] == list(
                range(1, applied + 1))
        code, details, acked, seqs = cluster.run(scenario())
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "behind" in details
    assert acked and seqs


def test_the_replay_window_is_bounded_and_a_gap_is_reported(make_cluster):
    with make_cluster(host_options={"stream_queue_limit": 4, "link_replay_window": 4}) as cluster:
        async def scenario():
            pbx = Pbx(cluster, "pbx-w").open(events=[arrived(seq, f"c{seq}") for seq in range(1, 7)])
            await pbx.read_until_acked(6)
            pbx.drop()
            await asyncio.sleep(0.05)
            link = cluster.host.link("pbx-w")
            stale = await Pbx(cluster, "pbx-w").open(last_action_seq=0).status()
            again = Pbx(cluster, "pbx-w").open(last_action_seq=link.dropped_through)
            actions, _ = await again.read_actions(4)
            again.drop()
            return stale, link.dropped_through, [a.seq for a in actions]
        (code, details), dropped, seqs = cluster.run(scenario())
    assert code == grpc.StatusCode.DATA_LOSS and details.startswith("hello.last_action_seq:")
    assert dropped == 2 and seqs == [3, 4, 5, 6]



def test_a_burst_larger_than_the_stream_limit_is_slowed_down_not_refused(make_cluster):
    with make_cluster(host_options={"stream_queue_limit": 16}) as cluster:
        async def scenario():
            pbx = Pbx(cluster, "pbx-burst").open()
            for start in (1, 101, 201):          # 300 calls in 3 messages of 100
                pbx.send(*[arrived(seq, f"c{seq}") for seq in range(start, start + 100)])
            actions = await pbx.read_until_acked(300, max_messages=400)
            pbx.drop()
            return [a.seq for a in actions]
        seqs = cluster.run(scenario())
    assert seqs == list(range(1, 301))


def test_a_link_overflowed_from_elsewhere_gets_resource_exhausted(make_cluster):
    options = dict(host_options={"stream_queue_limit": 16},
                   channel_options=[("grpc.http2.lookahead_bytes", 1024),
                                    ("grpc.http2.bdp_probe", 0)])
    with make_cluster(**options) as cluster:
        async def scenario():
            pbx = Pbx(cluster, "pbx-idle").open(
                events=[arrived(1, "c1", data={"pad": "p" * 500})])
            await cluster.agents.Login(cluster.agent_request("east", "e1"), timeout=RPC_TIMEOUT_S)
            for number in range(40):     # bounded: each round offers c1 and takes it back
                state = common_pb2.AGENT_STATE_READY if number % 2 == 0 else \
                    common_pb2.AGENT_STATE_NOT_READY
                await cluster.agents.SetState(agent_control_pb2.SetStateRequest(
                    site="east", agent_id="e1", state=state), timeout=RPC_TIMEOUT_S)
                await asyncio.sleep(0)
                if pbx.call.done():
                    break
            return await pbx.status()
        code, details = cluster.run(scenario())
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "more than 16 actions behind" in details


def test_an_event_whose_seq_goes_backwards_is_refused_not_acknowledged(cluster):
    """Issue 15 item 7: it was dropped as a re-send and acknowledged, so the contact never
    existed and the PBX was told all was well. Re-sends after a reconnect (the stream's
    first events, in order) are still skipped silently."""
    async def scenario():
        await cluster.login_ready("east", "e1")
        pbx = Pbx(cluster, "pbx-back").open(events=[arrived(1, "c1"), arrived(5, "c5")])
        await pbx.read_until_acked(5)
        pbx.send(arrived(3, "c3"))                       # backwards on this stream
        actions, acked = await pbx.read_actions(1)
        errors = [(a.error.event_seq, a.error.field) for a in actions if a.HasField("error")]
        assert acked == 5
        assert errors == [(3, "events[0].seq")]
        assert "c3" not in cluster.host.live_contacts()
        # The stream goes on; a resumed stream re-sending 5 skips it as applied.
        pbx.send(arrived(6, "c6"))
        await pbx.read_until_acked(6)
        pbx.drop()
        again = Pbx(cluster, "pbx-back").open(last_action_seq=0, events=[arrived(5, "c5"),
                                                                        arrived(7, "c7")])
        actions = await again.read_until_acked(7)
        # (The error about 3 is replayed: this PBX never acknowledged it.)
        assert [a.error.event_seq for a in actions if a.HasField("error")] == [3]
        assert "c7" in cluster.host.live_contacts()
        again.drop()
    cluster.run(scenario())


def test_a_hello_beyond_the_store_s_integers_is_refused():
    """Issue 15 item 4: on a server with a store, a hello resuming after 2**64 - 1 was
    taken as numbered by an earlier process and failed UNKNOWN 'Value out of range' in
    the database, and the link was dead for good."""
    from cluster.host import PbxLink as HostLink

    link = HostLink("pbx-huge", replay_window=100, stream_limit=100)
    link.may_rebase = True
    code, field, details = link.check_resume(2 ** 64 - 1)
    assert (code, field) == ("INVALID_ARGUMENT", "hello.last_action_seq")
    assert link.check_resume(2 ** 63 - 1) is None          # the largest the store can hold


MANY_AGENTS = """\
skills:
  billing: {sl_threshold_s: 20}
sites:
  east:
    agents:
      - {count: 300, skills: {billing: 1}}
"""


def test_a_resumed_link_s_replay_of_big_offers_comes_in_messages_under_the_byte_budget(
        make_cluster):
    """Issue 15 item 3: the router packed up to 512 actions per message and offers carry
    their attached data, so the replay a resumed link gets (here 300 offers of 15 KB, 4.5
    MB) passed the PBX's 4 MiB gRPC receive limit: every resume failed, for good. Now a
    RouterMessage holds at most MAX_MESSAGE_BYTES (1 MiB)."""
    from cluster.api_limits import MAX_MESSAGE_BYTES
    from sites import events as ev

    with make_cluster(MANY_AGENTS) as cluster:
        async def scenario():
            for number in range(300):
                agent_id = f"east-g0-{number}"
                await cluster.host.submit("east", [ev.AgentLoggedIn(0.0, agent_id),
                                                   ev.AgentReady(0.0, agent_id)])
            calls = [arrived(seq, f"big-{seq}", data={"notes": "n" * 15_000})
                     for seq in range(1, 301)]
            pbx = Pbx(cluster, "pbx-big").open(events=calls[:50])
            for start in range(50, 300, 50):
                pbx.send(*calls[start:start + 50])
            link = cluster.host.link("pbx-big")
            for _ in range(500):            # the router applies all 300 (the PBX reads nothing)
                if link.applied_event_seq == 300 and link.last_action_seq >= 300:
                    break
                await asyncio.sleep(0.01)
            assert link.last_action_seq == 300
            pbx.drop()
            again = Pbx(cluster, "pbx-big").open(last_action_seq=0)
            offers, sizes = [], []
            for _ in range(50):
                message = await again.read()
                sizes.append(message.ByteSize())
                offers += [a.route_to_agent for a in message.actions
                           if a.HasField("route_to_agent")]
                if len(offers) == 300:
                    break
            again.drop()
            return offers, sizes
        offers, sizes = cluster.run(scenario(), timeout=60)
    assert sorted(offer.contact_id for offer in offers) == sorted(
        f"big-{seq}" for seq in range(1, 301))
    assert all(len(offer.data["notes"]) == 15_000 for offer in offers)
    assert max(sizes) <= MAX_MESSAGE_BYTES and len(sizes) >= 5, sizes


def test_a_hello_past_the_store_s_integers_changes_nothing_on_a_server_with_a_store(tmp_path):
    """Issue 15 item 4, end to end: on a server journaling to a store, a first message
    saying hello with last_action_seq 2**64 - 1 and carrying an arrival failed UNKNOWN
    ("Value out of range": the next action's number does not fit) after applying the
    arrival, which was never acknowledged, and every later resume failed the same way. Now
    the hello is refused naming the field before anything is applied, and the link can
    resume with a sane hello."""
    from cluster.durable import close_durable_host
    from tests.integration.test_grpc_fuzz_store import StoredCluster

    cluster = StoredCluster(f"sqlite:///{tmp_path}/hello.db").start()
    try:
        async def scenario():
            await cluster.login_ready("east", "e1")
            bad = Pbx(cluster, "pbx-huge").open(last_action_seq=2 ** 64 - 1,
                                                events=[arrived(1, "huge-1")])
            code, details = await bad.status()
            live = cluster.host.live_contacts()
            good = Pbx(cluster, "pbx-huge").open(last_action_seq=0,
                                                 events=[arrived(1, "huge-1")])
            actions = await good.read_until_acked(1)
            good.drop()
            await cluster.finish_everything()
            await cluster.channel.close()
            await cluster.server.stop(0)
            await close_durable_host(cluster.host)
            return code, details, live, actions
        code, details, live, actions = cluster.run(scenario())
    finally:
        cluster.runner.close()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("hello.last_action_seq: ") and str(2 ** 63 - 1) in details
    assert live == []
    assert [(a.seq, a.route_to_agent.contact_id) for a in actions] == [(1, "huge-1")]


def test_an_event_after_the_end_in_the_same_message_finishes_the_contact_once():
    """Found by the fuzz suite: [arrived q1, abandoned q1, ended q1] in one message. The
    `ended` is refused (q1 is finished) and the link is told q1's final state again, but
    the streams that follow routing see q1 finish once: it finished once."""
    from tests.integration.conftest import running_cluster
    from tests.integration.test_grpc_fuzz import pbx_exchange

    from sites.model import ContactState

    event = cc.PbxEvent
    events = [event(seq=1, arrived=common_pb2.ContactSpec(contact_id="q1", site="east",
                                                          skill="billing")),
              event(seq=2, abandoned="q1"), event(seq=3, ended="q1")]
    with running_cluster() as cluster:
        code, _ = cluster.run(pbx_exchange(cluster, events, None))
        assert code == grpc.StatusCode.OK
        cluster.drain_record()
        assert cluster.finished["q1"] == 1
        assert cluster.host.final_state("q1")[0] is ContactState.ABANDONED


@pytest.mark.parametrize("just_took_over", [False, True], ids=["serving", "warming-up"])
def test_a_link_the_router_falls_behind_on_sheds_new_contacts_at_once(cluster, just_took_over):
    """Issue 16 item 5: when the router keeps falling behind a PBX link (here: every batch
    takes 0.3 s while the PBX sends a message every 0.1 s), once the link has not gone idle
    for 8 batches (a stall drains in fewer), a message whose answer would come more than
    0.1 s after it was read has its new contacts refused at once (overloaded: the PBX
    applies its own overflow) instead of being routed seconds late; the events of contacts
    already here are still applied, in order; nothing is lost, and a contact refused never
    entered.
    A router in its first seconds of serving (a takeover: cold, and every link re-sends
    its backlog) refuses none of them: they are routed late instead."""
    host = cluster.host
    apply_batch = host.apply_batch
    host.serving_since = time.monotonic() - (0.0 if just_took_over else ROUTER_WARM_UP_S + 1)

    def slow_apply_batch(run, **options):
        results = apply_batch(run, **options)

        async def later():
            await asyncio.sleep(0.3)
            return results
        return later()

    async def scenario():
        await cluster.login_ready("east", "e1", "e2")
        pbx = Pbx(cluster, "pbx-slow").open(events=[arrived(1, "c1")])
        # Past the stream's warm-up (its first 32 messages are never shed: a PBX that just
        # reconnected re-sends a backlog), with messages that carry nothing.
        for _ in range(40):
            pbx.send()
        actions = await pbx.read_until_acked(1)
        assert [a.route_to_agent.contact_id for a in actions
                if a.HasField("route_to_agent")] == ["c1"]
        host.apply_batch = slow_apply_batch
        newcomers = {}          # seq -> contact id
        try:
            pbx.send(arrived(2, "c2"))          # the link is busy from here on
            pbx.send(contact_event(3, "answered", "c1"))
            seq = 3
            for number in range(30):            # bounded: 3 s, past 8 busy batches
                await asyncio.sleep(0.1)
                seq += 1
                newcomers[seq] = f"n{number}"
                pbx.send(arrived(seq, newcomers[seq]))
            seq += 1
            pbx.send(contact_event(seq, "ended", "c1"))
            actions = await pbx.read_until_acked(seq, max_messages=400)
        finally:
            host.apply_batch = apply_batch
        errors = [a.error for a in actions if a.HasField("error")]
        refused = {error.event_seq for error in errors}
        if just_took_over:
            assert not refused, "shed while the router was warming up after a takeover"
        else:
            assert refused, "nothing was shed although the link stayed behind"
        assert all(error.field == "arrived.contact_id" and "overloaded" in error.message
                   for error in errors)
        # Only new contacts are refused, and not before the link had stayed busy.
        assert refused <= set(newcomers) and 2 not in refused
        assert min(newcomers) not in refused
        finished = [(a.finished.contact_id, a.finished.final_state) for a in actions
                    if a.HasField("finished")]
        assert finished == [("c1", common_pb2.CONTACT_STATE_COMPLETED)]
        live = host.live_contacts()
        for number, contact_id in newcomers.items():
            if number in refused:
                assert host.final_state(contact_id) is None and contact_id not in live
            else:
                assert contact_id in live
        # Caught up: new contacts are taken again.
        seq += 1
        pbx.send(arrived(seq, "c4"))
        actions = await pbx.read_until_acked(seq)
        assert not [a for a in actions if a.HasField("error")]
        accepted = ["c2", "c4"] + [contact_id for number, contact_id in newcomers.items()
                                   if number not in refused]
        pbx.send(*(contact_event(seq + 1 + index, "abandoned", contact_id)
                   for index, contact_id in enumerate(accepted)))
        await pbx.read_until_acked(seq + len(accepted), max_messages=400)
        cluster.seen_contacts.update({"c1", *accepted})

    cluster.run(scenario())


def test_messages_waiting_on_a_link_are_applied_together_in_order(cluster):
    """Issue 16 item 5: while one batch is being applied (slow here: 0.2 s), the messages
    that arrive behind it are applied together, as one host batch (one round on the Ray
    runtime) instead of one each, so a link that fell behind catches up; their events keep
    their order and each is acknowledged."""
    host = cluster.host
    apply_batch = host.apply_batch
    batches = []

    def slow_apply_batch(run, **options):
        batches.append([event.contact_id for _, event in run])
        results = apply_batch(run, **options)

        async def later():
            await asyncio.sleep(0.2)
            return results
        return later()

    async def scenario():
        await cluster.login_ready("east", "e1")
        host.apply_batch = slow_apply_batch
        try:
            # A new stream's first messages are never shed (its warm-up): all are routed.
            pbx = Pbx(cluster, "pbx-behind").open()
            for number in range(1, 21):
                pbx.send(arrived(number, f"b{number}"))
            actions = await pbx.read_until_acked(20)
        finally:
            host.apply_batch = apply_batch
        assert [contact for batch in batches for contact in batch] == \
            [f"b{number}" for number in range(1, 21)]
        assert len(batches) <= 4, batches          # one per message before: 20
        assert not [a for a in actions if a.HasField("error")]
        routed = [a.route_to_agent.contact_id for a in actions if a.HasField("route_to_agent")]
        assert routed == ["b1"]                    # e1 takes the first; the rest queue
        for number in range(1, 21):
            pbx.send(contact_event(20 + number, "abandoned", f"b{number}"))
        await pbx.read_until_acked(40)
        cluster.seen_contacts.update(f"b{number}" for number in range(1, 21))

    cluster.run(scenario())


def test_a_pbx_link_s_arrivals_get_their_callers_tiers(make_cluster):
    """Issue 18 on the PBX stream: the callers of a message's arrivals are looked up (all at
    once: Callers.prefetch) before the arrivals reach the sites; a gold caller queues at
    its tier's priority, ahead of a caller nobody knows (the default tier)."""
    from cluster.customers.callers import Callers
    from cluster.customers.store import Profile
    from sites.tiers import parse_tiers

    tiers = parse_tiers({"gold": {"priority": "high"}, "standard": {"priority": "low"}})

    class Directory:
        async def by_customer_id(self, customer_id):
            return None

        async def by_ani(self, ani):
            return Profile("cust-7", "Ada", "gold") if ani == "+14155552671" else None

    config = ("skills:\n  billing: {sl_threshold_s: 20}\nsites:\n  east:\n    agents:\n"
              "      - {ids: [e1], skills: {billing: 1}}\n"
              "tiers:\n  gold: {priority: high}\n  standard: {priority: low}\n")
    with make_cluster(config, server_options={"callers": Callers(Directory(), tiers)}) \
            as cluster:
        async def scenario():
            pbx = Pbx(cluster, "pbx-tiers").open()
            pbx.send(arrived(1, "anon", ani="+14155550000"),
                     arrived(2, "vip", ani="+14155552671"))
            actions = await pbx.read_until_acked(2)
            places = {a.queued.contact_id: a.queued.position for a in actions
                      if a.HasField("queued")}
            assert places == {"anon": 1, "vip": 1}, places    # vip went ahead of anon
            assert cluster.host.sites["east"].contacts["vip"].tier == "gold"
            pbx.send(contact_event(3, "abandoned", "anon"), contact_event(4, "abandoned", "vip"))
            await pbx.read_until_acked(4)
            cluster.seen_contacts.update({"anon", "vip"})

        cluster.run(scenario())

"""CallControl messages are bounded by bytes as well as by count, both ways (issue 15 item 3):
the router's action batches (`convert.router_messages`) and the client's event batches
(`cluster.client.batches`) are cut so that no message passes MAX_MESSAGE_BYTES, every item
is sent once and in order, and small batches still go as one message."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.api_limits import MAX_DATA_BYTES, MAX_MESSAGE_BYTES
from cluster.client import batches
from cluster.servicers.convert import router_messages
from cluster.host import EventRejected
from sites.actions import ContactQueued, OfferContact
from sites.model import Channel, Priority
from vcc.v1 import call_control_pb2, common_pb2


class Routed:
    """The host's (site, action) pair as the link keeps it."""

    def __init__(self, site, action):
        self.site, self.action = site, action


def offer(number: int, data_bytes: int):
    return Routed("east", OfferContact(f"c{number}", f"a{number}", "billing", Channel.CHAT,
                                       100.0, {"notes": "n" * data_bytes} if data_bytes else {}))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([0, 100, 15_000, MAX_DATA_BYTES]), max_size=300),
       st.sampled_from([64 * 1024, 256 * 1024, MAX_MESSAGE_BYTES]))
def test_router_messages_stay_under_the_budget_in_order(sizes, budget):
    batch = [(seq, offer(seq, size)) for seq, size in enumerate(sizes, start=1)]
    messages = router_messages(7, batch, budget)
    assert all(message.ByteSize() <= budget for message in messages)
    assert all(message.acked_event_seq == 7 for message in messages)
    seqs = [action.seq for message in messages for action in message.actions]
    assert seqs == list(range(1, len(sizes) + 1))
    if not batch or sum(m.ByteSize() for m in messages) <= budget:
        assert len(messages) == 1            # what fits goes as one message


def test_a_replay_of_512_big_offers_is_cut_into_few_messages():
    """The case of the issue: a resumed link's replay batch of 512 offers with 16 KiB of
    attached data each (8 MiB) went as one message."""
    batch = [(seq, offer(seq, MAX_DATA_BYTES)) for seq in range(1, 513)]
    messages = router_messages(0, batch)
    sizes = [message.ByteSize() for message in messages]
    assert max(sizes) <= MAX_MESSAGE_BYTES and len(messages) == 9, sizes
    # Small actions of every kind share one message, as before.
    small = [(1, Routed("east", ContactQueued("q1", "billing", Priority.HIGH, 1, 12.0))),
             (2, EventRejected(3, "c3", "events[0].seq", "goes backwards")), (3, offer(3, 0))]
    (message,) = router_messages(5, small)
    assert [action.WhichOneof("action") for action in message.actions] == [
        "queued", "error", "route_to_agent"]


def arrival(seq: int, data_bytes: int) -> call_control_pb2.PbxEvent:
    return call_control_pb2.PbxEvent(seq=seq, arrived=common_pb2.ContactSpec(
        contact_id=f"c{seq}", site="east", skill="billing",
        data={"notes": "n" * data_bytes} if data_bytes else {}))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([0, 100, 15_000, MAX_DATA_BYTES]), max_size=300),
       st.integers(1, 300))
def test_client_batches_stay_under_the_budget_and_the_count_in_order(sizes, max_count):
    events = [arrival(seq, size) for seq, size in enumerate(sizes, start=1)]
    cut = list(batches(events, max_count))
    assert [event.seq for batch in cut for event in batch] == [e.seq for e in events]
    for batch in cut:
        assert 1 <= len(batch) <= max_count
        assert call_control_pb2.PbxMessage(events=batch).ByteSize() <= MAX_MESSAGE_BYTES


def test_offers_to_the_pbx_carry_their_screen_pops_even_in_a_cut_batch():
    """A contact offered and finished in one batch that is cut in several messages: its
    offer still has its pop (forgotten only once every message is made)."""
    from sites.actions import ContactFinished
    from sites.model import ContactState

    class Pops:
        def __init__(self):
            self.pops = {f"c{n}": common_pb2.ScreenPop(customer_id=f"cust{n}") for n in (1, 2)}

        def attach(self, message):
            if message.contact_id in self.pops:
                message.screen_pop.CopyFrom(self.pops[message.contact_id])

        def forget(self, contact_id):
            self.pops.pop(contact_id, None)

    pops = Pops()
    batch = [(1, offer(1, MAX_DATA_BYTES)), (2, offer(2, MAX_DATA_BYTES)),
             (3, Routed("east", ContactFinished("c1", ContactState.COMPLETED, "a1")))]
    messages = router_messages(0, batch, 20 * 1024, pops)
    assert len(messages) > 1
    offers = [action.route_to_agent for message in messages for action in message.actions
              if action.WhichOneof("action") == "route_to_agent"]
    assert [o.screen_pop.customer_id for o in offers] == ["cust1", "cust2"]
    assert list(pops.pops) == ["c2"]                 # c1 ended: its pop is let go

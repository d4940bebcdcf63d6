"""Store rows to Crm messages (cluster/customers/messages.py): channel and final state
names to their enums and back, missing values as "" or UNSPECIFIED, notes masked."""

import types

from cluster.customers import messages
from sites.model import Channel, ContactState
from vcc.v1 import common_pb2


def test_every_channel_and_state_maps_both_ways():
    for channel in Channel:
        number = messages.channel_number(channel.name.lower())
        assert common_pb2.Channel.Name(number) == f"CHANNEL_{channel.name}"
        assert messages.channel_name(number) == channel.name.lower()
    for state in ContactState:
        number = messages.contact_state_number(state.value)
        assert common_pb2.ContactState.Name(number) == f"CONTACT_STATE_{state.name}"
        assert messages.contact_state_name(number) == state.value
    assert messages.channel_number(None) == common_pb2.CHANNEL_UNSPECIFIED
    assert messages.channel_number("pigeon") == common_pb2.CHANNEL_UNSPECIFIED
    assert messages.channel_name(common_pb2.CHANNEL_UNSPECIFIED) == ""
    assert messages.contact_state_number(None) == common_pb2.CONTACT_STATE_UNSPECIFIED


def test_interaction_message():
    row = types.SimpleNamespace(contact_id="k1", customer_id="c1", time=12.5, channel="sms",
                                skill=None, agent_id=None, disposition=None,
                                notes="card 4111-1111-1111-1111", final_state="self_served")
    assert messages.interaction_message(row) == common_pb2.Interaction(
        contact_id="k1", customer_id="c1", time=12.5, channel=common_pb2.CHANNEL_SMS,
        notes="card 4111-11**-****-1111", final_state=common_pb2.CONTACT_STATE_SELF_SERVED)
    empty = types.SimpleNamespace(contact_id=None, customer_id="c1", time=1.0, channel=None,
                                  skill=None, agent_id=None, disposition=None, notes=None,
                                  final_state=None)
    assert messages.interaction_message(empty) == common_pb2.Interaction(
        customer_id="c1", time=1.0)


def test_attributes_an_import_stored_are_text():
    assert messages.attribute_text("smb") == "smb"
    assert messages.attribute_text(3) == "3"
    assert messages.attribute_text({"a": ["é"]}) == '{"a": ["é"]}'

"""Translation between the customer store's rows and the vcc.v1 messages (no logic):
customers, interactions, notes, for the Crm service (cluster/servicers/crm.py) and the
screen pop (cluster/customers/screen_pop.py: its history is `interaction_message`s).

The store keeps a channel and a contact's final state as the core's names in lowercase
("voice", "completed": cluster/store/records.py); a missing value (NULL) is "" or the
enum's UNSPECIFIED in a message. Interaction notes are masked once more on their way out:
notes written before masking at ingress, or by another tool, never show a card number.
"""

from __future__ import annotations

import json

from cluster.masking import mask_card_numbers
from sites.model import Channel, ContactState
from vcc.v1 import common_pb2, crm_pb2

CHANNELS = {channel.name.lower(): common_pb2.Channel.Value(f"CHANNEL_{channel.name}")
            for channel in Channel}
CHANNEL_NAMES = {number: name for name, number in CHANNELS.items()}
CONTACT_STATES = {state.value: common_pb2.ContactState.Value(f"CONTACT_STATE_{state.name}")
                  for state in ContactState}
CONTACT_STATE_NAMES = {number: name for name, number in CONTACT_STATES.items()}


def channel_number(name: str | None) -> int:
    """The Channel of a stored channel name (None or unknown: CHANNEL_UNSPECIFIED)."""
    return CHANNELS.get(name, common_pb2.CHANNEL_UNSPECIFIED)


def channel_name(number: int) -> str:
    """The stored name of a Channel ("" for CHANNEL_UNSPECIFIED or an unknown number)."""
    return CHANNEL_NAMES.get(number, "")


def contact_state_number(name: str | None) -> int:
    """The ContactState of a stored final state (None or unknown: UNSPECIFIED)."""
    return CONTACT_STATES.get(name, common_pb2.CONTACT_STATE_UNSPECIFIED)


def contact_state_name(number: int) -> str:
    """The stored name of a ContactState ("" for UNSPECIFIED or an unknown number)."""
    return CONTACT_STATE_NAMES.get(number, "")


def interaction_message(row, into=None) -> common_pb2.Interaction:
    """A row of `interactions` (or anything with its columns as attributes) as the API
    shows it (`into`: a message to fill in place)."""
    message = common_pb2.Interaction() if into is None else into
    message.contact_id = row.contact_id or ""
    message.customer_id = row.customer_id or ""
    message.time = row.time or 0.0
    message.channel = channel_number(row.channel)
    message.skill = row.skill or ""
    message.agent_id = row.agent_id or ""
    message.disposition = row.disposition or ""
    message.notes = mask_card_numbers(row.notes or "")
    message.final_state = contact_state_number(row.final_state)
    return message


def attribute_text(value) -> str:
    """A stored attribute's value as the API's string: strings as they are, anything else
    an import put there (numbers, lists, objects) as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def customer_message(record) -> crm_pb2.Customer:
    """A customer whole (cluster/customers/profiles.py CustomerRecord) as a message."""
    profile = record.profile
    return crm_pb2.Customer(
        customer_id=profile.customer_id, name=profile.name, phones=list(profile.phones),
        email=profile.email or "", address=profile.address or "", tier=profile.tier or "",
        attributes={key: attribute_text(value) for key, value in profile.attributes.items()},
        account_numbers=list(record.accounts))


def note_message(row) -> crm_pb2.Note:
    """A `customer_notes` row as a message."""
    return crm_pb2.Note(customer_id=row.customer_id, text=row.text, author=row.author or "",
                        time=row.time)

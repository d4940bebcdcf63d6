"""What a person can read of a contact, over a real server journaling to SQLite (SPEC §9,
issue 15 item 6): card numbers however they are written (dots, slashes, underscores, tabs,
double or no-break spaces) are masked to their first 6 and last 4 digits in the offer, the
core, the journal and the records; a card number in a not-ready reason code too; the ANI
keeps only its last 4 digits in the contact records, while the agent's screen pop keeps it
whole (the agent may have to call back)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from cluster.durable import close_durable_host
from tests.integration.test_grpc_fuzz_store import StoredCluster
from vcc.v1 import agent_control_pb2, call_control_pb2, common_pb2, routing_pb2

pytestmark = pytest.mark.integration
T = 5.0
CARD_DIGITS = "4111111111111111"
WRITTEN = {"dots": "4111.1111.1111.1111", "slashes": "4111/1111/1111/1111",
           "underscores": "4111_1111_1111_1111", "tabs": "4111\t1111\t1111\t1111",
           "double": "4111  1111  1111  1111", "nbsp": "4111\u00a01111\u00a01111\u00a01111",
           "dashes": "4111 - 1111 - 1111 - 1111"}
ANI = "+1 555 123 4567"


def every_text(url: str) -> dict:
    """{table: [every text cell]} of the whole database."""
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {name: [value for row in connection.execute(table.select())
                           for value in row if isinstance(value, str)]
                    for name, table in metadata.tables.items()}
    finally:
        engine.dispose()


def test_cards_in_data_and_reasons_and_the_ani_never_reach_the_store_in_clear(tmp_path):
    url = f"sqlite:///{tmp_path}/masking.db"
    cluster = StoredCluster(url).start()
    try:
        async def scenario():
            agents = cluster.agents
            e1 = cluster.agent_request("east", "e1")
            await agents.Login(e1, timeout=T)
            reply = await agents.SetState(agent_control_pb2.SetStateRequest(
                site="east", agent_id="e1", state=common_pb2.AGENT_STATE_NOT_READY,
                reason="refund 4111_1111_1111_1111"), timeout=T)
            reason = reply.state.reason
            cluster.clock.advance(60)          # (intervals of no length are not recorded)
            await agents.SetState(agent_control_pb2.SetStateRequest(
                site="east", agent_id="e1", state=common_pb2.AGENT_STATE_READY), timeout=T)
            # A CRM routes a chat: the offer's screen pop.
            routed = await cluster.route("crm-1", "east", "billing", ani=ANI, data=WRITTEN)
            await agents.RespondToOffer(agent_control_pb2.OfferResponse(
                site="east", agent_id="e1", contact_id="crm-1", accept=True), timeout=T)
            await agents.CompleteContact(agent_control_pb2.ContactRequest(
                site="east", agent_id="e1", contact_id="crm-1"), timeout=T)
            # A PBX call that the caller abandons while it waits.
            call = cluster.calls.Connect(iter([call_control_pb2.PbxMessage(
                hello=call_control_pb2.PbxHello(link_id="pbx-mask"),
                events=[call_control_pb2.PbxEvent(seq=1, arrived=common_pb2.ContactSpec(
                    contact_id="call-1", site="east", skill="billing", ani="+15551234567",
                    data={"card": "4111\u20091111\u20091111\u20091111"})),
                    call_control_pb2.PbxEvent(seq=2, abandoned="call-1")])]), timeout=T)
            async for message in call:
                if message.acked_event_seq >= 2:
                    break
            call.cancel()
            await agents.Logout(e1, timeout=T)
            await cluster.channel.close()
            await cluster.server.stop(0)
            await close_durable_host(cluster.host)      # as a stopped server does
            return reason, routed
        reason, routed = cluster.run(scenario())
    finally:
        cluster.runner.close()
    assert reason == "refund 4111_11**_****_1111"
    assert {key: routed.offer.data[key] for key in WRITTEN} == {
        "dots": "4111.11**.****.1111", "slashes": "4111/11**/****/1111",
        "underscores": "4111_11**_****_1111", "tabs": "4111\t11**\t****\t1111",
        "double": "4111  11**  ****  1111", "nbsp": "4111\u00a011**\u00a0****\u00a01111",
        "dashes": "4111 - 11** - **** - 1111"}
    assert routed.offer.data["ani"] == ANI               # the screen pop keeps the number
    texts = every_text(url)
    for table, values in texts.items():
        for value in values:
            assert CARD_DIGITS not in re.sub(r"\D", "", value), (table, value)
    records = every_text(url)["contact_records"]
    assert "+* *** *** 4567" in records and "+*******4567" in records, records
    assert not [value for value in records if "5551234567" in re.sub(r"\D", "", value)]
    intervals = every_text(url)["agent_state_intervals"]
    assert "refund 4111_11**_****_1111" in intervals, intervals

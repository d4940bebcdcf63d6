"""Preview campaigns in `vcc serve` (SPEC §6, issue 19 item 2): the campaign holds its agent
(not ready, reason `preview`) with one record at a time, sent to the agent's desktop on
AgentControl.StreamEvents (`preview`: campaign, record and customer, never the number); the
desktop answers FinishPreview, dial or skip. Checked, on both runtimes, with one agent and
the fake PBX of test_dialer_pbx.py:
- every record is previewed once; the skipped ones are never dialled, the others dialled
  once each, for that agent, after its preview;
- the agent is not ready (`preview`) while it previews, and each live answer is offered to
  it; when the list is done it is ready again;
- FinishPreview for a record the agent does not preview, or an unknown campaign, is refused
  naming the field, and changes nothing.
And (in process): an agent that logs out during its preview leaves the record to the next
agent, and its desktop's late answer is refused.
"""

from __future__ import annotations

import asyncio
import textwrap

import grpc
import pytest

from cluster.client import VccClient
from tests.integration.test_cli_serve import start, stop
from tests.integration.test_dialer_pbx import FakePbx, log_in_ready, number
from tests.twin_pass import compiled_pass_only
from vcc.v1 import admin_pb2, agent_control_pb2, common_pb2

pytestmark = pytest.mark.integration

CONFIG = textwrap.dedent("""\
    skills:
      outbound_sales: {sl_threshold_s: 2, wrap_up_s: 0}
    sites:
      east:
        agents:
          - {ids: [ann], skills: {outbound_sales: 1}, channels: {outbound: 1}}
    routing: {multisite: local}
    """)
RECORDS = 8
SKIPPED = {"r1", "r4"}


async def _refused(call, request) -> tuple:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(request, timeout=10)
    return raised.value.code(), raised.value.details()


async def preview(port):
    async with VccClient(f"127.0.0.1:{port}") as client:
        agents = client.agents
        await log_in_ready(client, ["ann"])
        await client.admin.PutCampaign(admin_pb2.Campaign(
            name="visits", site="east", skill="outbound_sales", mode="preview"), timeout=10)
        await client.admin.ImportCampaignList(admin_pb2.CampaignListRows(
            campaign="visits", rows=[admin_pb2.CampaignListRow(
                id=f"r{index}", phone=number(index), timezone="America/New_York",
                customer_id=f"cust-{index}") for index in range(RECORDS)]), timeout=10)
        pbx = FakePbx(client)
        reader = asyncio.ensure_future(pbx.run())
        events = agents.StreamEvents(agent_control_pb2.AgentRequest(site="east",
                                                                     agent_id="ann"))
        previewed, states, refusals = [], [], []
        try:
            await client.admin.StartCampaign(admin_pb2.CampaignKey(name="visits"), timeout=30)
            for _ in range(400):                # bounded: one event each
                event = await asyncio.wait_for(events.read(), 30)
                kind = event.WhichOneof("event")
                if kind == "state_changed":
                    states.append((event.state_changed.state, event.state_changed.reason))
                    continue
                if kind != "preview":
                    continue
                record = event.preview
                assert not record.customer_id or record.customer_id == \
                    f"cust-{record.record_id[1:]}"
                if previewed and previewed[-1] == (record.record_id, record.customer_id):
                    continue        # said again (a desktop's reconnect); not the case here
                previewed.append((record.record_id, record.customer_id))
                if not refusals:
                    refusals.append(await _refused(agents.FinishPreview,
                                                   agent_control_pb2.PreviewResponse(
                        site="east", agent_id="ann", campaign="visits",
                        record_id="r99", dial=True)))
                    refusals.append(await _refused(agents.FinishPreview,
                                                   agent_control_pb2.PreviewResponse(
                        site="east", agent_id="ann", campaign="nope",
                        record_id=record.record_id, dial=True)))
                await agents.FinishPreview(agent_control_pb2.PreviewResponse(
                    site="east", agent_id="ann", campaign="visits",
                    record_id=record.record_id, dial=record.record_id not in SKIPPED),
                    timeout=10)
                if len(previewed) == RECORDS:
                    break
            for _ in range(300):                # bounded: 30 s for the last calls
                over = set(pbx.finished) | {call for call in pbx.dials if call not in pbx.live}
                if over >= set(pbx.dials) and len(pbx.dials) == RECORDS - len(SKIPPED):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            reply = await client.admin.ListAgents(admin_pb2.ListRequest(site="east"),
                                                  timeout=10)
            return pbx, previewed, states, refusals, reply.agents[0].state
        finally:
            events.cancel()
            pbx.close()
            reader.cancel()


@pytest.mark.parametrize("runtime", ["inprocess", "ray"])
def test_a_preview_campaign_gives_each_record_to_the_agent_who_says_dial_or_skip(
        tmp_path, runtime):
    compiled_pass_only("campaign hosting in vcc serve, not the scheduler")
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    process, port = start("--runtime", runtime, "--config", str(config), "--db",
                          f"sqlite:///{tmp_path / 'vcc.db'}")
    try:
        pbx, previewed, states, refusals, final_state = asyncio.run(
            asyncio.wait_for(preview(port), 150))
    finally:
        assert stop(process) == 0
    log_text = process.stderr.read()
    assert not pbx.errors
    assert sorted(record for record, _ in previewed) == sorted(f"r{n}" for n in range(RECORDS))
    assert all(customer == f"cust-{record[1:]}" for record, customer in previewed)
    dialled = {f"r{int(dial.phone_number[-4:])}" for dial in pbx.dials.values()}
    assert dialled == {f"r{n}" for n in range(RECORDS)} - SKIPPED
    assert len(pbx.dials) == len(dialled)                           # each once
    assert all(dial.agent_id == "ann" for dial in pbx.dials.values())
    assert all(pbx.offers[call] == "ann" for call in pbx.live)
    assert all(pbx.finished[call] == [common_pb2.CONTACT_STATE_COMPLETED] for call in pbx.live)
    assert (common_pb2.AGENT_STATE_NOT_READY, "preview") in states
    assert final_state == common_pb2.AGENT_STATE_READY              # released at the end
    (code, details), (unknown_code, unknown_details) = refusals
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("record_id:")
    assert unknown_code == grpc.StatusCode.NOT_FOUND and unknown_details.startswith("campaign:")
    for index in range(RECORDS):
        assert number(index) not in log_text


TWO_AGENTS = CONFIG.replace("{ids: [ann]", "{ids: [ann, bob]")


async def _next_preview(events):
    for _ in range(50):                         # bounded: one event each
        event = await asyncio.wait_for(events.read(), 30)
        if event.WhichOneof("event") == "preview":
            return event.preview.record_id
    raise AssertionError("no preview")


async def logout_during_preview(port):
    async with VccClient(f"127.0.0.1:{port}") as client:
        agents = client.agents
        await log_in_ready(client, ["ann"])
        await client.admin.PutCampaign(admin_pb2.Campaign(
            name="visits", site="east", skill="outbound_sales", mode="preview"), timeout=10)
        await client.admin.ImportCampaignList(admin_pb2.CampaignListRows(
            campaign="visits", rows=[admin_pb2.CampaignListRow(
                id=f"r{index}", phone=number(index), timezone="America/New_York")
                for index in range(2)]), timeout=10)
        pbx = FakePbx(client)           # a campaign paces while a PBX link serves its site
        reader = asyncio.ensure_future(pbx.run())
        ann = agents.StreamEvents(agent_control_pb2.AgentRequest(site="east", agent_id="ann"))
        bob = agents.StreamEvents(agent_control_pb2.AgentRequest(site="east", agent_id="bob"))
        try:
            await client.admin.StartCampaign(admin_pb2.CampaignKey(name="visits"), timeout=30)
            first = await _next_preview(ann)
            await agents.Logout(agent_control_pb2.AgentRequest(site="east", agent_id="ann"),
                                timeout=10)
            await log_in_ready(client, ["bob"])
            again = await _next_preview(bob)
            refused = None
            for _ in range(50):     # bounded: until the campaign let go of ann's record
                try:
                    await agents.FinishPreview(agent_control_pb2.PreviewResponse(
                        site="east", agent_id="ann", campaign="visits", record_id=first,
                        dial=True), timeout=10)
                except grpc.aio.AioRpcError as error:
                    refused = (error.code(), error.details())
                    break
                await asyncio.sleep(0.1)
            return first, again, refused
        finally:
            ann.cancel()
            bob.cancel()
            pbx.close()
            reader.cancel()


def test_an_agent_that_logs_out_during_its_preview_leaves_the_record_to_another(tmp_path):
    compiled_pass_only("campaign hosting in vcc serve, not the scheduler")
    config = tmp_path / "center.yaml"
    config.write_text(TWO_AGENTS)
    process, port = start("--runtime", "inprocess", "--config", str(config), "--db",
                          f"sqlite:///{tmp_path / 'vcc.db'}")
    try:
        first, again, refused = asyncio.run(asyncio.wait_for(logout_during_preview(port), 90))
    finally:
        assert stop(process) == 0
    assert first == again == "r0"               # previewed next, by the agent still here
    assert refused[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert refused[1].startswith("record_id:")

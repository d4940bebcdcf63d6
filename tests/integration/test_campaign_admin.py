"""Admin's campaign calls and `vcc campaign` against `vcc serve --runtime inprocess --db`:
bad input refused naming the field (and nothing changes), a list file checked whole
before anything is sent, the states' rules, a PBX's bad `call_progress` and hello sites.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import grpc

from cluster.client import VccClient
from tests.integration.test_cli_serve import start, stop
from tests.integration.test_dialer_pbx import CONFIG
from vcc.v1 import admin_pb2, call_control_pb2


def _campaign(**fields):
    values = dict(name="c1", site="east", skill="outbound_sales", mode="progressive")
    values.update(fields)
    return admin_pb2.Campaign(**values)


async def _refused(call, request):
    try:
        await call(request, timeout=10)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()
    raise AssertionError("not refused")


def _cli(port, *arguments):
    return subprocess.run([sys.executable, "-m", "cluster.cli", "campaign", *arguments,
                           "--address", f"127.0.0.1:{port}"], capture_output=True, text=True,
                          timeout=60)


def test_campaign_admin_and_cli(tmp_path):
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    process, port = start("--runtime", "inprocess", "--config", str(config), "--db",
                          f"sqlite:///{tmp_path}/vcc.db")
    good = tmp_path / "good.csv"
    good.write_text("id,phone,timezone\n" + "".join(
        f"r{n},+1212555{n:04d},America/New_York\n" for n in range(25)))
    bad = tmp_path / "bad.csv"
    bad.write_text("id,phone\nr1,+12125550101\nr2,12345\nr1,+12125550103\n")
    try:
        async def calls():
            async with VccClient(f"127.0.0.1:{port}") as client:
                admin = client.admin
                invalid = grpc.StatusCode.INVALID_ARGUMENT
                for request, field in (
                        (_campaign(mode="sometimes"), "mode: must be one of"),
                        (_campaign(mode="preview", pacing="adaptive"),
                         "pacing: only a predictive campaign paces"),
                        (_campaign(skill="billing"), "skill: unknown skill"),
                        (_campaign(site="mars"), "site: unknown site"),
                        (_campaign(ring_timeout_s=5), "ring_timeout_s: must be at least 15"),
                        (_campaign(retries={"busy": admin_pb2.RetryRule(
                            delay_s=60, max_attempts=1)}), "retries[busy].max_attempts"),
                        (_campaign(name=""), "name:")):
                    code, details = await _refused(admin.PutCampaign, request)
                    assert (code, details.startswith(field)) == (invalid, True), details
                assert not (await admin.ListCampaigns(admin_pb2.ListCampaignsRequest(),
                                                      timeout=10)).campaigns
                await admin.PutCampaign(_campaign(), timeout=10)
                code, details = await _refused(admin.ImportCampaignList, admin_pb2.CampaignListRows(
                    campaign="c1", rows=[admin_pb2.CampaignListRow(id="a", phone="+12125550101"),
                                         admin_pb2.CampaignListRow(id="b", phone="02125550199")]))
                assert code == invalid and details.startswith("rows[1].phone: ")
                assert "2125550199" not in details     # masked: its last 4 digits only
                assert (await admin.GetCampaign(admin_pb2.CampaignKey(name="c1"),
                                                timeout=10)).records == 0
                code, _ = await _refused(admin.GetCampaign, admin_pb2.CampaignKey(name="nope"))
                assert code == grpc.StatusCode.NOT_FOUND
        asyncio.run(asyncio.wait_for(calls(), 60))

        refused = _cli(port, "import", str(bad), "--campaign", "c1")
        assert refused.returncode == 2, refused.stderr
        assert f"{bad}:3: phone: " in refused.stderr and "12345" not in refused.stderr
        assert f"{bad}:4: id: given twice (first on line 2)" in refused.stderr
        imported = _cli(port, "import", str(good), "--campaign", "c1")
        assert imported.returncode == 0, imported.stderr
        assert "25 new, 0 updated, 0 unchanged; campaign 'c1' has 25 records" in imported.stdout
        again = _cli(port, "import", str(good), "--campaign", "c1")
        assert "0 new, 0 updated, 25 unchanged" in again.stdout
        assert '"state": "CAMPAIGN_STATE_RUNNING"' in _cli(port, "start", "c1").stdout
        late = _cli(port, "import", str(good), "--campaign", "c1")
        assert late.returncode == 2 and "FAILED_PRECONDITION" in late.stderr
        assert '"state": "CAMPAIGN_STATE_PAUSED"' in _cli(port, "pause", "c1").stdout
        assert '"state": "CAMPAIGN_STATE_RUNNING"' in _cli(port, "start", "c1").stdout
        assert '"state": "CAMPAIGN_STATE_STOPPED"' in _cli(port, "stop", "c1").stdout
        restart = _cli(port, "start", "c1")
        assert restart.returncode == 2 and "stopped for good" in restart.stderr

        async def pbx():
            async with VccClient(f"127.0.0.1:{port}") as client:
                async def one(hello, *events):
                    async def requests():
                        yield call_control_pb2.PbxMessage(hello=hello)
                        if events:
                            yield call_control_pb2.PbxMessage(events=list(events))
                        await asyncio.sleep(1.0)
                    stream = client.calls.Connect(requests())
                    try:
                        async for message in stream:
                            for action in message.actions:
                                if action.WhichOneof("action") == "error":
                                    return action.error
                    except grpc.aio.AioRpcError as error:
                        return error
                    return None
                error = await one(call_control_pb2.PbxHello(link_id="p", sites=["mars"]))
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert error.details().startswith("hello.sites[0]: unknown site")
                error = await one(call_control_pb2.PbxHello(link_id="p", sites=["east"]),
                                  call_control_pb2.PbxEvent(seq=1, call_progress=call_control_pb2.
                                                            CallProgress(call_id="x", outcome=1)))
                assert (error.event_seq, error.field) == (1, "call_progress.call_id")
                error = await one(call_control_pb2.PbxHello(link_id="q", sites=["east"]),
                                  call_control_pb2.PbxEvent(seq=2, call_progress=call_control_pb2.
                                                            CallProgress(call_id="x")))
                assert error.field == "call_progress.outcome", error
        asyncio.run(asyncio.wait_for(pbx(), 60))
    finally:
        stop(process)


def test_campaigns_need_a_store():
    process, port = start("--runtime", "inprocess")
    try:
        async def call():
            async with VccClient(f"127.0.0.1:{port}") as client:
                return await _refused(client.admin.ListCampaigns,
                                      admin_pb2.ListCampaignsRequest())
        code, details = asyncio.run(asyncio.wait_for(call(), 30))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "--db" in details
    finally:
        stop(process)

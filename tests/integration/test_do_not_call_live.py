"""Do-not-call lists in `vcc serve --db` (SPEC §6): Admin's add/remove/count and `vcc
campaign dnc` against a running campaign dialling through the fake PBX of
test_dialer_pbx.py. Checked: numbers put on the global list and on the campaign's before
it starts and while it runs are never dialled; one removed while it runs is dialled; bad
input is refused naming the field and changes nothing; the lists are kept as keys only;
after a restart the lists and the center's secret are the same (a new campaign skips the
numbers of the global list); no number in clear in the server's log.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys

import grpc
import pytest

from cluster.client import VccClient
from tests.integration.test_campaign_admin import _refused
from tests.integration.test_cli_serve import start, stop
from tests.integration.test_dialer_pbx import (CONFIG, RECORDS, FakePbx, _set_up, number,
                                               ready_again)
from vcc.v1 import admin_pb2
from tests.twin_pass import compiled_pass_only

BEFORE_GLOBAL, BEFORE_CAMPAIGN = 20, 21        # on the lists before the campaign starts
RUNNING_GLOBAL, RUNNING_CAMPAIGN = 22, 23      # added while it runs


def _cli(port, *arguments):
    return subprocess.run([sys.executable, "-m", "cluster.cli", "campaign", "dnc", *arguments,
                           "--address", f"127.0.0.1:{port}"], capture_output=True, text=True,
                          timeout=60)


async def _counts(admin, campaign=""):
    reply = await admin.CountDoNotCall(admin_pb2.DoNotCallKey(campaign=campaign), timeout=10)
    return reply.global_numbers, reply.campaign_numbers


async def _wait_dials(pbx, expected, limit_s=60):
    def done():
        over = set(pbx.finished) | {call for call in pbx.dials if call not in pbx.live}
        return len(pbx.dials) >= expected and over >= set(pbx.dials)
    for _ in range(int(limit_s * 10)):          # bounded
        if done():
            break
        await asyncio.sleep(0.1)
    assert done(), (len(pbx.dials), expected, pbx.errors)
    await asyncio.sleep(0.5)                    # anything late would show up now


async def _first_run(port):
    async with VccClient(f"127.0.0.1:{port}") as client:
        admin = client.admin
        await _set_up(client, "progressive", "c1")
        invalid = grpc.StatusCode.INVALID_ARGUMENT
        # Bad input: refused naming the field, nothing changed.
        code, details = await _refused(admin.AddDoNotCall, admin_pb2.DoNotCallNumbers(
            numbers=[number(1), "02125550199", number(2)]))
        assert code == invalid and details.startswith("numbers[1]: "), details
        assert "2125550199" not in details
        code, details = await _refused(admin.AddDoNotCall, admin_pb2.DoNotCallNumbers())
        assert code == invalid and details.startswith("numbers: ")
        code, details = await _refused(admin.AddDoNotCall, admin_pb2.DoNotCallNumbers(
            numbers=[number(1)] * 10_001))
        assert code == invalid and details.startswith("numbers: at most 10,000")
        code, details = await _refused(admin.AddDoNotCall, admin_pb2.DoNotCallNumbers(
            campaign="nope", numbers=[number(1)]))
        assert code == grpc.StatusCode.NOT_FOUND and details.startswith("campaign: ")
        assert await _counts(admin, "c1") == (0, 0)
        # Before it starts: loaded by the pacer when it starts.
        reply = await admin.AddDoNotCall(admin_pb2.DoNotCallNumbers(
            numbers=[number(BEFORE_GLOBAL), number(BEFORE_GLOBAL)]), timeout=10)
        assert (reply.changed, reply.unchanged, reply.global_numbers) == (1, 1, 1)
        reply = await admin.AddDoNotCall(admin_pb2.DoNotCallNumbers(
            campaign="c1", numbers=[number(BEFORE_CAMPAIGN)]), timeout=10)
        assert (reply.changed, reply.global_numbers, reply.campaign_numbers) == (1, 1, 1)

        pbx = FakePbx(client)
        reader = asyncio.ensure_future(pbx.run())
        try:
            await admin.StartCampaign(admin_pb2.CampaignKey(name="c1"), timeout=30)
            for _ in range(300):                # bounded: 30 s
                if pbx.dials:
                    break
                await asyncio.sleep(0.02)
            assert pbx.dials
            # While it runs (the list is dialled in order: these are far ahead).
            await admin.AddDoNotCall(admin_pb2.DoNotCallNumbers(
                numbers=[number(RUNNING_GLOBAL)]), timeout=10)
            await admin.AddDoNotCall(admin_pb2.DoNotCallNumbers(
                campaign="c1", numbers=[number(RUNNING_CAMPAIGN)]), timeout=10)
            reply = await admin.RemoveDoNotCall(admin_pb2.DoNotCallNumbers(
                campaign="c1", numbers=[number(BEFORE_CAMPAIGN), number(5)]), timeout=10)
            assert (reply.changed, reply.unchanged, reply.campaign_numbers) == (1, 1, 1)
            assert len(pbx.dials) < RUNNING_GLOBAL - 3, "too late for the test to mean much"
            await _wait_dials(pbx, RECORDS - 3)
        finally:
            pbx.close()
            reader.cancel()
        dialled = sorted(int(dial.phone_number[-4:]) for dial in pbx.dials.values())
        assert dialled == [n for n in range(RECORDS)
                           if n not in (BEFORE_GLOBAL, RUNNING_GLOBAL, RUNNING_CAMPAIGN)]
        assert await _counts(admin, "c1") == (2, 1)
        await admin.StopCampaign(admin_pb2.CampaignKey(name="c1"), timeout=30)
        return [dial.phone_number for dial in pbx.dials.values()]


async def _after_restart(port):
    """The lists are the same, and so is the secret: a new campaign of the numbers 20..23
    dials only those not on the global list."""
    async with VccClient(f"127.0.0.1:{port}") as client:
        admin = client.admin
        assert await _counts(admin, "c1") == (2, 1)
        await ready_again(client)
        await admin.PutCampaign(admin_pb2.Campaign(
            name="c2", site="east", skill="outbound_sales", mode="progressive"), timeout=10)
        await admin.ImportCampaignList(admin_pb2.CampaignListRows(campaign="c2", rows=[
            admin_pb2.CampaignListRow(id=f"s{n}", phone=number(n), timezone="America/New_York")
            for n in range(20, 24)]), timeout=10)
        pbx = FakePbx(client)
        reader = asyncio.ensure_future(pbx.run())
        try:
            await admin.StartCampaign(admin_pb2.CampaignKey(name="c2"), timeout=30)
            await _wait_dials(pbx, 2)
        finally:
            pbx.close()
            reader.cancel()
        return sorted(int(dial.phone_number[-4:]) for dial in pbx.dials.values())


def _secret(db_path):
    with sqlite3.connect(db_path) as connection:
        return connection.execute("SELECT value FROM center_secrets").fetchall()


@pytest.mark.parametrize("runtime", ["inprocess", "ray"])
def test_do_not_call_lists_in_the_live_cluster(tmp_path, runtime):
    if runtime == "ray":
        compiled_pass_only("the Ray variant (the twin runs the in-process one)")
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    db_path = tmp_path / "vcc.db"
    arguments = ("--runtime", runtime, "--config", str(config), "--db", f"sqlite:///{db_path}")
    process, port = start(*arguments)
    try:
        numbers = asyncio.run(asyncio.wait_for(_first_run(port), 150))
        # The CLI: numbers checked before anything is sent; a file's problems name file:line.
        bad = tmp_path / "bad.csv"
        bad.write_text("phone\n+12125550100\n12345\n")
        refused = _cli(port, "add", "--file", str(bad))
        assert refused.returncode == 2, refused.stderr
        assert f"{bad}:3: phone: " in refused.stderr and "12345" not in refused.stderr
        refused = _cli(port, "add", number(1), "0212555019")
        assert refused.returncode == 2 and "number 2: " in refused.stderr
        assert "212555019" not in refused.stderr
        good = tmp_path / "good.csv"
        good.write_text(f"phone\n{number(30)}\n{number(31)}\n")
        added = _cli(port, "add", "--file", str(good), "--campaign", "c1")
        assert added.returncode == 0, added.stderr
        assert ("2 numbers: 2 added, 0 already on the list; global list: 2 numbers; "
                "campaign 'c1': 3 numbers") in added.stdout
        removed = _cli(port, "remove", number(30), number(31), "--campaign", "c1")
        assert removed.returncode == 0 and "2 removed" in removed.stdout, removed.stderr
        counted = _cli(port, "count", "--campaign", "c1")
        assert "global list: 2 numbers; campaign 'c1': 1 numbers" in counted.stdout
        assert _cli(port, "add", number(1), "--campaign", "nope").returncode == 2
    finally:
        stop(process)
    log_text = process.stderr.read()
    secret = _secret(db_path)
    assert len(secret) == 1 and len(secret[0][0]) == 32
    with sqlite3.connect(db_path) as connection:
        entries = connection.execute("SELECT scope, key FROM do_not_call").fetchall()
    assert sorted(scope for scope, _ in entries) == ["", "", "c1"]
    assert all(isinstance(key, bytes) and len(key) == 16 for _, key in entries)

    process, port = start(*arguments)
    try:
        dialled = asyncio.run(asyncio.wait_for(_after_restart(port), 150))
    finally:
        stop(process)
    log_text += process.stderr.read()
    assert dialled == [BEFORE_CAMPAIGN, RUNNING_CAMPAIGN]
    assert _secret(db_path) == secret
    for phone in numbers + [number(n) for n in range(20, 24)] + [number(30), number(31)]:
        assert phone not in log_text and phone[1:] not in log_text

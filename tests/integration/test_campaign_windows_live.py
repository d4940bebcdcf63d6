"""Call windows in `vcc serve --db` (SPEC §6, issue 19 item 4): a campaign's `call_window`
names a calendar of the server's routing plans, read in each callee's time zone. The
calendar is built around the real time now, so that callees in UTC are in their window and
callees in Tokyo (UTC+9, no daylight saving time) are not, whenever the test runs. Checked:
through the fake PBX of test_dialer_pbx.py, every UTC record is dialled once and no Tokyo
record is; Admin and `vcc campaign` refuse an unknown calendar naming `call_window`,
changing nothing, and show the one in force; the journal's first entry holds the calendar
in full and the host's wall clock; a restarted server resumes the campaign with its window
(its claim holds its own wall clock) and dials no Tokyo record either; then Admin opens the
calendar for the next hour with a dated override (an instant for every zone): the running
campaign reads it at once and dials the Tokyo records, each once, and its journal holds
the changed calendar.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import textwrap
import time

import grpc

from cluster.client import VccClient
from tests.integration.test_campaign_admin import _refused
from tests.integration.test_cli_serve import start, stop
from tests.integration.test_dialer_pbx import (CONFIG, campaign_figures, log_in_ready,
                                               number, pbx_link, ready_again)
from tests.integration.test_do_not_call_live import _wait_dials
from vcc.v1 import admin_pb2

OPEN_ZONE, CLOSED_ZONE = "UTC", "Asia/Tokyo"
RECORDS = 16                  # even: in UTC; odd: in Tokyo
MARGIN_MIN = 180              # the window runs this long on either side of now (UTC)


def _hours_around_now() -> str:
    """Every day, from MARGIN_MIN before the current UTC time of day to MARGIN_MIN after:
    open now in UTC; in Tokyo (9 hours ahead) closed for as long as a test runs."""
    now = dt.datetime.now(dt.timezone.utc)
    minute = now.hour * 60 + now.minute
    start, end = minute - MARGIN_MIN, minute + MARGIN_MIN

    def at(value):
        return f"{value // 60:02d}:{value % 60:02d}"
    if start < 0:               # across midnight: two windows of one day
        return f"00:00-{at(end)},{at(start + 1440)}-24:00"
    if end > 1440:
        return f"00:00-{at(end - 1440)},{at(start)}-24:00"
    return f"{at(start)}-{at(end)}"


def _config() -> str:
    return CONFIG + textwrap.dedent(f"""\
        calendars:
          callable:
            timezone: Europe/Berlin
            weekly: {{mon-sun: "{_hours_around_now()}"}}
        """)


def _cli(port, *arguments):
    return subprocess.run([sys.executable, "-m", "cluster.cli", "campaign", *arguments,
                           "--address", f"127.0.0.1:{port}"], capture_output=True, text=True,
                          timeout=60)


def _zone(index: int) -> str:
    return OPEN_ZONE if index % 2 == 0 else CLOSED_ZONE


async def _admin(port):
    """The refusals and the campaign put with its window; the list imported."""
    async with VccClient(f"127.0.0.1:{port}") as client:
        admin = client.admin
        campaign = dict(name="c1", site="east", skill="outbound_sales", mode="progressive")
        put = await admin.PutCampaign(admin_pb2.Campaign(call_window="callable", **campaign),
                                      timeout=10)
        assert put.call_window == "callable"
        code, details = await _refused(admin.PutCampaign, admin_pb2.Campaign(
            call_window="office", **campaign))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith("call_window: unknown calendar 'office'"), details
        assert "callable" in details                # the calendars there are
        shown = await admin.GetCampaign(admin_pb2.CampaignKey(name="c1"), timeout=10)
        assert shown.call_window == "callable"      # nothing changed
        reply = await admin.ImportCampaignList(admin_pb2.CampaignListRows(
            campaign="c1", rows=[admin_pb2.CampaignListRow(
                id=f"r{index}", phone=number(index), timezone=_zone(index))
                for index in range(RECORDS)]), timeout=10)
        assert reply.records == RECORDS


async def _dial(port):
    async with VccClient(f"127.0.0.1:{port}") as client:
        await log_in_ready(client)
        async with pbx_link(client) as pbx:
            await client.admin.StartCampaign(admin_pb2.CampaignKey(name="c1"), timeout=30)
            await _wait_dials(pbx, RECORDS // 2)
            await asyncio.sleep(1.0)        # agents are free again: a Tokyo dial would come now
            return pbx, await campaign_figures(client, "c1")


async def _after_restart(port):
    """Nothing more to dial in the window: whatever comes within a few seconds is wrong.
    Then the calendar opens for an hour (an override): the Tokyo records are dialled."""
    async with VccClient(f"127.0.0.1:{port}") as client:
        await ready_again(client)
        async with pbx_link(client) as pbx:
            shown = await client.admin.GetCampaign(admin_pb2.CampaignKey(name="c1"),
                                                   timeout=40)
            assert shown.state == admin_pb2.CAMPAIGN_STATE_RUNNING
            await asyncio.sleep(2.0)
            before_override = dict(pbx.dials)
            end = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat(
                timespec="seconds")
            await client.admin.OverrideCalendar(admin_pb2.CalendarOverride(
                calendar="callable", end=end, open=True, reason="evening drive"), timeout=30)
            await _wait_dials(pbx, RECORDS // 2)
        return before_override, pbx


def _journal(db_path) -> list:
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT entry FROM campaign_journal WHERE campaign = 'c1' "
                                  "ORDER BY seq").fetchall()
    return [json.loads(entry) if isinstance(entry, str) else entry for (entry,) in rows]


def test_call_windows_in_the_live_cluster(tmp_path):
    config = tmp_path / "center.yaml"
    config.write_text(_config())
    db_path = tmp_path / "vcc.db"
    before = time.time()
    process, port = start("--runtime", "inprocess", "--config", str(config), "--db",
                          f"sqlite:///{db_path}")
    after = time.time()
    try:
        asyncio.run(asyncio.wait_for(_admin(port), 60))
        refused = _cli(port, "put", "c2", "--site", "east", "--skill", "outbound_sales",
                       "--mode", "progressive", "--call-window", "nope")
        assert refused.returncode == 2 and "call_window: unknown calendar 'nope'" in \
            refused.stderr, refused.stderr
        assert "c2" not in _cli(port, "list").stdout
        shown = _cli(port, "show", "c1")
        assert shown.returncode == 0 and json.loads(shown.stdout)["call_window"] == "callable"
        pbx, figures = asyncio.run(asyncio.wait_for(_dial(port), 120))
    finally:
        stop(process)
    log_text = process.stderr.read()
    assert not pbx.errors
    dialled = sorted(int(dial.phone_number[-4:]) for dial in pbx.dials.values())
    assert dialled == list(range(0, RECORDS, 2))        # in the window, once each
    assert figures.attempts == RECORDS // 2 and figures.records == RECORDS
    assert figures.list_dialled == RECORDS // 2         # the Tokyo records wait
    entry = _journal(db_path)[0]
    window = entry["call_window"]
    assert window["name"] == "callable" and window["timezone"] == "Europe/Berlin"
    assert sum(len(day) for day in window["weekly"]) >= 7
    # The host's time 0 is its start, as POSIX time.
    assert before - 1 <= entry["clock"] <= after + 1
    for index in range(RECORDS):
        assert number(index) not in log_text and number(index)[1:] not in log_text

    process, port = start("--runtime", "inprocess", "--config", str(config), "--db",
                          f"sqlite:///{db_path}")
    after = time.time()
    try:
        before_override, resumed = asyncio.run(asyncio.wait_for(_after_restart(port), 120))
    finally:
        stop(process)
    log_text = process.stderr.read()
    assert "campaign c1 resumed (running)" in log_text, log_text[-2000:]
    assert not before_override and not resumed.errors
    # The override reached the running campaign: the Tokyo records, each once.
    assert sorted(int(dial.phone_number[-4:]) for dial in resumed.dials.values()) == list(
        range(1, RECORDS, 2))
    journal = _journal(db_path)
    claims = [entry for entry in journal if entry["k"] == "claim"]
    # The restarted host's time goes on from the newest its sites had seen: the same host
    # time is later on the wall clock by the time it was down.
    assert len(claims) == 1 and journal[0]["clock"] < claims[0]["clock"] <= after + 1
    changes = [event["calendar"] for entry in journal if entry["k"] == "step"
               for event in entry["events"] if event["e"] == "call_window"]
    assert len(changes) == 1 and changes[0]["name"] == "callable"
    assert [override[2:] for override in changes[0]["overrides"]] == [[True, "evening drive"]]

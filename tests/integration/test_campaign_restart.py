"""A running campaign survives its server being killed (SPEC §6, issue 19 item 7): `vcc serve
--db` is SIGKILLed while a progressive campaign dials through a fake PBX; a new server on the
same store resumes the campaign from its newest snapshot and the journal after it, with no
Admin call, the PBX reconnects with its resume point and re-sends what was not
acknowledged, and the campaign finishes its list. Checked: no record dialled under two call ids (no retry rules: each once), every live
answer in exactly one final state (connected and completed, or abandoned with the message),
dials both before and after the kill, and the PBX saw re-sent dials only for calls it had.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3

from cluster.client import DUPLICATE_REFUSALS
from cluster.client import VccClient
from tests.integration.test_cli_serve import start, stop
from tests.integration.test_dialer_pbx import CONFIG, RECORDS, FakePbx
from tests.integration.test_dialer_pbx import _set_up as set_up_campaign
from tests.twin_pass import compiled_pass_only, compiled_pass_test
from vcc.v1 import admin_pb2, call_control_pb2, common_pb2

NAME = "renewals"


class ResumingPbx(FakePbx):
    """A PBX link that outlives its router: every event it sent stays until acknowledged and
    is sent again on the next stream, which starts with `hello(last_action_seq)`; a dial
    whose call id it already has is the same call (counted in `resent`)."""

    def __init__(self, ring_s=1.0, talk_s=0.5, kill_at_dial=8):
        super().__init__(None, ring_s=ring_s, talk_s=talk_s)
        self.unacked: dict = {}        # seq -> PbxEvent, until the router acknowledges it
        self.last_action_seq = 0
        self.resent = 0
        self.resent_through = 0         # the newest event seq sent again on a new stream
        self.duplicates = 0             # re-sent events the router refused as applied already
        # Set when the router sent dial number `kill_at_dial`: the test kills it then, with
        # that call ringing.
        self.kill_at_dial = kill_at_dial
        self.kill_now = asyncio.Event()

    def send(self, **fields):
        self.seq += 1
        event = call_control_pb2.PbxEvent(seq=self.seq, **fields)
        self.unacked[self.seq] = event
        self.outbox.put_nowait(event)

    async def _requests(self):
        yield call_control_pb2.PbxMessage(hello=call_control_pb2.PbxHello(
            link_id="pbx-1", last_action_seq=self.last_action_seq, sites=["east"]))
        again = [self.unacked[seq] for seq in sorted(self.unacked)]
        self.resent_through = max([self.resent_through, *self.unacked])
        if again:
            yield call_control_pb2.PbxMessage(events=again)
        while True:
            event = await self.outbox.get()
            if event is None:
                return
            if event.seq in self.unacked:       # not yet acknowledged (or re-sent above)
                yield call_control_pb2.PbxMessage(events=[event])

    async def serve(self, client) -> None:
        """One stream, until the router goes away."""
        self.outbox = asyncio.Queue()
        async for message in client.calls.Connect(self._requests()):
            for seq in [seq for seq in self.unacked if seq <= message.acked_event_seq]:
                del self.unacked[seq]
            for action in message.actions:
                self.last_action_seq = max(self.last_action_seq, action.seq)
                self.handle(action)

    def handle(self, action) -> None:
        kind = action.WhichOneof("action")
        if kind == "error" and 0 < action.error.event_seq <= self.resent_through and any(
                text in action.error.message for text in DUPLICATE_REFUSALS):
            # An event the dead server had applied but not yet acknowledged, re-sent: the
            # core refuses the copy (cluster/client.py `PbxLink.refused_duplicate`).
            self.duplicates += 1
            return
        if kind == "dial" and action.dial.call_id in self.dials:
            self.resent += 1
            return
        if kind == "route_to_agent" and action.route_to_agent.contact_id in self.offers:
            return          # re-announced after the restart: already being answered
        super().handle(action)
        if kind == "dial" and len(self.dials) == self.kill_at_dial:
            self.kill_now.set()

    def over(self) -> bool:
        ended = set(self.finished) | {call for call in self.dials if call not in self.live}
        return len(self.dials) == RECORDS and ended >= set(self.dials)


async def _set_up(client):
    await set_up_campaign(client, "progressive", NAME)
    started = await client.admin.StartCampaign(admin_pb2.CampaignKey(name=NAME), timeout=30)
    assert started.state == admin_pb2.CAMPAIGN_STATE_RUNNING


async def _until(predicate, seconds: float) -> bool:
    for _ in range(int(seconds * 20)):          # bounded
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


@compiled_pass_test("the campaign journal is its subject, not the scheduler")
def test_a_killed_server_resumes_its_campaign_without_dialling_twice(tmp_path):
    # Its newest snapshot spoilt while the server is down (another version's layout): the
    # new server resumes from the whole journal instead.
    check_a_killed_server_resumes_its_campaign(tmp_path, "inprocess", spoil_snapshot=True)


def test_a_killed_ray_server_resumes_its_campaign_without_dialling_twice(tmp_path):
    compiled_pass_only("the campaign journal is its subject, not the scheduler")
    check_a_killed_server_resumes_its_campaign(tmp_path, "ray")


def _spoil_snapshots(db_path) -> int:
    """Give every stored snapshot a layout version no server knows; how many there were."""
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT campaign, seq, state FROM campaign_snapshots").fetchall()
        for campaign, seq, state in rows:
            state = json.loads(state)
            state["pacer"]["v"] = 99
            connection.execute("UPDATE campaign_snapshots SET state = ? WHERE campaign = ? "
                               "AND seq = ?", (json.dumps(state), campaign, seq))
    return len(rows)


def check_a_killed_server_resumes_its_campaign(tmp_path, runtime: str,
                                               spoil_snapshot: bool = False):
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    # A snapshot every 3 entries: the new server resumes from a snapshot and the entries
    # after it (the full journal's replay is the unit tests' and the other restarts').
    arguments = ("--runtime", runtime, "--config", str(config), "--db",
                 f"sqlite:///{tmp_path / 'vcc.db'}", "--campaign-snapshot-every", "3")
    pbx = ResumingPbx()
    servers = [start(*arguments)]
    dialled_before, spoilt = [], []

    async def main():
        # One event loop for both lives: the PBX's calls in progress (rings, talks) go on
        # while the router is down, as a real PBX's would.
        loop = asyncio.get_running_loop()
        process, port = servers[0]
        async with VccClient(f"127.0.0.1:{port}") as client:
            await _set_up(client)
            link = asyncio.ensure_future(pbx.serve(client))
            await asyncio.wait_for(pbx.kill_now.wait(), 60)
            process.send_signal(signal.SIGKILL)     # mid-campaign, a call ringing
            await loop.run_in_executor(None, process.wait, 10)
            await asyncio.wait([link], timeout=10)
        dialled_before.append(len(pbx.dials))
        if spoil_snapshot:
            spoilt.append(_spoil_snapshots(tmp_path / "vcc.db"))
        servers.append(await loop.run_in_executor(None, lambda: start(*arguments)))
        process, port = servers[1]
        async with VccClient(f"127.0.0.1:{port}") as client:
            link = asyncio.ensure_future(pbx.serve(client))
            try:
                assert await _until(pbx.over, 90), (len(pbx.dials), len(pbx.finished),
                                                     pbx.errors)
                await asyncio.sleep(0.5)            # anything late shows up now
                statistics = client.admin.StreamCampaignStatistics(
                    admin_pb2.CampaignStatisticsRequest(campaign=NAME))
                figures = await asyncio.wait_for(statistics.read(), 10)
                statistics.cancel()
                return figures
            finally:
                pbx.close()
                link.cancel()

    try:
        figures = asyncio.run(asyncio.wait_for(main(), 240))
    except BaseException:
        for process, _ in servers:
            if process.poll() is None:
                stop(process)
        print(servers[-1][0].stderr.read()[-6000:])
        raise
    process = servers[-1][0]
    stop(process)
    log_text = process.stderr.read()
    if spoil_snapshot:
        assert spoilt[0] >= 1
        assert "was not restored" in log_text and "replaying its whole journal" in log_text
        assert "resumed (running): from its start" in log_text
    else:
        assert "resumed (running): from its snapshot after entry" in log_text
    assert dialled_before[0] < RECORDS
    assert len(pbx.dials) > dialled_before[0]       # it went on after the kill
    assert pbx.offers
    # No record dialled under two call ids, every record once.
    records = [dial.record_id for dial in pbx.dials.values()]
    assert len(records) == len(set(records)) == RECORDS
    # Every live answer in one final state: completed by an agent, or abandoned with the
    # recorded message.
    # (The same final state said twice is the router answering an `ended` the PBX sent again
    # after the kill, which the dead server had applied: one final state all the same.)
    for call in pbx.live:
        assert len(set(pbx.finished.get(call, []))) == 1, (call, pbx.finished.get(call))
        if pbx.finished[call][0] == common_pb2.CONTACT_STATE_ABANDONED:
            assert pbx.messages.get(call) == "abandon_message"
        else:
            assert pbx.finished[call][0] == common_pb2.CONTACT_STATE_COMPLETED
    assert not pbx.errors, pbx.errors
    assert figures.attempts == RECORDS == figures.records
    assert figures.connected + figures.abandoned == len(pbx.live)
    print(f"dials {len(pbx.dials)} ({dialled_before[0]} before the kill), re-sent {pbx.resent}, "
          f"live {len(pbx.live)}, abandoned {figures.abandoned}")

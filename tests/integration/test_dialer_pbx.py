"""Campaigns against `vcc serve` (SPEC §6): Admin puts a campaign, imports its list and
starts it; a fake PBX on the CallControl stream dials what the router asks (`dial`),
reports each call's progress, connects live answers to the agent the router names and
hangs up after a short talk. Checked: every live answer connected to the named agent or
abandoned with the message, every contact in one final state, contact records written with
the campaign, no number dialled twice (no retry rules), the abandon limit held, and the
callees' numbers nowhere in the server's log.

A server process each (`--runtime inprocess`, and `--runtime ray` for the predictive one),
on loopback, with a SQLite store in tmp_path.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import textwrap

import grpc

from cluster.client import VccClient
from tests.integration.test_cli_serve import start, stop
from vcc.v1 import (admin_pb2, agent_control_pb2, call_control_pb2, common_pb2)
from tests.twin_pass import compiled_pass_only

CONFIG = textwrap.dedent("""\
    skills:
      outbound_sales: {sl_threshold_s: 2, wrap_up_s: 0}
    sites:
      east:
        agents:
          - {count: 3, skills: {outbound_sales: 1}, channels: {outbound: 1}}
    routing: {multisite: local}
    """)
AGENTS = [f"east-g0-{n}" for n in range(3)]
RECORDS = 24
LIVE, MACHINE, NO_ANSWER, BUSY = (call_control_pb2.CALL_OUTCOME_LIVE,
                                  call_control_pb2.CALL_OUTCOME_MACHINE,
                                  call_control_pb2.CALL_OUTCOME_NO_ANSWER,
                                  call_control_pb2.CALL_OUTCOME_BUSY)
# Outcome by record number: a fixed mix, most of them live.
PATTERN = (LIVE, LIVE, NO_ANSWER, LIVE, BUSY, LIVE, MACHINE, LIVE)


def number(index: int) -> str:
    return f"+1212555{index:04d}"


class FakePbx:
    """One PBX link that dials for site east; answers as PATTERN says, after `ring_s`;
    connects a live answer to the offered agent (after `answer_delay_s(call)`), talks
    `talk_s`, hangs up."""

    def __init__(self, client, ring_s=0.1, talk_s=0.4, answer_delay_s=lambda call: 0.05):
        self.client = client
        self.ring_s, self.talk_s, self.answer_delay_s = ring_s, talk_s, answer_delay_s
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.seq = 0
        self.dials = {}             # call id -> DialCall
        self.offers = {}            # call id -> agent id
        self.finished = {}          # contact id -> [final states]
        self.messages = {}          # call id -> prompt
        self.hung_up = set()
        self.live = set()
        self.errors = []
        self.tasks = set()

    async def _requests(self):
        yield call_control_pb2.PbxMessage(hello=call_control_pb2.PbxHello(
            link_id="pbx-1", sites=["east"]))
        while True:
            event = await self.outbox.get()
            if event is None:
                return
            yield call_control_pb2.PbxMessage(events=[event])

    def send(self, **event):
        self.seq += 1
        self.outbox.put_nowait(call_control_pb2.PbxEvent(seq=self.seq, **event))

    def later(self, delay, **event):
        async def run():
            await asyncio.sleep(delay)
            contact = event.get("answered") or event.get("ended")
            if contact not in self.finished:    # a call the router ended is not answered
                self.send(**event)
        task = asyncio.ensure_future(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self):
        async for message in self.client.calls.Connect(self._requests()):
            for action in message.actions:
                self.handle(action)

    def handle(self, action):
        kind = action.WhichOneof("action")
        if kind == "dial":
            dial = action.dial
            assert dial.call_id not in self.dials
            self.dials[dial.call_id] = dial
            index = int(dial.phone_number[-4:])
            outcome = PATTERN[index % len(PATTERN)]
            if outcome == LIVE:
                self.live.add(dial.call_id)
            self.later(self.ring_s, call_progress=call_control_pb2.CallProgress(
                call_id=dial.call_id, outcome=outcome))
        elif kind == "route_to_agent":
            offer = action.route_to_agent
            self.offers[offer.contact_id] = offer.agent_id
            delay = self.answer_delay_s(offer.contact_id)
            self.later(delay, answered=offer.contact_id)
            self.later(delay + self.talk_s, ended=offer.contact_id)
        elif kind == "finished":
            self.finished.setdefault(action.finished.contact_id, []).append(
                action.finished.final_state)
        elif kind == "play_message":
            self.messages[action.play_message.call_id] = action.play_message.prompt
        elif kind == "hang_up":
            self.hung_up.add(action.hang_up)
        elif kind == "error":
            self.errors.append(action.error)

    def close(self):
        for task in list(self.tasks):
            task.cancel()
        self.outbox.put_nowait(None)


@contextlib.asynccontextmanager
async def pbx_link(client):
    """A FakePbx reading its link while the block runs."""
    pbx = FakePbx(client)
    reader = asyncio.ensure_future(pbx.run())
    try:
        yield pbx
    finally:
        pbx.close()
        reader.cancel()


async def log_in_ready(client, agents=AGENTS):
    """The campaign's agents (or `agents` at site east), logged in and ready."""
    for agent in agents:
        await client.agents.Login(agent_control_pb2.AgentRequest(site="east", agent_id=agent),
                                  timeout=10)
        await client.agents.SetState(agent_control_pb2.SetStateRequest(
            site="east", agent_id=agent, state=common_pb2.AGENT_STATE_READY), timeout=10)


async def ready_again(client):
    """After a restart: the journal kept the agents logged in; ready, whatever they were."""
    for agent in AGENTS:
        try:
            await client.agents.SetState(agent_control_pb2.SetStateRequest(
                site="east", agent_id=agent, state=common_pb2.AGENT_STATE_READY), timeout=10)
        except grpc.aio.AioRpcError as error:
            assert "already" in error.details(), error.details()


async def campaign_figures(client, name):
    """The campaign's figures now (the first message of its statistics stream)."""
    statistics = client.admin.StreamCampaignStatistics(
        admin_pb2.CampaignStatisticsRequest(campaign=name))
    figures = await asyncio.wait_for(statistics.read(), 10)
    statistics.cancel()
    return figures


async def _set_up(client, mode, name):
    await log_in_ready(client)
    campaign = await client.admin.PutCampaign(admin_pb2.Campaign(
        name=name, site="east", skill="outbound_sales", mode=mode), timeout=10)
    assert campaign.state == admin_pb2.CAMPAIGN_STATE_DRAFT
    reply = await client.admin.ImportCampaignList(admin_pb2.CampaignListRows(
        campaign=name, rows=[admin_pb2.CampaignListRow(
            id=f"r{index}", phone=number(index), timezone="America/New_York")
            for index in range(RECORDS)]), timeout=10)
    assert (reply.added, reply.records) == (RECORDS, RECORDS)


async def _run_campaign(port, mode, name, answer_delay_s=lambda call: 0.05):
    async with VccClient(f"127.0.0.1:{port}") as client:
        await _set_up(client, mode, name)
        pbx = FakePbx(client, answer_delay_s=answer_delay_s)
        reader = asyncio.ensure_future(pbx.run())
        try:
            started = await client.admin.StartCampaign(admin_pb2.CampaignKey(name=name),
                                                       timeout=30)
            assert started.state == admin_pb2.CAMPAIGN_STATE_RUNNING

            def done():
                over = set(pbx.finished) | {call for call in pbx.dials if call not in pbx.live}
                return len(pbx.dials) == RECORDS and over >= set(pbx.dials)
            for _ in range(600):            # bounded: 60 s
                if done():
                    break
                await asyncio.sleep(0.1)
            assert done(), (len(pbx.dials), len(pbx.finished), pbx.errors)
            await asyncio.sleep(0.5)        # anything late would show up now
            return pbx, await campaign_figures(client, name)
        finally:
            pbx.close()
            reader.cancel()


def _check(pbx, figures, db_path, name, log_text):
    assert not pbx.errors
    # No number dialled twice (no retry rules), every record dialled once.
    numbers = [dial.phone_number for dial in pbx.dials.values()]
    assert len(numbers) == len(set(numbers)) == RECORDS
    assert all(dial.campaign == name and dial.site == "east" for dial in pbx.dials.values())
    # Every live answer is an outbound contact with one final state: connected to the
    # agent the router named (completed), or abandoned with the message.
    for call in pbx.live:
        assert len(pbx.finished.get(call, [])) == 1, (call, pbx.finished.get(call))
        final = pbx.finished[call][0]
        if final == common_pb2.CONTACT_STATE_ABANDONED:
            assert pbx.messages.get(call) == "abandon_message"
        else:
            assert final == common_pb2.CONTACT_STATE_COMPLETED
            assert pbx.offers[call] in AGENTS
    # Machines AMD reported are hung up; unanswered calls never became contacts.
    assert not set(pbx.finished) - pbx.live
    assert figures.attempts == RECORDS == figures.records
    assert figures.live_answers + figures.abandoned >= 1
    assert figures.connected + figures.abandoned == len(pbx.live)
    assert figures.messages_played == figures.abandoned
    # Contact records, with the campaign, and never the callee's number.
    with sqlite3.connect(db_path) as connection:
        for _ in range(100):
            rows = connection.execute("SELECT contact_id, final_state, ani FROM contact_records "
                                      "WHERE campaign = ?", (name,)).fetchall()
            if len(rows) == len(pbx.live):
                break
            connection.commit()
            import time
            time.sleep(0.1)
        assert {row[0] for row in rows} == pbx.live
        assert all(row[2] is None for row in rows)
    for phone in numbers:
        assert phone not in log_text and phone[1:] not in log_text
    return figures


def one_slow_answer():
    """(slow, answer_delay): one live answer the agent does not take for 3 s (abandoned
    after 2 s, with the message; its call id lands in `slow`), the others at once."""
    slow = []

    def answer_delay(call):
        if not slow:
            slow.append(call)
            return 3.0
        return 0.05
    return slow, answer_delay


def test_progressive_campaign_over_the_pbx_link(tmp_path):
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    db_path = tmp_path / "vcc.db"
    process, port = start("--runtime", "inprocess", "--config", str(config), "--db",
                          f"sqlite:///{db_path}")
    slow, answer_delay = one_slow_answer()
    try:
        pbx, figures = asyncio.run(asyncio.wait_for(
            _run_campaign(port, "progressive", "renewals", answer_delay), 120))
    finally:
        stop(process)
    log_text = process.stderr.read()
    _check(pbx, figures, db_path, "renewals", log_text)
    assert slow and pbx.finished[slow[0]] == [common_pb2.CONTACT_STATE_ABANDONED]
    assert pbx.messages[slow[0]] == "abandon_message"
    assert figures.abandoned == 1


def _predictive(tmp_path, runtime):
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    db_path = tmp_path / "vcc.db"
    process, port = start("--runtime", runtime, "--config", str(config), "--db",
                          f"sqlite:///{db_path}")
    try:
        pbx, figures = asyncio.run(asyncio.wait_for(
            _run_campaign(port, "predictive", "winback"), 150))
    finally:
        stop(process)
    _check(pbx, figures, db_path, "winback", process.stderr.read())
    # The hard guard: never more abandons than 3 % of the live answers allow.
    assert figures.abandoned <= math.floor(0.03 * figures.live_answers)


def test_predictive_campaign_in_process(tmp_path):
    _predictive(tmp_path, "inprocess")


def test_predictive_campaign_on_ray(tmp_path):
    compiled_pass_only("the Ray variant (the twin runs the in-process one)")
    _predictive(tmp_path, "ray")


class AmdOffPbx(FakePbx):
    """A PBX without answering-machine detection (the campaign's `amd` is off): a machine
    is answered live and connected; the agent finds it and the PBX reports `MACHINE` for
    the connected call before it ends."""

    def __init__(self, client, **options):
        super().__init__(client, **options)
        self.machines = set()

    def handle(self, action):
        if action.WhichOneof("action") == "dial":
            dial = action.dial
            assert not dial.amd
            if PATTERN[int(dial.phone_number[-4:]) % len(PATTERN)] == MACHINE:
                self.dials[dial.call_id] = dial
                self.machines.add(dial.call_id)
                self.live.add(dial.call_id)
                self.later(self.ring_s, call_progress=call_control_pb2.CallProgress(
                    call_id=dial.call_id, outcome=LIVE))
                return
        if action.WhichOneof("action") == "route_to_agent":
            call = action.route_to_agent.contact_id
            if call in self.machines:
                self.later(0.1, call_progress=call_control_pb2.CallProgress(
                    call_id=call, outcome=MACHINE))
        super().handle(action)


def test_with_amd_off_a_machine_the_agent_found_is_not_a_live_answer(tmp_path):
    compiled_pass_only("campaign hosting in vcc serve, not the scheduler")
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    process, port = start("--runtime", "inprocess", "--config", str(config), "--db",
                          f"sqlite:///{tmp_path / 'vcc.db'}")

    async def run():
        async with VccClient(f"127.0.0.1:{port}") as client:
            await _set_up(client, "progressive", "renewals")
            pbx = AmdOffPbx(client)
            reader = asyncio.ensure_future(pbx.run())
            try:
                await client.admin.StartCampaign(admin_pb2.CampaignKey(name="renewals"),
                                                 timeout=30)
                for _ in range(600):            # bounded: 60 s
                    over = set(pbx.finished) | {c for c in pbx.dials if c not in pbx.live}
                    if len(pbx.dials) == RECORDS and over >= set(pbx.dials):
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)
                return pbx, await campaign_figures(client, "renewals")
            finally:
                pbx.close()
                reader.cancel()

    try:
        pbx, figures = asyncio.run(asyncio.wait_for(run(), 120))
    finally:
        assert stop(process) == 0
    assert not pbx.errors and len(pbx.dials) == RECORDS
    assert pbx.machines and all(pbx.finished.get(call) == [common_pb2.CONTACT_STATE_COMPLETED]
                                for call in pbx.live)
    # Every call answered "live" was connected; those the agent found a machine on count as
    # machines, not live answers (the abandon limit's denominator).
    assert figures.machines == len(pbx.machines)
    assert figures.live_answers == len(pbx.live) - len(pbx.machines)
    assert figures.connected == len(pbx.live)

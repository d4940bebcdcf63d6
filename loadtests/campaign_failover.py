"""Leader kills while a predictive campaign runs (issue 19 item 7):
`python -m loadtests.campaign_failover --kills 3`.

The failover drill's cluster (loadtests/failover_drill.py: an etcd on loopback, `--gateways`
`vcc serve --etcd --db` processes on one journal in a fresh PostgreSQL schema) with an
outbound site instead of inbound traffic: `--agents` agents with an outbound channel for the
campaign's skill log in and become ready, then Admin (following the leader) puts a
predictive campaign, imports `--records` list rows and starts it. A fake PBX link
(`CampaignPbx`) dials what the router asks, following the leader across failovers: on the
stream's end it reconnects to whoever leads with the same link id, its `last_action_seq` and
its sites, and re-sends every event the router did not acknowledge (cluster/client.py
PbxLink). A `dial` whose call id it already has is the same call (README, "The PBX dial
protocol"): counted as re-sent, not dialled again.

`--kills` times, `--interval` s apart, the leader is SIGKILLed once every other gateway is a
ready standby, and the drill waits for a new leader (and starts a fresh gateway on the dead
one's port). Then it waits (bounded) until every record was dialled and every call is over,
and prints per kill window (before the first kill, after kill 1, ...) and in total: dials,
re-sent dials, double dials (a record dialled under two call ids, there being no retry rules,
or a dial for a number the PBX is still calling), live answers and lost answered calls (a
call reported live whose outbound contact did not reach exactly one final state:
connected to the agent offered and completed, or abandoned with the message played). Exit
status 1 unless there were no double dials and no lost calls, every kill saw a takeover,
and the campaign dialled after every kill. Record ids only in the output: never a number.

Bounded: at most `--kills` kills, each waiting at most `--standby-wait` s for the standbys
and TTL + 10 s for a takeover; the PBX gives up reconnecting after 600 tries 0.1 s apart;
the drain waits at most `--drain` s; every process it started is killed and the schema
dropped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import sys
import time

from loadtests.failover_drill import (DrillCluster, Traffic, add_cluster_arguments, close_link,
                                      follow_leader, wait_until)

CAMPAIGN_CONFIG = """\
skills:
  outbound_sales: {{sl_threshold_s: 2, wrap_up_s: 0}}
sites:
  {site}:
    agents:
      - {{count: {agents}, skills: {{outbound_sales: 1}}, channels: {{outbound: 1}}}}
routing: {{multisite: local}}
"""
SITE = "east"
SKILL = "outbound_sales"
ABANDON_PROMPT = "abandon_message"      # the campaign's default prompt (SPEC §6)


def write_campaign_config(directory: str, agents: int) -> str:
    path = os.path.join(directory, "campaign.yaml")
    with open(path, "w") as handle:
        handle.write(CAMPAIGN_CONFIG.format(site=SITE, agents=agents))
    return path


def outcome_of(record_id: str):
    """The callee's fixed answer by record number (r0, r1, ...): most answer live, the
    rest machine, no answer or busy; the same every run."""
    from vcc.v1 import call_control_pb2 as cc

    pattern = (cc.CALL_OUTCOME_LIVE, cc.CALL_OUTCOME_LIVE, cc.CALL_OUTCOME_NO_ANSWER,
               cc.CALL_OUTCOME_LIVE, cc.CALL_OUTCOME_BUSY, cc.CALL_OUTCOME_LIVE,
               cc.CALL_OUTCOME_MACHINE, cc.CALL_OUTCOME_LIVE)
    return pattern[int(record_id.lstrip("r")) % len(pattern)]


def phone_of(index: int) -> str:
    # 555-01xx-style fictional numbers (North American 555 range), one per record.
    return f"+1202555{index:04d}"


def sites_link(vcc, link_id: str, sites: list[str]):
    """A PbxLink whose every `hello` (first connect and each resume) names `sites`: the
    router sends a campaign's dials only to a link serving its site."""
    from cluster.client import PbxLink

    class SitesPbxLink(PbxLink):
        def _hello(self):
            hello = super()._hello()
            hello.sites.extend(sites)
            return hello

    return SitesPbxLink(vcc.calls, link_id, client=vcc, max_batch=512,
                        max_unacked=1_000_000)


class CampaignPbx:
    """The campaign's setup (agents, Admin calls) and a fake PBX link that follows the leader.

    Per call id it keeps: the record dialled, whether the callee answered live, the agents
    offered, the final states the router announced and the message played, so that
    `figures()` can count double dials and lost answered calls. `window` is the kill window
    the drill is in (0 before the first kill, k after kill k): each dial, re-sent dial,
    double dial and live answer is counted in the window in which it happened.
    """

    def __init__(self, targets, *, agents: int, records: int, campaign: str = "drill",
                 ring_s: float = 0.4, answer_delay_s: float = 0.05, talk_s: float = 1.5,
                 # Paced twice a second (default 1 s): a kill finds more calls ringing.
                 pace_every_s: float = 0.5, link_id: str | None = None):
        self.targets, self.agents, self.records = targets, agents, records
        self.campaign = campaign
        self.ring_s, self.answer_delay_s, self.talk_s = ring_s, answer_delay_s, talk_s
        self.pace_every_s = pace_every_s
        self.link_id = link_id or f"pbx-campaign-{os.getpid()}-{int(time.time() * 1000)}"
        self.window = 0
        self.record_of: dict[str, str] = {}                 # call id -> record id
        self.calls_of = collections.defaultdict(list)       # record id -> call ids
        self.first_dial_at: dict[int, float] = {}           # window -> its first new dial
        self.window_live: dict[str, int] = {}               # live call id -> window it answered
        self.live_at: dict[str, float] = {}                 # live call id -> when it answered
        self.kill_times: list[float] = []                   # monotonic time of each kill
        self.numbers_up: dict[str, str] = {}                # number -> call id still up
        self._number_of: dict[str, str] = {}                # call id -> number (never printed)
        self.over: set = set()                              # calls over at the PBX
        self.offers = collections.defaultdict(set)          # call id -> agents offered
        self.answered: set = set()                          # `answered` sent
        self.finals = collections.defaultdict(list)         # call id -> distinct final states
        self.finals_repeated = 0
        self.messages: dict[str, str] = {}                  # call id -> prompt played
        self.hung_up: set = set()
        self.counts = collections.defaultdict(collections.Counter)   # window -> figures
        self.double_dialled: list[str] = []                 # record ids
        self.errors = collections.Counter()
        self.duplicate_refusals = 0
        self.queued = 0                 # `queued` actions (live answers waiting for an agent)
        self.resumes = 0
        self.completed = self.abandoned = 0     # live calls so, as `lost_calls()` last saw
        self.statistics = None          # the router's CampaignStatistics at the end
        self.dialling = asyncio.Event()     # set at the first dial
        self._closing = False
        self._tasks: set = set()
        self._link = None
        self._pb = None                 # vcc.v1.call_control_pb2 once running

    # ---- setup ---------------------------------------------------------------------------
    async def set_up(self, vcc) -> None:
        from vcc.v1 import admin_pb2

        # The agents: logged in and ready as the failover drill's traffic does it.
        await Traffic(self.targets, site=SITE, agents=self.agents, rate=1.0).setup(vcc)
        await vcc.call(lambda c: c.admin.PutCampaign, admin_pb2.Campaign(
            name=self.campaign, site=SITE, skill=SKILL, mode="predictive",
            pace_every_s=self.pace_every_s), retry_for_s=30)
        rows = [admin_pb2.CampaignListRow(id=f"r{index}", phone=phone_of(index),
                                          timezone="America/New_York")
                for index in range(self.records)]
        reply = await vcc.call(lambda c: c.admin.ImportCampaignList, admin_pb2.CampaignListRows(
            campaign=self.campaign, rows=rows), retry_for_s=30)
        if reply.records != self.records:
            raise RuntimeError(f"the campaign's list holds {reply.records} records, "
                               f"not {self.records}")

    async def start_campaign(self, vcc) -> None:
        from vcc.v1 import admin_pb2

        started = await vcc.call(lambda c: c.admin.StartCampaign,
                                 admin_pb2.CampaignKey(name=self.campaign), timeout=30,
                                 retry_for_s=30)
        if started.state != admin_pb2.CAMPAIGN_STATE_RUNNING:
            raise RuntimeError(f"StartCampaign: state {started.state}, not running")

    # ---- the run -------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, max_s: float = 900.0) -> None:
        """Set up, start the campaign and play the PBX until `stop` is set, at most `max_s`."""
        from cluster.client import VccClient
        from vcc.v1 import call_control_pb2

        self._pb = call_control_pb2
        async with VccClient(self.targets) as vcc:
            await self.set_up(vcc)
            self._link = sites_link(vcc, self.link_id, [SITE])
            await self._link.connect()
            receiver = asyncio.ensure_future(self._receive())
            try:
                await self.start_campaign(vcc)
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait([stopping, receiver], timeout=max_s,
                                   return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                self.statistics = await self._statistics(vcc)
            finally:
                self._closing = True
                for task in list(self._tasks):
                    task.cancel()
                await close_link(self._link, receiver)

    async def _statistics(self, vcc):
        """The router's figures of the campaign (one read, bounded), or None."""
        import grpc

        from vcc.v1 import admin_pb2

        try:
            stream = vcc.admin.StreamCampaignStatistics(
                admin_pb2.CampaignStatisticsRequest(campaign=self.campaign))
            figures = await asyncio.wait_for(stream.read(), 10)
            stream.cancel()
            return figures
        except (grpc.aio.AioRpcError, asyncio.TimeoutError):
            return None

    def done(self) -> bool:
        """Every record dialled and every call over (a live one: a final state announced)."""
        return (len(self.calls_of) == self.records and
                all(call in self.over for call in self.record_of))

    def _send_later(self, delay: float, event_of) -> None:
        """`event_of()` (None: nothing to send any more) sent `delay` s from now. Sent while
        the stream is down, it waits in the link's unacknowledged events and goes out on the
        next stream."""
        async def fire():
            await asyncio.sleep(delay)
            event = event_of()
            if event is not None and not self._closing:
                self._link.send(event)
                await self._link.flush()
        task = asyncio.ensure_future(fire())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _call_over(self, call_id: str) -> None:
        self.over.add(call_id)
        number = self._number_of.get(call_id)
        if number is not None and self.numbers_up.get(number) == call_id:
            del self.numbers_up[number]

    def _dial(self, dial) -> None:
        cc = self._pb
        counts = self.counts[self.window]
        if dial.call_id in self.record_of:
            # The same call (a new leader re-sends the dials it believes ring): not dialled
            # again.
            counts["dials_resent"] += 1
            return
        self.dialling.set()
        self.first_dial_at.setdefault(self.window, time.monotonic())
        counts["dials"] += 1
        record = dial.record_id
        if self.calls_of[record] or dial.phone_number in self.numbers_up:
            counts["double_dials"] += 1
            self.double_dialled.append(record)
        self.record_of[dial.call_id] = record
        self.calls_of[record].append(dial.call_id)
        self.numbers_up[dial.phone_number] = dial.call_id
        self._number_of[dial.call_id] = dial.phone_number
        outcome = outcome_of(record)

        def progress():
            if outcome == cc.CALL_OUTCOME_LIVE:
                self.window_live[dial.call_id] = self.window
                self.live_at[dial.call_id] = time.monotonic()
                self.counts[self.window]["live_answers"] += 1
            else:
                # Over for the PBX once reported (a machine's `hang_up` is counted apart).
                self._call_over(dial.call_id)
            return cc.PbxEvent(call_progress=cc.CallProgress(call_id=dial.call_id,
                                                             outcome=outcome))
        self._send_later(self.ring_s, progress)

    def _offered(self, offer) -> None:
        cc = self._pb
        call_id = offer.contact_id
        if offer.agent_id in self.offers[call_id]:
            return                          # re-announced after a failover: the same offer
        self.offers[call_id].add(offer.agent_id)

        def answer():
            if self.finals.get(call_id):
                return None                 # the router ended it first (abandoned)
            self.answered.add(call_id)
            return cc.PbxEvent(answered=call_id)

        def end():
            if call_id not in self.answered:
                return None
            self._call_over(call_id)
            return cc.PbxEvent(ended=call_id)
        self._send_later(self.answer_delay_s, answer)
        self._send_later(self.answer_delay_s + self.talk_s, end)

    def _handle(self, action) -> None:
        kind = action.WhichOneof("action")
        if kind == "dial":
            self._dial(action.dial)
        elif kind == "route_to_agent":
            self._offered(action.route_to_agent)
        elif kind == "finished":
            finished = action.finished
            if finished.final_state in self.finals[finished.contact_id]:
                self.finals_repeated += 1       # told again by a new leader: the same state
            else:
                self.finals[finished.contact_id].append(finished.final_state)
            if finished.contact_id not in self.answered:
                self._call_over(finished.contact_id)
        elif kind == "play_message":
            self.messages[action.play_message.call_id] = action.play_message.prompt
            self._call_over(action.play_message.call_id)
        elif kind == "hang_up":
            self.hung_up.add(action.hang_up)
            self._call_over(action.hang_up)
        elif kind == "queued":
            self.queued += 1                # a live answer waits for an agent: nothing to do
        elif kind == "offer_revoked":
            self.errors["offer revoked"] += 1
        elif kind == "error":
            if self._link.refused_duplicate(action.error):
                self.duplicate_refusals += 1
            else:
                # The router's messages name call ids and fields, never numbers.
                self.errors[f"event error: {action.error.message[:80]}"] += 1
        elif kind is not None:
            self.errors[f"unexpected action {kind}"] += 1

    async def _receive(self) -> None:
        import grpc

        attempts = 0
        while not self._closing:
            error = None
            try:
                async for message in self._link.messages():
                    attempts = 0
                    for action in message.actions:
                        self._handle(action)
                if self._closing:
                    return
            except grpc.aio.AioRpcError as failure:
                if self._closing:
                    return
                error = failure
            # The stream ended (its leader died or stepped down): find the leader and resume
            # (bounded: 600 tries, 0.1 s apart).
            attempts += 1
            self.resumes += 1
            if not await follow_leader(self._link, error, attempts, self.errors):
                return

    # ---- figures -------------------------------------------------------------------------
    def lost_calls(self) -> list[str]:
        """Live calls whose outbound contact did not reach exactly one final state:
        connected to an offered agent and completed, or abandoned with the message."""
        from vcc.v1 import common_pb2

        lost = []
        self.completed = self.abandoned = 0
        for call in self.window_live:
            finals = self.finals.get(call, [])
            completed = (finals == [common_pb2.CONTACT_STATE_COMPLETED]
                         and len(self.offers.get(call, ())) == 1 and call in self.answered)
            abandoned = (finals == [common_pb2.CONTACT_STATE_ABANDONED]
                         and self.messages.get(call) == ABANDON_PROMPT)
            self.completed += completed
            self.abandoned += abandoned
            if not (completed or abandoned):
                lost.append(call)
        return lost

    def window_lost(self, call_id: str) -> int:
        """The kill a lost call is counted for: the first after its live answer (it was in
        flight then), else the window it answered in."""
        answered_at = self.live_at[call_id]
        for kill, killed_at in enumerate(self.kill_times, start=1):
            if killed_at >= answered_at:
                return kill
        return self.window_live[call_id]

    def figures(self, window: int | None = None) -> dict:
        """Dials, re-sent dials, double dials, live answers and lost answered calls in
        `window` (None: in total). A lost call counts for the kill that found it in flight."""
        windows = list(self.counts) if window is None else [window]
        counts = collections.Counter()
        for each in windows:
            counts.update(self.counts[each])
        lost = [call for call in self.lost_calls()
                if window is None or self.window_lost(call) == window]
        return {"dials": counts["dials"], "dials_resent": counts["dials_resent"],
                "double_dials": counts["double_dials"], "live_answers": counts["live_answers"],
                "lost": len(lost), "examples_lost": [self.record_of[c] for c in lost[:5]]}


def campaign_drill(args) -> tuple[int, dict]:
    """The drill (module doc); (exit status, figures: per window and total)."""
    cluster = DrillCluster(args, lambda directory: write_campaign_config(directory, args.agents),
                           name="cdrill")
    live, leader = cluster.live, cluster.leader
    kills: list[dict] = []
    failures: list[str] = []
    pbx = None
    try:
        print(f"etcd {','.join(cluster.endpoints)}; {args.gateways} gateways (--runtime "
              f"{args.runtime}); TTL {args.ttl} s; {args.kills} kills {args.interval:g} s "
              f"apart during a predictive campaign of {args.records} records "
              f"({args.agents} agents); journal {args.db} schema {cluster.schema}", flush=True)

        async def standbys_ready(current) -> bool:
            for gateway in [g for g in live if g is not current]:
                if await asyncio.to_thread(gateway.wait_standby, current,
                                           args.standby_wait) is None:
                    failures.append(f"{gateway.name} not a ready standby:\n"
                                    f"{gateway.log_tail()}")
                    return False
            return True

        async def run():
            nonlocal pbx
            pbx = CampaignPbx([f"127.0.0.1:{port}" for port in cluster.ports],
                              agents=args.agents, records=args.records, talk_s=args.talk)
            stop = asyncio.Event()
            first = await asyncio.to_thread(wait_until, leader, 60)
            if first is None or not await standbys_ready(first):
                failures.append("no leader with ready standbys within the wait")
                return
            runner = asyncio.ensure_future(pbx.run(stop, max_s=args.kills * (
                args.interval + args.ttl + 15 + args.standby_wait) + args.drain + 120))
            dialling = asyncio.ensure_future(pbx.dialling.wait())
            await asyncio.wait([dialling, runner], timeout=120,
                               return_when=asyncio.FIRST_COMPLETED)
            dialling.cancel()
            if not pbx.dialling.is_set():
                failures.append("the campaign never dialled" + (
                    f": {runner.exception()!r}" if runner.done() else " within 120 s"))
                stop.set()
                await asyncio.gather(runner, return_exceptions=True)
                return
            await asyncio.sleep(args.interval)
            for kill in range(1, args.kills + 1):
                if runner.done():
                    failures.append(f"kill {kill}: the PBX stopped: {runner.exception()!r}")
                    break
                if pbx.done():
                    failures.append(f"kill {kill}: the campaign was over before it (more "
                                    "--records)")
                    break
                current = await asyncio.to_thread(wait_until, leader, args.ttl * 2 + 15)
                if current is None or not await standbys_ready(current):
                    failures.append(f"kill {kill}: no leader with ready standbys")
                    break
                term = current.leading_term()
                killed_at = time.monotonic()
                current.signal(signal.SIGKILL)
                pbx.window = kill       # from here on, what happens counts for this kill
                pbx.kill_times.append(killed_at)
                await asyncio.to_thread(current.process.wait, 5)
                live.remove(current)
                new = await asyncio.to_thread(wait_until, leader, args.ttl + 10, 0.01)
                record = {"kill": kill, "term": term, "killed": current.name,
                          "killed_at": killed_at}
                if new is None:
                    failures.append(f"kill {kill}: no gateway serves within "
                                    f"{args.ttl + 10:.0f} s")
                else:
                    record["takeover_s"] = time.monotonic() - killed_at
                    record["new"] = new.name
                print(f"kill {kill}: {current.name} (term {term}) killed after "
                      f"{len(pbx.record_of)} dials; " + (
                          f"{new.name} serves after {record['takeover_s']:.3f} s"
                          if new else "NO takeover"), flush=True)
                kills.append(record)
                live.append(cluster.spawn(current.port))    # the same address: clients know it
                await asyncio.sleep(args.interval)
            # The drain: every record dialled and every call over (bounded).
            deadline = time.monotonic() + args.drain
            while time.monotonic() < deadline and not pbx.done() and not runner.done():
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)        # anything late (a repeated final) shows up now
            stop.set()
            await asyncio.wait_for(asyncio.gather(runner, return_exceptions=True), 60)
            if runner.exception() is not None:
                failures.append(f"the PBX failed: {runner.exception()!r}")

        asyncio.run(run())
        report = {"kills": kills, "failures": failures, "windows": {}, "total": {}}
        if pbx is None:
            return 1, report
        print("per kill window (what happened from the kill to the next one; window 0: "
              "before the first kill):")
        for window in range(len(kills) + 1):
            figures = report["windows"][window] = pbx.figures(window)
            takeover = kills[window - 1].get("takeover_s") if window else None
            resumed = (pbx.first_dial_at[window] - kills[window - 1]["killed_at"]
                       if window and window in pbx.first_dial_at else None)
            figures["first_dial_after_s"] = resumed
            print(f"  {'before the first kill' if window == 0 else f'kill {window}'}"
                  + (f" (takeover {takeover:.3f} s" + (
                      f", first new dial {resumed:.3f} s after the kill)" if resumed is not None
                      else ")") if takeover is not None else "")
                  + f": dials {figures['dials']}, re-sent dials {figures['dials_resent']}, "
                  f"double dials {figures['double_dials']}, live answers "
                  f"{figures['live_answers']}, lost answered calls {figures['lost']}")
            if window and figures["dials"] == 0:
                failures.append(f"no dial after kill {window}: the campaign did not resume")
        total = report["total"] = pbx.figures()
        undialled = args.records - len(pbx.calls_of)
        print(f"total: dials {total['dials']} of {args.records} records ({undialled} never "
              f"dialled), re-sent dials {total['dials_resent']}, double dials "
              f"{total['double_dials']} (records {pbx.double_dialled[:5]}), live answers "
              f"{total['live_answers']}, lost answered calls {total['lost']} (records "
              f"{total['examples_lost']}); completed {pbx.completed}, abandoned with the message "
              f"{pbx.abandoned}; live answers queued {pbx.queued}; finals repeated "
              f"{pbx.finals_repeated}; re-sent events refused as duplicates {pbx.duplicate_refusals}; PBX reconnect attempts "
              f"{pbx.resumes}; errors {dict(pbx.errors) or 'none'}")
        if pbx.statistics is not None:
            stats = pbx.statistics
            print(f"the router's figures: attempts {stats.attempts}, live answers "
                  f"{stats.live_answers}, connected {stats.connected}, abandoned "
                  f"{stats.abandoned}, messages played {stats.messages_played}, list dialled "
                  f"{stats.list_dialled}/{stats.records}")
            if (stats.connected, stats.abandoned) != (pbx.completed, pbx.abandoned):
                # Not a lost call (the PBX saw each end once) but the router's own figures,
                # which its abandon limit is paced on, disagree with what happened.
                print(f"NOTE: the router's connected/abandoned {stats.connected}/"
                      f"{stats.abandoned} differ from the PBX's completed/abandoned "
                      f"{pbx.completed}/{pbx.abandoned}")
                report["figures_disagree"] = True
        report["undialled"] = undialled
        for failure in failures:
            print(f"FAILED: {failure}")
        takeovers_ok = len(kills) == args.kills and all("takeover_s" in k for k in kills)
        if failures or not takeovers_ok or total["double_dials"] or total["lost"]:
            return 1, report
        return 0, report
    finally:
        cluster.close()


def parse(argv=None):
    parser = argparse.ArgumentParser(prog="python -m loadtests.campaign_failover",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--agents", type=int, default=10)
    # 400 records, ~5 of 8 live, 10 agents on 1.5 s talks: about a minute of dialling, enough
    # for 3 kills 8 s apart with their takeovers.
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--talk", type=float, default=1.5, help="a live call's talk, seconds")
    parser.add_argument("--interval", type=float, default=8.0,
                        help="seconds of dialling before the first kill and between kills")
    parser.add_argument("--drain", type=float, default=120.0,
                        help="seconds to wait at most, after the last kill, for every record "
                             "to be dialled and every call to be over")
    add_cluster_arguments(parser)
    args = parser.parse_args(argv)
    if not 1 <= args.kills <= 100 or not 2 <= args.gateways <= 10:
        parser.error("--kills must be 1..100 and --gateways 2..10")
    if not 1 <= args.records <= 10_000 or not 1 <= args.agents <= 1000:
        parser.error("--records must be 1..10000 and --agents 1..1000")
    if not 1 <= args.standby_wait <= 600 or not 1 <= args.drain <= 600:
        parser.error("--standby-wait and --drain must be 1..600 seconds")
    return args


def main(argv=None) -> int:
    status, _ = campaign_drill(parse(argv))
    return status


if __name__ == "__main__":
    sys.exit(main())

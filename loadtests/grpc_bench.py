"""The gRPC gateway's figures (issue 4), measured and checked: `python -m loadtests.grpc_bench`.

Everything runs on loopback in one run. The server is a separate process
(`python -m cluster.server --config <generated file> --address 127.0.0.1:0`, port read from
its "vcc: listening on port N" line, SIGTERM and wait at the end, whatever happens); the
load client is this process, on grpc.aio through `cluster.client`.

The generated configuration has two sites, east and west, each with `--stream-agents`
agents of skill `voice` (for the PBX stream) and enough agents of skill `crm` (for
RouteContact) that every routed contact of a phase finds a ready agent; every skill has
wrap-up 0. Setup (untimed) logs every agent in and makes it READY through AgentControl.

1. `Routing.RouteContact` (unary) with 1 and with `--clients` concurrent callers: after an
   untimed warm-up, a fixed count of calls (`--unary-calls`) within a time bound
   (`--unary-timeout`); contacts alternate between the two sites. Reported: p50/p99
   latency of the awaited call (request built before the clock starts) and calls per
   second over the phase's wall time. Untimed after each phase, every contact is brought to
   a final state: offers are accepted and completed (AgentControl.RespondToOffer,
   CompleteContact), queued ones abandoned (Routing.AbandonContact). Routing.StreamEvents
   (kind `finished`) is followed meanwhile: each contact must be reported final exactly once.
2. `CallControl.Connect`: one PBX link (`cluster.client.PbxLink`) sends, every `--tick-ms`,
   one message carrying the arrivals due by then (open loop at `--rate` per second for
   `--duration` seconds, spread over both sites), `answered` for every offer received since
   the last message, and `ended` for every contact answered in the previous message. So
   one lifecycle is arrive -> route_to_agent -> answered -> ended -> finished(completed).
   Route latency = time from handing the arrival's message to the stream until its
   route_to_agent action is read. Lifecycles per second = contacts completed / time from
   the first arrival sent to the last completion. After the offered period the link keeps
   answering and ending (bounded by `--drain-timeout`); a contact still live then is ended
   by the bench (reported as "ended after the drain timeout").
3. Final states: contacts that never reached a final state (must be 0), contacts reported
   final more than once, and Routing.GetStatistics: nothing queued, every staffed agent
   ready again.

Errors are counted by gRPC status code (stream: also refused events, `event_error`).
Server and client CPU time are printed per phase (a server at ~100 % of one core is the
limit; on a shared machine it may get less). The load client freezes what exists before
each timed phase so that its own garbage collector does not add pauses to the latencies it
measures; the longest pause it still had is printed.

Options: `--only unary|stream` runs one measurement; `--profile FILE` runs the server under
cProfile (VCC_PROFILE) and prints its top functions; `--server-cwd DIR` runs the server of
another tree (before/after comparisons); `--metrics` serves Prometheus metrics (`vcc serve
--metrics-port`) and scrapes them every `--scrape-interval` seconds during the CallControl
measurement, `--via-cli` runs the same `vcc serve` without them (the two to compare: what
the metrics cost); `--json` prints one JSON object per measurement on
stdout (the text then goes to stderr). Exit code 0 when every check passes, 1 otherwise, 2
if the run could not be made.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import pathlib
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import grpc
from grpc_health.v1 import health_pb2

from cluster.client import VccClient
from vcc.v1 import agent_control_pb2, call_control_pb2, common_pb2, routing_pb2

SITES = ("east", "west")
STREAM_SKILL, UNARY_SKILL = "voice", "crm"
TARGET_LIFECYCLES_PER_S = 5_000
TARGET_STREAM_P99_MS = 20.0
TARGET_UNARY_P99_MS = 2.0
RPC_TIMEOUT_S = 10.0
SETUP_CONCURRENCY = 32
WARMUP_CALLS = 200
LISTENING = re.compile(r"vcc: listening on port (\d+)")


# ---- the server process --------------------------------------------------------------------------
def config_text(stream_agents: int, unary_agents: int) -> str:
    """Two sites; group g0 serves the PBX stream, g1 the RouteContact calls; wrap-up 0 so an
    ended contact frees its agent at once."""
    site = (f"    agents:\n"
            f"      - {{count: {stream_agents}, skills: {{{STREAM_SKILL}: 1}}}}\n"
            f"      - {{count: {unary_agents}, skills: {{{UNARY_SKILL}: 1}}}}\n")
    return ("skills:\n"
            f"  {STREAM_SKILL}: {{queueing: dqp, sl_threshold_s: 20, wrap_up_s: 0, "
            "agent_selection: longest_idle}\n"
            f"  {UNARY_SKILL}: {{queueing: dqp, sl_threshold_s: 20, wrap_up_s: 0, "
            "agent_selection: longest_idle}\n"
            "sites:\n" + "".join(f"  {name}:\n{site}" for name in SITES) +
            "routing: {multisite: bsr, adjust_by: 10, max_status_age_s: 10, hop_limit: 1}\n")


def agent_ids(site: str, group: int, count: int) -> list:
    """The names cluster/config.py gives a `count` group."""
    return [f"{site}-g{group}-{n}" for n in range(count)]


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM it if this process dies without cleaning up
    (e.g. SIGKILL), so a server is never left behind."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _process_tree(root: int) -> list:
    """`root` and its descendants, from /proc."""
    children: dict = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(pathlib.Path(f"/proc/{entry}/stat").read_text()
                             .rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


class ServerProcess:
    """`python -m cluster.server` on 127.0.0.1:0 in its own process; a context manager that
    always stops it (SIGTERM, wait, SIGKILL only if it does not exit)."""

    def __init__(self, config: str, *, profile: str | None = None, cwd: str | None = None,
                 startup_timeout_s: float = 60.0, stop_timeout_s: float = 20.0,
                 server_args=(), keep_log: str | None = None, runtime: str = "inprocess",
                 via_cli: bool = False):
        self.config = config
        # `via_cli`: `vcc serve --runtime inprocess` (every serve flag) rather than the bare
        # `python -m cluster.server` the benches measure.
        # "ray": `python -m cluster.cli serve --runtime ray` instead (sites in Ray site actors,
        # on an embedded Ray instance the server starts and stops); its CPU time then counts
        # the server's whole process tree (the Ray processes are its descendants).
        self.runtime = runtime
        self.via_cli = via_cli
        self.metrics_url: str | None = None       # with --metrics-port: where /metrics is
        self.wallboard_url: str | None = None     # with --http-port: the wallboard's page
        self.keep_log = keep_log                  # copy the server's log here when it stops
        self.server_args = list(server_args)     # more `python -m cluster.server` flags
        self.profile = profile
        self.cwd = cwd
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.returncode: int | None = None
        self._directory = None

    def __enter__(self) -> "ServerProcess":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _start(self) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="vcc-grpc-bench-")
        directory = pathlib.Path(self._directory.name)
        config_path = directory / "bench.yaml"
        config_path.write_text(self.config)
        self.log_path = directory / "server.log"
        env = dict(os.environ)
        if self.profile:
            env["VCC_PROFILE"] = str(pathlib.Path(self.profile).resolve())
        with open(self.log_path, "wb") as log:
            command = ([sys.executable, "-m", "cluster.server", "--config", str(config_path),
                        "--address", "127.0.0.1:0"]
                       if self.runtime == "inprocess" and not self.via_cli else
                       [sys.executable, "-m", "cluster.cli", "serve", "--runtime", self.runtime,
                        "--config", str(config_path), "--host", "127.0.0.1", "--port", "0"])
            self.process = subprocess.Popen(
                [*command, *self.server_args],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env, cwd=self.cwd,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        lines: queue.Queue = queue.Queue()

        def read_stdout(stream):
            # Reads to EOF so that the server never blocks on a full pipe.
            for raw in stream:
                lines.put(raw.decode(errors="replace"))
            lines.put(None)
        threading.Thread(target=read_stdout, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"the server did not listen within {self.startup_timeout_s:g} s"
                                   f"{self._log_tail()}")
            try:
                line = lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.process.returncode} "
                                       f"before listening{self._log_tail()}")
                continue
            if line is None:
                raise RuntimeError(f"the server closed its stdout before listening"
                                   f"{self._log_tail()}")
            match = LISTENING.search(line)
            if match:
                self.port = int(match.group(1))
                metrics = re.search(r"metrics at (\S+)", line)
                self.metrics_url = metrics.group(1) if metrics else None
                wallboard = re.search(r"wallboard at (\S+)", line)
                self.wallboard_url = wallboard.group(1) if wallboard else None
                return

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\nserver log:\n" + "\n".join(text) if text else ""

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server so far (Linux /proc), or None; with the Ray
        runtime, of the server and every process it started (Ray's)."""
        if self.process is None:
            return None
        pids = [self.process.pid] if self.runtime == "inprocess" else _process_tree(
            self.process.pid)
        total, seen = 0.0, False
        for pid in pids:
            try:
                fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
                utime, stime = fields.split()[11:13]
            except (OSError, ValueError, IndexError):
                continue        # exited meanwhile
            total += (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")
            seen = True
        return total if seen else None

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=self.stop_timeout_s)
        if process is not None:
            self.returncode = process.returncode
            if process.stdout is not None:
                process.stdout.close()
        if self._directory is not None:
            if self.keep_log:
                shutil.copyfile(self.log_path, self.keep_log)
            self._directory.cleanup()
            self._directory = None


# ---- figures -------------------------------------------------------------------------------------
def percentile(values, fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation: a p99 is a latency that was measured)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def ms(seconds) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


class CpuMeter:
    """Server and client CPU seconds over a phase."""

    def __init__(self, server: ServerProcess):
        self.server = server

    def __enter__(self):
        self.server_start = self.server.cpu_seconds()
        self.client_start = time.process_time()
        self.wall_start = time.perf_counter()
        return self

    def __exit__(self, *exc_info):
        wall = time.perf_counter() - self.wall_start
        end = self.server.cpu_seconds()
        self.server_pct = (None if end is None or self.server_start is None or wall <= 0 else
                           round(100.0 * (end - self.server_start) / wall, 1))
        self.client_pct = round(100.0 * (time.process_time() - self.client_start) / wall, 1)


class ClientGc:
    """The load client's own garbage-collector pauses during a timed phase. They add to
    every latency measured here, so the phase starts with everything alive frozen (the
    setup's objects are never scanned again) and the pauses are reported with the figures."""

    def __enter__(self):
        gc.collect()
        gc.freeze()
        self.count, self.total_s, self.max_s, self._started = 0, 0.0, 0.0, None
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info):
        gc.callbacks.remove(self._callback)

    def _callback(self, phase, info):
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            pause = time.perf_counter() - self._started
            self.count += 1
            self.total_s += pause
            self.max_s = max(self.max_s, pause)

    def figures(self) -> dict:
        return {"client_gc_collections": self.count, "client_gc_total_ms": ms(self.total_s),
                "client_gc_max_pause_ms": ms(self.max_s)}


# ---- setup ---------------------------------------------------------------------------------------
async def bounded_gather(concurrency: int, jobs) -> list:
    """Run coroutine factories with at most `concurrency` in flight; results in order."""
    jobs = list(jobs)
    results = [None] * len(jobs)
    position = 0

    async def worker():
        nonlocal position
        while position < len(jobs):
            index = position
            position += 1
            results[index] = await jobs[index]()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(jobs)))))
    return results


async def login_ready(vcc: VccClient, agents: list) -> None:
    async def one(site, agent_id):
        await vcc.agents.Login(agent_control_pb2.AgentRequest(site=site, agent_id=agent_id),
                               timeout=RPC_TIMEOUT_S)
        await vcc.agents.SetState(agent_control_pb2.SetStateRequest(
            site=site, agent_id=agent_id, state=common_pb2.AGENT_STATE_READY),
            timeout=RPC_TIMEOUT_S)
    await bounded_gather(SETUP_CONCURRENCY,
                         [lambda s=site, a=agent_id: one(s, a) for site, agent_id in agents])


# ---- 1. RouteContact -----------------------------------------------------------------------------
class UnaryLedger:
    """Every RouteContact contact: what the reply said, and what finishing it did."""

    def __init__(self):
        self.replies: dict = {}            # contact id -> RouteContactReply
        self.failed: set = set()           # contact ids whose call failed (may exist anyway)


async def route_phase(vcc: VccClient, ledger: UnaryLedger, prefix: str, clients: int,
                      calls: int, timeout_s: float) -> dict:
    latencies, errors = [], collections.Counter()
    position = 0
    stop_at = time.perf_counter() + timeout_s

    async def worker():
        nonlocal position
        # Bounded: `calls` in all, and no new call after the phase's time bound.
        while position < calls and time.perf_counter() < stop_at:
            index = position
            position += 1
            contact_id = f"{prefix}-{index}"
            request = routing_pb2.RouteContactRequest(contact=common_pb2.ContactSpec(
                contact_id=contact_id, site=SITES[index % 2], skill=UNARY_SKILL))
            started = time.perf_counter()
            try:
                reply = await vcc.routing.RouteContact(request, timeout=RPC_TIMEOUT_S)
            except grpc.aio.AioRpcError as error:
                errors[error.code().name] += 1
                ledger.failed.add(contact_id)
                continue
            latencies.append(time.perf_counter() - started)
            ledger.replies[contact_id] = reply

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - started
    decisions = collections.Counter(ledger.replies[f"{prefix}-{i}"].WhichOneof("decision")
                                    for i in range(position) if f"{prefix}-{i}" in ledger.replies)
    return {"measurement": "route_contact", "clients": clients, "calls": len(latencies),
            "requested_calls": calls, "wall_s": round(wall, 3),
            "rps": round(len(latencies) / wall, 1) if wall > 0 else None,
            "p50_ms": ms(percentile(latencies, 0.50)), "p99_ms": ms(percentile(latencies, 0.99)),
            "max_ms": ms(max(latencies) if latencies else None),
            "decisions": dict(decisions), "errors": dict(errors)}


async def health_phase(vcc: VccClient, calls: int, timeout_s: float) -> dict:
    """Health.Check from one client: the same channel and server with no routing work, so
    the floor under RouteContact's latency on this machine at this moment."""
    latencies, errors = [], collections.Counter()
    request = health_pb2.HealthCheckRequest()
    stop_at = time.perf_counter() + timeout_s
    started = time.perf_counter()
    for _ in range(calls):                   # bounded in count, and in time below
        if time.perf_counter() >= stop_at:
            break
        called = time.perf_counter()
        try:
            await vcc.health.Check(request, timeout=RPC_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            errors[error.code().name] += 1
            continue
        latencies.append(time.perf_counter() - called)
    wall = time.perf_counter() - started
    return {"measurement": "health_check", "clients": 1, "calls": len(latencies),
            "requested_calls": calls, "wall_s": round(wall, 3),
            "rps": round(len(latencies) / wall, 1) if wall > 0 else None,
            "p50_ms": ms(percentile(latencies, 0.50)), "p99_ms": ms(percentile(latencies, 0.99)),
            "max_ms": ms(max(latencies) if latencies else None), "errors": dict(errors)}


async def finish_routed(vcc: VccClient, ledger: UnaryLedger, contact_ids, errors) -> None:
    """Bring RouteContact contacts to a final state the way a CRM would: queued ones are
    abandoned first (so freed agents do not pick them up), offers accepted and completed."""
    async def call(rpc, request):
        try:
            return await rpc(request, timeout=RPC_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            errors[error.code().name] += 1
            return None

    offered, abandon = [], []
    for contact_id in contact_ids:
        reply = ledger.replies.get(contact_id)
        kind = reply.WhichOneof("decision") if reply is not None else None
        if kind == "offer":
            offered.append(reply.offer)
        elif kind == "queued" or contact_id in ledger.failed:
            abandon.append(contact_id)

    async def abandon_one(contact_id):
        try:
            await vcc.routing.AbandonContact(routing_pb2.AbandonContactRequest(
                contact_id=contact_id), timeout=RPC_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            # A call that failed may never have created its contact: nothing to finish.
            if not (contact_id in ledger.failed and error.code() == grpc.StatusCode.INVALID_ARGUMENT
                    and "unknown contact" in (error.details() or "")):
                errors[error.code().name] += 1

    async def complete(offer):
        request = agent_control_pb2.OfferResponse(site=offer.site, agent_id=offer.agent_id,
                                                  contact_id=offer.contact_id, accept=True)
        if await call(vcc.agents.RespondToOffer, request) is not None:
            await call(vcc.agents.CompleteContact, agent_control_pb2.ContactRequest(
                site=offer.site, agent_id=offer.agent_id, contact_id=offer.contact_id))

    await bounded_gather(SETUP_CONCURRENCY, [lambda c=c: abandon_one(c) for c in abandon])
    await bounded_gather(SETUP_CONCURRENCY, [lambda o=o: complete(o) for o in offered])


class FinishedFollower:
    """Routing.StreamEvents(kinds=[finished]): final states as the API reports them."""

    def __init__(self, vcc: VccClient):
        self.finals: dict = collections.defaultdict(list)     # contact id -> [final state]
        self.call = vcc.routing.StreamEvents(routing_pb2.StreamEventsRequest(kinds=["finished"]))
        self.error = None
        self.task = asyncio.ensure_future(self._follow())

    async def _follow(self):
        try:
            async for event in self.call:
                self.finals[event.finished.contact_id].append(event.finished.final_state)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                self.error = error.code().name

    async def started(self) -> None:
        await self.call.initial_metadata()      # subscribed before anything is finished

    async def wait_for(self, contact_ids, timeout_s: float) -> None:
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline and any(c not in self.finals for c in contact_ids):
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        self.call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


# ---- 2. CallControl stream -----------------------------------------------------------------------
async def stream_phase(vcc: VccClient, rate: float, duration_s: float, tick_s: float,
                       drain_timeout_s: float, samples: list | None = None, *,
                       link_id: str = "grpc-bench-pbx", prefix: str = "a") -> dict:
    """One PBX link (`link_id`) offering `rate` arrivals/s (contact ids `prefix` + a number:
    several links at once need distinct ones)."""
    total = int(rate * duration_s)
    # Every event of the run may be unacknowledged at once if the router falls far behind:
    # the run is bounded by `total`, so the link's own bound must not cut it short.
    link = vcc.pbx_link(link_id, max_batch=8192, ack_every=1024,
                        max_unacked=3 * total + 1024)
    await link.connect()
    sent_at: dict = {}                   # contact id -> perf_counter when its arrival went out
    latencies: list = []
    to_answer: list = []                 # offered, not yet answered
    finals: dict = {}                    # contact id -> its (first) final state
    refused: set = set()                 # arrivals refused because the router is overloaded
    # A contact with two different final states breaks the one-final-state rule. The same
    # final state said again is the router answering an event about a contact that had
    # already finished (host `_final_again`: the PBX may have missed the first), which
    # comes with that event's error: counted apart, as `final_repeated`.
    twice = 0
    repeated = 0
    completed_at: list = []
    kinds = collections.Counter()
    errors = collections.Counter()
    messages = {"in": 0, "out": 0, "events_out": 0, "actions_in": 0}
    stream_status = {"code": None}

    async def receive():
        nonlocal twice, repeated
        try:
            async for message in link.messages():
                now = time.perf_counter()
                messages["in"] += 1
                messages["actions_in"] += len(message.actions)
                for action in message.actions:
                    kind = action.WhichOneof("action")
                    kinds[kind] += 1
                    if kind == "route_to_agent":
                        contact_id = action.route_to_agent.contact_id
                        at = sent_at.get(contact_id)
                        if at is not None:
                            latencies.append(now - at)
                            if samples is not None:
                                samples.append((at, now - at))
                        to_answer.append(contact_id)
                    elif kind == "finished":
                        contact_id = action.finished.contact_id
                        if contact_id in finals:
                            if finals[contact_id] == action.finished.final_state:
                                repeated += 1
                            else:
                                twice += 1
                        else:
                            finals[contact_id] = action.finished.final_state
                            if action.finished.final_state == common_pb2.CONTACT_STATE_COMPLETED:
                                completed_at.append(now)
                    elif kind == "error":
                        if "overloaded" in action.error.message:
                            # Refused at once (RESOURCE_EXHAUSTED): it never entered.
                            refused.add(action.error.contact_id)
                            errors["overloaded"] += 1
                        else:
                            errors["event_error"] += 1
        except grpc.aio.AioRpcError as error:
            stream_status["code"] = error.code().name
        else:
            stream_status["code"] = "OK"

    receiver = asyncio.ensure_future(receive())
    sent = 0
    to_end: list = []                    # answered in the previous message
    pbx_event = call_control_pb2.PbxEvent
    spec = common_pb2.ContactSpec

    def send_follow_ups(events):
        nonlocal to_end
        # Ended for contacts answered in an earlier message, then answers for new offers.
        events.extend(pbx_event(ended=contact_id) for contact_id in to_end)
        to_end = to_answer[:]
        events.extend(pbx_event(answered=contact_id) for contact_id in to_end)
        del to_answer[:]

    started = time.perf_counter()
    next_tick = started
    try:
        # Offered period: open loop, bounded by `total` arrivals and by time.
        while sent < total and receiver.done() is False:
            now = time.perf_counter()
            due = min(total, int((now - started) * rate) + 1)
            events = []
            send_follow_ups(events)
            arrivals = [f"{prefix}{index}" for index in range(sent, due)]
            events.extend(pbx_event(arrived=spec(contact_id=contact_id, site=SITES[index % 2],
                                                 skill=STREAM_SKILL))
                          for index, contact_id in enumerate(arrivals, sent))
            if events:
                link.send(*events)
                stamp = time.perf_counter()
                for contact_id in arrivals:
                    sent_at[contact_id] = stamp
                await link.flush()
                messages["out"] += 1
                messages["events_out"] += len(events)
            sent = max(sent, due)
            if now - started > duration_s + 5.0:      # hopelessly behind: stop offering
                break
            next_tick += tick_s
            await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
        offered_wall = time.perf_counter() - started
        # Drain: keep answering and ending until every contact finished (bounded in time).
        drain_until = time.perf_counter() + drain_timeout_s
        while (len(finals) + len(refused) < sent or to_end or to_answer) \
                and time.perf_counter() < drain_until \
                and not receiver.done():
            events = []
            send_follow_ups(events)
            if events:
                link.send(*events)
                await link.flush()
                messages["out"] += 1
                messages["events_out"] += len(events)
            await asyncio.sleep(tick_s)
        unfinished_after_drain = [c for c in sent_at if c not in finals and c not in refused]
        # Whatever is still live is ended (abandons it if queued or ringing) so that the
        # server is left clean; it still counts as a failure of the run.
        if unfinished_after_drain and not receiver.done():
            link.send(*(pbx_event(ended=contact_id) for contact_id in unfinished_after_drain))
            await link.flush()
            cleanup_until = time.perf_counter() + 10.0
            while any(c not in finals for c in unfinished_after_drain) and \
                    time.perf_counter() < cleanup_until and not receiver.done():
                await asyncio.sleep(0.02)
    finally:
        link.close_stream()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(receiver, 10.0)
    completed = len(completed_at)
    lifetime = (max(completed_at) - started) if completed_at else None
    if stream_status["code"] not in (None, "OK", "CANCELLED"):
        errors[stream_status["code"]] += 1
    return {"measurement": "call_control_stream", "requested_rate": rate,
            "duration_s": duration_s, "tick_ms": tick_s * 1000, "contacts": sent,
            "offered_rate": round(sent / offered_wall, 1) if offered_wall > 0 else None,
            "completed": completed,
            "lifecycles_per_s": round(completed / lifetime, 1) if lifetime else None,
            "route_p50_ms": ms(percentile(latencies, 0.50)),
            "route_p99_ms": ms(percentile(latencies, 0.99)),
            "route_max_ms": ms(max(latencies) if latencies else None),
            "routed": len(latencies),
            "messages_out": messages["out"], "events_out": messages["events_out"],
            "messages_in": messages["in"], "actions_in": messages["actions_in"],
            "actions": dict(kinds), "unfinished_after_drain": len(unfinished_after_drain),
            "unfinished": sum(1 for c in sent_at if c not in finals and c not in refused),
            "refused_overloaded": len(refused),
            "finished_more_than_once": twice, "final_repeated": repeated,
            "errors": dict(errors)}


# ---- 3. final states -----------------------------------------------------------------------------
async def statistics_check(vcc: VccClient) -> dict:
    reply = await vcc.routing.GetStatistics(routing_pb2.GetStatisticsRequest(),
                                            timeout=RPC_TIMEOUT_S)
    return {"queued": sum(sum(s.queued) for s in reply.skills),
            "staffed": sum(s.staffed for s in reply.skills),
            "ready": sum(s.ready for s in reply.skills)}


# ---- the run -------------------------------------------------------------------------------------
class Report:
    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.out = sys.stderr if as_json else sys.stdout
        self.checks: list = []
        self.started = time.perf_counter()

    def line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def progress(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f} s] {text}", file=sys.stderr,
              flush=True)

    def measurement(self, row: dict) -> None:
        if self.as_json:
            print(json.dumps(row), flush=True)

    def check(self, passed: bool, text: str) -> None:
        self.checks.append(passed)
        self.line(f"  {'PASS' if passed else 'FAIL'} {text}")

    def skip(self, text: str) -> None:
        self.line(f"  SKIP {text}")


async def measure_unary(vcc: VccClient, args, server: ServerProcess, report: Report) -> dict:
    """RouteContact at 1 and at `--clients` callers; every contact finished afterwards."""
    ledger, errors = UnaryLedger(), collections.Counter()
    rows = []
    follower = FinishedFollower(vcc)
    await follower.started()
    # Untimed warm-up (connections, caches), then the two timed phases. Contacts are
    # finished between phases (untimed) so that every phase finds its agents ready.
    for prefix, clients, calls, timed in (("warm", 8, WARMUP_CALLS, False),
                                          ("u1", 1, args.unary_calls, True),
                                          (f"u{args.clients}", args.clients,
                                           args.unary_calls, True)):
        report.progress(f"RouteContact: {calls:,} calls, {clients} client(s)"
                        + ("" if timed else " (warm-up)"))
        with CpuMeter(server) as cpu, ClientGc() as client_gc:
            row = await route_phase(vcc, ledger, prefix, clients, calls, args.unary_timeout)
        row.update(server_cpu_pct=cpu.server_pct, client_cpu_pct=cpu.client_pct,
                   **client_gc.figures())
        if timed:
            rows.append(row)
            report.measurement(row)
        await finish_routed(vcc, ledger, [f"{prefix}-{i}" for i in range(calls)], errors)
        if prefix == "u1":
            # Right after the 1-client phase, in the same conditions: the gRPC floor.
            with CpuMeter(server) as cpu, ClientGc() as client_gc:
                floor = await health_phase(vcc, args.unary_calls, args.unary_timeout)
            floor.update(server_cpu_pct=cpu.server_pct, client_cpu_pct=cpu.client_pct,
                         **client_gc.figures())
            report.measurement(floor)
    await follower.wait_for(list(ledger.replies), 10.0)
    await follower.close()
    if follower.error:
        errors[follower.error] += 1
    report.line("Routing.RouteContact (unary, one channel)")
    report.line(f"  {'clients':>7} {'calls':>7} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} "
                f"{'max ms':>8} {'server cpu':>10} {'client cpu':>10} {'client gc max':>13}"
                "  errors")
    for row in rows:
        report.line(f"  {row['clients']:>7} {row['calls']:>7,} {fmt(row['rps'], 0):>9} "
                    f"{fmt(row['p50_ms'], 3):>8} {fmt(row['p99_ms'], 3):>8} "
                    f"{fmt(row['max_ms'], 3):>8} {fmt(row['server_cpu_pct'], 0):>9}% "
                    f"{fmt(row['client_cpu_pct'], 0):>9}% "
                    f"{fmt(row['client_gc_max_pause_ms'], 1):>10} ms  {row['errors'] or 'none'}")
    report.line(f"  reference, Health.Check from 1 client (the gRPC floor, no routing work): "
                f"{fmt(floor['rps'], 0)} rps, p50 {fmt(floor['p50_ms'], 3)} ms, p99 "
                f"{fmt(floor['p99_ms'], 3)} ms, server cpu {fmt(floor['server_cpu_pct'], 0)}%"
                f"{'' if not floor['errors'] else ', errors ' + str(floor['errors'])}")
    if errors:
        report.line(f"  errors while finishing contacts: {dict(errors)}")
    # A rejected contact is final in the reply itself (no agent, queue full).
    unfinished = sum(1 for c, reply in ledger.replies.items() if c not in follower.finals
                     and reply.WhichOneof("decision") != "rejected")
    for code, count in floor["errors"].items():
        errors[code] += count
    return {"rows": rows, "contacts": len(ledger.replies), "unfinished": unfinished,
            "twice": sum(1 for states in follower.finals.values() if len(states) > 1),
            "errors": errors}


async def measure_stream(vcc: VccClient, args, server: ServerProcess, report: Report) -> dict:
    report.progress(f"CallControl: {args.rate:,.0f} arrivals/s for {args.duration:g} s, "
                    f"one message every {args.tick_ms:g} ms")
    scraper = Scraper(server.metrics_url, args.scrape_interval) if server.metrics_url else None
    with CpuMeter(server) as cpu, ClientGc() as client_gc:
        if scraper is not None:
            scraper.start()
        try:
            stream = await stream_phase(vcc, args.rate, args.duration,
                                        args.tick_ms / 1000.0, args.drain_timeout)
        finally:
            if scraper is not None:
                await scraper.stop()
    stream.update(server_cpu_pct=cpu.server_pct, client_cpu_pct=cpu.client_pct,
                  **client_gc.figures())
    if scraper is not None:
        stream.update(scraper.figures())
    report.measurement(stream)
    report.line("CallControl.Connect (one PBX link, arrive -> route -> answer -> end)")
    report.line(f"  offered: requested {args.rate:,.0f}/s, achieved "
                f"{fmt(stream['offered_rate'], 0)}/s ({stream['contacts']:,} contacts "
                f"in {args.duration:g} s)")
    report.line(f"  lifecycles completed: {stream['completed']:,} = "
                f"{fmt(stream['lifecycles_per_s'], 0)}/s")
    report.line(f"  route latency (arrival sent -> route_to_agent read): p50 "
                f"{fmt(stream['route_p50_ms'], 2)} ms, p99 {fmt(stream['route_p99_ms'], 2)} "
                f"ms, max {fmt(stream['route_max_ms'], 2)} ms over {stream['routed']:,}")
    report.line(f"  messages: {stream['messages_out']:,} out carrying "
                f"{stream['events_out']:,} events "
                f"({stream['events_out'] / max(stream['messages_out'], 1):.1f}/message), "
                f"{stream['messages_in']:,} in carrying {stream['actions_in']:,} actions; "
                f"server cpu {fmt(stream['server_cpu_pct'], 0)}%, client cpu "
                f"{fmt(stream['client_cpu_pct'], 0)}% (client gc: "
                f"{stream['client_gc_collections']} collections, longest pause "
                f"{fmt(stream['client_gc_max_pause_ms'], 1)} ms)")
    report.line(f"  actions: {stream['actions']}; errors: {stream['errors'] or 'none'}")
    if scraper is not None:
        report.line(f"  metrics: {stream['scrapes']} scrapes of /metrics (every "
                    f"{args.scrape_interval:g} s), mean {fmt(stream['scrape_mean_ms'], 1)} ms, "
                    f"max {fmt(stream['scrape_max_ms'], 1)} ms, {stream['scrape_bytes']:,} "
                    f"bytes; last scrape: {stream['scraped_offered']:,} offered, "
                    f"{stream['scraped_answered']:,} answered, "
                    f"{stream['scraped_routed']:,} route latencies")
    return stream


class Scraper:
    """Scrapes Prometheus text from `url` every `interval_s` seconds, as Prometheus would
    (in a thread: the bench's event loop keeps its timing); the figures of the last one."""

    def __init__(self, url: str, interval_s: float):
        self.url = url
        self.interval_s = interval_s
        self.times: list = []
        self.last = ""
        self.failures = 0
        self._task = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await self.scrape()
            await asyncio.sleep(self.interval_s)

    async def scrape(self) -> None:
        import urllib.request

        def get() -> str:
            with urllib.request.urlopen(self.url, timeout=30) as response:
                return response.read().decode()

        began = time.perf_counter()
        try:
            self.last = await asyncio.to_thread(get)
        except OSError:
            self.failures += 1
            return
        self.times.append(time.perf_counter() - began)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.scrape()         # the counters at the end

    def figures(self) -> dict:
        from prometheus_client.parser import text_string_to_metric_families

        totals = collections.Counter()
        for family in text_string_to_metric_families(self.last):
            for sample in family.samples:
                if sample.name in ("vcc_contacts_offered_total", "vcc_contacts_answered_total",
                                   "vcc_route_latency_seconds_count"):
                    totals[sample.name] += sample.value
        return {"scrapes": len(self.times), "scrape_failures": self.failures,
                "scrape_mean_ms": ms(sum(self.times) / len(self.times)) if self.times else None,
                "scrape_max_ms": ms(max(self.times)) if self.times else None,
                "scrape_bytes": len(self.last.encode()),
                "scraped_offered": int(totals["vcc_contacts_offered_total"]),
                "scraped_answered": int(totals["vcc_contacts_answered_total"]),
                "scraped_routed": int(totals["vcc_route_latency_seconds_count"])}


async def run(args, server: ServerProcess, report: Report) -> None:
    unary_agents = (max(args.unary_calls, WARMUP_CALLS) + 1) // 2
    async with VccClient(f"127.0.0.1:{server.port}") as vcc:
        # Only the agents a measurement needs (--only keeps setup out of a server profile).
        groups = [(0, args.stream_agents)] if args.only != "unary" else []
        groups += [(1, unary_agents)] if args.only != "stream" else []
        agents = [(site, agent_id) for site in SITES for group, count in groups
                  for agent_id in agent_ids(site, group, count)]
        report.progress(f"setup: {len(agents):,} agents log in and become ready")
        await login_ready(vcc, agents)
        unary = stream = None
        if args.only in (None, "unary"):
            unary = await measure_unary(vcc, args, server, report)
        if args.only in (None, "stream"):
            stream = await measure_stream(vcc, args, server, report)
        statistics = await statistics_check(vcc)

    unfinished = (unary["unfinished"] if unary else 0) + (stream["unfinished"] if stream else 0)
    twice = (unary["twice"] if unary else 0) + (stream["finished_more_than_once"] if stream else 0)
    errors = collections.Counter(unary["errors"] if unary else {})
    for row in (unary["rows"] if unary else []) + ([stream] if stream else []):
        errors.update(row["errors"])
    finals = {"measurement": "final_states",
              "contacts": ((unary["contacts"] if unary else 0)
                           + (stream["contacts"] if stream else 0)),
              "unfinished": unfinished, "finished_more_than_once": twice,
              "ended_after_drain_timeout": stream["unfinished_after_drain"] if stream else 0,
              "errors_by_code": dict(errors), **statistics}
    report.measurement(finals)
    report.line("final states (Routing.StreamEvents `finished`, PBX `finished` actions, "
                "Routing.GetStatistics)")
    report.line(f"  contacts: {finals['contacts']:,}; not in a final state: {unfinished}; "
                f"reported final more than once: {twice}; ended by the bench after the drain "
                f"timeout: {stream['unfinished_after_drain'] if stream else 0}")
    report.line(f"  after the run: queued {statistics['queued']}, ready {statistics['ready']:,} "
                f"of {statistics['staffed']:,} staffed (agent x skill)")
    report.line(f"  errors by gRPC code: {dict(errors) or 'none'}")

    report.line("checks:")
    if stream is None:
        report.skip("CallControl lifecycles/s and p99 route latency (--only unary)")
    else:
        report.check(stream["lifecycles_per_s"] is not None
                     and stream["lifecycles_per_s"] >= TARGET_LIFECYCLES_PER_S
                     and stream["route_p99_ms"] is not None
                     and stream["route_p99_ms"] <= TARGET_STREAM_P99_MS,
                     f"CallControl: {fmt(stream['lifecycles_per_s'], 0)} lifecycles/s with p99 "
                     f"route latency {fmt(stream['route_p99_ms'], 2)} ms (target >= "
                     f"{TARGET_LIFECYCLES_PER_S:,}/s with p99 <= {TARGET_STREAM_P99_MS:g} ms; "
                     f"offered {fmt(stream['offered_rate'], 0)}/s)")
    if unary is None:
        report.skip("RouteContact p99 at 1 client (--only stream)")
    else:
        single = unary["rows"][0]
        report.check(single["p99_ms"] is not None and single["p99_ms"] <= TARGET_UNARY_P99_MS
                     and single["calls"] == single["requested_calls"],
                     f"RouteContact, 1 client: p99 {fmt(single['p99_ms'], 3)} ms over "
                     f"{single['calls']:,} calls (target <= {TARGET_UNARY_P99_MS:g} ms)")
    report.check(unfinished == 0 and twice == 0 and statistics["queued"] == 0,
                 f"every contact in exactly one final state: {unfinished} unfinished, "
                 f"{twice} finished more than once, {statistics['queued']} queued (target 0)")
    report.measurement({"measurement": "checks", "passed": sum(report.checks),
                        "failed": len(report.checks) - sum(report.checks)})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.grpc_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=6000.0,
                        help="CallControl arrivals per second, open loop (default 6000)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="CallControl offered period in seconds (default 10)")
    parser.add_argument("--tick-ms", type=float, default=10.0,
                        help="one PBX message every this many ms (default 10: ~180 events a "
                             "message at 6,000/s; 5 costs the router ~10%% more CPU)")
    parser.add_argument("--drain-timeout", type=float, default=15.0,
                        help="seconds to finish contacts after the offered period (default 15)")
    parser.add_argument("--stream-agents", type=int, default=500,
                        help="agents per site for the PBX stream (default 500)")
    parser.add_argument("--unary-calls", type=int, default=3000,
                        help="RouteContact calls per phase (default 3000)")
    parser.add_argument("--clients", type=int, default=32,
                        help="concurrent RouteContact callers of the second phase (default 32)")
    parser.add_argument("--unary-timeout", type=float, default=60.0,
                        help="time bound of each RouteContact phase in seconds (default 60)")
    parser.add_argument("--only", choices=("unary", "stream"),
                        help="run one of the two measurements (its checks only)")
    parser.add_argument("--profile", metavar="FILE",
                        help="run the server under cProfile, stats to FILE (VCC_PROFILE)")
    parser.add_argument("--server-cwd", metavar="DIR",
                        help="start the server in DIR, so that `python -m cluster.server` runs "
                             "the tree there (before/after comparisons); default: here")
    parser.add_argument("--server-log", metavar="FILE",
                        help="keep the server's log (stderr) in FILE")
    parser.add_argument("--db", metavar="URL",
                        help="the server journals every event in this database before it "
                             "answers (vcc serve --db): what durability costs")
    parser.add_argument("--runtime", choices=("inprocess", "ray"), default="inprocess",
                        help="inprocess: `python -m cluster.server` (default); ray: `vcc serve "
                             "--runtime ray`, the sites in Ray site actors (see also "
                             "loadtests/cluster_bench.py)")
    parser.add_argument("--metrics", action="store_true",
                        help="the server serves Prometheus metrics (`vcc serve --metrics-port "
                             "0`), scraped every --scrape-interval s during the CallControl "
                             "measurement")
    parser.add_argument("--via-cli", action="store_true",
                        help="start the server as `vcc serve --runtime inprocess` (as "
                             "--metrics does) instead of `python -m cluster.server`: the "
                             "baseline to compare --metrics with")
    # Prometheus is usually set to scrape every 15-60 s: 1 s costs more than it would.
    parser.add_argument("--scrape-interval", type=float, default=1.0, metavar="S",
                        help="seconds between scrapes with --metrics (default 1)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per measurement on stdout")
    args = parser.parse_args(argv)
    if args.runtime == "ray" and (args.db or args.profile):
        parser.error("--runtime ray works without --db and --profile")
    for name in ("rate", "duration", "tick_ms", "drain_timeout", "unary_timeout",
                 "scrape_interval"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0")
    for name in ("stream_agents", "unary_calls", "clients"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    report = Report(args.json)
    unary_agents = (max(args.unary_calls, WARMUP_CALLS) + 1) // 2
    try:
        with ServerProcess(config_text(args.stream_agents, unary_agents),
                           profile=args.profile, cwd=args.server_cwd,
                           server_args=(["--db", args.db] if args.db else [])
                           + (["--metrics-port", "0"] if args.metrics else []),
                           keep_log=args.server_log, runtime=args.runtime,
                           via_cli=args.metrics or args.via_cli) as server:
            report.progress(f"server pid {server.process.pid} listening on 127.0.0.1:"
                            f"{server.port}")
            asyncio.run(run(args, server, report))
    except KeyboardInterrupt:
        print("interrupted; the server was stopped", file=sys.stderr)
        return 2
    except (RuntimeError, grpc.aio.AioRpcError) as error:
        print(f"grpc_bench: {error}", file=sys.stderr)
        return 2
    if server.returncode not in (0, None):
        report.line(f"the server exited with {server.returncode}")
    if args.profile:
        print_profile(args.profile, report)
    report.line(f"total runtime {time.perf_counter() - report.started:.1f} s")
    return 0 if report.checks and all(report.checks) else 1


def print_profile(path: str, report: Report, limit: int = 30) -> None:
    import io
    import pstats

    if not pathlib.Path(path).exists():
        report.line(f"no profile at {path}")
        return
    text = io.StringIO()
    pstats.Stats(path, stream=text).sort_stats("tottime").print_stats(limit)
    report.line(f"server profile ({path}), top {limit} by own time:")
    report.line(text.getvalue())


if __name__ == "__main__":
    sys.exit(main())

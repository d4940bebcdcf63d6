"""A leader candidate as its own process, for failover tests and drills.

    python -m cluster.leadership.candidate --endpoints 127.0.0.1:2379 --node-id n1 \
        --events /tmp/n1.jsonl [--journal sqlite:///drill.db] [--probe-after-loss]

It campaigns through etcd and appends one JSON line per happening to `--events`, with the
monotonic clock (`t`, comparable across processes of one machine):
  started, gained, lost (reason, deadline, renewed_at), leader_changed,
  journal_write (token, ok, error).
With `--journal`, a node that gains leadership writes one entry to site `--site` with its
token (as a new leader's first write would), and with `--probe-after-loss` a node that lost
its term tries one more write with the old token: the journal must refuse it once a newer
leader has written. It exits after `--duration` seconds or on SIGTERM/SIGINT (resigning).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time

from cluster.leadership.base import ChangeKind, LeadershipChange
from cluster.leadership.etcd import EtcdConfig, EtcdLeadership


class CandidateProcess:
    """A candidate started as a child process, and its events as recorded so far (for tests
    and drills; the caller kills it with `cleanup()` whatever happens)."""

    def __init__(self, node_id: str, endpoints, directory, *extra: str, ttl: float = 3.0,
                 margin: float = 0.5, prefix: str = "/vcc/leadership",
                 address: str = "", duration: float = 120.0, cwd=None):
        self.node_id = node_id
        self.events_path = os.path.join(directory, f"{node_id}.jsonl")
        self.stderr_path = os.path.join(directory, f"{node_id}.err")
        command = [sys.executable, "-m", "cluster.leadership.candidate",
                   "--endpoints", ",".join(endpoints), "--node-id", node_id,
                   "--address", address, "--events", self.events_path, "--ttl", str(ttl),
                   "--margin", str(margin), "--prefix", prefix, "--duration", str(duration),
                   *extra]
        with open(self.stderr_path, "ab") as stderr:
            self.process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                                            stderr=stderr, stdin=subprocess.DEVNULL)

    def events(self, kind: str | None = None) -> list[dict]:
        try:
            with open(self.events_path) as file:
                lines = file.read().splitlines()
        except FileNotFoundError:
            return []
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:      # a line being written right now
                continue
        return [e for e in events if kind is None or e["event"] == kind]

    def leading(self) -> dict | None:
        """Its last GAINED if no LOST followed and the process lives, else None."""
        if self.process.poll() is not None:
            return None
        terms = [e for e in self.events() if e["event"] in ("gained", "lost")]
        return terms[-1] if terms and terms[-1]["event"] == "gained" else None

    def signal(self, signum) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def diagnostics(self) -> str:
        try:
            with open(self.stderr_path) as file:
                err = file.read()[-1500:]
        except FileNotFoundError:
            err = ""
        return f"{self.node_id}: {self.events()!r}\nstderr: {err}"

    def cleanup(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)     # a stopped process cannot die
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass


class Recorder:
    def __init__(self, path: str):
        self.file = open(path, "a", buffering=1)     # line-buffered: a SIGKILL loses nothing

    def write(self, event: str, **fields) -> None:
        fields.update(event=event, t=time.monotonic(), pid=os.getpid())
        self.file.write(json.dumps(fields) + "\n")
        self.file.flush()


class JournalProbe:
    """The candidate's writes: a fresh Journal per term (a new leader recovers the site's
    position from the database), the old one kept for the probe after a loss."""

    def __init__(self, url: str, site: str, recorder: Recorder):
        from cluster.store import open_engine, upgrade
        self.engine = open_engine(url)
        upgrade(self.engine)
        self.site, self.recorder = site, recorder
        self.journals: dict[int, object] = {}

    async def write(self, token: int, why: str) -> None:
        from cluster.store.journal import Journal
        from sites import events as ev
        journal = self.journals.get(token)
        if journal is None:
            journal = self.journals[token] = Journal(self.engine, fencing_token=token)
        try:
            seq = await asyncio.wait_for(journal.append(self.site, [ev.Tick(time.time())]), 10)
            self.recorder.write("journal_write", token=token, why=why, ok=True, seq=seq)
        except Exception as error:    # noqa: BLE001 - the refusal is what is recorded
            self.recorder.write("journal_write", token=token, why=why, ok=False,
                                error=f"{type(error).__name__}: {error}")


async def run(args) -> int:
    recorder = Recorder(args.events)
    config = EtcdConfig(endpoints=tuple(args.endpoints.split(",")), ttl_s=args.ttl,
                        prefix=args.prefix, safety_margin_s=args.margin)
    leadership = EtcdLeadership(config, args.node_id, args.address)
    probe = JournalProbe(args.journal, args.site, recorder) if args.journal else None
    work: asyncio.Queue = asyncio.Queue()

    def record(change: LeadershipChange) -> None:
        leader = change.leader
        recorder.write(change.kind.value, node_id=args.node_id, token=change.token,
                       reason=change.reason, at=change.at, deadline=change.deadline,
                       renewed_at=change.renewed_at,
                       leader=None if leader is None else
                       {"node_id": leader.node_id, "address": leader.address,
                        "token": leader.token})
        if probe is not None and change.kind is ChangeKind.GAINED:
            work.put_nowait((change.token, "gained"))
        if probe is not None and change.kind is ChangeKind.LOST and args.probe_after_loss:
            work.put_nowait((change.token, "after_loss"))

    async def writer():
        while True:
            token, why = await work.get()
            await probe.write(token, why)

    leadership.on_change(record)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    recorder.write("started", node_id=args.node_id, ttl=args.ttl, margin=args.margin)
    writer_task = loop.create_task(writer())
    try:
        await leadership.campaign()
        try:
            await asyncio.wait_for(stop.wait(), args.duration)
        except asyncio.TimeoutError:
            pass
    finally:
        writer_task.cancel()
        await leadership.close()
        recorder.write("stopped", node_id=args.node_id, errors=leadership.errors,
                       last_error=leadership.last_error)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.leadership.candidate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", required=True, help="etcd host:port[,host:port...]")
    parser.add_argument("--node-id", required=True)
    parser.add_argument("--address", default="", help="this node's gRPC address")
    parser.add_argument("--events", required=True, help="file to append JSON lines to")
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--margin", type=float, default=0.5)
    parser.add_argument("--prefix", default="/vcc/leadership")
    parser.add_argument("--journal", help="database URL: write with the token on each gain")
    parser.add_argument("--site", default="drill")
    parser.add_argument("--probe-after-loss", action="store_true")
    parser.add_argument("--duration", type=float, default=120.0,
                        help="exit after this many seconds (bounded by design)")
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

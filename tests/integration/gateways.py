"""What the leader-failover tests share (test_failover.py, test_failover_interflow.py,
test_failover_callback.py): bounded waits, the leader among gateways, their logs, a check
that no process of the gateways' groups outlived them, two `vcc serve --etcd` gateways on a
fresh PostgreSQL schema, and a PBX link that resumes on whichever gateway leads."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import uuid

import grpc

from cluster.store.db import drop_schema, open_engine
from loadtests.failover_drill import Gateway, serving
from tests.integration.etcd_server import EtcdServer, free_ports
from tests.integration.postgres import URL as PG


def wait_for(predicate, timeout: float, step: float = 0.05):
    """The first true value of `predicate()` within `timeout` s (its last value after)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def leader_of(gateways):
    leading = [g for g in gateways if g.process.poll() is None and serving(g.address, 0.5)]
    return leading[0] if len(leading) == 1 else None


def diagnostics(gateways) -> str:
    return "\n".join(f"--- {g.name} (rc {g.process.poll()})\n{g.log_tail()}" for g in gateways)


def assert_groups_gone(groups) -> None:
    """Every process of the process groups `groups` (the gateways', with their embedded
    Ray) is gone within 15 s of their cleanup (SIGKILL to each group: gone once reaped)."""
    def left():
        found = []
        for group in groups:
            try:
                os.killpg(group, 0)
                found.append(group)
            except ProcessLookupError:
                pass
        return found
    wait_for(lambda: not left(), 15, step=0.2)
    assert not left(), subprocess.run(["ps", "-o", "pid,pgid,stat,args", "-g",
                                       ",".join(map(str, left()))],
                                      capture_output=True, text=True).stdout


@contextlib.contextmanager
def two_gateways(tmp_path, config_text: str, name: str, ttl_s: float, runtime: str):
    """(gateways, engine): etcd, a fresh schema and two `vcc serve --etcd` gateways of
    `runtime` on `config_text`; afterwards every process of the gateways' groups is gone,
    etcd is killed and the schema dropped. The caller checks etcd and PostgreSQL first."""
    schema = f"vcc_test_{uuid.uuid4().hex[:12]}"
    engine = open_engine(PG, schema=schema)
    db_url = f"{PG}?options=-csearch_path%3D{schema}"
    config = tmp_path / f"{name}.yaml"
    config.write_text(config_text)
    etcd = EtcdServer(name)
    started = []
    try:
        etcd.start()
        prefix = f"/vcc-test-{uuid.uuid4().hex[:8]}"
        for gateway_name, port in zip(("gw1", "gw2"), free_ports(2)):
            started.append(Gateway(gateway_name, port, str(config), db_url, etcd.endpoint,
                                   prefix, ttl_s, str(tmp_path), runtime=runtime))
        yield started, engine
    finally:
        groups = [gateway.process.pid for gateway in started]
        for gateway in started:
            gateway.cleanup()
        etcd.close()
        drop_schema(engine, schema)
        assert_groups_gone(groups)


class ResumingPbx:
    """The PBX end of one link: every action it gets, with the number of the stream it
    came on (0: the first; each resume after the stream broke opens the next)."""

    def __init__(self, link):
        self.link = link
        self.stream = 0
        self.seen: list = []            # (stream, kind, payload)
        self.closing = False
        self.sent = 0                   # the seq of the last event sent

    async def send(self, *events) -> None:
        self.link.send(*events)         # numbers them
        self.sent = events[-1].seq
        await self.link.flush()

    async def receive(self) -> None:
        attempts = 0
        while not self.closing:
            error = None
            try:
                async for message in self.link.messages():
                    attempts = 0
                    for action in message.actions:
                        kind = action.WhichOneof("action")
                        self.seen.append((self.stream, kind, getattr(action, kind)))
                if self.closing:
                    return
            except grpc.aio.AioRpcError as failure:
                if self.closing:
                    return
                error = failure
            attempts += 1               # bounded: 600 tries 0.1 s apart
            if attempts > 600:
                raise AssertionError(f"PBX link: no leader took the stream: {error}")
            self.stream += 1
            await asyncio.sleep(0.1)
            await self.link.resume(error)

    def of(self, contact_id: str, kind: str | None = None) -> list:
        """(stream, kind, payload) of every action for `contact_id` (of `kind`)."""
        return [(stream, seen_kind, payload) for stream, seen_kind, payload in self.seen
                if payload.contact_id == contact_id and kind in (None, seen_kind)]

    async def next(self, contact_id: str, kind: str, *, after_stream: int = -1,
                   after: int = 0, where=lambda payload: True, timeout: float = 30.0):
        """The first `kind` action for `contact_id` (that `where` accepts) received on a
        stream after `after_stream`, among the actions received after the first `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for stream, seen_kind, payload in self.seen[after:]:
                if (seen_kind, payload.contact_id) == (kind, contact_id) and \
                        stream > after_stream and where(payload):
                    return stream, payload
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind} for {contact_id} after stream {after_stream}: "
                             f"{self.seen}")

    async def applied(self, timeout: float = 30.0) -> None:
        """Until the router acknowledged every event sent (committed to the journal)."""
        deadline = time.monotonic() + timeout
        while self.link.acked_event_seq < self.sent:
            if time.monotonic() > deadline:
                raise AssertionError(f"events up to {self.sent} not acknowledged "
                                     f"({self.link.acked_event_seq}): {self.seen}")
            await asyncio.sleep(0.05)

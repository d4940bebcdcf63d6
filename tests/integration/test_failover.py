"""Failover under traffic (issue 8): two `vcc serve --etcd` gateways on one PostgreSQL journal
and a real etcd; a PBX link and agents keep contacts flowing through whichever one leads.

- SIGKILL the leader: the standby leads within TTL + 2 s, and every contact sent reaches
  exactly one final state, offered to one agent only (the PBX follows the leader and
  resumes its link; the new leader recovers the contacts and their link from the journal).
- SIGSTOP the leader past its TTL, then SIGCONT: it steps down, and the journal holds no
  entry with its token after the new leader's first entry.

etcd missing: fail in CI, skip elsewhere (tests/integration/etcd_server.py); PostgreSQL at
127.0.0.1:5432 unreachable: the same. Each test has its own schema, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import sqlalchemy as sa

from cluster.store.db import drop_schema, open_engine
from loadtests.failover_drill import Gateway, Traffic, serving, write_config
from tests.integration.etcd_server import EtcdServer, free_ports, require_etcd

pytestmark = pytest.mark.integration

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TTL_S = 3.0
# 40 agents, calls of 0.6 s at 50/s: about 30 busy, and the arrivals held back while no
# leader answers come in as a burst that queues.
AGENTS = 40
HOLD_S = 0.6


def _reachable() -> None:
    probe = sa.create_engine(PG, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3})
    try:
        with probe.connect():
            return
    except sa.exc.OperationalError as error:
        reason = f"PostgreSQL unreachable at {PG}: {str(error.orig).strip().splitlines()[0]}"
    finally:
        probe.dispose()
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def cluster(tmp_path):
    """etcd, a fresh schema and two gateways; everything is killed and dropped afterwards."""
    require_etcd()
    _reachable()
    schema = f"vcc_test_{uuid.uuid4().hex[:12]}"
    engine = open_engine(PG, schema=schema)        # creates the schema
    db_url = f"{PG}?options=-csearch_path%3D{schema}"
    etcd = EtcdServer("failover").start()
    gateways = []
    try:
        config = write_config(str(tmp_path), AGENTS)
        prefix = f"/vcc-test-{uuid.uuid4().hex[:8]}"
        for name, port in zip(("gw1", "gw2"), free_ports(2)):
            gateways.append(Gateway(name, port, config, db_url, etcd.endpoint, prefix, TTL_S,
                                    str(tmp_path)))
        gateways_etcd = (etcd.endpoint, prefix)
        yield gateways, engine, gateways_etcd
    finally:
        for gateway in gateways:
            gateway.cleanup()
        etcd.close()
        drop_schema(engine, schema)


def wait_for(predicate, timeout: float, step: float = 0.05):
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


def run_traffic_around(gateways, disrupt, *, rate: float, before_s: float, after_s: float):
    """Traffic for `before_s`, then `disrupt()` (in a thread: it may wait), then `after_s`
    more; returns (traffic, what disrupt returned)."""
    traffic = Traffic([g.address for g in gateways], agents=AGENTS, rate=rate, hold_s=HOLD_S)
    result = {}

    async def main():
        stop = asyncio.Event()
        runner = asyncio.ensure_future(traffic.run(stop, drain_s=20, max_s=60))
        await asyncio.sleep(before_s)
        assert not runner.done(), runner.exception() if runner.done() else None
        result["disrupt"] = await asyncio.to_thread(disrupt)
        await asyncio.sleep(after_s)
        stop.set()
        await asyncio.wait_for(runner, 45)
    asyncio.run(asyncio.wait_for(main(), 90))
    return traffic, result["disrupt"]


def journal_rows(engine):
    with engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT site, seq, fencing_token, event_type, payload FROM journal "
            "ORDER BY site, seq")).all()


def check_contacts(traffic, engine):
    figures = traffic.figures()
    assert figures["sent"] > 50, figures
    assert figures["lost"] == 0 and figures["stuck"] == 0, figures
    assert figures["duplicated"] == 0, figures
    assert figures["errors"] == {}, figures
    for contact_id, finals in traffic.finals.items():
        assert len(finals) == 1, (contact_id, finals)
    # The journal agrees: each contact arrived once (a re-sent arrival was refused, not
    # journaled) and ended once.
    rows = journal_rows(engine)
    arrivals = [row.payload["contact_id"] for row in rows if row.event_type == "ContactArrived"]
    assert sorted(arrivals) == sorted(traffic.sent)
    ended = [row.payload["contact_id"] for row in rows if row.event_type == "ContactEnded"]
    assert len(ended) == len(set(ended)) == len(traffic.sent)
    return figures


def status_leader(endpoint, prefix, state_dir) -> dict:
    """`vcc status --etcd ... --json` as an SRE runs it (no Ray: in-process gateways)."""
    done = subprocess.run([sys.executable, "-m", "cluster.cli", "status", "--etcd", endpoint,
                           "--etcd-prefix", prefix, "--json"], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, VCC_STATE_DIR=str(state_dir)))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["leader"]


def test_sigkill_of_the_leader_loses_no_contact(cluster, tmp_path):
    gateways, engine, (endpoint, prefix) = cluster
    first = wait_for(lambda: leader_of(gateways), 20)
    assert first is not None, diagnostics(gateways)
    standby = next(g for g in gateways if g is not first)
    old_term = first.leading_term()

    def kill():
        killed_at = time.monotonic()
        first.signal(signal.SIGKILL)
        first.process.wait(5)
        leads = wait_for(lambda: serving(standby.address, 0.5), TTL_S + 5, step=0.02)
        return time.monotonic() - killed_at if leads else None

    traffic, takeover_s = run_traffic_around(gateways, kill, rate=50, before_s=3, after_s=4)
    assert takeover_s is not None, diagnostics(gateways)
    assert takeover_s <= TTL_S + 2, (takeover_s, diagnostics(gateways))
    assert standby.leading_term() > old_term
    figures = check_contacts(traffic, engine)
    assert figures["resumes"] >= 1, figures        # the PBX link did fail over
    # `vcc status` names the new leader, its term and fencing token.
    leader = status_leader(endpoint, prefix, tmp_path / "state")
    assert (leader["node_id"], leader["address"]) == (standby.name, standby.address), leader
    assert leader["token"] == leader["term"] == standby.leading_term()
    # Contacts were waiting in queue around the kill, and each was still served.
    assert figures["queued"] > 0, figures


def test_sigstopped_leader_steps_down_and_its_token_is_refused(cluster):
    gateways, engine, _ = cluster
    first = wait_for(lambda: leader_of(gateways), 20)
    assert first is not None, diagnostics(gateways)
    standby = next(g for g in gateways if g is not first)
    old_term = first.leading_term()

    def pause():
        first.signal(signal.SIGSTOP)
        try:
            leads = wait_for(lambda: serving(standby.address, 0.5), TTL_S + 5, step=0.05)
        finally:
            first.signal(signal.SIGCONT)
        stepped_down = wait_for(lambda: not serving(first.address, 0.5), 5)
        return bool(leads), bool(stepped_down)

    traffic, (leads, stepped_down) = run_traffic_around(gateways, pause, rate=30,
                                                        before_s=2, after_s=3)
    assert leads and stepped_down, diagnostics(gateways)
    new_term = standby.leading_term()
    assert new_term is not None and new_term > old_term
    assert wait_for(lambda: leader_of(gateways) is standby, 5), diagnostics(gateways)
    rows = journal_rows(engine)
    first_new = {}
    for row in rows:
        if row.fencing_token == new_term:
            first_new.setdefault(row.site, row.seq)
    assert first_new, "the new leader wrote nothing"
    late = [row for row in rows if row.fencing_token == old_term
            and row.seq > first_new.get(row.site, float("inf"))]
    assert late == [], late[:5]
    assert any(row.fencing_token == old_term for row in rows)    # it did write while leading
    check_contacts(traffic, engine)

"""The persistence figures of issue 6, measured and checked: `python -m loadtests.store_bench`.

1. journal append throughput, SQLite (a file) and PostgreSQL: real core events (from a
   simulated day) appended by 64 concurrent writers, in batches of 50 (a gateway batching a
   PBX stream) and one by one (group commit alone); plus one writer, one event per commit,
   for contrast. Target: >= 20,000 events/s with batching on PostgreSQL.
2. recovery of a site with 1,000,000 journaled events and snapshots every 50,000: the time
   from nothing to the site's state (last snapshot + journal replay), checked equal to the
   live state. Target: <= 10 s.
3. `vcc report` over 1,000,000 contact records (plus agent state intervals): by skill, 15-minute
   intervals, the whole range, table and CSV. Target: <= 5 s on PostgreSQL.

Everything is bounded: event and record counts are fixed, each phase stops at its time limit.
Databases: a temporary SQLite directory, and a schema of its own in PostgreSQL
(`--pg-url`, loopback only), both removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import ipaddress
import math
import random
import sys
import tempfile
import time
import uuid

import sqlalchemy as sa

from loadtests.recorded import EnoughEvents, attach_simulation
from loadtests.simulator import Simulation

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RECOVERY_EVENTS = 1_000_000
REPORT_RECORDS = 1_000_000
SNAPSHOT_EVERY = 50_000
APPEND_EVENTS = 200_000

# One big site: about 1,100,000 core events in 14 simulated hours (the run stops at 1,000,000).
ONE_SITE = """\
duration_s: 50400
seed: 1
skills:
  billing: {sl_threshold_s: 20}
  sales: {sl_threshold_s: 30, wrap_up_s: 10}
sites:
  main:
    agents:
      - {count: 150, skills: {billing: 1, sales: 2}}
      - {count: 100, skills: {sales: 1}, wrap_up_s: 5}
traffic:
  - {site: main, skill: billing, rate_per_hour: 9000, priority: high, service_objective_s: 15,
     handle_time: {dist: exponential, mean_s: 50}, patience: {dist: exponential, mean_s: 120}}
  - {site: main, skill: billing, rate_per_hour: 3000, priority: medium, service_objective_s: 45,
     handle_time: {dist: exponential, mean_s: 50}, patience: {dist: exponential, mean_s: 120}}
  - {site: main, skill: sales, rate_per_hour: 9000, priority: medium,
     handle_time: {dist: exponential, mean_s: 60}, patience: {dist: exponential, mean_s: 180}}
"""


# ---- helpers ---------------------------------------------------------------------------------------
class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, passed: bool, text: str) -> None:
        self.failed += not passed
        print(f"  {'PASS' if passed else 'FAIL'} {text}", flush=True)


def _rate(count, seconds):
    return count / seconds if seconds > 0 else math.inf


def _postgres(url):
    """An engine on a new schema of its own, or (None, reason)."""
    from cluster.store import open_engine

    host = sa.engine.make_url(url).host or "127.0.0.1"
    try:
        if not ipaddress.ip_address(host).is_loopback:
            return None, None, f"{host} is not a loopback address"
    except ValueError:
        if host != "localhost":
            return None, None, f"{host} is not a loopback address"
    probe = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3})
    try:
        with probe.connect():
            pass
    except sa.exc.OperationalError as error:
        return None, None, str(error.orig).strip().splitlines()[0]
    finally:
        probe.dispose()
    schema = f"vcc_bench_{uuid.uuid4().hex[:10]}"
    return open_engine(url, schema=schema), schema, None


# ---- 2. a site with 1,000,000 journaled events ---------------------------------------------------------
def build_big_site(engine, events: int):
    """Journal `events` core events of ONE_SITE (snapshots every SNAPSHOT_EVERY) into
    `engine`; the live site as it was after the last one."""
    from cluster.store import upgrade
    from cluster.store.journal import Journal
    from cluster.store.persistence import Persistence
    from loadtests.scenario import parse_scenario

    upgrade(engine)
    journal = Journal(engine, snapshot_every=SNAPSHOT_EVERY)
    simulation = Simulation(parse_scenario(ONE_SITE))
    persistence = Persistence(journal)
    attach_simulation(simulation, persistence, flush_every=10_000, stop_after=events)
    try:
        simulation.run()
    except EnoughEvents:
        pass
    else:       # the traffic ran out first: journal the rest (the caller reports the count)
        persistence.flush_now(snapshots=False)
    journal.close()
    return simulation.sites["main"], journal.last_seq("main")


def copy_store(source, target) -> None:
    """The journal and snapshots of `source` into `target` (PostgreSQL: COPY)."""
    from cluster.store import upgrade
    from cluster.store.journal import JOURNAL, SNAPSHOTS, _copy_rows

    upgrade(target)
    with source.connect() as reading:
        snapshots = [dict(row._mapping) for row in reading.execute(sa.select(SNAPSHOTS))]
        result = reading.execution_options(stream_results=True, yield_per=50_000).execute(
            sa.select(JOURNAL).order_by(JOURNAL.c.site, JOURNAL.c.seq))
        for rows in result.partitions(50_000):
            with target.begin() as writing:
                _copy_rows(writing, [dict(row._mapping) for row in rows])
    with target.begin() as writing:
        writing.execute(SNAPSHOTS.insert(), snapshots)


def time_recovery(engine, live):
    from cluster.store.snapshots import recover_site

    started = time.perf_counter()
    recovered = recover_site(engine, "main")
    elapsed = time.perf_counter() - started
    same = recovered.state.snapshot() == live.snapshot()
    return elapsed, recovered, same


# ---- 1. append throughput -----------------------------------------------------------------------------
def sample_events(engine, count):
    from cluster.store.journal import read_entries

    out = []
    for _, entry in read_entries(engine, "main"):
        if type(entry).__name__ != "ConfigChange":
            out.append(entry)
        if len(out) >= count:
            break
    return out


async def _append_all(journal, events, writers, batch, deadline):
    sites = [f"site{number}" for number in range(4)]
    chunks = [events[start:start + batch] for start in range(0, len(events), batch)]
    position = 0
    written = 0

    async def writer(number):
        nonlocal position, written
        while position < len(chunks) and time.perf_counter() < deadline:
            chunk = chunks[position]
            position += 1
            await journal.append(sites[number % len(sites)], chunk)
            written += len(chunk)

    await asyncio.gather(*(writer(number) for number in range(writers)))
    return written


def append_throughput(engine, events, writers, batch, limit_s=60.0):
    from cluster.store.journal import Journal

    journal = Journal(engine)
    started = time.perf_counter()
    written = asyncio.run(_append_all(journal, events, writers, batch, started + limit_s))
    elapsed = time.perf_counter() - started
    journal.close()
    return written, elapsed


# ---- 3. reports over 1,000,000 records ------------------------------------------------------------------
SKILLS = ("billing", "sales", "support", "tech", "retention", "collections", "claims", "vip")
SITES = ("east", "west", "north", "south")


def synthetic_records(count, seed=1):
    """`count` contact records over 5 days (and the agents' intervals, ~50 per agent-day),
    plausible rather than simulated: what matters here is the volume."""
    rng = random.Random(seed)
    days = 5
    span = days * 86400.0
    records = []
    for number in range(count):
        arrival = rng.random() * span
        site = SITES[number % 4]
        skill = SKILLS[rng.randrange(len(SKILLS))]
        priority = ("top", "high", "medium", "low")[rng.randrange(4)]
        objective = (10.0, 20.0, 30.0, 60.0)[rng.randrange(4)]
        wait = rng.expovariate(1 / 25.0)
        fate = rng.random()
        row = {"contact_id": f"c{number}", "ani": "+1555" + str(rng.randrange(10 ** 7)),
               "dnis": None, "customer_id": None, "entry_site": site, "served_site": None,
               "final_site": site, "skill": skill, "priority": priority,
               "service_objective_s": objective, "sl_threshold_s": 20.0, "channel": "voice",
               "arrival_time": arrival, "offer_time": None, "answer_time": None,
               "end_time": None, "wrap_up_end_time": None, "abandon_time": None,
               "final_state": "abandoned", "agent_id": None, "interflows": 0, "offers": 0,
               "queue_position": rng.randrange(1, 20), "ewt_predicted_s": rng.random() * 60}
        if fate < 0.9:
            talk = rng.expovariate(1 / 180.0)
            row.update(served_site=site, offer_time=arrival + wait, answer_time=arrival + wait,
                       end_time=arrival + wait + talk, wrap_up_end_time=arrival + wait + talk + 10,
                       final_state="completed", agent_id=f"{site}-a{rng.randrange(125)}",
                       offers=1, interflows=int(rng.random() < 0.05))
        else:
            row["abandon_time"] = arrival + wait
        records.append(row)
    intervals = []
    for site in SITES:
        for agent in range(125):
            now = 0.0
            while now < span:
                state = ("ready", "busy", "busy", "wrap_up", "not_ready", "reserved")[
                    rng.randrange(6)]
                length = rng.expovariate(1 / 600.0) + 1.0
                intervals.append({"site": site, "agent_id": f"{site}-a{agent}", "state": state,
                                  "reason": "break" if state == "not_ready" else "",
                                  "start_time": now, "end_time": min(now + length, span)})
                now += length + (8 * 3600.0 if rng.random() < 0.02 else 0.0)
    agent_skills = [{"site": site, "agent_id": f"{site}-a{agent}", "skill": skill, "level": 1}
                    for site in SITES for agent in range(125)
                    for skill in SKILLS[agent % 4: agent % 4 + 3]]
    return records, intervals, agent_skills


def load_records(engine, records, intervals, agent_skills) -> None:
    from cluster.store import upgrade
    from cluster.store.models import Agent, AgentSkill, AgentStateInterval, ContactRecord, Site, Skill

    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(Site.__table__.insert(), [
            {"name": site, "auto_pause_after_misses": 3, "statistics_window_s": 900.0}
            for site in SITES])
        connection.execute(Skill.__table__.insert(), [
            {"site": site, "name": skill, "queueing": "dqp", "sl_threshold_s": 20.0,
             "agent_selection": "longest_idle", "wrap_up_s": 0.0, "offer_timeout_s": 15.0,
             "max_queue_length": None, "widen_level": 16, "widen_after_s": 0.0,
             "aht_estimate_s": 180.0} for site in SITES for skill in SKILLS])
        connection.execute(Agent.__table__.insert(), [
            {"site": site, "agent_id": f"{site}-a{agent}", "call_selection": "greatest_need",
             "wrap_up_s": None, "voice_blocks_others": True, "channels": {"voice": 1}}
            for site in SITES for agent in range(125)])
        connection.execute(AgentSkill.__table__.insert(), agent_skills)
    for table, rows in ((ContactRecord.__table__, records),
                        (AgentStateInterval.__table__, intervals)):
        columns = [column.name for column in table.columns if column.name != "id"]
        for start in range(0, len(rows), 100_000):
            chunk = rows[start:start + 100_000]
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    cursor = connection.connection.dbapi_connection.cursor()
                    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in chunk:
                            copy.write_row(tuple(row[name] for name in columns))
                    cursor.close()
                else:
                    connection.execute(table.insert(), chunk)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:      # fresh statistics, as autovacuum would have
            connection.execute(sa.text("ANALYZE contact_records"))
            connection.execute(sa.text("ANALYZE agent_state_intervals"))


def time_report(url, scratch):
    """The `vcc report` command (by skill, 15m, whole range, table + CSV), timed."""
    from rich.console import Console

    from cluster.reports import add_report_parser

    parser = argparse.ArgumentParser(prog="vcc")
    add_report_parser(parser.add_subparsers())
    args = parser.parse_args(["report", "--db", url, "--by", "skill", "--interval", "15m",
                              "--csv", f"{scratch}/report.csv"])
    sink = Console(file=io.StringIO(), width=200)
    started = time.perf_counter()
    code = args.run(args, console=sink)
    return time.perf_counter() - started, code, sink.file.getvalue().count("\n")


# ---- the figures -----------------------------------------------------------------------------------------
class Bench:
    """Where the figures run: a scratch directory, PostgreSQL (a schema, or None)."""

    def __init__(self, args, scratch, pg, schema, checks):
        from cluster.store import open_engine

        self.args, self.scratch, self.pg, self.schema, self.checks = args, scratch, pg, schema, checks
        self.journal_db = open_engine(f"sqlite:///{scratch}/journal.db")
        self.journaled = 0

    def engines(self, label):
        """[(name, engine, url, schema or None)] of a fresh database per backend."""
        from cluster.store import open_engine

        out = [("SQLite", open_engine(f"sqlite:///{self.scratch}/{label}.db"),
                f"sqlite:///{self.scratch}/{label}.db", None)]
        if self.pg is not None:
            schema = f"{self.schema}_{label}"
            out.append(("PostgreSQL", open_engine(self.args.pg_url, schema=schema),
                        f"{self.args.pg_url}?options=-csearch_path%3D{schema}", schema))
        return out

    @staticmethod
    def release(engine, schema) -> None:
        from cluster.store.db import drop_schema

        if schema is None:
            engine.dispose()
        else:
            drop_schema(engine, schema)

    def recovery(self) -> None:
        events = self.args.events
        print(f"\n2. recovery: building a site with {events:,} journaled events "
              f"(snapshots every {SNAPSHOT_EVERY:,}) ...", flush=True)
        started = time.perf_counter()
        live, self.journaled = build_big_site(self.journal_db, events)
        print(f"  built in {time.perf_counter() - started:.1f} s: {self.journaled:,} entries, "
              f"{len(live.finished):,} finished contacts, {len(live.contacts):,} live")
        self.checks.check(self.journaled >= events, f"the site's journal holds "
                                                    f"{self.journaled:,} entries (asked for {events:,})")
        engines = [("SQLite", self.journal_db)]
        if self.pg is not None:
            started = time.perf_counter()
            copy_store(self.journal_db, self.pg)
            print(f"  copied to PostgreSQL in {time.perf_counter() - started:.1f} s")
            engines.append(("PostgreSQL", self.pg))
        for name, engine in engines:
            elapsed, recovered, same = time_recovery(engine, live)
            self.checks.check(elapsed <= 10.0 and same,
                              f"{name}: recovered in {elapsed:.2f} s (snapshot at entry "
                              f"{recovered.snapshot_seq:,} + {recovered.replayed:,} replayed); "
                              f"state equal to the live one: {same}  (target <= 10 s)")

    def append(self) -> None:
        from cluster.store import upgrade

        if self.journaled < APPEND_EVENTS:      # real core events to append: journal some
            _, self.journaled = build_big_site(self.journal_db, APPEND_EVENTS)
        print(f"\n1. journal append throughput ({APPEND_EVENTS:,} core events) ...", flush=True)
        events = sample_events(self.journal_db, APPEND_EVENTS)
        for writers, batch, count in ((64, 50, len(events)), (64, 1, 20_000), (1, 1, 1_000)):
            for name, engine, _, schema in self.engines(f"append_{writers}_{batch}"):
                upgrade(engine)
                written, elapsed = append_throughput(engine, events[:count], writers, batch)
                rate = _rate(written, elapsed)
                label = (f"{name}: {writers} writers x {batch} event(s) per append: "
                         f"{written:,} events in {elapsed:.2f} s = {rate:,.0f} events/s")
                if name == "PostgreSQL" and batch > 1:
                    self.checks.check(rate >= 20_000, label + "  (target >= 20,000/s)")
                else:
                    print(f"  info {label}")
                self.release(engine, schema)

    def report(self) -> None:
        print(f"\n3. report over {self.args.records:,} contact records ...", flush=True)
        started = time.perf_counter()
        records, intervals, agent_skills = synthetic_records(self.args.records)
        print(f"  generated {len(records):,} records and {len(intervals):,} agent intervals "
              f"in {time.perf_counter() - started:.1f} s")
        for name, engine, url, schema in self.engines("report"):
            started = time.perf_counter()
            load_records(engine, records, intervals, agent_skills)
            loaded = time.perf_counter() - started
            elapsed, code, lines = time_report(url, self.scratch)
            label = (f"{name}: vcc report --by skill --interval 15m (5 days, {lines:,} lines) "
                     f"in {elapsed:.2f} s (exit {code}; loading took {loaded:.1f} s)")
            if name == "PostgreSQL":
                self.checks.check(elapsed <= 5.0 and code == 0, label + "  (target <= 5 s)")
            else:
                print(f"  info {label}")
            self.release(engine, schema)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.store_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default=PG_URL, help=f"PostgreSQL on loopback ({PG_URL})")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--events", type=int, default=RECOVERY_EVENTS,
                        help=f"journaled events of the recovered site ({RECOVERY_EVENTS:,})")
    parser.add_argument("--records", type=int, default=REPORT_RECORDS,
                        help=f"contact records of the report ({REPORT_RECORDS:,})")
    parser.add_argument("--only", choices=("recovery", "append", "report"), action="append",
                        help="run only this figure (repeatable)")
    args = parser.parse_args(argv)
    if args.events < 1 or args.records < 1:
        parser.error("--events and --records must be at least 1")

    from cluster.store.db import drop_schema

    checks = Checks()
    pg, schema, why_not = (None, None, "--no-pg") if args.no_pg else _postgres(args.pg_url)
    print(f"PostgreSQL: {'schema ' + schema if pg is not None else 'not used (' + why_not + ')'}")
    figures = args.only or ["recovery", "append", "report"]
    try:
        with tempfile.TemporaryDirectory(prefix="vcc-store-bench-") as scratch:
            bench = Bench(args, scratch, pg, schema, checks)
            for figure in ("recovery", "append", "report"):
                if figure in figures:
                    getattr(bench, figure)()
            bench.journal_db.dispose()
    finally:
        if pg is not None:
            drop_schema(pg, schema)
    print(f"\n{'all targets met' if not checks.failed else f'{checks.failed} target(s) missed'}")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())

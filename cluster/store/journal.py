"""The journal: every entry a site accepted, appended in batches, durable before it is
acknowledged.

`Journal.append(site, entries)` numbers the entries at once (so the journal's order is the
order of the calls, which is the order the core applied them) and returns an awaitable that
resolves after the transaction holding them has committed. Appends that arrive while a
transaction is being written share the next one (group commit): under load, one commit
carries many callers' entries, which is what makes 20,000+ events/s possible on a database
that does a few hundred commits per second.

Writes run on one worker thread (the database drivers block), so the event loop never waits
for the disk. If a write fails the journal stops: every waiting and later append fails with
`JournalError`, since a site whose accepted events cannot be made durable must not go on
acknowledging (restart it and recover from the database).

Snapshots go through the same queue, so a snapshot after entry N is never committed before
entry N is.

Fencing: with leadership (cluster/leadership), each entry carries the leader's fencing token
(`fencing_token`, or the `fencing_token=` of one append). The journal refuses, with
`StaleLeaderError`, an append whose token is older than the newest token it has seen: the
newest in its database when it opened (so a restarted process refuses an old token too),
every token appended through it since, and, inside each write transaction, its site's fence
(`site_fences`, models.SiteFence): the write updates the row (raising it to its own token if
that is newer) and is refused if the row holds a newer one. The row lock is what makes this
a fence between processes: a new leader's claim (the same update) waits for an older
leader's write in progress to commit, so the new leader's recovery, which reads after the
claim, sees that write; and an older write that comes after the claim waits for the claim
to commit, then sees the newer token. (Checking the journal's newest token instead cannot
see a claim still in flight under READ COMMITTED.) A refused write in the transaction stops
the journal like any failed write: a deposed leader's state is stale and must not go on.
Entries with no token (a process run without leadership) are not checked.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cluster.store import codec
from cluster.store.models import JournalEntry, SiteFence, Snapshot
from cluster.store.records import write_rows
from sites.state import SNAPSHOT_FORMAT

JOURNAL = JournalEntry.__table__
SNAPSHOTS = Snapshot.__table__
FENCES = SiteFence.__table__


class JournalError(RuntimeError):
    """The journal could not make entries durable and has stopped."""


class StaleLeaderError(JournalError):
    """An append carried a fencing token older than the newest the journal has seen: the
    writer is a deposed leader."""

    def __init__(self, token: int, newest: int, site: str | None = None):
        where = f" for site {site!r}" if site else ""
        super().__init__(f"fencing token {token} refused: the journal has seen token {newest}"
                         f"{where}, so a newer leader exists and this writer is deposed")
        self.token, self.newest, self.site = token, newest, site

    def __reduce__(self):
        # May cross a process boundary (a Ray actor's journal): rebuild it from its parts
        # (the default pickling would call __init__ with the message alone).
        return type(self), (self.token, self.newest, self.site)


class ClaimBlocked(JournalError):
    """A new leader's claim waited too long for a lock another (older) writer holds; the
    stale writers' sessions were terminated, and the claim should be tried again."""


# What a leader's database sessions are called (PostgreSQL application_name): a new leader
# whose claim is blocked by an older leader's open transaction (a paused process holds its
# locks until it runs again) terminates those sessions, so a pause cannot stall a takeover;
# only those that write this store's journal or fences, never another store's or
# application's sessions in a shared database (`Journal._terminate_older_writers`).
LEADER_SESSION_PREFIX = "vcc-leader-"


def leader_session_options(url: str, token: int | None) -> dict:
    """`open_engine` options for a leader of term `token` (None: not a leader): on
    PostgreSQL its sessions are named after the term, so that a newer leader's claim can end
    them if a pause leaves a transaction open (`Journal.claim_now`)."""
    if token is None or not url.startswith("postgresql"):
        return {}
    return {"connect_args": {"application_name": f"{LEADER_SESSION_PREFIX}{token}"}}


class JournalGap(RuntimeError):
    """A site's journal is missing entries (never expected: writes are transactional)."""


@dataclass(slots=True)
class _Pending:
    rows: list
    snapshots: list = field(default_factory=list)     # rows for SNAPSHOTS
    future: asyncio.Future | None = None              # None: a synchronous append
    result: int = 0                                   # what the future resolves to
    records: list = field(default_factory=list)       # derived rows (cluster/store/records)
    intervals: list = field(default_factory=list)


def encode_snapshot(document: dict) -> bytes:
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 1)


def decode_snapshot(payload: bytes) -> dict:
    return json.loads(zlib.decompress(payload))


# Commit times a journal keeps for the metrics between two scrapes (`commit_seconds`).
COMMIT_TIMES_KEPT = 20_000


class Journal:
    """Appends journal entries and snapshots of one process's sites (see the module doc)."""

    def __init__(self, engine: Engine, *, fencing_token: int | None = None,
                 max_batch_rows: int = 20_000, snapshot_every: int = 50_000,
                 keep_snapshots: int = 2):
        """`max_batch_rows` bounds one transaction; `snapshot_every` is how many entries of a
        site may follow its last snapshot before `snapshot_due` says so (it bounds replay)."""
        self.engine = engine
        self.fencing_token = fencing_token
        self.max_batch_rows = max_batch_rows
        self.snapshot_every = snapshot_every
        self.keep_snapshots = keep_snapshots
        self._last_seq: dict[str, int] = {}
        self._snapshot_seq: dict[str, int] = {}
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vcc-journal")
        self._sync_lock = threading.Lock()
        self._failure: BaseException | None = None
        # Invariant: no token older than this has been accepted since the journal opened.
        self._newest_token: int | None = None
        self._lock_timeout_ms: int | None = None     # set only while a claim is written
        # How long each transaction took (seconds), once `commit_seconds` was first asked:
        # the metrics' journal commit latency (cluster/metrics.py). None: nobody asked.
        self._commit_times: deque | None = None
        self._load_positions()

    def _load_positions(self) -> None:
        with self.engine.connect() as connection:
            for site, seq in connection.execute(
                    sa.select(JOURNAL.c.site, sa.func.max(JOURNAL.c.seq)).group_by(JOURNAL.c.site)):
                self._last_seq[site] = seq
            for site, seq in connection.execute(
                    sa.select(SNAPSHOTS.c.site, sa.func.max(SNAPSHOTS.c.seq))
                    .group_by(SNAPSHOTS.c.site)):
                self._snapshot_seq[site] = seq
            self._see_token(connection.execute(sa.select(sa.func.max(FENCES.c.token))).scalar())

    # ---- positions ---------------------------------------------------------------------------
    def last_seq(self, site: str) -> int:
        """The number of the site's newest entry (appended, maybe not yet committed); 0: none."""
        return self._last_seq.get(site, 0)

    def snapshot_due(self, site: str) -> bool:
        return self.last_seq(site) - self._snapshot_seq.get(site, -self.snapshot_every) \
            >= self.snapshot_every

    # ---- fencing --------------------------------------------------------------------------------
    @property
    def newest_token(self) -> int | None:
        """The newest fencing token this journal has seen (None: none yet)."""
        return self._newest_token

    def _see_token(self, token: int | None) -> None:
        if token is not None and (self._newest_token is None or token > self._newest_token):
            self._newest_token = token

    def _check_token(self, token: int | None, site: str | None = None) -> None:
        if token is None:
            return
        if self._newest_token is not None and token < self._newest_token:
            raise StaleLeaderError(token, self._newest_token, site)
        self._see_token(token)

    def _fence(self, connection, rows) -> None:
        """Inside the write transaction: update (and so lock) the fence row of each site in
        the batch, raising it to the batch's token; refuse the batch if a site's fence
        already holds a newer token (a newer leader, maybe in another process, claimed it).
        Rows of one site carry non-decreasing tokens (the journal refused an older one
        when it numbered them): the newest is the batch's."""
        newest: dict[str, int] = {}
        for row in rows:
            token = row["fencing_token"]
            if token is not None and token > newest.get(row["site"], token - 1):
                newest[row["site"]] = token
        for site in sorted(newest):          # one lock order for every writer
            fence = _raise_fence(connection, site, newest[site])
            if fence > newest[site]:
                self._see_token(fence)
                raise StaleLeaderError(newest[site], fence, site)

    # ---- appending -------------------------------------------------------------------------------
    def _rows(self, site: str, entries, fencing_token: int | None = None) -> list:
        if not isinstance(site, str) or not site:
            raise ValueError(f"site must be a non-empty string; got {site!r}")
        token = self.fencing_token if fencing_token is None else fencing_token
        self._check_token(token, site)
        seq = self._last_seq.get(site, 0)
        rows = []
        for entry in entries:
            event_type, payload, time = codec.encode(entry)
            seq += 1
            rows.append({"site": site, "seq": seq, "fencing_token": token,
                         "event_type": event_type, "payload": payload, "time": time})
        # Numbered only once every entry encoded: a bad entry leaves no gap.
        self._last_seq[site] = seq
        return rows

    def _check(self) -> None:
        if self._failure is not None:
            raise JournalError(f"the journal stopped after a failed write: {self._failure}")

    def append(self, site: str, entries, *, fencing_token: int | None = None) -> asyncio.Future:
        """Number `entries` now; the returned future resolves (to the last seq) once they are
        committed. Call from the event loop, in the order the core applied the entries.
        `fencing_token` (default: the journal's) older than the newest seen raises
        StaleLeaderError here, or fails the future if a newer one is found at commit."""
        self._check()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        rows = self._rows(site, entries, fencing_token)
        self._pending.append(_Pending(rows, future=future, result=self.last_seq(site)))
        self._kick(loop)
        return future

    def snapshot(self, site: str, state) -> asyncio.Future:
        """Queue a snapshot of `state` (a SiteState, or a document with its `snapshot()` in
        "site") as of the site's last appended entry; resolves once committed."""
        self._check()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        row = self._snapshot_row(site, state)
        if row is None:
            future.set_result(self.last_seq(site))
            return future
        self._pending.append(_Pending([], [row], future, row["seq"]))
        self._kick(loop)
        return future

    def _snapshot_row(self, site, state) -> dict | None:
        """The snapshot row, or None when the site has one at this seq already (same state:
        the core is deterministic)."""
        seq = self.last_seq(site)
        if self._snapshot_seq.get(site) == seq:
            return None
        document = state if isinstance(state, dict) else {"site": state.snapshot()}
        self._snapshot_seq[site] = seq
        # The document is built now (the state moves on); it is serialized on the writer.
        return {"site": site, "seq": seq, "format": SNAPSHOT_FORMAT,
                "time": document["site"]["now"], "document": document}

    def add_rows(self, records, intervals) -> None:
        """Queue contact records and agent intervals for the next transaction. They need no
        acknowledgement (the journal can derive them again), but riding in the journal's
        queue means a later snapshot never commits before the rows derived before it."""
        self._check()
        if records or intervals:
            self._pending.append(_Pending([], records=list(records), intervals=list(intervals)))
            try:
                self._kick(asyncio.get_running_loop())
            except RuntimeError:    # no loop: the next append or drain writes them
                pass

    def _kick(self, loop) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._take_batch()
            try:
                await loop.run_in_executor(self._executor, self._write, batch)
            except BaseException as error:   # noqa: BLE001 - every waiter must hear of it
                self._failure = error
                failed = error if isinstance(error, StaleLeaderError) \
                    else JournalError(f"journal write failed: {error}")
                for item in batch + self._pending:
                    if item.future is not None and not item.future.done():
                        item.future.set_exception(failed)
                self._pending.clear()
                if not isinstance(error, Exception):
                    raise
                return
            for item in batch:
                if item.future is not None and not item.future.done():
                    item.future.set_result(item.result)

    def _take_batch(self) -> list:
        """Everything waiting, up to about `max_batch_rows` rows (whole appends only)."""
        taken, rows = 0, 0
        for item in self._pending:
            if taken and rows + len(item.rows) > self.max_batch_rows:
                break
            taken += 1
            rows += len(item.rows)
        batch = self._pending[:taken]
        del self._pending[:taken]
        return batch

    def commit_seconds(self, limit: int = COMMIT_TIMES_KEPT) -> list:
        """How long each transaction that committed since the last call took, in seconds
        (at most the last `limit`). The first call starts the timing and returns []."""
        times = self._commit_times
        if times is None:
            self._commit_times = deque(maxlen=limit)
            return []
        # Only the writer thread appends meanwhile: popleft takes exactly what it counted.
        return [times.popleft() for _ in range(len(times))]

    def _write(self, batch) -> None:
        began = time.perf_counter()
        self._transaction(batch)
        times = self._commit_times
        if times is not None:
            times.append(time.perf_counter() - began)

    def _transaction(self, batch) -> None:
        rows = [row for item in batch for row in item.rows]
        snapshots = [row for item in batch for row in item.snapshots]
        records = [row for item in batch for row in item.records]
        intervals = [row for item in batch for row in item.intervals]
        with self.engine.begin() as connection:
            if self._lock_timeout_ms is not None and connection.dialect.name == "postgresql":
                connection.execute(sa.text(f"SET LOCAL lock_timeout = {self._lock_timeout_ms}"))
            if rows:
                self._fence(connection, rows)
            if rows and connection.dialect.name == "postgresql":
                _copy_rows(connection, rows)
            elif rows:
                connection.execute(JOURNAL.insert(), rows)
            write_rows(connection, records, intervals)
            for row in snapshots:
                connection.execute(SNAPSHOTS.insert(), {
                    "site": row["site"], "seq": row["seq"], "format": row["format"],
                    "time": row["time"], "payload": encode_snapshot(row["document"])})
                self._prune_snapshots(connection, row["site"])

    def _prune_snapshots(self, connection, site) -> None:
        kept = connection.execute(
            sa.select(SNAPSHOTS.c.seq).where(SNAPSHOTS.c.site == site)
            .order_by(SNAPSHOTS.c.seq.desc()).limit(self.keep_snapshots)).scalars().all()
        if len(kept) == self.keep_snapshots:
            connection.execute(SNAPSHOTS.delete().where(
                SNAPSHOTS.c.site == site, SNAPSHOTS.c.seq < kept[-1]))

    # ---- synchronous use (tools, tests, recovery) ---------------------------------------------
    def append_now(self, site: str, entries, *, fencing_token: int | None = None) -> int:
        """Append and commit before returning (no event loop; rows queued by `add_rows`
        go in the same transaction); the last seq."""
        self._check_sync()
        with self._sync_lock:
            rows = self._rows(site, entries, fencing_token)
            batch, self._pending = self._pending + [_Pending(rows)], []
            self._run_now(batch)
        return self.last_seq(site)

    def claim_now(self, sites, token: int, *, lock_timeout_s: float = 1.0) -> None:
        """A new leader's first entry for each of `sites` (a no-op `LeaderClaim` carrying
        `token`), committed in one transaction before the leader answers anything. From its
        commit on, every write of an older leader to these sites is refused: inside its
        transaction it finds this newer token, or it collides with the claim's seq.

        Raises StaleLeaderError if a newer token exists, JournalError if the older leader
        committed entries since this process read the journal (the claim's seq is taken:
        read again), and ClaimBlocked if an older leader's open transaction held a lock
        for `lock_timeout_s` (its sessions are terminated here; try again)."""
        sites = [site for site in sites]
        if not sites:
            return
        self._check_sync()
        with self._sync_lock:
            batch = [_Pending(self._rows(site, [codec.ConfigChange("LeaderClaim",
                                                                  {"token": token})], token))
                     for site in sites]
            batch, self._pending = self._pending + batch, []
            self._lock_timeout_ms = max(1, int(lock_timeout_s * 1000))
            try:
                self._run_now(batch)
            except JournalError as error:
                # SQLAlchemy wraps the driver's error (`.orig`); a COPY through the raw
                # psycopg connection raises the driver's error itself.
                cause = getattr(error.__cause__, "orig", error.__cause__)
                if getattr(cause, "sqlstate", None) == "55P03":     # lock_not_available
                    terminated = self._terminate_older_writers(token)
                    raise ClaimBlocked(f"the claim of token {token} waited {lock_timeout_s:g} s "
                                       f"for a lock; terminated {terminated} older leader "
                                       "session(s)") from error
                raise
            finally:
                self._lock_timeout_ms = None

    def _terminate_older_writers(self, token: int) -> int:
        """Terminate the sessions of this store's leaders older than `token` that are writing
        it (PostgreSQL; needs pg_signal_backend or the same role); how many were ended.

        Only this store's own writers, never "every older vcc leader in the database": the
        database may be shared with other applications and with other vcc clusters (their
        own schema, or their own search_path), whose leaders' sessions carry the same kind
        of name and tokens from their own etcd, unrelated to ours; ending those would break
        a cluster that has nothing to do with this claim (issue 15). A session is ended only
        if all of this holds, checked in one statement (so a pid cannot be reused in between):
        - it is in this database and named as a leader of an older term (application_name
          `vcc-leader-<token>`, `leader_session_options`): never a newer leader, never a
          session that does not say it is a vcc leader;
        - it holds, granted, a lock stronger than a reader's (AccessShareLock) on this
          store's own `journal` or `site_fences` table, resolved here through this engine's
          search_path exactly as the claim resolves them: that is what makes it one of
          this store's writers, and the only kind of session that can hold the locks the
          claim waits for (the fence row, a journal key). A name alone is only a claim
          anyone can make; the lock is a fact about this store's tables. Relation locks
          are held until the transaction ends, so this also means "inside a transaction".
        """
        if self.engine.dialect.name != "postgresql":
            return 0
        prefix = LEADER_SESSION_PREFIX
        with self.engine.connect() as connection:
            ended = connection.execute(sa.text(
                "SELECT activity.pid, pg_terminate_backend(activity.pid) "
                "FROM pg_stat_activity AS activity "
                "WHERE activity.datname = current_database() "
                "AND activity.pid <> pg_backend_pid() "
                "AND left(activity.application_name, :length) = :prefix "
                "AND CASE WHEN substr(activity.application_name, :length + 1) "
                "              ~ '^[0-9]{1,18}$' "
                "         THEN substr(activity.application_name, :length + 1)::bigint < :token "
                "         ELSE false END "
                "AND EXISTS (SELECT 1 FROM pg_locks AS lock "
                "            WHERE lock.pid = activity.pid AND lock.granted "
                "            AND lock.mode <> 'AccessShareLock' "
                "            AND lock.database = (SELECT oid FROM pg_database "
                "                                 WHERE datname = current_database()) "
                "            AND lock.relation IN (to_regclass(:journal), to_regclass(:fences)))"),
                {"length": len(prefix), "prefix": prefix, "token": token,
                 "journal": JOURNAL.name, "fences": FENCES.name}).all()
            connection.commit()
        return sum(1 for _pid, done in ended if done)

    def commit_now(self) -> None:
        """Write whatever `add_rows` queued, now (no event loop)."""
        self._check_sync()
        with self._sync_lock:
            batch, self._pending = self._pending, []
            if batch:
                self._run_now(batch)

    def _check_sync(self) -> None:
        self._check()
        if self._flusher is not None and not self._flusher.done():
            raise RuntimeError("the journal is being written by its event loop: use append()")

    def _run_now(self, batch) -> None:
        try:
            self._executor.submit(self._write, batch).result()
        except StaleLeaderError as error:
            self._failure = error
            raise
        except Exception as error:
            self._failure = error
            raise JournalError(f"journal write failed: {error}") from error
        for item in batch:
            if item.future is not None and not item.future.done():
                item.future.set_result(item.result)

    def snapshot_now(self, site: str, state) -> int:
        self._check_sync()
        with self._sync_lock:
            row = self._snapshot_row(site, state)
            if row is not None:
                batch, self._pending = self._pending + [_Pending([], [row])], []
                self._run_now(batch)
        return self.last_seq(site)

    async def drain(self) -> None:
        """Wait until everything appended so far is committed (or has failed)."""
        if self._pending:
            self._kick(asyncio.get_running_loop())
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def aclose(self) -> None:
        await self.drain()
        self._executor.shutdown(wait=True)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


_COPY_JOURNAL = ("COPY journal (site, seq, fencing_token, event_type, payload, time) "
                 "FROM STDIN")


def _copy_rows(connection, rows) -> None:
    """PostgreSQL: COPY the rows in, inside the caller's transaction. Several times faster
    than multi-row INSERTs, which is what the 20,000 events/s figure needs."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(_COPY_JOURNAL) as copy:
            for row in rows:
                copy.write_row((row["site"], row["seq"], row["fencing_token"], row["event_type"],
                                dumps(row["payload"]), row["time"]))
    finally:
        cursor.close()


def _raise_fence(connection, site: str, token: int) -> int:
    """Lock the site's fence row, raising it to `token` if that is newer (creating it at
    `token` if the site has none); the fence's token after that: newer than `token` means
    a newer leader holds the site."""
    # The update takes the row lock; under READ COMMITTED, waiting for another writer's
    # lock ends with the row as that writer committed it, and RETURNING gives it back.
    after = connection.execute(
        FENCES.update().where(FENCES.c.site == site)
        .values(token=sa.case((FENCES.c.token < token, token), else_=FENCES.c.token))
        .returning(FENCES.c.token)).scalar()
    if after is None:
        # The site's first fenced write. Two first writers racing collide on the key and
        # one transaction fails (its owner retries it like any failed write).
        connection.execute(FENCES.insert(), {"site": site, "token": token})
        return token
    return after


# ---- reading -----------------------------------------------------------------------------------
def read_entries(engine: Engine, site: str, after_seq: int = 0, *, batch: int = 5000):
    """(seq, entry) of a site's journal after `after_seq`, in order.

    Read in pages of `batch` rows by key (seq > last seen), each on a connection held only
    for that page: a recovery reads every site's journal at once, and must not hold a
    connection per site for the whole replay. Raises JournalGap if a number is missing:
    replaying past a hole would silently build a different state.
    """
    columns = (JOURNAL.c.seq, JOURNAL.c.event_type, JOURNAL.c.payload, JOURNAL.c.time)
    decode = codec.decode
    expected = after_seq + 1
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(*columns).where(JOURNAL.c.site == site, JOURNAL.c.seq >= expected)
                .order_by(JOURNAL.c.seq).limit(batch)).all()
        for seq, event_type, payload, time in rows:
            if seq != expected:
                raise JournalGap(f"site {site!r}: journal entry {expected} is missing "
                                 f"(next is {seq})")
            expected += 1
            yield seq, decode(event_type, payload, time)
        if len(rows) < batch:
            return


def journal_sites(engine: Engine, deleted: dict | None = None) -> dict:
    """{site: last seq} of every site the store knows: with journal entries, or with only
    its first snapshot (a site added through Admin and not changed since is one: it must
    be recovered, not forgotten). Sites deleted through Admin (`deleted`, read here when
    not given: `deleted_sites`) are not."""
    with engine.connect() as connection:
        sites = dict(connection.execute(
            sa.select(SNAPSHOTS.c.site, sa.func.max(SNAPSHOTS.c.seq))
            .group_by(SNAPSHOTS.c.site)).all())
        sites.update(connection.execute(
            sa.select(JOURNAL.c.site, sa.func.max(JOURNAL.c.seq)).group_by(JOURNAL.c.site)).all())
    if deleted is None:
        deleted = deleted_sites(engine)
    return {site: seq for site, seq in sites.items() if site not in deleted}


def deleted_sites(engine: Engine, site: str | None = None) -> dict:
    """{site: seq of its tombstone} of the sites Admin deleted and did not add again (of
    `site` alone when given). A deleted site's last journal entry is a `DeleteSite`
    change; adding it again starts it with a snapshot at that entry's number
    (Persistence.start_site), from which it recovers. Reads each site's last entry and
    newest snapshot through the primary keys, never the whole journal."""
    last = sa.select(JOURNAL.c.site, sa.func.max(JOURNAL.c.seq).label("seq"))
    newest = sa.select(SNAPSHOTS.c.site, sa.func.max(SNAPSHOTS.c.seq).label("seq"))
    if site is not None:
        last, newest = last.where(JOURNAL.c.site == site), newest.where(SNAPSHOTS.c.site == site)
    last = last.group_by(JOURNAL.c.site).subquery()
    newest = newest.group_by(SNAPSHOTS.c.site).subquery()
    query = (sa.select(JOURNAL.c.site, JOURNAL.c.seq)
             .join(last, sa.and_(JOURNAL.c.site == last.c.site, JOURNAL.c.seq == last.c.seq))
             .outerjoin(newest, newest.c.site == JOURNAL.c.site)
             .where(JOURNAL.c.event_type == codec.DELETE_SITE,
                    sa.or_(newest.c.seq.is_(None), newest.c.seq < JOURNAL.c.seq)))
    with engine.connect() as connection:
        return dict(connection.execute(query).all())

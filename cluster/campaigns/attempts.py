"""Campaign dial attempts in the customer store (revision 0008): one row per call a pacer
dialled, written by the live host (hosting.py) as the call goes on, for `vcc report --by
campaign`. Record ids only: a number never reaches this table.

`AttemptStore.write` is blocking and idempotent per attempt id (a row written again merges:
a field given replaces the stored one, a field left None keeps it), so a batch retried after
an error changes nothing twice. `AttemptWriter` batches the rows and writes them off the
event loop, one batch at a time, in order: routing never waits for the store.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa

from cluster.store.models import CampaignAttempt

log = logging.getLogger(__name__)

_ATTEMPTS = CampaignAttempt.__table__
FIELDS = ("campaign", "record_id", "dialled_time", "outcome", "result", "result_time")
OUTCOMES = ("live", "machine", "busy", "no_answer", "failed")
RESULTS = ("connected", "abandoned")
_IN_BATCH = 500             # bound the IN lists
MAX_PENDING = 100_000       # a store that is down: keep this many rows, then drop the oldest


class AttemptStore:
    def __init__(self, engine):
        self.engine = engine

    def write(self, rows: dict) -> None:
        """`rows`: attempt id -> {field: value} (FIELDS; None: unchanged). A new attempt needs
        campaign, record_id and dialled_time."""
        ids = list(rows)
        with self.engine.begin() as connection:
            existing = set()
            for start in range(0, len(ids), _IN_BATCH):
                existing.update(connection.execute(sa.select(_ATTEMPTS.c.attempt_id).where(
                    _ATTEMPTS.c.attempt_id.in_(ids[start:start + _IN_BATCH]))).scalars())
            inserts = []
            for attempt_id, fields in rows.items():
                given = {key: value for key, value in fields.items() if value is not None}
                if attempt_id in existing:
                    if given:
                        connection.execute(_ATTEMPTS.update().where(
                            _ATTEMPTS.c.attempt_id == attempt_id).values(**given))
                else:
                    inserts.append({key: fields.get(key) for key in FIELDS}
                                   | {"attempt_id": attempt_id})
            if inserts:
                connection.execute(_ATTEMPTS.insert(), inserts)


class AttemptWriter:
    """Rows noted on the event loop (`note`, never awaits), written by one task at a time in
    the default executor; `flush` waits for everything noted so far."""

    def __init__(self, store: AttemptStore):
        self.store = store
        self.pending: dict = {}         # attempt id -> fields, merged
        self._task: asyncio.Task | None = None

    def note(self, attempt_id: str, **fields) -> None:
        merged = self.pending.setdefault(attempt_id, {})
        merged.update({key: value for key, value in fields.items() if value is not None})
        if len(self.pending) > MAX_PENDING:
            dropped = next(iter(self.pending))
            self.pending.pop(dropped)
            log.error("campaign attempts: the store is behind; attempt %s not written", dropped)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            batch, self.pending = self.pending, {}
            try:
                await loop.run_in_executor(None, self.store.write, batch)
            except Exception as error:      # the store is down: keep the rows, try again
                log.error("campaign attempts: cannot write %d rows: %s: %s", len(batch),
                          type(error).__name__, str(error).splitlines()[0][:200])
                for attempt_id, fields in batch.items():
                    self.pending[attempt_id] = fields | self.pending.get(attempt_id, {})
                await asyncio.sleep(1.0)

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait (at most `timeout_s`) until what was noted is written."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (self.pending or (self._task is not None and not self._task.done())) \
                and loop.time() < deadline:
            if self._task is None or self._task.done():
                self._task = loop.create_task(self._drain())
            await asyncio.wait({self._task}, timeout=max(0.0, deadline - loop.time()))

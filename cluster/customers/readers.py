"""How the directory reads the store without blocking its event loop, one reader per kind of
database (`open_reader` chooses):

- SQLite (`ThreadedReader`): SQLite runs inside the process and blocks (a query, or a wait of
  up to `busy_timeout` behind a writer), so `CustomerStore` runs on a few threads of the
  reader's own.
- PostgreSQL (`PostgresReader`): psycopg's asyncio connections on the event loop itself. The
  loop only waits for the socket, so it is never blocked, and a lookup costs the round trip
  alone: handing each query to a thread and back (two more thread wake-ups) tripled the p99
  of a lookup on a busy 2-core machine (measured: 0.3 ms alone, 1.2 to 4.6 ms through a
  thread; loadtests/customer_bench.py).

Both answer `await read(kind, key) -> Profile | None` (kind: "ani", "account",
"customer_id") and raise when the database does; the directory makes that a default tier.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from sqlalchemy.engine import Engine

from cluster.customers.store import (BY_ACCOUNT, BY_ANI, BY_ID, CustomerStore, Profile,
                                     profile_from_rows)

KINDS = {"ani": BY_ANI, "account": BY_ACCOUNT, "customer_id": BY_ID}
_METHODS = {"ani": "by_ani", "account": "by_account", "customer_id": "by_customer_id"}
CONNECT_TIMEOUT_S = 3           # libpq counts whole seconds
APPLICATION_NAME = "vcc-customers"


class ThreadedReader:
    """A `CustomerStore` (or anything with its methods) read on `threads` threads."""

    def __init__(self, store: CustomerStore, threads: int = 4) -> None:
        self.store = store
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="vcc-customers")

    async def read(self, kind: str, key: str) -> Profile | None:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, getattr(self.store, _METHODS[kind]), key)

    async def close(self) -> None:
        # A lookup stuck in the database is not waited for: its thread ends with it.
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.store.close()


class PostgresReader:
    """Up to `connections` psycopg asyncio connections in autocommit (no BEGIN/COMMIT round
    trips), each query prepared once per connection. A connection that failed, or whose
    lookup was abandoned, is closed; the next lookup opens another."""

    def __init__(self, engine: Engine, connections: int = 4) -> None:
        from sqlalchemy.dialects import postgresql

        self._engine = engine
        dialect = postgresql.dialect(paramstyle="pyformat")
        self._sql = {kind: str(statement.compile(dialect=dialect))
                     for kind, statement in KINDS.items()}
        self._idle: asyncio.Queue | None = None
        self._size = connections
        self._conninfo: dict | None = None
        self._all: set = set()

    def _connect_arguments(self) -> dict:
        """psycopg's connect arguments for the engine's database, with its search_path (a
        schema of `open_engine(url, schema=...)` included)."""
        _args, arguments = self._engine.dialect.create_connect_args(self._engine.url)
        with self._engine.connect() as connection:
            search_path = connection.exec_driver_sql("SHOW search_path").scalar()
        arguments = dict(arguments)
        arguments["options"] = f"-csearch_path={search_path}"
        arguments.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        arguments.setdefault("application_name", APPLICATION_NAME)    # pg_stat_activity
        return arguments

    async def read(self, kind: str, key: str) -> Profile | None:
        import psycopg
        from psycopg.rows import namedtuple_row

        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self._size):
                self._idle.put_nowait(None)         # None: a connection to open when needed
        connection = await self._idle.get()
        healthy = False
        try:
            if connection is None or connection.closed:
                if self._conninfo is None:
                    self._conninfo = await asyncio.to_thread(self._connect_arguments)
                connection = await psycopg.AsyncConnection.connect(
                    autocommit=True, row_factory=namedtuple_row, **self._conninfo)
                self._all.add(connection)
            cursor = await connection.execute(self._sql[kind], {"key": key}, prepare=True)
            profile = profile_from_rows(await cursor.fetchall())
            healthy = True
            return profile
        finally:
            if not healthy and connection is not None:
                self._all.discard(connection)
                connection.pgconn.finish()      # no round trip: the server may be gone
                connection = None
            self._idle.put_nowait(connection)

    async def close(self) -> None:
        for connection in list(self._all):
            connection.pgconn.finish()
        self._all.clear()


def open_reader(engine: Engine, threads: int = 4):
    """The reader for the engine's database (see the module's docstring)."""
    if engine.dialect.name == "postgresql":
        return PostgresReader(engine, connections=threads)
    return ThreadedReader(CustomerStore(engine), threads)

"""Engines for the store: SQLite (a file, the default) or PostgreSQL, chosen by URL.

SQLite is set up so that a commit is durable when it returns: WAL journal (readers do not
block the writer) with `synchronous=FULL` (the WAL is fsynced at every commit; NORMAL could
lose the last commits on power loss, which would break "durable before the PBX hears back").
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

DEFAULT_URL = "sqlite:///vcc.db"
SUPPORTED = ("sqlite", "postgresql")


class StoreUrlError(ValueError):
    """The database URL cannot be used; the message says why."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


def open_engine(url: str = DEFAULT_URL, *, schema: str | None = None, **options) -> Engine:
    """An engine for `url` (`sqlite:///file.db`, `sqlite://` in memory,
    `postgresql+psycopg://user@127.0.0.1:5432/db`); extra options go to `create_engine`.

    `schema` (PostgreSQL only): every table lives in that schema, created if missing, so that
    tests and benchmarks can share a database without touching each other's tables.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreUrlError(f"not a database URL: {url!r} ({error})") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise StoreUrlError(f"unsupported database {backend!r} in {url!r}; "
                            "use sqlite:///FILE or postgresql+psycopg://...")
    if backend == "sqlite":
        if schema is not None:
            raise StoreUrlError("schema= is for PostgreSQL; use another SQLite file instead")
        if parsed.database in (None, "", ":memory:"):
            # One shared connection, or every pooled connection would see its own empty DB.
            options.setdefault("poolclass", StaticPool)
            options.setdefault("connect_args", {"check_same_thread": False})
        engine = sa.create_engine(parsed, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")   # the driver we ship with
    options.setdefault("pool_pre_ping", True)
    if schema is not None:
        if not schema.isidentifier():
            raise StoreUrlError(f"schema must be a plain identifier; got {schema!r}")
        with sa.create_engine(parsed, poolclass=sa.pool.NullPool).begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connect_args = dict(options.pop("connect_args", {}))
        connect_args["options"] = f"-csearch_path={schema}"
        options["connect_args"] = connect_args
    return sa.create_engine(parsed, **options)


def drop_schema(engine: Engine, schema: str) -> None:
    """Drop a PostgreSQL schema made by `open_engine(..., schema=...)` and all it holds."""
    if not schema.isidentifier():
        raise ValueError(f"schema must be a plain identifier; got {schema!r}")
    engine.dispose()
    with sa.create_engine(engine.url, poolclass=sa.pool.NullPool).begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"

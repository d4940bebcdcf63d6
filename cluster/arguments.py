"""Checks of `vcc` command-line arguments that argparse alone does not make (issue 15).

A bad argument stops a command before anything runs, with one line naming the flag and exit
code 2 — never a traceback, never a hang: a listen address that is no address (`--host
1.2.3.4.5`) or is taken (`--port` in use), a database that cannot be opened (`--db
sqlite:////nonexistent/dir/x.db`), a file flag naming something that is not a regular file
(`--token-file /dev/zero` would be read forever), a number out of its range (`--speed nan`).

The problem texts never echo more than ~80 characters of what was given, and never a
database password.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import math
import os
import re
import socket
import stat

from cluster.yaml_reader import brief, cut

MAX_FLAG_FILE_BYTES = 16 * 1024 * 1024      # a certificate, key or token file
DB_CONNECT_TIMEOUT_S = 10                    # PostgreSQL: an unreachable host is an error, not a hang

_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\Z")


# ---- argparse types ------------------------------------------------------------------------------
def number(minimum: float | None = None, maximum: float | None = None, *,
           exclusive_minimum: bool = False, integer: bool = False):
    """An argparse `type`: a finite number (an integer with `integer`) within the bounds."""
    low = "" if minimum is None else f"{'>' if exclusive_minimum else '>='} {minimum:g}"
    high = "" if maximum is None else f"<= {maximum:,g}"
    bounds = " and ".join(part for part in (low, high) if part)
    what = ("an integer" if integer else "a number") + (f" {bounds}" if bounds else "")

    def parse(text: str):
        try:
            value = int(text) if integer else float(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"must be {what}; got {brief(text)}") from None
        if not math.isfinite(value) \
                or (minimum is not None and (value < minimum
                                             or (exclusive_minimum and value == minimum))) \
                or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {what}; got {brief(text)}")
        return value
    return parse


# ---- files ---------------------------------------------------------------------------------------
def file_problem(path: str, limit: int = MAX_FLAG_FILE_BYTES) -> str | None:
    """None if `path` is a readable regular file of at most `limit` bytes, else why not."""
    try:
        info = os.stat(path)
    except (OSError, ValueError) as error:
        return getattr(error, "strerror", None) or str(error)
    if stat.S_ISDIR(info.st_mode):
        return "Is a directory"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size > limit:
        return f"larger than {limit // (1024 * 1024)} MiB"
    if not os.access(path, os.R_OK):
        return "Permission denied"
    return None


def files_problem(flags) -> str | None:
    """The first of (flag, path) pairs (path None: not given) that is not a usable file:
    `--flag PATH: cannot read (problem)`."""
    for flag, path in flags:
        if path:
            problem = file_problem(path)
            if problem is not None:
                return f"{flag} {cut(str(path))}: cannot read ({problem})"
    return None


# ---- listening -----------------------------------------------------------------------------------
def host_problem(host: str) -> str | None:
    """None if `host` is an IP address or a syntactically valid host name."""
    if not host:
        return "must be an IP address or a host name; got an empty string"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels) \
            or labels[-1].isdigit():          # 1.2.3.4.5, 256.1.1.1: no address, no name
        return f"{brief(host)} is not an IP address or a host name"
    return None


def listen_problem(host: str, port: int, flags=("--host", "--port")) -> str | None:
    """None if a server could listen on host:port now, else `--host ...`/`--port ...: why`
    (`flags`: the names of the two flags, e.g. --metrics-host and --metrics-port).

    Binds a probe socket as gRPC does (SO_REUSEADDR) to every address `host` resolves to;
    like gRPC, one that binds is enough. A port another process listens on is refused."""
    host_flag, port_flag = flags
    problem = host_problem(host)
    if problem is not None:
        return f"{host_flag}: {problem}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        return f"{host_flag} {host}: cannot resolve ({getattr(error, 'strerror', None) or error})"
    failures = []
    for family, kind, protocol, _, address in infos:
        try:
            with socket.socket(family, kind, protocol) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
                return None
        except OSError as error:
            failures.append(error)
    if not failures:
        return f"{host_flag} {host}: resolves to no address"
    error = failures[0]
    if error.errno == errno.EADDRINUSE:
        return f"{port_flag} {port}: {host}:{port} is in use (another process listens there)"
    if error.errno == errno.EACCES:
        return f"{port_flag} {port}: permission denied (ports below 1024 need privileges)"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host_flag} {host}: not an address of this machine ({error.strerror})"
    return f"{host_flag} {host} {port_flag} {port}: cannot listen ({error.strerror or error})"


# ---- databases -----------------------------------------------------------------------------------
def shown_url(url: str) -> str:
    """`url` as it may be printed: the password hidden, at most ~80 characters."""
    try:
        from sqlalchemy.engine import make_url

        return cut(make_url(url).render_as_string(hide_password=True))
    except Exception:            # not a URL at all: open_engine says so
        return brief(url)


def _one_line(error) -> str:
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines() or [type(original).__name__]
    return cut(lines[0], 200)


def database_problem(url: str, *, create: bool = True) -> str | None:
    """None if the store at `url` can be opened now (one connection), else why not.

    `create` False: a SQLite file must exist already (a report or a repair never leaves an
    empty database behind). PostgreSQL is given DB_CONNECT_TIMEOUT_S to answer."""
    import sqlalchemy as sa

    from cluster.store.db import StoreUrlError, open_engine

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        parsed = None
    options = {}
    if parsed is not None and parsed.get_backend_name() == "sqlite" \
            and parsed.database not in (None, "", ":memory:"):
        path = parsed.database
        directory = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            return f"{shown_url(url)}: {path} is a directory"
        if not os.path.exists(path):
            if not create:
                return f"no such database file {brief(path)}"
            if not os.path.isdir(directory):
                return f"{shown_url(url)}: no such directory {brief(directory)}"
    elif parsed is not None and parsed.get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": DB_CONNECT_TIMEOUT_S}
    try:
        engine = open_engine(url, **options)
    except StoreUrlError as error:
        return str(error)
    except Exception as error:          # a driver that is not installed, a bad option
        return f"{shown_url(url)}: {_one_line(error)}"
    try:
        with engine.connect():
            pass
    except Exception as error:          # SQLAlchemyError and driver errors alike
        return f"cannot open {shown_url(url)}: {_one_line(error)}"
    finally:
        engine.dispose()
    return None


def open_existing_store(url: str, tables, what: str):
    """(Engine, None) for the store at `url` when it exists (nothing is created) and holds
    `tables`; else (None, why not: "... holds no `what`"). A report's way in: it reads."""
    import sqlalchemy as sa

    from cluster.store.db import StoreUrlError, open_engine

    problem = database_problem(url, create=False)
    if problem is not None:
        return None, problem
    try:
        engine = open_engine(url, **({"connect_args": {"connect_timeout": DB_CONNECT_TIMEOUT_S}}
                                     if url.startswith("postgresql") else {}))
    except StoreUrlError as error:
        return None, str(error)
    try:
        present = set(sa.inspect(engine).get_table_names())
    except sa.exc.SQLAlchemyError as error:
        engine.dispose()
        return None, (f"cannot open {shown_url(url)}: {error.__class__.__name__}: "
                      f"{str(error).splitlines()[0][:200]}")
    if not set(tables) <= present:
        engine.dispose()
        return None, f"{shown_url(url)} holds no {what}"
    return engine, None

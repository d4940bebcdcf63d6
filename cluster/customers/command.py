"""`vcc customers import FILE.csv` and `vcc marketing import-targets FILE.csv`: options, the
progress bar, and what is printed. A bad row stops the import: `file:line: column: problem`
on stderr (up to 20 of them), exit 2, nothing imported. A database that fails midway: exit 1,
nothing imported (one transaction)."""

from __future__ import annotations

import argparse
import sys

from cluster.store.db import DEFAULT_URL

MAX_CSV_BYTES = 8 * 1024 ** 3      # an import file; beyond it, split the file


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.csv", help="the CSV file (UTF-8, header line)")
    parser.add_argument("--db", default=DEFAULT_URL,
                        help=f"database URL ({DEFAULT_URL}; PostgreSQL: "
                             "postgresql+psycopg://user@host:5432/db); migrated first")
    parser.add_argument("--region", default=None, metavar="CC",
                        help="country of phone numbers written without +country code "
                             "(ISO 3166, e.g. US, GB); without it such numbers are refused")


def add_customers_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("customers", help="customer profiles in the store")
    commands = parser.add_subparsers(dest="customers_command", required=True)
    load = commands.add_parser(
        "import", help="add or update customers from a CSV file (all or nothing; idempotent)",
        description="Columns: customer_id, name (required), email, address, tier, phones "
                    "(;-separated), accounts (;-separated), attributes (a JSON object). "
                    "Customers not in the file are left as they are.")
    _common_options(load)
    load.set_defaults(run=lambda args: run_import(args, "vcc customers import", "customers"))
    return parser


def add_marketing_parser(subparsers) -> argparse.ArgumentParser:
    from cluster.customers.marketing_command import add_marketing_report_parsers

    parser = subparsers.add_parser("marketing", help="inbound marketing: target lists, "
                                                     "statistics, the agents' ranking")
    commands = parser.add_subparsers(dest="marketing_command", required=True)
    load = commands.add_parser(
        "import-targets", help="add or update target list rows from a CSV file (all or "
                               "nothing; idempotent)",
        description="Columns: customer_id, product (required), phone, list. Every customer "
                    "must be in the store already.")
    _common_options(load)
    load.set_defaults(run=lambda args: run_import(args, "vcc marketing import-targets",
                                                  "targets"))
    add_marketing_report_parsers(commands)
    return parser


class _Bar:
    """A rich progress bar on stderr (a terminal only): bytes read, then rows written."""

    def __init__(self, total_bytes: int) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)

        console = Console(stderr=True)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                                 disable=not console.is_terminal, transient=True)
        self.reading = self.progress.add_task("reading (bytes)", total=total_bytes)
        self.writing_task = None

    def read(self, nbytes: int) -> None:
        self.progress.advance(self.reading, nbytes)

    def writing(self, total: int) -> None:
        self.writing_task = self.progress.add_task("writing (rows)", total=total)

    def wrote(self, count: int) -> None:
        self.progress.advance(self.writing_task, count)


def run_import(args, command: str, what: str) -> int:
    import os

    import sqlalchemy as sa

    from cluster.arguments import database_problem, file_problem, shown_url
    from cluster.customers.csv_rows import ImportRefused
    from cluster.customers.importer import import_customers, import_targets
    from cluster.customers.phones import valid_region
    from cluster.store import open_engine, upgrade
    from cluster.store.db import StoreUrlError

    def fail(problem: str) -> int:
        print(f"{command}: {problem}", file=sys.stderr)
        return 2

    problem = file_problem(args.file, MAX_CSV_BYTES)
    if problem:
        return fail(f"{args.file}: cannot read ({problem})")
    if args.region is not None and not valid_region(args.region):
        return fail(f"--region: {args.region[:20]!r} is not a country code libphonenumber "
                    f"knows (ISO 3166, upper case: US, GB, DE ...)")
    problem = database_problem(args.db)
    if problem:
        return fail(f"--db: {problem}")
    try:
        engine = open_engine(args.db)
    except StoreUrlError as error:
        return fail(f"--db: {error}")
    run = import_customers if what == "customers" else import_targets
    bar = _Bar(os.path.getsize(args.file))
    try:
        upgrade(engine)
        with bar.progress:
            result = run(engine, args.file, region=args.region, progress=bar)
    except ImportRefused as refused:
        refused.report(command, args.file, sys.stderr)
        return 2
    except sa.exc.SQLAlchemyError as error:
        first = str(getattr(error, "orig", None) or error).strip().splitlines() or [""]
        print(f"{command}: {shown_url(args.db)}: {type(error).__name__}: {first[0][:200]}; "
              f"nothing imported", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"{args.file}: {result.rows:,} row{'' if result.rows == 1 else 's'} in "
          f"{result.seconds:.2f} s: {result.added:,} new, "
          f"{result.updated:,} updated, {result.unchanged:,} unchanged")
    return 0

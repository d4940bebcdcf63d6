"""`vcc campaign dnc add|remove|count`: the do-not-call lists of a running server (SPEC §6;
the parser is in command.py). Every number is checked before anything is sent, so a bad
file or argument changes nothing; problems mask the numbers (they are personal data)."""

from __future__ import annotations

import asyncio
import sys

from cluster.customers import csv_rows

MAX_CSV_BYTES = 1 << 30
NUMBERS_PER_CALL = 10_000       # the server's bound (servicers/campaigns.py)
COLUMNS = ("phone",)
_REFUSED = ("INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION")


def read_numbers(path: str) -> list:
    """The E.164 numbers of a do-not-call file; csv_rows.ImportRefused with every problem."""
    problems = csv_rows.Problems(path)
    numbers = []
    for row in csv_rows.read_rows(path, COLUMNS, COLUMNS, problems):
        try:
            numbers.append(csv_rows.phone(row.fields.get("phone", ""), None))
        except ValueError as error:
            problems.add(row.line, "phone", str(error))
    problems.raise_any()
    return numbers


def _numbers(args) -> list | None:
    """The checked numbers of the command line, or None after printing why not."""
    name = f"vcc campaign dnc {args.action}"
    if args.action == "count":
        if args.numbers or args.file:
            print(f"{name}: takes no numbers", file=sys.stderr)
            return None
        return []
    if bool(args.numbers) == bool(args.file):
        print(f"{name}: give numbers or --file F.csv (one of them)", file=sys.stderr)
        return None
    if args.file:
        from cluster.arguments import file_problem

        problem = file_problem(args.file, MAX_CSV_BYTES)
        if problem:
            print(f"{name}: {args.file}: cannot read ({problem})", file=sys.stderr)
            return None
        try:
            numbers = read_numbers(args.file)
        except csv_rows.ImportRefused as refused:
            refused.report(name, args.file, sys.stderr)
            return None
        if not numbers:
            print(f"{name}: {args.file}: no number after the header; nothing sent",
                  file=sys.stderr)
            return None
        return numbers
    numbers = []
    for index, value in enumerate(args.numbers):
        try:
            numbers.append(csv_rows.phone(value, None))
        except ValueError as error:
            print(f"{name}: number {index + 1}: {error}", file=sys.stderr)
            return None
    return numbers


def run_dnc(args) -> int:
    numbers = _numbers(args)
    if numbers is None:
        return 2
    return asyncio.run(_send(args, numbers))


async def _send(args, numbers: list) -> int:
    import grpc

    from cluster.client import VccClient
    from vcc.v1 import admin_pb2

    name = f"vcc campaign dnc {args.action}"
    changed = unchanged = 0
    reply = None
    async with VccClient(args.address, token=args.token) as client:
        admin = client.admin
        try:
            if args.action == "count":
                reply = await admin.CountDoNotCall(admin_pb2.DoNotCallKey(
                    campaign=args.campaign), timeout=30)
            method = admin.AddDoNotCall if args.action == "add" else admin.RemoveDoNotCall
            for start in range(0, len(numbers), NUMBERS_PER_CALL):
                reply = await method(admin_pb2.DoNotCallNumbers(
                    campaign=args.campaign,
                    numbers=numbers[start:start + NUMBERS_PER_CALL]), timeout=60)
                changed += reply.changed
                unchanged += reply.unchanged
        except grpc.aio.AioRpcError as error:
            done = f"; numbers before {start + 1:,} were sent" if numbers and start else ""
            print(f"{name}: {error.code().name}: {error.details()}{done}", file=sys.stderr)
            return 2 if error.code().name in _REFUSED else 1
    lists = f"global list: {reply.global_numbers:,} numbers"
    if args.campaign:
        lists += f"; campaign {args.campaign!r}: {reply.campaign_numbers:,} numbers"
    if args.action != "count":
        verb = "added" if args.action == "add" else "removed"
        other = "already on the list" if args.action == "add" else "not on the list"
        print(f"{len(numbers):,} numbers: {changed:,} {verb}, {unchanged:,} {other}; {lists}")
    else:
        print(lists)
    return 0

"""`vcc campaign`: campaigns over the Admin API of a running `vcc serve` (SPEC §6).

- `vcc campaign import FILE.csv --campaign NAME`: the list, columns `id,phone[,timezone,
  customer_id]`. Every row is checked first (a unique id, an E.164 number, an IANA zone):
  a bad file prints `file:line: column: problem` (numbers masked; up to 20 problems) and
  exits 2 with nothing sent. Then the rows go in calls of 10,000 with a progress bar; each
  call is written all or none (a re-run sends the same rows again as `unchanged`).
- `vcc campaign dnc add|remove [--campaign NAME] NUMBER...|--file F.csv`: the global
  do-not-call list, or the campaign's; a file has a `phone` column. Every number is checked
  first (E.164): a bad one is named (`number 2: ...` or `file:line: phone: ...`, masked) and
  the command exits 2 with nothing sent; then calls of 10,000. `vcc campaign dnc count
  [--campaign NAME]`: the lists' sizes (numbers are never given back).
- `vcc campaign put NAME --site S --skill K --mode preview|progressive|predictive
  [--call-window CALENDAR] [--protect-inbound-sl-pct PCT] [...]`, `start|pause|stop|show
  NAME`, `list` (`show` and `list` print each campaign as JSON, its `call_window` when it
  has one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from cluster.campaigns import rows as list_rows
from cluster.customers import csv_rows

MAX_CSV_BYTES = 1 << 30


def add_campaign_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("campaign", help="outbound campaigns of a running server")
    commands = parser.add_subparsers(dest="campaign_command", required=True)

    def common(command):
        command.add_argument("--address", default="127.0.0.1:50051",
                             help="the server (127.0.0.1:50051)")
        command.add_argument("--token", default=None, help="a bearer token of role admin")
        return command

    load = common(commands.add_parser("import", help="import a campaign's list (CSV)"))
    load.add_argument("file", help="CSV with columns id,phone[,timezone,customer_id]")
    load.add_argument("--campaign", required=True, help="the campaign (a draft)")
    put = common(commands.add_parser("put", help="create or change a campaign"))
    put.add_argument("name")
    put.add_argument("--site", required=True)
    put.add_argument("--skill", required=True)
    put.add_argument("--mode", required=True, choices=("preview", "progressive", "predictive"))
    put.add_argument("--pacing", default="", choices=("", "model", "adaptive"))
    put.add_argument("--abandon-limit-pct", type=float, default=0.0)
    put.add_argument("--abandon-window", default="", choices=("", "30d", "24h"))
    put.add_argument("--ring-timeout-s", type=float, default=0.0)
    put.add_argument("--amd", action="store_true")
    put.add_argument("--call-window", default="",
                     help="a calendar of the routing plans: dial only while it is open in "
                          "the callee's time zone (default: at any time)")
    put.add_argument("--protect-inbound-sl-pct", type=float, default=None, metavar="PCT",
                     help="blend (progressive): the agents' other skills are inbound; dial "
                          "only while each keeps its service level at or above PCT %% and "
                          "nobody waits in it (default: not blended)")
    for verb in ("start", "pause", "stop", "show"):
        common(commands.add_parser(verb, help=f"{verb} a campaign")).add_argument("name")
    common(commands.add_parser("list", help="every campaign"))
    dnc = common(commands.add_parser("dnc", help="the do-not-call lists (global or a "
                                                 "campaign's)"))
    dnc.add_argument("action", choices=("add", "remove", "count"))
    dnc.add_argument("numbers", nargs="*", metavar="NUMBER", help="E.164 numbers")
    dnc.add_argument("--file", default=None, help="a CSV with a phone column")
    dnc.add_argument("--campaign", default="", help="the campaign's list (default: global)")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    if args.campaign_command == "import":
        return import_list(args)
    if args.campaign_command == "dnc":
        from cluster.campaigns.dnc_command import run_dnc

        return run_dnc(args)
    return asyncio.run(_call(args))


def read_list(path: str, on_bytes=None) -> list:
    """The checked rows of a list file; csv_rows.ImportRefused with every problem found."""
    problems = csv_rows.Problems(path)
    checked, first = [], {}
    for row in csv_rows.read_rows(path, list_rows.COLUMNS, list_rows.REQUIRED, problems,
                                  on_bytes):
        fields = row.fields
        record_id = fields.get("id", "").strip()
        if record_id and record_id in first:
            problems.add(row.line, "id", f"given twice (first on line {first[record_id]})")
        first.setdefault(record_id, row.line)
        try:
            values = list_rows.checked(fields.get("id", ""), fields.get("phone", ""),
                                       fields.get("timezone", ""), fields.get("customer_id", ""))
        except list_rows.RowError as error:
            problems.add(row.line, error.column, error.problem)
            continue
        checked.append(values)
    problems.raise_any()
    return checked


def import_list(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from cluster.arguments import file_problem

    problem = file_problem(args.file, MAX_CSV_BYTES)
    if problem:
        print(f"vcc campaign import: {args.file}: cannot read ({problem})", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        console=console, disable=not console.is_terminal, transient=True)
    with progress:
        reading = progress.add_task("checking (bytes)", total=os.path.getsize(args.file))
        try:
            checked = read_list(args.file, lambda n: progress.advance(reading, n))
        except csv_rows.ImportRefused as refused:
            refused.report("vcc campaign import", args.file, sys.stderr)
            return 2
        if not checked:
            print(f"vcc campaign import: {args.file}: no row after the header; nothing "
                  "imported", file=sys.stderr)
            return 2
        sending = progress.add_task("importing (rows)", total=len(checked))
        return asyncio.run(_send(args, checked, lambda n: progress.advance(sending, n)))


async def _send(args, checked: list, advance) -> int:
    import grpc

    from cluster.client import VccClient
    from vcc.v1 import admin_pb2

    totals = [0, 0, 0]
    records = 0
    async with VccClient(args.address, token=args.token) as client:
        for start in range(0, len(checked), list_rows.MAX_ROWS_PER_CALL):
            chunk = checked[start:start + list_rows.MAX_ROWS_PER_CALL]
            request = admin_pb2.CampaignListRows(campaign=args.campaign, rows=[
                admin_pb2.CampaignListRow(id=row[0], phone=row[1], timezone=row[2] or "",
                                          customer_id=row[3] or "") for row in chunk])
            try:
                reply = await client.admin.ImportCampaignList(request, timeout=60)
            except grpc.aio.AioRpcError as error:
                print(f"vcc campaign import: {error.code().name}: {error.details()}"
                      f"{f'; rows before {start + 1:,} were imported' if start else ''}",
                      file=sys.stderr)
                return 2 if error.code() in (grpc.StatusCode.INVALID_ARGUMENT,
                                             grpc.StatusCode.NOT_FOUND,
                                             grpc.StatusCode.FAILED_PRECONDITION) else 1
            for index, value in enumerate((reply.added, reply.updated, reply.unchanged)):
                totals[index] += value
            records = reply.records
            advance(len(chunk))
    print(f"{args.file}: {len(checked):,} rows: {totals[0]:,} new, {totals[1]:,} updated, "
          f"{totals[2]:,} unchanged; campaign {args.campaign!r} has {records:,} records")
    return 0


async def _call(args) -> int:
    import grpc
    from google.protobuf import json_format

    from cluster.client import VccClient
    from vcc.v1 import admin_pb2

    verb = args.campaign_command
    async with VccClient(args.address, token=args.token) as client:
        admin = client.admin
        try:
            if verb == "list":
                reply = await admin.ListCampaigns(admin_pb2.ListCampaignsRequest(), timeout=30)
                answers = list(reply.campaigns)
            elif verb == "put":
                answers = [await admin.PutCampaign(admin_pb2.Campaign(
                    name=args.name, site=args.site, skill=args.skill, mode=args.mode,
                    pacing=args.pacing, abandon_limit_pct=args.abandon_limit_pct,
                    abandon_window=args.abandon_window, ring_timeout_s=args.ring_timeout_s,
                    amd=args.amd, call_window=args.call_window,
                    protect_inbound_sl_pct=args.protect_inbound_sl_pct), timeout=30)]
            else:
                method = {"start": admin.StartCampaign, "pause": admin.PauseCampaign,
                          "stop": admin.StopCampaign, "show": admin.GetCampaign}[verb]
                answers = [await method(admin_pb2.CampaignKey(name=args.name), timeout=60)]
        except grpc.aio.AioRpcError as error:
            print(f"vcc campaign {verb}: {error.code().name}: {error.details()}",
                  file=sys.stderr)
            return 2 if error.code() in (grpc.StatusCode.INVALID_ARGUMENT,
                                         grpc.StatusCode.NOT_FOUND,
                                         grpc.StatusCode.FAILED_PRECONDITION) else 1
    for answer in answers:
        print(json_format.MessageToJson(answer, indent=None,
                                        preserving_proto_field_name=True))
    return 0

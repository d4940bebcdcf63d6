"""`vcc report --by campaign` (SPEC §6, issue 19) on a store filled by hand: the attempts
table written through AttemptStore (idempotent per attempt id), and the report's counts,
abandon % and penetration per 15-minute interval and in total, as text, --json and --csv;
a store before revision 0008 and one without attempts are refused naming --db."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json

import pytest
import sqlalchemy as sa
from rich.console import Console

from cluster.campaigns.attempts import AttemptStore, AttemptWriter
from cluster.reports import add_report_parser
from cluster.reports.campaigns import compute_campaign_report
from cluster.store import open_engine, upgrade
from cluster.store.migrate import downgrade
from cluster.store.models import Campaign, CampaignAttempt, CampaignRecord

# (attempt id, campaign, record, dialled at, outcome, result)
ATTEMPTS = [
    ("a1", "renew", "r1", 10.0, "live", "connected"),
    ("a2", "renew", "r2", 20.0, "live", "abandoned"),
    ("a3", "renew", "r3", 30.0, "no_answer", None),
    ("a4", "renew", "r4", 40.0, "machine", None),
    ("a5", "renew", "r3", 950.0, "busy", None),          # r3 again, next interval
    ("a6", "renew", "r5", 960.0, "live", "connected"),
    ("a7", "renew", "r6", 970.0, "failed", None),
    ("a8", "renew", "r7", 980.0, None, None),            # still ringing
    ("b1", "winback", "w1", 100.0, "live", "abandoned"),
    ("b2", "winback", "w2", 1000.0, "live", "connected"),
]
LIST_SIZES = {"renew": 10, "winback": 4}


def fill(engine):
    """The campaigns, lists and ATTEMPTS above into `engine` (migrated here); `engine`."""
    upgrade(engine)
    with engine.begin() as connection:
        for name, size in LIST_SIZES.items():
            connection.execute(sa.insert(Campaign.__table__).values(
                name=name, site="east", skill="sales", document={}, state="running"))
            connection.execute(sa.insert(CampaignRecord.__table__), [
                {"campaign": name, "record_id": f"{name[0]}{n}", "position": n,
                 "phone": f"+1212555{n:04d}"} for n in range(size)])
    store = AttemptStore(engine)
    # As the host writes them: the dial, then the outcome, then the result, merged by id.
    store.write({a: {"campaign": c, "record_id": r, "dialled_time": t}
                 for a, c, r, t, _, _ in ATTEMPTS})
    store.write({a: {"outcome": o} for a, _, _, _, o, _ in ATTEMPTS if o})
    results = {a: {"result": res, "result_time": t + 5} for a, _, _, t, _, res in ATTEMPTS
               if res}
    store.write(results)
    store.write(results)        # again: idempotent
    store.write({"a1": {"campaign": "renew", "record_id": "r1", "dialled_time": 10.0}})
    return engine


def test_attempts_are_one_row_each_and_merge(tmp_path):
    engine = fill(open_engine(f"sqlite:///{tmp_path}/vcc.db"))
    with engine.connect() as connection:
        rows = {row.attempt_id: row for row in connection.execute(
            sa.select(CampaignAttempt.__table__))}
    engine.dispose()
    assert len(rows) == len(ATTEMPTS)
    assert (rows["a1"].outcome, rows["a1"].result, rows["a1"].result_time) == (
        "live", "connected", 15.0)
    assert rows["a8"].outcome is None and rows["a3"].result is None


def test_the_writer_batches_off_the_loop_and_flushes(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    upgrade(engine)
    writer = AttemptWriter(AttemptStore(engine))

    async def run():
        writer.note("c1", campaign="x", record_id="r1", dialled_time=1.0)
        writer.note("c1", outcome="live")       # merged with the dial before it is written
        await asyncio.sleep(0)
        writer.note("c1", result="connected", result_time=2.0)
        writer.note("c2", campaign="x", record_id="r2", dialled_time=1.5)
        await writer.flush()
    asyncio.run(run())
    with engine.connect() as connection:
        rows = sorted(tuple(row) for row in connection.execute(sa.select(
            CampaignAttempt.__table__)))
    engine.dispose()
    assert rows == [("c1", "x", "r1", 1.0, "live", "connected", 2.0),
                    ("c2", "x", "r2", 1.5, None, None, None)]


def test_report_arithmetic(tmp_path):
    engine = fill(open_engine(f"sqlite:///{tmp_path}/vcc.db"))
    check_arithmetic(engine)
    engine.dispose()


def check_arithmetic(engine):
    """The figures of ATTEMPTS (also run on PostgreSQL: test_store_postgres.py)."""
    report = compute_campaign_report(engine, 0.0, 1800.0, 900.0)
    rows = {(start, name): sums.figures() for start, name, sums in report.rows}
    assert set(rows) == {(0.0, "renew"), (900.0, "renew"), (0.0, "winback"),
                         (900.0, "winback")}
    first = rows[(0.0, "renew")]
    assert {k: first[k] for k in ("attempts", "live", "machine", "no_answer", "busy", "failed",
                                  "abandoned", "connected")} == {
        "attempts": 4, "live": 2, "machine": 1, "no_answer": 1, "busy": 0, "failed": 0,
        "abandoned": 1, "connected": 1}
    assert first["abandon_pct"] == 50.0
    assert first["penetration_pct"] == 40.0             # r1..r4 of 10
    second = rows[(900.0, "renew")]
    assert (second["attempts"], second["busy"], second["failed"], second["live"]) == (4, 1, 1, 1)
    assert second["abandon_pct"] == 0.0
    # r3 dialled again: not a new record; r5, r6, r7 are: 7 of 10 by the interval's end
    assert (second["dialled_records"], second["penetration_pct"]) == (7, 70.0)
    totals = {name: sums.figures() for name, sums in report.totals}
    assert totals["renew"]["attempts"] == 8 and totals["renew"]["live"] == 3
    assert totals["renew"]["abandon_pct"] == pytest.approx(100 / 3)
    assert totals["renew"]["penetration_pct"] == 70.0
    assert totals["winback"]["abandon_pct"] == 50.0 and totals["winback"]["penetration_pct"] == 50.0
    # Only the second interval: its penetration still counts the records dialled before it,
    # the total the records dialled in the range.
    later = compute_campaign_report(engine, 900.0, 1800.0, 900.0)
    assert {name: sums.figures()["penetration_pct"] for _, name, sums in later.rows} == {
        "renew": 70.0, "winback": 50.0}
    assert dict((name, sums.dialled_records) for name, sums in later.totals) == {
        "renew": 4, "winback": 1}


def _cli(*argv):
    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers())
    args = parser.parse_args(["report", *argv])
    out = io.StringIO()
    return args.run(args, Console(file=out, width=200)), out.getvalue()


def test_the_command_text_json_csv_png(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/vcc.db"
    fill(open_engine(url)).dispose()
    code, text = _cli("--db", url, "--by", "campaign", "--interval", "15m",
                      "--csv", str(tmp_path / "c.csv"), "--png", str(tmp_path / "c.png"))
    assert code == 0, capsys.readouterr().err
    assert "by campaign, 15m intervals" in text and "penetr. %" in text
    assert "+1212555" not in text
    with open(tmp_path / "c.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    total = [row for row in rows if row["interval"] == "total" and row["campaign"] == "renew"]
    assert total[0]["attempts"] == "8" and total[0]["penetration_pct"] == "70.0"
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    code, _ = _cli("--db", url, "--by", "campaign", "--json")
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["by_campaign"]["winback"]["connected"] == 1
    assert len(report["intervals"]) == 4


def test_refusals_name_db(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/old.db"
    engine = open_engine(url)
    upgrade(engine)
    downgrade(engine, "0007")
    engine.dispose()
    code, _ = _cli("--db", url, "--by", "campaign")
    assert code == 2 and "--db:" in capsys.readouterr().err
    url = f"sqlite:///{tmp_path}/empty.db"
    engine = open_engine(url)
    upgrade(engine)
    engine.dispose()
    code, _ = _cli("--db", url, "--by", "campaign")
    assert code == 2 and "no campaign attempts" in capsys.readouterr().err
    code, _ = _cli("--db", url, "--by", "campaign", "--from", "10", "--to", "5")
    assert code == 2 and "--to:" in capsys.readouterr().err

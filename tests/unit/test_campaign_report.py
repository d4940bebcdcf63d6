"""`vcc report --by campaign` (SPEC §6, issue 19) on a store filled by hand: the attempts
table written through AttemptStore (idempotent per attempt id), and the report's counts,
abandon % and penetration per 15-minute interval and in total, as text, --json and --csv;
a store before revision 0008 and one without attempts are refused naming --db. Agent time:
agents of the campaigns' sites and skills log in, talk, wrap up and idle at known times
(AGENT_STATES), and the minutes per logged-in hour are worked out here from them."""

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
from cluster.store.models import (Agent, AgentSkill, AgentStateInterval, Campaign,
                                  CampaignAttempt, CampaignRecord, ContactRecord, Site, Skill)

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
SKILLS = {"renew": "sales", "winback": "care"}      # both campaigns at site east
# (site, agent, skills)
AGENTS = [("east", "e1", ("sales",)), ("east", "e2", ("sales", "care")),
          ("east", "e3", ("care",)), ("west", "w1", ("sales",))]
# (site, agent, state, start, end); logged out outside them
AGENT_STATES = [
    ("east", "e1", "ready", 0.0, 100.0), ("east", "e1", "busy", 100.0, 400.0),
    ("east", "e1", "wrap_up", 400.0, 460.0), ("east", "e1", "not_ready", 460.0, 600.0),
    ("east", "e1", "ready", 600.0, 1000.0),              # into the second interval
    ("east", "e2", "reserved", 200.0, 210.0), ("east", "e2", "busy", 210.0, 810.0),
    ("east", "e2", "wrap_up", 810.0, 870.0), ("east", "e2", "ready", 870.0, 1200.0),
    ("east", "e3", "busy", 0.0, 900.0),
    ("west", "w1", "busy", 0.0, 900.0),                  # sales, but not at east: no campaign's
]
# renew's one call e1 took: answered 100, ended 400, wrapped up by 460
RENEW_CALL = {"contact_id": "a1", "entry_site": "east", "served_site": "east",
              "final_site": "east", "skill": "sales", "priority": "medium",
              "service_objective_s": 20.0, "sl_threshold_s": 20.0, "channel": "voice",
              "arrival_time": 95.0, "answer_time": 100.0, "end_time": 400.0,
              "wrap_up_end_time": 460.0, "final_state": "completed", "agent_id": "e1",
              "campaign": "renew"}


def fill(engine):
    """The campaigns, lists and ATTEMPTS above into `engine` (migrated here); `engine`."""
    upgrade(engine)
    with engine.begin() as connection:
        for name, size in LIST_SIZES.items():
            connection.execute(sa.insert(Campaign.__table__).values(
                name=name, site="east", skill=SKILLS[name], document={}, state="running"))
            connection.execute(sa.insert(CampaignRecord.__table__), [
                {"campaign": name, "record_id": f"{name[0]}{n}", "position": n,
                 "phone": f"+1212555{n:04d}"} for n in range(size)])
    fill_agents(engine)
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


def fill_agents(engine):
    """AGENTS with their skills, AGENT_STATES and RENEW_CALL into `engine`."""
    with engine.begin() as connection:
        connection.execute(sa.insert(Site.__table__), [{"name": "east"}, {"name": "west"}])
        connection.execute(sa.insert(Skill.__table__), [
            {"site": site, "name": skill, "queueing": "fifo", "sl_threshold_s": 20.0,
             "agent_selection": "longest_idle", "wrap_up_s": 60.0, "offer_timeout_s": 15.0,
             "widen_level": 0, "widen_after_s": 0.0, "aht_estimate_s": 200.0}
            for site, skill in (("east", "sales"), ("east", "care"), ("west", "sales"))])
        connection.execute(sa.insert(Agent.__table__), [
            {"site": site, "agent_id": agent, "call_selection": "fifo",
             "voice_blocks_others": True, "channels": {"voice": 1}}
            for site, agent, _ in AGENTS])
        connection.execute(sa.insert(AgentSkill.__table__), [
            {"site": site, "agent_id": agent, "skill": skill, "level": 1}
            for site, agent, skills in AGENTS for skill in skills])
        connection.execute(sa.insert(AgentStateInterval.__table__), [
            {"site": site, "agent_id": agent, "state": state, "reason": "",
             "start_time": begin, "end_time": end}
            for site, agent, state, begin, end in AGENT_STATES])
        connection.execute(sa.insert(ContactRecord.__table__), [RENEW_CALL])


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
    check_agent_time(report)


def check_agent_time(report):
    """AGENT_STATES by hand: renew's agents are e1 and e2 (east, sales), winback's e2 and
    e3 (east, care); w1 has sales at west and counts in neither."""
    rows = {(start, name): sums.figures() for start, name, sums in report.rows}
    first = rows[(0.0, "renew")]
    # interval 0..900: e1 logged in 0..900, e2 200..900
    logged_in = (900 - 0) + (900 - 200)
    hours = logged_in / 3600
    talk = (400 - 100) + (810 - 210)
    wrap = (460 - 400) + (870 - 810)
    idle = (100 - 0) + (900 - 600) + (900 - 870)
    assert first["agent_logged_in_s"] == pytest.approx(logged_in)
    assert first["agent_logged_in_h"] == pytest.approx(hours)
    assert first["agent_talk_min_per_h"] == pytest.approx(talk / 60 / hours)        # 33.75
    assert first["agent_wrap_min_per_h"] == pytest.approx(wrap / 60 / hours)        # 4.5
    assert first["agent_idle_min_per_h"] == pytest.approx(idle / 60 / hours)        # 16.125
    assert first["agent_utilization_min_per_h"] == pytest.approx((talk + wrap) / 60 / hours)
    # its own call: talk 100..400, wrap-up 400..460
    assert first["campaign_talk_wrap_min_per_h"] == pytest.approx((460 - 100) / 60 / hours)
    # interval 900..1800: e1 ready 900..1000, e2 ready 900..1200; nothing else
    second = rows[(900.0, "renew")]
    assert second["agent_logged_in_s"] == pytest.approx((1000 - 900) + (1200 - 900))
    assert second["agent_idle_min_per_h"] == pytest.approx(60.0)
    assert second["agent_talk_min_per_h"] == 0.0
    assert second["campaign_talk_wrap_min_per_h"] == 0.0
    winback = rows[(0.0, "winback")]
    hours = ((900 - 200) + (900 - 0)) / 3600                # e2, e3
    assert winback["agent_talk_min_per_h"] == pytest.approx(
        ((810 - 210) + (900 - 0)) / 60 / hours)            # 56.25
    assert winback["campaign_talk_wrap_min_per_h"] == 0.0
    totals = {name: sums.figures() for name, sums in report.totals}
    assert totals["renew"]["agent_logged_in_s"] == pytest.approx(logged_in + 400)
    assert totals["renew"]["agent_talk_min_per_h"] == pytest.approx(
        talk / 60 / ((logged_in + 400) / 3600))


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
    assert float(total[0]["agent_logged_in_s"]) == 2000.0
    assert "agent h" in text and "talk m/h" in text and "own t+w m/h" in text
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    code, _ = _cli("--db", url, "--by", "campaign", "--json")
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["by_campaign"]["winback"]["connected"] == 1
    first = [row for row in report["intervals"]
             if row["campaign"] == "renew" and row["interval_start_s"] == 0.0][0]
    assert first["agent_talk_min_per_h"] == pytest.approx(33.75)
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


def test_agents_seen_serving_the_skill_count_without_agent_skills(tmp_path):
    """`vcc serve` writes no agent_skills (its agents come from --config): an agent who
    served a contact of the campaign's skill at its site counts as holding it."""
    engine = fill(open_engine(f"sqlite:///{tmp_path}/vcc.db"))
    before = {(start, name): sums.figures() for start, name, sums in
              compute_campaign_report(engine, 0.0, 1800.0, 900.0).rows}[(0.0, "renew")]
    with engine.begin() as connection:
        connection.execute(sa.insert(AgentStateInterval.__table__), [
            {"site": "east", "agent_id": "e4", "state": "busy", "reason": "",
             "start_time": 0.0, "end_time": 900.0}])
        # an inbound sales contact e4 served (no campaign), and one at west: not east's
        connection.execute(sa.insert(ContactRecord.__table__), [
            {**RENEW_CALL, "contact_id": "in1", "agent_id": "e4", "campaign": None},
            {**RENEW_CALL, "contact_id": "in2", "agent_id": "e5", "served_site": "west",
             "campaign": None}])
        connection.execute(sa.insert(AgentStateInterval.__table__), [
            {"site": "east", "agent_id": "e5", "state": "busy", "reason": "",
             "start_time": 0.0, "end_time": 900.0}])
    after = {(start, name): sums.figures() for start, name, sums in
             compute_campaign_report(engine, 0.0, 1800.0, 900.0).rows}[(0.0, "renew")]
    engine.dispose()
    assert after["agent_logged_in_s"] == pytest.approx(before["agent_logged_in_s"] + 900)
    assert after["agent_talk_s"] == pytest.approx(before["agent_talk_s"] + 900)
    # e4's inbound contact is not the campaign's own
    assert after["campaign_talk_s"] == before["campaign_talk_s"]

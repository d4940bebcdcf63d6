"""`vcc report`: the figures the database computes equal a straightforward Python reference
over the same contact records and agent intervals (callers of a routing plan among them);
bad arguments are named; CSV and PNG."""

import argparse
import csv
import math
import os

import pytest
import sqlalchemy as sa

from cluster.reports import (
    BY,
    BY_ENTRY,
    OUTCOMES,
    ReportError,
    ReportQuery,
    add_report_parser,
    compute_report,
    parse_interval,
    parse_time,
)
from cluster.store import open_engine, upgrade
from cluster.store.journal import Journal
from cluster.store.models import AgentSkill, AgentStateInterval, ContactRecord
from cluster.store.persistence import Persistence
from cluster.store.records import Recorder
from loadtests.scenario import parse_scenario
from loadtests.recorded import recorded_simulation

SCENARIO = """\
duration_s: 5400
seed: 5
skills:
  billing: {sl_threshold_s: 20}
  sales: {sl_threshold_s: 30, queueing: fifo}
sites:
  east:
    agents:
      - {count: 5, skills: {billing: 1, sales: 2}, wrap_up_s: 5}
  west:
    agents:
      - {count: 3, skills: {billing: 1}, wrap_up_s: 8}
      - {count: 2, skills: {sales: 1}}
routing: {multisite: bsr, adjust_by: 10}
traffic:
  - {site: east, skill: billing, rate_per_hour: 120, priority: high, service_objective_s: 10,
     handle_time: {dist: exponential, mean_s: 120}, patience: {dist: exponential, mean_s: 60}}
  - {site: east, skill: billing, rate_per_hour: 40, priority: medium, service_objective_s: 40,
     handle_time: {dist: exponential, mean_s: 120}, patience: {dist: exponential, mean_s: 60}}
  - {site: east, skill: sales, rate_per_hour: 50, priority: medium,
     handle_time: {dist: exponential, mean_s: 150}, patience: {dist: exponential, mean_s: 90}}
  - {site: west, skill: billing, rate_per_hour: 60, priority: low,
     handle_time: {dist: exponential, mean_s: 120}}
  - {site: east, dnis: "8005550100", rate_per_hour: 60,
     handle_time: {dist: exponential, mean_s: 120}, patience: {dist: exponential, mean_s: 60},
     caller: {digits: {choice: {"1": 0.6, "3": 0.3, "9": 0.05}}, accepts_callback: 0.5,
              self_service_completes: 0.5}}
# Callers of a routing plan (SPEC §10): waits that count from the first queue step, and
# contacts never queued (self-served, busy, disconnected, hung up in the IVR).
entry_points:
  "8005550100": {service: care}
services:
  care:
    max_lines: 3
    schedule: [{otherwise: menu}]
plans:
  menu:
    - announce: {prompt: welcome, seconds: 8}
    - collect: {prompt: main_menu, max_digits: 1, timeout_s: 5, into: choice}
    - self_service: {prompt: balance, seconds: 30}
      if: {digits: {choice: "3"}}
    - disconnect: {}
      if: {digits: {choice: "9"}}
    - queue: {skill: billing, priority: medium}
    - callback: {}
      if: {ewt: {gt: 20}}
    - wait: {seconds: 300, treatment: music}
"""

# Not-ready stretches the simulator never makes (its agents never pause), added by hand.
NOT_READY = [
    {"site": "east", "agent_id": "east-g0-0", "state": "not_ready", "reason": "lunch",
     "start_time": 5400.0, "end_time": 7300.0},
    {"site": "west", "agent_id": "west-g1-1", "state": "not_ready", "reason": "training",
     "start_time": 5500.0, "end_time": 5600.0},
    {"site": "west", "agent_id": "west-g1-1", "state": "not_ready", "reason": "",
     "start_time": 5700.0, "end_time": 5710.0},
]


def fill(engine):
    """A simulated 90 minutes of two BSR sites, recorded into `engine`."""
    upgrade(engine)
    journal = Journal(engine)
    recorded_simulation(parse_scenario(SCENARIO), Persistence(journal, Recorder()))
    journal.close()
    with engine.begin() as connection:
        connection.execute(AgentStateInterval.__table__.insert(), NOT_READY)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = open_engine(f"sqlite:///{tmp_path_factory.mktemp('reports')}/vcc.db")
    fill(engine)
    yield engine
    engine.dispose()


# ---- the reference: every row into Python, then plain loops ---------------------------------
def load(engine):
    with engine.connect() as connection:
        records = [dict(row._mapping) for row in connection.execute(
            sa.select(ContactRecord.__table__))]
        intervals = [dict(row._mapping) for row in connection.execute(
            sa.select(AgentStateInterval.__table__))]
        skills = {}
        for row in connection.execute(sa.select(AgentSkill.__table__)):
            skills.setdefault((row.site, row.agent_id), []).append(row.skill)
    return records, intervals, skills


def reference(engine, query: ReportQuery) -> dict:
    """{(interval start or 'total', group): figures} computed the obvious way."""
    records, intervals, skills = load(engine)
    width = query.interval_s
    cells = {}

    def cell(start, group):
        return cells.setdefault((start, group), {
            "offered": 0, "answered": 0, "abandoned": 0, "within": 0, "waits": [],
            "handles": [], "wraps": [], "errors": [], "predicted": [], "time": {},
            "outcomes": dict.fromkeys(OUTCOMES, 0)})

    def groups_of_record(record):
        if query.by in ("skill", "class") and record["skill"] == "":
            return []           # never queued: in no skill (cluster/reports docstring)
        return {"skill": [record["skill"]], "site": [record["entry_site"]],
                "class": [f"{record['skill']}/{record['priority']}/"
                          f"{record['service_objective_s']:g}"],
                "agent": [f"{record['served_site']}/{record['agent_id']}"]
                if record["agent_id"] else [],
                "service": [record["service"] or ""], "dnis": [record["dnis"] or ""],
                # Callers of a known tier who reached a queue (test_report_tiers.py).
                "tier": [record["tier"]] if record["tier"] is not None
                and record["skill"] != "" else []}[query.by]

    def threshold_of(record):
        """A tier is judged against the objective its callers were routed with."""
        if query.by == "tier" and record["service_objective_s"] is not None:
            return record["service_objective_s"]
        return record["sl_threshold_s"]

    def outcomes_of(record):
        """The OUTCOMES a record counts in, from their definitions."""
        final, queued = record["final_state"], record["skill"] != ""
        return {"to_agent": queued, "self_served": final == "self_served",
                "abandoned_ivr": final == "abandoned" and not queued,
                "abandoned_queue": final == "abandoned" and queued,
                "busy": final == "busy", "callbacks": record["callback"],
                "routed_out": final == "routed_out", "voicemail": final == "voicemail",
                "disconnected": final == "disconnected"}

    for record in records:
        if not query.start <= record["arrival_time"] < query.end:
            continue
        start = math.floor(record["arrival_time"] / width) * width
        for key in [start, "total"]:
            for group in groups_of_record(record):
                figures = cell(key, group)
                figures["offered"] += 1
                figures["abandoned"] += record["final_state"] == "abandoned"
                for name, counts in outcomes_of(record).items():
                    figures["outcomes"][name] += counts
                if record["answer_time"] is not None:
                    # A plan's contact waits for an agent from its first queue step.
                    began = record["queue_time"]
                    wait = record["answer_time"] - (
                        record["arrival_time"] if began is None else began)
                    figures["answered"] += 1
                    figures["waits"].append(wait)
                    figures["within"] += wait <= threshold_of(record)
                    if record["ewt_predicted_s"] is not None:
                        figures["errors"].append(wait - record["ewt_predicted_s"])
                        figures["predicted"].append((record["queue_position"], wait))
                    if record["final_state"] == "completed":
                        figures["handles"].append(record["wrap_up_end_time"] - record["answer_time"])
                        figures["wraps"].append(record["wrap_up_end_time"] - record["end_time"])

    def groups_of_interval(row):
        return {"skill": skills.get((row["site"], row["agent_id"]), []), "site": [row["site"]],
                "class": [], "agent": [f"{row['site']}/{row['agent_id']}"],
                "service": [], "dnis": [], "tier": []}[query.by]   # agents serve skills

    for row in intervals:
        low, high = max(row["start_time"], query.start), min(row["end_time"], query.end)
        bucket = math.floor(low / width) * width
        while bucket < high:
            seconds = min(high, bucket + width) - max(low, bucket)
            if seconds > 0:
                for key in [bucket, "total"]:
                    for group in groups_of_interval(row):
                        spent = cell(key, group)["time"]
                        state = (row["state"], row["reason"])
                        spent[state] = spent.get(state, 0.0) + seconds
            bucket += width

    out = {}
    for key, figures in cells.items():
        mean = (lambda values: sum(values) / len(values) if values else None)
        answered, abandoned = figures["answered"], figures["abandoned"]
        logged_in = sum(figures["time"].values())
        working = sum(seconds for (state, _), seconds in figures["time"].items()
                      if state in ("busy", "wrap_up"))
        not_ready = {reason: seconds for (state, reason), seconds in figures["time"].items()
                     if state == "not_ready"}
        out[key] = {
            "offered": figures["offered"], "answered": answered, "abandoned": abandoned,
            "sl_pct": 100.0 * figures["within"] / answered if answered else None,
            "sl2_pct": 100.0 * figures["within"] / (answered + abandoned)
            if answered + abandoned else None,
            "asa_s": mean(figures["waits"]), "aht_s": mean(figures["handles"]),
            "wrap_up_s": mean(figures["wraps"]),
            "occupancy_pct": 100.0 * working / logged_in if logged_in else None,
            "logged_in_s": logged_in, "not_ready_s": sum(not_ready.values()),
            "not_ready_by_reason_s": dict(sorted(not_ready.items())),
            "ewt_error_s": mean(figures["errors"]),
            "ewt_abs_error_s": mean([abs(error) for error in figures["errors"]]),
            **ewt_accuracy(figures["errors"], figures["predicted"]),
        }
        if query.by in BY_ENTRY:
            out[key].update(figures["outcomes"])
            out[key]["self_served_pct"] = (100.0 * figures["outcomes"]["self_served"]
                                           / figures["offered"])
    return out


def ewt_accuracy(errors, predicted):
    """RMSE of the EWT, of the mean wait per place (fitted on the same contacts), their
    ratio and the bias as % of the mean wait, straight from the definitions."""
    if not errors:
        return dict.fromkeys(("ewt_rmse_s", "ewt_place_only_rmse_s", "ewt_rmse_ratio",
                              "ewt_bias_pct"))
    rmse = math.sqrt(sum(error * error for error in errors) / len(errors))
    by_place = {}
    for place, wait in predicted:
        by_place.setdefault(place, []).append(wait)
    residual = sum((wait - sum(waits) / len(waits)) ** 2
                   for waits in by_place.values() for wait in waits)
    place_only = math.sqrt(residual / len(errors))
    waits = [wait for _, wait in predicted]
    return {"ewt_rmse_s": rmse, "ewt_place_only_rmse_s": place_only,
            "ewt_rmse_ratio": rmse / place_only if place_only > 0 else None,
            "ewt_bias_pct": 100.0 * sum(errors) / sum(waits) if sum(waits) > 0 else None}


def assert_same(actual: dict, expected: dict, where):
    assert set(actual) == set(expected), where
    for name, value in expected.items():
        if isinstance(value, dict):
            assert actual[name].keys() == value.keys(), (where, name)
            for reason, seconds in value.items():
                assert actual[name][reason] == pytest.approx(seconds, rel=1e-9, abs=1e-6), \
                    (where, name, reason)
        elif value is None or isinstance(value, int):
            assert actual[name] == value, (where, name)
        else:
            assert actual[name] == pytest.approx(value, rel=1e-9, abs=1e-6), (where, name)


def check_against_reference(engine, query):
    report = compute_report(engine, query)
    expected = reference(engine, query)
    actual = {(start, group): sums.figures() for start, group, sums in report.rows}
    actual.update({("total", group): sums.figures() for group, sums in report.totals})
    assert set(actual) == set(expected)
    for key, figures in expected.items():
        assert_same(actual[key], figures, (query.by, key))
    return report


# This day has no tiers: by tier, test_report_tiers.py (on a day that has).
QUERIES = [ReportQuery(0.0, 7200.0, 900.0, by) for by in BY if by != "tier"] + [
    ReportQuery(1234.5, 6000.0, 600.0, "skill"),        # edges inside intervals
    ReportQuery(0.0, 86400.0, 86400.0, "site"),         # a daily report
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: f"{q.by}-{q.interval_s:g}-{q.start:g}")
def test_sql_figures_equal_the_reference_sqlite(engine, query):
    report = check_against_reference(engine, query)
    assert report.rows


def test_the_data_exercises_every_figure(engine):
    report = compute_report(engine, ReportQuery(0.0, 7200.0, 900.0, "site"))
    totals = {group: sums.figures() for group, sums in report.totals}
    east = totals["east"]
    assert east["abandoned"] and east["answered"] and east["ewt_error_s"] is not None
    assert 0 < east["occupancy_pct"] < 100 and east["wrap_up_s"] > 0
    assert report.reasons == ["", "lunch", "training"]
    assert totals["west"]["not_ready_by_reason_s"] == {"": 10.0, "training": 100.0}
    assert {group for group, _ in compute_report(
        engine, ReportQuery(0.0, 7200.0, 900.0, "class")).totals} >= {
        "billing/high/10", "billing/medium/40", "billing/low/20", "sales/medium/30"}
    # The plan's callers: every outcome the reference checks occurs, plain contacts make
    # the group "" by service, and contacts never queued are in no skill's row.
    by_service = {group: sums.figures() for group, sums in compute_report(
        engine, ReportQuery(0.0, 7200.0, 900.0, "service")).totals}
    assert set(by_service) == {"", "care"}
    care = by_service["care"]
    assert all(care[name] for name in ("self_served", "abandoned_ivr", "abandoned_queue",
                                       "busy", "callbacks", "disconnected"))
    assert care["to_agent"] < care["offered"] and by_service[""]["self_served"] == 0
    skills = {group: sums.offered for group, sums in compute_report(
        engine, ReportQuery(0.0, 7200.0, 900.0, "skill")).totals}
    assert set(skills) == {"billing", "sales"}
    assert sum(skills.values()) == by_service[""]["offered"] + care["to_agent"]


# ---- the command --------------------------------------------------------------------------------
def parse(argv):
    parser = argparse.ArgumentParser(prog="vcc")
    add_report_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["report", *argv])


def run(argv, capsys):
    args = parse(argv)
    code = args.run(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_command_table_csv_png(engine, tmp_path, capsys):
    url = str(engine.url)
    code, out, err = run(["--db", url, "--by", "site", "--interval", "30m", "--from", "0",
                          "--to", "7200", "--csv", str(tmp_path / "r.csv"),
                          "--png", str(tmp_path / "r.png")], capsys)
    assert code == 0, err
    assert "by site, 30m intervals, 0 .. 7200" in out and "totals" in out and "lunch" in out
    code, out, err = run(["--db", url], capsys)     # the whole range, by skill, 15m
    assert code == 0 and "by skill, 15m intervals, 0 .. 8100" in out, err
    with open(tmp_path / "r.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    report = compute_report(engine, ReportQuery(0.0, 7200.0, 1800.0, "site"))
    assert len(rows) == len(report.rows) + len(report.totals)
    assert {"sl_pct", "sl2_pct", "asa_s", "aht_s", "occupancy_pct", "not_ready_lunch_s",
            "ewt_error_s"} <= set(rows[0])
    assert "self_served" not in rows[0]         # the callers' outcomes: by service or DNIS
    assert rows[-1]["interval"] == "total"
    with open(tmp_path / "r.png", "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(tmp_path / "r.png") > 20_000


def test_report_by_dnis_names_contacts_without_one(engine, tmp_path, capsys):
    """Plain contacts of this data dialled no number: their group is "" in CSV, shown
    "(none)", so that the rows add up to every contact."""
    code, out, err = run(["--db", str(engine.url), "--by", "dnis", "--interval", "1d",
                          "--from", "0", "--to", "86400", "--csv", str(tmp_path / "d.csv")],
                         capsys)
    assert code == 0, err
    totals = out.split("totals")[1]
    assert "(none)" in totals and "8005550100" in totals and "IVR ab." in totals
    with open(tmp_path / "d.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["interval"] == "total"]
    assert {row["group"] for row in rows} == {"", "8005550100"}
    report = compute_report(engine, ReportQuery(0.0, 86400.0, 86400.0, "site"))
    assert sum(int(row["offered"]) for row in rows) == sum(
        sums.offered for _, sums in report.totals)


@pytest.mark.parametrize("argv, message", [
    (["--interval", "15x"], "argument --interval: must be a duration like 15m"),
    (["--interval", "0m"], "argument --interval: must be longer than 0"),
    (["--from", "yesterday"], "argument --from: must be seconds or an ISO time"),
    (["--to", "nan"], "argument --to: must be a finite number of seconds"),
    (["--by", "weather"], "argument --by: invalid choice: 'weather'"),
])
def test_bad_arguments_are_named_by_argparse(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--from", "100", "--to", "50"], "vcc report: --to: must be after --from"),
    (["--from", "0", "--to", "1e9", "--interval", "1s"], "vcc report: --interval: 1,000,000,000 intervals"),
    (["--csv", "/nonexistent-dir/r.csv"], "vcc report: --csv: cannot write '/nonexistent-dir/r.csv'"),
    (["--png", "/nonexistent-dir/r.png"], "vcc report: --png: cannot write '/nonexistent-dir/r.png'"),
])
def test_bad_requests_name_the_argument(engine, argv, message, capsys):
    code, _, err = run(["--db", str(engine.url), *argv], capsys)
    assert code == 2 and message in err, err


def test_bad_databases_name_db(tmp_path, capsys):
    code, _, err = run(["--db", "mysql://127.0.0.1/x"], capsys)
    assert code == 2 and "vcc report: --db: unsupported database 'mysql'" in err
    code, _, err = run(["--db", f"sqlite:///{tmp_path}/missing.db"], capsys)
    assert code == 2 and "--db: no such database file" in err
    assert not (tmp_path / "missing.db").exists()      # a report leaves nothing behind
    (tmp_path / "empty.db").touch()
    code, _, err = run(["--db", f"sqlite:///{tmp_path}/empty.db"], capsys)
    assert code == 2 and "--db:" in err and "holds no vcc store" in err
    empty = open_engine(f"sqlite:///{tmp_path}/store.db")
    upgrade(empty)
    empty.dispose()
    code, _, err = run(["--db", f"sqlite:///{tmp_path}/store.db"], capsys)
    assert code == 2 and "has no contact records" in err


def test_time_and_interval_parsing():
    assert parse_interval("15m") == 900 and parse_interval("1d") == 86400
    assert parse_interval("90") == 90 and parse_interval("1.5h") == 5400
    assert parse_time("3600") == 3600.0
    assert parse_time("2026-03-02T08:00:00Z") == parse_time("2026-03-02T08:00") == 1772438400.0
    assert parse_time("2026-03-02T09:00+01:00") == 1772438400.0
    with pytest.raises(ReportError, match="--by: must be one of"):
        ReportQuery(0, 1, 900, "weather")

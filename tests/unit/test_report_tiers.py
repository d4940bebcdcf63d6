"""`vcc report --by tier` (SPEC §7, §8): the callers' customer tier as a grouping of contact
records, equal to the reference of test_store_reports.py and to `vcc simulate`'s by_tier
on the same simulated day; records without a tier in no row; text and --json."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from cluster.reports import ReportQuery, compute_report
from cluster.store import open_engine, upgrade
from cluster.store.journal import Journal
from cluster.store.models import ContactRecord
from cluster.store.persistence import Persistence
from cluster.store.records import Recorder
from loadtests.recorded import recorded_simulation
from loadtests.scenario import parse_scenario

from test_store_reports import check_against_reference, run

# Two hours of two queues near saturation, callers of three tiers; the traffic gives no
# priority or objective: each caller gets its tier's.
SCENARIO = """\
duration_s: 7200
seed: 3
skills:
  billing: {queueing: dqp, sl_threshold_s: 20}
  sales: {sl_threshold_s: 30}
sites:
  east:
    agents:
      - {count: 8, skills: {billing: 1, sales: 2}}
tiers:
  platinum: {priority: high, service_objective_s: 10}
  gold: {priority: medium, service_objective_s: 20}
  standard: {priority: medium, service_objective_s: 60}
customers:
  population: 1000
  tiers: {platinum: 0.1, gold: 0.3, standard: 0.6}
traffic:
  - {site: east, skill: billing, rate_per_hour: 100,
     handle_time: {dist: exponential, mean_s: 240}, patience: {dist: exponential, mean_s: 120}}
  - {site: east, skill: sales, rate_per_hour: 20,
     handle_time: {dist: exponential, mean_s: 200}}
"""
NO_TIER = "no-tier-1"       # a record added by hand, as written before revision 0005


def fill(engine) -> dict:
    """Record the day above into `engine` (migrated first), and a record without a tier;
    the simulator's own report of the day."""
    upgrade(engine)
    journal = Journal(engine)
    result = recorded_simulation(parse_scenario(SCENARIO), Persistence(journal, Recorder()))
    journal.close()
    table = ContactRecord.__table__
    with engine.begin() as connection:
        answered = dict(connection.execute(sa.select(table).where(
            table.c.answer_time.isnot(None)).limit(1)).one()._mapping)
        connection.execute(table.insert().values({**answered, "contact_id": NO_TIER,
                                                  "tier": None}))
    return result.report


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """(engine, the simulator's own report) of the day above."""
    engine = open_engine(f"sqlite:///{tmp_path_factory.mktemp('tiers')}/vcc.db")
    yield engine, fill(engine)
    engine.dispose()


def check_by_tier(engine, simulated: dict) -> None:
    """By tier: equal to the reference over 15-minute intervals, and to `vcc simulate`'s
    by_tier over the day."""
    report = check_against_reference(engine, ReportQuery(0.0, 7200.0, 900.0, "tier"))
    assert {group for group, _ in report.totals} == {"platinum", "gold", "standard"}
    totals = {group: sums.figures() for group, sums in compute_report(
        engine, ReportQuery(0.0, 86400.0, 86400.0, "tier")).totals}
    assert set(totals) == set(simulated["by_tier"])
    for tier, expected in simulated["by_tier"].items():
        mine = totals[tier]
        for name in ("offered", "answered", "abandoned"):
            assert mine[name] == expected[name], (tier, name)
        for name in ("sl_pct", "sl2_pct", "asa_s", "aht_s"):
            assert mine[name] == pytest.approx(expected[name], abs=0.01), (tier, name)
    # The tiers' objectives order their service: platinum waits least.
    assert totals["platinum"]["asa_s"] < totals["standard"]["asa_s"]


def test_by_tier_equals_the_reference_and_vcc_simulate(day):
    check_by_tier(*day)


def test_records_without_a_tier_are_in_no_tier_row(day):
    engine, simulated = day
    query = ReportQuery(0.0, 86400.0, 86400.0, "tier")
    offered = sum(sums.offered for _, sums in compute_report(engine, query).totals)
    site = compute_report(engine, ReportQuery(0.0, 86400.0, 86400.0, "site")).totals
    assert offered == simulated["contacts"]["offered"]
    assert site[0][1].offered == offered + 1          # the record without a tier


def test_the_command_text_and_json(day, capsys):
    engine, simulated = day
    url = str(engine.url)
    code, out, err = run(["--db", url, "--by", "tier", "--interval", "1h"], capsys)
    assert code == 0, err
    totals = out.split("totals")[1]
    assert "tier" in totals.splitlines()[1] and "occ. %" not in out
    rows = {line.split()[1]: line.split()[2] for line in totals.splitlines()[3:]}
    assert rows == {tier: str(figures["offered"])
                    for tier, figures in simulated["by_tier"].items()}
    code, out, err = run(["--db", url, "--by", "tier", "--interval", "1h", "--json"], capsys)
    assert code == 0, err
    document = json.loads(out)
    assert document["by"] == "tier" and document["interval_s"] == 3600.0
    by_tier = document["by_tier"]
    assert {tier: figures["offered"] for tier, figures in by_tier.items()} == {
        tier: figures["offered"] for tier, figures in simulated["by_tier"].items()}
    gold = by_tier["gold"]
    assert set(simulated["by_tier"]["gold"]) <= set(gold)        # the same field names
    assert "occupancy_pct" not in gold and "not_ready_s" not in gold
    assert sum(row["offered"] for row in document["intervals"] if row["tier"] == "gold") == \
        gold["offered"]
    # Other groupings keep their agent time in JSON.
    code, out, _ = run(["--db", url, "--by", "site", "--interval", "1d", "--json"], capsys)
    assert json.loads(out)["by_site"]["east"]["occupancy_pct"] > 0

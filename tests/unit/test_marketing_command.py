"""`vcc marketing report` and `vcc marketing ranking` (cluster/customers/marketing_command.py):
the tables printed, the CSV and PNG files, and bad options named with exit code 2."""

from __future__ import annotations

import csv
import time

import pytest
import sqlalchemy as sa

from cluster.cli import main
from cluster.customers import history
from cluster.store import open_engine, upgrade

import test_marketing_stats as stats_checks


@pytest.fixture
def url(tmp_path):
    """A store holding the outcomes of test_marketing_stats, and two of today."""
    url = f"sqlite:///{tmp_path}/vcc.db"
    engine = open_engine(url)
    upgrade(engine)
    stats_checks.load(engine)
    now = time.time()
    for contact, agent, offer in (("t1", "a3", "fibre"), ("t2", "a1", "tv")):
        history.record_outcome(engine, offer_id=offer, result="accepted", time=now,
                               agent_id=agent, contact_id=contact, order_reference="o-" + contact)
    engine.dispose()
    return url


def lines_of(text: str) -> dict:
    """{first cell: the other cells} of the lines of a printed table."""
    return {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}


def test_report_by_agent_with_csv_and_png(url, tmp_path, capsys):
    table, png = tmp_path / "agents.csv", tmp_path / "agents.png"
    assert main(["marketing", "report", "--db", url, "--until", "2026-03-04",
                 "--csv", str(table), "--png", str(png)]) == 0
    printed = lines_of(capsys.readouterr().out)
    # eligible, presented, accepted, presentation %, success %, revenue, commission
    assert printed["a1"] == ["4", "3", "1", "75.0", "33.3", "50.00", "5.00"]
    assert printed["a2"] == ["3", "2", "2", "66.7", "100.0", "40.00", "6.00"]
    assert printed["(none)"] == ["1", "1", "0", "100.0", "0.0", "0.00", "0.00"]
    assert printed["total"] == ["9", "7", "4", "77.8", "57.1", "110.00", "14.00"]
    with open(table, newline="", encoding="utf-8") as handle:
        rows = {row["agent"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == ["", "a1", "a2", "a3"]
    assert (rows["a1"]["eligible"], rows["a1"]["revenue_cents"],
            rows["a1"]["commission_cents"]) == ("4", "5000", "500")
    assert float(rows["a1"]["presentation_rate"]) == 0.75
    from matplotlib import image

    picture = image.imread(str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.shape[0] > 300


def test_report_by_period_in_a_time_zone(url, tmp_path, capsys):
    table = tmp_path / "days.csv"
    assert main(["marketing", "report", "--db", url, "--by", "period", "--interval", "1d",
                 "--tz", "America/Los_Angeles", "--until", "2026-03-04",
                 "--csv", str(table)]) == 0
    printed = lines_of(capsys.readouterr().out)
    assert printed["2026-03-02"][:3] == ["5", "3", "2"]
    assert printed["2026-03-03"][:3] == ["4", "4", "2"]
    with open(table, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["period"], float(row["period_start_s"])) for row in rows] == [
        ("2026-03-02", stats_checks.D1 + 8 * 3600), ("2026-03-03", stats_checks.D2 + 8 * 3600)]
    assert main(["marketing", "report", "--db", url, "--by", "product",
                 "--since", "2026-03-03T00:00:00Z", "--until", "2026-03-04"]) == 0
    printed = lines_of(capsys.readouterr().out)
    assert printed["tv"][:3] == ["2", "2", "2"] and printed["mobile"][:3] == ["1", "1", "0"]


def test_ranking_today_and_to_date(url, capsys):
    assert main(["marketing", "ranking", "--db", url, "--tz", "UTC"]) == 0
    out = capsys.readouterr().out
    today, to_date = out.split("to date")
    # Today: a3 sold fibre (commission 5.00), a1 a tv (3.00).
    assert [line.split()[:2] for line in today.splitlines()[3:5]] == [["1", "a3"], ["2", "a1"]]
    # To date: a1 and a3 both sold a fibre and a tv (8.00, 2 accepted): tied first; a2 6.00.
    ranked = [line.split() for line in to_date.splitlines()[3:6]]
    assert [row[:2] for row in ranked] == [["1", "a1"], ["1", "a3"], ["3", "a2"]]
    assert ranked[0][-1] == "8.00" and ranked[2][-1] == "6.00"


@pytest.mark.parametrize("arguments, message", [
    (["report", "--interval", "7h"], "vcc marketing report: --interval: must be whole days"),
    (["report", "--interval", "soon"], "argument --interval: must be a duration"),
    (["report", "--tz", "Mars/Olympus"], "argument --tz: unknown time zone 'Mars/Olympus'"),
    (["report", "--since", "yesterday"], "argument --since: must be seconds or an ISO time"),
    (["report", "--since", "2026-03-03", "--until", "2026-03-02"],
     "vcc marketing report: --until: must be after --since"),
    (["report", "--by", "caller"], "argument --by: invalid choice: 'caller'"),
    (["report", "--png", "chart.jpg"], "vcc marketing report: --png: the chart is a PNG file"),
    (["ranking", "--tz", "Nowhere"], "argument --tz: unknown time zone 'Nowhere'"),
])
def test_bad_options_are_named(url, capsys, arguments, message):
    try:
        code = main(["marketing", *arguments, "--db", url])
    except SystemExit as exit_:         # argparse's own refusals
        code = exit_.code
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["report", "ranking"])
def test_a_database_without_marketing_data_is_refused(tmp_path, capsys, command):
    missing = tmp_path / "missing.db"
    assert main(["marketing", command, "--db", f"sqlite:///{missing}"]) == 2
    assert f"vcc marketing {command}: --db: no such database file" in capsys.readouterr().err
    assert not missing.exists()                 # a report never creates a database
    other = tmp_path / "other.db"
    with open_engine(f"sqlite:///{other}").begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    assert main(["marketing", command, "--db", f"sqlite:///{other}"]) == 2
    assert "holds no marketing data" in capsys.readouterr().err

"""`vcc report --by service|dnis` over `vcc simulate --db` of the example IVR center
(loadtests/examples/ivr_center.yaml): what the database counts from the contact records
agrees with what the simulator saw (SPEC §10 `by_service`), and the care service's SL and
ASA count each caller's wait from its plan's first queue step, as the simulator does."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import pathlib

import pytest

from cluster.cli import main as vcc
from loadtests.scenario import load_scenario
from loadtests.simulator import Simulation

EXAMPLE = str(pathlib.Path(__file__).parents[2] / "loadtests" / "examples" / "ivr_center.yaml")
# The simulator's by_service figures the report must reproduce exactly.
COUNTED = ("offered", "self_served", "to_agent", "answered", "abandoned_ivr",
           "abandoned_queue", "busy", "callbacks")


def run(argv) -> tuple[int, str]:
    """`vcc ARGV` -> (exit code, what it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = vcc(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """(database URL, the simulator's --json report, a folder for outputs)."""
    folder = tmp_path_factory.mktemp("ivr_reports")
    url = f"sqlite:///{folder / 'ivr.db'}"
    code, out = run(["simulate", EXAMPLE, "--db", url, "--json", "--no-progress"])
    assert code == 0
    return url, json.loads(out), folder


def report_totals(simulated, by: str) -> dict:
    """{group: CSV total row} of `vcc report --by BY` over the whole run, daily."""
    url, _, folder = simulated
    path = folder / f"{by}.csv"
    code, out = run(["report", "--db", url, "--by", by, "--interval", "1d", "--csv", str(path)])
    assert code == 0
    with open(path, newline="") as handle:
        return {row["group"]: row for row in csv.DictReader(handle)
                if row["interval"] == "total"}


def test_by_service_counts_what_the_simulator_counted(simulated):
    expected = simulated[1]["by_service"]
    totals = report_totals(simulated, "service")
    assert set(totals) == set(expected) == {"care", "sales_line"}
    for service, figures in expected.items():
        row = totals[service]
        assert {name: int(row[name]) for name in COUNTED} == {
            name: figures[name] for name in COUNTED}, service
        assert int(row["abandoned"]) == figures["abandoned_ivr"] + figures["abandoned_queue"]
        assert float(row["self_served_pct"]) == pytest.approx(
            100.0 * figures["self_served"] / figures["offered"])
    # The run has every kind of caller the report tells apart (else it proves little).
    care = expected["care"]
    assert all(care[name] for name in ("self_served", "abandoned_ivr", "abandoned_queue",
                                       "callbacks"))


def test_by_dnis_is_by_service_on_this_center(simulated):
    """Each number is its own service here: the rows are the same, under the numbers."""
    scenario = load_scenario(EXAMPLE)
    by_service = report_totals(simulated, "service")
    by_dnis = report_totals(simulated, "dnis")
    assert set(by_dnis) == set(scenario.plans.entry_points)
    for dnis, row in by_dnis.items():
        service_row = by_service[scenario.plans.entry_points[dnis].service]
        assert {key: value for key, value in row.items() if key != "group"} == {
            key: value for key, value in service_row.items() if key != "group"}


def test_care_waits_count_from_the_first_queue_step(simulated):
    """SL and ASA of the care service equal those of the simulator's own records (same
    seed), the wait of each counted from its plan's first queue step, not from the call's
    arrival (which would make the ASA longer by the time in the IVR)."""
    scenario = load_scenario(EXAMPLE)
    result = Simulation(scenario).run()
    assert result.report["by_service"] == simulated[1]["by_service"]     # the same run
    care = [record for record in result.records if record.stream.dnis == "8005550100"
            and record.answer_time is not None]
    waits = [record.answer_time - record.wait_from for record in care]
    within = sum(wait <= scenario.skills[record.skill].sl_threshold_s
                 for wait, record in zip(waits, care))
    row = report_totals(simulated, "service")["care"]
    assert float(row["asa_s"]) == pytest.approx(sum(waits) / len(waits), abs=1e-9)
    assert float(row["sl_pct"]) == pytest.approx(100.0 * within / len(care), abs=1e-9)
    from_arrival = sum(record.answer_time - record.arrival_time for record in care) / len(care)
    assert from_arrival > float(row["asa_s"]) + 5.0       # the IVR's part: announce, menu


def test_the_table_shows_the_callers_outcomes(simulated):
    url = simulated[0]
    code, out = run(["report", "--db", url, "--by", "service", "--interval", "1d"])
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("interval"))
    for column in ("self-served", "SS %", "IVR ab.", "queue ab.", "busy", "callbacks",
                   "routed out", "voicemail", "disc."):
        assert column in header
    assert "occ. %" not in header                    # agents serve skills, not services
    code, out = run(["report", "--db", url, "--by", "skill", "--interval", "1d"])
    assert code == 0 and "self-served" not in out
    skills = {line.split()[1] for line in out.split("totals")[1].splitlines()[3:] if line}
    assert skills == {"billing", "billing_backup", "sales"}     # no row "" of the IVR's

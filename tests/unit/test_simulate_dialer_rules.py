"""`vcc simulate` with the rules of SPEC §6 besides pacing: call windows from a calendar in
each callee's time zone (the row's, else the number's prefix), across a daylight-saving
change; the global and the campaign's do-not-call lists; the keys checked with file, line and
key, numbers masked in every error."""

from __future__ import annotations

import datetime as dt

import pytest

from loadtests.scenario import ScenarioError, load_scenario
from loadtests.simulator import Simulation
from sites.dialer.decisions import Dial

UTC = dt.timezone.utc
# Saturday 7 March 2026 02:00 UTC (Friday 21:00 in New York: closed); the US moves to summer
# time on Sunday 8 March, Europe on 29 March.
START = dt.datetime(2026, 3, 7, 2, tzinfo=UTC)

SCENARIO = """\
duration_s: 259200
seed: 5
start: 2026-03-07T02:00:00Z
calendars:
  callable:
    timezone: Asia/Tokyo          # the center's; windows are read in the callee's zone
    weekly: {mon-fri: "09:00-20:00"}
skills:
  dial: {sl_threshold_s: 2}
sites:
  east:
    agents:
      - {count: 4, skills: {dial: 1}, channels: {outbound: 1}}
do_not_call: {file: global_dnc.csv}
campaigns:
  renewals:
    site: east
    skill: dial
    mode: progressive
    call_window: callable
    do_not_call: {file: renewals_dnc.csv}
    list: {file: renewals.csv}
    outcomes: {live: 0.5, no_answer: 0.5}
    answer_delay_s: {dist: constant, mean_s: 5}
    handle_time: {dist: constant, mean_s: 60}
"""
# b*: Berlin by prefix (+49 30); n*: New York by the row's zone; u1: a number of no zone
# (international freephone +800); the lists hold b3 (the campaign's) and n2 (global, written
# another way).
ROWS = """id,phone,timezone
b1,+4930901820,
n1,+12025550101,America/New_York
b2,+4930901821,
n2,+12025550102,America/New_York
u1,+80012345678,
b3,+4930901822,
n3,+12025550103,America/New_York
"""


def write(tmp_path, scenario=SCENARIO, rows=ROWS, global_dnc="phone\n+1 202 555 0102\n",
          campaign_dnc="phone\n+4930901822\n"):
    (tmp_path / "renewals.csv").write_text(rows)
    (tmp_path / "global_dnc.csv").write_text(global_dnc)
    (tmp_path / "renewals_dnc.csv").write_text(campaign_dnc)
    path = tmp_path / "c.yaml"
    path.write_text(scenario)
    return str(path)


def test_records_are_dialled_only_in_their_window_and_never_from_the_lists(tmp_path):
    simulation = Simulation(load_scenario(write(tmp_path)))
    run = simulation.campaigns["renewals"]
    handle, dials = run.campaign.handle, []

    def recording(event):
        decisions = handle(event)
        dials.extend((event.time, decision.record_id) for decision in decisions
                     if type(decision) is Dial)
        return decisions

    run.campaign.handle = recording
    result = simulation.run()
    figures = result.report["campaigns"]["renewals"]
    first = {record: START + dt.timedelta(seconds=time) for time, record in reversed(dials)}
    # Nothing on the weekend; Monday 9 March 09:00 in Berlin (CET, UTC+1) is 08:00 UTC, in
    # New York (EDT since Sunday, UTC-4) 13:00 UTC, not 14:00 as a week before.
    monday = dt.datetime(2026, 3, 9, tzinfo=UTC)
    assert {record: at - monday for record, at in first.items()} == {
        "b1": dt.timedelta(hours=8), "b2": dt.timedelta(hours=8),
        "n1": dt.timedelta(hours=13), "n3": dt.timedelta(hours=13)}
    assert figures["skipped_do_not_call"] == 2 and figures["skipped_unknown_zone"] == 1
    assert figures["attempts"] == 4 and figures["list_dialled"] == 4
    assert result.report["contacts"]["lost"] == 0


@pytest.mark.parametrize("old, new, key, problem", [
    ("call_window: callable", "call_window: office", "campaigns.renewals.call_window",
     "unknown calendar 'office'"),
    ("list: {file: renewals.csv}", "list: {size: 10}", "campaigns.renewals.list.timezone",
     "required with a call_window"),
    ("list: {file: renewals.csv}", "list: {size: 10, timezone: Mars/Base}",
     "campaigns.renewals.list.timezone", "unknown time zone"),
    ("list: {file: renewals.csv}", "list: {file: renewals.csv, timezone: Europe/Paris}",
     "campaigns.renewals.list.timezone", "only with size"),
    ("do_not_call: {file: renewals_dnc.csv}", "do_not_call: {path: x.csv}",
     "campaigns.renewals.do_not_call.path", "unknown key"),
    ("do_not_call: {file: global_dnc.csv}", "do_not_call: {file: nowhere.csv}",
     "do_not_call.file", "No such file"),
])
def test_bad_keys_are_refused_naming_file_line_and_key(tmp_path, old, new, key, problem):
    assert old in SCENARIO
    with pytest.raises(ScenarioError) as error:
        load_scenario(write(tmp_path, SCENARIO.replace(old, new)))
    assert error.value.key == key and problem in error.value.problem, error.value


def test_a_bad_number_on_a_list_is_refused_with_its_file_line_and_column_masked(tmp_path):
    with pytest.raises(ScenarioError) as error:
        load_scenario(write(tmp_path, campaign_dnc="phone\n+4930901822\n4930901823\n"))
    assert error.value.path.endswith("renewals_dnc.csv") and error.value.line == 3
    assert error.value.key == "campaigns.renewals.do_not_call.file"
    assert error.value.problem.startswith("phone: ") and "4930901823" not in str(error.value)


def test_a_global_list_without_campaigns_is_refused(tmp_path):
    text = SCENARIO[:SCENARIO.index("campaigns:")] + (
        "traffic:\n  - {site: east, skill: dial, rate_per_hour: 10, "
        "handle_time: {dist: constant, mean_s: 60}}\n")
    text = text.replace("channels: {outbound: 1}", "channels: {voice: 1}")
    with pytest.raises(ScenarioError) as error:
        load_scenario(write(tmp_path, text))
    assert error.value.key == "do_not_call" and "define campaigns" in error.value.problem

"""Traffic traces (issue 7): generator statistics, CSV <-> JSONL round trips, strict reading
with file:line:column errors, CDR import, and the simulator replaying a trace.

Statistical tolerances are 4 standard errors of the quantity under test: the chance that a
correct generator fails one such check is about 6 in 100,000 (normal approximation; with
N in the thousands it is a good one), and a generator whose rate or mean is off by a few
percent fails it. The seeds are fixed, so the tests are deterministic anyway; the bound
says why a pass means something.
"""

import collections
import json
import math
import pathlib

import pytest

from cluster.cli import main as vcc
from cluster.config import parse_config
from loadtests.scenario import ScenarioError, load_scenario, parse_scenario
from loadtests.simulator import Simulation
from loadtests.trace import (COLUMNS, TraceContact, TraceError, arrivals_of, center_scenario,
                             generate_trace, import_cdr, load_mapping, objective_resolver,
                             parse_trace, read_trace, write_trace)
from sites.model import Channel, Priority

TRACES = pathlib.Path(__file__).parents[2] / "loadtests" / "traces"
EXAMPLES = pathlib.Path(__file__).parents[2] / "loadtests" / "examples"

ONE_STREAM = """\
duration_s: 3600
seed: 3
skills:
  billing: {sl_threshold_s: 20}
sites:
  east:
    agents:
      - {count: 10, skills: {billing: 1}}
traffic:
  - {site: east, skill: billing, rate_per_hour: 3600, priority: medium,
     handle_time: {dist: exponential, mean_s: 180},
     patience: {dist: exponential, mean_s: 60}}
"""


def four_se(n: int) -> float:
    return 4.0 * math.sqrt(n)


def test_poisson_rate_and_exponential_means():
    contacts = generate_trace(parse_scenario(ONE_STREAM), seed=1)
    # Poisson count over the hour: mean 3600, standard deviation 60.
    assert abs(len(contacts) - 3600) <= four_se(3600)
    n = len(contacts)
    # Exponential: standard deviation = mean, so SE = mean / sqrt(n).
    handle = sum(c.handle_time_s for c in contacts) / n
    assert abs(handle - 180.0) <= 4 * 180.0 / math.sqrt(n)
    patience = sum(c.patience_s for c in contacts) / n
    assert abs(patience - 60.0) <= 4 * 60.0 / math.sqrt(n)
    # Inter-arrival gaps of a Poisson process are exponential with mean 1 s.
    gaps = [b.arrival_s - a.arrival_s for a, b in zip(contacts, contacts[1:])]
    assert abs(sum(gaps) / len(gaps) - 1.0) <= 4 * 1.0 / math.sqrt(len(gaps)) + 0.001
    assert [c.arrival_s for c in contacts] == sorted(c.arrival_s for c in contacts)
    assert len({c.contact_id for c in contacts}) == n
    assert all(0 <= c.arrival_s < 3600 for c in contacts)


def test_lognormal_constant_and_tier_mix(tmp_path):
    text = ONE_STREAM.replace(
        "traffic:\n", "traffic:\n"
        "  - {site: east, skill: billing, rate_per_hour: 1200, priority: top,\n"
        "     service_objective_s: 5, handle_time: {dist: constant, mean_s: 42}}\n").replace(
        "handle_time: {dist: exponential, mean_s: 180}",
        "handle_time: {dist: lognormal, mean_s: 300, sigma: 0.5}")
    contacts = generate_trace(parse_scenario(text), seed=2)
    top = [c for c in contacts if c.priority is Priority.TOP]
    medium = [c for c in contacts if c.priority is Priority.MEDIUM]
    # Tier mix: a contact is top with probability 1200 / 4800 = 0.25 (binomial SE).
    n = len(contacts)
    assert abs(len(top) / n - 0.25) <= 4 * math.sqrt(0.25 * 0.75 / n)
    assert {c.handle_time_s for c in top} == {42.0}
    assert {c.service_objective_s for c in top} == {5.0}
    assert {c.service_objective_s for c in medium} == {20.0}     # the skill's threshold
    assert all(c.patience_s is None for c in top)                 # never abandons
    # Lognormal of mean 300, sigma 0.5: sd = mean * sqrt(exp(sigma^2) - 1).
    sd = 300.0 * math.sqrt(math.exp(0.25) - 1.0)
    mean = sum(c.handle_time_s for c in medium) / len(medium)
    assert abs(mean - 300.0) <= 4 * sd / math.sqrt(len(medium))


def test_empirical_distribution_from_a_file(tmp_path):
    (tmp_path / "talk.txt").write_text("# seconds\n60\n120\n\n300  # long one\n")
    scenario_path = tmp_path / "s.yaml"
    scenario_path.write_text(ONE_STREAM.replace(
        "handle_time: {dist: exponential, mean_s: 180}",
        "handle_time: {dist: empirical, file: talk.txt}"))
    contacts = generate_trace(load_scenario(str(scenario_path)), seed=4)
    values = [c.handle_time_s for c in contacts]
    assert set(values) == {60.0, 120.0, 300.0}
    # Uniform over the three values: mean 160, sd sqrt(((100^2)+(40^2)+(140^2))/3).
    sd = math.sqrt((100 ** 2 + 40 ** 2 + 140 ** 2) / 3)
    assert abs(sum(values) / len(values) - 160.0) <= 4 * sd / math.sqrt(len(values))


def test_bad_empirical_file_names_its_line(tmp_path):
    (tmp_path / "talk.txt").write_text("60\nabc\n")
    scenario_path = tmp_path / "s.yaml"
    scenario_path.write_text(ONE_STREAM.replace(
        "handle_time: {dist: exponential, mean_s: 180}",
        "handle_time: {dist: empirical, file: talk.txt}"))
    with pytest.raises(ScenarioError) as error:
        load_scenario(str(scenario_path))
    assert str(error.value).startswith(f"{tmp_path / 'talk.txt'}:2: traffic[0].handle_time.file:")
    scenario_path.write_text(ONE_STREAM.replace(
        "handle_time: {dist: exponential, mean_s: 180}",
        "handle_time: {dist: empirical, file: talk.txt, mean_s: 3}"))
    with pytest.raises(ScenarioError, match=r"s.yaml:\d+: traffic\[0\].handle_time.mean_s"):
        load_scenario(str(scenario_path))


def test_intraday_profile_shapes_the_rate():
    text = ONE_STREAM.replace("duration_s: 3600", "duration_s: 7200") + \
        "profile: {interval_s: 1800, weights: [1, 3]}\n"
    contacts = generate_trace(parse_scenario(text), seed=5)
    # Interval k has rate 3600/h x weight; the profile repeats after two intervals.
    expected = {0: 1800, 1: 5400, 2: 1800, 3: 5400}
    for interval, mean in expected.items():
        count = sum(1 for c in contacts if int(c.arrival_s // 1800) == interval)
        assert abs(count - mean) <= four_se(mean), (interval, count)


@pytest.mark.parametrize("problem, key", [
    ("profile: {interval_s: 0, weights: [1]}", "profile.interval_s"),
    ("profile: {interval_s: 60, weights: []}", "profile.weights"),
    ("profile: {interval_s: 60, weights: [1, -2]}", "profile.weights"),
    ("profile: {interval_s: 60, weights: [1], shape: x}", "profile.shape"),
])
def test_bad_profile_names_the_key(problem, key):
    with pytest.raises(ScenarioError) as error:
        parse_scenario(ONE_STREAM + problem + "\n", "s.yaml")
    assert f"s.yaml:13: {key}:" in str(error.value)


def test_same_seed_same_trace():
    scenario = parse_scenario(ONE_STREAM)
    assert generate_trace(scenario, seed=9) == generate_trace(scenario, seed=9)
    assert generate_trace(scenario, seed=9) != generate_trace(scenario, seed=10)


def contact(**changes):
    fields = dict(arrival_s=1.5, contact_id="c1", ani="+15551234567", site="east", dnis="800",
                  skill="billing", priority=Priority.HIGH, service_objective_s=None,
                  channel=Channel.VOICE, handle_time_s=120.25, patience_s=None, data={})
    fields.update(changes)
    return TraceContact(**fields)


def test_round_trip_csv_jsonl(tmp_path):
    contacts = generate_trace(load_scenario(str(EXAMPLES / "sample_day.yaml")))[:200]
    contacts += [
        contact(arrival_s=99999.0, contact_id="odd, \"quoted\"", dnis="",
                data={"note": "comma, quote \" and ünïcode", "empty": ""}),
        contact(arrival_s=99999.0, contact_id="c2", ani="", patience_s=0.0,
                service_objective_s=7.5, channel=Channel.CHAT, priority=Priority.LOW)]
    write_trace(tmp_path / "a.csv", contacts)
    from_csv = read_trace(tmp_path / "a.csv")
    assert from_csv == contacts
    write_trace(tmp_path / "b.jsonl", from_csv)
    from_jsonl = read_trace(tmp_path / "b.jsonl")
    assert from_jsonl == contacts
    write_trace(tmp_path / "c.csv", from_jsonl)
    assert (tmp_path / "c.csv").read_bytes() == (tmp_path / "a.csv").read_bytes()
    assert (tmp_path / "a.csv").read_text().splitlines()[0] == ",".join(COLUMNS)


def test_card_numbers_are_masked_when_written_and_read(tmp_path):
    card = "4111 1111 1111 1111"
    write_trace(tmp_path / "t.jsonl", [contact(ani=card, data={"said": f"card {card}"})])
    text = (tmp_path / "t.jsonl").read_text()
    assert card not in text and "4111 11** **** 1111" in text
    (tmp_path / "raw.csv").write_text(
        ",".join(COLUMNS) + "\n"
        f'0,c1,{card},east,,billing,medium,,voice,60,,"{{""x"":""{card}""}}",\n')
    (read,) = read_trace(tmp_path / "raw.csv")
    assert read.ani == "4111 11** **** 1111" and read.data["x"] == "4111 11** **** 1111"


HEADER = ",".join(COLUMNS)
GOOD_ROW = "0.5,c1,+1555,east,800,billing,medium,20,voice,60,30,{},"


@pytest.mark.parametrize("text, line, column", [
    (HEADER + "\n" + GOOD_ROW.replace("0.5", "soon"), 2, "arrival_s"),
    (HEADER + "\n" + GOOD_ROW + "\n" + GOOD_ROW.replace("c1", "c2").replace("0.5", "0.4"),
     3, "arrival_s"),
    (HEADER + "\n" + GOOD_ROW + "\n" + GOOD_ROW, 3, "contact_id"),
    (HEADER + "\n" + GOOD_ROW.replace("medium", "urgent"), 2, "priority"),
    (HEADER + "\n" + GOOD_ROW.replace("voice", "pigeon"), 2, "channel"),
    (HEADER + "\n" + GOOD_ROW.replace(",20,", ",0,"), 2, "service_objective_s"),
    (HEADER + "\n" + GOOD_ROW.replace(",60,", ",-1,"), 2, "handle_time_s"),
    (HEADER + "\n" + GOOD_ROW.replace(",30,", ",nan,"), 2, "patience_s"),
    (HEADER + "\n" + GOOD_ROW.replace(",east,", ",,"), 2, "site"),
    (HEADER + "\n" + GOOD_ROW.replace("{}", '"[1]"'), 2, "data"),
    # A dialled contact (dnis, no skill) leaves priority to its plan; caller text is strict.
    (HEADER + "\n" + GOOD_ROW.replace(",billing,", ",,"), 2, "priority"),
    (HEADER + "\n" + GOOD_ROW.replace(",800,billing,", ",,,"), 2, "skill"),
    (HEADER + "\n" + GOOD_ROW.replace(",billing,medium,20,", ",,,,") + "choice=2;oops",
     2, "caller"),
    (HEADER + "\n" + GOOD_ROW.replace(",billing,medium,20,", ",,,,") + "callback=2",
     2, "caller"),
    (HEADER + "\n" + GOOD_ROW + "callback=1", 2, "caller"),
    (HEADER + "\n" + GOOD_ROW.replace("{}", '"{""a"": 1}"'), 2, "data"),
    (HEADER + "\n" + GOOD_ROW + ",extra", 2, "(row)"),
    (HEADER.replace("channel", "medium"), 1, "medium"),
    (HEADER.replace(",skill", ""), 1, "skill"),
])
def test_bad_csv_rows_name_file_line_and_column(text, line, column):
    with pytest.raises(TraceError) as error:
        parse_trace(text + "\n", "day.csv")
    assert str(error.value).startswith(f"day.csv:{line}: {column}: "), str(error.value)


def good_json(**changes):
    record = {"arrival_s": 0.5, "contact_id": "c1", "site": "east", "skill": "billing",
              "priority": "medium", "channel": "voice", "handle_time_s": 60}
    record.update(changes)
    return json.dumps({k: v for k, v in record.items() if v is not ...})


@pytest.mark.parametrize("text, line, column", [
    (good_json() + "\n" + good_json(contact_id="c2", arrival_s="1"), 2, "arrival_s"),
    (good_json(handle_time_s=...), 1, "handle_time_s"),
    (good_json(colour="red"), 1, "colour"),
    (good_json(data={"a": 1}), 1, "data"),
    (good_json(patience_s=True), 1, "patience_s"),
    ("\n" + good_json() + "\n{not json", 3, "(row)"),
    ("[1, 2]", 1, "(row)"),
])
def test_bad_jsonl_rows_name_file_line_and_key(text, line, column):
    with pytest.raises(TraceError) as error:
        parse_trace(text + "\n", "day.jsonl")
    assert str(error.value).startswith(f"day.jsonl:{line}: {column}: "), str(error.value)


def test_cli_generate_check_and_bad_input(tmp_path, capsys):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(ONE_STREAM.replace("duration_s: 3600", "duration_s: 60"))
    assert vcc(["trace", "generate", str(scenario), "-o", str(tmp_path / "t.jsonl"),
                "--seed", "3"]) == 0
    assert vcc(["trace", "check", str(tmp_path / "t.jsonl")]) == 0
    assert "contacts over" in capsys.readouterr().out
    (tmp_path / "bad.csv").write_text(HEADER + "\n" + GOOD_ROW.replace("medium", "urgent") + "\n")
    assert vcc(["trace", "check", str(tmp_path / "bad.csv")]) == 2
    assert f"{tmp_path / 'bad.csv'}:2: priority:" in capsys.readouterr().err
    assert vcc(["trace", "generate", str(scenario), "-o", str(tmp_path / "t.txt")]) == 2
    assert "t.txt: (file): a trace file ends in .csv or .jsonl" in capsys.readouterr().err
    scenario.write_text(ONE_STREAM.replace("rate_per_hour: 3600", "rate_per_hour: fast"))
    assert vcc(["trace", "generate", str(scenario), "-o", str(tmp_path / "u.csv")]) == 2
    assert "s.yaml:10: traffic[0].rate_per_hour:" in capsys.readouterr().err
    # The live client refuses a bad trace before it connects anywhere (port 1: nothing).
    assert vcc(["loadtest", str(tmp_path / "bad.csv"), "--target", "127.0.0.1:1",
                "--no-progress"]) == 2
    assert f"{tmp_path / 'bad.csv'}:2: priority:" in capsys.readouterr().err


CDR = """\
call_id,start,caller,queue,tier,talk,gave_up_after,account,entry
A-7,2024-03-01T09:00:05,+15550001111,Q100,Gold,200,,12345,east
A-8,2024-03-01T09:00:01,+15550002222,Q200,Std,90,12.5,4111111111111111,west
A-9,2024-03-01T09:01:00,+15550003333,Q100,,45,,,east
"""
MAPPING = """\
columns:
  arrival: start
  contact_id: call_id
  ani: caller
  site: entry
  skill: queue
  priority: tier
  handle_time_s: talk
  patience_s: gave_up_after
time_format: iso
values: {skill: {Q100: billing, Q200: sales}, priority: {Gold: high, Std: medium}}
data: [account]
"""


def test_cdr_import(tmp_path, capsys):
    (tmp_path / "cdr.csv").write_text(CDR)
    (tmp_path / "map.yaml").write_text(MAPPING)
    contacts = import_cdr(tmp_path / "cdr.csv", load_mapping(tmp_path / "map.yaml"))
    assert [(c.contact_id, c.arrival_s, c.skill, c.priority, c.patience_s) for c in contacts] == [
        ("A-8", 0.0, "sales", Priority.MEDIUM, 12.5),
        ("A-7", 4.0, "billing", Priority.HIGH, None),
        ("A-9", 59.0, "billing", Priority.MEDIUM, None)]
    assert contacts[0].data == {"account": "411111******1111"}      # masked (SPEC §9)
    assert vcc(["trace", "import", str(tmp_path / "cdr.csv"), "--mapping",
                str(tmp_path / "map.yaml"), "-o", str(tmp_path / "t.csv")]) == 0
    assert read_trace(tmp_path / "t.csv") == contacts
    # A bad CDR row names the CDR file, its line and the CDR's own column.
    (tmp_path / "cdr.csv").write_text(CDR.replace(",45,", ",long,"))
    assert vcc(["trace", "import", str(tmp_path / "cdr.csv"), "--mapping",
                str(tmp_path / "map.yaml"), "-o", str(tmp_path / "t.csv")]) == 2
    assert f"{tmp_path / 'cdr.csv'}:4: talk: must be a number" in capsys.readouterr().err
    (tmp_path / "map.yaml").write_text(MAPPING.replace("ani: caller", "ani: who"))
    with pytest.raises(TraceError, match=r"map.yaml: columns.ani: column 'who' is not in"):
        import_cdr(tmp_path / "cdr.csv", load_mapping(tmp_path / "map.yaml"))
    (tmp_path / "map.yaml").write_text(MAPPING.replace("time_format: iso", "time_format: iso\n"
                                                                           "colour: red"))
    with pytest.raises(TraceError, match=r"map.yaml:\d+: colour: unknown key"):
        load_mapping(tmp_path / "map.yaml")


def test_bundled_traces_are_valid_and_match_the_bundled_config():
    config = parse_config((pathlib.Path(__file__).parents[2] / "cluster" / "configs"
                           / "two_sites.yaml").read_text())
    sample = read_trace(TRACES / "sample_day.csv")
    assert 300 <= len(sample) <= 1000
    assert {c.site for c in sample} == set(config.sites) == {"east", "west"}
    assert {c.skill for c in sample} <= set(config.skills)
    busy = read_trace(TRACES / "busy_hour_two_sites.csv")
    assert busy[-1].arrival_s <= 3600 and {c.site for c in busy} == {"east", "west"}
    # Drawn by `vcc trace generate` from the example scenarios (loadtests/traces/README.md).
    assert generate_trace(load_scenario(str(EXAMPLES / "busy_hour_two_sites.yaml"))) == busy
    assert generate_trace(load_scenario(str(EXAMPLES / "sample_day.yaml"))) == sample


def test_simulator_replays_a_trace_exactly():
    config = parse_config((EXAMPLES / "busy_hour_two_sites.yaml").read_text())
    contacts = read_trace(TRACES / "busy_hour_two_sites.csv")[:300]
    scenario = center_scenario(config, contacts)
    objective = objective_resolver(config.skills, config.service_objectives)
    result = Simulation(scenario, arrivals=arrivals_of(scenario, contacts, objective)).run()
    assert result.report["contacts"]["offered"] == 300
    assert result.report["contacts"]["lost"] == 0
    by_id = {record.contact_id: record for record in result.records}
    assert set(by_id) == {c.contact_id for c in contacts}
    for c in contacts:
        record = by_id[c.contact_id]
        assert record.arrival_time == c.arrival_s
        if record.answer_time is not None:
            assert record.talk_s == c.handle_time_s
        if c.patience_s is None:
            assert record.final_state.value == "completed"
    again = Simulation(scenario, arrivals=arrivals_of(scenario, contacts, objective)).run()
    assert again.report["by_class"] == result.report["by_class"]


def test_dialled_traffic_draws_its_callers_decisions_reproducibly_by_seed(tmp_path):
    """A `dnis:` traffic entry gives dialled contacts (no skill or priority: the plan
    decides) with a `caller` column: the caller model's decisions, drawn per contact."""
    from loadtests.scenario import load_scenario
    scenario = load_scenario("loadtests/examples/ivr_center.yaml")
    contacts = generate_trace(scenario, seed=3)
    assert contacts == generate_trace(scenario, seed=3)
    assert [c.caller for c in contacts] != [c.caller for c in generate_trace(scenario, seed=4)]
    care = [c for c in contacts if c.dnis == "8005550100"]
    sales = [c for c in contacts if c.dnis == "8005550199"]
    assert care and sales and len(care) + len(sales) == len(contacts)
    assert all(c.dialled and c.skill == "" and c.priority is None for c in contacts)
    # Shares near the model's (0.6/0.2/0.15 keyed, 0.5 accept, 0.7 done) over ~300 callers.
    keyed = collections.Counter(c.caller.keyed("choice") for c in care)
    assert abs(keyed["1"] / len(care) - 0.6) < 0.1 and abs(keyed[""] / len(care) - 0.05) < 0.05
    assert abs(sum(c.caller.accepts_callback for c in care) / len(care) - 0.5) < 0.1
    assert abs(sum(c.caller.completes_self_service for c in care) / len(care) - 0.7) < 0.1
    # The sales line has no caller model: the defaults (keys nothing, declines, is done).
    assert {c.caller.text() for c in sales} == {"callback=0;self_done=1"}
    write_trace(tmp_path / "d.csv", contacts)
    header, first = (tmp_path / "d.csv").read_text().splitlines()[:2]
    assert header.endswith(",data,caller")
    assert first.endswith(contacts[0].caller.text()) and ",,,,voice," in first
    assert read_trace(tmp_path / "d.csv") == contacts
    write_trace(tmp_path / "d.jsonl", contacts)
    assert read_trace(tmp_path / "d.jsonl") == contacts


def test_a_trace_without_the_caller_column_still_reads():
    old_header = HEADER.removesuffix(",caller")
    (contact_read,) = parse_trace(old_header + "\n" + GOOD_ROW.removesuffix(",") + "\n",
                                  "old.csv")
    assert contact_read.caller is None and contact_read.skill == "billing"

"""Scenario files (SPEC §5): defaults, and bad files rejected with file, line and key."""

import json
import pathlib

import pytest

from cluster.cli import main as vcc
from loadtests.scenario import ScenarioError, load_scenario, parse_scenario
from sites.model import Channel, Priority

EXAMPLES = sorted((pathlib.Path(__file__).parents[2] / "loadtests" / "examples").glob("*.yaml"))

# SPEC §5's minimal shape, verbatim.
SPEC_EXAMPLE = """\
duration_s: 3600          # simulated (or replayed) length of traffic
seed: 7
skills:
  billing: {queueing: dqp, sl_threshold_s: 20, agent_selection: longest_idle}
sites:
  east:
    agents:
      - {count: 20, skills: {billing: 1}, channels: {voice: 1}, wrap_up_s: 0}
  west:
    agents:
      - {count: 20, skills: {billing: 1}}
routing: {multisite: bsr, adjust_by: 10}       # or {multisite: local}
traffic:
  - {site: east, skill: billing, rate_per_hour: 1200, priority: medium,
     service_objective_s: 20, channel: voice,
     handle_time: {dist: exponential, mean_s: 180},
     patience: {dist: exponential, mean_s: 300}}   # patience omitted = never abandons
"""

MINIMAL = """\
duration_s: 600
skills:
  billing: {}
sites:
  east:
    agents:
      - {count: 2, skills: {billing: 1}}
traffic:
  - {site: east, skill: billing, rate_per_hour: 60,
     handle_time: {dist: constant, mean_s: 60}}
"""


def test_spec_example_loads():
    scenario = parse_scenario(SPEC_EXAMPLE, "spec.yaml")
    assert scenario.multisite == "bsr"
    assert scenario.bsr.adjust_by == 10
    assert set(scenario.sites) == {"east", "west"}
    (stream,) = scenario.traffic
    assert (stream.priority, stream.channel, stream.service_objective_s) == (
        Priority.MEDIUM, Channel.VOICE, 20.0)
    assert stream.patience.mean_s == 300


def test_omitted_keys_take_the_spec_defaults():
    scenario = parse_scenario(MINIMAL)
    (stream,) = scenario.traffic
    skill = scenario.skills["billing"]
    assert stream.channel is Channel.VOICE
    assert stream.service_objective_s == skill.sl_threshold_s
    assert stream.patience is None
    assert scenario.multisite == "local"
    (group,) = scenario.sites["east"]
    assert group.channels == {"voice": 1}
    # The agent's wrap-up is the skill's, which is 0 when the skill sets none (SPEC §5: 0).
    assert group.wrap_up_s is None and skill.wrap_up_s == 0
    assert skill.queueing.name.lower() == "dqp"
    assert skill.agent_selection.name.lower() == "longest_idle"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_bundled_examples_load(path):
    scenario = load_scenario(str(path))
    assert scenario.traffic or scenario.campaigns      # an outbound-only center (SPEC §6)


def edit(text, old, new):
    assert old in text, old
    return text.replace(old, new, 1)


# (id, the minimal file edited, line of the error, key named, words in the problem)
BAD_FILES = [
    ("unknown top-level key", lambda t: t + "colour: blue\n", 11, "colour", "unknown key"),
    ("unknown skill key", lambda t: edit(t, "billing: {}", "billing: {queuing: dqp}"), 3,
     "skills.billing.queuing", "unknown key"),
    ("unknown traffic key", lambda t: edit(t, "rate_per_hour: 60,", "rate_per_hour: 60, vip: 1,"),
     9, "traffic[0].vip", "unknown key"),
    ("unknown agent key", lambda t: edit(t, "{count: 2,", "{count: 2, shift: day,"), 7,
     "sites.east.agents[0].shift", "unknown key"),
    ("negative rate", lambda t: edit(t, "rate_per_hour: 60", "rate_per_hour: -5"), 9,
     "traffic[0].rate_per_hour", "must be >"),
    ("rate of the wrong type", lambda t: edit(t, "rate_per_hour: 60", "rate_per_hour: lots"), 9,
     "traffic[0].rate_per_hour", "must be a number"),
    ("duration of the wrong type", lambda t: edit(t, "duration_s: 600", "duration_s: [600]"), 1,
     "duration_s", "must be a number"),
    ("count zero", lambda t: edit(t, "count: 2", "count: 0"), 7, "sites.east.agents[0].count",
     "integer >= 1"),
    ("skill level out of range", lambda t: edit(t, "{billing: 1}}", "{billing: 17}}"), 7,
     "sites.east.agents[0].skills.billing", "1..16"),
    ("agent with an undefined skill", lambda t: edit(t, "{billing: 1}}", "{sales: 1}}"), 7,
     "sites.east.agents[0].skills.sales", "unknown skill"),
    ("traffic for a skill no agent has",
     lambda t: edit(edit(t, "billing: {}", "billing: {}\n  sales: {}"),
                    "skill: billing, rate", "skill: sales, rate"), 10,
     "traffic[0].skill", "no agent"),
    ("traffic at a site that does not exist", lambda t: edit(t, "site: east,", "site: north,"), 9,
     "traffic[0].site", "unknown site"),
    ("traffic for an undefined skill", lambda t: edit(t, "skill: billing, rate", "skill: x, rate"),
     9, "traffic[0].skill", "unknown skill"),
    ("bad priority", lambda t: edit(t, "rate_per_hour: 60,", "rate_per_hour: 60, priority: urgent,"),
     9, "traffic[0].priority", "must be one of"),
    ("bad channel", lambda t: edit(t, "rate_per_hour: 60,", "rate_per_hour: 60, channel: fax,"),
     9, "traffic[0].channel", "must be one of"),
    ("bad distribution", lambda t: edit(t, "dist: constant", "dist: gamma"), 10,
     "traffic[0].handle_time.dist", "must be one of"),
    ("sigma on a non-lognormal", lambda t: edit(t, "mean_s: 60}", "mean_s: 60, sigma: 1}"), 10,
     "traffic[0].handle_time.sigma", "only lognormal"),
    ("zero mean handle time", lambda t: edit(t, "mean_s: 60", "mean_s: 0"), 10,
     "traffic[0].handle_time.mean_s", "must be >"),
    ("missing handle time", lambda t: edit(t, ",\n     handle_time: {dist: constant, mean_s: 60}", ""),
     9, "traffic[0].handle_time", "required"),
    ("missing sites", lambda t: t.replace("sites:\n  east:\n    agents:\n      - {count: 2, skills: {billing: 1}}\n", ""),
     1, "sites", "required"),
    ("bad skill setting", lambda t: edit(t, "billing: {}", "billing: {sl_threshold_s: -1}"), 3,
     "skills.billing.sl_threshold_s", ""),
    ("bad queueing mode", lambda t: edit(t, "billing: {}", "billing: {queueing: lifo}"), 3,
     "skills.billing.queueing", ""),
    ("bad multisite mode", lambda t: t + "routing: {multisite: nearest}\n", 11,
     "routing.multisite", "must be one of"),
    ("negative adjust_by", lambda t: t + "routing: {multisite: bsr, adjust_by: -3}\n", 11,
     "routing.adjust_by", "must be >="),
    ("duplicate key", lambda t: t + "duration_s: 5\n", 11,
     "duration_s", "duplicate"),
    ("not YAML", lambda t: edit(t, "billing: {}", "billing: {"), None, "(yaml)", ""),
    ("empty traffic list", lambda t: t.split("traffic:")[0] + "traffic: []\n", 8, "traffic",
     "non-empty"),
]


@pytest.mark.parametrize("make,line,key,words", [row[1:] for row in BAD_FILES],
                         ids=[row[0] for row in BAD_FILES])
def test_bad_scenario_names_file_line_and_key(tmp_path, make, line, key, words):
    path = tmp_path / "bad.yaml"
    path.write_text(make(MINIMAL))
    with pytest.raises(ScenarioError) as raised:
        load_scenario(str(path))
    error = raised.value
    assert error.path == str(path)
    assert error.key == key
    assert words in error.problem
    if line is not None:
        assert error.line == line
        assert str(error).startswith(f"{path}:{line}: {key}: ")
    else:
        assert error.line is not None


def test_the_minimal_file_itself_is_valid():
    # Guards the table above: every error there comes from its one edit.
    parse_scenario(MINIMAL)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ScenarioError) as raised:
        load_scenario(str(tmp_path / "nope.yaml"))
    assert "nope.yaml" in str(raised.value)


def test_cli_exits_2_on_a_bad_file_and_runs_nothing(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(edit(MINIMAL, "rate_per_hour: 60", "rate_per_hour: -5"))
    assert vcc(["simulate", str(path), "--json", "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{path}:9: traffic[0].rate_per_hour: must be >" in err


def test_cli_json_has_the_spec_shape(tmp_path, capsys):
    path = tmp_path / "ok.yaml"
    path.write_text(MINIMAL)
    assert vcc(["simulate", str(path), "--json", "--no-progress", "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["contacts"]) >= {"offered", "answered", "abandoned", "interflowed", "lost"}
    assert report["contacts"]["lost"] == 0
    assert report["contacts"]["offered"] > 0
    row_keys = {"offered", "answered", "abandoned", "asa_s", "sl_pct", "sl2_pct", "aht_s"}
    for breakdown in ("by_skill", "by_site", "by_class"):
        assert report[breakdown]
        for row in report[breakdown].values():
            assert set(row) >= row_keys
    assert "billing/medium/20" in report["by_class"]
    assert report["agents"]["east"]["count"] == 2
    assert report["run"]["seed"] == 3


WRAP_UP = """\
duration_s: 3600
seed: 3
skills:
  billing: {sl_threshold_s: 20, wrap_up_s: 10}
sites:
  east:
    agents:
      - {count: 5, skills: {billing: 1}AGENT_WRAP}
traffic:
  - {site: east, skill: billing, rate_per_hour: 60,
     handle_time: {dist: constant, mean_s: 60}}
"""


@pytest.mark.parametrize("agent_wrap, aht", [("", 70.0), (", wrap_up_s: 0", 60.0),
                                             (", wrap_up_s: 5", 65.0)])
def test_an_agent_without_wrap_up_takes_the_skills(agent_wrap, aht):
    """As `vcc serve` reads the same file: omitted, the skill's wrap-up; set, the agent's."""
    from loadtests.simulator import Simulation

    report = Simulation(parse_scenario(WRAP_UP.replace("AGENT_WRAP", agent_wrap))).run().report
    assert report["by_skill"]["billing"]["aht_s"] == pytest.approx(aht, abs=0.01)

"""`vcc simulate` with outbound campaigns (SPEC §6 `campaigns:`): the keys, checked with file,
line and key; live answers routed by the core, abandoned after 2 s without an agent; the
abandon limit kept; and scenarios without campaigns exactly as before."""

from __future__ import annotations

import json
import pathlib

import pytest

from cluster.cli import main as vcc
from loadtests.scenario import ScenarioError, load_scenario, parse_scenario
from loadtests.simulator import Simulation
from sites.model import Channel, ContactState

EXAMPLES = pathlib.Path(__file__).parents[2] / "loadtests" / "examples"
PREDICTIVE = EXAMPLES / "predictive.yaml"
SPEC_KEYS = {"attempts", "live_answers", "machines", "abandoned", "abandon_pct",
             "max_window_abandon_pct", "agent_utilization_min_per_h", "connects_per_agent_hour"}

CENTER = """\
duration_s: 1800
seed: 3
skills:
  outbound_sales: {sl_threshold_s: 2}
  billing: {}
sites:
  east:
    agents:
      - {count: 10, skills: {outbound_sales: 1}, channels: {outbound: 1}}
  west:
    agents:
      - {count: 5, skills: {billing: 1}}
traffic:
  - {site: west, skill: billing, rate_per_hour: 60, handle_time: {dist: exponential, mean_s: 240},
     patience: {dist: exponential, mean_s: 120}}
campaigns:
  renewals:
    site: east
    skill: outbound_sales
    mode: predictive
    abandon_limit_pct: 3.0
    abandon_window: 30d
    ring_timeout_s: 15
    list: {size: 50000}
    outcomes: {live: 0.30, machine: 0.15, busy: 0.10, no_answer: 0.45}
    answer_delay_s: {dist: lognormal, mean_s: 9, sigma: 0.5}
    handle_time: {dist: exponential, mean_s: 200}
    amd: {enabled: true, false_positive: 0.05}
"""


def center(**changes) -> str:
    """CENTER with lines of the campaign replaced: {"mode": "mode: progressive", ...};
    a value None drops the key's line."""
    lines, left = [], dict(changes)
    for line in CENTER.splitlines():
        key = line.strip().split(":", 1)[0]
        if line.startswith("    ") and not line.startswith("     ") and key in left:
            if left[key] is not None:
                lines.append("    " + left[key])
            del left[key]
        else:
            lines.append(line)
    lines += ["    " + value for value in left.values() if value is not None]    # new keys
    return "\n".join(lines) + "\n"


def campaign_figures(text: str, seed=None) -> tuple:
    simulation = Simulation(parse_scenario(text, "c.yaml"), seed=seed)
    result = simulation.run()
    return simulation, result, result.report["campaigns"]["renewals"]


# ---- the keys ---------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, key, problem", [
    ({"speed": "speed: 3"}, "campaigns.renewals.speed", "unknown key"),
    ({"mode": "mode: robocall"}, "campaigns.renewals.mode", "must be one of"),
    ({"mode": None}, "campaigns.renewals.mode", "required key is missing"),
    ({"abandon_window": "abandon_window: 7d"}, "campaigns.renewals.abandon_window", "30d, 24h"),
    ({"abandon_limit_pct": "abandon_limit_pct: -1"}, "campaigns.renewals.abandon_limit_pct",
     ">= 0"),
    ({"ring_timeout_s": "ring_timeout_s: 0"}, "campaigns.renewals.ring_timeout_s", "> 0"),
    ({"list": "list: {size: 0}"}, "campaigns.renewals.list.size", ">= 1"),
    ({"list": "list: {rows: 5}"}, "campaigns.renewals.list.rows", "unknown key"),
    ({"outcomes": "outcomes: {live: 0.3, machine: 0.15}"}, "campaigns.renewals.outcomes",
     "add up to 1"),
    ({"outcomes": "outcomes: {live: 0.3, fax: 0.7}"}, "campaigns.renewals.outcomes.fax",
     "unknown key"),
    ({"answer_delay_s": "answer_delay_s: {mean_s: 9}"}, "campaigns.renewals.answer_delay_s.dist",
     "required key is missing"),
    ({"handle_time": None}, "campaigns.renewals.handle_time", "required key is missing"),
    ({"amd": "amd: {enabled: maybe}"}, "campaigns.renewals.amd.enabled", "true or false"),
    ({"abandon_window": "abandon_window: 24h"}, "campaigns.renewals.amd.false_positive",
     "reaches the 3 % limit"),
    ({"pacing": "pacing: adaptive", "mode": "mode: progressive"}, "campaigns.renewals.pacing",
     "only a predictive campaign"),
    ({"site": "site: north"}, "campaigns.renewals.site", "unknown site"),
    ({"skill": "skill: billing"}, "campaigns.renewals.skill", "outbound channel"),
    ({"preview_s": "preview_s: 5"}, "campaigns.renewals.preview_s", "only a preview campaign"),
    ({"ring_timeout_s": "ring_timeout_s: 10"}, "campaigns.renewals.ring_timeout_s",
     "at least 15"),
    ({"retries": "retries: {live: {delay_s: 60, max_attempts: 2}}"},
     "campaigns.renewals.retries.live", "unknown key"),
    ({"retries": "retries: {busy: {delay_s: 60}}"},
     "campaigns.renewals.retries.busy.max_attempts", "required key is missing"),
    ({"retries": "retries: {abandoned: {delay_s: 3600, max_attempts: 2}}"},
     "campaigns.renewals.retries.abandoned.delay_s", "within 72 h"),
])
def test_a_bad_campaign_is_refused_naming_file_line_and_key(changes, key, problem):
    with pytest.raises(ScenarioError) as error:
        parse_scenario(center(**changes), "c.yaml")
    assert error.value.key == key, str(error.value)
    assert problem in error.value.problem
    assert error.value.path == "c.yaml" and error.value.line is not None


def test_agents_serving_inbound_traffic_are_dialled_for_only_when_blending():
    text = CENTER.replace("skills: {outbound_sales: 1}", "skills: {outbound_sales: 1, billing: 1}")
    text = text.replace("site: west, skill: billing", "site: east, skill: billing")
    with pytest.raises(ScenarioError) as error:
        parse_scenario(text, "c.yaml")
    assert error.value.key == "campaigns.renewals.skill"
    assert "give protect_inbound_sl_pct to blend" in error.value.problem


def test_an_outbound_only_center_needs_no_traffic_but_others_still_do():
    without = CENTER.split("traffic:")[0] + "campaigns:" + CENTER.split("campaigns:")[1]
    scenario = parse_scenario(without, "c.yaml")
    assert scenario.traffic == () and len(scenario.campaigns) == 1
    assert parse_scenario(without + "traffic: []\n", "c.yaml").traffic == ()
    inbound_only = CENTER.split("campaigns:")[0]
    with pytest.raises(ScenarioError) as error:
        parse_scenario(inbound_only.split("traffic:")[0], "c.yaml")
    assert (error.value.key, error.value.problem) == ("traffic", "required key is missing")


# ---- the simulation -----------------------------------------------------------------------------
def test_every_contact_and_every_call_ends_once():
    simulation, result, figures = campaign_figures(CENTER)
    assert result.report["contacts"]["lost"] == 0
    outbound = [record for record in result.records if record.stream.channel is Channel.OUTBOUND]
    # Every live answer (AMD on: as reported) became an outbound contact of the core ...
    assert len(outbound) == figures["live_answers"] > 50
    for record in result.records:
        assert record.final_state in (ContactState.COMPLETED, ContactState.ABANDONED), record
        assert (record.answer_time is not None) == (
            record.final_state is ContactState.COMPLETED), record
    # ... answered by an agent, or abandoned (not connected within 2 s), nothing else.
    assert sum(r.final_state is ContactState.ABANDONED for r in outbound) == figures["abandoned"]
    assert figures["attempts"] == (figures["live_answers"] + figures["machines"]
                                   + figures["busy"] + figures["no_answer"] + figures["failed"])
    run = simulation.campaigns["renewals"]
    assert not run.campaign.calls and not run.campaign.ringing and not run.campaign.waiting
    assert not any(site.contacts for site in simulation.sites.values())
    assert SPEC_KEYS <= set(figures)


def test_predictive_keeps_the_limit_and_beats_progressive():
    """25 agents for an hour, from the start of the shift (no abandon budget at first)."""
    def hour(text):
        return campaign_figures(text.replace("duration_s: 1800", "duration_s: 3600").replace(
            "count: 10,", "count: 25,"))[2]
    predictive = hour(CENTER)
    progressive = hour(center(mode="mode: progressive"))
    assert predictive["abandoned"] > 0
    assert predictive["max_window_abandon_pct"] <= 3.0
    assert predictive["abandon_pct"] <= 3.0
    assert progressive["abandoned"] == 0
    assert predictive["agent_utilization_min_per_h"] > progressive[
        "agent_utilization_min_per_h"] + 2.0
    assert predictive["connects_per_agent_hour"] > progressive["connects_per_agent_hour"]


@pytest.mark.parametrize("changes", [
    {"mode": "mode: preview"}, {"pacing": "pacing: adaptive"},
    {"amd": "amd: {enabled: false}"},
    {"abandon_window": "abandon_window: 24h", "amd": "amd: {enabled: true, false_positive: 0.01}"},
])
def test_every_mode_loses_nothing_and_keeps_the_limit(changes):
    simulation, result, figures = campaign_figures(center(**changes))
    assert result.report["contacts"]["lost"] == 0
    assert figures["max_window_abandon_pct"] <= 3.0 and figures["attempts"] > 100
    assert not simulation.campaigns["renewals"].campaign.calls
    if "mode" in changes:       # preview: no call is ever dialled ahead of its agent
        assert figures["abandoned"] == 0
    if "enabled: false" in changes.get("amd", ""):
        assert figures["amd_false_positives"] == 0 and figures["machines"] > 0


def test_every_abandoned_callee_hears_the_recorded_message():
    _, _, figures = campaign_figures(center(list="list: {size: 3000}"))
    assert figures["abandoned"] > 0
    assert figures["messages_played"] == figures["abandoned"]


def test_same_seed_same_campaign_figures():
    first = campaign_figures(CENTER, seed=4)[2]
    assert campaign_figures(CENTER, seed=4)[2] == first
    assert campaign_figures(CENTER, seed=5)[2] != first


# ---- scenarios without campaigns ------------------------------------------------------------------
def test_a_campaign_leaves_the_inbound_figures_as_they_were():
    """The callees draw from their own generator: a campaign at another site changes not one
    inbound figure (west's traffic, service, occupancy)."""
    with_campaign = Simulation(parse_scenario(CENTER, "c.yaml")).run().report
    plain = Simulation(parse_scenario(CENTER.split("campaigns:")[0], "c.yaml")).run().report
    assert with_campaign["by_site"]["west"] == plain["by_site"]["west"]
    assert with_campaign["by_skill"]["billing"] == plain["by_skill"]["billing"]
    assert with_campaign["agents"]["west"] == plain["agents"]["west"]
    assert "campaigns" not in plain


def test_without_campaigns_the_committed_figures_stand():
    """tiers_dqp.yaml, seed 1, as README gives it from before campaigns existed."""
    report = Simulation(load_scenario(str(EXAMPLES / "tiers_dqp.yaml"))).run().report
    assert "campaigns" not in report
    assert {tier: (row["asa_s"], row["sl_pct"]) for tier, row in report["by_tier"].items()} == {
        "platinum": (4.427, 81.61), "gold": (11.574, 77.58), "standard": (19.93, 87.12)}


def test_vcc_simulate_json_reports_the_campaigns(tmp_path, capsys):
    short = tmp_path / "predictive.yaml"
    short.write_text(PREDICTIVE.read_text().replace("duration_s: 28800", "duration_s: 1200"))
    assert vcc(["simulate", "--json", "--no-progress", str(short)]) == 0
    report = json.loads(capsys.readouterr().out)
    figures = report["campaigns"]["renewals"]
    assert SPEC_KEYS <= set(figures) and figures["attempts"] > 0
    assert vcc(["simulate", "--no-progress", str(short)]) == 0
    assert "campaigns (outbound)" in capsys.readouterr().out


def test_the_table_command_runs(capsys):
    from loadtests import dialer_table

    code = dialer_table.main(["--seeds", "1", "--hours", "0.25", "--agents", "10",
                              "--jobs", "1"])
    out = capsys.readouterr().out
    assert "predictive" in out and "adaptive" in out and "progressive" in out
    assert code in (0, 1)           # a quarter of an hour is not the figure's shift


def test_the_example_is_the_issue_s_figure():
    spec, = load_scenario(str(PREDICTIVE)).campaigns
    assert (spec.config.mode.value, spec.config.abandon_limit_pct) == ("predictive", 3.0)
    assert spec.config.abandon_window.value == "30d" and spec.config.ring_timeout_s == 15.0
    assert (spec.handle_time.dist, spec.handle_time.mean_s) == ("exponential", 200.0)
    assert (spec.answer_delay.dist, spec.answer_delay.mean_s) == ("lognormal", 9.0)
    assert dict((outcome.value, share) for outcome, share in spec.outcomes) == {
        "live": 0.30, "machine": 0.15, "busy": 0.10, "no_answer": 0.45}
    assert spec.config.amd_enabled and spec.config.amd_false_positive == 0.05


# ---- a list from a file ------------------------------------------------------------------------
LIST_ROWS = "id,phone,timezone,customer_id\nr1,+14155552671,America/Los_Angeles,c1\n" \
            "r2,+442079460958,,\nr3,+4930901820,Europe/Berlin,c3\n"


def with_list(tmp_path, rows: str):
    (tmp_path / "renewals.csv").write_text(rows)
    path = tmp_path / "c.yaml"
    path.write_text(center(list="list: {file: renewals.csv}"))
    return load_scenario(str(path))


def test_a_list_file_is_dialled_row_by_row(tmp_path):
    scenario = with_list(tmp_path, LIST_ROWS)
    (spec,) = scenario.campaigns
    assert spec.records == ("r1", "r2", "r3") and spec.list_size == 3
    result = Simulation(scenario).run()
    figures = result.report["campaigns"]["renewals"]
    assert figures["attempts"] == figures["list_dialled"] == 3
    assert result.report["contacts"]["lost"] == 0


@pytest.mark.parametrize("rows, line, problem", [
    ("id,phone\nr1,12345\n", 2, "phone: "),
    ("id,phone\nr1,+14155552671\nr1,+14155552672\n", 3, "id: given twice (first on line 2)"),
    ("id,phone,fax\nr1,+14155552671,1\n", 1, "fax: unknown column"),
    ("id\nr1\n", 1, "phone: missing column"),
    ("id,phone,timezone\nr1,+14155552671,Mars/Olympus\n", 2, "timezone: unknown time zone"),
    ("id,phone\n", None, "holds no record"),
])
def test_a_bad_list_file_is_refused_with_its_line(tmp_path, rows, line, problem):
    with pytest.raises(ScenarioError) as error:
        with_list(tmp_path, rows)
    assert error.value.key == "campaigns.renewals.list.file"
    assert error.value.line == line and error.value.path.endswith("renewals.csv")
    assert error.value.problem.startswith(problem), error.value.problem
    assert "4155552671" not in str(error.value)         # numbers are never shown in clear


def test_tools_that_play_inbound_traffic_only_refuse_campaigns(tmp_path, capsys):
    from loadtests.live import LoadtestError, load_contacts

    assert vcc(["trace", "generate", str(PREDICTIVE), "-o", str(tmp_path / "t.csv")]) == 2
    assert "campaigns.renewals: outbound campaigns are dialled by vcc simulate only" in \
        capsys.readouterr().err
    with pytest.raises(LoadtestError, match="campaigns.renewals"):
        load_contacts(str(PREDICTIVE))


def test_retries_come_back_after_their_delay_on_a_small_list():
    """A list of 60 numbers dialled progressively: busy and unanswered numbers are tried
    again (after 5 and 10 minutes), at most 3 attempts each; the campaign goes on dialling
    its retries once the fresh numbers are done, and nothing is lost."""
    text = center(mode="mode: progressive", list="list: {size: 60}",
                  retries="retries: {busy: {delay_s: 300, max_attempts: 3}, "
                          "no_answer: {delay_s: 600, max_attempts: 3}}")
    _, result, figures = campaign_figures(text)
    assert result.report["contacts"]["lost"] == 0
    assert figures["retries_scheduled"] > 10
    assert figures["attempts"] == 60 + figures["retries_scheduled"]
    assert figures["attempts"] <= 3 * 60

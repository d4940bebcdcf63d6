"""`vcc simulate` with a blended campaign (SPEC §6 blending, issue 19 item 5): agents serving
a support line dial a list between its calls; the support line keeps its service level, the
live answers are never abandoned, and the keys are checked with file, line and key."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest

from loadtests import blend_table
from loadtests.scenario import ScenarioError, load_scenario, parse_scenario
from loadtests.simulator import Simulation

BLENDED = pathlib.Path(__file__).parents[2] / "loadtests" / "examples" / "blended.yaml"


def test_the_support_line_keeps_its_level_and_the_campaign_still_connects():
    scenario = dataclasses.replace(load_scenario(str(BLENDED)), duration_s=3 * 3600.0)
    blended = Simulation(scenario, seed=2).run().report
    alone = Simulation(dataclasses.replace(scenario, campaigns=()), seed=2).run().report
    figures = blended["campaigns"]["renewals"]
    assert figures["connected"] > 100
    assert figures["abandoned"] == 0 == figures["messages_played"]   # held agents take them
    assert alone["by_skill"]["support"]["sl_pct"] - blended["by_skill"]["support"]["sl_pct"] \
        <= blend_table.MAX_DROP_POINTS
    assert blended["contacts"]["lost"] == 0 == alone["contacts"]["lost"]


def test_the_table_command_runs(capsys):
    assert blend_table.main(["--seeds", "1", "--hours", "2",
                             "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "all checks PASS" in out and "blended" in out and "connected" in out


TEXT = BLENDED.read_text()


@pytest.mark.parametrize("old, new, key, problem", [
    ("    protect_inbound_sl_pct: 98\n", "", "campaigns.renewals.skill",
     "give protect_inbound_sl_pct to blend"),
    ("protect_inbound_sl_pct: 98", "protect_inbound_sl_pct: 120",
     "campaigns.renewals.protect_inbound_sl_pct", "<= 100"),
    ("mode: progressive", "mode: predictive", "campaigns.renewals.protect_inbound_sl_pct",
     "preview or progressive"),
    ("patience: {dist: exponential, mean_s: 180}}",
     "patience: {dist: exponential, mean_s: 180}, priority: top}",
     "campaigns.renewals.protect_inbound_sl_pct", "may wait at priority top"),
    ("channels: {voice: 1, outbound: 1}}",
     "channels: {voice: 1, outbound: 1}, call_selection: skill_level}",
     "campaigns.renewals.skill", "call_selection: greatest_need"),
    ("skills: {support: 1, outbound_sales: 1}, channels: {voice: 1, outbound: 1}}",
     "skills: {support: 1}}\n      - {count: 5, skills: {outbound_sales: 1}, "
     "channels: {outbound: 1}}", "campaigns.renewals.protect_inbound_sl_pct",
     "serve no inbound skill"),
])
def test_bad_blending_keys_are_refused(old, new, key, problem):
    assert old in TEXT
    with pytest.raises(ScenarioError) as error:
        parse_scenario(TEXT.replace(old, new), "b.yaml")
    assert error.value.key == key and problem in error.value.problem, error.value
    assert error.value.line is not None

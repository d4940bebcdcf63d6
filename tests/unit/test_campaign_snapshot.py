"""A campaign pacer's snapshot (`Campaign.snapshot` / `restore`, what bounds a resume: SPEC §6
failover): a pacer restored from a snapshot taken at any point, through JSON, decides exactly
as the one it was taken from, for every mode and rule, and nothing in it is a number."""

from __future__ import annotations

import dataclasses
import json

import pytest

from loadtests.scenario import load_scenario, parse_scenario
from loadtests.simulator import Simulation
from sites.dialer import events as dev
from sites.dialer.campaign import Campaign
from sites.dialer.do_not_call import DoNotCall
from sites.errors import InvalidInput
from tests.unit.test_simulate_campaigns import EXAMPLES, center
from tests.unit.test_simulate_dialer_rules import write


def _recorded(simulation: Simulation) -> tuple:
    """(a maker of new pacers like the simulation's campaign's, every event it handled)."""
    (run,) = simulation.campaigns.values()
    campaign, spec = run.campaign, run.spec
    windows = campaign.call_list.windows
    clock = windows.clock if windows is not None else None
    events, handle = [], campaign.handle

    def recording(event):
        events.append(event)
        return handle(event)

    campaign.handle = recording
    simulation.run()

    def fresh() -> Campaign:
        return Campaign(spec.config, spec.call_list(), clock,
                        DoNotCall(spec.global_do_not_call, spec.do_not_call))
    return fresh, events


def _text(scenario_text: str) -> Simulation:
    return Simulation(parse_scenario(scenario_text, "c.yaml"))


SCENARIOS = {
    "predictive": lambda tmp: _text(center()),
    "adaptive": lambda tmp: _text(center(pacing="pacing: adaptive")),
    "preview": lambda tmp: _text(center(mode="mode: preview")),
    "amd off, retries": lambda tmp: _text(center(
        amd="amd: {enabled: false}",
        retries="retries: {busy: {delay_s: 120, max_attempts: 3}, "
                "no_answer: {delay_s: 300, max_attempts: 2}}")),
    "24h window, false positives": lambda tmp: _text(center(
        abandon_window="abandon_window: 24h",
        amd="amd: {enabled: true, false_positive: 0.01}")),
    "call windows, do-not-call lists": lambda tmp: Simulation(load_scenario(write(tmp))),
    "blended": lambda tmp: Simulation(dataclasses.replace(
        load_scenario(str(EXAMPLES / "blended.yaml")), duration_s=1800.0)),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_restored_pacer_decides_as_the_original_from_any_point_on(name, tmp_path):
    fresh, events = _recorded(SCENARIOS[name](tmp_path))
    assert len(events) > 20
    for cut in sorted({1, len(events) // 3, 2 * len(events) // 3, len(events) - 1}):
        original = fresh()
        for event in events[:cut]:
            original.handle(event)
        text = json.dumps(original.snapshot(), allow_nan=False)    # PostgreSQL's JSON too
        restored = fresh()
        restored.restore(json.loads(text))
        assert restored.snapshot() == original.snapshot()
        decided = 0
        for event in events[cut:]:
            decisions = original.handle(event)
            assert restored.handle(event) == decisions, (name, cut, event)
            decided += len(decisions)
        assert restored.snapshot() == original.snapshot()
        assert restored.figures() == original.figures()
    assert decided or cut == len(events) - 1


def test_the_snapshot_holds_no_number_and_only_the_lists_changes(tmp_path):
    fresh, events = _recorded(SCENARIOS["call windows, do-not-call lists"](tmp_path))
    pacer = fresh()
    for event in events:
        pacer.handle(event)
    pacer.handle(dev.DoNotCallChanged(pacer.now, "campaign", (b"\x01" * 32,), ()))
    text = json.dumps(pacer.snapshot())
    for digits in ("4930901820", "12025550101", "12025550102", "4930901822"):
        assert digits not in text
    changes = json.loads(text)["do_not_call"]
    assert changes == {"global": {"added": [], "removed": []},
                       "campaign": {"added": ["x" + "01" * 32], "removed": []}}


def test_a_snapshot_of_another_campaign_or_layout_is_refused_by_name():
    fresh, events = _recorded(SCENARIOS["predictive"](None))
    pacer = fresh()
    for event in events[:200]:
        pacer.handle(event)
    state = pacer.snapshot()
    for bad in ({**state, "campaign": "other"}, {**state, "v": 99},
                {**state, "call_list": {"heads": []}}):
        target = fresh()
        with pytest.raises(InvalidInput) as error:
            target.restore(bad)
        assert error.value.field == "snapshot"
    used = fresh()
    used.handle(events[0])
    with pytest.raises(InvalidInput, match="just made"):
        used.restore(state)


def test_the_journal_cost_bench_resumes_from_a_snapshot_to_the_same_pacer(capsys):
    from loadtests import campaign_journal_cost

    assert campaign_journal_cost.main(["--agents", "5", "--hours", "0.25",
                                       "--snapshot-every", "100"]) == 0
    out = capsys.readouterr().out
    assert "the newest 99 entries back" in out
    assert "stands where the original does: True" in out

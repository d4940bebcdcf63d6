"""Inbound marketing in `vcc simulate` (SPEC §7 `marketing:`, loadtests/marketing.py): the
keys are checked like the rest of a scenario, the offers that pop up on an answer are
tallied consistently, presenting them lengthens the calls, and a scenario without
marketing runs exactly as it did before marketing existed."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import pytest

from cluster.cli import main as vcc
from loadtests.marketing import Marketing, Offer
from loadtests.scenario import ScenarioError, load_scenario, parse_scenario
from loadtests.simulator import Simulation
from sites.model import ContactState
from tests.unit.test_simulator import without_timing

EXAMPLE = pathlib.Path(__file__).parents[2] / "loadtests" / "examples" / "marketing_tiers.yaml"

# Line 9 is `offers:`, line 10 the fibre offer (a key's error names its own line).
BASE = """\
duration_s: 7200
seed: 4
skills: {billing: {sl_threshold_s: 20}}
sites: {east: {agents: [{count: 10, skills: {billing: 1}}]}}
tiers: {gold: {priority: high, service_objective_s: 10}, standard: {priority: medium}}
customers: {population: 1000, tiers: {gold: 0.2, standard: 0.8}}
traffic: [{site: east, skill: billing, rate_per_hour: 120, handle_time: HANDLE}]
marketing:
  offers:
    fibre: {product: fibre_1g, value: 480, commission: 40, priority: 10, eligible_pct: 0.5,
            present_pct: 0.5, accept_pct: 0.2, extra_handle_s: 60}
"""
CONSTANT = "{dist: constant, mean_s: 100}"


def scenario(text=BASE, handle=CONSTANT, **changes):
    loaded = parse_scenario(text.replace("HANDLE", handle), "marketing.yaml")
    return dataclasses.replace(loaded, **changes) if changes else loaded


def edit(old, new, text=BASE):
    assert old in text, old
    return text.replace(old, new, 1)


FIBRE = "marketing.offers.fibre"
BAD = [
    ("accept above 1", edit("accept_pct: 0.2", "accept_pct: 1.5"), 11, f"{FIBRE}.accept_pct",
     "must be between 0 and 1"),
    ("negative eligible", edit("eligible_pct: 0.5", "eligible_pct: -0.1"), 10,
     f"{FIBRE}.eligible_pct", "must be between 0 and 1"),
    ("present as text", edit("present_pct: 0.5", "present_pct: often"), 11,
     f"{FIBRE}.present_pct", "must be a number"),
    ("unknown offer key", edit("value: 480,", "value: 480, pitch: hi,"), 10, f"{FIBRE}.pitch",
     "unknown key"),
    ("missing product", edit("product: fibre_1g, ", ""), 10, f"{FIBRE}.product",
     "required key is missing"),
    ("missing accept", edit(" accept_pct: 0.2,", ""), 10, f"{FIBRE}.accept_pct",
     "required key is missing"),
    ("fractional priority", edit("priority: 10", "priority: 1.5"), 10, f"{FIBRE}.priority",
     "must be an integer"),
    ("negative value", edit("value: 480", "value: -1"), 10, f"{FIBRE}.value", "must be >="),
    ("negative extra handle", edit("extra_handle_s: 60", "extra_handle_s: -5"), 11,
     f"{FIBRE}.extra_handle_s", "must be >="),
    ("unknown marketing key", edit("marketing:\n", "marketing:\n  budget: 5\n"), 9,
     "marketing.budget", "unknown key"),
    ("no offers", BASE.split("  offers:")[0] + "  offers: {}\n", 9, "marketing.offers",
     "at least one offer"),
    ("offer not a mapping", BASE.split("    fibre:")[0] + "    fibre: 5\n", 10, FIBRE,
     "must be a mapping"),
    ("marketing without customers", edit("customers: {population: 1000, tiers: {gold: 0.2, "
                                         "standard: 0.8}}\n", ""), 7, "marketing",
     "give `customers` first"),
    ("unknown top-level key still refused", BASE + "marketting: {}\n", 12, "marketting",
     "unknown key"),
]


@pytest.mark.parametrize("text,line,key,words", [row[1:] for row in BAD],
                         ids=[row[0] for row in BAD])
def test_bad_marketing_keys_name_file_line_and_key(text, line, key, words):
    with pytest.raises(ScenarioError) as raised:
        scenario(text)
    error = raised.value
    assert (error.path, error.key, error.line) == ("marketing.yaml", key, line)
    assert words in error.problem
    assert str(error).startswith(f"marketing.yaml:{line}: {key}: ")


def test_the_base_file_is_valid_and_present_pct_defaults_to_1():
    (fibre,) = scenario().marketing.offers
    assert (fibre.product, fibre.value, fibre.commission, fibre.priority) == (
        "fibre_1g", 480.0, 40.0, 10)
    assert (fibre.eligible_pct, fibre.present_pct, fibre.accept_pct, fibre.extra_handle_s) == (
        0.5, 0.5, 0.2, 60.0)
    (default,) = scenario(edit(" present_pct: 0.5,", "")).marketing.offers
    assert default.present_pct == 1.0


def offer(name, priority, eligible_pct=1.0, **fields):
    values = dict(product=name, value=10.0, commission=1.0, accept_pct=0.5, present_pct=1.0,
                  extra_handle_s=0.0)
    values.update(fields)
    return Offer(name, priority=priority, eligible_pct=eligible_pct, **values)


def test_at_most_three_offers_pop_highest_priority_first():
    marketing = Marketing((offer("a", 9), offer("b", 7), offer("c", 5), offer("d", 3)))
    for customer in range(50):
        assert [o.name for o in marketing.popped(1, customer)] == ["a", "b", "c"]
    # Offers are kept highest priority first whatever the file's order (ties: by name).
    text = edit("marketing:\n  offers:\n", "marketing:\n  offers:\n    zz: {product: p, value: 1, "
                "commission: 0, priority: 10, eligible_pct: 1, accept_pct: 0, extra_handle_s: 0}\n"
                "    low: {product: p, value: 1, commission: 0, priority: -3, eligible_pct: 1, "
                "accept_pct: 0, extra_handle_s: 0}\n")
    assert [o.name for o in scenario(text).marketing.offers] == ["fibre", "zz", "low"]


def test_a_customer_is_eligible_every_time_they_call_and_the_share_is_eligible_pct():
    marketing = Marketing((offer("fibre", 2, 0.3), offer("mobile", 1, 0.6)))
    first = [marketing.popped(7, customer) for customer in range(4000)]
    assert first == [marketing.popped(7, customer) for customer in range(4000)]
    for name, share in (("fibre", 0.3), ("mobile", 0.6)):
        eligible = sum(any(o.name == name for o in pops) for pops in first)
        assert abs(eligible / 4000 - share) < 0.03, (name, eligible)
    # Independent per offer, and another seed is another draw of the target lists.
    both = sum(len(pops) == 2 for pops in first)
    assert abs(both / 4000 - 0.18) < 0.03
    assert first != [marketing.popped(8, customer) for customer in range(4000)]


def test_counts_are_consistent_and_eligibility_follows_the_customer():
    simulation = Simulation(scenario(handle="{dist: exponential, mean_s: 180}",
                                     duration_s=57600))
    result = simulation.run()
    row = result.report["marketing"]["fibre"]
    assert 0 < row["accepted"] <= row["presented"] <= row["eligible"]
    assert row["revenue"] == pytest.approx(480 * row["accepted"])
    assert row["commission"] == pytest.approx(40 * row["accepted"])
    answered = [record for record in result.records if record.answer_time is not None]
    # Exactly the answered contacts of customers on the offer's target list.
    marketing = simulation.scenario.marketing
    assert row["eligible"] == sum(bool(marketing.popped(simulation.seed, record.customer))
                                  for record in answered)
    assert abs(row["eligible"] / len(answered) - 0.5) < 0.08
    assert abs(row["presented"] / row["eligible"] - 0.5) < 0.08
    assert abs(row["accepted"] / row["presented"] - 0.2) < 0.08
    # Only customers on the target list are presented it, at every call they make.
    for record in answered:
        if not marketing.popped(simulation.seed, record.customer):
            assert record.pitch_s == 0.0, record
    customers = [record.customer for record in answered]
    assert len(set(customers)) < len(customers)              # some called twice


def test_presented_offers_add_their_extra_handle_time():
    """Constant 100 s calls, no abandons: AHT is 100 s plus 60 s for each presented offer."""
    plain = Simulation(scenario(marketing=None)).run().report
    result = Simulation(scenario()).run()
    report = result.report
    row = report["marketing"]["fibre"]
    answered = report["contacts"]["answered"]
    assert report["contacts"]["lost"] == 0 and report["contacts"]["abandoned"] == 0
    assert plain["service"]["aht_s"] == pytest.approx(100.0, abs=0.01)
    assert report["service"]["aht_s"] == pytest.approx(
        100.0 + 60.0 * row["presented"] / answered, abs=0.01)
    # About eligible share x present_pct x extra_handle_s = 0.5 x 0.5 x 60 = 15 s more.
    assert report["service"]["aht_s"] - plain["service"]["aht_s"] == pytest.approx(15.0, abs=4.0)
    for record in result.records:
        if record.final_state is ContactState.COMPLETED:
            assert record.end_time - record.answer_time == pytest.approx(100.0 + record.pitch_s)
            assert record.pitch_s in (0.0, 60.0)


def test_the_extra_handle_time_of_random_calls_shows_in_the_aht():
    plain = Simulation(scenario(handle="{dist: exponential, mean_s: 180}", marketing=None),
                       seed=11).run().report
    report = Simulation(scenario(handle="{dist: exponential, mean_s: 180}"), seed=11).run().report
    row = report["marketing"]["fibre"]
    expected = 60.0 * row["presented"] / report["contacts"]["answered"]
    grown = report["service"]["aht_s"] - plain["service"]["aht_s"]
    assert grown == pytest.approx(expected, abs=12.0)      # exponential noise of ~230 calls
    assert grown > 5.0


def test_same_seed_same_figures():
    first = Simulation(scenario(), seed=3).run().report
    assert without_timing(Simulation(scenario(), seed=3).run().report) == without_timing(first)
    other = Simulation(scenario(), seed=4).run().report
    assert other["marketing"] != first["marketing"]


@pytest.mark.parametrize("change", [{"extra_handle_s": 0.0}, {"present_pct": 0.0},
                                    {"eligible_pct": 0.0}])
def test_marketing_that_costs_no_time_leaves_every_other_figure_as_it_was(change):
    """Its draws come from their own generator: offers that pop (and even sell) without
    lengthening a call change nothing else in the run."""
    plain = scenario(handle="{dist: exponential, mean_s: 300}", marketing=None)
    with_offers = scenario(handle="{dist: exponential, mean_s: 300}")
    (fibre,) = with_offers.marketing.offers
    with_offers = dataclasses.replace(with_offers, marketing=Marketing(
        (dataclasses.replace(fibre, **change),)))
    before = without_timing(Simulation(plain).run().report)
    after = without_timing(Simulation(with_offers).run().report)
    marketing = after.pop("marketing")
    assert after == before
    if change == {"extra_handle_s": 0.0}:
        assert marketing["fibre"]["accepted"] > 0         # sold, and changed nothing else
    else:
        assert marketing["fibre"]["presented"] == 0


def test_without_marketing_the_committed_figures_stand():
    """tiers_dqp.yaml, seed 1, as README gives it from before marketing existed."""
    report = Simulation(load_scenario(str(EXAMPLE.parent / "tiers_dqp.yaml"))).run().report
    assert "marketing" not in report
    assert {tier: (row["asa_s"], row["sl_pct"]) for tier, row in report["by_tier"].items()} == {
        "platinum": (4.427, 81.61), "gold": (11.574, 77.58), "standard": (19.93, 87.12)}
    assert report["contacts"]["offered"] == 2304


def test_the_example_sells_at_the_cost_of_service_level():
    """marketing_tiers.yaml: platinum and gold answered faster than standard, and the time
    the offers take lowers the service level against the same center without them."""
    example = load_scenario(str(EXAMPLE))
    report = Simulation(example).run().report
    plain = Simulation(dataclasses.replace(example, marketing=None)).run().report
    tiers = report["by_tier"]
    assert tiers["platinum"]["asa_s"] < tiers["standard"]["asa_s"]
    assert tiers["gold"]["asa_s"] < tiers["standard"]["asa_s"]
    assert sum(row["revenue"] for row in report["marketing"].values()) > 0
    assert report["service"]["aht_s"] > plain["service"]["aht_s"] + 20
    assert report["service"]["sl_pct"] < plain["service"]["sl_pct"] - 5
    assert report["contacts"]["lost"] == 0


def test_cli_reports_marketing_in_json_and_text(capsys):
    assert vcc(["simulate", str(EXAMPLE), "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["marketing"]) == {"fibre", "mobile", "insurance"}
    for row in report["marketing"].values():
        assert set(row) == {"eligible", "presented", "accepted", "revenue", "commission"}
    assert {"contacts", "service", "by_skill", "by_site", "by_class", "by_tier",
            "agents", "run"} <= set(report)
    assert vcc(["simulate", str(EXAMPLE), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "marketing (offers popped when an agent answers)" in text
    assert "presentation rate" in text and "success rate" in text


def test_a_scenario_with_marketing_is_a_configuration_too():
    """`vcc serve --config` and `vcc loadtest` read the same file; the offers are the
    simulator's (the served center takes its offers from the customer store)."""
    from cluster.config import load_config

    config = load_config(str(EXAMPLE))
    assert set(config.sites) == {"east"}

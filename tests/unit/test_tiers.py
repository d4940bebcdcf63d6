"""Customer service tiers (SPEC §7): the configuration's `tiers`, what a contact without its
own priority or objective gets by its caller's tier (an arrival for a skill, a plan's queue
step), the plans' `customer: {tier}` condition, the default tier for a caller nobody knows,
and `vcc simulate` with a customer population (`by_tier`: gold answered faster than
standard under load)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from cluster.config import ConfigFileError, parse_config
from loadtests.scenario import load_scenario
from loadtests.simulator import Simulation
from sites import events as ev
from sites.actions import ContactQueued, IvrTreatment
from sites.errors import InvalidInput
from sites.model import AgentConfig, Priority, SiteConfig, SkillConfig
from sites.plans import parse_plan_config
from sites.state import SiteState, _contact_from_dict, _contact_to_dict
from sites.tiers import parse_tiers

TIERS = {"platinum": {"priority": "high", "service_objective_s": 10},
         "gold": {"priority": "medium", "service_objective_s": 20},
         "standard": {"priority": "low"}}


def site(plans=None) -> SiteState:
    tiers = parse_tiers(TIERS)
    skills = (SkillConfig("billing", sl_threshold_s=30),)
    return SiteState(SiteConfig("east", skills, (AgentConfig("e1", {"billing": 1}),),
                                plans=plans, tiers=tiers))


def test_tiers_are_read_whole_and_refusals_name_the_key():
    tiers = parse_tiers(TIERS)
    assert tiers.default == "standard"                     # the last listed
    assert tiers.of(None).name == tiers.of("nobody").name == "standard"
    assert parse_tiers(TIERS, "gold").of(None).name == "gold"
    assert not parse_tiers(None) and parse_tiers(None).of("gold") is None
    for document, default, field in [
            ({"gold": {"priority": "urgent"}}, None, "tiers.gold.priority"),
            ({"gold": {}}, None, "tiers.gold.priority"),
            ({"gold": {"priority": "high", "colour": 1}}, None, "tiers.gold.colour"),
            ({"gold": {"priority": "high", "service_objective_s": 0}}, None,
             "tiers.gold.service_objective_s"),
            (TIERS, "bronze", "default_tier"), ([1], None, "tiers")]:
        with pytest.raises(InvalidInput) as error:
            parse_tiers(document, default)
        assert error.value.field == field


def test_a_configuration_s_bad_tier_is_refused_with_its_line():
    text = ("skills:\n  billing: {}\nsites:\n  east:\n    agents: []\n"
            "tiers:\n  gold: {priority: high}\n  silver: {priority: soon}\n")
    with pytest.raises(ConfigFileError) as error:
        parse_config(text, "center.yaml")
    assert str(error.value).startswith("center.yaml:8: tiers.silver.priority:"), error.value


def test_an_arrival_without_priority_gets_its_caller_s_tier_s_or_the_default():
    state = site()
    state.handle(ev.ContactArrived(1.0, "p1", "billing", None, tier="platinum"))
    state.handle(ev.ContactArrived(1.0, "g1", "billing", None, tier="gold"))
    state.handle(ev.ContactArrived(1.0, "u1", "billing", None, tier=None))      # unknown
    state.handle(ev.ContactArrived(1.0, "x1", "billing", "top", tier="gold"))   # its own
    got = {contact_id: (contact.priority, contact.service_objective_s)
           for contact_id, contact in state.contacts.items()}
    assert got == {"p1": (Priority.HIGH, 10.0), "g1": (Priority.MEDIUM, 20.0),
                   "u1": (Priority.LOW, 30.0), "x1": (Priority.TOP, 20.0)}
    # A snapshot keeps the tier; the journal's arrival carries it (cluster/store/codec.py).
    contact = state.contacts["g1"]
    assert _contact_from_dict(_contact_to_dict(contact, None), "east").tier == "gold"
    with pytest.raises(InvalidInput) as error:
        state.handle(ev.ContactArrived(2.0, "bad", "billing", None, tier=""))
    assert error.value.field == "tier" and "bad" not in state.contacts
    state.validate()


def test_plans_test_the_caller_s_tier_and_queue_at_its_priority():
    document = {"entry_points": {"100": {"service": "care"}},
                "services": {"care": {"max_lines": 10, "schedule": [{"otherwise": "main"}]}},
                "plans": {"main": [
                    {"announce": {"prompt": "vip_welcome", "seconds": 1},
                     "if": {"customer": {"tier": ["platinum", "gold"]}}},
                    {"queue": {"skill": "billing"}}]}}
    plans = parse_plan_config(document, {"billing"}, tiers=set(TIERS))
    state = site(plans)
    first = state.handle(ev.ContactArrived(1.0, "vip", None, dnis="100", tier="gold"))
    assert [a.prompt for a in first if type(a) is IvrTreatment] == ["vip_welcome"]
    other = state.handle(ev.ContactArrived(1.0, "anon", None, dnis="100"))
    assert [type(a) for a in other] == [ContactQueued]        # no welcome; queued at once
    assert state.contacts["anon"].priority is Priority.LOW     # the default tier's
    state.handle(ev.PromptFinished(2.0, "vip"))
    vip = state.contacts["vip"]
    assert (vip.priority, vip.service_objective_s) == (Priority.MEDIUM, 20.0)
    with pytest.raises(Exception) as error:                   # an unknown tier is refused
        parse_plan_config({"plans": {"p": [{"busy": {}, "if": {"customer": {"tier": "tin"}}}]}},
                          {"billing"}, tiers=set(TIERS))
    assert "tin" in str(error.value)
    state.validate()


def test_simulate_with_customers_serves_gold_faster_than_standard():
    scenario = load_scenario("loadtests/examples/tiers_dqp.yaml")
    report = Simulation(scenario).run().report
    tiers = report["by_tier"]
    offered = sum(row["offered"] for row in tiers.values())
    assert offered == report["contacts"]["offered"]
    assert abs(tiers["gold"]["offered"] / offered - 0.25) < 0.05
    assert tiers["platinum"]["asa_s"] < tiers["gold"]["asa_s"] < tiers["standard"]["asa_s"]
    assert report["contacts"]["lost"] == 0


def test_a_row_with_a_priority_and_no_objective_gets_its_caller_s_tier_s_objective(tmp_path):
    text = pathlib.Path("loadtests/examples/tiers_dqp.yaml").read_text()
    text = text.replace("- {site: east, skill: billing, rate_per_hour: 290,",
                        "- {site: east, skill: billing, rate_per_hour: 290, priority: medium,")
    text = text.replace("duration_s: 28800", "duration_s: 3600")
    path = tmp_path / "row_priority.yaml"
    path.write_text(text)
    report = Simulation(load_scenario(str(path))).run().report
    # One class per objective the tiers give (platinum's priority is the row's: medium).
    assert sorted(report["by_class"]) == ["billing/medium/10", "billing/medium/20",
                                          "billing/medium/60"]
    assert report["contacts"]["lost"] == 0


def test_simulate_json_has_by_tier():
    done = subprocess.run([sys.executable, "-m", "cluster.cli", "simulate",
                           "loadtests/examples/tiers_dqp.yaml", "--json", "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert set(report["by_tier"]) == {"platinum", "gold", "standard"}


def test_a_restarted_router_still_promises_the_tiers(tmp_path):
    """Tiers are configuration (not in snapshots): a site recovered from the store, from
    its snapshot or its journal, gets them again from the configuration."""
    import asyncio

    from cluster.durable import close_durable_host, open_durable_host

    text = ("skills:\n  billing: {sl_threshold_s: 30}\nsites:\n  east:\n    agents:\n"
            "      - {ids: [e1], skills: {billing: 1}}\n"
            "tiers:\n  gold: {priority: high, service_objective_s: 15}\n"
            "  standard: {priority: low}\n")
    config = parse_config(text, "center.yaml")
    url = f"sqlite:///{tmp_path}/store.db"

    async def life(contact_id, snapshot_every):
        host, _ = await open_durable_host(config, url, snapshot_every=snapshot_every)
        await host.submit("east", [ev.ContactArrived(0, contact_id, "billing", None,
                                                     tier="gold")])
        contact = host.sites["east"].contacts[contact_id]
        got = contact.priority, contact.service_objective_s, contact.tier
        await host.submit(None, [ev.ContactAbandoned(0, contact_id)])
        await close_durable_host(host)
        return got

    for number, every in enumerate((1_000_000, 1, 1_000_000)):
        assert asyncio.run(life(f"g{number}", every)) == (Priority.HIGH, 15.0, "gold")

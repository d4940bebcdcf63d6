"""The metrics' counts (cluster/metrics.py) from an in-process CoreHost, without sockets:
a contact is offered once (where it first queued or was offered), answered once however
often the PBX says so, abandoned only after it reached a skill; the gauges of a scrape are
what cluster/figures.py reads (GetStatistics' figures); without metrics nothing counts."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from cluster.config import parse_config
from cluster.figures import agents_by_state, skill_statistics
from cluster.host import CoreHost
from cluster.metrics import Metrics
from sites import events as ev
from sites.model import AgentConfig, SiteConfig, SkillConfig
from sites.state import SiteState

CENTER = """\
skills: {billing: {sl_threshold_s: 20}}
sites:
  east: {agents: [{ids: [a1, a2], skills: {billing: 1}}]}
  west: {agents: [{ids: [w1], skills: {billing: 1}}]}
routing: {multisite: bsr}
"""


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def samples(text: str) -> dict:
    """{(sample name, labels as a sorted tuple): value}."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_the_core_answers_an_answer_once():
    """What CoreHost._answered counts on: the first OfferAccepted / ContactConnected of an
    offer has actions (the agent goes from reserved to busy), a repeat of either has none."""
    state = SiteState(SiteConfig("east", skills=[SkillConfig("billing")],
                                 agents=[AgentConfig("a1", {"billing": 1})]))
    state.handle(ev.AgentLoggedIn(1.0, "a1"))
    state.handle(ev.AgentReady(1.0, "a1"))
    state.handle(ev.ContactArrived(2.0, "c1", "billing"))
    assert state.handle(ev.OfferAccepted(3.0, "c1"))
    assert state.handle(ev.ContactConnected(3.0, "c1")) == []
    assert state.handle(ev.OfferAccepted(4.0, "c1")) == []


def test_counts_and_a_scrape_match_the_host():
    async def scenario():
        clock = FakeClock()
        host = CoreHost(parse_config(CENTER), clock=clock)
        metrics = Metrics()
        metrics.attach(host)
        metrics.read_from(host)
        await host.submit("east", [ev.AgentLoggedIn(0, "a1"), ev.AgentReady(0, "a1")])
        # c1 offered at once; c2, c3 queued at east (nobody else is ready anywhere).
        await host.submit("east", [ev.ContactArrived(0, f"c{i}", "billing") for i in (1, 2, 3)])
        refused = await host.submit("east", [ev.ContactArrived(0, "c1", "billing")])
        assert refused[0].error is not None                 # a duplicate: not offered
        clock.now += 5
        await host.submit(None, [ev.OfferAccepted(0, "c1"), ev.ContactConnected(0, "c1")])
        await host.submit(None, [ev.ContactConnected(0, "c1")])      # said again
        await host.submit(None, [ev.ContactAbandoned(0, "c3")])
        # w1 becomes ready at west and pulls c2 there: answered at west, offered at east.
        await host.submit("west", [ev.AgentLoggedIn(0, "w1"), ev.AgentReady(0, "w1")])
        assert host.final_state("c2") is None and host._contacts["c2"].site == "west"
        await host.submit(None, [ev.OfferAccepted(0, "c2")])
        assert metrics.offered_counts == {("east", "billing"): 3}
        assert metrics.answered_counts == {("east", "billing"): 1, ("west", "billing"): 1}
        assert metrics.abandoned_counts == {("east", "billing"): 1}
        # A queued contact (BSR sends it west: a shorter wait there); the scrape's gauges
        # are the host's figures at that moment.
        await host.submit("east", [ev.ContactArrived(0, "c4", "billing", "high")])
        figures = samples((await metrics.scrape()).decode())
        east = (("site", "east"), ("skill", "billing"))
        assert figures[("vcc_contacts_offered_total", east)] == 4
        queued = {}
        for site in ("east", "west"):
            [(_, statistics)] = await skill_statistics(host, site)
            labels = {"site": site, "skill": "billing"}
            queued[site] = [figures[("vcc_queue_contacts", tuple(sorted(dict(
                labels, priority=priority).items())))] for priority in ("top", "high",
                                                                        "medium", "low")]
            assert queued[site] == list(statistics.queued)
            key = tuple(sorted(labels.items()))
            assert figures[("vcc_staffed_agents", key)] == statistics.staffed == 1
            assert figures[("vcc_service_level_ratio", key)] == statistics.sl_pct / 100
            counts = await agents_by_state(host, site)
            assert {state.value: figures[("vcc_agents", (("site", site),
                                                         ("state", state.value)))]
                    for state in counts} == {state.value: count
                                             for state, count in counts.items()}
        assert queued == {"east": [0, 0, 0, 0], "west": [0, 1, 0, 0]}
        assert figures[("vcc_leadership_role", (("role", "leader"),))] == 1
        # No store: no journal commit latency; no Ray: no round latency.
        assert not any(name.startswith(("vcc_journal", "vcc_ray")) for name, _ in figures)
        await metrics.close()
        host.validate()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_without_metrics_nothing_is_counted():
    async def scenario():
        host = CoreHost(parse_config(CENTER), clock=FakeClock())
        assert host.metrics is None and host.protocol.applied is None
        await host.submit("east", [ev.AgentLoggedIn(0, "a1"), ev.AgentReady(0, "a1"),
                                   ev.ContactArrived(0, "c1", "billing")])
        assert host._contacts["c1"].offered is False      # nobody looked
        await host.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))

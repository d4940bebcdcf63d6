"""`vcc loadtest` against a real server process on 127.0.0.1 (port 0), stopped at the end
whatever happens (loadtests.grpc_bench.ServerProcess: SIGTERM, wait, SIGKILL).

Short replays (a few seconds of wall time at a high --speed) that must end with every
contact in one final state (`lost` 0), and a report whose counts match the trace.
"""

import asyncio
import collections
import dataclasses
import json

import pytest

from cluster.cli import main as vcc
from loadtests.grpc_bench import ServerProcess
from loadtests.live import LoadtestError, run_loadtest
from loadtests.scenario import parse_scenario
from loadtests.trace import generate_trace, write_trace
from sites.model import Priority

# A center that queues and abandons: 10 agents for ~16 erlangs at peak, patience ~15 s.
CENTER = """\
skills:
  billing: {queueing: dqp, sl_threshold_s: 20, wrap_up_s: 3,
            service_objectives: {high: 10}}
  sales: {sl_threshold_s: 30}
sites:
  east:
    agents:
      - {count: 4, skills: {billing: 1}}
      - {count: 2, skills: {sales: 1, billing: 2}}
  west:
    agents:
      - {count: 4, skills: {billing: 1, sales: 2}}
routing: {multisite: bsr, adjust_by: 0}
"""
TRAFFIC = """\
duration_s: 90
seed: 5
traffic:
  - {site: east, skill: billing, rate_per_hour: 1800, priority: medium,
     handle_time: {dist: exponential, mean_s: 20}, patience: {dist: exponential, mean_s: 15}}
  - {site: west, skill: billing, rate_per_hour: 600, priority: high,
     handle_time: {dist: exponential, mean_s: 20}}
  - {site: west, skill: sales, rate_per_hour: 400, priority: medium,
     handle_time: {dist: constant, mean_s: 10}}
"""
SPEED = 15.0
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def server():
    with ServerProcess(CENTER, startup_timeout_s=30.0) as process:
        yield f"127.0.0.1:{process.port}"


def trace(prefix: str):
    """The contacts of TRAFFIC, with ids unique to one test (the server is shared). High
    priority contacts come without a service objective: the server gives them billing's
    `service_objectives` one (10 s), and the report must class them so."""
    # Scenario files have no `service_objectives`; the rest of CENTER is one.
    scenario = parse_scenario(CENTER.replace(",\n            service_objectives: {high: 10}", "")
                              + TRAFFIC, "center.yaml")
    return [dataclasses.replace(c, contact_id=f"{prefix}-{c.contact_id}",
                                service_objective_s=None if c.priority is Priority.HIGH
                                else c.service_objective_s)
            for c in generate_trace(scenario)]


def counts(contacts):
    by_class = collections.Counter(
        f"{c.skill}/{c.priority.name.lower()}/{c.service_objective_s or 10:g}" for c in contacts)
    return dict(by_class), dict(collections.Counter(c.site for c in contacts))


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT_S))


def test_replay_ends_with_nothing_lost_and_counts_matching_the_trace(server):
    contacts = trace("a")
    snapshots = []
    report = run(run_loadtest(server, contacts, speed=SPEED, progress=snapshots.append))
    n = len(contacts)
    assert n > 50
    assert report["contacts"]["lost"] == 0
    assert report["contacts"]["offered"] == n
    assert report["contacts"]["answered"] + report["contacts"]["abandoned"] == n
    assert report["contacts"]["abandoned"] > 0          # the center was loaded enough
    by_class, by_site = counts(contacts)
    assert {key: row["offered"] for key, row in report["by_class"].items()} == by_class
    assert {key: row["offered"] for key, row in report["by_site"].items()} == by_site
    figures = report["loadtest"]
    assert figures["sent"] == n and figures["not_sent"] == 0 and figures["forced"] == 0
    assert figures["finished_more_than_once"] == 0
    assert figures["errors"] == {}, figures
    assert figures["agents"] == 10
    assert figures["route_latency_ms"]["count"] == n
    assert figures["requested_rate_per_s"] == pytest.approx(figures["achieved_rate_per_s"],
                                                            rel=0.1)
    assert set(report["agents"]) == {"east", "west"}
    assert 0 < report["agents"]["east"]["occupancy_pct"] <= 100
    # AHT includes billing's 3 s wrap-up, which the agents end at 3 / speed wall seconds.
    assert report["by_skill"]["sales"]["aht_s"] == pytest.approx(10.0, abs=2.0)
    assert snapshots and snapshots[-1]["total"] == n


def test_cli_json_with_compare_sim(server, tmp_path, capsys):
    contacts = trace("b")[:60]
    path = tmp_path / "short.jsonl"
    write_trace(path, contacts)
    config = tmp_path / "center.yaml"
    config.write_text(CENTER)
    code = vcc(["loadtest", str(path), "--target", server, "--speed", str(SPEED), "--json",
                "--compare-sim", "--config", str(config), "--no-progress"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["contacts"]["lost"] == 0 and report["contacts"]["offered"] == 60
    comparison = report["compare"]
    simulated = comparison["simulated"]
    assert simulated["contacts"]["offered"] == 60 and simulated["contacts"]["lost"] == 0
    for key, row in comparison["classes"].items():
        assert row["live"]["offered"] == row["sim"]["offered"], key
    assert comparison["agents_not_in_config"] == []
    assert comparison["erlang_c"] is None           # two skills: no single-skill prediction


def test_bad_input_is_refused_before_anything_is_sent(server, tmp_path):
    contacts = trace("c")[:5]
    unknown = [dataclasses.replace(contacts[0], site="north")] + contacts[1:]
    with pytest.raises(LoadtestError, match=r"site: 'north' is not a site of the server"):
        run(run_loadtest(server, unknown, speed=SPEED))
    with pytest.raises(LoadtestError, match="speed must be > 0"):
        run(run_loadtest(server, contacts, speed=0))
    with pytest.raises(LoadtestError, match="no contacts to replay"):
        run(run_loadtest(server, contacts, speed=SPEED, duration_s=0.0))


def test_deadline_forces_an_end_and_still_loses_nothing(server):
    # Long calls and a drain of 1 s: the deadline comes while contacts are talking or queued.
    contacts = [dataclasses.replace(c, handle_time_s=600.0) for c in trace("d")[:30]]
    report = run(run_loadtest(server, contacts, speed=SPEED, drain_s=1.0))
    assert report["loadtest"]["forced"] > 0
    assert report["contacts"]["lost"] == 0 and report["contacts"]["offered"] == 30

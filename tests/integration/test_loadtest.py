"""`vcc loadtest` against a real server process on 127.0.0.1 (port 0), stopped at the end
whatever happens (loadtests.grpc_bench.ServerProcess: SIGTERM, wait, SIGKILL).

Short replays (a few seconds of wall time at a high --speed) that must end with every
contact in one final state (`lost` 0), and a report whose counts match the trace.
"""

import asyncio
import datetime
import collections
import dataclasses
import json

import pytest

from cluster.cli import main as vcc
from cluster.config import parse_config
from loadtests.grpc_bench import ServerProcess
from loadtests.live import NOISE_RUNS, LoadtestError, run_loadtest, trace_time_config
from loadtests.scenario import parse_scenario
from loadtests.simulator import Simulation
from loadtests.trace import (TraceContact, arrivals_of, center_scenario, generate_trace,
                             objective_resolver, write_trace)
from sites.model import Channel, Priority
from tests.twin_pass import compiled_pass_only, compiled_pass_test

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


@compiled_pass_test("the load client is its subject, not the scheduler")
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
    # Waits are the router's (its arrival to its offer, x speed), for every answered contact;
    # what the client saw adds the round trip x speed, so it is never shorter.
    assert figures["wait_clock"] == "router" and figures["router_stream_error"] is None
    assert figures["router_times_missing"] == 0
    assert figures["router_arrival_jitter_trace_s"]["p50"] is not None
    assert figures["late_trace_s"]["max"] is not None
    for key, row in report["by_class"].items():
        observed = figures["client_observed_by_class"][key]
        assert observed["asa_s"] >= row["asa_s"] - 1e-9, key


@compiled_pass_test("the load client is its subject, not the scheduler")
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
    assert comparison["time_scale"] == SPEED and comparison["notes"] == []
    # Simulated agents answer one live round trip (x speed) after the offer, as the live ones.
    assert comparison["answer_delay_s"] == pytest.approx(
        report["loadtest"]["route_latency_ms"]["p50"] / 1000.0 * SPEED, abs=1e-4)
    assert set(comparison["simulated_answering_at_once"]["by_class"]) == set(
        comparison["classes"])
    # The simulator again with the live run's timing noise: how far that alone moves it.
    noise = comparison["timing_noise"]
    assert noise["runs"] == NOISE_RUNS and 0 <= noise["runs_within_bounds"] <= NOISE_RUNS
    assert set(noise["by_class"]) == set(comparison["classes"])


def test_compare_sim_simulates_the_servers_wall_time_settings_in_trace_time():
    config = parse_config(CENTER.replace("adjust_by: 0", "adjust_by: 0, max_status_age_s: 5")
                          .replace("wrap_up_s: 3,", "wrap_up_s: 3, offer_timeout_s: 12,"
                                   " widen_after_s: 4,"))
    scaled, notes = trace_time_config(config, 20.0)
    billing = scaled.skills["billing"]
    assert (billing.offer_timeout_s, billing.widen_after_s, billing.aht_estimate_s) == (
        240.0, 80.0, 20.0 * config.skills["billing"].aht_estimate_s)
    assert billing.wrap_up_s == 3.0                 # the client's agents end it in trace time
    assert scaled.bsr.max_status_age_s == 100.0 and scaled.bsr.adjust_by == 0.0
    east = scaled.sites["east"]
    assert east.statistics_window_s == 20.0 * config.sites["east"].statistics_window_s
    assert {skill.name: skill for skill in east.skills}["billing"] == billing
    assert notes == []
    # Slower than real time the server's own wrap-up timeout ends wrap-ups first.
    assert trace_time_config(config, 0.5)[0].skills["billing"].wrap_up_s == 1.5
    assert trace_time_config(config, 1.0)[0] is config
    # adjust_by mixes seconds and percent: it cannot be scaled, and the comparison says so.
    _, notes = trace_time_config(parse_config(CENTER.replace("adjust_by: 0", "adjust_by: 10")),
                                 20.0)
    assert len(notes) == 1 and "adjust_by 10" in notes[0]


def test_bad_input_is_refused_before_anything_is_sent(server, tmp_path):
    contacts = trace("c")[:5]
    unknown = [dataclasses.replace(contacts[0], site="north")] + contacts[1:]
    with pytest.raises(LoadtestError, match=r"site: 'north' is not a site of the server"):
        run(run_loadtest(server, unknown, speed=SPEED))
    for speed in (0, float("nan"), float("inf"), 1e-300):      # a replay that would never end
        with pytest.raises(LoadtestError, match=r"speed must be 0\.01\.\.100,000"):
            run(run_loadtest(server, contacts, speed=speed))
    with pytest.raises(LoadtestError, match=r"drain must be 0\.\.3,600 s"):
        run(run_loadtest(server, contacts, speed=SPEED, drain_s=float("inf")))
    with pytest.raises(LoadtestError, match="no contacts to replay"):
        run(run_loadtest(server, contacts, speed=SPEED, duration_s=0.0))


def test_deadline_forces_an_end_and_still_loses_nothing(server):
    # Long calls and a drain of 1 s: the deadline comes while contacts are talking or queued.
    contacts = [dataclasses.replace(c, handle_time_s=600.0) for c in trace("d")[:30]]
    report = run(run_loadtest(server, contacts, speed=SPEED, drain_s=1.0))
    assert report["loadtest"]["forced"] > 0
    assert report["contacts"]["lost"] == 0 and report["contacts"]["offered"] == 30


def test_simulated_answer_delay_reserves_the_agent_and_waits_end_at_the_offer():
    # One agent, two contacts 0.5 s apart: answering 1 s after the offer keeps the agent
    # reserved, so the second contact waits for the first call to end (10 s talk + 1 s).
    config = parse_config("skills: {billing: {}}\nsites: {east: {agents: [{count: 1, "
                          "skills: {billing: 1}}]}}\n")
    contacts = [TraceContact(t, f"c{n}", "", "east", "", "billing", Priority.MEDIUM, 20.0,
                             Channel.VOICE, 10.0, None, {})
                for n, t in enumerate((0.0, 0.5))]
    scenario = center_scenario(config, contacts)
    objective = objective_resolver(config.skills, config.service_objectives)
    waits = {}
    for delay in (0.0, 1.0):
        result = Simulation(scenario, answer_delay_s=delay,
                            arrivals=arrivals_of(scenario, contacts, objective)).run()
        waits[delay] = {r.contact_id: r.answer_time - r.arrival_time for r in result.records}
    assert waits[0.0] == {"c0": 0.0, "c1": pytest.approx(9.5)}
    assert waits[1.0] == {"c0": 0.0, "c1": pytest.approx(10.5)}


def test_a_dialled_center_runs_its_plans_live_and_the_callers_answer_as_the_trace_says():
    compiled_pass_only("the load client's callers, not the scheduler")
    """The bundled demo center's dialled traffic against a real server: the PBX sends only
    the number, answers the plan's IVR as each trace caller decided, and every contact ends
    in one final state (plan ones too: self_served counts, not lost)."""
    path = "loadtests/examples/ivr_demo.yaml"
    text = open(path).read().replace("duration_s: 20", "duration_s: 60")
    scenario = parse_scenario(text, path)
    contacts = generate_trace(scenario, seed=8)
    care = [c for c in contacts if c.dnis == "8005550100"]
    # The router reads the calendar at the scenario's start, as the trace's callers did (on
    # its wall clock the office may be closed: after 17:00 in Berlin nobody hears the menu).
    start = datetime.datetime.fromtimestamp(scenario.start_epoch, datetime.timezone.utc)
    with ServerProcess(open(path).read(), startup_timeout_s=30.0, via_cli=True,
                       server_args=["--calendar-start", start.isoformat()]) as process:
        report = asyncio.run(run_loadtest(f"127.0.0.1:{process.port}", contacts, speed=3.0,
                                          drain_s=30.0))
    figures = report["contacts"]
    finals = ("answered", "abandoned", "self_served", "routed_out", "busy", "voicemail",
              "disconnected")
    assert figures["lost"] == 0 and figures["offered"] == len(contacts)
    # Answered contacts end completed; every contact is counted in exactly one final state.
    assert sum(figures[name] for name in finals) == len(contacts), figures
    loadtest = report["loadtest"]
    assert loadtest["finished_more_than_once"] == 0 and loadtest["errors"] == {}, loadtest
    services = report["by_service"]
    assert sum(row["offered"] for row in services.values()) == len(contacts)
    # Only callers who decided so are self-served or called back (the office open: menu 3
    # and done; closed: the closed message, done), and some are.
    assert 0 < services["care"]["self_served"] <= sum(c.caller.completes_self_service
                                                       for c in care)
    assert services["care"]["callbacks"] <= sum(c.caller.accepts_callback for c in care)
    answers = loadtest["ivr_answers"]
    assert answers.get("digits_collected", 0) > 0 and answers.get("self_service_ended", 0) > 0


def test_the_same_trace_twice_sends_new_contacts_and_a_refusal_fails_the_run(server, tmp_path,
                                                                              capsys):
    """A second run of one file against one server is a new run (its ids get another run
    id), not 60 duplicates with exit 0; without a terminal, progress comes as lines; a run
    whose contacts the router refused exits 1 and says why."""
    compiled_pass_only("the load client's run ids and exit code, not the scheduler")
    path = tmp_path / "twice.jsonl"
    write_trace(path, trace("t")[:60])
    reports = []
    for _ in range(2):
        code = vcc(["loadtest", str(path), "--target", server, "--speed", str(SPEED),
                    "--json"])
        captured = capsys.readouterr()
        reports.append(json.loads(captured.out))
        assert code == 0, captured.err
        assert "vcc loadtest: run " in captured.err and " sent " in captured.err
    for report in reports:
        assert report["contacts"]["offered"] == 60 and report["contacts"]["lost"] == 0
        assert report["loadtest"]["errors"] == {}
    # The same run id twice: the router refuses the second run's ids, and the run fails.
    for attempt in range(2):
        code = vcc(["loadtest", str(path), "--target", server, "--speed", str(SPEED),
                    "--json", "--no-progress", "--run-id", "same", "--max-contacts", "5",
                    "--drain", "2"])
        captured = capsys.readouterr()
        assert code == attempt, captured.err
    assert "vcc loadtest: errors EVENT_ERROR" in captured.err
    assert "duplicate" in captured.err or "already" in captured.err, captured.err

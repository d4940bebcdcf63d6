"""`vcc staff --verify` and `--iterate` (loadtests/staff_verify.py) and the simulator's
time-varying staffing they play (loadtests/simulator.py `staffing`)."""

from __future__ import annotations

import pytest

from loadtests.forecast import read_forecast
from loadtests.scenario import parse_scenario
from loadtests.simulator import Simulation
from loadtests.staff_verify import Verifier
from loadtests.staffing import Target, plan
from loadtests.trace import Arrival

ONE_SKILL = """
duration_s: 3000
skills: {calls: {queueing: fifo}}
sites: {center: {agents: [{count: 4, skills: {calls: 1}}]}}
traffic:
  - {site: center, skill: calls, rate_per_hour: 10, handle_time: {dist: constant, mean_s: 100}}
"""


def test_staffing_changes_who_is_ready_and_lets_calls_finish():
    arrivals = [Arrival(10.0 + i / 10, 0, f"a{i}", 100.0, None) for i in range(4)]      # 1 agent
    arrivals += [Arrival(1000.0 + i / 10, 0, f"b{i}", 100.0, None) for i in range(4)]  # 4 agents
    arrivals += [Arrival(1990.0 + i / 10, 0, f"c{i}", 100.0, None) for i in range(4)]  # 4 agents
    arrivals += [Arrival(2050.0, 0, "d", 100.0, None)]          # 1 agent again, all 4 busy
    staffing = [(0.0, "center", 1), (1000.0, "center", 4), (2000.0, "center", 1)]
    result = Simulation(parse_scenario(ONE_SKILL), arrivals=arrivals, staffing=staffing).run()
    answered = {record.contact_id: record.answer_time for record in result.records}
    assert [answered[f"a{i}"] for i in range(4)] == pytest.approx([10.0, 110.0, 210.0, 310.0])
    assert [answered[f"b{i}"] for i in range(4)] == pytest.approx([1000.0, 1000.1, 1000.2, 1000.3])
    # Sent off at 2000 in the middle of their calls, the agents finish them ...
    assert {record.final_state.value for record in result.records} == {"completed"}
    # ... and the one left ready answers the next call when its own ends.
    assert answered["d"] == pytest.approx(2090.0)


def forecast_file(tmp_path, rows, name="f.csv"):
    path = tmp_path / name
    path.write_text("interval_start,volume,aht_s\n" + "".join(f"{row}\n" for row in rows))
    return str(path)


def test_verify_reports_each_interval_and_iterate_closes_the_gaps(tmp_path):
    """A spike: 30 calls, then 120, then 30 in 15-minute intervals. After the spike the
    per-interval plan drops from 38 agents to 11 while the spike's calls are still being
    handled: the 11 kept on are busy finishing them, so the interval after the spike misses
    the target (steady-state Erlang C knows nothing of the calls in progress); iterating
    adds agents there until every interval meets it."""
    forecast = read_forecast(forecast_file(tmp_path, ["09:00,30,240", "09:15,120,240",
                                                     "09:30,30,240", "09:45,30,240"]))
    target = Target(80.0, 20.0)
    plans = plan(forecast, target, 0.85, 0.3)
    agents = [item.agents for item in plans]
    verifier = Verifier(forecast, target, seed=3, replications=8)
    outcomes = verifier.run(agents)
    assert [outcome.agents for outcome in outcomes] == agents
    assert sum(outcome.offered for outcome in outcomes) == sum(
        len(verifier.arrivals(day)) for day in range(8))
    assert all(0 <= outcome.sl_pct <= 100 and outcome.margin >= 0 for outcome in outcomes)
    assert outcomes[0].met                                      # the day starts empty
    assert not outcomes[2].met                                  # the spike's calls
    assert outcomes[2].sl_pct < plans[2].prediction.sl_pct - 10
    again = verifier.run(agents)
    assert again == outcomes                                    # the same callers each run
    iteration = verifier.iterate(agents, first=outcomes)
    assert iteration.met and all(outcome.met for outcome in iteration.outcomes)
    assert iteration.rounds >= 2
    assert all(after >= before for before, after in zip(agents, iteration.agents))
    assert iteration.agents[2] > agents[2]


def test_verify_with_patience_counts_abandons(tmp_path):
    forecast = read_forecast(forecast_file(tmp_path, ["09:00,200,180", "09:30,200,180"]))
    target = Target(80.0, 20.0)
    agents = [item.agents for item in plan(forecast, target, 0.85, 0.3, patience_s=60.0)]
    outcomes = Verifier(forecast, target, patience_s=60.0, seed=1, replications=4).run(agents)
    assert all(outcome.abandoned > 0 for outcome in outcomes)
    assert all(outcome.sl2_pct <= outcome.sl_pct for outcome in outcomes)
    assert all(0 < outcome.occupancy_pct <= 100 for outcome in outcomes)


@pytest.mark.parametrize("patience,tolerance", [(None, 5.0), (120.0, 3.0)])
def test_a_steady_load_meets_the_erlang_prediction(tmp_path, patience, tolerance):
    """Eight half hours of the same load (20 erlangs, 24 agents): once the first hour (which
    starts empty) is past, the simulation settles where Erlang C or A says, the noise aside
    (12 days here; without abandons an interval's SL is a noisy figure, about ±3 points)."""
    rows = [f"{9 + k // 2:02d}:{30 * (k % 2):02d},200,180" for k in range(8)]
    forecast = read_forecast(forecast_file(tmp_path, rows))
    target = Target(80.0, 20.0)
    plans = plan(forecast, target, 0.85, 0.3, patience)
    outcomes = Verifier(forecast, target, patience, seed=2, replications=12).run(
        [item.agents for item in plans])
    settled = outcomes[2:]
    answered = sum(outcome.answered for outcome in settled)
    offered = sum(outcome.offered for outcome in settled)
    within = sum(outcome.sl_pct / 100 * outcome.answered for outcome in settled)
    predicted = plans[0].prediction
    assert 100 * within / answered == pytest.approx(predicted.sl_pct, abs=tolerance)
    assert 100 * within / offered == pytest.approx(predicted.sl2_pct, abs=tolerance)
    assert 100 * (offered - answered) / offered == pytest.approx(predicted.abandon_pct, abs=1.0)

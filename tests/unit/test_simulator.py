"""`vcc simulate`'s simulator: deterministic, loses nothing, and agrees with queueing theory.

Runs on whichever backend `native.Scheduler` is (scripts/test runs the suite on both);
`test_both_backends_give_the_same_report` compares the two directly.
"""

import dataclasses
import math
import pathlib
import statistics

import pytest

from sites import erlang
from loadtests.scenario import load_scenario, parse_scenario
from loadtests.sim_figures import pooled, with_queueing
from loadtests.simulator import Simulation
from native.pyscheduler import Scheduler as TwinScheduler
from sites.model import ContactState, Queueing

EXAMPLES = pathlib.Path(__file__).parents[2] / "loadtests" / "examples"
FINAL_STATES = {ContactState.COMPLETED, ContactState.ABANDONED}
# A contact that dialled a number may also end where its routing plan ends it (SPEC §10).
PLAN_FINAL_STATES = FINAL_STATES | {ContactState.SELF_SERVED, ContactState.ROUTED_OUT,
                                    ContactState.BUSY, ContactState.VOICEMAIL,
                                    ContactState.DISCONNECTED}


def example(name, duration_s=None, **changes):
    scenario = load_scenario(str(EXAMPLES / name))
    if duration_s is not None:
        changes["duration_s"] = duration_s
    return dataclasses.replace(scenario, **changes)


def without_timing(report):
    """The report minus wall-clock figures, which differ from run to run by nature."""
    run = {key: value for key, value in report["run"].items()
           if key not in ("wall_s", "contacts_per_wall_s", "speedup")}
    return {**report, "run": run}


def test_same_seed_same_report():
    scenario = example("mixed_tiers_dqp.yaml", duration_s=3600)
    first = Simulation(scenario, seed=5).run().report
    second = Simulation(scenario, seed=5).run().report
    assert without_timing(first) == without_timing(second)
    other = Simulation(scenario, seed=6).run().report
    assert other["contacts"] != first["contacts"] or other["service"] != first["service"]


def test_both_backends_give_the_same_report(native_scheduler_class):
    scenario = example("two_sites_bsr.yaml", duration_s=3600)
    native_run = Simulation(scenario, seed=2, scheduler_factory=native_scheduler_class).run()
    twin_run = Simulation(scenario, seed=2, scheduler_factory=TwinScheduler).run()
    assert without_timing(native_run.report) == without_timing(twin_run.report)
    assert ([(r.contact_id, r.agent_id, r.answer_time) for r in native_run.records]
            == [(r.contact_id, r.agent_id, r.answer_time) for r in twin_run.records])


@pytest.mark.parametrize("name", sorted(path.name for path in EXAMPLES.glob("*.yaml")))
def test_every_contact_ends_in_exactly_one_final_state(name):
    simulation = Simulation(example(name, duration_s=1800), seed=1)
    result = simulation.run()
    assert result.report["contacts"]["lost"] == 0
    assert result.records
    for record in result.records:
        allowed = FINAL_STATES if record.stream.dnis is None else PLAN_FINAL_STATES
        assert record.final_state in allowed, record
        answered = record.answer_time is not None
        assert answered == (record.final_state is ContactState.COMPLETED), record
    # The core agrees: no contact is left live, and each is final at exactly one site
    # (an interflowed contact is final as INTERFLOWED at the site it left).
    final_at = {}
    for site_name, site in simulation.sites.items():
        assert not site.contacts, (site_name, list(site.contacts)[:5])
        for contact_id, final in site.finished.items():
            if final in PLAN_FINAL_STATES:
                assert contact_id not in final_at, (contact_id, final_at.get(contact_id), site_name)
                final_at[contact_id] = site_name
            else:
                assert final is ContactState.INTERFLOWED, (contact_id, final)
    assert set(final_at) == {record.contact_id for record in result.records}
    contacts = result.report["contacts"]
    assert contacts["offered"] == contacts["answered"] + contacts["abandoned"] + sum(
        contacts.get(state.value, 0) for state in PLAN_FINAL_STATES - FINAL_STATES)


MM_C = """\
duration_s: {duration}
seed: 1
skills:
  billing: {{queueing: dqp, sl_threshold_s: 20}}
sites:
  east:
    agents:
      - {{count: {agents}, skills: {{billing: 1}}}}
traffic:
  - {{site: east, skill: billing, rate_per_hour: {rate}, handle_time: {{dist: exponential, mean_s: {aht}}}}}
"""


def batch_means(values, batches=20):
    size = len(values) // batches
    means = [statistics.fmean(values[i * size:(i + 1) * size]) for i in range(batches)]
    return statistics.fmean(means), statistics.stdev(means) / math.sqrt(batches)


def test_single_skill_agrees_with_erlang_c():
    """M/M/10 at 80% occupancy: SL (20 s) and ASA within 4 standard errors of Erlang C.

    Tolerance: waits of successive callers are correlated (busy periods), so the standard
    error is estimated by batch means (20 batches of ~1,000 contacts, long against a busy
    period of a few minutes); a correct simulator lands within 4 SE with probability
    > 99.99%. The test also requires those errors to be small (ASA SE < 10% of ASA, SL SE
    < 2 points) so that a loose tolerance cannot hide a wrong simulator. The first hour is
    warm-up (the system starts empty) and is left out.
    """
    agents, aht, rate_per_hour, threshold = 10, 100.0, 288.0, 20.0
    scenario = parse_scenario(MM_C.format(duration=80 * 3600, agents=agents,
                                          rate=rate_per_hour, aht=aht))
    result = Simulation(scenario, seed=11).run()
    assert result.report["contacts"]["lost"] == 0
    records = sorted((r for r in result.records if r.arrival_time >= 3600),
                     key=lambda r: r.arrival_time)
    assert len(records) > 20_000
    waits = [r.answer_time - r.arrival_time for r in records]
    handle_times = [r.talk_s for r in records]

    rate = rate_per_hour / 3600
    asa_theory = erlang.average_speed_of_answer(agents, rate, aht)
    sl_theory = erlang.service_level(agents, rate, aht, threshold)
    asa, asa_se = batch_means(waits)
    sl, sl_se = batch_means([1.0 if wait <= threshold else 0.0 for wait in waits])
    assert asa_se < 0.10 * asa_theory and sl_se < 0.02
    assert abs(asa - asa_theory) <= 4 * asa_se, (asa, asa_theory, asa_se)
    assert abs(sl - sl_theory) <= 4 * sl_se, (sl, sl_theory, sl_se)
    # The world it ran in was the one asked for (else agreement would be luck).
    assert abs(statistics.fmean(handle_times) - aht) < 0.03 * aht
    assert abs(len(records) / (79 * 3600) - rate) < 0.03 * rate


def test_erlang_c_reference_values():
    # Textbook: 3 agents, 2 erlangs -> P(wait) = 4/9.
    assert erlang.probability_of_wait(3, 2.0, 1.0) == pytest.approx(4 / 9)
    # Against the closed form with factorials for a bigger case.
    agents, load = 10, 8.0
    top = load ** agents / math.factorial(agents) * agents / (agents - load)
    closed = top / (sum(load ** k / math.factorial(k) for k in range(agents)) + top)
    assert erlang.probability_of_wait(agents, load / 100, 100.0) == pytest.approx(closed)
    with pytest.raises(ValueError):
        erlang.probability_of_wait(5, 6.0, 1.0)


def test_bsr_pools_two_sites_and_local_routing_does_not():
    """Issue 3's figure at test size: east at rho 1.1, west at 0.6 (4 simulated hours)."""
    bsr = example("two_sites_bsr.yaml", duration_s=4 * 3600)
    local = dataclasses.replace(bsr, multisite="local")
    sl = {name: Simulation(scenario, seed=4).run().report
          for name, scenario in (("bsr", bsr), ("local", local), ("pooled", pooled(bsr)))}
    assert all(report["contacts"]["lost"] == 0 for report in sl.values())
    assert sl["bsr"]["contacts"]["interflowed"] > 0
    assert sl["local"]["contacts"]["interflowed"] == 0
    pooled_sl = sl["pooled"]["service"]["sl_pct"]
    assert abs(sl["bsr"]["service"]["sl_pct"] - pooled_sl) <= 5
    assert pooled_sl - sl["local"]["service"]["sl_pct"] > 5


@pytest.mark.parametrize("queueing,low,high", [(Queueing.DQP, 2.25, 3.75),
                                                (Queueing.FIFO, 0.85, 1.15)])
def test_dqp_waits_are_proportional_to_service_objectives(queueing, low, high):
    """Two SO classes (20 s, 60 s) at rho 0.95, no abandons: ASA ratio ~3 with DQP, ~1 FIFO.

    The issue's bound for DQP is within 25% of 3.0. FIFO's ±15% is wide because at rho 0.95
    a 60-hour run still carries a few percent of noise in each class's ASA.
    """
    scenario = with_queueing(example("dqp_two_classes.yaml", duration_s=60 * 3600), queueing)
    report = Simulation(scenario, seed=3).run().report
    assert report["contacts"]["lost"] == 0
    asa20 = report["by_class"]["support/medium/20"]["asa_s"]
    asa60 = report["by_class"]["support/medium/60"]["asa_s"]
    assert low <= asa60 / asa20 <= high, (asa20, asa60)
